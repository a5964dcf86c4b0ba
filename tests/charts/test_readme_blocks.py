"""Every command block of the README says whether the e2e suite runs it (tests/e2e/test_03a_docs.py runs those)."""

from tests.e2e.docs import commands, readme_blocks
from tests.e2e.kube import ROOT


def test_every_readme_block_is_marked_run_or_skip_with_a_reason():
    blocks = readme_blocks(ROOT / "README.md")
    assert [b for b in blocks if b.action == "run"], "no README block is run against the platform"


def test_every_helm_and_kubectl_command_in_the_readme_names_its_namespace():
    for block in readme_blocks(ROOT / "README.md"):
        for command in commands(block.text):
            tool = command.split()[0]
            if tool in ("helm", "kubectl") and command.split()[1] not in ("version", "plugin"):
                assert " -n " in f" {command} " or "--namespace" in command, f"README:{block.line}: {command}"
