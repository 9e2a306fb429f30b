"""The service's own errors and the one table that maps them to HTTP problems (RFC 9457)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One invalid value: where it is (a JSON path) and what is wrong with it."""

    path: str
    message: str


class ConfigError(ValueError):
    """A setting is missing or malformed; raised at start, never on a request."""


class ServiceError(Exception):
    """Base of every error a client may see; `status` and `slug` pick the problem type."""

    status = 500
    slug = "internal-error"
    title = "Internal server error"

    def __init__(self, detail: str, *, errors: Sequence[FieldProblem] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = tuple(errors)

    @property
    def type_uri(self) -> str:
        return f"urn:data-service:problem:{self.slug}"


class MalformedRequest(ServiceError):
    status, slug, title = 400, "malformed-request", "Malformed request"


class Unauthorized(ServiceError):
    """No valid bearer token: missing, malformed, forged, expired or revoked."""

    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(ServiceError):
    """The caller is known but may not do this (a role it lacks, another user's records)."""

    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(ServiceError):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(ServiceError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class NotAcceptable(ServiceError):
    """The client accepts none of the answer's formats (Accept)."""

    status, slug, title = 406, "not-acceptable", "Not acceptable"


class PayloadTooLarge(ServiceError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class HeadersTooLarge(ServiceError):
    status, slug, title = 431, "headers-too-large", "Request headers too large"


class UnsupportedMediaType(ServiceError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(ServiceError):
    status, slug, title = 422, "validation-failed", "Request failed validation"


class InvalidData(ServiceError):
    """The database refused a value the service let through (e.g. a cursor of another database)."""

    status, slug, title = 422, "invalid-data", "The database refused a value"


class RateLimited(ServiceError):
    """The caller spent its budget; carries what the RateLimit headers report."""

    status, slug, title = 429, "rate-limited", "Too many requests"

    def __init__(self, detail: str, *, limit: int, window: int, retry_after: int) -> None:
        super().__init__(detail)
        self.limit = limit
        self.window = window
        self.retry_after = retry_after


class StorageUnavailable(ServiceError):
    """The database cannot be reached or answered with a transient failure; `retry_after` is
    what the Retry-After header tells the client (seconds)."""

    status, slug, title = 503, "storage-unavailable", "Storage unavailable"

    def __init__(self, detail: str, *, retry_after: int = 1, safe_to_retry: bool = False) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        # Known to have changed nothing (the connection failed before the statement was sent,
        # or the database rolled it back: a serialization failure, a deadlock): trying the
        # same call again is safe, for a write too. An outcome that is not known never is.
        self.safe_to_retry = safe_to_retry


class SchemaMissing(StorageUnavailable):
    """The database answers but the service's tables are not there: its migrations were never
    applied to it. Nothing retries this away; an operator runs them."""

    slug, title = "schema-not-migrated", "Schema not migrated"
    hint = "run `data-service migrate` (or `python -m app migrate`) against this database"

    def __init__(self, detail: str = "the database's schema is not migrated") -> None:
        super().__init__(detail, retry_after=30)


class DeadlinePassed(ServiceError):
    """The request's deadline passed before the database answered (APP_REQUEST_DEADLINE_SECONDS):
    the request's own budget ran out, which says nothing against the database, so it never
    counts towards the database's breaker."""

    status, slug, title = 503, "deadline-passed", "Deadline passed"
    retry_after = 1


class ExportsBusy(ServiceError):
    """As many exports run in this process as it runs at once (APP_EXPORTS_MAX)."""

    status, slug, title = 503, "exports-busy", "Too many exports running"
    retry_after = 5


class BodiesBusy(ServiceError):
    """This process holds as many request-body bytes as it may (APP_MAX_INFLIGHT_BODY_BYTES)."""

    status, slug, title = 503, "bodies-busy", "Too many request bodies at once"
    retry_after = 1


class ConnectionsFull(ServiceError):
    """The worker holds as many connections as it may (APP_MAX_CONNECTIONS): answered on a
    connection beyond them, which is then closed (http/overflow.py)."""

    status, slug, title = 503, "connections-full", "Too many connections"
    retry_after = 1


class ReadOnly(ServiceError):
    """Writes are switched off (read-only mode); reads go on."""

    status, slug, title = 503, "read-only", "Read-only"
    retry_after = 30


class IdempotencyKeyBusy(ServiceError):
    """A request with this Idempotency-Key is still being processed."""

    status, slug, title = 409, "idempotency-key-in-use", "Idempotency key in use"


class IdempotencyKeyReused(ServiceError):
    """The Idempotency-Key was used before for a different request."""

    status, slug, title = 422, "idempotency-key-reused", "Idempotency key reused"


class PreconditionFailed(ServiceError):
    """If-Match named a version the record is no longer at: someone changed it meanwhile."""

    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PreconditionRequired(ServiceError):
    """Changes must name the version they were made against (APP_REQUIRE_IF_MATCH)."""

    status, slug, title = 428, "precondition-required", "Precondition required"


class StorageConflict(ServiceError):
    """A write broke a constraint (e.g. a duplicate id)."""

    status, slug, title = 409, "conflict", "Conflict"


def field_problem(message: str, *, root: str = "$") -> FieldProblem:
    """A msgspec validation message split into the JSON path it names and the reason.

    `root` replaces msgspec's `$` so that an item of a bulk request reads `$.items[3].user_id`
    and a query parameter reads `page`.
    """
    reason, sep, where = message.partition(" - at `")
    path = where.rstrip("`") if sep else "$"
    if not sep and "field `" in reason:  # missing or unknown field: name it in the path
        path = "$." + reason.rsplit("field `", 1)[1].rstrip("`")
    path = root + path[1:]
    if root == "":
        path = path.lstrip(".")
    return FieldProblem(path=path or "$", message=reason)
