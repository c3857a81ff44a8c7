"""Management commands of the plugin platform: ``merchantry plugins`` and ``merchantry plugin``."""
