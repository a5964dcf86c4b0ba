"""Every generated file, as (path relative to charts/, text): the monitoring chart's rules, rule tests and
dashboards, and the model-server chart's analysis metrics."""

from __future__ import annotations

import json
from pathlib import Path

from . import analysis, rule_tests, rules, yamlout
from .dashboards import all_dashboards
from .settings import CHART_DIR, CHARTS_DIR, MonitoringValues, load

# The `slo:` / `alerts:` values the files were generated from: the chart refuses an install with others
# (templates/generated-values-check.yaml), since they would change nothing in the generated rules.
GENERATED_FROM = "files/generated-from-values.json"


def generated_files(values: MonitoringValues | None = None) -> dict[Path, str]:
    values = values or load()
    monitoring = CHART_DIR.relative_to(CHARTS_DIR)
    files: dict[Path, str] = {}
    for name, document in rules.rule_files(values).items():
        files[monitoring / "files/rules" / name] = yamlout.dump(document)
    for name, document in rule_tests.test_files(values).items():
        files[monitoring / "files/rules-tests" / name] = yamlout.dump(document)
    for name, dashboard in all_dashboards(values).items():
        files[monitoring / "files/dashboards" / f"{name}.json"] = json.dumps(dashboard, indent=2, sort_keys=True) + "\n"
    source = values.model_dump(by_alias=True)
    files[monitoring / GENERATED_FROM] = json.dumps(source, indent=2, sort_keys=True) + "\n"
    files[Path("model-server") / analysis.GENERATED_PATH] = yamlout.dump(analysis.document(), analysis.HEADER)
    return files


def stale_files(charts_dir: Path = CHARTS_DIR) -> list[str]:
    """Generated files whose committed copy is missing or differs from the generator's output."""
    return [
        str(path)
        for path, text in generated_files().items()
        if not (charts_dir / path).is_file() or (charts_dir / path).read_text() != text
    ]
