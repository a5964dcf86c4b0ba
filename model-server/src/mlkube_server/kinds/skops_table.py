"""skops' trusted-type table, computed once per Python environment instead of at every server start.

Importing ``skops.io`` builds the names of the types it trusts: ``sklearn.utils.all_estimators()`` imports every
scikit-learn package, and a search of ``sys.modules`` for each numpy and scipy ufunc follows. On one core that is
about a second of the server's start, spent on a table that depends only on the installed versions of skops,
scikit-learn, numpy and scipy. ``python -m mlkube_server.kinds.skops_table`` writes the table into the environment
(the image build and ``make venv`` run it); at start the server installs it as ``skops.io._trusted_types`` before
importing skops. A table written for other versions, or none, is ignored and skops computes its own.

The file lies in the environment's prefix, as writable as the code that reads it: it grants no trust that the
environment's owner could not grant by editing skops itself.
"""

from __future__ import annotations

import json
import sys
import sysconfig
import types
from importlib import metadata
from pathlib import Path
from typing import Any

TRUSTED_TYPES_MODULE = "skops.io._trusted_types"
DISTRIBUTIONS = ("skops", "scikit-learn", "numpy", "scipy")


def default_path() -> Path:
    return Path(sysconfig.get_path("data")) / "share" / "mlkube-server" / "skops-trusted-types.json"


def installed_versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in DISTRIBUTIONS}


def computed_tables() -> dict[str, list[str]]:
    """The tables as skops builds them (importing skops the slow way if it is not imported yet)."""
    from .sklearn import import_skops_computing_its_table

    import_skops_computing_its_table()
    module = sys.modules[TRUSTED_TYPES_MODULE]
    return {key: [str(name) for name in value] for key, value in vars(module).items() if key.endswith("_TYPE_NAMES")}


def write(path: Path | None = None) -> Path:
    path = path or default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"versions": installed_versions(), "tables": computed_tables()}
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    return path


def install(path: Path | None = None) -> str | None:
    """Put the written table in place of skops' own; None when done, else why not (skops then computes it)."""
    path = path or default_path()
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return f"no precomputed table at {path} (python -m mlkube_server.kinds.skops_table writes it)"
    except (OSError, ValueError) as exc:
        return f"unreadable table at {path} ({exc})"
    if document.get("versions") != installed_versions():
        return f"the table at {path} was written for {document.get('versions')}, not {installed_versions()}"
    module = types.ModuleType(TRUSTED_TYPES_MODULE, f"skops' trusted-type names, precomputed in {path}")
    module.__dict__.update(document["tables"])
    sys.modules[TRUSTED_TYPES_MODULE] = module
    return None


if __name__ == "__main__":
    print(f"skops trusted-type table written to {write()}")
