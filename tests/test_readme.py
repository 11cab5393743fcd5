"""The README's links to its own sections lead somewhere."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def github_anchor(heading: str) -> str:
    """GitHub's id for a heading: lower case, punctuation but ``-`` and ``_`` dropped, spaces to ``-``.

    >>> github_anchor("Against CleanRL's own script (`benchmarks/cleanrl_side_by_side.py`)")
    'against-cleanrls-own-script-benchmarkscleanrl_side_by_sidepy'
    """
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_to_a_section_has_its_heading():
    text = README.read_text()
    anchors = {github_anchor(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links and not links - anchors, sorted(links - anchors)


def test_the_anchor_rule_on_an_example():
    assert github_anchor(" Several updates per Lightning step (`data.updates_per_step`)") == (
        "several-updates-per-lightning-step-dataupdates_per_step"
    )
