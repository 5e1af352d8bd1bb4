"""Each status and state is named once: no bare status word outside the module that names it.

Read from the source (nothing imported but the names themselves). Every string constant of
digest/, subscribers/ and schedules/ (f-string parts included, docstrings left out) is looked at:
a constant that is a vocabulary's word ("paused"), or SQL text quoting one (`state = 'claimed'`),
is reported with its file and line, unless the file is the one that names that vocabulary. Write
the name instead (`EditionStatus.PAUSED`; in SQL text `f"state = '{CLAIMED}'"` or a bound
parameter). Alembic migrations are frozen history and are not read. The templates' Jinja tags
(`{% if reader.status == "pending" %}`) are read too: a page receives the names in its context
(`reader_status.PENDING`, `statuses.SENT`).

A vocabulary is checked where its names can be imported: digest's own in digest/, a library's in
that library and in digest (a library imports nothing of digest, so "stopped" in schedules/ is not
one of digest's send outcomes).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from digest.delivery.states import DeliveryState, SendOutcome
from digest.editions.status import EditionStatus
from schedules.outcomes import UNFINISHED, RunOutcome
from subscribers import status as reader_status

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("digest", "subscribers", "schedules")


@dataclass(frozen=True)
class Vocabulary:
    name: str
    home: str  # the module that names the words, relative to the repository
    words: frozenset[str]
    checked_in: tuple[str, ...]  # top-level packages that can import the names


VOCABULARIES = (
    Vocabulary("edition status", "digest/editions/status.py", frozenset(EditionStatus), ("digest",)),
    Vocabulary("ledger state", "digest/delivery/states.py", frozenset(DeliveryState), ("digest",)),
    Vocabulary("send outcome", "digest/delivery/states.py", frozenset(SendOutcome), ("digest",)),
    Vocabulary("run outcome", "schedules/outcomes.py", frozenset({*RunOutcome, UNFINISHED}), ("schedules", "digest")),
    Vocabulary("reader status", "subscribers/status.py", frozenset(reader_status.ALL), ("subscribers", "digest")),
)


# Words that are something else where they stand, each with its reason.
NOT_A_STATUS = {
    ("digest/web/webhook.py", "suppressed"): "a count in the webhook's JSON answer: readers the batch stopped",
}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    word: str
    vocabulary: str

    def __str__(self) -> str:
        home = next(v.home for v in VOCABULARIES if v.name == self.vocabulary)
        return f"{self.path}:{self.line}: {self.word!r} is a {self.vocabulary}: use its name from {home}"


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes (a module's, a class's, a function's first statement)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _quoted(words) -> re.Pattern:
    """A word quoted as an SQL string literal: 'claimed'."""
    return re.compile("'(" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + ")'")


def check_source(source: str, path: str) -> list[Finding]:
    """The status literals in one file's source (`path` relative to the repository, as `digest/x.py`)."""
    package = path.split("/", 1)[0]
    wanted: dict[str, list[str]] = {}  # word -> the vocabularies it belongs to, checked in this file
    for vocabulary in VOCABULARIES:
        if package in vocabulary.checked_in:
            for word in vocabulary.words:
                wanted.setdefault(word, []).append(vocabulary.name)
    own = {word for v in VOCABULARIES if v.home == path for word in v.words}  # named here: allowed
    for word in own:
        wanted.pop(word, None)
    if not wanted:
        return []
    quoted = _quoted(wanted)
    tree = ast.parse(source, filename=path)
    skip = _docstrings(tree)
    findings = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in skip:
            continue
        words = [node.value] if node.value in wanted else quoted.findall(node.value)
        findings += [
            Finding(path, node.lineno, word, wanted[word][0]) for word in words if (path, word) not in NOT_A_STATUS
        ]
    return sorted(findings, key=lambda f: (f.path, f.line, f.word))


def check_tree(root: Path) -> list[Finding]:
    findings = []
    for top in SCANNED:
        for file in sorted((root / top).rglob("*.py")):
            if "migrations" in file.relative_to(root).parts:  # Alembic scripts: frozen history
                continue
            findings += check_source(file.read_text(encoding="utf-8"), file.relative_to(root).as_posix())
    return findings


_JINJA_TAG = re.compile(r"\{[{%].*?[%}]\}", re.S)
ALL_WORDS = {word: v.name for v in reversed(VOCABULARIES) for word in v.words}


