"""The example plugin's background job, run on a schedule its manifest declares."""

from __future__ import annotations

from merchantry.core.jobs import job
from merchantry.core.logging import get_logger

__all__ = ["count_enabled_shops"]

logger = get_logger(__name__)


@job()
def count_enabled_shops() -> int:
    """Log in how many shops the example plugin is enabled (a periodic job example)."""
    from merchantry.plugins.models import InstallationStatus, PluginInstallation

    count = PluginInstallation.objects.filter(
        plugin_id="example", status=InstallationStatus.ENABLED
    ).count()
    logger.info("example_enabled_shops", count=count)
    return count
