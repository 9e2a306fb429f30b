"""Oracle checks that need no database: SQL parses, binds agree with the code, PL/SQL units are
well formed, driver errors map to the service's own, the allow-list holds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp
from starlette.routing import Route

from app.adapters.db.oracle import OracleRecordRepository, error_for
from app.adapters.db.oracle_target import OracleTarget
from app.adapters.db.sqlfiles import (
    BindMismatch,
    Statements,
    load_migrations,
    load_queries,
    split_oracle_script,
    strip_comments,
)
from app.errors import InvalidData, NotFound, SchemaMissing, StorageConflict, StorageUnavailable
from app.observability import context
from app.services.procedures import PROCEDURES
from app.settings import DEFAULT_PLSQL_DIR, DEFAULT_SQL_DIR

ORACLE_SQL = sorted((DEFAULT_SQL_DIR / "oracle").glob("*.sql"))
PLSQL = sorted(DEFAULT_PLSQL_DIR.glob("*.pk[sb]"))
# sqlglot's Oracle dialect reads RETURNING ... INTO with one target only; the INTO list is cut
# before parsing (its binds are still checked against the code below).
_RETURNING_INTO = re.compile(r"(RETURNING\s+.+?)\s+INTO\s+:\w+(\s*,\s*:\w+)*\s*$", re.IGNORECASE | re.DOTALL)


@pytest.mark.parametrize("path", ORACLE_SQL, ids=lambda p: p.name)
def test_each_oracle_statement_parses(path: Path) -> None:
    statement = _RETURNING_INTO.sub(r"\1", strip_comments(path.read_text()))
    if statement.startswith("BEGIN"):  # an anonymous block: one call of a package's procedure
        (call,) = re.findall(r"(\w+)\.(\w+)\s*\(", statement)
        assert statement.rstrip().endswith("END;")
        spec = (DEFAULT_PLSQL_DIR / f"{call[0]}.pks").read_text()
        assert re.search(rf"PROCEDURE {call[1]}\b", spec), f"{call} is not in the package's spec"
        return

    parsed = sqlglot.parse_one(statement, read="oracle")

    if isinstance(parsed, exp.Command):
        pytest.skip(f"unchecked: sqlglot keeps {path.name} only as an unparsed command")
    assert isinstance(parsed, exp.Select | exp.Insert | exp.Update | exp.Delete | exp.Merge)


def test_a_bind_the_code_does_not_know_stops_the_start() -> None:
    with pytest.raises(BindMismatch, match="get_record"):
        Statements({"get_record": "SELECT 1 FROM t WHERE id = :record_id"}, {"get_record": frozenset({"id"})})
    with pytest.raises(BindMismatch, match="no SQL file"):
        Statements({}, {"get_record": frozenset({"id"})})


@pytest.mark.parametrize("path", PLSQL, ids=lambda p: p.name)
def test_each_plsql_unit_is_well_formed(path: Path) -> None:
    units = split_oracle_script(path.read_text())  # raises when a unit lacks its closing "/"

    assert len(units) == 1
    head = re.match(r"CREATE OR REPLACE PACKAGE (BODY )?(\w+)", units[0].strip(), re.IGNORECASE)
    assert head is not None, "a unit starts with CREATE OR REPLACE PACKAGE [BODY] name"
    assert (head.group(1) is not None) == (path.suffix == ".pkb")
    assert re.search(rf"END {head.group(2)};\s*$", units[0], re.IGNORECASE), "it ends with END name;"
    assert path.read_text().rstrip().endswith("/")


@pytest.mark.parametrize("spec_path", sorted(DEFAULT_PLSQL_DIR.glob("*.pks")), ids=lambda p: p.stem)
def test_the_body_implements_every_procedure_and_function_of_the_spec(spec_path: Path) -> None:
    spec = split_oracle_script(spec_path.read_text())[0]
    body = split_oracle_script(spec_path.with_suffix(".pkb").read_text())[0]
    declared = set(re.findall(r"(?:PROCEDURE|FUNCTION) (\w+)", spec))

    assert declared  # the body may add private helpers
    assert declared <= set(re.findall(r"(?:PROCEDURE|FUNCTION) (\w+)", body))


def test_every_declared_procedure_has_its_statement_in_every_dialect() -> None:
    for name in PROCEDURES:
        assert all(
            (DEFAULT_SQL_DIR / dialect / f"{name}.sql").exists()
            for dialect in ("oracle", "postgres", "sqlite")
        )


def test_the_migration_splits_into_its_statements() -> None:
    create, audit, keys, version, search = load_migrations(DEFAULT_SQL_DIR, "oracle")

    statements = split_oracle_script(create.sql)

    assert [s.split()[0].upper() for s in statements] == ["DECLARE", "CREATE", "CREATE", "CREATE"]
    assert statements[0].rstrip().endswith("END;") and not statements[1].endswith(";")
    assert "INTERVAL (NUMTOYMINTERVAL(1, ''MONTH''))" in statements[0]
    assert [s.split()[:3] for s in split_oracle_script(audit.sql)] == [
        ["CREATE", "TABLE", "data_audit"],
        ["CREATE", "INDEX", "idx_data_audit_record"],
        ["CREATE", "INDEX", "idx_data_audit_occurred"],
    ]
    assert [s.split()[:3] for s in split_oracle_script(keys.sql)] == [
        ["CREATE", "TABLE", "idempotency_keys"],
        ["CREATE", "INDEX", "idx_idempotency_keys_expires"],
    ]
    assert [s.split()[:3] for s in split_oracle_script(version.sql)] == [["ALTER", "TABLE", "data_records"]]
    (index,) = split_oracle_script(search.sql)  # one PL/SQL block: the index unless it is there
    assert index.startswith("DECLARE") and "CREATE SEARCH INDEX idx_data_records_payload_text" in index


def test_optional_migrations_are_apart() -> None:
    optional = load_migrations(DEFAULT_SQL_DIR, "oracle", "optional")

    assert [m.version for m in optional] == [101]
    assert "SEARCH INDEX" in optional[0].sql


def test_the_splitter_keeps_plsql_units_whole() -> None:
    script = """-- a comment
