"""The lab's instance metadata service: an instance's meta-data with IMDSv2 semantics.

- PUT /latest/api/token needs X-aws-ec2-metadata-token-ttl-seconds (1-21600, else 400)
  and is refused (403) with X-Forwarded-For, as the real IMDS refuses proxied requests;
- every GET needs a live token (401 without one, with an unknown one, or after its TTL);
  there is no IMDSv1;
- the tree is a dict {path under meta-data/: text}; a path ending in / lists its
  children (directories with a trailing /);
- with `allow_v1` (HttpTokens=optional on EC2) a GET without a token is answered too:
  cloud-init 22.4's EC2 datasource uses IMDSv1 on a platform it cannot identify as AWS
  from DMI data, which is the case of the boot lab's container;
- meta-data is served under /latest/ and under the dated API versions cloud-init's EC2
  datasource asks for (VERSIONS); `user_data`, when given, at /VERSION/user-data.

`eniplan lab --target dynamic` runs it in the vpc namespace at 169.254.169.254:80, as a
process of its own: `python imds.py TREE.json HOST PORT [USER-DATA] [--allow-v1]` prints
"ready" once it listens and re-reads TREE.json whenever the file is replaced (ENIs attached and
detached); `lab --boot` gives it the user data, which the booted OS's cloud-init reads. The
server is standard library only (run with -I -S, like the probe agent); the tests add
fault modes by subclassing `MetadataServer` (tests/helpers/fake_imds.py).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eniplan.model import Instance, Inventory

META = "/latest/meta-data/"
# what cloud-init 22.4's EC2 datasource tries, newest first, before falling back to 2009-04-04
VERSIONS = ("latest", "2021-03-23", "2018-09-24", "2016-09-02", "2009-04-04")
TOKEN_PATH = "/latest/api/token"
MAX_TTL = 21600
MACS = "network/interfaces/macs/"


def metadata_tree(instance: Instance, inventory: Inventory) -> dict[str, str]:
    """The meta-data an instance's IMDS serves for its attached ENIs."""
    tree = {"instance-id": instance.instance_id}
    for eni in instance.enis:
        if eni.device_index is None:
            continue
        if eni.is_primary:
            tree["mac"] = eni.mac
        subnet = inventory.subnet(eni)
        base = f"{MACS}{eni.mac}/"
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


def write_tree(path: Path, tree: dict[str, str]) -> None:
    """Replaces the served tree file at once (a running server reloads it)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(tree, sort_keys=True))
    os.replace(temporary, path)


class MetadataServer:
    """IMDSv2 over `tree`, in a thread (`with MetadataServer(tree) as imds: imds.url`)."""

    def __init__(
        self,
        tree: dict[str, str],
        host: str = "127.0.0.1",
        port: int = 0,
        source: Path | None = None,
        user_data: bytes | None = None,
        allow_v1: bool = False,
    ) -> None:
        self.tree = dict(tree)
        self.user_data = user_data
        self.allow_v1 = allow_v1
        self.source = source
        self._version: tuple[int, int] = (0, 0)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.connections = 0  # HTTP connections accepted (keep-alive: one per client run)
        self.tokens: dict[str, float] = {}  # token -> expiry (monotonic)
        self.lock = threading.Lock()
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self.server = server_class((host, port), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        address, port = self.server.server_address[:2]
        host = address.decode() if isinstance(address, bytes) else str(address)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def __enter__(self) -> MetadataServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- request handling ---

    def respond(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        """(status, body) for one request."""
        with self.lock:
            self.requests.append((method, path, headers))
            return self.answer(method, path, headers)

    def answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        """Under the lock."""
        self._reload()
        if method == "PUT":
            return self._token(path, headers)
        if method != "GET":
            return 405, ""
        token = headers.get("x-aws-ec2-metadata-token")
        expiry = self.tokens.get(token or "")
        v1 = self.allow_v1 and token is None
        if not v1 and (expiry is None or time.monotonic() >= expiry):
            return 401, ""
        version, _, rest = path.removeprefix("/").partition("/")
        if version not in VERSIONS:
            return 404, ""
        if rest == "user-data":
            if self.user_data is None:
                return 404, ""
            return 200, self.user_data.decode("utf-8", "surrogateescape")  # bytes as sent
        if not rest.startswith("meta-data/"):
            return 404, ""
        return self.get(rest.removeprefix("meta-data/"))

    def _reload(self) -> None:
        if self.source is None:
            return
        stat = self.source.stat()
        version = (stat.st_ino, stat.st_mtime_ns)  # replaced files get a new inode
        if version != self._version:
            self._version = version
            self.tree = json.loads(self.source.read_text())

    def _token(self, path: str, headers: dict[str, str]) -> tuple[int, str]:
        if path != TOKEN_PATH:
            return 405, ""
        if "x-forwarded-for" in headers:
            return 403, ""
        ttl = headers.get("x-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TTL:
            return 400, ""
        token = uuid.uuid4().hex
        self.tokens[token] = time.monotonic() + int(ttl)
        return 200, token

    def get(self, key: str) -> tuple[int, str]:
        """A value, or the listing of a directory (`key` ending in / or empty)."""
        if key in self.tree:
            return 200, self.tree[key]
        if key and not key.endswith("/"):
            return 404, ""
        children = self.children(key)
        return (200, "\n".join(children)) if children else (404, "")

    def children(self, key: str) -> list[str]:
        children: list[str] = []
        for path in self.tree:
            if path.startswith(key):
                head, slash, _ = path[len(key) :].partition("/")
                child = head + slash
                if child not in children:
                    children.append(child)
        return children

    def deliver(self, handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        """Writes one answer (HTTP/1.1, kept alive as IMDS does)."""
        handler.send_response(status)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _handler(imds: MetadataServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()  # headers and body are two writes: no Nagle delay between them
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with imds.lock:
                imds.connections += 1

        def _serve(self) -> None:
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, body = imds.respond(self.command, self.path, headers)
            try:
                imds.deliver(self, status, body.encode("utf-8", "surrogateescape"))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up

        do_GET = do_PUT = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def serve(argv: list[str]) -> int:
    """`imds.py TREE.json HOST PORT [USER-DATA] [--allow-v1]`: serves until terminated."""
    allow_v1 = "--allow-v1" in argv
    argv = [arg for arg in argv if arg != "--allow-v1"]
    if len(argv) not in (3, 4) or not argv[2].isdigit():
        print("usage: imds.py TREE.json HOST PORT [USER-DATA] [--allow-v1]", file=sys.stderr)
        return 2
    source = Path(argv[0])
    user_data = Path(argv[3]).read_bytes() if len(argv) == 4 else None
    tree = json.loads(source.read_text())
    server = MetadataServer(tree, argv[1], int(argv[2]), source, user_data, allow_v1)
    print("ready", flush=True)
    try:
        server.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1:]))
