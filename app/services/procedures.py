"""POST /procedures/{name}: the database's procedures a client may call, each declared once
here with its arguments, the role that may call it and whose records it acts on. A name not
declared here has no route (404): no database is asked."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from app.auth import Caller
from app.errors import Forbidden
from app.ports.storage import AuditEntry, RecordRepository
from app.schemas.records import UserId
from app.services.policy import RecordsBase, audit, limit_key, may_write, owner

MAX_USERS = 100


class TouchUsers(Struct, forbid_unknown_fields=True, kw_only=True):
    """touch_users' arguments: the users whose every record gets a new updated_at and version."""

    user_ids: Annotated[list[UserId], Meta(min_length=1, max_length=MAX_USERS)]


class ProcedureResult(Struct, kw_only=True):
    """What a procedure reports: its name and how many records it touched."""

    procedure: str
    touched: int


@dataclass(frozen=True, slots=True)
class Procedure:
    """A procedure a client may call: its arguments' Struct, the role it needs (writer: on its
    own users' records, as a write; admin: anyone's), the users it acts on, and the call."""

    arguments: type[Struct]
    role: Literal["writer", "admin"]
    summary: str
    users: Callable[[Any], list[str]]
    call: Callable[[RecordRepository, list[str], AuditEntry], Awaitable[int]]  # on those users


PROCEDURES: dict[str, Procedure] = {
    "touch_users": Procedure(
        TouchUsers,
        "writer",
        "Give every record of the listed users a new updated_at and count its version up, each "
        "audited as an update (Oracle: data_records_bulk.touch_users, FORALL; PostgreSQL: the "
        "data_records_touch_users function; SQLite: one UPDATE). A writer lists its own user only",
        users=lambda arguments: list(dict.fromkeys(arguments.user_ids)),
        call=lambda repository, users, entry: repository.touch_users(users, entry),
    ),
}


class RecordProcedures(RecordsBase):
    """Calls of the declared procedures, checked as writes are."""

    async def call_procedure(self, name: str, arguments: Struct, caller: Caller) -> ProcedureResult:
        """Run a declared procedure for the caller: its role, ownership of every user it acts
        on, the write mode and the caller's budget are checked first; the users' cached pages
        are dropped before it answers."""
        declared = PROCEDURES[name]  # a route each: another name has none
        may_write(caller)
        if declared.role == "admin" and caller.principal is not None and not caller.principal.is_admin:
            raise Forbidden(f"only an admin calls {name}")
        self._maintenance.check_writable()
        users = declared.users(arguments)
        for user_id in users:
            owner(caller, user_id)
        await self._admit(limit_key(caller, users[0]))
        touched = await declared.call(self._repository, users, audit(caller))
        await asyncio.gather(*map(self._cache.invalidate_user, users))
        return ProcedureResult(procedure=name, touched=touched)
