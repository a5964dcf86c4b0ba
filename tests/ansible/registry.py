"""A registry on a free loopback port for the image push tests: `crane registry serve` (CRANE_VERSION, built by
`make crane`), started and stopped by its PID, and crane's reads of what it holds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ansible.playbook import ROOT
from tests.support.processes import ManagedProcess, ProcessFailed, free_port, wait_for_http


def crane() -> str:
    built = Path(os.environ.get("MLKUBE_CACHE", ROOT / ".cache")) / "bin" / "crane"
    found = str(built) if built.exists() else shutil.which("crane")
    if not found:
        pytest.fail("crane is not installed: run 'make crane'", pytrace=False)
    return found


class LoopbackRegistry:
    """`with LoopbackRegistry(work_dir) as registry:` serves on a free loopback port, blobs on disk."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.log_path = work_dir / "registry.log"
        self.address = ""
        self._process: ManagedProcess | None = None

    def __enter__(self) -> LoopbackRegistry:
        (self.work_dir / "blobs").mkdir(parents=True, exist_ok=True)
        self.address = f"127.0.0.1:{free_port()}"
        argv = [crane(), "registry", "serve", "--address", self.address, "--disk", str(self.work_dir / "blobs")]
        self._process = ManagedProcess("crane registry serve", argv, self.log_path)
        try:
            wait_for_http(f"http://{self.address}/v2/", timeout=30, process=self._process)
        except ProcessFailed as exc:
            self.__exit__()
            pytest.fail(str(exc), pytrace=False)
        return self

    def __exit__(self, *_: object) -> None:
        if self._process is not None:
            self._process.stop(timeout=10)
            self._process = None

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
