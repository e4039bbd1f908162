"""The compose file, the Kubernetes manifests and the Dockerfile agree with the code.

No Docker engine or cluster runs here: these read the files and check what would otherwise only
fail at deploy time (an unknown setting, a probe on the wrong path, a grace period too short).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from processor.config import Settings, load_settings
from processor.telemetry.http import HEALTH_PATH, READY_PATH

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
KUBERNETES = ROOT / "deploy" / "kubernetes"
MANIFESTS = sorted(KUBERNETES.glob("*.yaml"))
DEFAULTS = Settings()
SETTING_NAMES = {"PROCESSOR_" + name.upper() for name in Settings.model_fields}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def resources() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in documents(path) if "kind" in doc]


def every(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in resources() if doc["kind"] == kind]


def one(kind: str) -> dict[str, Any]:
    (found,) = every(kind)
    return found


def container() -> dict[str, Any]:
    (only,) = one("StatefulSet")["spec"]["template"]["spec"]["containers"]
    found: dict[str, Any] = only
    return found


def config_map() -> dict[str, str]:
    data: dict[str, str] = one("ConfigMap")["data"]
    return data


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def duration_s(text: str) -> float:
    """Compose durations such as ``45s``, ``1m30s``."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    assert "".join(n + u for n, u in parts) == text, f"not a duration: {text}"
    return sum(float(n) * units[u] for n, u in parts)


@pytest.mark.parametrize("path", [COMPOSE, *MANIFESTS], ids=lambda p: p.name)
def test_every_file_parses_as_yaml(path: Path) -> None:
    assert documents(path)


def test_every_manifest_in_kustomization_exists_and_only_the_example_is_left_out() -> None:
    listed = documents(KUBERNETES / "kustomization.yaml")[0]["resources"]
    assert all((KUBERNETES / name).is_file() for name in listed)
    left_out = {p.name for p in MANIFESTS} - set(listed) - {"kustomization.yaml"}
    assert left_out == {"secret-sasl.example.yaml", "keda-kafka-auth.example.yaml"}


def test_every_processor_variable_set_anywhere_is_a_real_setting() -> None:
    names = set(config_map())
    names |= {env["name"] for env in container().get("env", [])}
    names |= {key for secret in pod_secrets() for key in secret.get("stringData", {})}
    for service in compose_services().values():
        names |= set(compose_environment(service))
    names |= set(re.findall(r"\b(PROCESSOR_[A-Z0-9_]+)=", DOCKERFILE.read_text()))
    used = {name for name in names if name.startswith("PROCESSOR_")}
    assert used, "no PROCESSOR_ variables found"
    assert used <= SETTING_NAMES, used - SETTING_NAMES


def test_the_config_map_values_are_valid_settings() -> None:
    values = {k.removeprefix("PROCESSOR_").lower(): v for k, v in config_map().items()}
    assert load_settings(**values).bootstrap_servers == values["bootstrap_servers"]


