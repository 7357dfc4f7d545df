"""Staff accounts (工作人员): who may log in to the agent console, their role and themed windows, argon2
password hashes, and the append-only audit trail of what staff did.
"""

from __future__ import annotations

import asyncio
import builtins
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import JSON, Column, event
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, select

from core.db import SessionFactory, UTCDateTime, utcnow
from core.errors import Conflict, InvalidInput, NotFound
from handoff.windows import ALL_WINDOWS

Role = Literal["agent", "supervisor", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
USERNAME_PATTERN = re.compile(r"^[a-z0-9_.-]{3,32}$")
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 256
MAX_DISPLAY_NAME_CHARS = 64

# Verified against when a username does not exist, so an unknown user costs as much time as a wrong
# password. Made with this module's default PasswordHasher; if the defaults change, a fresh one is made once.
_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$qbp/LxQ54+6Zi+P48KlBGw$ssEHudGi/75PJgQzmf45aCpDdSznJPvDPirtR81tndo"


class StaffAccount(SQLModel, table=True):
    """A person who may log in to the agent console. Accounts are disabled, never deleted: the audit
    trail keeps pointing at them.
    """

    __tablename__ = "staff_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=64)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16, description="agent, supervisor or admin")
    windows: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class StaffAudit(SQLModel, table=True):
    """One state-changing request to the agent API (a failed login included), with its outcome.
    Append-only: the ORM refuses to update or delete a row.
    """

    __tablename__ = "staff_audit"

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int | None = Field(default=None, foreign_key="staff_account.id", index=True)
    username: str = Field(max_length=64, description="the account's, or the one tried in a failed login")
    action: str = Field(max_length=128, description='method and route, e.g. "POST /api/v1/agent/login"')
    target: str | None = Field(default=None, max_length=200)
    status: int
    ip: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


@event.listens_for(StaffAudit, "before_update")
@event.listens_for(StaffAudit, "before_delete")
def _audit_is_append_only(_mapper: Any, _connection: Any, _target: StaffAudit) -> None:
    raise RuntimeError("staff_audit is append-only")


@dataclass(frozen=True)
class StaffMember:
    """A logged-in (active) staff member as the rest of the code sees them: no password hash."""

    id: int
    username: str
    display_name: str
    role: Role
    windows: tuple[str, ...]

    @property
    def is_supervisor(self) -> bool:
        """Supervisors and admins oversee every window."""
        return self.role in ("supervisor", "admin")

    def can_see_window(self, window: str) -> bool:
        """Whether tickets and cases of `window` are visible to this person."""
        return self.is_supervisor or window in self.windows

    def to_json(self) -> dict[str, Any]:
        """The API's view of a staff member."""
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "windows": list(self.windows),
        }

    @classmethod
    def from_account(cls, account: StaffAccount) -> StaffMember:
        """The member for a stored account."""
        if account.id is None:
            raise ValueError("account not saved yet")
        return cls(
            id=account.id,
            username=account.username,
            display_name=account.display_name,
            role=cast(Role, account.role),
            windows=tuple(account.windows),
        )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"密码至少需要 {MIN_PASSWORD_CHARS} 个字符。", code="weak_password")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"密码不能超过 {MAX_PASSWORD_CHARS} 个字符。", code="invalid_field")


def _check_windows(role: str, windows: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(w.strip() for w in windows))
    unknown = [w for w in chosen if w not in ALL_WINDOWS]
    if unknown:
        raise InvalidInput(f"未知的窗口：{'、'.join(unknown)}。可选：{'、'.join(ALL_WINDOWS)}。", code="invalid_window")
    if role == "agent" and not chosen:
        raise InvalidInput("坐席（agent）至少需要指定一个窗口。", code="invalid_window")
    return chosen


def normalise_username(username: str) -> str:
    """Usernames are compared lower-case without surrounding spaces."""
    return username.strip().lower()


@dataclass(frozen=True)
class NewAccount:
    """The checked fields of an account to be created (everything but the password)."""

    username: str
    role: Role
    windows: tuple[str, ...]
    display_name: str


def check_new_account(username: str, role: str, windows: Iterable[str], display_name: str | None = None) -> NewAccount:
    """Validate an account's fields, raising InvalidInput that names the first bad one. The CLI calls it
    before asking for the password.
    """
    name = normalise_username(username)
    if not USERNAME_PATTERN.match(name):
        raise InvalidInput("用户名只能包含小写字母、数字和 _ . -，长度 3–32 个字符。", code="invalid_username")
    if role not in ROLES:
        raise InvalidInput(f"角色必须是 {'、'.join(ROLES)} 之一。", code="invalid_role")
    chosen = _check_windows(role, windows)
    shown = (display_name or "").strip() or name
    if len(shown) > MAX_DISPLAY_NAME_CHARS:
        raise InvalidInput(f"显示名不能超过 {MAX_DISPLAY_NAME_CHARS} 个字符。", code="invalid_field")
    return NewAccount(username=name, role=cast(Role, role), windows=tuple(chosen), display_name=shown)


