"""The tenant (Shop), its domains and channels, API keys, and the permission vocabulary."""
