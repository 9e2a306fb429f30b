"""Reading a request's JSON body and query string, with every limit a hostile client may test."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import msgspec
from starlette.requests import Request

from app.digests import sha256
from app.errors import (
    FieldProblem,
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    field_problem,
)
from app.http.budget import BodyBudget

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """How large a JSON body may be, how deeply it may nest, how long its strings and arrays."""

    max_bytes: int
    max_depth: int
    max_string_length: int = 65_536
    max_array_length: int = 10_000
    budget: BodyBudget | None = None  # the process's bytes of bodies in flight (budget.py)


def _is_json(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def read_body(request: Request, limits: BodyLimits) -> bytes:
    """The raw body, refused with 413 as soon as it passes the limit (declared or streamed), and
    with 503 when the process holds as many bodies as its budget allows."""
    max_bytes = limits.max_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise MalformedRequest("Content-Length is not a number")
        if int(declared) > max_bytes:
            raise PayloadTooLarge(f"the body may hold at most {max_bytes} bytes")
    if limits.budget is None:
        return await _read(request, max_bytes)
    reserved = max_bytes if declared is None else int(declared)
    give_back = await limits.budget.take(reserved, request.scope)
    body = await _read(request, max_bytes)
    give_back(max(0, reserved - len(body)))  # a streamed body smaller than the most it could hold
    return body


async def _read(request: Request, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"the body may hold at most {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b"{}[]")))
_INNERMOST = re.compile(rb"\{\}|\[\]")


def nests_deeper_than(body: bytes, max_depth: int) -> bool:
    """Whether the JSON text's arrays and objects nest more than max_depth levels.

    Works on the text without building any object: strings are cut out, only brackets kept,
    and each pass removes the innermost level; all of it runs at C speed.
    """
    if body.count(b"{") + body.count(b"[") <= max_depth:
        return False
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    for _ in range(max_depth):
        brackets = _INNERMOST.sub(b"", brackets)
        if not brackets:
            return False
    return True


def check_depth(body: bytes, max_depth: int) -> None:
    """400 when the document nests deeper than max_depth (or its brackets do not match)."""
    if not nests_deeper_than(body, max_depth):
        return
    try:
        msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise MalformedRequest(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        pass
    raise MalformedRequest(f"JSON may nest at most {max_depth} levels deep")


def check_lengths(body: bytes, limits: BodyLimits) -> None:
    """422 naming the first string (or key) or array longer than the limits allow."""
    # Cheap proofs first: a string cannot be longer than the body, nor an array have more
    # items than the body has commas.
    if len(body) <= limits.max_string_length and body.count(b",") < limits.max_array_length:
        return
    stack: list[tuple[str, Any]] = [("$", msgspec.json.decode(body))]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if len(value) > limits.max_string_length:
                raise ValidationFailed(
                    "a string is too long",
                    errors=[FieldProblem(path, f"at most {limits.max_string_length} characters")],
                )
        elif isinstance(value, list):
            if len(value) > limits.max_array_length:
                raise ValidationFailed(
                    "an array is too long",
                    errors=[FieldProblem(path, f"at most {limits.max_array_length} items")],
                )
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, dict):
            for key, item in value.items():
                if len(key) > limits.max_string_length:
                    raise ValidationFailed(
                        "a key is too long",
                        errors=[
                            FieldProblem(path, f"keys hold at most {limits.max_string_length} characters")
                        ],
                    )
                stack.append((f"{path}.{key}", item))


async def read_json(request: Request, decoder: msgspec.json.Decoder[T], limits: BodyLimits) -> T:
    """The body decoded into the decoder's type, or the problem that explains why not."""
    return decode_json(await read_json_body(request, limits), decoder, limits)


async def read_json_body(request: Request, limits: BodyLimits) -> bytes:
    """The body's bytes, once its media type and size are known to be acceptable."""
    if not _is_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaType("send the body as application/json")
    return await read_body(request, limits)


