"""Every generated file, as (path relative to charts/, text): the monitoring chart's rules and dashboards, which
hold placeholders for the chart's `slo:` / `alerts:` values, and the model-server chart's analysis metrics; and
the same rules and dashboards rendered for given values, with the promtool tests written for those values."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from . import analysis, autoscaling, placeholders, rule_tests, rules, yamlout
from .dashboards import all_dashboards
from .settings import CHART_DIR, CHARTS_DIR, MonitoringValues

MONITORING = CHART_DIR.relative_to(CHARTS_DIR)


def templated_files() -> dict[Path, str]:
    """The monitoring chart's files/: rules and dashboards with placeholders, which the chart renders."""
    files: dict[Path, str] = {}
    for name, document in rules.rule_files().items():
        files[Path("rules") / name] = yamlout.dump(document)
    for name, dashboard in all_dashboards().items():
        files[Path("dashboards") / f"{name}.json"] = json.dumps(dashboard, indent=2, sort_keys=True) + "\n"
    return files


def test_files(values: MonitoringValues) -> dict[Path, str]:
    """`promtool test rules` files for the rules rendered with `values`, beside them as rules-tests/."""
    return {Path("rules-tests") / name: yamlout.dump(doc) for name, doc in rule_tests.test_files(values).items()}


def generated_files() -> dict[Path, str]:
    """The committed generated files, by path relative to charts/."""
    files = {MONITORING / "files" / path: text for path, text in templated_files().items()}
    files[Path("model-server") / analysis.GENERATED_PATH] = yamlout.dump(analysis.document(), analysis.HEADER)
    files[Path("model-server") / autoscaling.GENERATED_PATH] = yamlout.dump(autoscaling.document(), autoscaling.HEADER)
    return files


def rendered_files(values: MonitoringValues) -> dict[Path, str]:
    """The rules and dashboards as the chart installs them with `values`, and their tests, by path relative to
    the chart's files/ (rules/, dashboards/, rules-tests/)."""
    raw = values.model_dump(by_alias=True)
    files = {path: placeholders.render(text, raw) for path, text in templated_files().items()}
    return files | test_files(values)


def write_rendered(target: Path, values: MonitoringValues) -> int:
    """Write rendered_files(values) under `target`, replacing what an earlier render left there; the file count."""
    files = rendered_files(values)
    for folder in {path.parts[0] for path in files}:
        shutil.rmtree(target / folder, ignore_errors=True)
    for path, text in files.items():
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_text(text)
    return len(files)


def stale_files(charts_dir: Path = CHARTS_DIR) -> list[str]:
    """Generated files whose committed copy is missing or differs from the generator's output."""
    return [
        str(path)
        for path, text in generated_files().items()
        if not (charts_dir / path).is_file() or (charts_dir / path).read_text() != text
    ]
