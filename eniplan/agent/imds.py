"""An IMDSv2-only client: a token (PUT, with a TTL) on every read, never IMDSv1.

HTTP/1.1 is the standard library's http.client, on one connection for a whole run (kept
alive; a new one only after a failure or an answer that closes it). No proxy is ever used
(http.client, unlike urllib, takes none; a proxy would add X-Forwarded-For, which IMDS
refuses). Retries timeouts, refused connections, garbled or cut answers, 5xx and 429 with
exponential backoff until a deadline that bounds the whole run: one request gets at most
`timeout` seconds, headers and body included (every read of its socket waits at most what
the request has left), so an IMDS that drips bytes is cut off like one that hangs. Moves
to the next endpoint (IPv4, then IPv6) when one cannot be reached; asks for a new token
on 401 or when the token nears its TTL. An answer over MAX_BODY bytes, or not UTF-8, is a
BadAnswer (not retried: it is a value, wrong). With `interval`, at most WINDOW/interval
requests go in any WINDOW seconds: a short read at once, a long one paced (IMDS throttles
per instance).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: a run that reads nothing (udev's coldplug replay
    from http.client import HTTPConnection  # of a routed link) skips its 30 ms of imports

ENDPOINTS = ("http://169.254.169.254", "http://[fd00:ec2::254]")
TOKEN_PATH = "/latest/api/token"
TOKEN_TTL = 300  # seconds
PREFIX = "/latest/meta-data/"
MAX_BODY = 65536  # bytes: a listing of every ENI, or 50 addresses, is far smaller
WINDOW = 1.05  # seconds: a second, and what the network's jitter may take from it


class ImdsError(Exception):
    """IMDS gave no usable answer before the deadline (or refused: 403, 400)."""


class BadAnswer(ImdsError):
    """IMDS answered, but with a body no value can be read from (oversized, not UTF-8)."""


class Imds:
    def __init__(
        self,
        endpoints: Sequence[str] = ENDPOINTS,
        deadline: float = 30.0,
        timeout: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        interval: float = 0.0,
        pace_file: str = "",
    ) -> None:
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep
        self.interval = interval  # seconds a request, on average (0: no limit)
        self.deadline = clock() + deadline
        self.requests = 0
        self.connections = 0
        self._token = ""
        self._renew_at = 0.0
        self._sent: list[float] = []  # when the latest requests went
        self._http: HTTPConnection | None = None
        self._limit = 0.0  # when the request under way must be done (clock)
        # runs take turns (the agent's lock): the window goes on across them in pace_file
        self.pace_file = pace_file
        try:
            with open(pace_file) as earlier:
                now = clock()
                self._sent = [
                    t for t in map(float, earlier.read().split()) if now - WINDOW < t <= now
                ]
        except (OSError, ValueError):
            pass

    def __enter__(self) -> Imds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        if self.pace_file:
            try:
                with open(self.pace_file, "w") as latest:
                    latest.write(" ".join(map(repr, self._sent)))
            except OSError:
                pass

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def left(self) -> float:
        return self.deadline - self.clock()

    def get(self, path: str) -> str | None:
        """The text at meta-data/PATH, or None where IMDS has no such key (404)."""
        for _ in range(3):  # a 401 means the token expired or was revoked: renew it
            token = self._current_token()
            status, body = self._call("GET", PREFIX + path, {"X-aws-ec2-metadata-token": token})
            if status != 401:
                return None if status == 404 else body
            self._token = ""
        raise ImdsError(f"meta-data/{path}: 401 Unauthorized with a fresh token")

    def _current_token(self) -> str:
        if self._token and self.clock() < self._renew_at:
            return self._token
        ttl = {"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL)}
        status, body = self._call("PUT", TOKEN_PATH, ttl)
        if status != 200 or not body or len(body) > 1024 or not body.isprintable():
            raise ImdsError(f"no IMDSv2 token (HTTP {status}): IMDSv1 is never used")
        self._token = body
        self._renew_at = self.clock() + TOKEN_TTL * 0.8
        return body

    def _call(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        """(status, body) of a 200, 401 or 404; retries the rest until the deadline."""
        from http.client import HTTPException

        delay = 0.05
        while True:
            self._wait_turn()
            self.requests += 1
            try:
                status, body = self._exchange(method, path, headers)
                if status in (200, 401, 404):
                    return status, body
                if status != 429 and status < 500:
                    raise ImdsError(f"{method} {self.endpoints[0]}{path}: HTTP {status}")
                problem = f"HTTP {status}"
            except (OSError, HTTPException) as error:  # timeouts, refusals, resets, garbled
                self.close()
                problem = f"{type(error).__name__}: {error}"
                self.endpoints.append(self.endpoints.pop(0))  # the other endpoint next
            if self.clock() + delay > self.deadline:
                raise ImdsError(f"{method} {path}: gave up at the deadline ({problem})")
            self.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _wait_turn(self) -> None:
        most = max(1, int(WINDOW / self.interval)) if self.interval > 0 else 0
        if most and len(self._sent) >= most:
            wait = self._sent[-most] + WINDOW - self.clock()
            if wait > 0:
                self.sleep(min(wait, max(0.0, self.left())))
        self._sent = [*self._sent, self.clock()][-most:] if most else []

    # --- HTTP/1.1 (http.client) on one connection, bounded as a whole ------------------

    def _exchange(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        from http.client import HTTPConnection
        from urllib.parse import urlsplit

        self._limit = min(self.deadline, self.clock() + self.timeout)
        if self._http is None:
            self._http = HTTPConnection(urlsplit(self.endpoints[0]).netloc)
        http = self._http
        if http.sock is None:  # the first request, or the last answer closed the connection
            plain = socket.create_connection((http.host, http.port), self._budget())
            sock = _Socket(fileno=plain.detach())
            sock.budget = self._budget
            http.sock = sock
            self.connections += 1
        http.sock.settimeout(self._budget())
        http.request(method, path, headers=headers)
        answer = http.getresponse()
        body = answer.read(MAX_BODY + 1)
        if not answer.isclosed():  # (bytes unread: nothing to trust on this connection)
            self.close()
        if len(body) > MAX_BODY:
            raise BadAnswer(f"{path}: an answer over {MAX_BODY} bytes")
        if answer.length:  # closed before its Content-Length (http.client returns what came)
            raise ConnectionError(f"an answer cut {answer.length} bytes short")
        try:
            return answer.status, body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadAnswer(f"{path}: an answer that is not UTF-8 text") from None

    def _budget(self) -> float:
        """Seconds the request has left; TimeoutError when it has none."""
        left = self._limit - self.clock()
        if left <= 0:
            raise TimeoutError("timed out")
        return left


class _Socket(socket.socket):
    """A socket whose every read waits at most what its request has left (`budget`), so
    an answer that drips in byte after byte ends with the request, as one that hangs."""

    budget: Callable[[], float]

    def recv_into(self, *args: Any, **kwargs: Any) -> int:
        self.settimeout(self.budget())
        return super().recv_into(*args, **kwargs)
