"""Editor accounts: add, remove, list, change a password, and check one at sign-in.

Passwords are stored as argon2id hashes (argon2-cffi, its recommended parameters): memory-hard, salted,
with their parameters in the hash, so a later change of parameters rehashes on the next sign-in.
Checking a name that has no account still runs one hash, so the time taken does not tell which
names exist. Every change is appended to the audit log by the caller's actor.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from digest.editors import audit
from digest.editors.models import Editor
from digest.editors.roles import Action, Role
from digest.errors import EditorError, NotFound

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD, MAX_PASSWORD = 12, 1000

_hasher = PasswordHasher()
_DUMMY = _hasher.hash("no such editor; this hash only spends the time a real check would")


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    key: str = ""  # changes with the password: a desk session names it, so a new password signs it out

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER

    def may(self, role: Role) -> bool:
        """Whether this account may do what `role` may (an owner may do all an editor may)."""
        return self.role == Role.OWNER or role == Role.EDITOR


def _key(editor: Editor) -> str:
    return hashlib.sha256(("digest desk session:" + editor.password_hash).encode()).hexdigest()[:24]


def _account(editor: Editor) -> Account:
    return Account(editor.name, Role(editor.role), _key(editor))


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME.match(name):
        raise EditorError(
            f"{name[:80]!r} is not a usable editor name: 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise EditorError(f"the password is {len(password)} characters; use at least {MIN_PASSWORD}")
    if len(password) > MAX_PASSWORD:
        raise EditorError(f"the password is {len(password)} characters; at most {MAX_PASSWORD} are taken")
    return password


def _find(session: Session, name: str) -> Editor | None:
    return session.exec(select(Editor).where(Editor.name == name)).first()


def _get(session: Session, name: str) -> Editor:
    editor = _find(session, name)
    if editor is None:
        raise NotFound(f"there is no editor {name!r} (digest editors list names them)")
    return editor


def add_editor(session: Session, name: str, password: str, role: Role, actor: str) -> Account:
    name, role = check_name(name), Role(role)
    check_password(password)
    if _find(session, name) is not None:
        raise EditorError(f"there is an editor {name!r} already (change the password with: digest editors password)")
    session.add(Editor(name=name, role=role.value, password_hash=_hasher.hash(password)))
    audit.record(session, actor, Action.ACCOUNT_ADD, detail=f"{name} ({role})")
    return Account(name, role)


def remove_editor(session: Session, name: str, actor: str) -> None:
    editor = _get(session, check_name(name))
    owners = session.exec(select(sa.func.count()).select_from(Editor).where(Editor.role == Role.OWNER.value)).one()
    if editor.role == Role.OWNER and owners == 1:
        raise EditorError(f"{name} is the last owner; add another owner before removing this one")
    session.delete(editor)
    audit.record(session, actor, Action.ACCOUNT_REMOVE, detail=name)


def set_password(session: Session, name: str, password: str, actor: str) -> None:
    editor = _get(session, check_name(name))
    editor.password_hash = _hasher.hash(check_password(password))
    session.add(editor)
    audit.record(session, actor, Action.ACCOUNT_PASSWORD, detail=name)


def list_editors(session: Session) -> list[Account]:
    return [_account(e) for e in session.exec(select(Editor).order_by(Editor.name)).all()]


def session_account(session: Session, name: str, key: str) -> Account | None:
    """The account a desk session names, while its password is the one it signed in with."""
    editor = _find(session, name) if isinstance(name, str) and NAME.match(name) else None
    if editor is None or not isinstance(key, str) or not hmac.compare_digest(_key(editor), key):
        return None
    return _account(editor)


def check_sign_in(session: Session, name: str, password: str) -> Account | None:
    """The account when `password` is its password; None otherwise (the same time either way)."""
    editor = _find(session, name) if NAME.match(name or "") else None
    try:
        _hasher.verify(editor.password_hash if editor else _DUMMY, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if editor is None:
        return None
    if _hasher.check_needs_rehash(editor.password_hash):
        editor.password_hash = _hasher.hash(password)
        session.add(editor)
        session.flush()
    return _account(editor)
