"""A certificate authority and the certificates it signs, as PEM files, for the secured broker.

Kafka reads PEM key and trust stores itself (``ssl.keystore.type=PEM``), and Python's ``ssl``
reads the same files, so no Java keystore is needed. Keys are EC P-256: small and fast to make.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from processor.broker.jars import BrokerError

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # pragma: no cover - the extra is missing
    x509 = None  # type: ignore[assignment]

DAYS_VALID = 825
_ONE_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path


def _require_cryptography() -> None:
    if x509 is None:
        raise BrokerError(
            "the secured broker makes its certificates with the 'cryptography' package: "
            "pip install 'kafka-record-processor[broker]'"
        )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path, password: str | None) -> None:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    _write_private(path, pem)


def _write_private(path: Path, data: bytes) -> None:
    # Created readable by the owner only, never briefly world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _ca_key_usage() -> x509.KeyUsage:
    signing = {"digital_signature", "key_cert_sign", "crl_sign"}
    every = (
        "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
        "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
    )  # fmt: skip
    return x509.KeyUsage(**{name: name in signing for name in every})


def make_authority(folder: Path, common_name: str = "processor local CA") -> Issued:
    """A self-signed CA in ``folder/ca.pem`` and ``folder/ca.key``."""
    _require_cryptography()
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _ONE_DAY)
        .not_valid_after(now + datetime.timedelta(days=DAYS_VALID))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    issued = Issued(folder / "ca.pem", folder / "ca.key")
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, issued.key, None)
    return issued


def issue(
    authority: Issued,
    folder: Path,
    common_name: str,
    *,
    hosts: tuple[str, ...] = (),
    key_password: str | None = None,
    valid_from: datetime.datetime | None = None,
    valid_days: float = DAYS_VALID,
) -> Issued:
    """A certificate for ``common_name`` signed by ``authority``, in ``folder/<name>.pem|.key``.

    ``hosts`` (names or IP addresses) make it a server certificate for them; without any it is a
    client certificate. The key file holds the key alone (PKCS#8), encrypted with
    ``key_password`` when given.
    """
    _require_cryptography()
    ca_cert = x509.load_pem_x509_certificate(authority.cert.read_bytes())
    ca_key = serialization.load_pem_private_key(authority.key.read_bytes(), None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise BrokerError(f"{authority.key} is not an EC key made by make_authority")
    key = ec.generate_private_key(ec.SECP256R1())
    start = valid_from or datetime.datetime.now(datetime.UTC) - _ONE_DAY
    usage = ExtendedKeyUsageOID.SERVER_AUTH if hosts else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(host) for host in hosts]), critical=False
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    folder.mkdir(parents=True, exist_ok=True)
    stem = common_name.replace(" ", "-")
    issued = Issued(folder / f"{stem}.pem", folder / f"{stem}.key")
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, issued.key, key_password)
    return issued


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def keystore(issued: Issued, path: Path) -> Path:
    """One PEM file with the private key and then the certificate: Kafka's PEM key store."""
    _write_private(path, issued.key.read_bytes() + issued.cert.read_bytes())
    return path
