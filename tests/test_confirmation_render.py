"""The confirmation mail renders through digest.render, and its template errors are said as editions' are."""

from __future__ import annotations

import re

import pytest

from digest.errors import EditionError
from digest.render.confirmation import CONFIRM_URL, render_confirmation
from digest.render.templates import templates_root
from digest.settings import Settings


def _brand(tmp_path, name: str, text: str):
    path = tmp_path / "brand" / name
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_confirmation_carries_the_link_placeholder_in_both_parts():
    letter = render_confirmation(Settings(base_url="https://news.example.com"))
    assert CONFIRM_URL in letter.text and CONFIRM_URL in letter.html
    assert letter.categories == ("confirmation",)


def test_a_confirmation_template_that_does_not_parse_names_its_file_and_line(tmp_path):
    broken = _brand(tmp_path, "email/confirm.txt.j2", "Confirm:\n{% if %}\n")
    settings = Settings(base_url="https://news.example.com", templates=broken.parents[1])
    with pytest.raises(EditionError, match=rf"{re.escape(str(broken))}, line 2: "):
        render_confirmation(settings)


def test_a_confirmation_template_that_cannot_be_filled_names_its_file(tmp_path):
    shipped = (templates_root() / "email/confirm.mjml.j2").read_text(encoding="utf-8")
    broken = _brand(
        tmp_path, "email/confirm.mjml.j2", shipped.replace("{{ c.confirm_url", "{{ c.confirm_url.no.such", 1)
    )
    settings = Settings(base_url="https://news.example.com", templates=broken.parents[1])
    with pytest.raises(EditionError, match=rf"{re.escape(str(broken))}, line \d+ cannot be filled"):
        render_confirmation(settings)
