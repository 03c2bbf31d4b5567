"""An IMDSv2-only client: a token (PUT, with a TTL) on every read, never IMDSv1.

One HTTP/1.1 connection for a whole run (kept alive; a new one only after a failure).
Retries timeouts, refused connections, 5xx and 429 with exponential backoff until a
deadline that bounds the whole run: one request gets at most `timeout` seconds, headers
and body included, so an IMDS that drips bytes is cut off like one that hangs. Moves to
the next endpoint (IPv4, then IPv6) when one cannot be reached; asks for a new token on
401 or when the token nears its TTL. An answer over MAX_BODY bytes, or not UTF-8, is a
BadAnswer (not retried: it is a value, wrong). With `interval`, at most WINDOW/interval
requests go in any WINDOW seconds: a short read at once, a long one paced (IMDS throttles
per instance). No proxy is ever used (a proxy would add
X-Forwarded-For, which IMDS refuses).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

ENDPOINTS = ("http://169.254.169.254", "http://[fd00:ec2::254]")
TOKEN_PATH = "/latest/api/token"
TOKEN_TTL = 300  # seconds
PREFIX = "/latest/meta-data/"
MAX_HEAD = 8192  # bytes of status line and headers
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
        self._sock: socket.socket | None = None
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
        if self._sock is not None:
            self._sock.close()
            self._sock = None

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
            except OSError as error:  # timeouts, refusals, resets, a garbled answer
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

    # --- HTTP/1.1 on one socket: every read bounded by the request's own limit -----------

    def _exchange(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        limit = min(self.deadline, self.clock() + self.timeout)
        url = urlsplit(self.endpoints[0])
        if self._sock is None:
            address = (url.hostname or "", url.port or 80)
            self._sock = socket.create_connection(address, timeout=self._remaining(limit))
            self.connections += 1
        sock = self._sock
        lines = [f"{method} {path} HTTP/1.1", f"Host: {url.netloc}", "Content-Length: 0"]
        lines += [f"{key}: {value}" for key, value in headers.items()]
        sock.settimeout(self._remaining(limit))
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
        data = b""
        while b"\r\n\r\n" not in data:
            if len(data) > MAX_HEAD:
                raise ConnectionError(f"headers over {MAX_HEAD} bytes")
            data += self._recv(sock, limit)
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")
        version, _, rest = status_line.partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise ConnectionError(f"not HTTP: {status_line[:40]!r}")
        found = {}
        for field in fields:
            name, _, value = field.partition(":")
            found[name.strip().lower()] = value.strip()
        length = found.get("content-length")
        if length is None:  # (HTTP/1.0 style) the body ends where the connection does
            if "chunked" in found.get("transfer-encoding", ""):
                raise ConnectionError("a chunked answer (IMDS sends a Content-Length)")
            body += self._until_closed(sock, limit, path)
            length = str(len(body))
        if not length.isdigit():
            raise ConnectionError(f"Content-Length {length[:20]!r}")
        if int(length) > MAX_BODY:
            self.close()
            raise BadAnswer(f"{path}: an answer of {length} bytes (at most {MAX_BODY})")
        while len(body) < int(length):
            body += self._recv(sock, limit)
        connection = found.get("connection", "").lower()
        if (
            len(body) > int(length)
            or connection == "close"
            or (version == "HTTP/1.0" and connection != "keep-alive")
        ):
            self.close()  # (extra bytes: nothing to trust on this connection)
        try:
            return int(code), body[: int(length)].decode("utf-8")
        except UnicodeDecodeError:
            raise BadAnswer(f"{path}: an answer that is not UTF-8 text") from None

    def _until_closed(self, sock: socket.socket, limit: float, path: str) -> bytes:
        body = b""
        while len(body) <= MAX_BODY:
            try:
                body += self._recv(sock, limit)
            except ConnectionError:
                self.close()
                return body
        self.close()
        raise BadAnswer(f"{path}: an answer over {MAX_BODY} bytes")

    def _remaining(self, limit: float) -> float:
        remaining = limit - self.clock()
        if remaining <= 0:
            raise TimeoutError("timed out")
        return remaining

    def _recv(self, sock: socket.socket, limit: float) -> bytes:
        sock.settimeout(self._remaining(limit))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by IMDS")
        return chunk
