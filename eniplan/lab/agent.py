"""The lab's probe agent, run inside a lab namespace by `ip netns exec` (standard library
only: it is run as a script, `python -I -S agent.py`).

    agent.py probe < PROBES.json     PROBES: [{"id", "kind": "ping"|"tcp", "target",
                                     "port", "bind" (source address or null), "timeout"}]
                                     prints {"id": true|false, ...}: all probes at once
    agent.py serve PORT              accepts TCP connections on every address and closes
                                     them; prints "ready" once listening
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

MAX_THREADS = 64


def ping(target: str, bind: str | None, timeout: float) -> bool:
    command = ["ping", "-n", "-q", "-c", "1", "-W", str(max(1, round(timeout)))]
    if bind:
        command += ["-I", bind]
    command.append(target)
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return done.returncode == 0


def tcp(target: str, port: int, bind: str | None, timeout: float) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            if bind:
                sock.bind((bind, 0))
            sock.connect((target, port))
        except OSError:
            return False
    return True


def run_probe(probe: dict[str, Any]) -> bool:
    bind = probe.get("bind")
    timeout = float(probe.get("timeout", 1.0))
    if probe["kind"] == "ping":
        return ping(probe["target"], bind, timeout)
    if probe["kind"] == "tcp":
        return tcp(probe["target"], int(probe["port"]), bind, timeout)
    raise ValueError(f"unknown probe kind {probe['kind']!r}")


def probe_all(probes: list[dict[str, Any]]) -> dict[str, bool]:
    if not probes:
        return {}
    with ThreadPoolExecutor(max_workers=min(MAX_THREADS, len(probes))) as pool:
        results = list(pool.map(run_probe, probes))
    return {str(probe["id"]): result for probe, result in zip(probes, results, strict=True)}


def serve(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", port))
        server.listen(512)
        print("ready", flush=True)
        while True:
            connection, _ = server.accept()
            connection.close()


def main(argv: list[str]) -> int:
    if argv[:1] == ["probe"]:
        print(json.dumps(probe_all(json.load(sys.stdin))))
        return 0
    if argv[:1] == ["serve"] and len(argv) == 2:
        try:
            serve(int(argv[1]))
        except KeyboardInterrupt:
            return 0
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
