"""The AWS CLI dumps of tests/fixtures/awscli/by-region: a command's document, a copy of the
us-east-1 region to change, a document written back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests import helpers

BY_REGION = helpers.FIXTURES / "awscli" / "by-region"
EAST = BY_REGION / "us-east-1"
INSTANCES = "describe-instances"
ENIS = "describe-network-interfaces"
SUBNETS = "describe-subnets"
IMAGES = "describe-images"
ROUTES = "describe-route-tables"
Document = dict[str, Any]


def load(command: str, region: str = "us-east-1") -> Document:
    document: Document = json.loads((BY_REGION / region / f"{command}.json").read_text())
    return document


def copy_region(tmp_path: Path, *, without: tuple[str, ...] = ()) -> Path:
    target = tmp_path / "us-east-1"
    target.mkdir()
    for source in sorted(EAST.glob("*.json")):
        if source.stem not in without:
            shutil.copy(source, target / source.name)
    return target


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document, indent=4) + "\n")
    return path
