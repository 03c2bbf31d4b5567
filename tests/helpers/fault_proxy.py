"""A small HTTP proxy in front of a moto server that fails chosen regions, for tests.

The region of each request is read from its SigV4 credential scope
(`Credential=KEY/DATE/REGION/SERVICE/aws4_request`), so one --endpoint-url serves every
region and each can behave differently:

- "deny": an EC2 UnauthorizedOperation (403), as for a region an SCP denies;
- "slow": answered after SLOW_SECONDS;
- "blackhole": the connection is accepted and never answered (until the proxy stops).

And `denied_accounts`: an STS AssumeRole of a role in one of those accounts is refused
(AccessDenied, 403), as for a member account whose role is missing or that was closed.

Everything else is forwarded to moto unchanged.
"""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SLOW_SECONDS = 1.5
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
    b"<Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this "
    b"operation.</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
)
_ASSUME_DENIED = (
    b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender'
    b"</Type><Code>AccessDenied</Code><Message>User is not authorized to perform: "
    b"sts:AssumeRole</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (timeout, interrupt) is what the tests provoke


class FaultProxy:
    def __init__(
        self, upstream: str, faults: dict[str, str], denied_accounts: Collection[str] = ()
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.faults = faults
        self.denied_accounts = denied_accounts
        self.stopping = threading.Event()
        self.requests: list[str] = []  # the region of every request, in order
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = _SCOPE.search(self.headers.get("Authorization", ""))
                region = match.group(1) if match else ""
                proxy.requests.append(region)
                fault = proxy.faults.get(region)
                if fault == "blackhole":
                    proxy.stopping.wait()
                    self.close_connection = True
                    return
                if proxy.assumes_denied(body):
                    self._answer(403, {"Content-Type": "text/xml"}, _ASSUME_DENIED)
                    return
                if fault == "deny":
                    self._answer(403, {"Content-Type": "text/xml"}, _DENIED)
                    return
                if fault == "slow":
                    proxy.stopping.wait(SLOW_SECONDS)
                status, headers, answer = proxy.forward(self.command, self.path, self, body)
                self._answer(status, headers, answer)

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def assumes_denied(self, body: bytes) -> bool:
        form = parse_qs(body.decode("utf-8", "replace"))
        if form.get("Action") != ["AssumeRole"]:
            return False
        return any(
            f"::{account}:" in form.get("RoleArn", [""])[0] for account in self.denied_accounts
        )

    def forward(
        self, method: str, path: str, handler: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(
            self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=30
        )
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() != "host"}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


@contextmanager
def fault_proxy(
    upstream: str, faults: dict[str, str], denied_accounts: Collection[str] = ()
) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream, faults, denied_accounts)
    thread = threading.Thread(target=proxy.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.stopping.set()  # black holes and slow answers end
        proxy.server.shutdown()
        proxy.server.server_close()
        thread.join(timeout=10)
