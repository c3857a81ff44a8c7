from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "merchantry.inventory"
    label = "inventory"
    verbose_name = "Inventory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from merchantry.core.events import register_sink
        from merchantry.inventory.sinks import catalog_changes

        # Catalog may not call inventory; it records `product.changed`, and
        # the listings' in_stock flags follow from here.
        register_sink("inventory", catalog_changes)
