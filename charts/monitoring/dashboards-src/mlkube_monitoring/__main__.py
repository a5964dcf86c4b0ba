"""`python -m mlkube_monitoring generate|check`: write the monitoring chart's rule, test and dashboard files and the
model-server chart's analysis metrics, or verify them."""

from __future__ import annotations

import sys

from .outputs import generated_files, stale_files
from .settings import CHARTS_DIR


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
    print(f"unknown command {command!r}: use `generate` or `check`", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
