"""Start-up: skops imports without PyTorch."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys


def _skops_in_a_fresh_interpreter(import_statement: str) -> dict:
    """skops.io's trusted-type tables after ``import_statement``, and whether PyTorch got imported with them."""
    script = f"""
import json, sys
{import_statement}
from skops.io import _trusted_types
tables = {{k: sorted(map(str, v)) for k, v in vars(_trusted_types).items() if k.isupper()}}
print(json.dumps({{"tables": tables, "torch": "torch" in sys.modules,
                   "adapter": "sklearn.externals.array_api_compat.torch" in sys.modules}}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_skops_trusts_the_same_types_when_imported_without_pytorch():
    plain = _skops_in_a_fresh_interpreter("import skops.io")
    ours = _skops_in_a_fresh_interpreter("from mlkube_server.kinds.sklearn import import_skops; import_skops()")
    assert ours["tables"] == plain["tables"]
    assert "sklearn.ensemble._forest.RandomForestClassifier" in ours["tables"]["SKLEARN_ESTIMATOR_TYPE_NAMES"]
    assert not ours["torch"] and not ours["adapter"]  # the placeholder is gone: the adapter imports later if asked
    if importlib.util.find_spec("torch") is not None:
        assert plain["torch"]  # what the server no longer pays for: plain skops imports PyTorch here
