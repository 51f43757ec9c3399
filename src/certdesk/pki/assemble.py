"""Putting one bundle together from several files: a certificate, its key, its chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cryptography import x509

from certdesk.errors import UnsupportedFormat
from certdesk.fixes import Action, Fix
from certdesk.pki.load import Bundle, PrivateKey


def assemble(
    main: Bundle,
    *,
    key: PrivateKey | None = None,
    chain: Sequence[x509.Certificate] = (),
) -> Bundle:
    """``main`` with a separately given private key and extra chain certificates.

    A key given twice (inside ``main`` and separately) is refused rather than guessed.
    """
    if key is not None and main.private_key is not None:
        raise UnsupportedFormat(
            "the file already holds a private key, and another one was given",
            fix=Fix(Action.KEY_GIVEN_TWICE),
        )
    return replace(
        main,
        certificates=main.certificates + tuple(chain),
        private_key=key if key is not None else main.private_key,
    )
