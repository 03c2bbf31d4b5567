"""The dynamic-mode agent: IMDSv2 -> the planner's core -> the iproute2 engine, on the
instance, at boot and on ENI hotplug. Standard library only (embedded in user data)."""
