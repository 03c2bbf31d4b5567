"""A fake EC2 instance metadata service with IMDSv2 semantics, for the agent's tests.

- PUT /latest/api/token needs X-aws-ec2-metadata-token-ttl-seconds (1-21600, else 400)
  and is refused (403) with X-Forwarded-For, as the real IMDS refuses proxied requests;
- every GET needs a live token (401 without one, with an unknown one, or after its TTL);
  there is no IMDSv1;
- the tree is served from a dict {path under meta-data/: text}; a path ending in / lists
  its children (directories with a trailing /);
- faults: `faults` (statuses to answer the next requests with: 500, 503, 429, or
  "timeout" to answer after `timeout_delay` seconds), `late` (MAC -> listings before it
  appears) and `stale` (MAC -> (device number, reads) served before the real one).

In-process (`with FakeImds(tree) as imds: imds.url`) or as a process inside a network
namespace: `python fake_imds.py TREE.json HOST PORT` (re-reads TREE.json when it changes).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from eniplan.model import Instance, Inventory

META = "/latest/meta-data/"


def metadata_tree(instance: Instance, inventory: Inventory) -> dict[str, str]:
    """The meta-data an instance's IMDS serves for its attached ENIs."""
    tree = {"instance-id": instance.instance_id}
    for eni in instance.enis:
        if eni.device_index is None:
            continue
        if eni.is_primary:
            tree["mac"] = eni.mac
        subnet = inventory.subnet(eni)
        base = f"network/interfaces/macs/{eni.mac}/"
        fields = {
            "mac": eni.mac,
            "device-number": str(eni.device_index),
            "network-card": str(eni.network_card_index),
            "interface-id": eni.eni_id,
            "subnet-id": eni.subnet_id,
            "vpc-id": eni.vpc_id,
            "local-ipv4s": "\n".join(map(str, eni.ipv4_addresses)),
            "subnet-ipv4-cidr-block": str(subnet.cidr) if subnet.cidr else "",
            "ipv4-prefix": "\n".join(map(str, eni.ipv4_prefixes)),
            "ipv6s": "\n".join(map(str, eni.ipv6_addresses)),
            "ipv6-prefix": "\n".join(map(str, eni.ipv6_prefixes)),
            "subnet-ipv6-cidr-blocks": "\n".join(map(str, subnet.ipv6_cidrs)),
        }
        tree.update({base + key: value for key, value in fields.items() if value})
    return tree


class FakeImds:
    def __init__(
        self,
        tree: dict[str, str],
        host: str = "127.0.0.1",
        port: int = 0,
        source: Path | None = None,
    ) -> None:
        self.tree = dict(tree)
        self.source = source
        self._mtime = 0.0
        self.faults: list[int | str] = []
        self.timeout_delay = 1.5
        self.late: dict[str, int] = {}
        self.stale: dict[str, tuple[str, int]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.tokens: dict[str, float] = {}  # token -> expiry (monotonic)
        self.lock = threading.Lock()
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self.server = server_class((host, port), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"

    def __enter__(self) -> FakeImds:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- request handling (under the lock) ---

    def _reload(self) -> None:
        if self.source is None:
            return
        mtime = self.source.stat().st_mtime
        if mtime != self._mtime:
            self._mtime = mtime
            self.tree = json.loads(self.source.read_text())

    def answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int | str, str]:
        with self.lock:
            self.requests.append((method, path, headers))
            if self.faults:
                return self.faults.pop(0), ""
            self._reload()
            if method == "PUT":
                return self._token(path, headers)
            if method != "GET":
                return 405, ""
            expiry = self.tokens.get(headers.get("x-aws-ec2-metadata-token", ""))
            if expiry is None or time.monotonic() >= expiry:
                return 401, ""
            if not path.startswith(META):
                return 404, ""
            return self._get(path[len(META) :])

    def _token(self, path: str, headers: dict[str, str]) -> tuple[int, str]:
        if path != "/latest/api/token":
            return 405, ""
        if "x-forwarded-for" in headers:
            return 403, ""
        ttl = headers.get("x-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return 400, ""
        token = uuid.uuid4().hex
        self.tokens[token] = time.monotonic() + int(ttl)
        return 200, token

    def _get(self, key: str) -> tuple[int, str]:
        if key in self.tree:
            mac = key.split("/")[3] if key.startswith("network/interfaces/macs/") else ""
            if key.endswith("/device-number") and self.stale.get(mac, ("", 0))[1] > 0:
                number, reads = self.stale[mac]
                self.stale[mac] = (number, reads - 1)
                return 200, number
            return 200, self.tree[key]
        if key and not key.endswith("/"):
            return 404, ""
        children: list[str] = []
        for path in self.tree:
            if path.startswith(key):
                head, slash, _ = path[len(key) :].partition("/")
                child = head + slash
                if child not in children:
                    children.append(child)
        if key == "network/interfaces/macs/":
            for mac, listings in list(self.late.items()):
                if listings > 0:
                    self.late[mac] = listings - 1
                    children = [c for c in children if c != f"{mac}/"]
        return (200, "\n".join(children)) if children else (404, "")


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _handler(imds: FakeImds) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, body = imds.answer(self.command, self.path, headers)
            if status == "timeout":
                time.sleep(imds.timeout_delay)
                status = 200
            assert isinstance(status, int)
            data = body.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout fault)

        do_GET = do_PUT = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


if __name__ == "__main__":  # python fake_imds.py TREE.json HOST PORT
    source = Path(sys.argv[1])
    server = FakeImds(json.loads(source.read_text()), sys.argv[2], int(sys.argv[3]), source)
    print("ready", flush=True)
    server.server.serve_forever()
