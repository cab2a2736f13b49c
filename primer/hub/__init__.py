"""Helpers behind jupyterhub_config.py: Unix accounts, the course on the hub, hub settings."""