def check_template(text: str, path: str) -> list[Finding]:
    """A vocabulary's word quoted inside a Jinja tag of a template (markup outside the tags is not read)."""
    quoted = re.compile("[\"'](" + "|".join(sorted(map(re.escape, ALL_WORDS), key=len, reverse=True)) + ")[\"']")
    return [
        Finding(path, text.count("\n", 0, tag.start() + word.start()) + 1, word.group(1), ALL_WORDS[word.group(1)])
        for tag in _JINJA_TAG.finditer(text)
        for word in quoted.finditer(tag.group(0))
    ]


def check_templates(root: Path) -> list[Finding]:
    findings = []
    for file in sorted((root / "templates").rglob("*")):
        if file.is_file() and file.suffix in (".html", ".j2", ".mjml", ".txt", ".xml"):
            findings += check_template(file.read_text(encoding="utf-8"), file.relative_to(root).as_posix())
    return findings


def test_the_vocabularies_are_read_from_their_names():
    assert {"draft", "sending", "paused", "sent"} == {str(s) for s in EditionStatus}
    assert {"claimed", "sent", "failed", "uncertain", "skipped"} == {str(s) for s in DeliveryState}
    for vocabulary in VOCABULARIES:
        assert (ROOT / vocabulary.home).is_file(), vocabulary.home


def test_no_status_or_state_literal_outside_the_module_that_names_it():
    findings = check_tree(ROOT) + check_templates(ROOT)
    assert not findings, "status words written out instead of named:\n" + "\n".join(map(str, findings))


PLANTED = '''"""A docstring may say 'claimed' and "paused": it is prose."""
from digest.delivery.states import DeliveryState

CLAIMED = DeliveryState.CLAIMED
FINE = f"UPDATE delivery SET state = '{CLAIMED}' WHERE id = :id"


def pause(connection, edition_id):
    connection.exec_driver_sql("UPDATE delivery SET state = 'uncertain' WHERE state = 'claimed'")
    if edition.status == "paused":
        return {"skipped": 1}
    return f"{edition_id}: " + "sent"
'''


def test_the_check_reports_a_planted_literal_with_its_file_and_line():
    found = [(f.path, f.line, f.word, f.vocabulary) for f in check_source(PLANTED, "digest/delivery/planted.py")]
    assert found == [
        ("digest/delivery/planted.py", 9, "claimed", "ledger state"),
        ("digest/delivery/planted.py", 9, "uncertain", "ledger state"),
        ("digest/delivery/planted.py", 10, "paused", "edition status"),
        ("digest/delivery/planted.py", 11, "skipped", "ledger state"),
        ("digest/delivery/planted.py", 12, "sent", "edition status"),
    ]
    assert str(check_source(PLANTED, "digest/delivery/planted.py")[0]) == (
        "digest/delivery/planted.py:9: 'claimed' is a ledger state: use its name from digest/delivery/states.py"
    )


def test_a_planted_file_in_a_copy_of_the_tree_fails_the_check(tmp_path):
    """The whole scan, over a tree holding one bad file: found there, at its line."""
    for top in SCANNED:
        (tmp_path / top).mkdir()
    (tmp_path / "digest" / "migrations").mkdir()
    (tmp_path / "digest" / "migrations" / "0001_old.py").write_text('STATES = ("claimed", "sent")\n')
    (tmp_path / "schedules" / "runner.py").write_text('log = "stopped"\nstate = "missed"\n')
    (tmp_path / "digest" / "jobs.py").write_text('\n\nif summary.status == "waiting":\n    pass\n')
    found = [(f.path, f.line, f.word) for f in check_tree(tmp_path)]
    # "stopped" in schedules/ is not digest's (schedules cannot import it); the migration is history.
    assert found == [("digest/jobs.py", 3, "waiting"), ("schedules/runner.py", 2, "missed")]


def test_the_module_that_names_a_vocabulary_may_write_its_words():
    assert check_source('SENT = "sent"\nCLAIMED = "claimed"\n', "digest/delivery/states.py") == []
    assert [f.word for f in check_source('SENT = "sent"\n', "digest/editions/status.py")] == []
    assert [f.word for f in check_source('X = "claimed"\n', "digest/editions/status.py")] == ["claimed"]


def test_the_check_reports_a_status_word_planted_in_a_templates_jinja_tag(tmp_path):
    (tmp_path / "templates" / "pages").mkdir(parents=True)
    (tmp_path / "templates" / "pages" / "planted.html").write_text(
        '<p class="sent">markup is not read</p>\n'
        "{% if reader.status == reader_status.ACTIVE %}named: fine{% endif %}\n"
        '<p>{% if state.status\n   == "paused" %}paused{% endif %}</p>\n'
    )
    found = [(f.path, f.line, f.word) for f in check_templates(tmp_path)]
    assert found == [("templates/pages/planted.html", 4, "paused")]
