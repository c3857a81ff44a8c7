"""The built-in, server-rendered storefront."""
