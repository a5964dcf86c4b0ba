"""The rule files: generated from the chart's `slo:`/`alerts:` values, valid for promtool, every alert
unit-tested and documented."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from mlkube_monitoring import settings
from mlkube_monitoring.contracts import argo, serving, training
from mlkube_monitoring.outputs import stale_files

from .content import CHART_DIR, FILES, RULE_FILES, RULE_TEST_FILES, alerts, metric_names_in, recording_rules

CONTRACT_METRICS = set(serving.ALL) | set(training.ALL) | set(argo.ALL) | {"up"}
HISTOGRAMS = {serving.REQUEST_DURATION_SECONDS, serving.BATCH_SIZE, *argo.HISTOGRAMS}
CONTRACT_METRICS |= {f"{h}_{suffix}" for h in HISTOGRAMS for suffix in ("bucket", "sum", "count")}


def test_generated_files_match_the_generator():
    assert stale_files() == [], "run `make monitoring-generate` and commit the result"


def test_rule_numbers_come_from_the_chart_values():
    """The committed rules hold placeholders for the values; the rendered ones the chart's numbers."""
    values = settings.load()
    committed = "".join(path.read_text() for path in sorted((CHART_DIR / "files" / "rules").glob("*.yaml")))
    assert "> @@alerts.classMix.maxDistance@@" in committed and "0.995" not in committed
    text = "".join(path.read_text() for path in RULE_FILES)
    assert f"> {values.alerts.class_mix.max_distance}" in text
    assert f"> 14.4 * (1 - {values.slo.availability})" in text
    assert "@@" not in text


def test_promtool_check_rules():
    result = subprocess.run(["promtool", "check", "rules", *map(str, RULE_FILES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES)


def test_promtool_unit_tests_pass():
    result = subprocess.run(
        ["promtool", "test", "rules", *[p.name for p in RULE_TEST_FILES]],
        cwd=FILES / "rules-tests",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TEST_FILES)


def _alert_checks() -> list[dict]:
    return [
        check
        for path in RULE_TEST_FILES
        for test in yaml.safe_load(path.read_text())["tests"]
        for check in test.get("alert_rule_test", [])
    ]


@pytest.mark.parametrize("name", sorted({a["alert"] for a in alerts()}))
def test_every_alert_is_tested_firing_and_silent(name):
    checks = [c for c in _alert_checks() if c["alertname"] == name]
    assert any(c["exp_alerts"] for c in checks), f"no promtool test where {name} fires"
    assert any(not c["exp_alerts"] for c in checks), f"no promtool test where {name} stays silent"
    severities = {a["labels"]["severity"] for a in alerts() if a["alert"] == name}
    fired = {e["exp_labels"]["severity"] for c in checks for e in c["exp_alerts"]}
    assert severities <= fired, f"{name}: severities {severities - fired} never tested firing"


def _runbook_anchors() -> set[str]:
    headings = re.findall(r"^#+ (.+)$", (CHART_DIR / "RUNBOOK.md").read_text(), flags=re.M)
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: f"{a['alert']}-{a['labels']['severity']}")
def test_every_alert_is_documented(alert):
    annotations = alert["annotations"]
    assert annotations["summary"] and annotations["description"]
    # It names what it is about: a model, a training job or scrape job, or an Argo Rollout.
    assert any(f"{{{{ $labels.{key} }}}}" in annotations["description"] for key in ("model", "job", "name"))
    anchor = annotations["runbook_url"].rsplit("#", 1)[1]
    assert anchor in _runbook_anchors(), f"RUNBOOK.md has no section for #{anchor}"
    assert alert["labels"]["severity"] in {"page", "ticket"}


@pytest.mark.parametrize("rule", alerts() + recording_rules(), ids=lambda r: r.get("alert") or r["record"])
def test_rules_read_only_contract_metrics(rule):
    records = {r["record"] for r in recording_rules()}
    unknown = metric_names_in(rule["expr"]) - CONTRACT_METRICS - records
    assert not unknown, f"metric names not defined in metric_names.py or contracts.py: {unknown}"
