"""The README and docs/ stay true: every relative link resolves, every `python -m
rewire_eqx` line of the README parses, and the README stays short enough to lead."""

import re
import shlex
from pathlib import Path

import pytest

from rewire_eqx import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # not inside code
    return [
        target
        for target in LINK.findall(text)
        if not target.startswith(("http://", "https://", "mailto:", "#"))
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    missing = [
        target
        for target in _relative_links(page)
        if not (page.parent / target.split("#")[0]).exists()
    ]
    assert not missing, f"{page.relative_to(ROOT)}: broken links {missing}"


def _readme_commands() -> list[list[str]]:
    commands = []
    for line in (ROOT / "README.md").read_text().splitlines():
        line = line.strip()
        if "python -m rewire_eqx" in line and not line.startswith(("`", "|")):
            tail = line.split("python -m rewire_eqx", 1)[1]
            commands.append(shlex.split(tail, comments=True))
    return commands


def test_the_readme_shows_commands_to_check():
    assert len(_readme_commands()) >= 8


@pytest.mark.parametrize("args", _readme_commands(), ids=" ".join)
def test_every_readme_command_parses(args, capsys):
    if args[:1] and not args[0].startswith("-"):
        spec = next((a for a in args[1:] if a.endswith(".py")), None)
        if spec is not None:
            assert (ROOT / spec).is_file(), spec
    try:
        status = cli.main([*args, "--help"] if args else ["--help"])
    except SystemExit as exit:  # argparse and tyro leave through --help
        status = exit.code
    assert status in (0, None), capsys.readouterr()
    assert "usage" in capsys.readouterr().out.lower()


def test_the_readme_leads_in_at_most_300_lines():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300
