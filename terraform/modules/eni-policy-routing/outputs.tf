output "user_data" {
  description = "The dynamic cloud-init user data (the same for every instance): pass it as aws_instance.user_data, or base64encode() it for a launch template."
  value       = file("${path.module}/user-data.yaml")
}

output "network_interface_ids" {
  description = "ENI IDs by name."
  value       = { for name, eni in aws_network_interface.this : name => eni.id }
}

output "attachment_ids" {
  description = "Attachment IDs by ENI name."
  value       = { for name, attachment in aws_network_interface_attachment.this : name => attachment.attachment_id }
}
