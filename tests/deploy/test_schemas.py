"""The manifests and the compose file validate against their schemas, offline.

Kubernetes' own kinds go through kubernetes-validate (its schemas ship in the package) in strict
mode, so an unknown or misspelt field fails here rather than at ``kubectl apply``. Custom
resources (KEDA's, the Prometheus Operator's) have no schema there: they are named explicitly
below and checked for the fields their projects document. The compose file is validated with the
compose-spec JSON schema that check-jsonschema ships.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.test_manifests import COMPOSE, KUBERNETES, documents

PACK = KUBERNETES.parent / "observability"
# The Kubernetes release the manifests are checked against: the oldest one we support.
KUBERNETES_VERSION = "1.33.0"
# Custom resources: their API version and the spec fields their projects document.
CUSTOM: dict[str, tuple[str, set[str]]] = {
    "ScaledObject": (
        "keda.sh/v1alpha1",
        {"scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
         "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "fallback", "advanced",
         "triggers"},
    ),
    "TriggerAuthentication": (
        "keda.sh/v1alpha1",
        {"secretTargetRef", "env", "configMapTargetRef", "podIdentity", "hashiCorpVault",
         "azureKeyVault", "awsSecretManager", "gcpSecretManager"},
    ),
    "PodMonitor": (
        "monitoring.coreos.com/v1",
        {"jobLabel", "podTargetLabels", "podMetricsEndpoints", "selector", "namespaceSelector",
         "sampleLimit", "targetLimit", "attachMetadata"},
    ),
    "PrometheusRule": ("monitoring.coreos.com/v1", {"groups"}),
}  # fmt: skip
# KEDA's kafka trigger: its metadata fields (all strings: KEDA reads a map of strings).
KAFKA_TRIGGER_FIELDS = {
    "bootstrapServers", "bootstrapServersFromEnv", "consumerGroup", "consumerGroupFromEnv",
    "topic", "topicFromEnv", "lagThreshold", "activationLagThreshold", "offsetResetPolicy",
    "allowIdleConsumers", "excludePersistentLag", "scaleToZeroOnInvalidOffset",
    "limitToPartitionsWithLag", "version", "partitionLimitation", "sasl", "tls", "unsafeSsl",
}  # fmt: skip


def manifests() -> list[tuple[str, dict[str, Any]]]:
    """Every resource of deploy/kubernetes and the pack, with the file it is in."""
    paths = sorted(KUBERNETES.glob("*.yaml")) + sorted(PACK.glob("*.yaml"))
    return [
        (f"{path.parent.name}/{path.name}:{doc['kind']}", doc)
        for path in paths
        if path.name != "kustomization.yaml" and path.name != "rules.yaml"
        for doc in documents(path)
    ]


BUILT_IN = [(name, doc) for name, doc in manifests() if doc["kind"] not in CUSTOM]
CUSTOM_RESOURCES = [(name, doc) for name, doc in manifests() if doc["kind"] in CUSTOM]


@pytest.mark.parametrize(("name", "doc"), BUILT_IN, ids=[name for name, _ in BUILT_IN])
def test_each_kubernetes_resource_is_valid_in_strict_mode(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_strict_validation_rejects_a_misspelt_field() -> None:
    (statefulset,) = [doc for _, doc in BUILT_IN if doc["kind"] == "StatefulSet"]
    broken = json.loads(json.dumps(statefulset))
    broken["spec"]["template"]["spec"]["containers"][0]["envFrm"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(
    ("name", "doc"), CUSTOM_RESOURCES, ids=[name for name, _ in CUSTOM_RESOURCES]
)
def test_custom_resources_have_no_kubernetes_schema_and_only_documented_fields(
    name: str, doc: dict[str, Any]
) -> None:
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    api_version, fields = CUSTOM[doc["kind"]]
    assert doc["apiVersion"] == api_version
    assert set(doc) == {"apiVersion", "kind", "metadata", "spec"}
    assert doc["metadata"]["name"]
    assert set(doc["spec"]) <= fields, set(doc["spec"]) - fields


def test_every_custom_kind_is_used() -> None:
    assert {doc["kind"] for _, doc in CUSTOM_RESOURCES} == set(CUSTOM)


def test_the_kafka_trigger_has_only_known_string_fields() -> None:
    (scaled,) = [doc for _, doc in CUSTOM_RESOURCES if doc["kind"] == "ScaledObject"]
    for trigger in scaled["spec"]["triggers"]:
        metadata = trigger["metadata"]
        assert set(metadata) <= KAFKA_TRIGGER_FIELDS, set(metadata) - KAFKA_TRIGGER_FIELDS
        assert all(isinstance(value, str) for value in metadata.values()), metadata


def compose_validator() -> jsonschema.protocols.Validator:
    vendored = files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(vendored.read_text())
    validator: jsonschema.protocols.Validator = jsonschema.validators.validator_for(schema)(schema)
    return validator


def compose_errors(compose: dict[str, Any]) -> list[str]:
    return [error.message for error in compose_validator().iter_errors(compose)]


def test_the_compose_file_follows_the_compose_specification() -> None:
    assert compose_errors(yaml.safe_load(Path(COMPOSE).read_text())) == []


def test_the_compose_schema_rejects_a_misspelt_key() -> None:
    compose = yaml.safe_load(Path(COMPOSE).read_text())
    compose["services"]["processor"]["stop_grace"] = "45s"
    assert compose_errors(compose)
