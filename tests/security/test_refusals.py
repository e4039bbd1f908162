"""A cluster that refuses who we are is the configuration's fault: every command says so in one
line naming the user or the file, and exits 5 at once (no wait for the start-up timeout). A TLS
file that cannot be used is named with its setting, exit 2, before anything connects."""

from __future__ import annotations

import datetime
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from processor.broker import LocalBroker
from processor.broker.certificates import Issued, issue, make_authority
from processor.commands.common import EXIT_USAGE
from processor.commands.failures import EXIT_AUTHENTICATION
from tests.tools.test_one_line_errors import one_line, processor

Case = Callable[[LocalBroker, Path], tuple[dict[str, str], str]]


def client_files(issued: Issued) -> dict[str, str]:
    return {"PROCESSOR_SSL_CERTFILE": str(issued.cert), "PROCESSOR_SSL_KEYFILE": str(issued.key)}


def command(environment: dict[str, Any], *argv: str) -> subprocess.CompletedProcess[str]:
    """``processor ARGV`` as its own process, with the client settings in ``environment``."""
    return processor(*argv, **environment)


def wrong_password_file(folder: Path) -> dict[str, str]:
    wrong = folder / "wrong.password"
    wrong.write_text("not-the-password\n")
    return {"PROCESSOR_SASL_PASSWORD_FILE": str(wrong)}


def wrong_password(broker: LocalBroker, tmp: Path) -> tuple[dict[str, str], str]:
    settings = broker.client_settings("SASL_SSL", "SCRAM-SHA-512") | wrong_password_file(tmp)
    return settings, "refused user 'processor'"


def wrong_plain_password(broker: LocalBroker, tmp: Path) -> tuple[dict[str, str], str]:
    return broker.client_settings("SASL_SSL", "PLAIN") | wrong_password_file(tmp), "(PLAIN)"


def unknown_user(broker: LocalBroker, _: Path) -> tuple[dict[str, str], str]:
    settings = broker.client_settings("SASL_PLAINTEXT", "SCRAM-SHA-256")
    return settings | {"PROCESSOR_SASL_USERNAME": "nobody"}, "refused user 'nobody'"


def untrusted_client_certificate(broker: LocalBroker, tmp: Path) -> tuple[dict[str, str], str]:
    stranger = issue(make_authority(tmp / "other-ca"), tmp, "processor")
    settings = broker.client_settings("SSL")
    files = {
        "PROCESSOR_SSL_CERTFILE": str(stranger.cert),
        "PROCESSOR_SSL_KEYFILE": str(stranger.key),
    }
    return (
        settings | files,
        f"refused the client certificate PROCESSOR_SSL_CERTFILE {stranger.cert}",
    )


def expired_client_certificate(broker: LocalBroker, tmp: Path) -> tuple[dict[str, str], str]:
    long_ago = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    old = issue(broker.credentials.authority, tmp, "processor", valid_from=long_ago, valid_days=30)
    settings = broker.client_settings("SSL") | client_files(old)
    return settings, f"{old.cert}: certificate unknown (it expired on"


def no_client_certificate(broker: LocalBroker, _: Path) -> tuple[dict[str, str], str]:
    settings = broker.client_settings("SSL")
    del settings["PROCESSOR_SSL_CERTFILE"], settings["PROCESSOR_SSL_KEYFILE"]
    return settings, "requires a client certificate"


def untrusted_broker(broker: LocalBroker, tmp: Path) -> tuple[dict[str, str], str]:
    other = make_authority(tmp / "other-ca")
    settings = broker.client_settings("SASL_SSL")
    return settings | {"PROCESSOR_SSL_CAFILE": str(other.cert)}, f"({other.cert}) does not vouch"


REFUSALS = [
    wrong_password, wrong_plain_password, unknown_user, untrusted_client_certificate,
    expired_client_certificate, no_client_certificate, untrusted_broker,
]  # fmt: skip


@pytest.mark.parametrize("case", REFUSALS, ids=lambda case: case.__name__)
def test_a_refusal_is_one_line_naming_the_cause_and_exit_5(
    secure_broker: LocalBroker, tmp_path: Path, case: Case
) -> None:
    environment, expected = case(secure_broker, tmp_path)

    done = command(environment, "topics", "ensure")

    assert done.returncode == EXIT_AUTHENTICATION, done.stderr
    assert expected in one_line(done)


@pytest.mark.parametrize(
    "case", [wrong_password, expired_client_certificate], ids=lambda case: case.__name__
)
def test_run_stops_at_a_refusal_at_once(
    secure_broker: LocalBroker, tmp_path: Path, case: Case
) -> None:
    environment, expected = case(secure_broker, tmp_path)
    started = time.monotonic()

    done = command(environment, "run", "--startup-timeout-s", "60")

    assert done.returncode == EXIT_AUTHENTICATION, done.stderr
    assert expected in one_line(done)
    assert time.monotonic() - started < 30


def encrypted_key_without_password(broker: LocalBroker, tmp: Path) -> tuple[dict[str, str], str]:
    locked = issue(broker.credentials.authority, tmp, "locked", key_password="right")
    return broker.client_settings("SSL") | client_files(locked), f"{locked.key} is encrypted"


def wrong_key_password(broker: LocalBroker, tmp: Path) -> tuple[dict[str, str], str]:
    settings, _ = encrypted_key_without_password(broker, tmp)
    return settings | {
        "PROCESSOR_SSL_PASSWORD": "wrong"
    }, "does not open with PROCESSOR_SSL_PASSWORD"


def missing_ca_file(broker: LocalBroker, tmp: Path) -> tuple[dict[str, str], str]:
    missing = tmp / "nowhere" / "ca.pem"
    return broker.client_settings("SASL_SSL") | {"PROCESSOR_SSL_CAFILE": str(missing)}, str(missing)


def key_that_is_no_key(broker: LocalBroker, tmp: Path) -> tuple[dict[str, str], str]:
    garbage = tmp / "client.key"
    garbage.write_text("not a key\n")
    settings = broker.client_settings("SSL") | {"PROCESSOR_SSL_KEYFILE": str(garbage)}
    return settings, f"{garbage}: is not a PEM private key file"


def unreadable_certificate(broker: LocalBroker, tmp: Path) -> tuple[dict[str, str], str]:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    closed = tmp / "client.pem"
    closed.write_bytes(broker.credentials.client.cert.read_bytes())
    closed.chmod(0)
    return broker.client_settings("SSL") | {"PROCESSOR_SSL_CERTFILE": str(closed)}, str(closed)


FILE_PROBLEMS = [
    encrypted_key_without_password, wrong_key_password, missing_ca_file, key_that_is_no_key,
    unreadable_certificate,
]  # fmt: skip


@pytest.mark.parametrize("case", FILE_PROBLEMS, ids=lambda case: case.__name__)
def test_a_tls_file_that_cannot_be_used_is_named_with_exit_2(
    secure_broker: LocalBroker, tmp_path: Path, case: Case
) -> None:
    environment, expected = case(secure_broker, tmp_path)

    done = command(environment, "produce", "-")

    assert done.returncode == EXIT_USAGE, done.stderr
    assert expected in one_line(done)
    assert "Enter PEM pass phrase" not in done.stdout + done.stderr
