"""`eniplan lab --boot` refusing what it cannot do, before anything is built; the image key and
what each target installs and delivers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eniplan.lab import boot, image
from tests.helpers.cli_runner import run


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--target", "netplan"], "--target netplan: only the booted lab applies it: add --boot"),
        (["--prepare-image"], "--prepare-image builds the image of --boot: add --boot"),
    ],
)
def test_lab_options_that_need_boot(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code, out, err = run(["lab", "--sandbox", *argv], capsys)
    assert code == 2 and out == ""
    assert err == f"eniplan: error: {expected}\n"


def test_ifcfg_needs_a_rhel_image(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(
        ["lab", "--boot", "--target", "ifcfg", "--image-dir", str(tmp_path), "--sandbox"], capsys
    )
    assert code == 2
    assert err.count("\n") == 1 and "ifcfg needs a RHEL-family image" in err


def test_image_key_follows_the_package_list(monkeypatch: pytest.MonkeyPatch) -> None:
    key = image.image_key()
    assert key.startswith("debian-12-")
    monkeypatch.setattr(image, "PACKAGES", (*image.PACKAGES, "less"))
    assert image.image_key() != key


def test_stack_and_delivery_per_target() -> None:
    assert boot.stack_for("cloud-init", "script") == "networkd"
    assert boot.stack_for("cloud-init", "networkmanager") == "networkmanager"
    assert boot.stack_for("networkmanager", "script") == "networkmanager"
    assert boot.stack_for("netplan", "script") == "networkd"
    assert boot.stack_for("dynamic", "script") == "networkd"
    assert boot.stack_for("dynamic", "script", "networkmanager") == "networkmanager"
    assert boot.stack_for("cloud-init", "script", "networkmanager") == "networkmanager"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--target", "netplan", "--stack", "networkmanager"],
         "lab --boot: --target netplan is configuration for networkd, not --stack networkmanager"),
        (["--target", "cloud-init", "--persist", "networkmanager", "--stack", "networkd"],
         "lab --boot: --persist networkmanager is configuration for networkmanager, not "
         "--stack networkd"),
    ],
)  # fmt: skip
def test_a_stack_that_contradicts_the_target(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], expected: str
) -> None:
    code, out, err = run(
        ["lab", "--boot", "--image-dir", str(tmp_path), "--sandbox", *argv], capsys
    )
    assert (code, out, err) == (2, "", f"eniplan: error: {expected}\n")
    assert list(tmp_path.iterdir()) == []


def test_stack_needs_boot(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["lab", "--sandbox", "--stack", "networkmanager"], capsys)
    assert (code, out) == (2, "")
    assert err == "eniplan: error: --stack chooses the booted OS's network stack: add --boot\n"


def test_networkmanager_os_orders_cloud_init_after_networkmanager() -> None:
    """Debian's cloud-init.service runs before sysinit.target, where NetworkManager (it
    needs D-Bus) cannot have brought a link up: the NetworkManager OS gets the unit
    cloud-init renders for the RHEL family, after NetworkManager.service."""
    unit_path = "/etc/systemd/system/cloud-init.service"
    assert unit_path not in boot.first_boot_files("networkd")
    unit = boot.first_boot_files("networkmanager")[unit_path][0].decode()
    directives = {line for line in unit.splitlines() if "=" in line and line[0] != "#"}
    assert "After=NetworkManager.service" in directives
    assert "ExecStart=/usr/bin/cloud-init init" in directives
    assert not {"DefaultDependencies=no", "Before=sysinit.target"} & directives


def test_cloud_init_failures_from_its_result_file(tmp_path: Path) -> None:
    result = tmp_path / boot.CLOUD_INIT_RESULT.lstrip("/")
    assert boot.cloud_init_failures(tmp_path) == (
        f"cloud-init: no result in {boot.CLOUD_INIT_RESULT} (it did not finish)",
    )
    result.parent.mkdir(parents=True)
    result.write_text(json.dumps({"v1": {"datasource": "DataSourceEc2", "errors": []}}))
    assert boot.cloud_init_failures(tmp_path) == ()
    result.write_text(json.dumps({"v1": {"errors": ["('scripts_user', RuntimeError())"]}}))
    assert boot.cloud_init_failures(tmp_path) == ("cloud-init: ('scripts_user', RuntimeError())",)


def test_the_lab_os_masks_no_unit_of_the_network_or_the_reboot() -> None:
    for stack in ("networkd", "networkmanager"):
        masked = {path.rsplit("/", 1)[1] for path in boot.mask_files(stack)}
        assert masked >= set(boot.LAB_MASKED)
        assert not {"systemd-logind.service", "dbus.service", "cloud-init.service"} & masked
    networkd = {path.rsplit("/", 1)[1] for path in boot.mask_files("networkd")}
    assert "systemd-networkd.service" not in networkd
