"""
Built-in plugins, one package each.

They register through the ``merchantry.plugins`` entry point exactly as a
third-party plugin does (see ``pyproject.toml``), and talk to the platform
only through :mod:`merchantry.plugins`; the core never imports them.
"""
