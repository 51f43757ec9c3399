"""Rewrite INTEGERs inside openssl-made DER (a test helper, not certdesk code).

Making a ``.pfx`` with 2,147,483,647 iterations with ``openssl pkcs12 -iter`` would
itself take minutes; instead openssl writes one with a distinctive small count and
this rewrites that INTEGER (and every enclosing length), also inside the DER nested
in OCTET STRINGs, as a hostile tool would.
"""

from __future__ import annotations


def _read(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at ``pos`` (DER only)."""
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    return tag, pos, pos + length


def _encode(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _integer(value: int) -> bytes:
    return value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)


def _rewrite(data: bytes, old: int, new: int) -> bytes:
    out = b""
    pos = 0
    while pos < len(data):
        tag, start, end = _read(data, pos)
        content = data[start:end]
        if tag == 0x02 and int.from_bytes(content, "big", signed=True) == old:
            content = _integer(new)
        elif tag & 0x20:
            content = _rewrite(content, old, new)
        elif tag == 0x04 and content[:1] == b"\x30":
            try:
                inner = _read(content, 0)
            except IndexError:
                inner = None
            if inner is not None and inner[2] == len(content):
                content = _rewrite(content, old, new)
        out += _encode(tag, content)
        pos = end
    return out


def rewrite_integers(data: bytes, old: int, new: int) -> bytes:
    """``data`` with every INTEGER equal to ``old`` set to ``new``."""
    return _rewrite(data, old, new)
