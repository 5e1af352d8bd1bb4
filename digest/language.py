"""Language tags (BCP 47): the one check, and the writing direction a tag's script implies.

`DIGEST_LANGUAGE` (digest.settings) and a comparison's `lang` (the JSON import format) are both
checked here, with `langcodes` against the IANA registry, and written the standard way ("EN-gb"
is "en-GB"). `direction` is "rtl" for a language written right to left (Arabic, Hebrew, Persian,
Urdu, Thaana...), which a page must declare as `dir` next to `lang`; else None.
"""

from __future__ import annotations

from functools import lru_cache

# ISO 15924 scripts written right to left (the ones a language's likely script can be).
RTL_SCRIPTS = frozenset({"Adlm", "Arab", "Hebr", "Mand", "Nkoo", "Rohg", "Samr", "Syrc", "Thaa", "Yezi"})


@lru_cache(maxsize=256)
def standard_tag(raw: str) -> str:
    """`raw` as a standard BCP 47 tag; ValueError when it is not a valid one."""
    import langcodes  # only a check needs it

    if not raw or not langcodes.tag_is_valid(raw):
        raise ValueError(f"must be a language tag such as en, fr or pt-BR, got {raw!r}")
    return langcodes.standardize_tag(raw)


@lru_cache(maxsize=256)
def direction(tag: str) -> str | None:
    """'rtl' when the language of `tag` (a standard tag) is written right to left, else None."""
    import langcodes  # only a check needs it (start-up time)

    return "rtl" if langcodes.Language.get(tag).maximize().script in RTL_SCRIPTS else None
