"""The SASL_SSL deploy examples name real settings, and their files are where they are mounted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from processor.config import Settings

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "deploy" / "kubernetes-sasl-ssl"
COMPOSE = ROOT / "docker-compose.sasl-ssl.yml"
SETTING_NAMES = {"PROCESSOR_" + name.upper() for name in Settings.model_fields}
FILE_SETTINGS = ("PROCESSOR_SASL_PASSWORD_FILE", "PROCESSOR_SSL_CAFILE")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_the_kubernetes_overlay_mounts_the_files_its_settings_name() -> None:
    data: dict[str, str] = load(OVERLAY / "configmap-patch.yaml")["data"]
    pod = load(OVERLAY / "statefulset-patch.yaml")["spec"]["template"]["spec"]
    (mount,) = pod["containers"][0]["volumeMounts"]
    (volume,) = pod["volumes"]
    secret = load(OVERLAY / "secret.example.yaml")

    assert set(data) <= SETTING_NAMES
    assert "PROCESSOR_SASL_PASSWORD" not in data
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    for setting in FILE_SETTINGS:
        folder, _, name = data[setting].rpartition("/")
        assert folder == mount["mountPath"]
        assert name in secret["stringData"]
    listed = load(OVERLAY / "kustomization.yaml")
    assert {patch["path"] for patch in listed["patches"]} == {
        "configmap-patch.yaml", "statefulset-patch.yaml",
    }  # fmt: skip


def test_the_compose_example_mounts_its_secrets_as_files() -> None:
    compose = load(COMPOSE)
    service = compose["services"]["processor"]
    environment: dict[str, str] = service["environment"]

    assert set(environment) <= SETTING_NAMES
    assert "PROCESSOR_SASL_PASSWORD" not in environment
    for setting in FILE_SETTINGS:
        name = environment[setting].removeprefix("/run/secrets/")
        assert name in service["secrets"]
        assert name in compose["secrets"]
