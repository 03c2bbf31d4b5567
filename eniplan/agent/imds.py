"""An IMDSv2-only client: a token (PUT, with a TTL) on every read, never IMDSv1.

Retries timeouts, refused connections, 5xx and 429 with exponential backoff until a
deadline; moves to the next endpoint (IPv4, then IPv6) when one cannot be reached; asks
for a new token on 401 or when the token nears its TTL. No proxy is ever used (a proxy
would add X-Forwarded-For, which IMDS refuses).
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence

ENDPOINTS = ("http://169.254.169.254", "http://[fd00:ec2::254]")
TOKEN_PATH = "/latest/api/token"
TOKEN_TTL = 300  # seconds
PREFIX = "/latest/meta-data/"


class ImdsError(Exception):
    """IMDS gave no usable answer before the deadline (or refused: 403, 400)."""


class Imds:
    def __init__(
        self,
        endpoints: Sequence[str] = ENDPOINTS,
        deadline: float = 30.0,
        timeout: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep
        self.deadline = clock() + deadline
        self.requests = 0
        self._token = ""
        self._renew_at = 0.0
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def extend(self, seconds: float) -> None:
        """A new deadline, `seconds` from now (the hotplug wait has its own)."""
        self.deadline = self.clock() + seconds

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
            url = self.endpoints[0] + path
            self.requests += 1
            request = urllib.request.Request(url, method=method, headers=headers)
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    return 200, response.read(65536).decode("utf-8")
            except urllib.error.HTTPError as error:
                if error.code in (401, 404):
                    return error.code, ""
                if error.code != 429 and error.code < 500:
                    raise ImdsError(f"{method} {url}: HTTP {error.code} {error.reason}") from None
                problem = f"HTTP {error.code}"
            except (OSError, http.client.HTTPException, UnicodeDecodeError) as error:
                # URLError, timeouts, resets, garbled answers
                problem = f"{type(error).__name__}: {getattr(error, 'reason', error)}"
                self.endpoints.append(self.endpoints.pop(0))  # the other endpoint next
            if self.clock() + delay > self.deadline:
                raise ImdsError(f"{method} {path}: gave up at the deadline ({problem})")
            self.sleep(delay)
            delay = min(delay * 2, 1.0)
