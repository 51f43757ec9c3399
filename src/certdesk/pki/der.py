"""Just enough DER reading to tell what a binary file is before asking pyca to load it.

pyca reports a wrong PKCS#12 password and a corrupt PKCS#12 file with the same
error, and a truncated file with a generic parse error. Reading the outer
structure first lets certdesk say which one it is.
"""

from __future__ import annotations

from dataclasses import dataclass

SEQUENCE = 0x30
INTEGER = 0x02
OID = 0x06

_MAX_DEPTH = 64  # far deeper than any certificate, key or PKCS#12 file nests
_MAX_BER_DEPTH = 8  # indefinite lengths inside indefinite lengths (Windows writes a few)

# Object identifiers, DER-encoded contents (without tag and length).
OID_PKCS7_DATA = bytes.fromhex("2a864886f70d010701")  # 1.2.840.113549.1.7.1
OID_PKCS7_SIGNED = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2
OID_PKCS7_ENCRYPTED = bytes.fromhex("2a864886f70d010706")  # 1.2.840.113549.1.7.6
OID_PBES2 = bytes.fromhex("2a864886f70d01050d")  # 1.2.840.113549.1.5.13
OID_PBE_SHA1_RC2_40 = bytes.fromhex("2a864886f70d010c0106")  # 1.2.840.113549.1.12.1.6
OID_PBE_SHA1_RC2_128 = bytes.fromhex("2a864886f70d010c0105")
OID_PBE_SHA1_3DES = bytes.fromhex("2a864886f70d010c0103")  # 1.2.840.113549.1.12.1.3


class DerError(ValueError):
    """The bytes are not well-formed DER."""


@dataclass(frozen=True, slots=True)
class Tlv:
    tag: int
    start: int  # offset of the tag byte
    content_start: int
    end: int  # offset just past the content
    after: int = -1  # offset just past the element, when not ``end`` (BER end-of-contents)

    @property
    def next(self) -> int:
        return self.end if self.after < 0 else self.after

    def content(self, data: bytes) -> bytes:
        return data[self.content_start : self.end]


def read_tlv(
    data: bytes, offset: int = 0, limit: int | None = None, *, ber: bool = False, depth: int = 0
) -> Tlv:
    """Read one tag-length-value at ``offset``; raise DerError if it runs past the data.

    ``limit`` is where the enclosing element ends (the end of ``data`` if None). With
    ``ber``, a constructed element of indefinite length (as some Windows versions
    write inside ``.pfx`` files) is read up to its end-of-contents marker.
    """
    size = len(data) if limit is None else limit
    if offset + 2 > size:
        raise DerError("ends inside a DER header")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("uses a multi-byte tag, which no certificate format here has")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        if not (ber and tag & 0x20):
            raise DerError("uses an indefinite length (BER, not DER)")
        if depth > _MAX_BER_DEPTH:
            raise DerError("is nested deeper than any certificate file")
        inner = pos
        while True:
            if inner + 2 > size:
                raise DerError("is truncated: an indefinite-length element never ends")
            if data[inner] == 0 and data[inner + 1] == 0:
                return Tlv(tag, offset, pos, inner, inner + 2)
            inner = read_tlv(data, inner, size, ber=True, depth=depth + 1).next
    else:
        count = first & 0x7F
        if count > 4 or pos + count > size:
            raise DerError("has an impossible length field")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > size:
        raise DerError(
            f"is truncated: a DER element declares {length} bytes, only {size - pos} follow"
        )
    return Tlv(tag, offset, pos, end)


def children(data: bytes, parent: Tlv, *, ber: bool = False) -> list[Tlv]:
    """The elements directly inside a constructed element."""
    out: list[Tlv] = []
    pos = parent.content_start
    while pos < parent.end:
        tlv = read_tlv(data, pos, parent.end, ber=ber)
        out.append(tlv)
        pos = tlv.next
    return out


def outer(data: bytes) -> Tlv:
    """The outermost element, which must be a SEQUENCE spanning the whole input."""
    tlv = read_tlv(data, 0)
    if tlv.tag != SEQUENCE:
        raise DerError("does not start with a DER SEQUENCE")
    return tlv


def sniff(data: bytes) -> str:
    """Classify DER bytes: 'pkcs12', 'pkcs7', or 'other' (certificate, key, CSR, CRL…).

    Raises DerError when the outer structure is cut short or corrupt.
    """
    top = outer(data)
    parts = children(data, top)
    if (
        len(parts) >= 2
        and parts[0].tag == INTEGER
        and parts[0].content(data) == b"\x03"
        and parts[1].tag == SEQUENCE
    ):
        inner = children(data, parts[1])
        if (
            inner
            and inner[0].tag == OID
            and inner[0].content(data)
            in (
                OID_PKCS7_DATA,
                OID_PKCS7_SIGNED,
            )
        ):
            return "pkcs12"
    if parts and parts[0].tag == OID and parts[0].content(data) == OID_PKCS7_SIGNED:
        return "pkcs7"
    return "other"


