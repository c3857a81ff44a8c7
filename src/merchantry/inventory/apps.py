from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "merchantry.inventory"
    label = "inventory"
    verbose_name = "Inventory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import pre_delete

        from merchantry.catalog.models import ProductVariant
        from merchantry.core.events import register_sink
        from merchantry.inventory.models import VariantStock
        from merchantry.inventory.sinks import catalog_changes
        from merchantry.inventory.variant_removal import variant_pre_delete

        # Catalog may not call inventory; it records `product.changed`, and
        # the listings' in_stock flags follow from here.
        register_sink("inventory", catalog_changes)
        # Likewise a variant's deletion, by any path (service, regeneration,
        # bulk upsert, its product's cascade): inventory refuses it while its
        # stock is held or promised, else writes the stock off in the ledger.
        # The proxy is listed too: the signal's sender is the instance's class.
        for model in (ProductVariant, VariantStock):
            pre_delete.connect(
                variant_pre_delete, sender=model, dispatch_uid=f"inventory.{model.__name__}"
            )
