"""The charts' README.md files: helm-docs through the charts' one template, its flags written once here.

python charts/tools/chart_readmes.py HELM_DOCS   writes every chart's README.md (make chart-docs); the charts
tests call render() to compare each README with what helm-docs would write.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHARTS = Path(__file__).resolve().parents[1]
TEMPLATE = CHARTS / "README.md.gotmpl"


def helm_docs_argv(helm_docs: str, search_root: Path = CHARTS) -> list[str]:
    return [helm_docs, "--chart-search-root", str(search_root), "--template-files", str(TEMPLATE),
            "--skip-version-footer", "--log-level", "warning"]  # fmt: skip


def render(helm_docs: str, search_root: Path, chart: str) -> str:
    """One chart's README as helm-docs would write it, without writing it."""
    argv = [*helm_docs_argv(helm_docs, search_root), "--dry-run", "-g", str(search_root / chart)]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout


if __name__ == "__main__":
    subprocess.run(helm_docs_argv(sys.argv[1]), check=True)
