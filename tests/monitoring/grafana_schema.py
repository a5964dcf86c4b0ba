"""Check dashboards against Grafana's published dashboard schema: the TypeScript types of npm's @grafana/schema,
compiled by tsc (both installed by `make monitoring-tools` under .cache/grafana-schema)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = Path(os.environ.get("MLKUBE_CACHE", REPO_ROOT / ".cache")) / "grafana-schema"
TSC = SCHEMA_DIR / "node_modules" / ".bin" / "tsc"

PRELUDE = """\
import type { AnnotationQuery, Dashboard } from "@grafana/schema/dist/types/raw/dashboard/x/types.gen";
// The v1 dashboard schema has no field for a datasource's annotation query; Grafana's Prometheus datasource
// reads it from `expr`, its documented legacy annotation form. Everything else is the published type as is.
type PrometheusAnnotation = AnnotationQuery & { expr: string };
type ProvisionedDashboard = Omit<Dashboard, "annotations"> & { annotations?: { list?: PrometheusAnnotation[] } };
export const dashboard: ProvisionedDashboard = """


class SchemaToolsMissing(RuntimeError):
    pass


def check(dashboards: dict[str, dict], workdir: Path) -> dict[str, list[str]]:
    """Dashboard name -> schema errors reported by tsc (empty list: valid)."""
    if not TSC.is_file():
        raise SchemaToolsMissing(f"{TSC} not found: run `make monitoring-tools` first")
    (workdir / "node_modules").symlink_to(SCHEMA_DIR / "node_modules")
    files = []
    for name, data in dashboards.items():
        path = workdir / f"{name}.ts"
        path.write_text(PRELUDE + json.dumps(data, indent=2) + ";\n")
        files.append(path.name)
    result = subprocess.run(
        [str(TSC), "--noEmit", "--strict", "--target", "es2020", "--moduleResolution", "node", *files],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors: dict[str, list[str]] = {name: [] for name in dashboards}
    for line in result.stdout.splitlines():
        match = re.match(r"^(\w[\w-]*)\.ts\(\d+,\d+\): error (.*)$", line)
        if match:
            errors[match.group(1)].append(line)
    if result.returncode != 0 and not any(errors.values()):
        raise RuntimeError(f"tsc failed without dashboard errors:\n{result.stdout}\n{result.stderr}")
    return errors
