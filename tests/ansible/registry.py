"""A registry on a free loopback port for the image push tests: `crane registry serve` (CRANE_VERSION, built by
`make crane`), started and stopped by its PID, and crane's reads of what it holds."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.ansible.playbook import ROOT


def crane() -> str:
    built = Path(os.environ.get("MLKUBE_CACHE", ROOT / ".cache")) / "bin" / "crane"
    found = str(built) if built.exists() else shutil.which("crane")
    if not found:
        pytest.fail("crane is not installed: run 'make crane'", pytrace=False)
    return found


class LoopbackRegistry:
    """`with LoopbackRegistry(work_dir) as registry:` serves on 127.0.0.1 (a port the kernel picks), blobs on disk."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.log_path = work_dir / "registry.log"
        self.address = ""
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LoopbackRegistry:
        (self.work_dir / "blobs").mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [crane(), "registry", "serve", "--address", "127.0.0.1:0", "--disk", str(self.work_dir / "blobs")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while not (port := re.search(r"serving on port (\d+)", self.log())):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                pytest.fail(f"crane registry serve did not start:\n{self.log()}", pytrace=False)
            time.sleep(0.1)
        self.address = f"127.0.0.1:{port.group(1)}"
        return self

    def __exit__(self, *_: object) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def crane(self, *args: str) -> str:
        proc = subprocess.run([crane(), *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"crane {' '.join(args)}: {proc.stderr}"
        return proc.stdout.strip()

    def catalog(self) -> set[str]:
        return set(self.crane("catalog", self.address).split())

    def digest(self, reference: str) -> str:
        return self.crane("digest", f"{self.address}/{reference}")

    def config(self, reference: str) -> dict:
        return json.loads(self.crane("config", f"{self.address}/{reference}"))
