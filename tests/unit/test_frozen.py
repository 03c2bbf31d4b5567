"""quick_init: the same frozen dataclass objects, made faster."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from eniplan.frozen import quick_init
from eniplan.model import Eni, Instance


@dataclasses.dataclass(frozen=True)
class Plain:
    name: str
    count: int = 1
    tags: dict[str, str] = dataclasses.field(default_factory=dict, hash=False)


@quick_init
@dataclasses.dataclass(frozen=True)
class Quick:
    name: str
    count: int = 1
    tags: dict[str, str] = dataclasses.field(default_factory=dict, hash=False)


def test_the_objects_are_what_the_dataclass_made() -> None:
    plain, quick = Plain("a"), Quick("a")
    assert vars(quick) == vars(plain) == {"name": "a", "count": 1, "tags": {}}
    assert vars(Quick("b", 2, {"k": "v"})) == vars(Plain(name="b", count=2, tags={"k": "v"}))
    assert Quick("a").tags is not Quick("a").tags  # a new default each time
    assert Quick("a") == Quick("a") and hash(Quick("a", 2)) == hash(Quick("a", 2, {"x": "y"}))
    assert dataclasses.replace(Quick("a"), count=3) == Quick("a", 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.name = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Quick()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Quick("a", unknown=1)  # type: ignore[call-arg]


def test_model_objects_survive_a_round_trip() -> None:
    eni = Eni("eni-0123456789abcdef0", "02:00:00:00:00:01", "subnet-01234567", "vpc-01234567", None)
    instance = Instance(
        "i-01234567",
        "123456789012",
        "eu-west-1",
        "eu-west-1a",
        "ami-01234567",
        "t3.micro",
        "running",
        (eni,),
    )
    assert pickle.loads(pickle.dumps(instance)) == instance
    assert dataclasses.replace(eni, mac="02:00:00:00:00:02").mac == "02:00:00:00:00:02"
    assert eni.tags == {} and eni.secondary_ipv4s == () and instance.user_data is None


def test_what_it_cannot_do_is_refused() -> None:
    @dataclasses.dataclass
    class Mutable:
        name: str

    @dataclasses.dataclass(frozen=True)
    class Checked:
        name: str

        def __post_init__(self) -> None:
            pass

    @dataclasses.dataclass(frozen=True, slots=True)
    class Slotted:
        name: str

    for cls in (Mutable, Checked, Slotted):
        with pytest.raises(TypeError):
            quick_init(cls)
