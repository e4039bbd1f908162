"""The secured local broker: TLS, SASL and ACLs on listeners beside the plaintext admin one.

Listeners (one port each):

- ``PLAINTEXT``: the admin address. Its principal, ``User:ANONYMOUS``, is a super user, as is
  the controller's; it serves readiness probes and ACL changes. It is bound to the loopback
  address of a development machine, never published.
- ``SASL_SSL``: TLS, then SCRAM-SHA-256, SCRAM-SHA-512, PLAIN or OAUTHBEARER (unsecured JWTs).
- ``SASL_PLAINTEXT``: the same mechanisms without TLS.
- ``SSL``: mutual TLS; a client certificate is required and ``CN=<name>`` is ``User:<name>``.

The standard authorizer refuses whatever no ACL allows. The client user gets every operation on
every topic, group and transactional id; the admin user is a super user.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from processor.broker.certificates import Issued, issue, keystore, make_authority

CLIENT_USER = "processor"
ADMIN_USER = "admin"
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
SASL_MECHANISMS = ("PLAIN", *SCRAM_MECHANISMS, "OAUTHBEARER")
# Unsigned tokens for the client user (processor.broker.oauth), which this broker accepts.
LOCAL_TOKEN_PROVIDER = "processor.broker.oauth:LocalTokenProvider"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
SecuredProtocol = Literal["SASL_SSL", "SASL_PLAINTEXT", "SSL"]
SECURED_PROTOCOLS: tuple[SecuredProtocol, ...] = ("SASL_SSL", "SASL_PLAINTEXT", "SSL")

_JAAS = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule required {users};",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
    # Without a validator class the broker accepts unsecured (unsigned) JWTs: for tests only.
    "OAUTHBEARER": "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
}


@dataclass(frozen=True, slots=True)
class SecurePorts:
    """The secured listeners' ports."""

    sasl_ssl: int
    sasl_plaintext: int
    ssl: int

    @classmethod
    def after(cls, port: int) -> SecurePorts:
        """The default layout: the three ports after ``port + 1`` (the controller's)."""
        return cls(port + 2, port + 3, port + 4)

    def of(self, protocol: SecuredProtocol) -> int:
        return {"SASL_SSL": self.sasl_ssl, "SASL_PLAINTEXT": self.sasl_plaintext}.get(
            protocol, self.ssl
        )


@dataclass(frozen=True, slots=True)
class Credentials:
    """The CA, the broker's and the client's certificates and the users' passwords, in a folder."""

    folder: Path

    @property
    def authority(self) -> Issued:
        return Issued(self.folder / "ca.pem", self.folder / "ca.key")

    @property
    def ca_file(self) -> Path:
        return self.authority.cert

    @property
    def broker_keystore(self) -> Path:
        return self.folder / "broker-keystore.pem"

    @property
    def client(self) -> Issued:
        """The client user's certificate (``CN=processor``) and unencrypted key."""
        return Issued(self.folder / f"{CLIENT_USER}.pem", self.folder / f"{CLIENT_USER}.key")

    def password_file(self, user: str) -> Path:
        return self.folder / f"{user}.password"

    def password(self, user: str) -> str:
        return self.password_file(user).read_text().removesuffix("\n")

    def prepare(self, hosts: tuple[str, ...]) -> None:
        """Make what is missing: a CA, certificates signed by it, and a password per user."""
        if not self.ca_file.exists():
            make_authority(self.folder)
        if not self.broker_keystore.exists():
            broker = issue(self.authority, self.folder, "broker", hosts=hosts)
            keystore(broker, self.broker_keystore)
        if not self.client.cert.exists():
            issue(self.authority, self.folder, CLIENT_USER)
        for user in (ADMIN_USER, CLIENT_USER):
            path = self.password_file(user)
            if not path.exists():
                path.touch(mode=0o600)
                path.write_text(secrets.token_hex(16) + "\n")


