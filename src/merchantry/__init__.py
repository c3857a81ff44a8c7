"""Merchantry: a self-hostable, headless, multi-tenant, multi-channel commerce platform."""

__version__ = "0.1.0"
