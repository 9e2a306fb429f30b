"""The service's API as `import` and `export` speak to it: one kept-alive HTTP connection,
the caller's bearer token, and patience where the service asks for it (429 and 503 with
Retry-After) or the connection drops; anything else is the caller's to decide."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import msgspec

from app.cli.common import CannotRun

WAITED_ON = (429, 503)  # the service asks the caller to come back later
LONGEST_WAIT = 60.0  # seconds slept at most for one Retry-After
GIVE_UP_AFTER = 600.0  # seconds of waiting for one request before the command stops
DROPPED = (ConnectionError, http.client.HTTPException, TimeoutError)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def problem(self) -> str:
        """The problem answer's title and detail, or the status alone."""
        try:
            problem = msgspec.json.decode(self.body)
        except msgspec.DecodeError:
            return f"HTTP {self.status}"
        if not isinstance(problem, dict):
            return f"HTTP {self.status}"
        words = [str(problem[k]) for k in ("title", "detail") if problem.get(k)]
        return f"HTTP {self.status}: " + ": ".join(words)


class Api:
    """Requests to the service at `url` (http or https, with an optional path prefix)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url, self.token, self.timeout, self.sleep = url, token, timeout, sleep
        self.waited = 0.0  # seconds spent waiting as the service asked
        self._conn: http.client.HTTPConnection | None = None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CannotRun(f"--url {self.url!r} is not an http:// or https:// address")
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._prefix = parts.path.rstrip("/")

    def request(self, method: str, path: str, body: bytes | None = None, **headers: str) -> Answer:
        """The service's answer; waits and sends again on 429/503 and on a dropped connection
        (the callers' writes carry an Idempotency-Key, so sending again is safe)."""
        started = time.monotonic()
        failures = 0
        while True:
            try:
                response = self._send(method, path, body, headers)
                answer = Answer(response.status, _lower(response.getheaders()), response.read())
            except DROPPED as exc:
                self.close()
                failures += 1
                if failures > 5:
                    raise CannotRun(f"the service at {self.url} stopped answering: {_why(exc)}") from None
                self._wait(min(2.0**failures / 4, 8.0), started)
                continue
            if answer.status not in WAITED_ON:
                return answer
            self._wait(_retry_after(answer.headers.get("retry-after")), started)

    @contextmanager
    def stream(self, path: str, **headers: str) -> Iterator[http.client.HTTPResponse]:
        """A GET whose body the caller reads as it comes; raises CannotRun unless 200."""
        started = time.monotonic()
        while True:
            try:
                response = self._send("GET", path, None, headers)
            except DROPPED as exc:
                raise CannotRun(f"the service at {self.url} stopped answering: {_why(exc)}") from None
            if response.status in WAITED_ON:
                answer = Answer(response.status, _lower(response.getheaders()), response.read())
                self._wait(_retry_after(answer.headers.get("retry-after")), started)
                continue
            if response.status != 200:
                answer = Answer(response.status, _lower(response.getheaders()), response.read())
                raise CannotRun(f"GET {path} answered {answer.problem()}")
            try:
                yield response
            finally:
                response.close()
                self.close()  # an export left half-read leaves the connection unusable
            return

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> http.client.HTTPResponse:
        if self._conn is None:
            kind = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            self._conn = kind(self._host, self._port, timeout=self.timeout)
        sent = {k.replace("_", "-"): v for k, v in headers.items()}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            sent["Content-Type"] = "application/json"
        try:
            self._conn.request(method, self._prefix + path, body=body, headers=sent)
            return self._conn.getresponse()
        except ConnectionRefusedError:
            self.close()
            raise CannotRun(
                f"no service answers at {self.url}; start one (data-service serve) or set --url"
            ) from None
        except OSError as exc:
            if isinstance(exc, DROPPED):
                raise
            self.close()
            raise CannotRun(f"the service at {self.url} cannot be reached: {_why(exc)}") from None

    def _wait(self, seconds: float, started: float) -> None:
        if time.monotonic() - started + seconds > GIVE_UP_AFTER:
            raise CannotRun(f"the service at {self.url} kept asking to wait for {GIVE_UP_AFTER:.0f} s")
        self.sleep(seconds)
        self.waited += seconds


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 1), 0.1), LONGEST_WAIT)
    except ValueError:
        return 1.0


def _lower(headers: list[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers}


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
