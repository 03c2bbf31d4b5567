"""Who installed a policy rule, told by its priority, table and protocol.

- the kernel: 0 `lookup local`, 32766 `lookup main`, 32767 `lookup default`;
- eniplan: protocol 247 on every rule; `from ADDR lookup T priority T` with
  T = base + 100*card + device, and the guard `lookup main suppress_ifgroup G` at base-1;
- amazon-ec2-net-utils 2.x (Amazon Linux 2023; systemd-networkd installs its rules):
  `from ADDR lookup T priority T`, T = 10000 + 100*network-card + device-number, for
  secondary ENIs only (lib/lib.sh, create_rules); 1.x (Amazon Linux 2) used 10000 + device;
- cloud-init's netplan multi-NIC policy routing (Ubuntu 24.04+): `from ADDR lookup 100+N`
  without a priority, so the kernel numbers them below 32766 (32765, 32764, ...), and
  `proto static` as systemd-networkd installs them (the same rule typed by hand has no
  protocol: it is "other");
- the Amazon VPC CNI (EKS): 10 (`iif vlanN`, pod ENIs), 20 (`lookup local`, moved),
  512 `from all to POD lookup main`, 1024 `not from all to VPC-CIDR lookup main` or
  `from all fwmark 0x80/0x80 lookup main` (connmark of NodePort traffic),
  1025-1535 external service CIDRs, 1536 `from POD [to VPC] lookup N` (N = device + 1).
"""

from __future__ import annotations

from eniplan.doctor.model import LOOKUP, KernelRule

KERNEL = "kernel default"
ENIPLAN = "eniplan"
EC2_NET_UTILS = "amazon-ec2-net-utils"
CLOUD_INIT = "cloud-init (netplan multi-NIC)"
VPC_CNI = "Amazon VPC CNI"
OTHER = "other (manual or unknown)"
ENIPLAN_PROTOCOL = "247"
AGENTS = (ENIPLAN, EC2_NET_UTILS, CLOUD_INIT, VPC_CNI)


def _table_number(rule: KernelRule) -> int | None:
    if rule.action != LOOKUP or rule.table is None or not rule.table.isdigit():
        return None
    return int(rule.table)


def rule_owner(rule: KernelRule) -> str:
    table = _table_number(rule)
    if rule.protocol == ENIPLAN_PROTOCOL:
        return ENIPLAN
    if rule.action == LOOKUP and not rule.src and not rule.dst and not rule.invert:
        if (rule.priority, rule.table) in ((0, "local"), (32766, "main"), (32767, "default")):
            return KERNEL
        if rule.priority == 20 and rule.table == "local":
            return VPC_CNI
    if rule.priority == 10 and rule.iif and rule.iif.startswith("vlan"):
        return VPC_CNI
    if rule.priority == 512 and rule.dst is not None and rule.table == "main" and not rule.src:
        return VPC_CNI
    if rule.priority == 1024 and rule.table == "main" and (rule.invert or rule.fwmark):
        return VPC_CNI  # `not from all to VPC lookup main`, `fwmark 0x80/0x80 lookup main`
    if (
        1025 <= rule.priority <= 1536
        and rule.table is not None
        and ((rule.priority == 1536 and rule.src is not None) or rule.table == "main")
    ):
        return VPC_CNI
    if table is not None and rule.src is not None:
        if table == rule.priority and 10000 <= table < 10000 + 100 * 32:
            return EC2_NET_UTILS
        if 100 <= table < 200 and 32000 <= rule.priority < 32766 and rule.protocol == "static":
            return CLOUD_INIT  # systemd-networkd marks its rules `proto static`
    return OTHER
