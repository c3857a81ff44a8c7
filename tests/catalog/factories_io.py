"""Imports and exports for the cross-cutting API tests (tenant wall, bad input)."""

from __future__ import annotations

from django.core.files.base import ContentFile

from merchantry.catalog.models_io import CatalogTransfer, TransferKind, TransferStatus
from merchantry.tenancy.models import Shop


def wall_import(shop: Shop) -> CatalogTransfer:
    """A finished import of ``shop``."""
    return CatalogTransfer.objects.create(
        shop=shop,
        kind=TransferKind.IMPORT,
        status=TransferStatus.DONE,
        file_name="products.csv",
        created_by="wall",
        counts={"created": 1},
    )


def wall_export(shop: Shop) -> CatalogTransfer:
    """A finished export of ``shop``, its file ready to download."""
    transfer = CatalogTransfer(
        shop=shop,
        kind=TransferKind.EXPORT,
        status=TransferStatus.DONE,
        file_name="products.csv",
        created_by="wall",
    )
    transfer.file.save("wall.csv", ContentFile(b"Handle,Title\nsecret,Secret\n"), save=False)
    transfer.save()
    return transfer
