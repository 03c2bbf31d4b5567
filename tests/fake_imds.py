"""The fake EC2 instance metadata service of the agent's tests: the lab's IMDSv2 server
(eniplan/lab/imds.py) plus fault modes, which only tests need:

- `faults`: statuses to answer the next requests with (500, 503, 429), or "timeout" to
  answer (200, empty) after `timeout_delay` seconds;
- `late`: MAC -> listings of network/interfaces/macs/ before the MAC appears;
- `stale`: MAC -> (device number, reads) served before the real one.

In-process (`with FakeImds(tree) as imds: imds.url`) or as a process inside a network
namespace: `python fake_imds.py TREE.json HOST PORT` (re-reads TREE.json when it changes).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

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
        self.late: dict[str, int] = {}
        self.stale: dict[str, tuple[str, int]] = {}

    def respond(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        with self.lock:
            self.requests.append((method, path, headers))
            fault = self.faults.pop(0) if self.faults else None
            if fault is None:
                return self.answer(method, path, headers)
        if fault == "timeout":
            time.sleep(self.timeout_delay)
            return 200, ""
        assert isinstance(fault, int)
        return fault, ""

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


if __name__ == "__main__":  # python fake_imds.py TREE.json HOST PORT
    sys.exit(serve(sys.argv[1:]))
