"""Certificate signing requests: the subject validated as a CA would, the key, the CSR.

Validation returns every problem at once (as the checks do) so that a form can
show them all; :func:`build_csr` refuses with all of them in one error.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from certdesk.errors import InvalidArgument
from certdesk.pki.load import PrivateKey
from certdesk.pki.names import PublicSuffixTest, normalise_pattern, to_alabel, wildcard_base_allowed

# ISO 3166-1 alpha-2 codes (officially assigned), as CAs check the C field.
ISO_COUNTRIES = frozenset(
    """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
VN VU WF WS YE YT ZA ZM ZW
""".split()
)

# RFC 5280 upper bounds (ub-*) of the subject fields, in characters.
UPPER_BOUNDS = {"CN": 64, "O": 64, "OU": 64, "L": 128, "ST": 128, "C": 2}

_OIDS = {
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "L": NameOID.LOCALITY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "C": NameOID.COUNTRY_NAME,
}
_LABELS = {
    "CN": "common name",
    "O": "organization",
    "OU": "organizational unit",
    "L": "city/locality",
    "ST": "state/county/region",
    "C": "country",
}


class KeyKind(enum.StrEnum):
    RSA2048 = "rsa2048"
    RSA3072 = "rsa3072"
    RSA4096 = "rsa4096"
    P256 = "p256"
    P384 = "p384"


@dataclass(frozen=True, slots=True)
class Subject:
    """The fields of the seed's CSR form. Only ``common_name`` is required."""

    common_name: str
    organization: str | None = None
    unit: str | None = None
    locality: str | None = None
    state: str | None = None
    country: str | None = None

    def fields(self) -> dict[str, str]:
        values = {
            "CN": self.common_name,
            "O": self.organization,
            "OU": self.unit,
            "L": self.locality,
            "ST": self.state,
            "C": self.country,
        }
        return {k: v for k, v in values.items() if v is not None and v != ""}


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str  # CN, O, OU, L, ST, C or SAN
    message: str


def normalise_subject(subject: Subject) -> Subject:
    """Trim whitespace, upper-case a country code, lower-case and A-label the common name.

    A country that is no ISO code stays as typed, for the refusal to quote it so."""

    def clean(value: str | None) -> str | None:
        return value.strip() if value is not None and value.strip() else None

    cn = subject.common_name.strip().rstrip(".")
    norm_cn = normalise_pattern(cn) if cn else None
    country = clean(subject.country)
    return Subject(
        common_name=norm_cn if norm_cn and " " not in cn else cn,
        organization=clean(subject.organization),
        unit=clean(subject.unit),
        locality=clean(subject.locality),
        state=clean(subject.state),
        country=country.upper() if country and country.upper() in ISO_COUNTRIES else country,
    )


def validate_subject(
    subject: Subject,
    sans: Sequence[str] = (),
    is_public_suffix: PublicSuffixTest | None = None,
) -> list[FieldProblem]:
    """Every problem a CA would refuse the request for, in field order."""
    problems: list[FieldProblem] = []
    for key, value in subject.fields().items():
        label = _LABELS[key]
        if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in value):
            problems.append(FieldProblem(key, f"the {label} contains control characters"))
        if len(value) > UPPER_BOUNDS[key] and key != "C":  # the code check below says it
            problems.append(
                FieldProblem(
                    key,
                    f"the {label} is {len(value)} characters long; at most "
                    f"{UPPER_BOUNDS[key]} are allowed (RFC 5280)",
                )
            )
    if not subject.common_name.strip():
        problems.append(FieldProblem("CN", "the common name is required"))
    else:
        problem = _name_problem(subject.common_name, is_public_suffix)
        if problem:
            problems.append(FieldProblem("CN", f"the common name {problem}"))
    if subject.country is not None and subject.country not in ISO_COUNTRIES:
        problems.append(
            FieldProblem(
                "C",
                f"{subject.country!r} is not an ISO 3166 two-letter country code "
                "(for example GR, DE, US; the United Kingdom is GB)",
            )
        )
    for san in sans:
        problem = _name_problem(san, is_public_suffix)
        if problem:
            problems.append(FieldProblem("SAN", f"the extra name {san!r}: {problem}"))
    return problems


