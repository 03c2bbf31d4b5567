"""Plan JSON documents in the format `terraform show -json PLANFILE` documents, built by
hand: only for a shape that no provider installable here writes (provider 6.x's
`primary_network_interface`); every other check-plan test reads real plans recorded from
the CLI and the provider (tests/helpers/realplan.py, tests/fixtures/plans).

https://developer.hashicorp.com/terraform/internals/json-format: `resource_changes` (each
with `address`, `module_address`, `mode`, `type`, `name`, `index` and `change` with
`actions`, `after`, `after_unknown`), `planned_values.root_module` (`resources`,
`child_modules`) and `configuration.root_module` (`resources` with `expressions` holding
`constant_value` or `references`, `module_calls` with `source` and `module`).
"""

from __future__ import annotations

import json
from typing import Any


def ref(*references: str) -> dict[str, Any]:
    return {"references": list(references)}


def const(value: Any) -> dict[str, Any]:
    return {"constant_value": value}


def instance_key(index: int | str | None) -> str:
    if index is None:
        return ""
    return f"[{json.dumps(index)}]"


class PlanBuilder:
    def __init__(self, format_version: str = "1.2", terraform_version: str = "1.9.8") -> None:
        self.format_version = format_version
        self.terraform_version = terraform_version
        self.changes: list[dict[str, Any]] = []
        self.root: dict[str, Any] = {"resources": [], "module_calls": {}}
        self._configured: set[tuple[str, str]] = set()

    def module(self, key: str, source: str) -> None:
        """Declare module `key` (module.a or module.a.module.b) with its source."""
        self._config_module(key, source)

    def _config_module(self, key: str, source: str | None = None) -> dict[str, Any]:
        module = self.root
        if not key:
            return module
        names = key.split(".")[1::2]
        for name in names:
            call = module["module_calls"].setdefault(
                name,
                {"source": f"./modules/{name}", "module": {"resources": [], "module_calls": {}}},
            )
            module = call["module"]
        if source is not None:
            call["source"] = source
        return module

    def resource(
        self,
        type_: str,
        name: str,
        after: dict[str, Any],
        *,
        expressions: dict[str, Any] | None = None,
        index: int | str | None = None,
        module: str = "",
        unknown: dict[str, Any] | None = None,
        actions: tuple[str, ...] = ("create",),
        mode: str = "managed",
    ) -> str:
        """Add a resource instance; `module` is the module instance (module.a["x"])."""
        key = ".".join(part for part in _strip_keys(module).split(".") if part)
        prefix = "data." if mode == "data" else ""
        address = f"{module + '.' if module else ''}{prefix}{type_}.{name}{instance_key(index)}"
        self.changes.append(
            {
                "address": address,
                **({"module_address": module} if module else {}),
                "mode": mode,
                "type": type_,
                "name": name,
                **({"index": index} if index is not None else {}),
                "provider_name": "registry.terraform.io/hashicorp/aws",
                "change": {
                    "actions": list(actions),
                    "before": None if "create" in actions else dict(after),
                    "after": after,
                    "after_unknown": unknown or {},
                    "before_sensitive": False,
                    "after_sensitive": {},
                },
            }
        )
        if (key, f"{type_}.{name}") not in self._configured and expressions is not None:
            self._configured.add((key, f"{type_}.{name}"))
            self._config_module(key)["resources"].append(
                {
                    "address": f"{prefix}{type_}.{name}",
                    "mode": mode,
                    "type": type_,
                    "name": name,
                    "provider_config_key": "aws",
                    "expressions": expressions,
                    "schema_version": 1,
                }
            )
        return address

    def planned_values(self) -> dict[str, Any]:
        modules: dict[str, dict[str, Any]] = {"": {"resources": [], "child_modules": []}}

        def module_for(address: str) -> dict[str, Any]:
            if address not in modules:
                parent_address = address.rsplit(".module.", 1)[0] if ".module." in address else ""
                parent = module_for(parent_address)
                modules[address] = {"address": address, "resources": [], "child_modules": []}
                parent["child_modules"].append(modules[address])
            return modules[address]

        for change in self.changes:
            if change["change"]["actions"] == ["delete"]:
                continue
            module_for(change.get("module_address", ""))["resources"].append(
                {
                    key: change[key]
                    for key in ("address", "mode", "type", "name", "index", "provider_name")
                    if key in change
                }
                | {"schema_version": 1, "values": change["change"]["after"], "sensitive_values": {}}
            )
        return {"root_module": modules[""]}

    def document(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "terraform_version": self.terraform_version,
            "planned_values": self.planned_values(),
            "resource_changes": self.changes,
            "configuration": {"root_module": self.root},
        }

    def dumps(self) -> str:
        return json.dumps(self.document())


def _strip_keys(module: str) -> str:
    out, depth, quoted = [], 0, False
    for char in module:
        if quoted:
            if char == '"':
                quoted = False
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == '"' and depth:
            quoted = True
        elif not depth:
            out.append(char)
    return "".join(out)
