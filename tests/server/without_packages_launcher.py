"""Runs mlkube-serve as in an image without some packages (default: PyTorch, as in the server image):
importing one of them fails exactly as for an absent package (ModuleNotFoundError), everything else imports
normally. MLKUBE_TEST_MISSING_PACKAGES: comma list of top-level module names to hide."""

import importlib.abc
import os
import sys

MISSING = tuple(p for p in os.environ.get("MLKUBE_TEST_MISSING_PACKAGES", "torch").split(",") if p)


class _Without(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in MISSING:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Without())

from mlkube_server.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
