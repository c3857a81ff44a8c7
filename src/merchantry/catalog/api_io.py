"""
Admin API for integrations: the bulk product upsert, and product CSV imports
and exports (background jobs whose progress and report are read back).

Registered before the catalog's router: ``/products/bulk``, ``/products/import``
and ``/products/export`` would otherwise be taken for ``/products/{product_id}``.
"""

from __future__ import annotations

from django.http import FileResponse, HttpRequest
from ninja import File, Form, Query, Router, Status
from ninja.files import UploadedFile

from merchantry.catalog import transfers
from merchantry.catalog.bulk import BatchResult, products_upsert
from merchantry.catalog.models_io import CatalogTransfer, TransferKind
from merchantry.catalog.schemas_io import (
    BulkUpsertIn,
    BulkUpsertOut,
    ExportIn,
    TransferOut,
    TransferSummaryOut,
)
from merchantry.core.errors import FieldError, ValidationFailed
from merchantry.core.ids import parse_id, pk_or_none
from merchantry.core.pagination import CursorPage, Page, PageParams, paginate
from merchantry.tenancy.context import request_context

__all__ = ["admin_router"]

admin_router = Router(tags=["catalog import and export"])


def _channel_id(value: str | None) -> int | None:
    # An id naming no channel is a field error of the body, not a missing route.
    if value is None:
        return None
    pk = pk_or_none(value)
    if pk is None:
        raise ValidationFailed(
            errors=[FieldError(("channel_id",), "No such channel.", "not_found")]
        )
    return pk


def _batch_out(batch: BatchResult) -> dict[str, object]:
    return {
        "channel_id": str(batch.channel.pk) if batch.channel else None,
        "created": batch.count("created"),
        "updated": batch.count("updated"),
        "unchanged": batch.count("unchanged"),
        "failed": batch.count("error"),
        "results": [
            {
                "index": r.index,
                "handle": r.handle,
                "status": r.status,
                "product_id": str(r.product_id) if r.product_id else None,
                "errors": [e.as_dict() for e in r.errors],
            }
            for r in batch.results
        ],
    }


@admin_router.post(
    "/products/bulk",
    response=BulkUpsertOut,
    summary="Create or update up to 100 products by handle (idempotent)",
)
def products_bulk(request: HttpRequest, payload: BulkUpsertIn) -> dict[str, object]:
    """
    Each item is a product keyed by `handle`, its variants keyed by `sku`;
    each is written on its own (a bad item does not stop the others) and
    answered in `results`, in order: `created`, `updated`, `unchanged` or
    `error` with field errors.
    """
    ctx = request_context(request)
    batch = products_upsert(
        actor=ctx.actor,
        shop=ctx.shop,
        items=payload.items,
        channel_id=_channel_id(payload.channel_id),
    )
    return _batch_out(batch)


# -- imports -------------------------------------------------------------------------------


@admin_router.post(
    "/products/import",
    response={202: TransferOut},
    summary="Import a Shopify product CSV (multipart `file`) in the background",
)
def product_import(
    request: HttpRequest,
    file: File[UploadedFile],
    channel_id: Form[str | None] = None,
) -> Status[CatalogTransfer]:
    ctx = request_context(request)
    transfer = transfers.import_start(
        actor=ctx.actor,
        shop=ctx.shop,
        data=file.read(),
        file_name=file.name or "",
        channel_id=_channel_id(channel_id or None),
    )
    return Status(202, transfer)


@admin_router.get(
    "/product-imports", response=Page[TransferSummaryOut], summary="Product imports, newest first"
)
def import_list(request: HttpRequest, page: Query[PageParams]) -> CursorPage[CatalogTransfer]:
    ctx = request_context(request)
    imports = transfers.transfer_list(actor=ctx.actor, shop=ctx.shop, kind=TransferKind.IMPORT)
    return paginate(imports, page, order_by=("-created_at",))


@admin_router.get(
    "/product-imports/{import_id}",
    response=TransferOut,
    summary="One import: progress, counts and row errors",
)
def import_get(request: HttpRequest, import_id: str) -> CatalogTransfer:
    ctx = request_context(request)
    return transfers.transfer_get(
        actor=ctx.actor,
        shop=ctx.shop,
        kind=TransferKind.IMPORT,
        transfer_id=parse_id(import_id, what="import"),
    )


# -- exports -------------------------------------------------------------------------------


@admin_router.post(
    "/products/export",
    response={202: TransferOut},
    summary="Export products as a Shopify product CSV in the background",
)
def product_export(request: HttpRequest, payload: ExportIn) -> Status[CatalogTransfer]:
    ctx = request_context(request)
    transfer = transfers.export_start(
        actor=ctx.actor,
        shop=ctx.shop,
        status=payload.status,
        channel_id=_channel_id(payload.channel_id),
    )
    return Status(202, transfer)


@admin_router.get(
    "/product-exports", response=Page[TransferSummaryOut], summary="Product exports, newest first"
)
def export_list(request: HttpRequest, page: Query[PageParams]) -> CursorPage[CatalogTransfer]:
    ctx = request_context(request)
    exports = transfers.transfer_list(actor=ctx.actor, shop=ctx.shop, kind=TransferKind.EXPORT)
    return paginate(exports, page, order_by=("-created_at",))


@admin_router.get(
    "/product-exports/{export_id}",
    response=TransferOut,
    summary="One export: progress, and its download link when done",
)
def export_get(request: HttpRequest, export_id: str) -> CatalogTransfer:
    ctx = request_context(request)
    return transfers.transfer_get(
        actor=ctx.actor,
        shop=ctx.shop,
        kind=TransferKind.EXPORT,
        transfer_id=parse_id(export_id, what="export"),
    )


@admin_router.get(
    "/product-exports/{export_id}/file",
    response={200: None},
    summary="Download a finished export (text/csv)",
)
def export_download(request: HttpRequest, export_id: str) -> FileResponse:
    ctx = request_context(request)
    transfer = transfers.export_file(
        actor=ctx.actor, shop=ctx.shop, transfer_id=parse_id(export_id, what="export")
    )
    return FileResponse(
        transfer.file.open("rb"),
        as_attachment=True,
        filename=transfer.file_name or "products.csv",
        content_type="text/csv; charset=utf-8",
    )