def pkcs12_encryption(data: bytes) -> str:
    """Name the encryption a PKCS#12 file uses, from the algorithm identifiers it carries.

    ``modern`` (PBES2, e.g. AES-256 as OpenSSL 3 writes), ``legacy`` (RC2 or 3DES with
    SHA-1, as Windows and ``openssl pkcs12 -legacy`` write), ``none`` or ``unknown``.
    """
    legacy = (OID_PBE_SHA1_RC2_40, OID_PBE_SHA1_RC2_128, OID_PBE_SHA1_3DES)
    if any(bytes([OID, len(oid)]) + oid in data for oid in legacy):
        return "legacy"
    if bytes([OID, len(OID_PBES2)]) + OID_PBES2 in data:
        return "modern"
    if bytes([OID, len(OID_PKCS7_ENCRYPTED)]) + OID_PKCS7_ENCRYPTED in data:
        return "unknown"
    return "none"


# --- what a file would cost to open ---------------------------------------------------

OCTET_STRING = 0x04
OID_PBKDF2 = bytes.fromhex("2a864886f70d01050c")  # 1.2.840.113549.1.5.12
OID_SCRYPT = bytes.fromhex("2b06010401da47040b")  # 1.3.6.1.4.1.11591.4.11
# pbeWithSHAAnd… (PKCS#12) 1.2.840.113549.1.12.1.1-6 and PKCS#5 v1 pbeWith… 1.2.840.113549.1.5.x
_PKCS12_PBE_PREFIX = bytes.fromhex("2a864886f70d010c01")
_PKCS5_PBE1 = {bytes.fromhex("2a864886f70d0105") + bytes([n]) for n in (1, 3, 4, 6, 10, 11)}


def _integer(data: bytes, tlv: Tlv) -> int:
    if tlv.tag != INTEGER or tlv.end == tlv.content_start:
        raise DerError("has an iteration count that is not an INTEGER")
    return int.from_bytes(tlv.content(data), "big", signed=True)


def iteration_counts(data: bytes) -> list[tuple[str, int]]:
    """Every key-derivation work factor readable in a PKCS#12 or PKCS#8 file, unencrypted.

    ``(what, count)`` pairs: the MAC's iteration count, and each PBES2/PBKDF2, scrypt
    (``N × r × p``) or PKCS#12/PKCS#5 PBE iteration count of the encrypted parts that
    are visible before anything is decrypted. Nested DER inside OCTET STRINGs (the
    safe contents of a PKCS#12 file) is read too. One pass over the bytes; raises
    DerError on structure that cannot be read.
    """
    found: list[tuple[str, int]] = []
    top = read_tlv(data, 0, ber=True)
    if top.tag != SEQUENCE:
        raise DerError("does not start with a DER SEQUENCE")
    parts = children(data, top, ber=True)
    if len(parts) == 3 and parts[0].tag == INTEGER and parts[2].tag == SEQUENCE:
        mac = children(
            data, parts[2], ber=True
        )  # MacData ::= SEQUENCE { mac, macSalt, iterations }
        if len(mac) == 3:
            found.append(("the MAC", _integer(data, mac[2])))
    _scan(data, top, found, 0)
    return found


