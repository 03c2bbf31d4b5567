"""What every source produces: the raw AWS API shapes, grouped by where they came from.

The AWS source fills one `Shapes` per account and region, a snapshot holds the same, and
each AWS CLI dump file becomes one `Shapes` with only one kind of list filled. Keeping the
API shapes (rather than the model) is what lets a snapshot be re-read by a newer eniplan
and lets AWS CLI output be used as it is. sources/shapes.py turns them into the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from eniplan.model import FetchProblem

Shape = dict[str, Any]

# The lists of a Shapes, by the key the AWS API (and the AWS CLI) gives them.
SHAPE_KEYS = (
    "Reservations",
    "NetworkInterfaces",
    "Subnets",
    "Images",
    "RouteTables",
    # describe_instance_attribute(Attribute="userData") answers, one per multi-ENI
    # instance: {"InstanceId": ..., "UserData": {"Value": BASE64}} ("UserData": {} if none)
    "InstanceUserData",
)


@dataclass
class Shapes:
    origin: str  # where they came from, for messages: a file, or "aws ACCOUNT REGION"
    account_id: str | None = None  # None: take it from each item (AWS CLI dumps)
    region: str | None = None
    # each list of records; one read from a file is its JSON array as it is (msgspec.Raw):
    # sources/shapes.py decodes it whole, without splitting it into records and joining
    # them again (a copy of up to 100 MB)
    lists: Mapping[str, list[Shape] | msgspec.Raw] = field(default_factory=dict)
    # what went wrong while reading them, moved into Collection.problems by the collector
    problems: list[FetchProblem] = field(default_factory=list)

    def items(self, key: str) -> list[Shape]:
        """The records of one list, each alone (a JSON array is split: each record stays
        JSON, msgspec.Raw)."""
        found = self.lists.get(key, [])
        if isinstance(found, msgspec.Raw):
            split: list[Any] = msgspec.json.decode(found, type=list[msgspec.Raw])
            return split
        return found


@dataclass
class Collection:
    shapes: list[Shapes] = field(default_factory=list)
    problems: list[FetchProblem] = field(default_factory=list)

    def extend(self, other: Collection) -> None:
        self.shapes.extend(other.shapes)
        self.problems.extend(other.problems)
