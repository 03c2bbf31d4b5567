variable "instance_id" {
  description = "Instance to attach the ENIs to; null creates the ENIs unattached (or none, for user_data alone)."
  type        = string
  default     = null
}

variable "enis" {
  description = "Secondary ENIs by name: subnet, security groups, secondary private IPv4 count, device and network card index."
  type = map(object({
    subnet_id                  = string
    security_groups            = optional(list(string), [])
    secondary_private_ip_count = optional(number, 0)
    device_index               = number
    network_card_index         = optional(number, 0)
    description                = optional(string)
  }))
  default = {}

  validation {
    condition     = alltrue([for eni in values(var.enis) : eni.device_index >= 1 && eni.device_index < 100])
    error_message = "device_index must be 1 to 99: 0 is the primary network interface."
  }

  validation {
    condition     = alltrue([for eni in values(var.enis) : eni.network_card_index >= 0 && eni.network_card_index < 32])
    error_message = "network_card_index must be 0 to 31."
  }

  validation {
    condition     = alltrue([for eni in values(var.enis) : eni.secondary_private_ip_count >= 0 && eni.secondary_private_ip_count <= 49])
    error_message = "secondary_private_ip_count must be 0 to 49."
  }

  validation {
    condition     = length(distinct([for eni in values(var.enis) : "${eni.network_card_index}/${eni.device_index}"])) == length(var.enis)
    error_message = "Two ENIs have the same network card and device index."
  }
}

variable "tags" {
  description = "Tags for every ENI (each also gets Name = its key)."
  type        = map(string)
  default     = {}
}
