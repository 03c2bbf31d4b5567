"""What an instance's user data says about its policy routing (pure).

User data arrives base64-decoded (sources/shapes.py). It may be gzip-compressed (cloud-init
reads gzip, and eniplan compresses large static user data) and may be a MIME multipart
archive of several parts. `analyse` unpacks both, then looks for:

- eniplan's marker line, written by render/cloudinit.py as the second line:
  `# eniplan VERSION instance=ID plan=sha256:DIGEST persist=P table-base=N guard=on|off`.
  A marker with a plan digest is static user data, compared with the current plan planned
  with the options it records (drift); a marker without one (or with `mode=dynamic`) is the
  dynamic agent (`# eniplan VERSION mode=dynamic table-base=N guard=on|off`), which reads
  the metadata service at boot and cannot drift. Markers written before eniplan recorded
  the options (no `table-base=` / `guard=`), or whose options are malformed, are read
  still, with the options unknown.
- another agent that the user data clearly installs: amazon-ec2-net-utils (by a package
  manager or a cloud-config `packages:` entry). Conservative on purpose: anything less
  clear is not taken as policy routing.
- persistent policy-routing configuration of the OS's network stack that the user data
  writes: netplan `routing-policy:`, systemd-networkd `[RoutingPolicyRule]`,
  NetworkManager `routing-rule1=` / `ipv4.routing-rules`, RHEL network-scripts `rule-ethX`.
- hand-written `ip rule add ... from` in the script: it runs at first boot only (cloud-init
  runs user data scripts once per instance), so the rules are gone after a reboot and never
  cover an ENI attached later. Not covered, and `describe` says why.

Covered (`UserDataInfo.covered`) means persistent: eniplan's marker, an agent, or network
configuration. Both `audit` and `check-plan` judge user data with `analyse`.

Nothing here executes or evaluates the user data; it is read as text with bounded sizes.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass

from eniplan.frozen import quick_init
from eniplan.plancore import MAX_TABLE_BASE, MIN_TABLE_BASE

# Enough for any user data EC2 accepts (16 KB, decompressed at most ~1000x) and no more:
# a crafted gzip bomb stops here.
MAX_DECOMPRESSED = 4 * 1024 * 1024
MAX_PARTS = 64

_GZIP_MAGIC = b"\x1f\x8b"
_MARKER = re.compile(
    r"^#[ \t]*eniplan[ \t]+(?P<version>\d[\w.+-]*)(?P<fields>(?:[ \t]+[a-z_-]+=\S*)*)[ \t]*$",
    re.MULTILINE,
)
_FIELD = re.compile(r"([a-z_-]+)=(\S*)")
_TABLE_BASE = re.compile(r"[1-9][0-9]{0,5}")
_GUARD = {"on": True, "off": False}
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_NET_UTILS_INSTALL = re.compile(
    r"^[^#\n]*\b(?:yum|dnf|apt-get|apt|zypper)\b[^\n#]*\binstall\b[^\n#]*"
    r"\bamazon-ec2-net-utils\b"
    r"|^[ \t]*-[ \t]*['\"]?amazon-ec2-net-utils['\"]?[ \t]*$",
    re.MULTILINE,
)


# persistent per-ENI rules in the configuration of the OS's network stack
_PERSISTENT_ROUTING: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^[ \t-]*routing-policy[ \t]*:", re.MULTILINE), "netplan routing-policy"),
    (re.compile(r"^[ \t]*\[RoutingPolicyRule\]", re.MULTILINE), "systemd-networkd rules"),
    (
        re.compile(r"^[ \t]*routing-rule\d+[ \t]*=|\bipv[46]\.routing-rules\b", re.MULTILINE),
        "NetworkManager routing rules",
    ),
    (re.compile(r"/etc/sysconfig/network-scripts/rule6?-\w"), "network-scripts rule files"),
)
_FIRST_BOOT_RULE = re.compile(
    r"^[^#\n]*\bip[ \t]+(?:-[46][ \t]+)?rule[ \t]+(?:add|replace)[ \t]+"
    r"(?:(?:pref\S*|priority)[ \t]+\S+[ \t]+)?from\b",
    re.MULTILINE,
)


@quick_init
@dataclass(frozen=True)
class Marker:
    """eniplan's marker line, as found in the user data."""

    version: str
    instance_id: str | None = None
    digest: str | None = None  # hex sha256 of the plan; None: dynamic mode
    mode: str = "static"
    persist: str = ""
    # The planning options the user data was rendered with (`table-base=N guard=on|off`);
    # None when the marker does not record them (older eniplan) or they are malformed.
    table_base: int | None = None
    guard: bool | None = None
    options_problem: str = ""  # why recorded options were not taken (malformed)

    @property
    def options_known(self) -> bool:
        return self.table_base is not None and self.guard is not None

    @property
    def static(self) -> bool:
        return self.mode != "dynamic" and self.digest is not None


