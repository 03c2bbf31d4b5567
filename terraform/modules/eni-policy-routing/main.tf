# Secondary ENIs with the source/destination check on, attached to one instance, and the
# dynamic cloud-init user data whose agent gives each ENI its routing table at boot and
# whenever an ENI is attached or detached (eniplan render --target cloud-init --mode dynamic).

resource "aws_network_interface" "this" {
  for_each = var.enis

  subnet_id         = each.value.subnet_id
  security_groups   = each.value.security_groups
  private_ips_count = each.value.secondary_private_ip_count
  source_dest_check = true
  description       = coalesce(each.value.description, "eniplan: ${each.key}")
  tags              = merge(var.tags, { Name = each.key })
}

resource "aws_network_interface_attachment" "this" {
  for_each = var.instance_id == null ? {} : var.enis

  instance_id          = var.instance_id
  network_interface_id = aws_network_interface.this[each.key].id
  device_index         = each.value.device_index
  network_card_index   = each.value.network_card_index
}
