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

    def content(self, data: bytes) -> bytes:
        return data[self.content_start : self.end]


def read_tlv(data: bytes, offset: int = 0) -> Tlv:
    """Read one tag-length-value at ``offset``; raise DerError if it runs past the data."""
    if offset + 2 > len(data):
        raise DerError("ends inside a DER header")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("uses a multi-byte tag, which no certificate format here has")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise DerError("uses an indefinite length (BER, not DER)")
    else:
        count = first & 0x7F
        if count > 4 or pos + count > len(data):
            raise DerError("has an impossible length field")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise DerError(
            f"is truncated: a DER element declares {length} bytes, only {len(data) - pos} follow"
        )
    return Tlv(tag, offset, pos, end)


def children(data: bytes, parent: Tlv) -> list[Tlv]:
    """The elements directly inside a constructed element."""
    out: list[Tlv] = []
    pos = parent.content_start
    while pos < parent.end:
        tlv = read_tlv(data[: parent.end], pos)
        out.append(tlv)
        pos = tlv.end
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
