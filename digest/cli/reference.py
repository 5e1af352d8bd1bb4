"""The README's generated parts: the command list (from the click tree) and the settings table.

Each part sits between `<!-- NAME:start -->` and `<!-- NAME:end -->` in README.md and is written
from the code, never by hand, so the README cannot drift from `--help` or from the settings:
`tests/test_docs.py` fails when they disagree, and

    python -m digest.cli.reference            # rewrites README.md's generated parts in place

brings them back in step.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click


def commands(group: click.Group, prefix: str = "digest") -> Iterator[tuple[str, click.Command]]:
    """Every visible command, as `--help` lists them (the old spellings are hidden), groups included."""
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if command is None or command.hidden:
            continue
        path = f"{prefix} {name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from commands(command, path)


def commands_markdown() -> str:
    """One line per command that does something: its name and the first line of its help."""
    from digest.cli import main  # the CLI tree imports this module's package: read it on demand

    lines = []
    for path, command in commands(main):
        if isinstance(command, click.Group):
            continue
        summary = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
        lines.append(f"- `{path}`: {summary}")
    return "\n".join(lines)


def settings_markdown() -> str:
    from digest.settings import markdown_table  # the table lives with the settings

    return markdown_table()


PARTS: dict[str, Callable[[], str]] = {"commands": commands_markdown, "settings": settings_markdown}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- {name}:start -->\n)(.*?)(\n<!-- {name}:end -->)", re.S)


def disagreements(readme: str) -> list[str]:
    """What in `readme` differs from the code: one sentence per generated part that is missing or stale."""
    found = []
    for name, make in PARTS.items():
        match = _pattern(name).search(readme)
        if match is None:
            found.append(f"README.md has no `<!-- {name}:start -->` ... `<!-- {name}:end -->` part")
        elif match.group(2).strip() != make().strip():
            found.append(f"README.md's {name} part differs from the code: run python -m digest.cli.reference")
    return found


def regenerate(readme: str) -> str:
    for name, make in PARTS.items():
        text = make().strip()
        readme = _pattern(name).sub(lambda match: match.group(1) + text + match.group(3), readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    path = Path(argv[0] if argv else "README.md")
    before = path.read_text(encoding="utf-8")
    after = regenerate(before)
    if after != before:
        path.write_text(after, encoding="utf-8")
    print(f"{path}: {'updated' if after != before else 'already in step'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