def _scan(data: bytes, node: Tlv, found: list[tuple[str, int]], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise DerError("is nested deeper than any certificate file")
    tag = node.tag
    if tag in (OCTET_STRING, OCTET_STRING | 0x20):
        inner = _octets(data, node)
        if inner[:1] == bytes([SEQUENCE]):
            try:
                sub = read_tlv(inner, 0, ber=True)
            except DerError:
                return  # opaque bytes (a salt, a key) that only look like DER
            if sub.next == len(inner):
                _scan(inner, sub, found, depth + 1)
        return
    if not tag & 0x20:  # primitive
        return
    kids = children(data, node, ber=True)
    if tag == SEQUENCE and len(kids) == 2 and kids[0].tag == OID:
        _algorithm(data, kids[0].content(data), kids[1], found)
    for kid in kids:
        _scan(data, kid, found, depth + 1)


def _octets(data: bytes, node: Tlv) -> bytes:
    """The bytes of an OCTET STRING, joined from its pieces if BER split it."""
    if not node.tag & 0x20:
        return node.content(data)
    pieces = children(data, node, ber=True)
    if any(piece.tag != OCTET_STRING for piece in pieces):
        raise DerError("has an OCTET STRING made of other things than octets")
    return b"".join(piece.content(data) for piece in pieces)


def _algorithm(data: bytes, oid: bytes, params: Tlv, found: list[tuple[str, int]]) -> None:
    """An AlgorithmIdentifier: note its work factor if it derives a key from a password."""
    if params.tag != SEQUENCE:
        return
    fields = children(data, params, ber=True)
    if oid.startswith(_PKCS12_PBE_PREFIX) or oid in _PKCS5_PBE1:
        # PBEParameter ::= SEQUENCE { salt OCTET STRING, iterations INTEGER }
        if len(fields) == 2:
            found.append(("a password-based encryption", _integer(data, fields[1])))
    elif oid == OID_PBKDF2:
        # PBKDF2-params ::= SEQUENCE { salt, iterationCount INTEGER, keyLength?, prf? }
        if len(fields) >= 2:
            found.append(("a PBKDF2 key derivation", _integer(data, fields[1])))
    elif oid == OID_SCRYPT and len(fields) >= 4:
        # scrypt-params ::= SEQUENCE { salt, costParameter N, blockSize r, parallelization p, … }
        n, r, p = (_integer(data, f) for f in fields[1:4])
        found.append(("an scrypt key derivation", n * r * p))


def rsa_private_modulus_bits(data: bytes) -> int | None:
    """Size in bits of the modulus of an unencrypted RSA private key (PKCS#1 or PKCS#8).

    None when ``data`` is not such a key. Reads the ASN.1 only: nothing is computed.
    """
    try:
        top = outer(data)
        parts = children(data, top)
        if len(parts) >= 3 and parts[0].tag == INTEGER and parts[1].tag == SEQUENCE:
            # PKCS#8: SEQUENCE { version, AlgorithmIdentifier, OCTET STRING { RSAPrivateKey } }
            if parts[2].tag != OCTET_STRING:
                return None
            return rsa_private_modulus_bits(parts[2].content(data))
        # PKCS#1 RSAPrivateKey ::= SEQUENCE { version, modulus, publicExponent, … }
        if len(parts) >= 3 and parts[0].tag == INTEGER and parts[1].tag == INTEGER:
            modulus = int.from_bytes(parts[1].content(data), "big")
            return modulus.bit_length()
    except DerError:
        return None
    return None


def encode(tag: int, content: bytes) -> bytes:
    """One DER tag-length-value."""
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def oid_text(content: bytes) -> str:
    """The dotted form of a DER-encoded OBJECT IDENTIFIER's contents."""
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        return ""
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


OID_KEY_BAG = bytes.fromhex("2a864886f70d010c0a0101")  # 1.2.840.113549.1.12.10.1.1
OID_SHROUDED_KEY_BAG = bytes.fromhex("2a864886f70d010c0a0102")  # …10.1.2


def pkcs12_key_bags(data: bytes) -> list[tuple[bool, bytes]]:
    """The private-key bags a PKCS#12 file shows before any decryption.

    ``(shrouded, der)``: a PKCS#8 PrivateKeyInfo, or (``shrouded``) an
    EncryptedPrivateKeyInfo, for each key bag in the file's unencrypted contents
    (where Windows and OpenSSL put the key). Raises DerError on a broken structure.
    """
    bags: list[tuple[bool, bytes]] = []
    top = read_tlv(data, 0, ber=True)
    parts = children(data, top, ber=True)
    if len(parts) < 2:
        return bags
    auth = _data_content(data, parts[1])
    if auth is None:
        return bags
    safes = read_tlv(auth, 0, ber=True)
    for info in children(auth, safes, ber=True):
        contents = _data_content(auth, info)
        if contents is None:
            continue  # encrypted contents: opened by pyca, under the iteration ceiling
        bag_list = read_tlv(contents, 0, ber=True)
        for bag in children(contents, bag_list, ber=True):
            fields = children(contents, bag, ber=True)
            if len(fields) < 2 or fields[0].tag != OID or fields[1].tag != 0xA0:
                continue
            oid = fields[0].content(contents)
            if oid not in (OID_KEY_BAG, OID_SHROUDED_KEY_BAG):
                continue
            (value,) = children(contents, fields[1], ber=True)[:1]
            bags.append((oid == OID_SHROUDED_KEY_BAG, contents[value.start : value.next]))
    return bags


def _data_content(data: bytes, info: Tlv) -> bytes | None:
    """The octets of a ContentInfo of type ``data``; None for any other type."""
    fields = children(data, info, ber=True)
    if len(fields) < 2 or fields[0].tag != OID or fields[0].content(data) != OID_PKCS7_DATA:
        return None
    if fields[1].tag != 0xA0:
        return None
    inner = children(data, fields[1], ber=True)
    if not inner or inner[0].tag not in (OCTET_STRING, OCTET_STRING | 0x20):
        return None
    return _octets(data, inner[0])
