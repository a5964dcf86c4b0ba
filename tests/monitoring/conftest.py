"""Make the monitoring generators importable (they live with the chart, not in an installed package)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "monitoring"
GENERATOR_DIR = CHART_DIR / "dashboards-src"

for path in (GENERATOR_DIR, REPO_ROOT / "model-server" / "src", REPO_ROOT / "training-jobs" / "src"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
