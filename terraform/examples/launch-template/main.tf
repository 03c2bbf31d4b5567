# A launch template (for an auto scaling group) whose instances get two network
# interfaces; the module is used for its user data alone, the same for every instance.
# aws_launch_template.network_interfaces has no source_dest_check: it stays on.

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
  description = "A Linux AMI with cloud-init and python3."
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

module "eni_routing" {
  source = "../../modules/eni-policy-routing"
}

resource "aws_launch_template" "this" {
  name_prefix   = "eniplan-"
  image_id      = var.ami_id
  instance_type = var.instance_type
  user_data     = module.eni_routing.user_data_base64 # gzip, as cloud-init reads it

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only, as the agent uses it
    http_put_response_hop_limit = 1
  }

  network_interfaces {
    device_index    = 0
    subnet_id       = var.subnet_id
    security_groups = var.security_group_ids
  }

  network_interfaces {
    device_index    = 1
    subnet_id       = var.second_subnet_id
    security_groups = var.security_group_ids
  }

  tag_specifications {
    resource_type = "instance"
    tags          = { Name = "eniplan-example" }
  }
}

output "launch_template_id" {
  value = aws_launch_template.this.id
}
