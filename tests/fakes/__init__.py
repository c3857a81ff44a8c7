"""Fake third-party servers that speak the real API contracts (one module per provider)."""
