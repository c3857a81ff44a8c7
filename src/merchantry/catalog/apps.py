from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _ensure_search_index(sender, using: str = "default", **kwargs) -> None:
    from merchantry.catalog.search import ensure_index

    ensure_index(connections[using])


class CatalogConfig(AppConfig):
    name = "merchantry.catalog"
    label = "catalog"
    verbose_name = "Catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from merchantry.catalog import cache

        # SQLite rebuilds a table to alter it, dropping its triggers; put the
        # search triggers back after every migrate.
        post_migrate.connect(_ensure_search_index, sender=self, dispatch_uid="catalog-search")
        cache.connect()
