"""Where the templates live, and the Jinja2 environments that read them.

In a checkout they are in ./templates; an installed wheel carries them as
digest/templates. DIGEST_TEMPLATES names a folder of the publisher's own
templates laid out the same way (`digest templates copy DIR` starts one): a
template found there, partials included, is read instead of the shipped one of
the same name; any other comes from the shipped folder.

Environments re-read a template whose file changed (Jinja's auto_reload), and
notice an override created or removed after a template was first read, which
is what lets `digest editions preview --serve` pick up edits.
"""

from __future__ import annotations

import shutil
import textwrap
from functools import cache
from pathlib import Path

import jinja2

import digest
from digest.errors import ConfigError, EditionError
from digest.language import direction
from digest.words import agreeing, counted


@cache  # a path resolved once: every compile names its template file
def templates_root() -> Path:
    packaged = Path(digest.__file__).resolve().parent / "templates"
    return packaged if packaged.is_dir() else Path(digest.__file__).resolve().parent.parent / "templates"


def wrap(value: object, width: int = 78, indent: int = 0, first: int = 0) -> str:
    """Lines of at most `width` columns, broken between words only: a URL (or any word longer than a
    line) is never cut and stands whole on a line of its own. `first` spaces open the first line,
    `indent` spaces the others. The text part's filter: `{{ c.summary | wrap(78) }}`."""
    text = str(value)
    if len(text) + first <= width and "\n" not in text and "  " not in text:
        return " " * first + text  # most lines: no need for textwrap's machinery (a text part has hundreds)
    return textwrap.fill(
        text,
        width,
        initial_indent=" " * first,
        subsequent_indent=" " * indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def folders(override: Path | None = None, root: Path | None = None) -> tuple[Path, ...]:
    """The folders searched, first match wins: the publisher's `override`, then the shipped templates."""
    shipped = root or templates_root()
    return (override, shipped) if override is not None else (shipped,)


class OverrideLoader(jinja2.BaseLoader):
    """A choice of FileSystemLoaders, first match wins; a template stays fresh only while no earlier
    folder gained a file of that name (so an override created while the preview runs is picked up).

    A BaseLoader rather than Jinja's ChoiceLoader, whose `load` would bypass this `get_source`."""

    def __init__(self, searched: tuple[Path, ...]):
        self.loaders = [jinja2.FileSystemLoader(str(folder)) for folder in searched]
        self.searched = searched

    def get_source(self, environment: jinja2.Environment, template: str):
        for index, loader in enumerate(self.loaders):
            try:
                source, filename, uptodate = loader.get_source(environment, template)
            except jinja2.TemplateNotFound:
                continue
            earlier = [folder.joinpath(*template.split("/")) for folder in self.searched[:index]]
            return source, filename, lambda: bool(uptodate and uptodate()) and not any(p.is_file() for p in earlier)
        raise jinja2.TemplateNotFound(template)


# A comparison's card is the same in every letter of a send that shows it at that position of that many
# (and in each of clip.fit's attempts at one letter): `{{ once(comparison, c, total) }}` fills the macro
# once for those arguments. Kept by the macro itself: a template changed on disk is a new macro.
_ONCE: dict[tuple, str] = {}
_ONCE_KEPT = 1024


def once(macro: jinja2.runtime.Macro, *args: object) -> str:
    """The macro's output for these arguments, filled once (unhashable ones: every time)."""
    try:
        key = (macro, *args)
        found = _ONCE.get(key)
    except TypeError:
        return macro(*args)
    if found is None:
        if len(_ONCE) >= _ONCE_KEPT:
            _ONCE.clear()
        found = _ONCE[key] = macro(*args)
    return found


@cache
def environment(kind: str, root: Path | None = None, override: Path | None = None) -> jinja2.Environment:
    """'markup' escapes every value (MJML and HTML); 'text' writes values as they are (the text part)."""
    if kind not in ("markup", "text"):
        raise ValueError(f"unknown template kind {kind!r}")
    made = jinja2.Environment(
        loader=OverrideLoader(folders(override, root)),
        autoescape=kind == "markup",
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=True,
    )
    made.filters["wrap"] = wrap
    made.filters["counted"] = counted  # {{ n|counted("reader") }}: "1 reader", "2 readers" (digest.words)
    made.filters["agreeing"] = agreeing  # {{ n|agreeing("gets", "get") }}
    made.filters["direction"] = direction  # {{ "ar"|direction }}: "rtl", or None (digest.language)
    made.globals["once"] = once
    return made


def template_file(name: str, root: Path | None = None, override: Path | None = None) -> str:
    """The file a template name is read from: the override's when it has one, else the shipped one."""
    for folder in folders(override, root):
        path = folder.joinpath(*name.split("/"))
        if path.is_file():
            return str(path)
    return f"templates/{name}"


def where(exc: jinja2.TemplateError, name: str, root: Path | None = None, override: Path | None = None) -> str:
    """'FILE, line N' for a template error: the file actually read, which may be an override or a partial."""
    filename, line = getattr(exc, "filename", None), getattr(exc, "lineno", None)
    if filename is None:  # an error while filling: Jinja's traceback runs through the template's own lines
        searched = tuple(str(folder) for folder in folders(override, root))
        frame = exc.__traceback__
        while frame is not None:
            code_file = frame.tb_frame.f_code.co_filename
            if code_file.startswith(searched):
                filename, line = code_file, frame.tb_lineno
            frame = frame.tb_next
    filename = filename or template_file(getattr(exc, "name", None) or name, root, override)
    return f"{filename}, line {line}" if line else filename


def fill(kind: str, name: str, root: Path | None, override: Path | None, **context: object) -> str:
    """A template filled with `context`; a template that does not parse or cannot be filled becomes an
    EditionError naming the file actually read and its line (every email goes through here)."""
    try:
        return environment(kind, root, override).get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise EditionError(f"{where(exc, name, root, override)}: {exc.message}") from exc
    except jinja2.TemplateError as exc:
        raise EditionError(f"{where(exc, name, root, override)} cannot be filled: {exc}") from exc


def copy_templates(destination: Path, *, overwrite: bool = False) -> list[Path]:
    """Write the shipped templates into `destination` (kept in their folders); returns the files written.

    Files already there are left alone and named in a ConfigError, unless `overwrite`.
    """
    shipped = templates_root()
    sources = sorted(p for p in shipped.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    targets = [destination / p.relative_to(shipped) for p in sources]
    if destination.exists() and not destination.is_dir():
        raise ConfigError(f"{destination} is a file; give a folder for the templates")
    clashes = [t for t in targets if t.exists()]
    if clashes and not overwrite:
        shown = ", ".join(str(t.relative_to(destination)) for t in clashes[:5])
        more = f" and {len(clashes) - 5} more" if len(clashes) > 5 else ""
        raise ConfigError(
            f"{destination} already holds {shown}{more}; nothing was copied "
            "(choose an empty folder, or pass --force to overwrite them)"
        )
    try:
        for source, target in zip(sources, targets):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    except OSError as exc:
        raise ConfigError(f"cannot write the templates into {destination}: {exc.strerror or exc}") from exc
    return targets
