"""The plugin platform: manifests, discovery, hooks, provider interfaces, per-shop installations."""
