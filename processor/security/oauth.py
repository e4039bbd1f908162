"""OAUTHBEARER: the token provider named by a setting, loaded once per client.

A managed service hands out short-lived tokens (AWS MSK IAM, Azure Event Hubs, Confluent Cloud
with an identity provider); the code that fetches them is the user's, behind aiokafka's
``AbstractTokenProvider`` hook. The setting names it as ``module:attribute``: a class or a
factory, called with no arguments.
"""

from __future__ import annotations

import importlib
from typing import Any

from aiokafka.abc import AbstractTokenProvider


class TokenProviderError(ValueError):
    """The token provider cannot be loaded; the message is one line naming the setting."""


SETTING = "PROCESSOR_SASL_OAUTH_TOKEN_PROVIDER"


def load_token_provider(spec: str) -> AbstractTokenProvider:
    """The provider ``spec`` (``module:attribute``) names, made by calling it."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise TokenProviderError(f"{SETTING} {spec!r} is not module:attribute")
    try:
        found: Any = getattr(importlib.import_module(module_name), attribute)
    except ImportError as exc:
        raise TokenProviderError(f"{SETTING} {spec!r}: cannot import {exc.name!r}") from None
    except AttributeError:
        raise TokenProviderError(f"{SETTING} {spec!r}: {module_name} has no {attribute}") from None
    try:
        provider = found()
    except Exception as exc:  # the user's code
        raise TokenProviderError(f"{SETTING} {spec!r} raised {exc!r} when called") from None
    if not isinstance(provider, AbstractTokenProvider):
        raise TokenProviderError(
            f"{SETTING} {spec!r} made a {type(provider).__name__}, "
            "not an aiokafka.abc.AbstractTokenProvider"
        )
    return provider
