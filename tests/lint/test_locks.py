"""The hash-locked Python dependencies (requirements/*.lock): complete, hash-checked and in step with each other,
with the project's pyproject files and with versions.env."""

from __future__ import annotations

import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.cluster.kube import read_env_file

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
VERSIONS = read_env_file(ROOT / "versions.env")
IMAGE_LOCKS = ("server", "training")
# The images and .venv: CPython 3.11 on x86_64 Linux (lock.sh resolves for exactly that).
TARGET = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
PIN = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;]+)")


@dataclass(frozen=True)
class Locked:
    version: str
    hashes: tuple[str, ...]
    extra: tuple[str, ...]


def read_lock(name: str) -> dict[str, Locked]:
    """Each locked requirement's version and hashes; `extra` holds any other token (a marker, an option)."""
    entries: dict[str, Locked] = {}
    for line in (REQUIREMENTS / f"{name}.lock").read_text().replace("\\\n", " ").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        first, *rest = line.split()
        pin = PIN.fullmatch(first)
        assert pin, f"{name}.lock: {first!r} is not a name==version pin"
        hashes = tuple(token for token in rest if HASH.fullmatch(token))
        extra = tuple(token for token in rest if not HASH.fullmatch(token))
        entries[canonicalize_name(pin["name"])] = Locked(pin["version"], hashes, extra)
    return entries


def local_requirements(in_name: str) -> list[tuple[str, Requirement]]:
    """The requirements that an .in file brings: its own lines, and its local packages' dependencies (the extras
    it names, and the extras those name of their own package), as (where, requirement)."""
    found: list[tuple[str, Requirement]] = []
    for line in (REQUIREMENTS / f"{in_name}.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if not line.startswith("./"):
            found.append((f"{in_name}.in", Requirement(line)))
            continue
        path, _, extras = line.partition("[")
        pyproject = ROOT / path / "pyproject.toml"
        project = tomllib.loads(pyproject.read_text())["project"]
        own_name = canonicalize_name(project["name"])
        where = str(pyproject.relative_to(ROOT))
        wanted = [extra.strip() for extra in extras.rstrip("]").split(",") if extra.strip()]
        found += [(where, Requirement(text)) for text in project["dependencies"]]
        seen: set[str] = set()
        while wanted:
            extra = wanted.pop()
            if extra in seen:
                continue
            seen.add(extra)
            for text in project["optional-dependencies"][extra]:
                requirement = Requirement(text)
                if canonicalize_name(requirement.name) == own_name:
                    wanted += sorted(requirement.extras)
                else:
                    found.append((f"{where} [{extra}]", requirement))
    return found


@pytest.mark.parametrize("name", ["dev", *IMAGE_LOCKS])
def test_every_locked_requirement_is_an_exact_pin_with_hashes(name: str) -> None:
    entries = read_lock(name)
    assert entries, f"{name}.lock locks nothing"
    unhashed = sorted(package for package, locked in entries.items() if not locked.hashes)
    assert not unhashed, f"{name}.lock: no --hash for {unhashed}: run 'make lock'"
    others = {package: locked.extra for package, locked in entries.items() if locked.extra}
    assert not others, f"{name}.lock: more than a pin and its hashes (lock.sh resolves for one target): {others}"


@pytest.mark.parametrize("name", ["dev", *IMAGE_LOCKS])
def test_the_lock_satisfies_what_its_in_file_and_pyprojects_require(name: str) -> None:
    entries = read_lock(name)
    unmet = []
    for where, requirement in local_requirements(name):
        if requirement.marker and not requirement.marker.evaluate(TARGET):
            continue
        locked = entries.get(canonicalize_name(requirement.name))
        if locked is None or not requirement.specifier.contains(Version(locked.version), prereleases=True):
            unmet.append(f"{where}: {requirement} (locked: {locked.version if locked else 'absent'})")
    assert not unmet, f"{name}.lock does not satisfy (run 'make lock'):\n" + "\n".join(unmet)


def test_dev_in_brings_every_python_package_of_the_repository() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--", "*pyproject.toml"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    packages = {str(Path(path).parent) for path in listed}
    in_dev = {
        line.split("[", 1)[0].removeprefix("./")
        for line in (REQUIREMENTS / "dev.in").read_text().splitlines()
        if line.startswith("./")
    }
    assert packages == in_dev, f"requirements/dev.in names {sorted(in_dev)}; the repository has {sorted(packages)}"


@pytest.mark.parametrize("name", IMAGE_LOCKS)
def test_an_image_lock_holds_dev_lock_versions(name: str) -> None:
    dev = read_lock("dev")
    image = read_lock(name)
    differ = {
        package: (locked.version, dev[package].version if package in dev else "absent")
        for package, locked in image.items()
        if package not in dev or dev[package].version != locked.version
    }
    assert not differ, f"{name}.lock versions (image, dev.lock) differ; run 'make lock': {differ}"


@pytest.mark.parametrize("name", IMAGE_LOCKS)
def test_image_locks_leave_pytorch_out(name: str) -> None:
    torch_builds = sorted(package for package in read_lock(name) if package in {"torch", "triton"})
    assert not torch_builds, f"{name}.lock holds {torch_builds}: their CUDA and CPU builds differ in hashes"


@pytest.mark.parametrize(
    ("name", "package", "key"),
    [
        ("dev", "mlflow", "MLFLOW_VERSION"),
        ("dev", "mlflow-skinny", "MLFLOW_VERSION"),
        ("dev", "torch", "TORCH_VERSION"),
        ("dev", "grafana-foundation-sdk", "GRAFANA_FOUNDATION_SDK_VERSION"),
        ("server", "mlflow-skinny", "MLFLOW_VERSION"),
        ("training", "mlflow", "MLFLOW_VERSION"),
    ],
)
def test_locks_hold_the_versions_env_pins(name: str, package: str, key: str) -> None:
    locked = read_lock(name).get(package)
    assert locked is not None, f"{name}.lock has no {package}"
    assert Version(locked.version) == Version(VERSIONS[key]), (
        f"{name}.lock has {package}=={locked.version}, versions.env {key}={VERSIONS[key]}: run 'make lock'"
    )


def test_uv_is_pinned_to_an_exact_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSIONS.get("UV_VERSION", "")), (
        f"versions.env UV_VERSION={VERSIONS.get('UV_VERSION')!r}: make lock needs an exact uv version"
    )
    for name in ("dev", *IMAGE_LOCKS):
        header = (REQUIREMENTS / f"{name}.lock").read_text().splitlines()[:2]
        assert header == ["# This file was autogenerated by uv via the following command:", "#    make lock"], (
            f"{name}.lock was not written by 'make lock': {header}"
        )
