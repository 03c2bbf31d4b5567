"""eniplan: persistent per-ENI policy routing for EC2 instances with several network interfaces."""

__version__ = "0.1.0"
