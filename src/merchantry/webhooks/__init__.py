"""Merchant outbound webhooks: signed HTTP deliveries of a shop's domain events."""