@quick_init
@dataclass(frozen=True)
class UserDataInfo:
    """The verdict on one instance's user data."""

    known: bool  # False: not fetched (unknown), which is never taken as safe
    empty: bool = False
    marker: Marker | None = None
    other_agent: str | None = None  # an agent the user data installs (conservative)
    problem: str = ""  # why it could not be read completely
    routing_config: str = ""  # persistent policy-routing configuration it writes
    first_boot_rules: bool = False  # `ip rule add ... from` in a script (first boot only)

    @property
    def covered(self) -> bool:
        """Persistent per-ENI policy routing: eniplan's, an agent's, or network config."""
        return self.marker is not None or bool(self.other_agent) or bool(self.routing_config)

    def describe(self) -> str:
        if not self.known:
            return "user data unknown (not collected)"
        if self.empty:
            return "no user data"
        if self.marker is not None:
            kind = "static" if self.marker.static else "dynamic"
            return f"eniplan {kind} user data ({self.marker.version})"
        if self.other_agent:
            return f"user data installs {self.other_agent}"
        if self.routing_config:
            return f"user data writes persistent policy routing ({self.routing_config})"
        if self.problem:
            return f"user data not readable: {self.problem}"
        if self.first_boot_rules:
            return (
                "user data adds `ip rule ... from` in a script, which runs at first boot "
                "only: not persistent (gone after a reboot, none for ENIs attached later)"
            )
        return "user data without policy routing"


UNKNOWN = UserDataInfo(known=False)


def analyse(raw: bytes | None) -> UserDataInfo:
    if raw is None:
        return UNKNOWN
    if not raw.strip():
        return UserDataInfo(known=True, empty=True)
    marker = _marker_in_head(raw)
    if marker is not None:  # eniplan's own user data: nothing else to look for
        return UserDataInfo(known=True, marker=marker)
    texts, problem = _texts(raw)
    marker = next((m for m in map(find_marker, texts) if m is not None), None)
    if marker is not None:
        return UserDataInfo(known=True, marker=marker, problem=problem)
    if any(_NET_UTILS_INSTALL.search(text) for text in texts):
        return UserDataInfo(known=True, other_agent="amazon-ec2-net-utils", problem=problem)
    routing = next(
        (name for text in texts for pattern, name in _PERSISTENT_ROUTING if pattern.search(text)),
        "",
    )
    return UserDataInfo(
        known=True,
        problem=problem,
        routing_config=routing,
        first_boot_rules=any(_FIRST_BOOT_RULE.search(text) for text in texts),
    )


def find_marker(text: str) -> Marker | None:
    match = _MARKER.search(text)
    if match is None:
        return None
    pairs = _FIELD.findall(match.group("fields"))
    fields = dict(pairs)
    instance_id = fields.get("instance")
    digest_match = _DIGEST.match(fields.get("plan", ""))
    table_base, guard, problem = _options(pairs)
    return Marker(
        version=match.group("version"),
        instance_id=instance_id if instance_id and _INSTANCE_ID.match(instance_id) else None,
        digest=digest_match.group(1) if digest_match else None,
        mode="dynamic" if fields.get("mode") == "dynamic" else "static",
        persist=fields.get("persist", ""),
        table_base=table_base,
        guard=guard,
        options_problem=problem,
    )


