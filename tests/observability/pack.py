"""The observability pack (deploy/observability) as the tests read it: its alert rules, its
dashboard, and the PromQL in both, parsed by a real PromQL parser."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "deploy" / "observability"
RULES = PACK / "rules.yaml"
DASHBOARD = PACK / "dashboard.json"

# What Grafana puts in place of its own variables before a query reaches Prometheus; the
# dashboard's variables select on labels, so any regular expression stands in for them.
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "30s", "__range": "1h"}
VARIABLE = re.compile(r"\$\{?(\w+)\}?")


@dataclass(frozen=True, slots=True)
class Query:
    where: str  # the alert or panel it comes from
    promql: str


def alert_rules() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return found


def panels() -> list[dict[str, Any]]:
    """Every panel with queries (rows hold none), rows' nested panels included."""
    found = []
    for panel in dashboard()["panels"]:
        found += [panel, *panel.get("panels", [])]
    return [panel for panel in found if panel["type"] != "row"]


def variables() -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in dashboard()["templating"]["list"]}


def as_promql(text: str) -> str:
    """A dashboard query with Grafana's variables replaced as Grafana would; an unknown
    variable is an error in the dashboard."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in GRAFANA_BUILTINS:
            return GRAFANA_BUILTINS[name]
        if name in variables():
            return ".+"
        raise AssertionError(f"the dashboard uses an undefined variable ${name}")

    return VARIABLE.sub(value, text)


def queries() -> Iterator[Query]:
    """The PromQL of every alert rule and every dashboard panel."""
    for rule in alert_rules():
        yield Query(f"alert {rule['alert']}", rule["expr"])
    for panel in panels():
        for target in panel["targets"]:
            yield Query(f"panel {panel['title']!r}", as_promql(target["expr"]))


def selectors(promql: str) -> list[promql_parser.VectorSelector]:
    """Every vector selector of an expression (those inside range selectors too)."""
    found: list[promql_parser.VectorSelector] = []

    def visit(node: promql_parser.Expr) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)
        return True

    promql_parser.walk(promql_parser.parse(promql), visit)
    return found


def metric_names(promql: str) -> set[str]:
    names = set()
    for selector in selectors(promql):
        assert selector.name, f"select metrics by name: {promql}"
        names.add(selector.name)
    return names


def groupings(promql: str) -> list[tuple[list[str], set[str]]]:
    """For every ``by (...)`` aggregation: its labels and the metrics it aggregates."""
    found: list[tuple[list[str], set[str]]] = []

    def visit(node: promql_parser.Expr) -> bool:
        if not isinstance(node, promql_parser.AggregateExpr) or node.modifier is None:
            return True
        if node.modifier.type == promql_parser.AggModifierType.By:
            found.append((list(node.modifier.labels), metric_names(str(node.expr))))
        return True

    promql_parser.walk(promql_parser.parse(promql), visit)
    return found
