"""Settings: defaults, PROCESSOR_* environment variables, CLI overrides and readable errors."""

from __future__ import annotations

import os
import ssl

import pytest

from processor.config import (
    DEFAULT_PIPELINE,
    ENV_PREFIX,
    ConfigError,
    Settings,
    kafka_client_options,
    load_settings,
)

PASSWORD = "hunter2-do-not-print"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PROCESSOR_* variable of the machine running the tests leaks in."""
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def env(monkeypatch: pytest.MonkeyPatch, field: str, value: str) -> None:
    monkeypatch.setenv(ENV_PREFIX + field.upper(), value)


def config_error(**overrides: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    return str(caught.value)


def sasl(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, "security_protocol", "SASL_PLAINTEXT")
    env(monkeypatch, "sasl_mechanism", "SCRAM-SHA-512")
    env(monkeypatch, "sasl_username", "svc-processor")
    env(monkeypatch, "sasl_password", PASSWORD)


# Defaults.


def test_defaults_point_at_a_local_broker() -> None:
    settings = load_settings()
    assert settings.bootstrap_servers == "localhost:9092"
    assert settings.input_topic == "transactions"
    assert settings.group_id == "processor"
    assert settings.auto_offset_reset == "earliest"
    assert settings.pipeline == DEFAULT_PIPELINE
    assert settings.security_protocol == "PLAINTEXT"


def test_the_dead_letter_topic_defaults_to_the_input_topic_dot_dlq() -> None:
    assert load_settings().dead_letter_topic == "transactions.dlq"


def test_the_default_dead_letter_topic_follows_the_input_topic() -> None:
    assert load_settings(input_topic="orders").dead_letter_topic == "orders.dlq"


def test_an_explicit_dead_letter_topic_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, "dlq_topic", "poison")
    assert load_settings(input_topic="orders").dead_letter_topic == "poison"


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.group_id = "other"  # type: ignore[misc]


# Environment and overrides.


def test_environment_variables_with_the_prefix_set_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, "bootstrap_servers", "kafka-1:9092,kafka-2:9092")
    env(monkeypatch, "concurrency", "3")
    env(monkeypatch, "dlq_max_ratio", "0.25")
    env(monkeypatch, "auto_offset_reset", "latest")
    settings = load_settings()
    assert settings.bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert settings.concurrency == 3
    assert settings.dlq_max_ratio == 0.25
    assert settings.auto_offset_reset == "latest"


def test_environment_variables_without_the_prefix_are_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORKERS", "5")
    monkeypatch.setenv("GROUP_ID", "elsewhere")
    settings = load_settings()
    assert settings.concurrency == Settings.model_fields["concurrency"].default
    assert settings.group_id == "processor"


def test_overrides_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, "group_id", "from-env")
    env(monkeypatch, "concurrency", "3")
    settings = load_settings(group_id="from-flag", concurrency=5)
    assert settings.group_id == "from-flag"
    assert settings.concurrency == 5


def test_an_override_of_none_leaves_the_environment_value(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, "group_id", "from-env")
    assert load_settings(group_id=None).group_id == "from-env"


def test_an_override_beats_a_bad_environment_value(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, "concurrency", "many")
    assert load_settings(concurrency=2).concurrency == 2


# Errors.


def test_a_bad_environment_value_names_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env(monkeypatch, "concurrency", "many")
    message = config_error()
    assert "PROCESSOR_CONCURRENCY" in message
    assert "'many'" in message
    assert "--concurrency" not in message


def test_a_bad_override_names_the_flag() -> None:
    message = config_error(concurrency=0)
    assert "--concurrency" in message
    assert "PROCESSOR_WORKERS" not in message


def test_a_flag_name_uses_dashes() -> None:
    assert "--auto-offset-reset" in config_error(auto_offset_reset="middle")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("queue_resume_ratio", "1.0"),
        ("input_topic", ""),
        ("compression", "brotli"),
        ("log_level", "loud"),
        ("commit_interval_ms", "1"),
        ("input_topic", "x" * 300),
    ],
)
def test_an_out_of_range_environment_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str
) -> None:
    env(monkeypatch, field, value)
    assert (ENV_PREFIX + field.upper()) in config_error()


@pytest.mark.parametrize(
    "overrides",
    [
        {"concurrency": 0},
        {"auto_offset_reset": "middle"},
        {"group_id": "line\nbreak", "concurrency": -1},
        {"input_topic": "bad\ntopic\n" * 30},
    ],
)
def test_a_config_error_is_one_line(overrides: dict[str, object]) -> None:
    message = config_error(**overrides)
    assert "\n" not in message
    assert message


def test_a_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_an_unknown_override_is_refused() -> None:
    assert "--no-such-setting" in config_error(no_such_setting=1)


# Security.


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_a_sasl_protocol_without_a_mechanism_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    env(monkeypatch, "security_protocol", protocol)
    assert "sasl_mechanism" in config_error()


@pytest.mark.parametrize("missing", ["sasl_username", "sasl_password"])
def test_a_sasl_mechanism_without_credentials_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    sasl(monkeypatch)
    monkeypatch.delenv(ENV_PREFIX + missing.upper())
    assert "sasl_username and sasl_password" in config_error()


def test_the_password_is_not_echoed_in_a_credentials_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sasl(monkeypatch)
    monkeypatch.delenv(ENV_PREFIX + "SASL_USERNAME")
    assert PASSWORD not in config_error()


def test_the_password_is_not_echoed_when_another_setting_is_bad(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sasl(monkeypatch)
    assert PASSWORD not in config_error(concurrency=0)


@pytest.mark.parametrize("field", ["sasl_password", "ssl_password"])
def test_a_bad_password_value_is_not_echoed(field: str) -> None:
    message = config_error(**{field: [PASSWORD]})
    assert PASSWORD not in message
    assert "--" + field.replace("_", "-") in message


def test_the_password_is_not_shown_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    sasl(monkeypatch)
    assert PASSWORD not in repr(load_settings())


def test_kafka_client_options_carry_bootstrap_and_protocol() -> None:
    options = kafka_client_options(load_settings(bootstrap_servers="k:9092"))
    assert options == {"bootstrap_servers": "k:9092", "security_protocol": "PLAINTEXT"}


def test_kafka_client_options_pass_sasl_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    sasl(monkeypatch)
    options = kafka_client_options(load_settings())
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "svc-processor"
    assert options["sasl_plain_password"] == PASSWORD
    assert "ssl_context" not in options


def test_kafka_client_options_build_an_ssl_context_for_sasl_ssl(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sasl(monkeypatch)
    env(monkeypatch, "security_protocol", "SASL_SSL")
    options = kafka_client_options(load_settings())
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["sasl_plain_password"] == PASSWORD


def test_a_setting_that_was_replaced_is_refused_naming_its_successor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROCESSOR_WORKERS", "8")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert (
        str(caught.value) == "PROCESSOR_WORKERS is no longer a setting: use PROCESSOR_CONCURRENCY"
    )
