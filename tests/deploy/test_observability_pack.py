"""The observability pack holds together: its rules and queries parse as PromQL, every alert has
its runbook section, the dashboard imports anywhere, and the Kubernetes resources point at the
processor's pods. ``tests/observability/test_pack_metrics.py`` checks the metric names against a
running processor."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from processor.telemetry.http import METRICS_PATH
from tests.deploy.test_manifests import KUBERNETES, ROOT, compose_services, container, one
from tests.observability.pack import (
    DASHBOARD,
    PACK,
    RULES,
    Query,
    alert_rules,
    dashboard,
    metric_names,
    panels,
    queries,
    variables,
)

RUNBOOK = PACK.parents[1] / "docs" / "runbook.md"
SEVERITIES = {"critical", "warning"}
# What an operator must hear about (the alert for each).
CONCERNS = {
    "halted by the flood guard": "ProcessorHalted",
    "crash-looping": "ProcessorCrashLooping",
    "lag growing": "ProcessorLagGrowing",
    "too many dead letters": "ProcessorDeadLetterRate",
    "not ready": "ProcessorNotReady",
    "a process down": "ProcessorProcessDown",
    "every instance down": "ProcessorDown",
}
# What the dashboard must show, as the metrics that show it.
PANEL_METRICS = {
    "records in": "processor_records_consumed_total",
    "records out": "processor_records_routed_total",
    "lag": "processor_consumer_lag_records",
    "queue depth": "processor_queue_records",
    "pauses": "processor_pauses_total",
    "paused intake": "processor_intake_paused",
    "dead letters by class": "processor_records_dead_lettered_total",
    "latency quantiles": "processor_record_latency_seconds_bucket",
    "processes up": "processor_process_up",
    "commits": "processor_commits_total",
    "commit failures": "processor_commit_failures_total",
}


def slug(heading: str) -> str:
    """The anchor MkDocs (Python-Markdown's toc) gives a heading."""
    text = re.sub(r"[^\w\s-]", "", heading).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def runbook_anchors() -> set[str]:
    headings = re.findall(r"^#+\s+(.+?)\s*$", RUNBOOK.read_text(), re.MULTILINE)
    return {slug(heading) for heading in headings}


def test_every_query_parses_as_promql() -> None:
    found = list(queries())
    assert len(found) > 20
    for query in found:
        try:
            promql_parser.parse(query.promql)
        except ValueError as error:
            pytest.fail(f"{query.where}: {error}: {query.promql}")


@pytest.mark.parametrize(
    "broken",
    ["sum(rate(processor_commits_total[5m])", "nosuch(processor_ready)", "processor_ready >"],
)
def test_the_parser_rejects_broken_promql(broken: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the parser raises ValueError with its reason)
        promql_parser.parse(broken)


def test_queries_name_their_metrics() -> None:
    for query in queries():
        assert metric_names(query.promql), query


def test_the_rules_file_has_one_group_of_alerts_with_unique_names() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    assert [set(group) for group in groups] == [{"name", "rules"}]
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"Processor[A-Z][A-Za-z]+", name) for name in names)


def test_there_is_an_alert_for_each_concern() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    assert set(CONCERNS.values()) <= names


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_each_alert_is_well_formed(rule: dict[str, Any]) -> None:
    assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
    if "for" in rule:
        assert promql_parser.parse_duration(rule["for"]).total_seconds() > 0
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert set(annotations) == {"summary", "description", "runbook_url"}
    for text in annotations.values():
        assert text.count("{{") == text.count("}}"), text
        assert "\n" not in text.strip()


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_each_alert_links_to_its_section_of_the_runbook(rule: dict[str, Any]) -> None:
    url = rule["annotations"]["runbook_url"]
    page, _, anchor = url.partition("#")
    assert page.endswith("/docs/runbook.md")
    assert anchor == slug(rule["alert"])
    assert anchor in runbook_anchors(), f"docs/runbook.md has no heading {rule['alert']}"


def test_the_operator_resource_holds_exactly_the_rules_file() -> None:
    resource = yaml.safe_load((PACK / "prometheusrule.yaml").read_text())
    assert (resource["apiVersion"], resource["kind"]) == (
        "monitoring.coreos.com/v1",
        "PrometheusRule",
    )
    rules = yaml.safe_load(RULES.read_text())
    assert resource["spec"] == rules, "regenerate it: scripts/prometheusrule"


