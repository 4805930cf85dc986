"""The README a new user reads first: its links lead somewhere in the repository, and its
tour counts up."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _links(text: str) -> list[str]:
    """Targets of Markdown links and images, outside code blocks and code spans."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    return re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", prose)


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation gone, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_points_to_a_file_in_the_repository() -> None:
    relative = [t for t in _links(README) if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    assert relative, "the README links to files of the repository"
    outside = []
    for target in relative:
        path = (ROOT / target.split("#")[0]).resolve()
        if not path.is_relative_to(ROOT) or not path.exists():
            outside.append(target)
    assert outside == []


def test_every_anchor_link_names_a_heading() -> None:
    headings = {_anchor(h) for h in re.findall(r"^#+ (.+)$", README, flags=re.M)}
    anchors = [t[1:] for t in _links(README) if t.startswith("#")]
    assert anchors and [a for a in anchors if a not in headings] == []


def test_the_tour_is_numbered_in_order() -> None:
    tour = README[README.index("## A five-minute tour") :]
    block = re.search(r"```bash\n(.*?)```", tour, flags=re.S)
    assert block is not None
    steps = [int(n) for n in re.findall(r"^# (\d+)\. ", block.group(1), flags=re.M)]
    assert steps == list(range(1, len(steps) + 1))
    assert len(steps) >= 5
