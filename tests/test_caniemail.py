"""The caniemail check (@jsx-email/doiuse-email, npm) over the edition and the confirmation mail: no
kind of error beyond those the same MJML components produce on their own.

What remains, and why (each comes from MJML's own output, and each degrades gracefully):
`<body> element`, `role attribute`, `aria-label attribute`, `word-spacing`: MJML's body wrapper
(`role="article"` and the subject as its label, for screen readers); `@media`, `Class selector`,
`Chaining selectors`, `Descendant combinator`, `Type selector`, `ID selector`: its responsive column
rules and resets in the head (a client without them stacks the columns, which is the phone layout);
`border-radius`, `table-layout`, `word-break`, `overflow`, `display:none`, `outline`: its section,
column and text wrappers and resets (square corners, or automatic table layout, in Outlook for Windows).
"""

from __future__ import annotations

import re

from helpers import LONG_QUOTE, caniemail_errors

from digest.delivery.confirmations import render_confirmation
from digest.render import compose, render_view
from digest.render.compile import compile_mjml
from digest.render.context import ComparisonFacts, ToolFacts
from digest.settings import Settings

# The components our templates use (mj-head with mj-title and mj-attributes, mj-body, mj-raw, mj-section,
# mj-column with a background and rounded corners, mj-text, mj-table, mj-button), with nothing of ours.
REFERENCE = """<mjml lang="en"><mj-head><mj-title>A</mj-title><mj-preview>B</mj-preview><mj-attributes>
<mj-all font-family="Arial, sans-serif" /></mj-attributes></mj-head><mj-body background-color="#eeeeee">
<mj-raw><p>C</p></mj-raw><mj-section><mj-column background-color="#ffffff" border-radius="14px">
<mj-text>D</mj-text><mj-table table-layout="fixed"><tr><td>E</td></tr></mj-table>
<mj-button href="https://example.com/">F</mj-button></mj-column></mj-section></mj-body></mjml>"""


def kinds(errors: list[str]) -> set[str]:
    return {re.match(r"^`(.+?)` is not supported by", error).group(1) for error in errors}


def test_the_mails_use_nothing_the_mjml_components_do_not_already_use(node_tools):
    tool = ToolFacts(
        "a",
        "Relaybench",
        "Testing",
        "Regression tests for prompts",
        70,
        None,
        "Free",
        (("builder", LONG_QUOTE, "ship"),),
    )
    other = ToolFacts(
        "b",
        "Quillpatch",
        "Agents",
        "Agents that open pull requests",
        40,
        12,
        "$20/mo",
        (("builder", LONG_QUOTE, "skip"),),
    )
    facts = [
        ComparisonFacts(f"c{i}", f"Relaybench vs Quillpatch {i}", "Summary.", "https://v.example/c", (tool, other))
        for i in range(2)
    ]
    settings = Settings(base_url="https://news.example.com")
    edition, _, _ = render_view(compose(number=1, week="2026-W47", facts=facts, settings=settings, intro="Hi."))
    confirmation = render_confirmation(settings).html
    allowed = kinds(caniemail_errors(node_tools, compile_mjml(REFERENCE)))
    for name, html in (("edition", edition), ("confirmation", confirmation)):
        found = kinds(caniemail_errors(node_tools, html))
        print(f"{name}: {sorted(found)}")
        assert found - allowed == set(), f"the {name} mail uses {sorted(found - allowed)} beyond MJML's own"
    assert "<link> element" not in allowed and "@import" not in allowed  # no web font in the reference either
