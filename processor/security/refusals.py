"""Why the cluster refused a client that could reach it: who it is, or whom it trusts.

A wrong password, an unknown user, a broker certificate the CA file does not vouch for, and a
client certificate the broker rejects are the configuration's faults: retrying cannot help, so
they end a command at once with one line naming the user or the file. aiokafka reports most of
them only in a log line (the held records' arguments carry the errors themselves); a rejected
client certificate reaches it as a bare closed connection, so one more TLS handshake asks the
broker's alert for the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import ssl
from collections.abc import Iterator
from pathlib import Path

from aiokafka.errors import KafkaError, KafkaTimeoutError, SaslAuthenticationFailed

from processor.config import Settings, kafka_client_options

# How long the broker has to send its verdict on a client certificate after the handshake.
ALERT_WAIT_S = 2.0


class AuthenticationRefused(Exception):
    """The cluster answered and refused us; the message is one line naming the cause."""


def errors_in(error: BaseException, held: list[logging.LogRecord]) -> Iterator[BaseException]:
    """``error`` and every exception aiokafka logged while it happened, newest first."""
    yield error
    for record in reversed(held):
        args = record.args if isinstance(record.args, tuple) else ()
        yield from (arg for arg in args if isinstance(arg, BaseException))


def refused_credentials(settings: Settings, errors: list[BaseException]) -> str | None:
    """The line for a SASL failure among ``errors`` (pure), None if there is none."""
    for error in errors:
        if isinstance(error, SaslAuthenticationFailed):
            said = " ".join(str(error).split(": ", 1)[-1].split())
            if settings.sasl_mechanism == "OAUTHBEARER":
                return (
                    f"the cluster at {settings.bootstrap_servers} refused the token of "
                    f"PROCESSOR_SASL_OAUTH_TOKEN_PROVIDER {settings.sasl_oauth_token_provider}: "
                    f"{said}"
                )
            return (
                f"the cluster at {settings.bootstrap_servers} refused user "
                f"{settings.sasl_username!r} ({settings.sasl_mechanism}): {said}; check "
                "PROCESSOR_SASL_USERNAME and the password"
            )
    return None


def untrusted_broker(settings: Settings, errors: list[BaseException]) -> str | None:
    """The line for a broker certificate that does not verify (pure), None if there is none."""
    for error in errors:
        if isinstance(error, ssl.SSLCertVerificationError):
            trusted = settings.ssl_cafile or "the system's certificate authorities"
            return (
                f"the broker at {settings.bootstrap_servers} has a certificate that "
                f"PROCESSOR_SSL_CAFILE ({trusted}) does not vouch for: "
                f"{error.verify_message or error.reason}"
            )
    return None


def alert_line(settings: Settings, alert: str) -> str:
    """The line for a TLS alert the broker sent about our certificate (pure)."""
    words = alert.lower().removeprefix("sslv3_alert_").removeprefix("tlsv13_alert_")
    words = words.replace("_", " ")
    if settings.ssl_certfile is None:
        return (
            f"the broker at {settings.bootstrap_servers} requires a client certificate "
            f"({words}): set PROCESSOR_SSL_CERTFILE and PROCESSOR_SSL_KEYFILE"
        )
    ends = expiry(settings.ssl_certfile)
    if ends is not None and ends < datetime.datetime.now(datetime.UTC):
        words += f" (it expired on {ends:%Y-%m-%d %H:%M} UTC)"
    return (
        f"the broker at {settings.bootstrap_servers} refused the client certificate "
        f"PROCESSOR_SSL_CERTFILE {settings.ssl_certfile}: {words}"
    )


def expiry(certfile: Path) -> datetime.datetime | None:
    """When the certificate in ``certfile`` stops being valid, if Python's ssl can tell."""
    # The one way the standard library reads a certificate file; absent, we say less.
    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is None:
        return None
    try:
        seconds = ssl.cert_time_to_seconds(decode(str(certfile))["notAfter"])
    except (OSError, ValueError, KeyError, ssl.SSLError):
        return None
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


async def refusal(
    settings: Settings, error: BaseException, held: list[logging.LogRecord]
) -> AuthenticationRefused | None:
    """The cluster's refusal behind a client's failed start, if it was one."""
    errors = list(errors_in(error, held))
    line = refused_credentials(settings, errors) or untrusted_broker(settings, errors)
    closed = isinstance(error, KafkaError) and not isinstance(error, KafkaTimeoutError)
    if line is None and closed and settings.security_protocol in ("SSL", "SASL_SSL"):
        alert = await tls_alert(settings)
        line = alert_line(settings, alert) if alert else None
    return AuthenticationRefused(line) if line else None


async def tls_alert(settings: Settings, wait_s: float = ALERT_WAIT_S) -> str | None:
    """Shake hands with the first bootstrap broker as the clients do, and return the alert it
    sends about our certificate (``SSLV3_ALERT_CERTIFICATE_EXPIRED``…), or None."""
    host, _, port = settings.bootstrap_servers.split(",")[0].strip().rpartition(":")
    context = kafka_client_options(settings)["ssl_context"]
    with contextlib.suppress(OSError, ValueError, TimeoutError):
        async with asyncio.timeout(wait_s * 2):
            reader, writer = await asyncio.open_connection(host, int(port), ssl=context)
            try:
                # TLS 1.3 judges the client's certificate after the handshake: the verdict is
                # the first thing to read, or nothing (the broker waits for our request).
                await asyncio.wait_for(reader.read(1), wait_s)
            except ssl.SSLError as exc:
                return str(exc.reason or exc)
            finally:
                writer.close()
    return None
