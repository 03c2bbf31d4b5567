terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.11" # network_card_index on aws_network_interface_attachment
    }
  }
}
