"""`eniplan doctor` live in a network namespace, before and after policy routing."""

from __future__ import annotations

import json
import sys
from typing import Any

from tests.helpers import REPO
from tests.helpers.netns import Namespace


def test_live_in_a_namespace_before_and_after_policy_routing() -> None:
    """The doctor reads `ip -j` in a namespace (run through `ip netns exec`), and its
    verdict changes when per-ENI routing is applied."""
    import subprocess

    with Namespace("eniplan-doc") as ns:
        for name, address in (("ens5", "10.0.0.10/24"), ("ens6", "10.0.0.20/24")):
            ns.run("ip", "link", "add", name, "type", "veth", "peer", "name", f"p{name}")
            ns.run("ip", "link", "set", f"p{name}", "up")
            ns.run("ip", "link", "set", name, "up")
            ns.run("ip", "addr", "add", address, "brd", "+", "dev", name)  # as DHCP does
        ns.run("ip", "route", "add", "default", "via", "10.0.0.1", "dev", "ens5")

        def doctor() -> tuple[int, dict[str, Any]]:
            result = subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    ns.name,
                    sys.executable,
                    "-m",
                    "eniplan",
                    "doctor",
                    "--no-imds",
                    "--format",
                    "json",
                ],
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
                cwd=REPO,
            )
            assert result.returncode in (0, 1), result.stderr
            return result.returncode, json.loads(result.stdout)

        code, before = doctor()
        assert code == 1
        verdicts = {a["interface"]: a["verdict"] for a in before["addresses"]}
        assert verdicts == {"ens5": "ok", "ens6": "fail"}
        assert before["parity"]["status"] == "FAILURE"
        ns.run("ip", "route", "add", "default", "via", "10.0.0.1", "dev", "ens6", "table", "10001")
        ns.run("ip", "route", "add", "10.0.0.0/24", "dev", "ens6", "table", "10001")
        ns.run("ip", "rule", "add", "from", "10.0.0.20", "lookup", "10001", "priority", "10001")
        code, after = doctor()
        assert code == 0, after["findings"]
        owners = {r["priority"]: r["owner"] for r in after["rules"] if r["family"] == 4}
        assert owners[10001] == "amazon-ec2-net-utils"  # its layout: table = priority = 10001
