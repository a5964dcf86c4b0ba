"""The commands users are told to run: the README's marked command blocks and what `make up` prints.

Every ```bash block of the README is preceded by a marker: `<!-- docs-test: run -->` (the e2e suite runs it
against the platform) or `<!-- docs-test: skip (reason) -->`; a block without one fails the check, so a new
block is never silently left untested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MARKER = re.compile(r"<!--\s*docs-test:\s*(run|skip)\b(.*?)-->")
FENCE = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    line: int
    action: str  # run | skip
    reason: str
    text: str


def readme_blocks(readme: Path) -> list[Block]:
    text = readme.read_text()
    blocks = []
    for fence in FENCE.finditer(text):
        before = text[: fence.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        line = text.count("\n", 0, fence.start()) + 1
        if marker is None:
            raise AssertionError(
                f"{readme.name}:{line}: a bash block without a `<!-- docs-test: run|skip (why) -->` marker"
            )
        action, reason = marker.group(1), marker.group(2).strip()
        if action == "skip" and not reason:
            raise AssertionError(f"{readme.name}:{line}: `docs-test: skip` needs a reason")
        blocks.append(Block(line, action, reason, fence.group(1)))
    return blocks


def commands(text: str) -> list[str]:
    """Shell commands of a block, continuation lines joined, comments and blank lines left out."""
    joined = re.sub(r"\\\n\s*", "", text)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def printed_section(output: str, heading: str) -> list[str]:
    """The indented commands under a heading line of print-access.sh's output (up to the next blank line)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    section = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        section.append(line)
    return commands("\n".join(section))