def _name_problem(name: str, is_public_suffix: PublicSuffixTest | None) -> str | None:
    text = name.strip().rstrip(".")
    if " " in text:
        return f"{name!r} contains a space: it must be a domain name like store.test.com"
    wildcard = text.startswith("*.")
    if "*" in (text[2:] if wildcard else text):
        return (
            f"{name!r} has a wildcard that is not the whole leftmost label: only one "
            "'*.' at the start is allowed (like *.test.com)"
        )
    try:
        alabel = to_alabel(text, wildcard=True)
    except InvalidArgument:
        return f"{name!r} is not a valid domain name"
    base = alabel[2:] if wildcard else alabel
    if "." not in base:
        return f"{name!r} is not a fully qualified domain name (it needs a dot, like test.com)"
    if wildcard and not wildcard_base_allowed(base, is_public_suffix):
        return f"{name!r} is a wildcard for a whole public suffix, which no CA issues"
    return None


def generate_key(kind: KeyKind | str) -> PrivateKey:
    """A new private key of the given kind."""
    kind = KeyKind(kind)
    if kind is KeyKind.P256:
        return ec.generate_private_key(ec.SECP256R1())
    if kind is KeyKind.P384:
        return ec.generate_private_key(ec.SECP384R1())
    bits = {KeyKind.RSA2048: 2048, KeyKind.RSA3072: 3072, KeyKind.RSA4096: 4096}[kind]
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def csr_names(subject: Subject, sans: Sequence[str] = ()) -> tuple[str, ...]:
    """The SANs of the request: the common name first, then the extra names, no repeats."""
    out: list[str] = []
    for name in (subject.common_name, *sans):
        alabel = to_alabel(name, wildcard=True)
        if alabel not in out:
            out.append(alabel)
    return tuple(out)


def build_csr(
    subject: Subject,
    key: PrivateKey,
    sans: Sequence[str] = (),
    is_public_suffix: PublicSuffixTest | None = None,
) -> x509.CertificateSigningRequest:
    """A CSR signed with ``key`` (SHA-256), the common name always also a SAN.

    Raises ``invalid-argument`` listing every problem when the subject is not valid.
    """
    subject = normalise_subject(subject)
    problems = validate_subject(subject, sans, is_public_suffix)
    if problems:
        raise SubjectInvalid(problems)
    name = x509.Name([x509.NameAttribute(_OIDS[k], v) for k, v in subject.fields().items()])
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in csr_names(subject, sans)]),
            critical=False,
        )
    )
    algorithm = None if _is_edwards(key) else hashes.SHA256()
    return builder.sign(key, algorithm)


def csr_pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.PEM)


def subject_of(cert: x509.Certificate | x509.CertificateSigningRequest) -> Subject:
    """The form fields of an existing certificate's subject (for renewal)."""

    def get(oid: x509.ObjectIdentifier) -> str | None:
        attrs = cert.subject.get_attributes_for_oid(oid)
        value = attrs[0].value if attrs else None
        return value if isinstance(value, str) else None

    return Subject(
        common_name=get(NameOID.COMMON_NAME) or "",
        organization=get(NameOID.ORGANIZATION_NAME),
        unit=get(NameOID.ORGANIZATIONAL_UNIT_NAME),
        locality=get(NameOID.LOCALITY_NAME),
        state=get(NameOID.STATE_OR_PROVINCE_NAME),
        country=get(NameOID.COUNTRY_NAME),
    )


class SubjectInvalid(InvalidArgument):
    """The CSR subject has problems; ``problems`` lists every one."""

    code: ClassVar[str] = "invalid-subject"

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems = tuple(problems)
        text = "; ".join(p.message for p in problems)
        super().__init__(
            f"the request cannot be made: {text}",
            hint="correct the fields named and send the request again",
        )


def _is_edwards(key: PrivateKey) -> bool:
    return isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