MERGE_PATCH = "application/merge-patch+json"


async def read_merge_patch(request: Request, decoder: msgspec.json.Decoder[T], limits: BodyLimits) -> T:
    """A JSON Merge Patch body (RFC 7396): application/merge-patch+json, or plain JSON, which
    clients of other APIs send for PATCH; never JSON Patch (RFC 6902), whose meaning differs."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type not in (MERGE_PATCH, "application/json"):
        raise UnsupportedMediaType(f"send the patch as {MERGE_PATCH} (RFC 7396)")
    return decode_json(await read_body(request, limits), decoder, limits)


def decode_json(body: bytes, decoder: msgspec.json.Decoder[T], limits: BodyLimits) -> T:
    """A JSON body decoded into the decoder's type, within the limits."""
    check_depth(body, limits.max_depth)
    try:
        check_lengths(body, limits)
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(
            "the body does not match the schema", errors=[field_problem(str(exc))]
        ) from None
    except msgspec.DecodeError as exc:
        raise MalformedRequest(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedRequest(f"JSON may nest at most {limits.max_depth} levels deep") from None


def query_pairs(raw: bytes) -> list[tuple[str, str]]:
    """The query string's names and values, as Starlette's `request.query_params` gives them;
    the common case (nothing escaped) without urllib's general parser, which costs a cached
    read a noticeable share of its time."""
    text = raw.decode("latin-1")
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True)
    return [(name, value) for name, _, value in (part.partition("=") for part in text.split("&") if part)]


def query_params(request: Request) -> dict[str, str]:
    """The query string's parameters by name; a repeated one is refused."""
    params: dict[str, str] = {}
    for name, value in query_pairs(request.scope["query_string"]):
        if name in params:
            raise ValidationFailed(
                "a query parameter is repeated",
                errors=[FieldProblem(path=name, message="given more than once")],
            )
        params[name] = value
    return params


def convert_query(params: dict[str, str], kind: type[T]) -> T:
    """Query parameters as a Struct; values are converted from text."""
    try:
        return msgspec.convert(params, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(
            "the query parameters are not valid", errors=[field_problem(str(exc), root="")]
        ) from None


def read_query(request: Request, kind: type[T]) -> T:
    """The query string as a Struct; values are converted from text, repeats are refused."""
    return convert_query(query_params(request), kind)


MAX_KEY_LENGTH = 255
_KEY_CHARACTERS = re.compile(r"^[\x20-\x7e]{1,255}$")  # MAX_KEY_LENGTH printable ASCII characters


def idempotency_key(request: Request) -> str | None:
    """The Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header): a structured
    field string, `"..."`, though a bare value is taken too; 1 to 255 printable ASCII characters.
    None when the request carries none."""
    raw = request.headers.getlist("idempotency-key")
    if not raw:
        return None
    if len(raw) > 1:
        raise MalformedRequest("send one Idempotency-Key header")
    value = raw[0].strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        value = _sf_string(value[1:-1])
    if not _KEY_CHARACTERS.match(value):
        raise MalformedRequest(f"Idempotency-Key must hold 1 to {MAX_KEY_LENGTH} printable ASCII characters")
    return value


def _sf_string(inner: str) -> str:
    """The text of a structured field string (RFC 8941, section 3.3.3) between its quotes."""
    text: list[str] = []
    characters = iter(inner)
    for character in characters:
        if character == "\\":
            character = next(characters, "")
            if character not in ('"', "\\"):
                raise MalformedRequest('Idempotency-Key is not a valid string: only " and \\ are escaped')
        elif character == '"':
            raise MalformedRequest('Idempotency-Key is not a valid string: a " must be escaped')
        text.append(character)
    return "".join(text)


def fingerprint(request: Request, body: bytes) -> str:
    """What tells two requests under one key apart: the method, the path and the body."""
    return sha256(f"{request.method} {request.url.path}\n".encode(), body).hexdigest()
