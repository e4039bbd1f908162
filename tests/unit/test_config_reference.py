"""The settings reference: every setting described, docs/configuration.md as generated, and
``--help`` saying the same."""

from __future__ import annotations

import re

import pytest

from processor.commands.cli import main
from processor.config import Settings
from processor.config_reference import (
    PAGE,
    REGENERATE,
    allowed_values,
    flag_help,
    reference_page,
    setting_docs,
)


def test_every_setting_has_a_one_sentence_description() -> None:
    for name, field in Settings.model_fields.items():
        description = field.description or ""
        assert description.endswith("."), name
        assert re.search(r"\. [A-Z]", description) is None, name


def test_the_committed_page_is_what_the_generator_writes() -> None:
    assert PAGE.read_text() == reference_page(), f"{PAGE} is stale: run {REGENERATE}"


def test_the_page_names_every_setting_by_variable_and_flag() -> None:
    page = reference_page()
    for doc in setting_docs():
        assert f"`{doc.variable}`<br>`{doc.flag}`" in page


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("ordering", "key, partition, none"),
        ("sasl_mechanism", "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER, or unset"),
        ("concurrency", "integer ≥ 1, ≤ 100000"),
        ("queue_resume_ratio", "number ≥ 0.0, < 1.0"),
        ("shutdown_timeout_s", "number > 0"),
        ("input_topic", "text of at most 249 characters"),
        ("ssl_cafile", "path, or unset"),
        ("sasl_password", "secret text, or unset"),
    ],
)
def test_allowed_values_come_from_the_type(name: str, allowed: str) -> None:
    assert allowed_values(Settings.model_fields[name]) == allowed


def test_a_flags_help_says_what_bounds_it_and_its_default() -> None:
    docs = {doc.name: doc for doc in setting_docs()}
    assert flag_help(docs["concurrency"]).endswith("Allowed: integer ≥ 1, ≤ 100000. Default: 1000.")
    assert "Allowed" not in flag_help(docs["group_id"])  # "text" says nothing more


def test_every_settings_flag_in_run_help_has_its_description(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping inside a description
    with pytest.raises(SystemExit) as done:
        main(["run", "--help"])
    assert done.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    for doc in setting_docs():
        assert f"{doc.flag} VALUE {doc.description}" in shown
