"""
The example plugin: a flat-rate shipping provider, signed webhooks, a health
check and an event hook, written the way a third-party plugin would be.

It is the worked example of ``docs/plugins.md`` and is tested in CI, so what
the guide shows keeps working.
"""

from merchantry.integrations.example.integration import ExamplePlugin, ExampleSettings

__all__ = ["ExamplePlugin", "ExampleSettings", "plugin"]

plugin = ExamplePlugin()
"""The object the ``merchantry.plugins`` entry point names."""
