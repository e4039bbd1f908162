"""The TLS context of every client, built so that each bad file is named with what is wrong.

Python's ``ssl`` says "PEM lib" for a key that is not PEM, a key whose password is wrong and a
key that does not match its certificate alike, and prompts on the terminal for the password of
an encrypted key given none. Here each case is one line naming the file and the setting.
"""

from __future__ import annotations

import ssl
from pathlib import Path


class TlsFileError(ValueError):
    """A TLS file cannot be used; the message is one line naming it and the setting."""


class _NoPassword(Exception):
    """The key is encrypted and no password was given."""


CAFILE, CERTFILE, KEYFILE, PASSWORD = (
    f"PROCESSOR_SSL_{name}" for name in ("CAFILE", "CERTFILE", "KEYFILE", "PASSWORD")
)


def client_context(
    cafile: Path | None,
    certfile: Path | None,
    keyfile: Path | None,
    password: str | None,
) -> ssl.SSLContext:
    """A context that verifies the broker (against ``cafile``, else the system's CAs) and
    presents ``certfile`` with ``keyfile`` when given (mutual TLS)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if cafile is not None:
        try:
            context.load_verify_locations(cafile=str(cafile))
        except (OSError, ssl.SSLError) as exc:
            problem = _problem(exc, cafile, "CERTIFICATE")
            raise TlsFileError(f"{CAFILE} {cafile}: {problem}") from None
    if certfile is not None:
        _load_client_certificate(context, certfile, keyfile, password)
    elif keyfile is not None:
        raise TlsFileError(f"{KEYFILE} {keyfile} is given without {CERTFILE}")
    return context


def _load_client_certificate(
    context: ssl.SSLContext, certfile: Path, keyfile: Path | None, password: str | None
) -> None:
    asked: list[bool] = []

    def given_password() -> bytes:
        asked.append(True)
        if password is None:
            raise _NoPassword
        return password.encode()

    key = keyfile or certfile
    try:
        context.load_cert_chain(str(certfile), str(keyfile) if keyfile else None, given_password)
    except _NoPassword:
        raise TlsFileError(
            f"{KEYFILE} {key} is encrypted: give its password ({PASSWORD})"
        ) from None
    except (OSError, ssl.SSLError) as exc:
        raise TlsFileError(_why_not(exc, certfile, key, bool(asked))) from None


def _why_not(exc: BaseException, certfile: Path, key: Path, encrypted: bool) -> str:
    if encrypted:
        return f"{KEYFILE} {key} does not open with {PASSWORD} (a wrong password?)"
    if not _holds(certfile, "CERTIFICATE"):
        return f"{CERTFILE} {certfile}: {_problem(exc, certfile, 'CERTIFICATE')}"
    if not _holds(key, "PRIVATE KEY"):
        return f"{KEYFILE} {key}: {_problem(exc, key, 'PRIVATE KEY')}"
    return f"{KEYFILE} {key} is not the key of {CERTFILE} {certfile}"


def _holds(path: Path, kind: str) -> bool:
    """Whether ``path`` has a PEM block of ``kind`` (``PRIVATE KEY`` also finds ``EC PRIVATE
    KEY``, ``RSA PRIVATE KEY``, ``ENCRYPTED PRIVATE KEY``)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return False
    return f"{kind}-----" in text and "-----BEGIN " in text


def _problem(exc: BaseException, path: Path, kind: str) -> str:
    """Why ``path`` cannot be used: unreadable (the system's reason) or not PEM ``kind``."""
    try:
        path.read_bytes()
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    if not _holds(path, kind):
        return f"is not a PEM {kind.lower()} file"
    return " ".join(str(exc).split())
