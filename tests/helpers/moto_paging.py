"""Make moto page EC2 Describe* answers the way AWS does.

moto 5 returns every network interface, subnet and route table in one answer whatever
MaxResults says, and pages describe_instances by reservation rather than by instance. A test
of "ceil(n/page) requests" would then pass for the wrong reason, so `faithful_paging()`
swaps those response handlers for ones that honour MaxResults and NextToken: a page holds at
most MaxResults items, NextToken is returned only while items remain, and MaxResults outside
the API's documented range is an InvalidParameterValue, as on AWS. Without MaxResults and
NextToken the answer is unchanged (everything at once), which is also what AWS does.

Works for `mock_aws` and for `moto.server.ThreadedMotoServer` (same process, same classes).
"""

from __future__ import annotations

import base64
import binascii
import copy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import (
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValueError,
)
from moto.ec2.responses.elastic_network_interfaces import ElasticNetworkInterfaces
from moto.ec2.responses.instances import InstanceResponse
from moto.ec2.responses.route_tables import RouteTables
from moto.ec2.responses.subnets import Subnets

# The MaxResults range each API documents.
MAX_RESULTS = {
    "describe_instances": (5, 1000),
    "describe_network_interfaces": (5, 1000),
    "describe_subnets": (5, 1000),
    "describe_route_tables": (5, 100),
}

# (class, method, key of the list in the answer)
_LIST_HANDLERS: tuple[tuple[type, str, str], ...] = (
    (ElasticNetworkInterfaces, "describe_network_interfaces", "NetworkInterfaces"),
    (Subnets, "describe_subnets", "Subnets"),
    (RouteTables, "describe_route_tables", "RouteTables"),
)

_lock = threading.Lock()
_depth = 0  # nested faithful_paging() blocks patch once and undo once


def _token(operation: str, offset: int) -> str:
    # Opaque to the client, like AWS's; bound to the operation so a foreign token fails.
    return base64.urlsafe_b64encode(f"{operation}:{offset}".encode()).decode()


def _offset(operation: str, token: str | None) -> int:
    if not token:
        return 0
    try:
        name, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if name == operation and offset.isdigit():
            return int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidNextToken(token)


def _page_bounds(response: Any, operation: str) -> tuple[int, int | None]:
    """(first item, page size or None for 'everything') from MaxResults and NextToken."""
    raw_max = response._get_param("MaxResults")
    token = response._get_param("NextToken")
    start = _offset(operation, token)
    if raw_max is None:
        return start, None
    low, high = MAX_RESULTS[operation]
    try:
        size = int(raw_max)
    except (TypeError, ValueError):
        raise InvalidParameterValueError(str(raw_max)) from None
    if not low <= size <= high:
        raise InvalidParameterValueError(f"{size} (MaxResults must be {low} to {high})")
    return start, size


def _paged_list(original: Callable[[Any], ActionResult], operation: str, key: str) -> Any:
    def handler(self: Any) -> ActionResult:
        start, size = _page_bounds(self, operation)
        answer = original(self)  # filters, IDs and dry-run checks stay moto's
        items = list(answer.result[key])  # type: ignore[index]
        if size is None and start == 0:
            return answer
        end = len(items) if size is None else start + size
        result: dict[str, Any] = {key: items[start:end]}
        if end < len(items):
            result["NextToken"] = _token(operation, end)
        return ActionResult(result)

    handler.__name__ = operation
    handler.__wrapped__ = original  # type: ignore[attr-defined]
    return handler


def _describe_instances(self: Any) -> ActionResult:
    """describe_instances paged by instance (MaxResults counts instances on AWS).

    A reservation cut by a page boundary appears on both pages with its share of instances.
    """
    self.error_on_dryrun()
    instance_ids = self._get_param("InstanceIds", [])
    if instance_ids and self._get_param("MaxResults") is not None:
        raise InvalidParameterCombination(
            "The parameter instancesSet cannot be used with the parameter maxResults"
        )
    start, size = _page_bounds(self, "describe_instances")
    filters = self._filters_from_querystring()
    if instance_ids:
        reservations = self.ec2_backend.get_reservations_by_instance_ids(
            instance_ids, filters=filters
        )
    else:
        reservations = self.ec2_backend.describe_instances(filters=filters)
    pairs = [(r, i) for r in reservations for i in r.instances]
    end = len(pairs) if size is None else start + size
    page: list[Any] = []
    for reservation, instance in pairs[start:end]:
        if not page or page[-1].id != reservation.id:
            part = copy.copy(reservation)
            part.instances = []
            page.append(part)
        page[-1].instances.append(instance)
    result: dict[str, Any] = {"Reservations": page}
    if end < len(pairs):
        result["NextToken"] = _token("describe_instances", end)
    return ActionResult(result)


def _patch() -> list[tuple[type, str, Any]]:
    """Swap the handlers; returns what undoes it."""
    replacements: list[tuple[type, str, Any]] = [
        (cls, name, _paged_list(cls.__dict__[name], name, key)) for cls, name, key in _LIST_HANDLERS
    ]
    replacements.append((InstanceResponse, "describe_instances", _describe_instances))
    undo = [(cls, name, cls.__dict__[name]) for cls, name, _ in replacements]
    for cls, name, handler in replacements:
        setattr(cls, name, handler)
    return undo


_undo: list[tuple[type, str, Any]] = []


@contextmanager
def faithful_paging() -> Iterator[None]:
    """Within the block, moto pages these Describe* calls like AWS; afterwards as before."""
    global _depth, _undo
    with _lock:
        if _depth == 0:
            _undo = _patch()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for cls, name, original in reversed(_undo):
                    setattr(cls, name, original)
                _undo = []
