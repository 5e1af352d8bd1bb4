"""MJML to HTML through mjml-python (MRML), with its errors said in our words."""

from __future__ import annotations

from mjml import mjml2html

from digest.errors import EditionError


def compile_mjml(source: str, template: str = "the email template") -> str:
    try:
        return mjml2html(source)
    except ValueError as exc:  # MRML reports malformed MJML this way
        raise EditionError(f"{template} does not compile as MJML: {exc}") from exc
