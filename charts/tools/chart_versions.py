"""Keep chart versions moving with chart content.

``charts/versions.lock`` records, per chart, the version and a hash of everything that goes into the
packaged chart (templates, values, schema, files, ...; not the generated README, nor the version line
itself). ``--check`` fails when a chart's content changed but its version did not; without it, such a
chart's patch version is bumped, the umbrella's dependency pins follow, and the lock is rewritten.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

CHARTS_DIR = Path(__file__).resolve().parents[1]
LOCK = CHARTS_DIR / "versions.lock"
UMBRELLA = "mlkube"
SUBCHARTS = ("model-server", "training-job", "mlflow", "monitoring")
SKIPPED_PARTS = {"charts", "__pycache__", "dashboards-src", "rules-tests"}
SKIPPED_NAMES = {"README.md", "Chart.lock", "monitoring.mk"}
VERSION_LINE = re.compile(r"^version: *(\S+)$", re.MULTILINE)


def content_hash(chart: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in chart.rglob("*") if p.is_file()):
        rel = path.relative_to(chart)
        if SKIPPED_PARTS & set(rel.parts[:-1]) or path.name in SKIPPED_NAMES or path.suffix == ".pyc":
            continue
        text = path.read_bytes()
        if rel.as_posix() == "Chart.yaml":
            text = VERSION_LINE.sub("version: X", text.decode()).encode()
        digest.update(rel.as_posix().encode() + b"\0" + text + b"\0")
    return digest.hexdigest()[:16]


def chart_version(chart: Path) -> str:
    match = VERSION_LINE.search((chart / "Chart.yaml").read_text())
    if not match:
        raise SystemExit(f"{chart}/Chart.yaml has no version line")
    return match.group(1)


def set_version(chart: Path, version: str) -> None:
    path = chart / "Chart.yaml"
    path.write_text(VERSION_LINE.sub(f"version: {version}", path.read_text(), count=1))


def bump_patch(version: str) -> str:
    major, minor, patch = version.split("-")[0].split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


def pin_umbrella_dependencies() -> None:
    """Point the umbrella's dependency versions at the sub-charts' current versions."""
    path = CHARTS_DIR / UMBRELLA / "Chart.yaml"
    text = path.read_text()
    for sub in SUBCHARTS:
        text = re.sub(rf"(- name: {re.escape(sub)}\n\s+version: )\S+", rf"\g<1>{chart_version(CHARTS_DIR / sub)}", text)
    path.write_text(text)


def stale(lock: dict[str, dict[str, str]]) -> list[str]:
    """Charts whose content differs from the lock while their version equals the locked one."""
    return [
        name
        for name in (*SUBCHARTS, UMBRELLA)
        if lock.get(name, {}).get("hash") != content_hash(CHARTS_DIR / name)
        and lock.get(name, {}).get("version") == chart_version(CHARTS_DIR / name)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail instead of bumping")
    args = parser.parse_args(argv)
    lock = json.loads(LOCK.read_text()) if LOCK.exists() else {}
    if args.check:
        problems = stale(lock)
        missing = [n for n in (*SUBCHARTS, UMBRELLA) if n not in lock]
        for name in problems:
            print(
                f"charts/{name} changed but its version {chart_version(CHARTS_DIR / name)} did not: "
                "run 'make chart-docs' (it bumps the version)",
                file=sys.stderr,
            )
        for name in missing:
            print(f"charts/{name} is not in {LOCK.name}: run 'make chart-docs'", file=sys.stderr)
        return 1 if problems or missing else 0
    for name in SUBCHARTS:
        if name in stale(lock):
            set_version(CHARTS_DIR / name, bump_patch(chart_version(CHARTS_DIR / name)))
    pin_umbrella_dependencies()
    if UMBRELLA in stale(lock):
        set_version(CHARTS_DIR / UMBRELLA, bump_patch(chart_version(CHARTS_DIR / UMBRELLA)))
    new_lock = {
        name: {"version": chart_version(CHARTS_DIR / name), "hash": content_hash(CHARTS_DIR / name)}
        for name in (*SUBCHARTS, UMBRELLA)
    }
    LOCK.write_text(json.dumps(new_lock, indent=2) + "\n")
    for name, entry in new_lock.items():
        if lock.get(name, {}).get("version") not in (None, entry["version"]):
            print(f"charts/{name}: {lock[name]['version']} -> {entry['version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
