"""A token provider for the local secured broker only: unsigned JWTs, which it accepts for
OAUTHBEARER (Kafka's unsecured validator). A real cluster verifies a signed token instead."""

from __future__ import annotations

import base64
import json
import time

from aiokafka.abc import AbstractTokenProvider

from processor.broker.secure import CLIENT_USER

TOKEN_LIFETIME_S = 3600


def _part(value: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def unsecured_jwt(subject: str, lifetime_s: int = TOKEN_LIFETIME_S) -> str:
    """An unsigned JWT (``alg: none``) whose subject is the principal's name."""
    now = int(time.time())
    claims = {"sub": subject, "iat": now, "exp": now + lifetime_s}
    return f"{_part({'alg': 'none'})}.{_part(claims)}."


class LocalTokenProvider(AbstractTokenProvider):  # type: ignore[misc]  # aiokafka is untyped
    """Tokens for the local broker's client user, ``User:processor``."""

    async def token(self) -> str:
        return unsecured_jwt(CLIENT_USER)
