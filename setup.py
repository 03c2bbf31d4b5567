"""Packaging beyond what pyproject.toml can say: the Terraform module ships inside the wheel.

The module lives at terraform/modules/eni-policy-routing, where Terraform's git sources
(`git::https://...//terraform/modules/eni-policy-routing`) expect it; the wheel carries the
same files as the data-only package `eniplan.terraform_module`, and `eniplan
terraform-module -o DIR` writes them out. One copy in the repository, none generated.
"""

from setuptools import find_packages, setup

MODULE_PACKAGE = "eniplan.terraform_module"

setup(
    packages=[*find_packages(include=["eniplan", "eniplan.*"]), MODULE_PACKAGE],
    package_dir={MODULE_PACKAGE: "terraform/modules/eni-policy-routing"},
    package_data={MODULE_PACKAGE: ["*.tf", "*.yaml"]},
)
