"""Who else configures an instance's network: the OS family from its AMI, the agents that
already install policy routing, and the services that own some ENIs.

eniplan never fights them: the planner leaves their ENIs (or the whole instance) alone and
says why; `render --persist auto` picks the persistence that fits the OS.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from eniplan.model import Eni, Image, Instance

# OS families, as far as the network stack is concerned.
AMAZON_LINUX_2 = "amazon-linux-2"
AMAZON_LINUX_2023 = "amazon-linux-2023"
AMAZON_LINUX_1 = "amazon-linux-1"
RHEL_7 = "rhel-7"  # RHEL/CentOS 7: network-scripts
RHEL_8_PLUS = "rhel-8+"  # RHEL, CentOS Stream, Rocky, Alma 8+: NetworkManager
UBUNTU = "ubuntu"
DEBIAN = "debian"
SUSE = "suse"
WINDOWS = "windows"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class OsGuess:
    family: str
    version: str = ""  # e.g. "24.04", "7", "2023"
    evidence: str = ""  # what it was decided from, for messages

    @property
    def known(self) -> bool:
        return self.family != UNKNOWN


_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bal2023-ami-|amazon linux 2023", re.I), AMAZON_LINUX_2023),
    (re.compile(r"\bamzn2-ami-|amazon linux 2\b|amazon-eks-node-(?!al2023)", re.I), AMAZON_LINUX_2),
    (re.compile(r"\bamzn-ami-|amazon linux ami", re.I), AMAZON_LINUX_1),
    (re.compile(r"\b(?:rhel|red hat enterprise linux)[-_ ]?(?P<v>\d+)", re.I), "rhel"),
    (re.compile(r"\bcentos(?: linux| stream)?[-_ ]?(?P<v>\d+)", re.I), "rhel"),
    (re.compile(r"\b(?:rocky|almalinux|oracle linux|ol)[-_ ]?(?P<v>\d+)", re.I), "rhel"),
    (re.compile(r"\bubuntu\b.*?(?P<v>\d{2}\.\d{2})", re.I), UBUNTU),
    (re.compile(r"\bdebian[-_ ](?P<v>\d+)", re.I), DEBIAN),
    (re.compile(r"\b(?:suse|sles)\b", re.I), SUSE),
)


def guess_os(instance: Instance, image: Image | None) -> OsGuess:
    """The OS family of an instance, from its AMI's name, description and platform."""
    if image is None:
        if "windows" in instance.platform_details.lower():
            return OsGuess(WINDOWS, evidence="platform details")
        return OsGuess(UNKNOWN, evidence=f"AMI {instance.image_id} is unknown or deregistered")
    return guess_os_of_image(image)


@functools.lru_cache(maxsize=4096)  # an account has few images and many instances of each
def guess_os_of_image(image: Image) -> OsGuess:
    """The OS family of an AMI, from its name, description and platform."""
    if image.platform == "windows" or "windows" in image.platform_details.lower():
        return OsGuess(WINDOWS, evidence=f"AMI {image.image_id} platform")
    text = f"{image.name} {image.description}"
    for pattern, family in _PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        version = match.groupdict().get("v") or ""
        if family == "rhel":
            family = RHEL_7 if version and int(version) <= 7 else RHEL_8_PLUS
        return OsGuess(family, version, f"AMI {image.image_id} ({image.name})")
    if "red hat" in image.platform_details.lower():
        return OsGuess(RHEL_8_PLUS, evidence=f"AMI {image.image_id} platform details")
    return OsGuess(UNKNOWN, evidence=f"AMI {image.image_id} ({image.name}) is not recognised")


def predates_rule_protocols(os_guess: OsGuess) -> bool:
    """True where the kernel is older than Linux 4.17, which added rule protocols: the
    iproute2 script and the agent's engine need them (RHEL/CentOS 7 ship 3.10)."""
    return os_guess.family == RHEL_7


def python_predates_agent(os_guess: OsGuess) -> bool:
    """True where the OS's python3 cannot run the dynamic target's agent, which needs Python
    3.7+: RHEL/CentOS 8 ship only the platform Python 3.6."""
    return os_guess.family == RHEL_8_PLUS and os_guess.version == "8"


def policy_routing_agent(os_guess: OsGuess) -> str | None:
    """The agent that already installs per-ENI policy routing on this OS, if any."""
    if os_guess.family in (AMAZON_LINUX_2, AMAZON_LINUX_2023):
        return "amazon-ec2-net-utils"
    if os_guess.family == UBUNTU and os_guess.version and os_guess.version >= "24.04":
        return "cloud-init (netplan multi-NIC policy routing)"
    if os_guess.family == WINDOWS:
        return "EC2Launch (Windows)"
    return None


# --- ENIs owned by a service -----------------------------------------------------------

_VPC_CNI_TAGS = ("node.k8s.amazonaws.com/instance_id", "cluster.k8s.amazonaws.com/name")


def eni_owner(eni: Eni) -> str | None:
    """Who owns an ENI, when it is not the instance's OS to route: a reason, or None."""
    if eni.requester_managed:
        return "requester-managed: an AWS service created and manages it"
    if eni.interface_type in ("trunk", "branch"):
        return f"ECS awsvpc trunking ({eni.interface_type} interface): the ECS agent routes it"
    if eni.interface_type == "efa-only":
        return "EFA-only interface: no IP traffic, nothing to route"
    if eni.description.startswith("aws-K8S-") or not eni.tags.keys().isdisjoint(_VPC_CNI_TAGS):
        return "Amazon VPC CNI (EKS) owns it and installs its own rules"
    return None


def eni_owners(instance: Instance) -> tuple[str | None, ...]:
    """`eni_owner` of each of the instance's ENIs, in their order."""
    return tuple(eni_owner(eni) for eni in instance.enis)


def instance_owner(instance: Instance, owners: Sequence[str | None] | None = None) -> str | None:
    """A service that owns the whole instance's routing (an EKS node's VPC CNI); `owners`:
    its `eni_owners`, when the caller has them."""
    if owners is None:
        owners = eni_owners(instance)
    if any(owner and "VPC CNI" in owner for owner in owners):
        return "Amazon VPC CNI (EKS): it routes every ENI of the node, pod IPs included"
    if any(key.startswith("kubernetes.io/cluster/") for key in instance.tags) or (
        "eks:cluster-name" in instance.tags
    ):
        return "an EKS node: the Amazon VPC CNI routes its ENIs"
    return None
