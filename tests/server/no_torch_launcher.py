"""Runs mlkube-serve as in the default image, where PyTorch is not installed: importing torch fails
exactly as for an absent package (ModuleNotFoundError), while everything else imports normally."""

import importlib.abc
import sys


class _WithoutTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _WithoutTorch())

from mlkube_server.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
