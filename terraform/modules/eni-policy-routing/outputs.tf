output "user_data_base64" {
  description = "The dynamic cloud-init user data (the same for every instance), gzip-compressed and base64-encoded (cloud-init reads gzip): pass it as aws_instance.user_data_base64 or aws_launch_template.user_data."
  value       = base64gzip(file("${path.module}/user-data.yaml"))
}

output "user_data" {
  description = "The same user data as text, to read: over EC2's 16 KB, so pass user_data_base64 to instances."
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
