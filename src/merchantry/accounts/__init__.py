"""Staff accounts, roles and memberships; customers of each shop; sign-in flows."""
