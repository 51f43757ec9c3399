"""Talking to an ACME server (RFC 8555) with certbot's ``acme`` package and ``josepy``.

The JWS signing, nonces, the directory and the message schemas are the library's; this
module only says what certdesk does with them: register an account, order a certificate
for a CSR certdesk made, answer the HTTP-01 challenge (by handing the token and key
authorisation to ``publish``, which stores them where ``certdesk serve`` answers), finalise,
and download the chain. Every failure leaves as one :class:`AcmeFailed` carrying the CA's
problem document, and the time the CA asked to wait (``Retry-After``) if it gave one.

:meth:`AcmeClient.renewal_info` asks the CA when to renew a certificate (ACME Renewal
Information, RFC 9773) if its directory offers ``renewalInfo``: the library picks a time
at random inside the suggested window, as the RFC asks; the CA's ``Retry-After`` says
when to ask again. ARI is advice: when asking fails, the answer says so and when to try
again, and the certificate is renewed as if there were none.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import josepy.errors
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy.jwa import ES256, ES384, ES512, RS256, JWASignature
from josepy.jwk import JWK, JWKEC, JWKRSA

from acme import challenges, client, errors, messages
from certdesk import __version__
from certdesk.acme.problems import AcmeFailed, Problem
from certdesk.pki import PrivateKey

# A server's random "badNonce" refusals (pebble makes 5% of them on purpose) are retried
# this many times per request; the library itself retries once.
NONCE_RETRIES = 4


@dataclass(frozen=True, slots=True)
class AcmeConfig:
    directory: str
    email: str | None = None
    ca_bundle: Path | None = None  # None: the system's trust (certifi's, through requests)
    eab_kid: str | None = None
    eab_hmac_key: str | None = None
    timeout: float = 30.0  # one HTTP request
    order_seconds: float = 120.0  # validation plus finalisation, at most


Publish = Callable[[str, str], None]  # (token, key authorisation): make it answerable

# RFC 9773 section 4.3.3: ask again after the CA's Retry-After, taken within one minute
# and one day; without one (or when asking failed without one), after six hours.
ARI_DEFAULT_WAIT = dt.timedelta(hours=6)
ARI_WAIT_LIMITS = (dt.timedelta(minutes=1), dt.timedelta(days=1))


@dataclass(frozen=True, slots=True)
class RenewalAdvice:
    """What the CA's renewal information says of one certificate."""

    renew_at: dt.datetime | None  # chosen at random in the suggested window; None: no advice
    next_check: dt.datetime | None  # when to ask again; None: the CA offers no ARI
    error: str | None = None  # asking failed: why (``renew_at`` is None then)


class _Network(client.ClientNetwork):
    """The library's signed transport, keeping the ``Retry-After`` of the last answer and
    retrying a refused nonce a few times."""

    retry_after: str | None = None

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        response = super()._send_request(method, url, *args, **kwargs)
        self.retry_after = response.headers.get("Retry-After")
        return response

    def post(self, *args: Any, **kwargs: Any) -> Any:
        for _ in range(NONCE_RETRIES):
            try:
                return super().post(*args, **kwargs)
            except messages.Error as error:
                if error.code != "badNonce":
                    raise
        return super().post(*args, **kwargs)


def _jwk(key: PrivateKey) -> tuple[JWK, JWASignature]:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = {256: ES256, 384: ES384, 521: ES512}[key.curve.key_size]
        return JWKEC(key=key), alg
    if isinstance(key, rsa.RSAPrivateKey):
        return JWKRSA(key=key), RS256
    raise TypeError("an ACME account key is ECDSA or RSA")


def _problem(error: BaseException) -> Problem:
    if isinstance(error, messages.Error):
        return Problem(
            type=str(error.typ),
            detail=error.detail or error.title or "",
            identifier=error.identifier.value if error.identifier else None,
            subproblems=tuple(_problem(s) for s in error.subproblems or ()),
        )
    if isinstance(error, errors.ValidationError):
        subs = []
        for authzr in error.failed_authzrs:
            for chall in authzr.body.challenges:
                if chall.error is not None:
                    sub = _problem(chall.error)
                    subs.append(
                        Problem(sub.type, sub.detail, authzr.body.identifier.value, sub.subproblems)
                    )
        first = subs[0] if subs else Problem("unauthorized", "the challenge failed")
        return Problem(first.type, first.detail, first.identifier, tuple(subs[1:]))
    if isinstance(error, errors.IssuanceError):
        return _problem(error.error)
    if isinstance(error, errors.TimeoutError):
        return Problem("timeout", "the order did not complete in time")
    if isinstance(error, OSError):  # requests' errors: no connection, a timeout, TLS
        return Problem("connection", f"the ACME server could not be reached: {error}")
    return Problem("error", str(error) or type(error).__name__)


def _when(value: str | None, now: dt.datetime) -> dt.datetime | None:
    """``Retry-After`` (seconds or an HTTP date) as an instant, or None."""
    if not value:
        return None
    if value.strip().isdigit():
        return now + dt.timedelta(seconds=int(value.strip()))
    try:
        return email.utils.parsedate_to_datetime(value).astimezone(dt.UTC)
    except (TypeError, ValueError):
        return None