def test_the_pod_is_a_static_group_member_named_after_itself() -> None:
    (instance_id,) = [e for e in container()["env"] if e["name"] == "PROCESSOR_GROUP_INSTANCE_ID"]
    assert instance_id["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_probes_use_the_servers_paths_and_port() -> None:
    spec = container()
    ports = {port["name"]: port["containerPort"] for port in spec["ports"]}
    http_port = int(config_map()["PROCESSOR_HTTP_PORT"])
    assert ports["metrics"] == http_port == DEFAULTS.http_port
    for probe, path in (("livenessProbe", HEALTH_PATH), ("readinessProbe", READY_PATH)):
        get = spec[probe]["httpGet"]
        assert get["path"] == path
        assert ports.get(get["port"], get["port"]) == http_port


def test_the_metrics_service_exposes_the_metrics_port_of_the_processor_pods() -> None:
    service = one("Service")["spec"]
    (port,) = service["ports"]
    assert (port["name"], port["port"]) == ("metrics", DEFAULTS.http_port)
    pod_labels = one("StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= pod_labels.items()
    assert one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= (
        pod_labels.items()
    )


def test_pods_get_longer_to_stop_than_the_shutdown_timeout() -> None:
    grace_s = one("StatefulSet")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace_s > DEFAULTS.shutdown_timeout_s
    assert grace_s > float(config_map()["PROCESSOR_SHUTDOWN_TIMEOUT_S"])


def test_the_autoscaler_follows_the_groups_lag_up_to_one_pod_per_partition() -> None:
    scaled = one("ScaledObject")["spec"]
    assert scaled["scaleTargetRef"]["kind"] == "StatefulSet"
    assert scaled["scaleTargetRef"]["name"] == one("StatefulSet")["metadata"]["name"]
    assert scaled["maxReplicaCount"] == int(config_map()["PROCESSOR_TOPIC_PARTITIONS"])
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "kafka"
    assert "replicas" not in one("StatefulSet")["spec"]  # KEDA owns the count


def test_the_autoscaler_reads_the_cluster_group_and_topic_from_the_pods_environment() -> None:
    scaled = one("ScaledObject")["spec"]
    assert scaled["scaleTargetRef"]["envSourceContainerName"] == container()["name"]
    (trigger,) = scaled["triggers"]
    metadata = trigger["metadata"]
    from_env = {
        "bootstrapServersFromEnv": "PROCESSOR_BOOTSTRAP_SERVERS",
        "consumerGroupFromEnv": "PROCESSOR_GROUP_ID",
        "topicFromEnv": "PROCESSOR_INPUT_TOPIC",
    }
    for parameter, variable in from_env.items():
        assert metadata[parameter] == variable
        assert variable in config_map()
        assert parameter.removesuffix("FromEnv") not in metadata  # one source, not two
    # Kafka 4 refuses the old request versions KEDA's default (1.0.0) implies.
    assert re.fullmatch(r"[4-9]\.\d+\.\d+", metadata["version"])


def pod_secrets() -> list[dict[str, Any]]:
    """The Secrets whose keys become the pod's environment variables (``envFrom``)."""
    names = {s["secretRef"]["name"] for s in container()["envFrom"] if "secretRef" in s}
    return [s for s in every("Secret") if s["metadata"]["name"] in names]


def test_the_pods_secret_gives_it_only_processor_settings() -> None:
    (secret,) = pod_secrets()
    keys = set(secret["stringData"])
    assert keys
    assert keys <= SETTING_NAMES, keys - SETTING_NAMES


def test_the_autoscalers_credentials_are_in_a_secret_no_pod_reads() -> None:
    (auth,) = every("TriggerAuthentication")
    used = {ref["name"] for ref in auth["spec"]["secretTargetRef"]}
    (keda_secret,) = [s for s in every("Secret") if s["metadata"]["name"] in used]
    assert keda_secret not in pod_secrets()
    parameters = {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]}
    assert {"sasl", "username", "password"} <= parameters
    assert {ref["key"] for ref in auth["spec"]["secretTargetRef"]} <= set(keda_secret["stringData"])


def test_compose_stops_the_processor_slower_than_its_shutdown_timeout() -> None:
    processor = compose_services()["processor"]
    timeout_s = float(
        compose_environment(processor).get(
            "PROCESSOR_SHUTDOWN_TIMEOUT_S", DEFAULTS.shutdown_timeout_s
        )
    )
    assert duration_s(processor["stop_grace_period"]) > timeout_s


def test_compose_checks_the_processors_health_on_its_port() -> None:
    processor = compose_services()["processor"]
    command = " ".join(processor["healthcheck"]["test"])
    assert f":{DEFAULTS.http_port}{HEALTH_PATH}" in command
    assert f"{DEFAULTS.http_port}:{DEFAULTS.http_port}" in processor["ports"]


def test_compose_creates_topics_before_the_processor_starts() -> None:
    services = compose_services()
    assert services["topics"]["command"] == ["topics", "ensure"]  # the entrypoint is `processor`
    condition = services["processor"]["depends_on"]["topics"]["condition"]
    assert condition == "service_completed_successfully"
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "ui" in services["ui"]["profiles"]


def test_the_image_runs_the_processor_as_a_non_root_user_with_a_health_check() -> None:
    text = DOCKERFILE.read_text()
    final_stage = text.rsplit("\nFROM ", 1)[1]
    (user,) = re.findall(r"^USER\s+(\S+)", final_stage, re.MULTILINE)
    assert user.split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*", final_stage, re.MULTILINE)
    assert f"{HEALTH_PATH}'" in final_stage
    assert re.search(rf"^EXPOSE {DEFAULTS.http_port}$", final_stage, re.MULTILINE)
    assert re.search(r"^STOPSIGNAL SIGTERM$", final_stage, re.MULTILINE)


def test_the_base_image_is_pinned_to_a_version() -> None:
    (image,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", image)


def test_compose_builds_the_processors_image_once_and_the_topics_job_reuses_it() -> None:
    services = compose_services()
    built = [name for name, service in services.items() if "build" in service]
    assert built == ["processor"]
    assert services["topics"]["image"] == services["processor"]["image"]
    assert "${PROCESSOR_VERSION" in services["processor"]["image"]  # no version written here
    tag = services["processor"]["image"].split(":", 1)[1]
    assert services["processor"]["build"]["args"]["VERSION"] == tag


def test_compose_keeps_the_brokers_data_in_a_volume_under_a_fixed_cluster_id() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    kafka = compose["services"]["kafka"]
    env = compose_environment(kafka)
    assert env["CLUSTER_ID"]
    (volume,) = kafka["volumes"]
    name, path = volume.split(":")[:2]
    assert name in compose["volumes"]
    assert path == env["KAFKA_LOG_DIRS"]


def test_compose_bounds_the_processors_cpus() -> None:
    processor = compose_services()["processor"]
    assert float(processor["cpus"]) >= 1 or compose_environment(processor).get(
        "PROCESSOR_PROCESSES"
    )