def test_the_pod_monitor_scrapes_the_processor_pods_metrics_port_as_the_rules_job() -> None:
    monitor = yaml.safe_load((PACK / "podmonitor.yaml").read_text())
    assert monitor["kind"] == "PodMonitor"
    spec = monitor["spec"]
    pod_labels = one("StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= pod_labels.items()
    (endpoint,) = spec["podMetricsEndpoints"]
    assert endpoint["port"] in {port["name"] for port in container()["ports"]}
    assert endpoint["path"] == METRICS_PATH
    job = pod_labels[spec["jobLabel"]]
    jobs = {m for rule in alert_rules() for m in re.findall(r'job="([^"]+)"', rule["expr"])}
    assert jobs == {job}


def test_the_pack_kustomization_lists_files_that_exist() -> None:
    kustomization = yaml.safe_load((PACK / "kustomization.yaml").read_text())
    listed = list(kustomization["resources"])
    listed += [f for gen in kustomization["configMapGenerator"] for f in gen["files"]]
    assert all((PACK / name).is_file() for name in listed)
    assert DASHBOARD.name in listed
    # Apart from the pack, the processor's own manifests need no Prometheus Operator.
    assert not list(KUBERNETES.glob("podmonitor*.yaml"))


def test_the_dashboard_asks_for_its_data_source() -> None:
    board = dashboard()
    assert board["uid"]
    assert board["title"]
    assert isinstance(board["schemaVersion"], int)
    source = variables()["datasource"]
    assert (source["type"], source["query"]) == ("datasource", "prometheus")
    # No data source of the machine it was exported from.
    uids = set(re.findall(r'"uid":\s*"([^"]*)"', DASHBOARD.read_text()))
    assert uids == {"${datasource}", board["uid"]}


def test_every_panel_queries_the_chosen_data_source() -> None:
    expected = {"type": "prometheus", "uid": "${datasource}"}
    for panel in panels():
        assert panel["datasource"] == expected, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", expected) == expected
    for variable in variables().values():
        if variable["type"] == "query":
            assert variable["datasource"] == expected


def test_panels_fit_the_grid_and_have_unique_ids() -> None:
    every = dashboard()["panels"]
    ids = [panel["id"] for panel in every]
    assert len(ids) == len(set(ids))
    for panel in every:
        grid = panel["gridPos"]
        assert grid["x"] >= 0
        assert grid["w"] > 0
        assert grid["x"] + grid["w"] <= 24
        assert grid["h"] > 0
    for panel in panels():
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        assert panel["description"], panel["title"]


def test_the_variables_queries_name_a_processor_metric() -> None:
    for variable in variables().values():
        if variable["type"] == "query":
            (metric,) = re.findall(r"label_values\((\w+)", variable["query"]["query"])
            assert metric.startswith("processor_")


def test_the_dashboard_shows_what_an_operator_looks_for() -> None:
    shown = {
        name
        for query in queries()
        if isinstance(query, Query) and query.where.startswith("panel")
        for name in metric_names(query.promql)
    }
    missing = {what: name for what, name in PANEL_METRICS.items() if name not in shown}
    assert missing == {}
    latency = [t["expr"] for p in panels() for t in p["targets"] if "latency" in t["expr"]]
    assert sum("histogram_quantile(" in expr for expr in latency) >= 3
    by_class = [t["expr"] for p in panels() for t in p["targets"] if "error_class" in t["expr"]]
    assert by_class


def compose_mounts(service: str) -> dict[str, Path]:
    """Container path -> file in the repository, for a compose service's bind mounts."""
    volumes = compose_services()[service]["volumes"]
    found = {}
    for volume in volumes:
        source, target = volume.split(":")[:2]
        found[target] = ROOT / source.removeprefix("./")
    return found


def test_compose_mounts_files_that_exist() -> None:
    for service in ("prometheus", "grafana"):
        assert compose_services()[service]["profiles"] == ["observability"]
        for target, source in compose_mounts(service).items():
            assert source.is_file(), (service, target)


def test_compose_prometheus_scrapes_the_processor_as_the_rules_job_and_loads_the_rules() -> None:
    mounts = compose_mounts("prometheus")
    config = yaml.safe_load(mounts["/etc/prometheus/prometheus.yml"].read_text())
    (rule_file,) = config["rule_files"]
    assert mounts[rule_file] == RULES
    (job,) = config["scrape_configs"]
    jobs = {m for rule in alert_rules() for m in re.findall(r'job="([^"]+)"', rule["expr"])}
    assert {job["job_name"]} == jobs
    assert job["metrics_path"] == METRICS_PATH
    (target,) = job["static_configs"][0]["targets"]
    port = compose_services()["processor"]["environment"]["PROCESSOR_HTTP_PORT"]
    assert target == f"processor:{port}"


def test_compose_grafana_provisions_the_dashboard_and_the_prometheus_data_source() -> None:
    mounts = compose_mounts("grafana")
    provisioned = {target: source for target, source in mounts.items() if "provisioning" in target}
    (providers,) = [s for t, s in provisioned.items() if "/dashboards/" in t]
    (folder,) = [p["options"]["path"] for p in yaml.safe_load(providers.read_text())["providers"]]
    assert mounts[f"{folder}/processor.json"] == DASHBOARD
    (sources,) = [s for t, s in provisioned.items() if "/datasources/" in t]
    (source,) = yaml.safe_load(sources.read_text())["datasources"]
    assert source["type"] == variables()["datasource"]["query"]
    assert source["url"].startswith("http://prometheus:")