def listener_properties(
    host: str, port: int, controller_port: int, ports: SecurePorts, credentials: Credentials
) -> dict[str, str]:
    """``server.properties`` settings of the secured listeners, over the plaintext defaults."""
    listeners = {
        "PLAINTEXT": port,
        "SASL_SSL": ports.sasl_ssl,
        "SASL_PLAINTEXT": ports.sasl_plaintext,
        "SSL": ports.ssl,
    }
    addresses = ",".join(f"{name}://{host}:{number}" for name, number in listeners.items())
    plain_users = " ".join(
        f'user_{user}="{credentials.password(user)}"' for user in (ADMIN_USER, CLIENT_USER)
    )
    settings = {
        "listeners": f"{addresses},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": addresses,
        "listener.security.protocol.map": ",".join(
            ["CONTROLLER:PLAINTEXT", *(f"{name}:{name}" for name in listeners)]
        ),
        "inter.broker.listener.name": "PLAINTEXT",
        "authorizer.class.name": AUTHORIZER,
        "super.users": f"User:ANONYMOUS;User:{ADMIN_USER}",
        "allow.everyone.if.no.acl.found": "false",
        "sasl.enabled.mechanisms": ",".join(SASL_MECHANISMS),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(credentials.broker_keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(credentials.ca_file),
        "listener.name.ssl.ssl.client.auth": "required",
        # CN=processor is User:processor, the same principal as the SASL user's.
        "ssl.principal.mapping.rules": "RULE:^CN=([^,]+)$/$1/,DEFAULT",
    }
    for listener in ("sasl_ssl", "sasl_plaintext"):
        for mechanism in SASL_MECHANISMS:
            key = f"listener.name.{listener}.{mechanism.lower()}.sasl.jaas.config"
            settings[key] = _JAAS[mechanism].format(users=plain_users)
    return settings


def scram_arguments(credentials: Credentials) -> list[str]:
    """``kafka-storage format`` arguments that create every user for both SCRAM mechanisms."""
    arguments: list[str] = []
    for user in (ADMIN_USER, CLIENT_USER):
        for mechanism in SCRAM_MECHANISMS:
            secret = credentials.password(user)
            arguments += ["--add-scram", f"{mechanism}=[name={user},password={secret}]"]
    return arguments


def client_settings(
    bootstrap: str,
    credentials: Credentials,
    protocol: SecuredProtocol = "SASL_SSL",
    mechanism: str = "SCRAM-SHA-512",
    user: str = CLIENT_USER,
) -> dict[str, str]:
    """The processor's settings (``PROCESSOR_*`` names) to connect as ``user``."""
    settings = {
        "PROCESSOR_BOOTSTRAP_SERVERS": bootstrap,
        "PROCESSOR_SECURITY_PROTOCOL": protocol,
    }
    if protocol != "SSL" and mechanism == "OAUTHBEARER":
        settings |= {
            "PROCESSOR_SASL_MECHANISM": mechanism,
            "PROCESSOR_SASL_OAUTH_TOKEN_PROVIDER": LOCAL_TOKEN_PROVIDER,
        }
    elif protocol != "SSL":
        settings |= {
            "PROCESSOR_SASL_MECHANISM": mechanism,
            "PROCESSOR_SASL_USERNAME": user,
            # The file, not the password: it stays out of shells' history and of ps.
            "PROCESSOR_SASL_PASSWORD_FILE": str(credentials.password_file(user)),
        }
    if protocol != "SASL_PLAINTEXT":
        settings["PROCESSOR_SSL_CAFILE"] = str(credentials.ca_file)
    if protocol == "SSL":
        settings["PROCESSOR_SSL_CERTFILE"] = str(credentials.client.cert)
        settings["PROCESSOR_SSL_KEYFILE"] = str(credentials.client.key)
    return settings


def export_lines(settings: Mapping[str, str]) -> str:
    """``NAME=value`` lines, one per setting, that a shell can ``export``."""
    return "".join(f"{name}={value}\n" for name, value in settings.items())
