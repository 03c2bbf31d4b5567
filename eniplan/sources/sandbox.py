"""The sandbox: an in-process moto account seeded from a bundled scenario.

The scenario is seeded through the EC2 API (boto3 against moto) and read back through the
same AWS source that reads real accounts, so the sandbox exercises the real collection
path. Where moto does not model a field (AMI IDs and platform details, delegated IPv4
prefixes) the seeding sets it on moto's objects directly; those spots say so.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import yaml

from eniplan import values
from eniplan.errors import InputError
from eniplan.fileio import beyond_decoder, decode_json_text
from eniplan.inventory import DEFAULT_SCENARIO as DEFAULT_SCENARIO  # re-exported
from eniplan.sources.aws import AwsCollector, AwsOptions
from eniplan.sources.collection import Collection

SANDBOX_ACCOUNT = "123456789012"  # moto's default account
STORY_TAG = "eniplan-sandbox:story"


def bundled_scenarios() -> list[str]:
    folder = resources.files("eniplan") / "scenarios"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


# --- the scenario file -----------------------------------------------------------------


@dataclass(frozen=True)
class EniSpec:
    subnet: str
    ip: str
    secondary_ips: tuple[str, ...] = ()
    ipv4_prefixes: tuple[str, ...] = ()
    ipv6_count: int = 0
    source_dest_check: bool = True
    # assigned after eniplan's user data was rendered: the installed routing drifts
    later_secondary_ips: tuple[str, ...] = ()


@dataclass(frozen=True)
class InstanceSpec:
    name: str
    story: str
    image: str
    type: str
    enis: tuple[EniSpec, ...]
    source_dest_check: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    routes: tuple[tuple[str, str], ...] = ()  # (route table, destination)
    user_data: str = ""  # literal user data given to run_instances
    eniplan_user_data: bool = False  # eniplan's static cloud-init user data, set after seeding


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    region: str
    seed: int
    vpcs: dict[str, dict[str, Any]]
    subnets: dict[str, dict[str, Any]]
    images: dict[str, dict[str, Any]]
    instances: tuple[InstanceSpec, ...]
    route_tables: dict[str, dict[str, Any]]


def load_scenario(name_or_path: str) -> Scenario:
    """A bundled scenario by name, or a scenario YAML file by path."""
    if name_or_path in bundled_scenarios():
        resource = resources.files("eniplan") / "scenarios" / f"{name_or_path}.yaml"
        text, origin = resource.read_text(encoding="utf-8"), f"scenario {name_or_path}"
    elif Path(name_or_path).is_file():
        origin = name_or_path
        # UTF-8, or with a byte order mark as YAML allows (PowerShell 5's `>` writes UTF-16)
        text = decode_json_text(Path(name_or_path).read_bytes(), origin, "UTF-8 YAML")
    else:
        raise InputError(
            f"--sandbox: {name_or_path!r} is neither a bundled scenario "
            f"({', '.join(bundled_scenarios())}) nor a scenario file"
        )
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InputError(f"{origin}: not valid YAML: {' '.join(str(error).split())}") from None
    except RecursionError as error:
        raise InputError(f"{origin}: the YAML {beyond_decoder(error)}") from None
    return _parse_scenario(document, origin, Path(name_or_path).stem)


def _parse_scenario(document: Any, origin: str, name: str) -> Scenario:
    def fail(where: str, message: str) -> InputError:
        return InputError(f"{origin}: {where}: {message}")

    def check(where: str, validator: Any, value: Any) -> Any:
        try:
            return validator(value)
        except ValueError as error:
            raise fail(where, str(error)) from None

    def flag(where: str, value: Any, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            raise fail(where, f"expected true or false, got {value!r}")
        return value

    def text(where: str, value: Any, default: str) -> str:
        if value is None:
            return default
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise fail(where, f"expected text, got {type(value).__name__}")
        return str(value)

    def strings(where: str, value: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise fail(where, f"expected a list, got {type(value).__name__}")
        return value

    def reference(where: str, value: Any, section: str) -> str:
        if not isinstance(value, str) or value not in sections[section]:
            raise fail(where, f"{value!r} is not one of the {section} of the scenario")
        return value

    if not isinstance(document, dict):
        raise fail("top level", "expected a mapping")
    try:
        region = values.region_name(document.get("region"))
    except ValueError as error:
        raise fail("region", str(error)) from None
    seed = document.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise fail("seed", f"expected a whole number from 0 to {2**32 - 1}, got {seed!r}")
    sections = {}
    for key in ("vpcs", "subnets", "images", "route_tables"):
        section = document.get(key) or {}
        if not isinstance(section, dict) or not all(isinstance(v, dict) for v in section.values()):
            raise fail(key, "expected a mapping of names to mappings")
        sections[key] = section
    for key, vpc in sections["vpcs"].items():
        if not flag(f"vpcs.{key}.default", vpc.get("default"), False):
            check(f"vpcs.{key}.cidr", values.ipv4_network, vpc.get("cidr"))
        flag(f"vpcs.{key}.ipv6", vpc.get("ipv6"), False)
    for key, subnet in sections["subnets"].items():
        vpc_name = reference(f"subnets.{key}.vpc", subnet.get("vpc"), "vpcs")
        check(f"subnets.{key}.cidr", values.ipv4_network, subnet.get("cidr"))
        zone = check(f"subnets.{key}.zone", values.availability_zone, subnet.get("zone"))
        if values.region_of_zone(zone) != region:
            raise fail(f"subnets.{key}.zone", f"{zone!r} is not a zone of region {region}")
        wants_ipv6 = flag(f"subnets.{key}.ipv6", subnet.get("ipv6"), False)
        if wants_ipv6 and not sections["vpcs"][vpc_name].get("ipv6"):
            raise fail(f"subnets.{key}.ipv6", f"VPC {vpc_name} has no IPv6 (set its ipv6: true)")
    for key, image in sections["images"].items():
        check(f"images.{key}.id", lambda v: values.resource_id("ami", v), image.get("id"))
        if not isinstance(image.get("name"), str):
            raise fail(f"images.{key}.name", "expected the image name (text)")
        for field_name in ("description", "owner", "platform", "platform_details"):
            text(f"images.{key}.{field_name}", image.get(field_name), "")
    for key, table in sections["route_tables"].items():
        reference(f"route_tables.{key}.vpc", table.get("vpc"), "vpcs")
        for s_index, subnet_name in enumerate(
            strings(f"route_tables.{key}.subnets", table.get("subnets"))
        ):
            reference(f"route_tables.{key}.subnets[{s_index}]", subnet_name, "subnets")
    instances = []
    used: dict[str, str] = {}  # address -> where it was given
    for index, item in enumerate(strings("instances", document.get("instances"))):
        where = f"instances[{index}]"
        if not isinstance(item, dict):
            raise fail(where, "expected a mapping")
        image_ref = item.get("image")
        if not isinstance(image_ref, str) or (
            image_ref not in sections["images"] and not image_ref.startswith("ami-")
        ):
            raise fail(
                f"{where}.image",
                f"{image_ref!r} is neither an image of the scenario nor an AMI ID (an AMI "
                "ID that no image defines is an unknown or deregistered AMI)",
            )
        if image_ref not in sections["images"]:
            check(f"{where}.image", lambda v: values.resource_id("ami", v), image_ref)
        enis = []
        for e_index, eni in enumerate(strings(f"{where}.enis", item.get("enis"))):
            e_where = f"{where}.enis[{e_index}]"
            if (
                not isinstance(eni, dict)
                or not isinstance(eni.get("subnet"), str)
                or eni["subnet"] not in sections["subnets"]
            ):
                raise fail(f"{e_where}.subnet", "expected a subnet of the scenario")

            def addresses(key: str, validator: Any, where: str = e_where, eni: Any = eni) -> Any:
                return tuple(
                    str(check(f"{where}.{key}[{i}]", validator, v))
                    for i, v in enumerate(strings(f"{where}.{key}", eni.get(key)))
                )

            ipv6_count = eni.get("ipv6_count", 0)
            if not isinstance(ipv6_count, int) or isinstance(ipv6_count, bool):
                raise fail(f"{e_where}.ipv6_count", f"expected a number, got {ipv6_count!r}")
            if not 0 <= ipv6_count <= 50:
                raise fail(f"{e_where}.ipv6_count", f"{ipv6_count} is not from 0 to 50")
            if ipv6_count and not sections["subnets"][eni["subnet"]].get("ipv6"):
                raise fail(
                    f"{e_where}.ipv6_count",
                    f"subnet {eni['subnet']} has no IPv6 (set its ipv6: true)",
                )
            ip = check(f"{e_where}.ip", values.ipv4_address, eni.get("ip"))
            cidr = values.ipv4_network(sections["subnets"][eni["subnet"]]["cidr"])
            if ip not in cidr:
                raise fail(f"{e_where}.ip", f"{ip} is not in subnet {eni['subnet']} ({cidr})")
            spec = EniSpec(
                subnet=eni["subnet"],
                ip=str(ip),
                secondary_ips=addresses("secondary_ips", values.ipv4_address),
                ipv4_prefixes=addresses("ipv4_prefixes", values.ipv4_network),
                ipv6_count=ipv6_count,
                source_dest_check=flag(
                    f"{e_where}.source_dest_check", eni.get("source_dest_check"), True
                ),
                later_secondary_ips=addresses("later_secondary_ips", values.ipv4_address),
            )
            for address in (spec.ip, *spec.secondary_ips, *spec.later_secondary_ips):
                if address in used:  # EC2 gives an address to one ENI only
                    raise fail(f"{e_where}", f"{address} is already given at {used[address]}")
                used[address] = e_where
            enis.append(spec)
        if not enis:
            raise fail(f"{where}.enis", "an instance needs at least one ENI")
        routes = []
        for r_index, route in enumerate(strings(f"{where}.routes", item.get("routes"))):
            r_where = f"{where}.routes[{r_index}]"
            if not isinstance(route, dict):
                raise fail(r_where, "expected a mapping with route_table and destination")
            table_name = reference(
                f"{r_where}.route_table", route.get("route_table"), "route_tables"
            )
            destination = check(
                f"{r_where}.destination", values.ipv4_network, route.get("destination", "0.0.0.0/0")
            )
            routes.append((table_name, str(destination)))
        tags = item.get("tags") or {}
        if not isinstance(tags, dict):
            raise fail(f"{where}.tags", f"expected a mapping of keys to values, got {tags!r}")
        instances.append(
            InstanceSpec(
                name=text(f"{where}.name", item.get("name"), f"instance-{index}"),
                story=text(f"{where}.story", item.get("story"), ""),
                image=image_ref,
                type=text(f"{where}.type", item.get("type"), "t3.micro"),
                enis=tuple(enis),
                source_dest_check=flag(
                    f"{where}.source_dest_check", item.get("source_dest_check"), True
                ),
                tags={
                    text(f"{where}.tags", k, ""): text(f"{where}.tags.{k}", v, "")
                    for k, v in tags.items()
                },
                routes=tuple(routes),
                user_data=text(f"{where}.user_data", item.get("user_data"), ""),
                eniplan_user_data=flag(
                    f"{where}.eniplan_user_data", item.get("eniplan_user_data"), False
                ),
            )
        )
    return Scenario(
        name=name,
        description=text("description", document.get("description"), ""),
        region=region,
        seed=seed,
        vpcs=sections["vpcs"],
        subnets=sections["subnets"],
        images=sections["images"],
        instances=tuple(instances),
        route_tables=sections["route_tables"],
    )


# --- seeding moto ----------------------------------------------------------------------


@contextlib.contextmanager
def _isolated_environment() -> Iterator[None]:
    """Keep the user's AWS settings out of the sandbox: it must never reach real AWS."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith("AWS_"):
            del os.environ[key]
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_SESSION_TOKEN": "sandbox",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class _Seeder:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.ec2: Any = boto3.client("ec2", region_name=scenario.region)
        self.vpc_ids: dict[str, str] = {}
        self.vpc_ipv6: dict[str, list[ipaddress.IPv6Network]] = {}
        self.subnet_ids: dict[str, str] = {}
        self.route_table_ids: dict[str, str] = {}
        self.launched: dict[str, tuple[str, list[str]]] = {}  # name -> (instance, ENIs)

    def _tags(self, resource: str, tags: dict[str, str]) -> list[dict[str, Any]]:
        return [
            {
                "ResourceType": resource,
                "Tags": [{"Key": key, "Value": value} for key, value in tags.items() if value],
            }
        ]

    def seed(self) -> None:
        for name, vpc in self.scenario.vpcs.items():
            if vpc.get("default"):
                self.vpc_ids[name] = self._default_vpc()
                self.vpc_ipv6[name] = []
                continue
            answer = self.ec2.create_vpc(
                CidrBlock=str(vpc["cidr"]),
                AmazonProvidedIpv6CidrBlock=bool(vpc.get("ipv6")),
                TagSpecifications=self._tags("vpc", {"Name": name}),
            )["Vpc"]
            self.vpc_ids[name] = answer["VpcId"]
            blocks = answer.get("Ipv6CidrBlockAssociationSet") or []
            self.vpc_ipv6[name] = (
                list(ipaddress.IPv6Network(blocks[0]["Ipv6CidrBlock"]).subnets(new_prefix=64))[:256]
                if blocks
                else []
            )
        existing = {
            (item["VpcId"], item["CidrBlock"]): item["SubnetId"]
            for item in self.ec2.describe_subnets()["Subnets"]
        }
        for name, subnet in self.scenario.subnets.items():
            reuse = existing.get((self.vpc_ids[subnet["vpc"]], str(subnet["cidr"])))
            if reuse:  # a default subnet of the default VPC
                self.subnet_ids[name] = reuse
                continue
            kwargs: dict[str, Any] = {}
            if subnet.get("ipv6"):
                kwargs["Ipv6CidrBlock"] = str(self.vpc_ipv6[subnet["vpc"]].pop(1))
            self.subnet_ids[name] = self.ec2.create_subnet(
                VpcId=self.vpc_ids[subnet["vpc"]],
                CidrBlock=str(subnet["cidr"]),
                AvailabilityZone=str(subnet["zone"]),
                TagSpecifications=self._tags("subnet", {"Name": name}),
                **kwargs,
            )["Subnet"]["SubnetId"]
        self._images()
        for name, table in self.scenario.route_tables.items():
            table_id = self.ec2.create_route_table(
                VpcId=self.vpc_ids[table["vpc"]],
                TagSpecifications=self._tags("route-table", {"Name": name}),
            )["RouteTable"]["RouteTableId"]
            self.route_table_ids[name] = table_id
            for subnet in table.get("subnets") or []:
                self.ec2.associate_route_table(
                    RouteTableId=table_id, SubnetId=self.subnet_ids[subnet]
                )
        for instance in self.scenario.instances:
            self._instance(instance)
        # After every instance, so that the IDs and MACs of the others do not move.
        self._eniplan_user_data()

    def _default_vpc(self) -> str:
        vpcs = self.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            raise InputError(f"scenario {self.scenario.name}: the region has no default VPC")
        return str(vpcs[0]["VpcId"])

    def _backend(self) -> Any:
        from moto.backends import get_backend

        return get_backend("ec2")[SANDBOX_ACCOUNT][self.scenario.region]

    def _images(self) -> None:
        # moto's register_image cannot set the ID or PlatformDetails: build its objects.
        from moto.ec2.models.amis import Ami

        backend = self._backend()
        for image in self.scenario.images.values():
            ami = Ami(
                backend,
                ami_id=values.resource_id("ami", image["id"]),
                name=str(image["name"]),
                description=str(image.get("description") or ""),
                owner_id=str(image.get("owner") or SANDBOX_ACCOUNT),
                public=True,
                platform=image.get("platform"),
                region_name=self.scenario.region,
            )
            # moto serialises any attribute named like an API field
            setattr(ami, "platform_details", str(image.get("platform_details") or "Linux/UNIX"))  # noqa: B010
            backend.amis[ami.id] = ami

    def _instance(self, spec: InstanceSpec) -> None:
        primary = spec.enis[0]
        tags = {"Name": spec.name, STORY_TAG: spec.story, **spec.tags}
        image = self.scenario.images.get(spec.image)
        extra: dict[str, Any] = {"UserData": spec.user_data} if spec.user_data else {}
        instance = self.ec2.run_instances(
            # an AMI ID that no image defines: moto launches it, describe_images does not
            # know it (as for a deregistered AMI)
            ImageId=image["id"] if image else spec.image,
            **extra,
            InstanceType=spec.type,
            MinCount=1,
            MaxCount=1,
            NetworkInterfaces=[
                {
                    "DeviceIndex": 0,
                    "SubnetId": self.subnet_ids[primary.subnet],
                    "PrivateIpAddress": primary.ip,
                }
            ],
            TagSpecifications=self._tags("instance", tags),
        )["Instances"][0]
        instance_id = instance["InstanceId"]
        eni_ids = [instance["NetworkInterfaces"][0]["NetworkInterfaceId"]]
        self._addresses(eni_ids[0], primary)
        for device, eni in enumerate(spec.enis[1:], start=1):
            eni_id = self.ec2.create_network_interface(
                SubnetId=self.subnet_ids[eni.subnet],
                PrivateIpAddress=eni.ip,
                Description=f"{spec.name} eth{device}",
                TagSpecifications=self._tags(
                    "network-interface", {"Name": f"{spec.name}-eth{device}"}
                ),
            )["NetworkInterface"]["NetworkInterfaceId"]
            self._addresses(eni_id, eni)
            self.ec2.attach_network_interface(
                NetworkInterfaceId=eni_id, InstanceId=instance_id, DeviceIndex=device
            )
            eni_ids.append(eni_id)
        if not spec.source_dest_check:
            self.ec2.modify_instance_attribute(
                InstanceId=instance_id, SourceDestCheck={"Value": False}
            )
        for eni_id, eni in zip(eni_ids, spec.enis, strict=True):
            if not eni.source_dest_check or (eni is primary and not spec.source_dest_check):
                self.ec2.modify_network_interface_attribute(
                    NetworkInterfaceId=eni_id, SourceDestCheck={"Value": False}
                )
        for table, destination in spec.routes:
            self.ec2.create_route(
                RouteTableId=self.route_table_ids[table],
                DestinationCidrBlock=destination,
                NetworkInterfaceId=eni_ids[0],
            )
        self.launched[spec.name] = (instance_id, eni_ids)

    def _eniplan_user_data(self) -> None:
        """eniplan's static cloud-init user data for the instances that ask for it, rendered
        from the instance as collected, then the addresses that make some of it drift."""
        wanted = [spec for spec in self.scenario.instances if spec.eniplan_user_data]
        if not wanted:
            return
        from moto.core.types import Base64EncodedString

        from eniplan.plan import plan_instance
        from eniplan.render import cloudinit
        from eniplan.render.base import RenderOptions
        from eniplan.sources.shapes import build_inventory

        ids = tuple(self.launched[spec.name][0] for spec in wanted)
        session = boto3.Session(region_name=self.scenario.region)
        options = AwsOptions(regions=(self.scenario.region,), instance_ids=ids)
        inventory = build_inventory(AwsCollector(options, session=session).collect())
        backend = self._backend()
        for instance in inventory.instances:
            plan = plan_instance(instance, inventory)
            seeded = RenderOptions(replace_user_data=True)  # eniplan's user data alone
            (user_data,) = cloudinit.render(plan, seeded).files
            raw = user_data.content
            data = raw.encode() if isinstance(raw, str) else raw
            # moto's ModifyInstanceAttribute rejects the UserData boto3 sends (it expects it
            # base64-encoded twice): set it on moto's instance object, as EC2 would store it.
            backend.get_instance(instance.instance_id).user_data = Base64EncodedString(
                base64.b64encode(data).decode()
            )
        for spec in wanted:
            for eni_id, eni in zip(self.launched[spec.name][1], spec.enis, strict=True):
                if eni.later_secondary_ips:
                    self.ec2.assign_private_ip_addresses(
                        NetworkInterfaceId=eni_id, PrivateIpAddresses=list(eni.later_secondary_ips)
                    )

    def _addresses(self, eni_id: str, spec: EniSpec) -> None:
        if spec.secondary_ips:
            self.ec2.assign_private_ip_addresses(
                NetworkInterfaceId=eni_id, PrivateIpAddresses=list(spec.secondary_ips)
            )
        if spec.ipv6_count:
            self.ec2.assign_ipv6_addresses(
                NetworkInterfaceId=eni_id, Ipv6AddressCount=spec.ipv6_count
            )
        if spec.ipv4_prefixes:
            # moto accepts Ipv4Prefixes but does not keep them: set them on its ENI object.
            self._backend().enis[eni_id].ipv4_prefixes = [
                {"Ipv4Prefix": str(ipaddress.IPv4Network(prefix))} for prefix in spec.ipv4_prefixes
            ]


def sandbox_collection(name_or_path: str = DEFAULT_SCENARIO) -> Collection:
    """Seed a fresh moto account from the scenario and collect it like a real one."""
    scenario = load_scenario(name_or_path)
    try:
        from moto import mock_aws
        from moto.moto_api._internal import mock_random
    except ImportError:
        raise InputError("--sandbox needs moto: pip install 'eniplan[sandbox]'") from None
    with _isolated_environment(), mock_aws():
        mock_random.seed(scenario.seed)  # the same IDs and MACs on every run
        try:
            _Seeder(scenario).seed()
        except botocore.exceptions.ClientError as error:
            # a value the checks above let through and the EC2 API (moto) refuses
            message = error.response.get("Error", {}).get("Message") or str(error)
            raise InputError(f"scenario {scenario.name}: EC2 refused it: {message}") from None
        session = boto3.Session(region_name=scenario.region)
        collector = AwsCollector(AwsOptions(regions=(scenario.region,)), session=session)
        return collector.collect()