class StaffService:
    """Staff accounts and the audit trail. Password hashing runs in threads, a few at a time, so a burst of
    logins neither blocks the event loop nor takes 64 MiB per request without bound.
    """

    def __init__(self, db: SessionFactory, hasher: PasswordHasher | None = None, max_parallel_hashes: int = 4) -> None:
        self._db = db
        self._hasher = hasher or PasswordHasher()
        self._hash_slots = asyncio.Semaphore(max_parallel_hashes)
        self._dummy_hash: str | None = None

    async def _hash(self, password: str) -> str:
        async with self._hash_slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        async with self._hash_slots:
            try:
                return await asyncio.to_thread(self._hasher.verify, password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            needs_new = self._hasher.check_needs_rehash(_DUMMY_HASH)
            self._dummy_hash = await self._hash("not-a-real-password") if needs_new else _DUMMY_HASH
        return self._dummy_hash

    async def _account(self, username: str) -> StaffAccount | None:
        async with self._db() as db:
            query = select(StaffAccount).where(StaffAccount.username == normalise_username(username))
            return (await db.exec(query)).first()

    async def add(
        self,
        username: str,
        password: str,
        *,
        role: str = "agent",
        windows: Iterable[str] = (),
        display_name: str | None = None,
    ) -> StaffMember:
        """Create an account; InvalidInput names the first bad field, Conflict a taken username."""
        new = check_new_account(username, role, windows, display_name)
        _check_password(password)
        name = new.username
        if await self._account(name) is not None:
            raise Conflict(f"用户名 {name} 已存在。", code="username_taken")
        account = StaffAccount(
            username=name,
            display_name=new.display_name,
            password_hash=await self._hash(password),
            role=new.role,
            windows=list(new.windows),
        )
        async with self._db() as db:
            db.add(account)
            try:
                await db.commit()
            except IntegrityError:  # created by someone else in the meantime
                raise Conflict(f"用户名 {name} 已存在。", code="username_taken") from None
            await db.refresh(account)
        return StaffMember.from_account(account)

    async def authenticate(self, username: str, password: str) -> StaffMember | None:
        """The member whose username and password these are, or None. An unknown username, a disabled
        account and a wrong password look the same and take about the same time.
        """
        account = await self._account(username) if username.strip() else None
        if account is None:
            await self._verify(await self._dummy(), password)
            return None
        if not await self._verify(account.password_hash, password) or not account.active:
            return None
        if self._hasher.check_needs_rehash(account.password_hash):
            new_hash = await self._hash(password)
            async with self._db() as db:
                row = await db.get(StaffAccount, account.id)
                if row is not None:
                    row.password_hash = new_hash
                    db.add(row)
                    await db.commit()
        return StaffMember.from_account(account)

    async def get(self, staff_id: int) -> StaffMember | None:
        """The active member with this id (None once the account is disabled)."""
        async with self._db() as db:
            account = await db.get(StaffAccount, staff_id)
        if account is None or not account.active:
            return None
        return StaffMember.from_account(account)

    async def shown_name(self, username: str) -> str | None:
        """What a citizen is told a staff member is called: the display name; None when the account has none of
        its own (it defaults to the login name, which citizens are not shown) or is gone.
        """
        account = await self._account(username)
        if account is None or not account.display_name or account.display_name == account.username:
            return None
        return account.display_name

    async def list(self) -> builtins.list[StaffAccount]:
        """Every account, disabled ones included, by username."""
        async with self._db() as db:
            return builtins.list((await db.exec(select(StaffAccount).order_by(col(StaffAccount.username)))).all())

    async def set_password(self, username: str, password: str) -> None:
        """Replace an account's password."""
        _check_password(password)
        new_hash = await self._hash(password)
        await self._update(username, password_hash=new_hash)

    async def disable(self, username: str) -> None:
        """Disable an account: its sessions stop working on their next request."""
        await self._update(username, active=False)

    async def _update(self, username: str, **values: Any) -> None:
        name = normalise_username(username)
        async with self._db() as db:
            account = (await db.exec(select(StaffAccount).where(StaffAccount.username == name))).first()
            if account is None:
                raise NotFound(f"没有用户名为 {name} 的工作人员。", code="unknown_staff")
            for field, value in values.items():
                setattr(account, field, value)
            db.add(account)
            await db.commit()

    async def audit(
        self,
        *,
        action: str,
        status: int,
        username: str = "",
        staff_id: int | None = None,
        target: str | None = None,
        ip: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one audit row (over-long text is cut to its column)."""
        row = StaffAudit(
            staff_id=staff_id,
            username=username[:64],
            action=action[:128],
            target=target[:200] if target else None,
            status=status,
            ip=ip[:64] if ip else None,
            detail=detail or {},
        )
        async with self._db() as db:
            db.add(row)
            await db.commit()

    async def recent_audit(self, limit: int = 100) -> builtins.list[StaffAudit]:
        """The newest audit rows first."""
        async with self._db() as db:
            query = select(StaffAudit).order_by(col(StaffAudit.id).desc()).limit(limit)
            return builtins.list((await db.exec(query)).all())
