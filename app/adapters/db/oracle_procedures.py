"""The PL/SQL procedures the service may call on Oracle (OracleRecordRepository's
execute_plsql_procedure): the seam a route to the database's procedures will use; no route
reaches it yet.

Only the procedures on the allow-list below run, each with typed binds checked before the
database is reached; the package writes an audit row for each record it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import oracledb

from app.errors import InvalidData
from app.ports.storage import AuditEntry


@dataclass(frozen=True, slots=True)
class Procedure:
    """A PL/SQL procedure the service may call, with the Python type of each parameter."""

    inputs: dict[str, type]
    outputs: dict[str, type]


# The only procedures execute_plsql_procedure runs; anything else is refused before the database.
PROCEDURES = {
    "data_records_bulk.touch_users": Procedure({"p_user_ids": list}, {"p_touched": int}),
    "data_records_bulk.purge_before": Procedure({"p_cutoff": datetime}, {"p_purged": int}),
}


def check_call(name: str, params: dict[str, Any]) -> Procedure:
    """The allow-listed procedure, once `params` are exactly its inputs, of their types."""
    procedure = PROCEDURES.get(name)
    if procedure is None:
        raise InvalidData(f"{name!r} is not a procedure the service may call")
    if set(params) != set(procedure.inputs):
        raise InvalidData(f"{name} takes exactly {sorted(procedure.inputs)}")
    for key, kind in procedure.inputs.items():
        if not isinstance(params[key], kind) or (
            kind is list and not all(isinstance(v, str) for v in params[key])
        ):
            raise InvalidData(f"{name}: {key} must be a {kind.__name__}")
    return procedure


async def call_procedure(
    conn: oracledb.AsyncConnection,
    name: str,
    procedure: Procedure,
    params: dict[str, Any],
    audit: AuditEntry,
) -> dict[str, Any]:
    """Call the procedure with typed binds, naming `audit`'s actor; its OUT parameters."""
    cursor = conn.cursor()
    args: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, list):
            args[key] = cursor.arrayvar(str, value, 100)
        elif isinstance(value, datetime):
            args[key] = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        else:
            args[key] = value
    args["p_actor"] = audit.actor
    args["p_request_id"] = audit.request_id
    outs = {key: cursor.var(int) for key in procedure.outputs}
    await cursor.callproc(name, keyword_parameters={**args, **outs})
    return {key: var.getvalue() for key, var in outs.items()}
