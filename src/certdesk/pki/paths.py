"""Path building as browsers do it: from a leaf, through any of the candidate
intermediates, to a trust anchor.

A bundle is a pool, not a path. Let's Encrypt served ISRG Root X1 cross-signed by
an expired root; Sectigo bundles carry USERTrust cross-signed by AAA or AddTrust; a
customer may send two intermediates with one subject where only one is right, or no
intermediate at all. :func:`build_chain` gives every certificate of the bundle, and
the intermediates certdesk already knows, to the web PKI verifier
(:func:`certdesk.pki.chain.verify`), which tries the alternatives. When no path
verifies, certdesk builds the candidate paths itself and explains the best one:
the certificate at fault and why (expired, not a CA, may not sign certificates…),
or the issuer that is missing, or the root that is not trusted.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509

from certdesk.pki.chain import ChainAnalysis, Verification, issued_by, verify
from certdesk.pki.facts import describe, fingerprint, iso_utc, spki_sha256

# Bounds on the search when no path verifies: the verifier has already said no, this
# only looks for the best explanation, and a hostile pool must not make it explode.
MAX_DEPTH = 8
MAX_PATHS = 64
MAX_SAME_SUBJECT = 16  # candidate issuers tried per certificate


@dataclass(frozen=True, slots=True)
class PathProblem:
    """Why a path fails, naming the certificate at fault."""

    certificate: x509.Certificate
    message: str
    fix: str


@dataclass(frozen=True, slots=True)
class BuiltChain:
    """The outcome of path building for one leaf.

    ``analysis.path`` is the path found (leaf → trust anchor) when ``verification.ok``;
    otherwise the best candidate (leaf → as far as it goes). ``problems`` explain why
    the best candidate fails when it reaches a trust anchor; ``added`` are the known
    intermediates (not in the bundle) the path uses.
    """

    analysis: ChainAnalysis
    verification: Verification | None
    anchored: bool
    problems: tuple[PathProblem, ...]
    added: tuple[x509.Certificate, ...]
    tried: int = 0  # paths to a trust anchor found, when none verifies

    @property
    def trusted(self) -> bool:
        return self.verification is not None and self.verification.ok


def build_chain(
    given: Sequence[x509.Certificate],
    *,
    leaf: x509.Certificate,
    known: Sequence[x509.Certificate] = (),
    roots: Sequence[x509.Certificate] = (),
    at: datetime,
) -> BuiltChain:
    """Find the path from ``leaf`` to one of ``roots`` through ``given`` and ``known``.

    ``given`` is the bundle as it came (duplicates and order judged on it); ``known``
    are intermediates certdesk has seen before, used only when the path needs them.
    ``at`` is the instant the path must be valid at.
    """
    unique = _unique(given)
    duplicates = len(given) - len(unique)
    given_fps = {fingerprint(c) for c in unique}
    pool = [c for c in unique if c != leaf]
    pool += [c for c in _unique(known) if fingerprint(c) not in given_fps and c != leaf]
    trusted_ids, roots_by_subject = _anchors(tuple(roots))

    if _identity(leaf) in trusted_ids:
        # The operator trusts this very certificate (a self-signed one, say).
        path: tuple[x509.Certificate, ...] = (leaf,)
        return _built(unique, duplicates, path, Verification(True, path, None), True, (), path)

    search = _Search(pool, roots_by_subject, trusted_ids)
    result = verify(leaf, pool, roots, at) if roots else None
    if result is not None and result.ok:
        found = result.path
        if all(c in found for c in unique):
            return _built(unique, duplicates, found, result, True, (), found)
        # Some of the bundle is off the path: alternatives, or extra certificates?
        on_paths = [c for p in search.paths(leaf) for c in p.certs]
        related = search.related(unique, [*on_paths, *found])
        return _built(unique, duplicates, found, result, True, (), related)

    candidates = list(search.paths(leaf))
    related = search.related(unique, [c for p in candidates for c in p.certs])
    anchored = [p for p in candidates if p.end == "anchor"]
    if anchored:
        scored = [(p, _problems(p.certs, at, trusted_ids)) for p in anchored]
        best, problems = min(scored, key=lambda item: (len(item[1]), len(item[0].certs)))
        if not problems:
            # certdesk sees nothing wrong on this path: let the verifier say what is.
            alone = verify(leaf, best.certs[1:], roots, at)
            if alone.ok:  # (the verifier gave up on the whole pool, not on this path)
                return _built(unique, duplicates, alone.path, alone, True, (), related)
            result = alone
        built = _built(unique, duplicates, best.certs, result, True, tuple(problems), related)
        return replace(built, tried=len(anchored))
    roots_ends = [p for p in candidates if p.end == "root"]
    best = max(roots_ends or candidates, key=lambda p: len(p.certs))
    return _built(unique, duplicates, best.certs, result, False, (), related)


@dataclass(frozen=True, slots=True)
class _Candidate:
    certs: tuple[x509.Certificate, ...]
    end: str  # "anchor" (a trusted root), "root" (self-signed, untrusted), "missing"


class _Search:
    """Depth-first search over issuers by name *and* signature, bounded."""

    def __init__(
        self,
        pool: Sequence[x509.Certificate],
        roots_by_subject: Mapping[bytes, Sequence[x509.Certificate]],
        trusted_ids: AbstractSet[tuple[bytes, str]],
    ) -> None:
        self.trusted_ids = trusted_ids
        self.roots_by_subject = roots_by_subject
        self.by_subject: dict[bytes, list[x509.Certificate]] = {}
        for cert in pool:
            if _identity(cert) not in trusted_ids:  # a copy of a root is the root
                self.by_subject.setdefault(cert.subject.public_bytes(), []).append(cert)
        self.found = 0

    def related(
        self, bundle: Sequence[x509.Certificate], on_paths: Sequence[x509.Certificate]
    ) -> tuple[x509.Certificate, ...]:
        """The bundle's certificates that belong to some path: on one, the same name and
        key as one (a cross-signed or re-issued copy), or the issuer of one of those
        (the old root of a cross-signature). The rest are extra certificates."""
        ids = {_identity(c) for c in on_paths}
        related = list(on_paths)
        wanted: dict[bytes, list[x509.Certificate]] = {}  # issuer name -> related certs
        for cert in related:
            wanted.setdefault(cert.issuer.public_bytes(), []).append(cert)
        rest = [c for c in bundle if c not in related]
        changed = True
        while changed and rest:
            changed = False
            for cert in list(rest):
                issued = wanted.get(cert.subject.public_bytes(), ())
                if _identity(cert) in ids or any(issued_by(r, cert) for r in issued):
                    related.append(cert)
                    ids.add(_identity(cert))
                    wanted.setdefault(cert.issuer.public_bytes(), []).append(cert)
                    rest.remove(cert)
                    changed = True
        return tuple(related)

    def paths(self, leaf: x509.Certificate) -> Iterator[_Candidate]:
        yield from self._extend((leaf,), {_identity(leaf)})

    def _extend(
        self, path: tuple[x509.Certificate, ...], seen: set[tuple[bytes, str]]
    ) -> Iterator[_Candidate]:
        if self.found >= MAX_PATHS:
            return
        top = path[-1]
        issuer_name = top.issuer.public_bytes()
        anchors = [r for r in self.roots_by_subject.get(issuer_name, []) if issued_by(top, r)]
        if anchors:
            self.found += 1
            yield _Candidate((*path, anchors[0]), "anchor")
            return
        if len(path) > 1 and issued_by(top, top):
            self.found += 1
            yield _Candidate(path, "root")
            return
        issuers = [
            c
            for c in self.by_subject.get(issuer_name, [])[:MAX_SAME_SUBJECT]
            if _identity(c) not in seen and issued_by(top, c)
        ]
        if not issuers or len(path) > MAX_DEPTH:
            if len(path) == 1 and issued_by(top, top):
                self.found += 1
                yield _Candidate(path, "root")  # a self-signed leaf
                return
            self.found += 1
            yield _Candidate(path, "missing")
            return
        for issuer in issuers:
            yield from self._extend((*path, issuer), seen | {_identity(issuer)})


def _problems(
    path: Sequence[x509.Certificate], at: datetime, trusted_ids: AbstractSet[tuple[bytes, str]]
) -> list[PathProblem]:
    """What is wrong with the CA certificates of ``path``, in browsers' terms.

    The leaf's own problems (expiry, names, purpose, key, signature) are findings of
    their own; a trust anchor is trusted for its name and key, so only its validity
    is checked (RFC 5280 section 6.1.1).
    """
    out: list[PathProblem] = []
    below = 0  # CA certificates below this one (self-issued ones do not count)
    for index, cert in enumerate(path[1:], start=1):
        info = describe(cert)
        anchor = _identity(cert) in trusted_ids and index == len(path) - 1
        who = f"the {'root' if anchor else 'intermediate'} certificate {_label(cert)}"
        renew = (
            "use a certificate whose chain leads to a current root (the certificate "
            "authority publishes its current chain); if this root is the platform's private "
            "CA, its operator renews it and updates certdesk's trusted CA bundle"
            if anchor
            else "use the current intermediate certificates of your certificate authority "
            "(export the .pfx again with its whole chain)"
        )
        if at > info.not_after:
            out.append(PathProblem(cert, f"{who} expired on {iso_utc(info.not_after)}", renew))
        elif at < info.not_before:
            out.append(
                PathProblem(cert, f"{who} is valid only from {iso_utc(info.not_before)}", renew)
            )
        if not anchor:
            reissue = (
                f"{_label(cert)} cannot issue certificates: if it is your own CA, issue it "
                "again as a CA (basicConstraints CA:TRUE, keyUsage keyCertSign); otherwise use "
                "the intermediate certificates your certificate authority publishes"
            )
            if not info.is_ca:
                out.append(PathProblem(cert, f"{who} is not a certificate authority", reissue))
            elif info.key_usage is not None and "key_cert_sign" not in info.key_usage:
                out.append(
                    PathProblem(
                        cert,
                        f"{who} may not sign certificates (its keyUsage lacks keyCertSign)",
                        reissue,
                    )
                )
            eku = info.extended_key_usage
            if eku is not None and not {"serverAuth", "anyExtendedKeyUsage"} & set(eku):
                out.append(
                    PathProblem(
                        cert,
                        f"{who} may not be used for TLS servers (its uses: {', '.join(eku)})",
                        "use a certificate issued under a CA meant for TLS server certificates",
                    )
                )
            if info.path_length is not None and below > info.path_length:
                out.append(
                    PathProblem(
                        cert,
                        f"{who} allows {info.path_length} intermediate(s) below it, and the "
                        f"chain has {below}",
                        "use the intermediate certificates your certificate authority "
                        "publishes for this certificate",
                    )
                )
        if not info.self_issued:
            below += 1
    return out


def _built(
    unique: list[x509.Certificate],
    duplicates: int,
    path: tuple[x509.Certificate, ...],
    result: Verification | None,
    anchored: bool,
    problems: tuple[PathProblem, ...],
    related: Sequence[x509.Certificate],
) -> BuiltChain:
    given_fps = [fingerprint(c) for c in unique]
    given = set(given_fps)
    path_fps = [fingerprint(c) for c in path]
    on_path = set(path_fps)
    related_fps = {fingerprint(c) for c in related} | on_path
    # In order when the bundle names the leaf first and the path's certificates in the
    # path's order (certificates of no path are reported on their own).
    in_order = given_fps[:1] == path_fps[:1] and [f for f in given_fps if f in on_path] == [
        f for f in path_fps if f in given
    ]
    top = path[-1]
    top_is_root = issued_by(top, top)
    analysis = ChainAnalysis(
        leaf=path[0],
        path=path,
        unrelated=tuple(c for c in unique if fingerprint(c) not in related_fps),
        duplicates=duplicates,
        in_order=in_order,
        top_is_root=top_is_root,
        anchor=top if anchored else None,
        missing_issuer=None if (top_is_root or anchored) else top.issuer,
    )
    anchor_fp = path_fps[-1] if anchored else None
    added = tuple(
        c for c, fp in zip(path, path_fps, strict=True) if fp not in given and fp != anchor_fp
    )
    return BuiltChain(analysis, result, anchored, problems, added)


def served(path: Sequence[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """What a server sends: the path leaf first, without its root (a self-signed top)."""
    if len(path) > 1 and issued_by(path[-1], path[-1]):
        return tuple(path[:-1])
    return tuple(path)


@functools.lru_cache(maxsize=8)
def _anchors(
    roots: tuple[x509.Certificate, ...],
) -> tuple[frozenset[tuple[bytes, str]], dict[bytes, tuple[x509.Certificate, ...]]]:
    """The roots' identities and the roots by subject, built once per set of roots."""
    by_subject: dict[bytes, list[x509.Certificate]] = {}
    for root in roots:
        by_subject.setdefault(root.subject.public_bytes(), []).append(root)
    return (
        frozenset(_identity(r) for r in roots),
        {name: tuple(found) for name, found in by_subject.items()},
    )


def _identity(cert: x509.Certificate) -> tuple[bytes, str]:
    """A certificate's name and key: what makes it a trust anchor (a re-issued or
    cross-signed copy of a root is the same anchor)."""
    return cert.subject.public_bytes(), spki_sha256(cert.public_key())


def _unique(certs: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    out: list[x509.Certificate] = []
    seen: set[str] = set()
    for cert in certs:
        fp = fingerprint(cert)
        if fp not in seen:
            seen.add(fp)
            out.append(cert)
    return out


def _label(cert: x509.Certificate) -> str:
    info = describe(cert)
    return repr(info.common_name) if info.common_name else info.subject
