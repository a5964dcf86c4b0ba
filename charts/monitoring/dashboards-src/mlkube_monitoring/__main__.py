"""`python -m mlkube_monitoring generate|check|render DIR [VALUES]`: write the monitoring chart's rule and dashboard
files and the model-server chart's analysis metrics, verify them, or render the rules, dashboards and their
promtool tests into DIR as the chart installs them with the chart's values.yaml (and a values file over it)."""

from __future__ import annotations

import sys
from pathlib import Path

from .outputs import generated_files, stale_files, write_rendered
from .settings import CHARTS_DIR, load

USAGE = "use `generate`, `check` or `render DIR [VALUES_FILE]`"


def render(target: Path, values_file: Path | None) -> int:
    try:
        values = load(values_file) if values_file else load()
    except ValueError as error:  # pydantic's ValidationError is one
        print(f"{values_file}: {error}", file=sys.stderr)
        return 1
    print(f"rendered {write_rendered(target, values)} files into {target}")
    return 0


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "generate"
    if command == "generate":
        for path, text in generated_files().items():
            target = CHARTS_DIR / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            print(f"wrote charts/{path}")
        return 0
    if command == "check":
        stale = stale_files()
        for name in stale:
            print(f"charts/{name} is out of date: run `make monitoring-generate` and commit the result")
        return 1 if stale else 0
    if command == "render" and len(argv) in (3, 4):
        return render(Path(argv[2]), Path(argv[3]) if len(argv) == 4 else None)
    print(f"unknown command {' '.join(argv[1:])!r}: {USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
