"""The fake EC2 instance metadata service of the agent's tests: the lab's IMDSv2 server
(eniplan/lab/imds.py) plus fault modes, which only tests need:

- `faults`: statuses to answer the next requests with (500, 503, 429), "timeout" to
  answer (200, empty) after `timeout_delay` seconds, "drip" to send the true answer one
  byte every `drip_delay` seconds, "cut" to send half its body and close the connection,
  "garbled" to answer a line that is not HTTP and close, "big" for a 200 over the
  client's MAX_BODY, "latin1" for a 200 that is not UTF-8;
- `late`: MAC -> listings of network/interfaces/macs/ before the MAC appears;
- `stale`: MAC -> (device number, reads) served before the real one.

In-process (`with FakeImds(tree) as imds: imds.url`) or as a process inside a network
namespace: `python fake_imds.py TREE.json HOST PORT [LOG]` (re-reads TREE.json when it
changes; with LOG, appends each request's time, method and path to it: the benchmark's
request counts and rates).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from eniplan.agent.imds import MAX_BODY
from eniplan.lab.imds import MACS, MetadataServer, metadata_tree, serve

__all__ = ["FakeImds", "metadata_tree"]


class FakeImds(MetadataServer):
    def __init__(
        self,
        tree: dict[str, str],
        host: str = "127.0.0.1",
        port: int = 0,
        source: Path | None = None,
    ) -> None:
        super().__init__(tree, host, port, source)
        self.faults: list[int | str] = []
        self.timeout_delay = 1.5
        self.drip_delay = 0.5
        self._raw: dict[int, str] = {}  # handler thread -> its answer's fault, as sent
        self.late: dict[str, int] = {}
        self.stale: dict[str, tuple[str, int]] = {}

    def __enter__(self) -> FakeImds:
        super().__enter__()
        return self

    def respond(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        with self.lock:
            self.requests.append((method, path, headers))
            fault = self.faults.pop(0) if self.faults else None
            if fault is None:
                return self.answer(method, path, headers)
        if fault == "timeout":
            time.sleep(self.timeout_delay)
            return 200, ""
        if fault in ("drip", "cut", "garbled"):
            self._raw[threading.get_ident()] = str(fault)
            with self.lock:
                return self.answer(method, path, headers)
        if fault == "big":
            return 200, "10.0.0.1\n" * (MAX_BODY // 9 + 1)
        if fault == "latin1":
            return 200, "\udcff"  # sent as the byte 0xff
        assert isinstance(fault, int)
        return fault, ""

    def deliver(self, handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        fault = self._raw.pop(threading.get_ident(), None)
        if fault is None:
            super().deliver(handler, status, body)
            return
        head = f"HTTP/1.1 {status} OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        if fault != "drip":
            handler.wfile.write(head + body[: len(body) // 2] if fault == "cut" else b"ok\r\n")
            handler.close_connection = True
            return
        for byte in head + body:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(self.drip_delay)

    def get(self, key: str) -> tuple[int, str]:
        mac = key.split("/")[3] if key.startswith(MACS) else ""
        if key.endswith("/device-number") and self.stale.get(mac, ("", 0))[1] > 0:
            number, reads = self.stale[mac]
            self.stale[mac] = (number, reads - 1)
            return 200, number
        return super().get(key)

    def children(self, key: str) -> list[str]:
        children = super().children(key)
        if key == MACS:
            for mac, listings in list(self.late.items()):
                if listings > 0:
                    self.late[mac] = listings - 1
                    children = [c for c in children if c != f"{mac}/"]
        return children


class LoggedImds(MetadataServer):
    def __init__(self, log: Path, *args: Any) -> None:
        super().__init__(*args)
        self.log = log.open("a", buffering=1)

    def respond(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        self.log.write(f"{time.time():.6f} {method} {path}\n")
        return super().respond(method, path, headers)


def main(argv: list[str]) -> int:
    if len(argv) != 4 or not argv[2].isdigit():
        return serve(argv)
    source = Path(argv[0])
    imds = LoggedImds(Path(argv[3]), json.loads(source.read_text()), argv[1], int(argv[2]), source)
    print("ready", flush=True)
    try:
        imds.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        imds.server.server_close()
    return 0


if __name__ == "__main__":  # python fake_imds.py TREE.json HOST PORT [LOG]
    sys.exit(main(sys.argv[1:]))
