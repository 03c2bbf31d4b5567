# An instance with a primary network interface and two more ENIs attached by
# aws_network_interface_attachment (AWS provider 6.x: no inline network_interface block).
# The module's user data installs eniplan's agent, which routes every ENI by its own table.

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.11" # network_card_index on aws_network_interface_attachment
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "ami_id" {
  description = "A Linux AMI with cloud-init and python3 (Debian, Ubuntu before 24.04, RHEL, ...)."
  type        = string
}

variable "instance_type" {
  type    = string
  default = "t3.medium"
}

variable "subnet_id" {
  type = string
}

variable "second_subnet_id" {
  type = string
}

variable "security_group_ids" {
  type = list(string)
}

resource "aws_network_interface" "primary" {
  subnet_id       = var.subnet_id
  security_groups = var.security_group_ids
  tags            = { Name = "eniplan-example-primary" }
}

resource "aws_instance" "this" {
  ami              = var.ami_id
  instance_type    = var.instance_type
  user_data_base64 = module.eni_routing.user_data_base64 # gzip, as cloud-init reads it

  primary_network_interface {
    network_interface_id = aws_network_interface.primary.id
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only, as the agent uses it
    http_put_response_hop_limit = 1
  }

  tags = { Name = "eniplan-example" }
}

module "eni_routing" {
  source = "../../modules/eni-policy-routing"

  instance_id = aws_instance.this.id
  enis = {
    same-subnet = {
      subnet_id                  = var.subnet_id
      security_groups            = var.security_group_ids
      secondary_private_ip_count = 1
      device_index               = 1
    }
    other-subnet = {
      subnet_id       = var.second_subnet_id
      security_groups = var.security_group_ids
      device_index    = 2
    }
  }
  tags = { Project = "eniplan-example" }
}

output "network_interface_ids" {
  value = module.eni_routing.network_interface_ids
}