def _options(pairs: list[tuple[str, str]]) -> tuple[int | None, bool | None, str]:
    """The marker's `table-base=` and `guard=`, strictly: both present once and valid, or
    neither is taken (with the reason, unless both are simply absent: older markers)."""
    fields = dict(pairs)
    base_text, guard_text = fields.get("table-base"), fields.get("guard")
    if base_text is None and guard_text is None:
        return None, None, ""
    problems: list[str] = []
    if len(fields) < len(pairs):  # some key repeats (eniplan writes each once)
        counts = Counter(key for key, _ in pairs)
        problems += [
            f"{key}= given {counts[key]} times"
            for key in ("table-base", "guard")
            if counts[key] > 1
        ]
    if base_text is None:
        problems.append("table-base= missing")
    elif not _TABLE_BASE.fullmatch(base_text) or not (
        MIN_TABLE_BASE <= int(base_text) <= MAX_TABLE_BASE
    ):
        problems.append(
            f"table-base={base_text[:20]!r} is not an integer from {MIN_TABLE_BASE} to "
            f"{MAX_TABLE_BASE}"
        )
    if guard_text is None:
        problems.append("guard= missing")
    elif guard_text not in _GUARD:
        problems.append(f"guard={guard_text[:20]!r} is not on or off")
    if problems or base_text is None or guard_text is None:
        return None, None, "; ".join(problems)
    return int(base_text), _GUARD[guard_text], ""


HEAD = 512  # eniplan writes its marker as the second line (under 250 bytes)


def _marker_in_head(raw: bytes) -> Marker | None:
    """The marker of plain or gzip user data written by eniplan (the second line), without
    decompressing the rest: audits of large accounts read thousands of these."""
    if raw.startswith(_GZIP_MAGIC):
        try:
            head = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(raw, HEAD)
        except zlib.error:
            return None
    else:
        head = raw[:HEAD]
    lines = head.split(b"\n", 2)
    if len(lines) < 3 or lines[0].strip().lower().startswith(b"content-type"):
        return None
    return find_marker(lines[1].decode("utf-8", errors="replace"))


def _texts(raw: bytes) -> tuple[list[str], str]:
    """The text parts of the user data (gunzipped, MIME parts split), and a problem."""
    data, problem = _gunzip(raw)
    if data is None:
        return [], problem
    head = data[:512].lower()
    if b"content-type:" in head and b"multipart/" in head:
        return _mime_parts(data)
    return [data.decode("utf-8", errors="replace")], problem


def decompressed(raw: bytes) -> tuple[bytes | None, str]:
    """User data gunzipped when it is gzip (bounded), else as it is; None and the problem
    when it cannot be read."""
    return _gunzip(raw)


def _gunzip(raw: bytes) -> tuple[bytes | None, str]:
    if not raw.startswith(_GZIP_MAGIC):
        return raw, ""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(raw, MAX_DECOMPRESSED)
    except zlib.error as error:
        return None, f"gzip data is corrupt ({error})"
    if inflater.unconsumed_tail:
        return None, f"more than {MAX_DECOMPRESSED} bytes once decompressed"
    if not inflater.eof:
        return None, "gzip data is truncated or corrupt"
    return data, ""


def _mime_parts(data: bytes) -> tuple[list[str], str]:
    import email.parser  # only MIME user data needs it: the audit's start-up does not pay
    import email.policy

    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(data)
    texts: list[str] = []
    problem = ""
    for count, part in enumerate(message.walk()):
        if count > MAX_PARTS:
            problem = f"more than {MAX_PARTS} MIME parts: the rest were not read"
            break
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        inner, inner_problem = _gunzip(payload)
        problem = problem or inner_problem
        if inner is not None:
            texts.append(inner.decode("utf-8", errors="replace"))
    return texts, problem
