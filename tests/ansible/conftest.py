"""The Ansible suite needs the Ansible venv; a missing one is a setup error, not a skip."""

import pytest

from tests.ansible.playbook import ansible_venv


@pytest.fixture(scope="session", autouse=True)
def _ansible_installed() -> None:
    if not (ansible_venv() / "bin" / "ansible-playbook").exists():
        pytest.fail(f"ansible is not installed in {ansible_venv()}: run `make ansible-venv`")
