"""The two lines a reader sees before opening: the subject and the preheader.

Both are built from the content unless the editor wrote a subject. Both are one
line (a header may not carry a line break) and kept short enough for an inbox.
"""

from __future__ import annotations

from collections.abc import Sequence

from digest.render.context import literal

SUBJECT_LIMIT = 120
PREHEADER_LIMIT = 150


def one_line(text: str, limit: int) -> str:
    value = " ".join(text.split())
    if len(value) <= limit:
        return value
    cut = value[: limit - 1].rsplit(" ", 1)[0] or value[: limit - 1]
    return cut.rstrip(",;:—–- ") + "…"


def subject_line(
    titles: Sequence[str], editor_subject: str | None = None, fallback: str = "This week's verdicts"
) -> str:
    """The editor's subject, or 'First title, and 2 more'."""
    if editor_subject and editor_subject.strip():
        return one_line(literal(editor_subject), SUBJECT_LIMIT * 2)
    if not titles:
        return fallback
    first = " ".join(literal(titles[0]).split())
    rest = len(titles) - 1
    suffix = f", and {rest} more" if rest else ""
    return one_line(first, SUBJECT_LIMIT - len(suffix)) + suffix


def preheader_line(verdicts: Sequence[tuple[str, str]], intro: str | None = None) -> str:
    """The grey line after the subject: the editor's intro, else the first verdicts.

    `verdicts` holds (headline, detail) per comparison, such as
    ('The panel favours SmolVLM2 Turbo', '100% vs 75% of the panel would ship it').
    """
    if intro and intro.strip():
        return one_line(literal(intro), PREHEADER_LIMIT)
    parts = [f"{headline} ({detail})" if detail else headline for headline, detail in verdicts if headline]
    if not parts:
        return "This week's side-by-side verdicts."
    text = parts[0] + "."
    if len(verdicts) > 1:
        text += f" Plus {len(verdicts) - 1} more side-by-side verdict{'s' if len(verdicts) > 2 else ''}."
    return one_line(text, PREHEADER_LIMIT)