class AcmeClient:
    """One account at one ACME directory; its key is given (certdesk keeps it sealed)."""

    def __init__(self, config: AcmeConfig, key: PrivateKey, account_url: str | None) -> None:
        self.config = config
        jwk, alg = _jwk(key)
        self._jwk = jwk
        account = messages.RegistrationResource(uri=account_url) if account_url else None
        self._net = _Network(
            key=jwk,
            alg=alg,
            account=account,
            verify_ssl=str(config.ca_bundle) if config.ca_bundle else True,  # type: ignore[arg-type]
            user_agent=f"certdesk/{__version__}",
            timeout=int(config.timeout),
        )
        self._client: client.ClientV2 | None = None

    def _call(self, step: Callable[[], Any]) -> Any:
        """Run ``step``; any failure becomes :class:`AcmeFailed` with the CA's problem."""
        try:
            return step()
        except AcmeFailed:
            raise
        except (errors.Error, OSError, josepy.errors.Error) as exc:
            now = dt.datetime.now(dt.UTC)
            raise AcmeFailed(_problem(exc), retry_after=_when(self._net.retry_after, now)) from exc

    @property
    def acme(self) -> client.ClientV2:
        if self._client is None:

            def directory() -> client.ClientV2:
                found = client.ClientV2.get_directory(self.config.directory, self._net)
                return client.ClientV2(found, self._net)

            self._client = self._call(directory)
        assert self._client is not None
        return self._client

    def register(self) -> str:
        """Make (or find again) the account for this key; its URL."""
        acme = self.acme

        def register() -> str:
            eab = None
            if self.config.eab_kid and self.config.eab_hmac_key:
                eab = messages.ExternalAccountBinding.from_data(
                    account_public_key=self._jwk.public_key(),
                    kid=self.config.eab_kid,
                    hmac_key=self.config.eab_hmac_key,
                    directory=acme.directory,
                )
            new = messages.NewRegistration.from_data(
                email=self.config.email,
                terms_of_service_agreed=True,
                external_account_binding=eab,
            )
            try:
                regr = acme.new_account(new)
            except errors.ConflictError as exc:  # the key has an account already
                regr = messages.RegistrationResource(uri=exc.location)
                self._net.account = regr
            return str(regr.uri)

        return str(self._call(register))

    def order(self, csr_pem: bytes, publish: Publish) -> str:
        """Order a certificate for ``csr_pem``, prove control of each name with HTTP-01
        (``publish`` makes each answer reachable before the CA is told to look), finalise,
        and return the full chain (PEM, leaf first)."""
        acme = self.acme

        def order() -> str:
            deadline = dt.datetime.now() + dt.timedelta(seconds=self.config.order_seconds)
            orderr = acme.new_order(csr_pem)
            for authzr in orderr.authorizations:
                if authzr.body.status == messages.STATUS_VALID:
                    continue  # the CA still trusts an earlier proof
                http = [c for c in authzr.body.challenges if isinstance(c.chall, challenges.HTTP01)]
                if not http:
                    raise AcmeFailed(
                        Problem(
                            "unsupportedChallenge",
                            "the CA offers no HTTP-01 challenge for this name",
                            authzr.body.identifier.value,
                        )
                    )
                challb = http[0]
                response, validation = challb.response_and_validation(self._jwk)
                publish(challb.chall.encode("token"), validation)
                acme.answer_challenge(challb, response)
            done = acme.poll_and_finalize(orderr, deadline)
            return str(done.fullchain_pem)

        return str(self._call(order))

    @property
    def offers_renewal_info(self) -> bool:
        """Whether the CA's directory offers ACME Renewal Information (RFC 9773)."""
        try:
            self.acme.directory["renewalInfo"]
        except KeyError:
            return False
        return True

    def renewal_info(self, cert_pem: bytes, now: dt.datetime) -> RenewalAdvice:
        """When the CA suggests renewing ``cert_pem`` (its leaf), and when to ask again.

        Never raises for the CA: a failure is an answer with ``error`` and the next check
        (the CA's ``Retry-After`` if it sent one, else six hours), so a CA whose renewal
        information is down is not asked again and again."""
        try:
            offered = self.offers_renewal_info
        except AcmeFailed as exc:
            return RenewalAdvice(None, now + ARI_DEFAULT_WAIT, exc.problem.describe())
        if not offered:
            return RenewalAdvice(None, None)
        self._net.retry_after = None
        try:
            chosen, _ = self.acme.renewal_time(cert_pem)
        except (errors.Error, josepy.errors.Error, OSError, ValueError, KeyError) as exc:
            why = _problem(exc.__cause__ or exc).describe()
            return RenewalAdvice(None, self._ari_next(now), why)
        if chosen is None:
            return RenewalAdvice(None, self._ari_next(now))
        return RenewalAdvice(chosen.astimezone(dt.UTC), self._ari_next(now))

    def _ari_next(self, now: dt.datetime) -> dt.datetime:
        when = _when(self._net.retry_after, now)
        if when is None:
            return now + ARI_DEFAULT_WAIT
        shortest, longest = ARI_WAIT_LIMITS
        return min(max(when, now + shortest), now + longest)

    def revoke(self, certificate: x509.Certificate, reason: int = 0) -> None:
        acme = self.acme
        self._call(lambda: acme.revoke(certificate, reason))
