"""``certdesk inspect``, ``check`` and ``convert``: working on certificate files."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography import x509
from rich.markup import escape

from certdesk import clock, pki
from certdesk.cli.inputs import PASSWORD_HELP, read_input, read_password, write_output
from certdesk.cli.output import EXIT_FINDINGS, out, print_json, refusals
from certdesk.cli.state import state
from certdesk.desk.intermediates import known_intermediates
from certdesk.errors import NoCertificate, NoPrivateKey
from certdesk.pki.assemble import assemble
from certdesk.pki.facts import key_facts
from certdesk.trust import is_public_suffix, trust_roots

# --- shared options ------------------------------------------------------------

FileArg = Annotated[
    Path,
    typer.Argument(
        help="The file: .pfx/.p12, .crt/.pem/.cer (PEM or DER), .p7b, or a key; "
        "its format is read from its bytes. '-' reads standard input.",
        show_default=False,
    ),
]
PasswordFile = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        help="Read the password from this file (its trailing newline is ignored). " + PASSWORD_HELP,
        show_default=False,
    ),
]
PasswordEnv = Annotated[
    str | None,
    typer.Option(
        "--password-env",
        metavar="VAR",
        help="Read the password from this environment variable.",
        show_default=False,
    ),
]
PasswordLiteral = Annotated[
    str | None,
    typer.Option(
        "--password",
        metavar="PW",
        help="The password itself (visible to others: see --password-file).",
        show_default=False,
    ),
]
KeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key",
        help="A private key file (PEM or DER) to go with the certificate.",
        show_default=False,
    ),
]
KeyPasswordFile = Annotated[
    Path | None,
    typer.Option(
        "--key-password-file",
        help="Password of an encrypted --key, from a file (default: the file's password).",
        show_default=False,
    ),
]
KeyPasswordEnv = Annotated[
    str | None,
    typer.Option(
        "--key-password-env",
        metavar="VAR",
        help="Password of an encrypted --key, from an environment variable.",
        show_default=False,
    ),
]
ChainOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--chain",
        help="Extra chain certificates (intermediates), any format. Repeatable.",
        show_default=False,
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print stable JSON (see the README) instead of text.")
]


def _load(
    path: Path,
    password: bytes | None,
    key: Path | None = None,
    key_password: bytes | None = None,
    chain: list[Path] | None = None,
) -> pki.Bundle:
    bundle = pki.load_bundle(read_input(path), password)
    key_obj = None
    if key is not None:
        key_obj = pki.load_private_key(
            read_input(key, what="key file"), key_password if key_password else password
        )
    extra: list[x509.Certificate] = []
    for item in chain or []:
        extra.extend(pki.load_certificates(read_input(item, what="chain file"), password))
    return assemble(bundle, key=key_obj, chain=extra)


# --- inspect -------------------------------------------------------------------


def inspect(
    file: FileArg,
    password_file: PasswordFile = None,
    password_env: PasswordEnv = None,
    password: PasswordLiteral = None,
    as_json: JsonOpt = False,
) -> None:
    """Show every certificate in a file and whether it holds a private key."""
    with refusals(as_json):
        pw = read_password(password_file, password_env, password)
        bundle = pki.load_bundle(read_input(file), pw)
    infos = list(bundle.infos())
    key_json = _key_json(bundle, infos)
    if as_json:
        print_json(
            {
                "schema": "certdesk.inspect/1",
                "file": str(file),
                "format": bundle.format,
                "encryption": bundle.encryption or None,
                "friendly_name": bundle.friendly_name,
                "private_key": key_json,
                "certificates": [i.to_json() for i in infos],
            }
        )
        return
    enc = f", {bundle.encryption} encryption" if bundle.encryption else ""
    out.print(
        f"[bold]{escape(str(file))}[/]: {bundle.format}{enc}, "
        f"{len(infos)} certificate(s), "
        + ("private key present" if key_json["present"] else "no private key")
    )
    if key_json["present"]:
        size = key_json["curve"] or f"{key_json['size']} bits"
        match = key_json["matches"]
        out.print(
            f"  key: {key_json['type']} {size}, "
            + (
                f"matches certificate {match[:16]}…"
                if match
                else "[red]matches no certificate in the file[/]"
            )
        )
    for index, info in enumerate(infos, start=1):
        out.print()
        _print_facts(index, info)


def _key_json(bundle: pki.Bundle, infos: list[pki.CertificateInfo]) -> dict[str, Any]:
    if bundle.private_key is None:
        return {"present": False, "type": None, "size": None, "curve": None, "matches": None}
    key_type, size, curve = key_facts(bundle.private_key)
    spki = pki.spki_sha256(bundle.private_key)
    match = next((i.sha256 for i in infos if i.spki_sha256 == spki), None)
    return {"present": True, "type": key_type, "size": size, "curve": curve, "matches": match}


def _print_facts(index: int, info: pki.CertificateInfo) -> None:
    names = ", ".join(info.dns_names + info.ip_addresses) or "(none)"
    key = f"{info.key_type} {info.key_curve or str(info.key_size) + ' bits'}"
    ca = "no"
    if info.is_ca:
        ca = "yes" + (f" (path length {info.path_length})" if info.path_length is not None else "")
    rows = [
        ("subject", info.subject),
        ("names (SAN)", names if info.has_san else "(no subjectAltName)"),
        ("issuer", info.issuer),
        ("valid", f"{pki.iso_utc(info.not_before)} → {pki.iso_utc(info.not_after)}"),
        ("serial", info.serial),
        ("key", key),
        ("signature", info.signature_algorithm),
        ("CA", ca),
        ("key usage", ", ".join(info.key_usage) if info.key_usage is not None else "(any)"),
        (
            "extended key usage",
            ", ".join(info.extended_key_usage) if info.extended_key_usage is not None else "(any)",
        ),
        ("SHA-256", info.sha256),
        ("SHA-1", info.sha1),
        ("SPKI SHA-256", info.spki_sha256),
    ]
    out.print(f"[bold]certificate {index}[/]")
    for label, value in rows:
        out.print(f"  [bold]{label:<19}[/] {escape(value)}")


# --- check ---------------------------------------------------------------------


def check(
    file: FileArg,
    password_file: PasswordFile = None,
    password_env: PasswordEnv = None,
    password: PasswordLiteral = None,
    host: Annotated[
        list[str] | None,
        typer.Option(
            "--host",
            metavar="NAME_OR_URL",
            help="A host name or URL the certificate must cover. Repeatable.",
            show_default=False,
        ),
    ] = None,
    key: KeyOpt = None,
    key_password_file: KeyPasswordFile = None,
    key_password_env: KeyPasswordEnv = None,
    chain: ChainOpt = None,
    ca_bundle: Annotated[
        Path | None,
        typer.Option(
            "--ca-bundle",
            envvar="CERTDESK_CA_BUNDLE",
            help="A PEM file of extra trusted roots (a private or test CA), trusted "
            "besides Mozilla's.",
            show_default=False,
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="ISO-8601",
            help="Check as of this instant instead of now (UTC if no offset).",
            show_default=False,
        ),
    ] = None,
    expires_soon_days: Annotated[
        int, typer.Option("--expires-soon-days", min=0, help="Warn when fewer days are left.")
    ] = 30,
    as_json: JsonOpt = False,
) -> None:
    """Check a certificate file and print every finding with its fix.

    Exit 0 when no finding is an error, 1 when one is, 2 when the file cannot be read.
    """
    with refusals(as_json):
        pw = read_password(password_file, password_env, password)
        key_pw = read_password(key_password_file, key_password_env, None, option="--key-password")
        hosts = [pki.parse_host(h) for h in host or []]
        moment = clock.parse_instant(at) if at else clock.now()
        bundle = _load(file, pw, key, key_pw, chain)
        if not bundle.certificates:
            raise NoCertificate(
                "the file holds a private key but no certificate",
                hint="give the certificate file, and this key with --key",
            )
        roots = trust_roots(ca_bundle)
        known = _known_intermediates(bundle.certificates)
    report = pki.check_bundle(
        bundle,
        pki.CheckOptions(
            at=moment,
            hosts=hosts,
            roots=roots,
            intermediates=known,
            expires_soon_days=expires_soon_days,
            is_public_suffix=is_public_suffix,
        ),
    )
    code = 0 if report.ok else EXIT_FINDINGS
    if as_json:
        counts = {s.value: sum(f.severity is s for f in report.findings) for s in pki.Severity}
        print_json(
            {
                "schema": "certdesk.check/1",
                "file": str(file),
                "format": bundle.format,
                "at": pki.iso_utc(moment),
                "hosts": [h.name for h in hosts],
                "ok": report.ok,
                "counts": counts,
                "private_key": bundle.private_key is not None,
                "leaf": report.leaf.to_json(),
                "chain": [_chain_entry(c) for c in report.chain.path],
                "trusted": report.verification.ok if report.verification is not None else False,
                "findings": [f.to_json() for f in report.findings],
            }
        )
        raise typer.Exit(code)
    leaf = report.leaf
    out.print(
        f"[bold]{escape(leaf.common_name or leaf.subject)}[/] "
        f"({escape(', '.join(leaf.dns_names) or 'no SAN')}), "
        f"valid until {pki.iso_utc(leaf.not_after)}, issued by "
        f"{escape(leaf.issuer_common_name or leaf.issuer)}"
    )
    out.print(
        f"chain: {len(report.chain.path)} certificate(s)"
        + (", key present" if bundle.private_key is not None else "")
    )
    if not report.findings:
        out.print("[green]no findings[/]")
    styles = {"error": "bold red", "warning": "yellow", "info": "cyan"}
    for finding in report.findings:
        sev = finding.severity.value
        out.print(
            f"[{styles[sev]}]{sev}[/]{escape(f'[{finding.code}]')}: {escape(finding.message)}"
        )
        out.print(f"  fix: {escape(finding.fix)}")
    errors = len(report.errors)
    out.print(
        f"{errors} error(s), "
        f"{sum(f.severity is pki.Severity.WARNING for f in report.findings)} warning(s)"
    )
    raise typer.Exit(code)


def _known_intermediates(certs: tuple[x509.Certificate, ...]) -> tuple[x509.Certificate, ...]:
    """The intermediates certdesk has stored, when the data folder holds its database and
    master key: a leaf sent alone is completed with them, as ``submit`` does. A check
    never creates a data folder, a database or a key."""
    settings = state.settings()
    if settings.is_sqlite:
        database = settings.database_url.removeprefix("sqlite:///")
        if database in (settings.database_url, ":memory:") or not Path(database).exists():
            return ()
    if not settings.master_key and not settings.master_key_file.exists():
        return ()
    found: tuple[x509.Certificate, ...] = state.desk().run(
        state.actor(), known_intermediates, certificates=certs
    )
    return found


def _chain_entry(cert: x509.Certificate) -> dict[str, str]:
    info = pki.describe(cert)
    return {
        "sha256": info.sha256,
        "subject": info.subject,
        "issuer": info.issuer,
        "not_after": pki.iso_utc(info.not_after),
    }


# --- convert -------------------------------------------------------------------


class Target(enum.StrEnum):
    pfx = "pfx"
    pem = "pem"
    der = "der"
    p7b = "p7b"
    key = "key"


def convert(
    file: FileArg,
    to: Annotated[Target, typer.Option("--to", help="What to write.", case_sensitive=False)],
    out_path: Annotated[Path, typer.Option("--out", help="The file to write.", show_default=False)],
    key: KeyOpt = None,
    key_password_file: KeyPasswordFile = None,
    key_password_env: KeyPasswordEnv = None,
    chain: ChainOpt = None,
    password_file: PasswordFile = None,
    password_env: PasswordEnv = None,
    password: PasswordLiteral = None,
    out_password_file: Annotated[
        Path | None,
        typer.Option(
            "--out-password-file",
            help="Password for the new .pfx or key, from a file (trailing newline ignored).",
            show_default=False,
        ),
    ] = None,
    out_password_env: Annotated[
        str | None,
        typer.Option(
            "--out-password-env",
            metavar="VAR",
            help="Password for the new .pfx or key, from an environment variable.",
            show_default=False,
        ),
    ] = None,
    legacy: Annotated[
        bool,
        typer.Option(
            "--legacy",
            help="Write a .pfx with 3DES/SHA-1, for Windows "
            "Server 2016 and older (default: AES-256, as OpenSSL 3).",
        ),
    ] = False,
    include_key: Annotated[
        bool,
        typer.Option(
            "--include-key",
            help="With --to pem: put the private key in the "
            "file too (unencrypted unless an --out-password is given).",
        ),
    ] = False,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Friendly name stored in the .pfx (default: the certificate's common name).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
) -> None:
    """Convert between .crt + key, .pfx, PEM, DER and .p7b, as 'openssl pkcs12' does.

    Certificates are written leaf first, then the chain up to the root, whatever the
    order they came in; certificates that are not part of the chain are left out.
    """
    with refusals(False):
        pw = read_password(password_file, password_env, password)
        key_pw = read_password(key_password_file, key_password_env, None, option="--key-password")
        out_pw = read_password(out_password_file, out_password_env, None, option="--out-password")
        bundle = _load(file, pw, key, key_pw, chain)
        summary = _convert(
            bundle,
            to,
            out_pw,
            legacy=legacy,
            include_key=include_key,
            name=name,
            out_path=out_path,
            force=force,
        )
    out.print(summary)


def _convert(
    bundle: pki.Bundle,
    to: Target,
    out_pw: bytes | None,
    *,
    legacy: bool,
    include_key: bool,
    name: str | None,
    out_path: Path,
    force: bool,
) -> str:
    key = bundle.private_key
    if to is Target.key:
        if key is None:
            raise NoPrivateKey(
                "the file holds no private key to write",
                hint="give a .pfx with its key, or a key file",
            )
        write_output(out_path, pki.key_to_pem(key, out_pw), secret=True, force=force)
        state = "encrypted" if out_pw else "unencrypted, mode 0600"
        return f"wrote {out_path}: private key (PKCS#8 PEM, {state})"
    if not bundle.certificates:
        raise NoCertificate(
            "the file holds no certificate to convert",
            hint="give the certificate file, and the key with --key",
        )
    key_spki = pki.spki_sha256(key) if key is not None else None
    leaf = pki.pick_leaf(bundle.certificates, key_spki)
    if key is not None:
        pki.ensure_key_matches(key, leaf)
    path = pki.order_chain(bundle.certificates, leaf=leaf).path
    info = pki.describe(leaf)
    label = info.common_name or info.subject
    if to is Target.pfx:
        if key is None:
            raise NoPrivateKey(
                "a .pfx for a server needs the private key, and none was given",
                hint="give the key file with --key (the one made with the CSR)",
            )
        data = pki.to_pfx(
            key,
            leaf,
            path[1:],
            password=out_pw or b"",
            legacy=legacy,
            friendly_name=name or info.common_name,
        )
        write_output(out_path, data, secret=True, force=force)
        kind = "legacy 3DES/SHA-1" if legacy else "AES-256/SHA-256"
        return (
            f"wrote {out_path}: .pfx ({kind}) with {label}, {len(path) - 1} chain "
            f"certificate(s) and its key; SHA-256 {info.sha256}"
        )
    if to is Target.pem:
        data = pki.to_pem(path)
        secret = include_key and key is not None
        if include_key:
            if key is None:
                raise NoPrivateKey("--include-key was given but there is no private key")
            data = pki.key_to_pem(key, out_pw) + data
        write_output(out_path, data, secret=secret, force=force)
        return f"wrote {out_path}: PEM with {len(path)} certificate(s), leaf {label}" + (
            ", and its key" if secret else ""
        )
    if to is Target.der:
        write_output(out_path, pki.to_der(leaf), secret=False, force=force)
        return f"wrote {out_path}: DER certificate {label} (DER holds one certificate only)"
    write_output(out_path, pki.to_p7b(path), secret=False, force=force)
    return f"wrote {out_path}: PKCS#7 (.p7b, DER) with {len(path)} certificate(s), leaf {label}"


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
    app.command("check")(check)
    app.command("convert")(convert)


__all__ = ["register"]
