"""The dashboards: generated, valid for the Grafana schema as the Foundation SDK models it, importable anywhere."""

from __future__ import annotations

import json

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import prometheus
from grafana_foundation_sdk.models.dashboard import Dashboard

from mlkube_monitoring.contracts import (
    DCGM_FB_USED,
    DCGM_GPU_UTIL,
    KSM_DEPLOYMENT_GENERATION,
    KSM_POD_LABELS,
    KSM_POD_READY,
)
from mlkube_monitoring.dashboards.common import without_sdk_only_keys

from .content import all_queries, dashboards, metric_names_in, recording_rules, variable_queries
from .test_rules import CONTRACT_METRICS

DASHBOARDS = dashboards()
EXPORTER_METRICS = {KSM_POD_READY, KSM_POD_LABELS, KSM_DEPLOYMENT_GENERATION, DCGM_GPU_UTIL, DCGM_FB_USED}


def _round_trip(model) -> dict:
    return json.loads(json.dumps(model, cls=JSONEncoder))


def test_the_three_dashboards_exist():
    assert set(DASHBOARDS) == {"serving", "rollout", "training"}
    assert len({d["uid"] for d in DASHBOARDS.values()}) == 3


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_is_valid_for_the_sdk_schema(name):
    """Decoding into the SDK's schema-generated models and encoding back loses nothing: no unknown or misplaced key."""
    data = DASHBOARDS[name]
    assert without_sdk_only_keys(_round_trip(Dashboard.from_json(data))) == data
    for panel in data["panels"]:
        for target in panel.get("targets", []):
            assert _round_trip(prometheus.Dataquery.from_json(target)) == target


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_imports_anywhere(name):
    data = DASHBOARDS[name]
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert {"namespace", "model", "version"} <= set(variables)
    refs = [p["datasource"] for p in data["panels"] if p["type"] != "row"]
    refs += [a["datasource"] for a in data.get("annotations", {}).get("list", [])]
    refs += [v["datasource"] for v in variables.values() if v["type"] == "query"]
    assert refs and all(ref == {"type": "prometheus", "uid": "${datasource}"} for ref in refs)
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    "query",
    [q for n, d in DASHBOARDS.items() for q in variable_queries(n, d)] + all_queries(),
    ids=lambda q: f"{q.dashboard}:{q.where}",
)
def test_queries_parse_and_read_only_contract_metrics(query):
    expr = query.expr
    if query.where.startswith("variable "):
        assert expr.startswith("label_values(")
        expr = expr[len("label_values(") :].rsplit(",", 1)[0]
    records = {r["record"] for r in recording_rules()}
    unknown = metric_names_in(expr) - CONTRACT_METRICS - records - EXPORTER_METRICS
    assert not unknown, f"metric names not defined in metric_names.py or contracts.py: {unknown}"


@pytest.fixture(scope="module")
def schema_errors(tmp_path_factory) -> dict[str, list[str]]:
    from . import grafana_schema

    wrong_type = json.loads(json.dumps(DASHBOARDS["serving"]))
    wrong_type["panels"][1]["gridPos"]["w"] = "twelve"
    unknown_key = {**DASHBOARDS["serving"], "refreshEvery": "30s"}
    return grafana_schema.check(
        {**DASHBOARDS, "wrongtype": wrong_type, "unknownkey": unknown_key}, tmp_path_factory.mktemp("grafana-schema")
    )


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_is_valid_for_grafanas_published_schema(schema_errors, name):
    assert schema_errors[name] == []


def test_the_published_schema_rejects_broken_dashboards(schema_errors):
    assert any("not assignable to type 'number'" in e for e in schema_errors["wrongtype"]), schema_errors["wrongtype"]
    assert any("refreshEvery" in e for e in schema_errors["unknownkey"]), schema_errors["unknownkey"]
