"""Runs mlkube-serve as in the default image, where PyTorch is not installed: ``import torch`` fails."""

import sys

sys.modules["torch"] = None  # the interpreter's own "not installed" signal: import raises ImportError

from mlkube_server.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
