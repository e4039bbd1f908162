"""Each TLS file that cannot be used is named with its setting and what is wrong with it."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from processor.broker.certificates import Issued, issue, make_authority
from processor.security.tls import TlsFileError, client_context


@pytest.fixture
def authority(tmp_path: Path) -> Issued:
    return make_authority(tmp_path / "ca")


def test_good_files_make_a_context_that_verifies_the_broker(
    authority: Issued, tmp_path: Path
) -> None:
    client = issue(authority, tmp_path, "client", key_password="pw")

    context = client_context(authority.cert, client.cert, client.key, "pw")

    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_a_key_of_another_certificate_is_named(authority: Issued, tmp_path: Path) -> None:
    first, second = issue(authority, tmp_path, "first"), issue(authority, tmp_path, "second")

    with pytest.raises(TlsFileError, match=f"{second.key} is not the key of .* {first.cert}$"):
        client_context(authority.cert, first.cert, second.key, None)


def test_a_certificate_file_that_is_no_certificate_is_named(
    authority: Issued, tmp_path: Path
) -> None:
    client = issue(authority, tmp_path, "client")

    with pytest.raises(TlsFileError, match=f"CERTFILE {client.key}: is not a PEM certificate"):
        client_context(authority.cert, client.key, client.key, None)


def test_a_ca_file_that_is_no_certificate_is_named(authority: Issued) -> None:
    with pytest.raises(TlsFileError, match=f"CAFILE {authority.key}: is not a PEM certificate"):
        client_context(authority.key, None, None, None)


def test_a_key_without_its_certificate_is_refused(authority: Issued) -> None:
    with pytest.raises(TlsFileError, match="given without PROCESSOR_SSL_CERTFILE"):
        client_context(None, None, authority.key, None)