CREATE TABLE t (a NUMBER);
BEGIN
    INSERT INTO t VALUES (1);
    COMMIT;
END;
/
INSERT INTO t VALUES (';');
"""
    assert split_oracle_script(script) == [
        "CREATE TABLE t (a NUMBER)",
        "BEGIN\n    INSERT INTO t VALUES (1);\n    COMMIT;\nEND;",
        "INSERT INTO t VALUES (';')",
    ]
    with pytest.raises(ValueError, match="ends inside"):
        split_oracle_script("BEGIN\n  NULL;\nEND;\n")


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("ORA-00001", StorageConflict),
        ("ORA-12899", InvalidData),
        ("ORA-02290", InvalidData),
        ("ORA-01403", NotFound),
        ("DPY-4011", StorageUnavailable),
        ("DPY-6005", StorageUnavailable),
        ("ORA-03113", StorageUnavailable),
        ("ORA-00942", SchemaMissing),  # the table is not there: never migrated
    ],
)
def test_driver_errors_become_the_services_own(code: str, kind: type) -> None:
    error = error_for(code)

    assert type(error) is kind
    assert code not in error.detail  # driver codes stay in the log


@pytest.mark.parametrize(
    ("code", "safe"),
    [
        ("DPY-6005", True),  # no connection could be made
        ("ORA-12541", True),  # no listener
        ("ORA-00060", True),  # deadlock: the statement was rolled back
        ("ORA-08177", True),  # serialization failure
        ("DPY-4024", False),  # call timeout: the statement went out
        ("DPY-4011", False),  # the connection closed mid-call
        ("ORA-03113", False),
        ("ORA-00001", False),  # the caller's conflict, never retried
    ],
)
def test_only_failures_that_changed_nothing_are_safe_to_retry(code: str, safe: bool) -> None:
    assert getattr(error_for(code), "safe_to_retry", False) is safe


def test_oracle_urls() -> None:
    target = OracleTarget.from_url("oracle://app:p%40ss%3Aword@db.example:1522/FREEPDB1")

    assert (target.user, target.password, target.host, target.port, target.service_name) == (
        "app",
        "p@ss:word",
        "db.example",
        1522,
        "FREEPDB1",
    )
    assert OracleTarget.from_url("oracle://app:pw@db/ORCL").port == 1521
    for bad in ("oracle://db:1521/x", "oracle://app:pw@db:1521", "postgresql://a:b@c/d"):
        with pytest.raises(ValueError):
            OracleTarget.from_url(bad)


class _Session:
    """What the repository sets on a pooled Oracle session, recorded (no database here)."""

    def __init__(self) -> None:
        self.call_timeout = 0

    async def __aenter__(self) -> _Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class _Pool:
    """A pool of one session, handed out again and again as a real pool reuses its sessions."""

    def __init__(self) -> None:
        self.session = _Session()
        self.busy = self.opened = self.max = 1

    async def acquire(self) -> _Session:
        return self.session


@pytest.mark.anyio
async def test_each_acquire_tags_the_session_with_the_request_and_resets_what_the_last_one_set() -> None:
    repository = OracleRecordRepository(
        "oracle://u:p@db:1521/svc", load_queries(DEFAULT_SQL_DIR, "oracle"), pool_size=1, timeout=1.0
    )
    pool = _Pool()
    repository._pool = pool  # type: ignore[assignment]

    async def acquire_in(route: str | None, user: str | None, request: str | None) -> dict[str, str]:
        scope = None
        if route is not None:
            scope = {"method": "GET", "route": Route(route, lambda _: None), "request_id": request}
        token = context.scope.set(scope)
        if user is not None:
            context.charge(user)
        try:
            async with repository._connection() as session:
                return {
                    k: getattr(session, k) for k in ("module", "action", "client_identifier", "econtext_id")
                }
        finally:
            context.scope.reset(token)

    during = await acquire_in("/data/{id}", "alice", "r-1")
    after = await acquire_in(None, None, None)  # a background call on the same pooled session
    long = await acquire_in("/data", "é" * 40, "r" * 80)

    assert during == {
        "module": "data-service",
        "action": "GET /data/{id}",
        "client_identifier": "alice",
        "econtext_id": "r-1",
    }
    assert after == {"module": "data-service", "action": "", "client_identifier": "", "econtext_id": ""}
    assert long["client_identifier"] == "é" * 32  # Oracle keeps 64 bytes: cut on a character
    assert long["econtext_id"] == "r" * 64
    usage = repository.pools()[0]
    assert usage.waits is not None and usage.waits.count == 3  # each acquire's wait is measured
