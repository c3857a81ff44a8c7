"""
Product CSV imports and exports: starting them, running them, reading them.

Starting one checks the permission and the input, stores the upload (for an
import) and a :class:`~merchantry.catalog.models_io.CatalogTransfer` row, and
enqueues its job once the transaction commits. The job claims the row
(queued -> running, with one conditional UPDATE, so a job delivered twice
runs once), records its progress every batch, and ends it ``done`` with its
counts and row issues, or ``failed`` with the reason.

An import writes products through :func:`merchantry.catalog.bulk.products_upsert`,
:data:`~merchantry.catalog.bulk.MAX_BATCH` products per transaction: a
product whose rows have errors is not written at all, the others are.
"""

from __future__ import annotations

import io
import secrets
import tempfile
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from merchantry.catalog import csv_io
from merchantry.catalog.bulk import MAX_BATCH, default_channel, products_upsert
from merchantry.catalog.category_paths import CategoryPaths
from merchantry.catalog.models import (
    Category,
    Product,
    ProductChannelListing,
    ProductMedia,
    ProductVariant,
    VariantChannelPrice,
)
from merchantry.catalog.models_io import (
    MAX_STORED_ISSUES,
    CatalogTransfer,
    TransferKind,
    TransferStatus,
)
from merchantry.core import audit
from merchantry.core.actors import Actor
from merchantry.core.errors import Conflict, NotFound, PayloadTooLarge, invalid_field
from merchantry.core.logging import get_logger
from merchantry.tenancy.models import Channel, Shop
from merchantry.tenancy.permissions import Perm

__all__ = [
    "EXPORT_CHUNK",
    "export_file",
    "export_start",
    "import_start",
    "run_export",
    "run_import",
    "transfer_get",
    "transfer_list",
]

EXPORT_CHUNK = 500
logger = get_logger(__name__)


def _channel(shop: Shop, channel_id: int | None) -> Channel | None:
    if channel_id is None:
        return default_channel(shop)
    channel = Channel.objects.for_shop(shop).filter(pk=channel_id).first()
    if channel is None:
        raise invalid_field("channel_id", "No such channel.", "not_found")
    return channel


def _file_name(name: str) -> str:
    # Shown back to the user, never used as a path: printable and short.
    cleaned = "".join(c for c in name if c.isprintable() and c not in "/\\")
    return cleaned.strip()[-200:] or "products.csv"


# -- starting -----------------------------------------------------------------------------


def import_start(
    *, actor: Actor, shop: Shop, data: bytes, file_name: str, channel_id: int | None = None
) -> CatalogTransfer:
    """
    Queue the import of a Shopify product CSV; prices and publication go to
    the channel ``channel_id`` names (default: the shop's first channel).
    A file that cannot be a product CSV at all is refused here, with 422.
    """
    actor.require(Perm.CATALOG_MANAGE)
    limit = settings.MERCHANTRY_MAX_REQUEST_BODY
    if len(data) > limit:
        raise PayloadTooLarge(f"The file is larger than {limit} bytes.")
    channel = _channel(shop, channel_id)
    csv_io.check_file(data)
    with transaction.atomic():
        transfer = CatalogTransfer(
            shop=shop,
            kind=TransferKind.IMPORT,
            channel=channel,
            file_name=_file_name(file_name),
            created_by=actor.label[:255],
            created_by_key=actor.key[:100],
        )
        transfer.file.save(f"import-{secrets.token_urlsafe(12)}.csv", ContentFile(data), save=False)
        transfer.save()
        audit.record(
            actor,
            "product.import",
            transfer,
            {"file": transfer.file_name, "channel": channel.slug if channel else None},
            shop_id=shop.pk,
        )
        _enqueue(transfer)
    return transfer


def export_start(
    *, actor: Actor, shop: Shop, status: str | None = None, channel_id: int | None = None
) -> CatalogTransfer:
    """Queue an export of the shop's products (of ``status`` only, when given)."""
    actor.require(Perm.CATALOG_MANAGE)
    channel = _channel(shop, channel_id)
    with transaction.atomic():
        transfer = CatalogTransfer.objects.create(
            shop=shop,
            kind=TransferKind.EXPORT,
            channel=channel,
            filters={"status": status} if status else {},
            created_by=actor.label[:255],
            created_by_key=actor.key[:100],
        )
        _enqueue(transfer)
    return transfer


def _enqueue(transfer: CatalogTransfer) -> None:
    from merchantry.catalog import tasks  # the tasks module imports this one

    job = tasks.import_products if transfer.kind == TransferKind.IMPORT else tasks.export_products
    job.enqueue_on_commit(transfer_id=transfer.pk)


# -- running --------------------------------------------------------------------------------


def _claim(transfer_id: int, kind: str) -> CatalogTransfer | None:
    claimed = CatalogTransfer.objects.filter(
        pk=transfer_id, kind=kind, status=TransferStatus.QUEUED
    ).update(status=TransferStatus.RUNNING, started_at=timezone.now())
    if not claimed:
        return None  # gone, or already run by another delivery of the job
    return CatalogTransfer.objects.select_related("shop", "channel").get(pk=transfer_id)


def _job_actor(transfer: CatalogTransfer) -> Actor:
    # Whoever started the transfer was allowed to; the job acts in their name
    # (the audit trail names them), with just the catalog permissions.
    return Actor(
        kind="job",
        key=transfer.created_by_key or "system",
        label=transfer.created_by or "system",
        shop_id=transfer.shop_id,
        permissions=frozenset({Perm.CATALOG_VIEW, Perm.CATALOG_MANAGE}),
    )


def _progress(transfer: CatalogTransfer, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(transfer, name, value)
    CatalogTransfer.objects.filter(pk=transfer.pk).update(**fields, updated_at=timezone.now())


def _finish(transfer: CatalogTransfer, issues: list[csv_io.Issue], **fields: Any) -> None:
    issues.sort(key=lambda issue: (issue.row or 0, issue.level != "error"))
    levels = Counter(issue.level for issue in issues)
    _progress(
        transfer,
        status=TransferStatus.DONE,
        issues=[issue.as_dict() for issue in issues[:MAX_STORED_ISSUES]],
        errors_total=levels["error"],
        warnings_total=levels["warning"],
        finished_at=timezone.now(),
        **fields,
    )


def _fail(transfer: CatalogTransfer, message: str) -> None:
    _progress(transfer, status=TransferStatus.FAILED, failure=message, finished_at=timezone.now())


def run_import(transfer_id: int) -> None:
    """Run a queued import to its end (the job's body)."""
    transfer = _claim(transfer_id, TransferKind.IMPORT)
    if transfer is None:
        return
    try:
        with transfer.file.open("rb") as upload:
            data = upload.read()
        parsed = csv_io.parse_products(data)
        _import(transfer, parsed)
    except csv_io.InvalidFile as exc:
        _fail(transfer, exc.detail)
    except Exception:
        logger.exception("product_import_failed", transfer_id=transfer_id)
        _fail(
            transfer,
            "The import stopped on an unexpected error; the rows reported done were imported.",
        )


def _import(transfer: CatalogTransfer, parsed: csv_io.ParsedFile) -> None:
    actor = _job_actor(transfer)
    issues = list(parsed.issues)
    counts: Counter[str] = Counter(created=0, updated=0, unchanged=0, failed=0)
    valid = [group for group in parsed.groups if not group.errors]
    invalid = [group for group in parsed.groups if group.errors]
    for group in invalid:
        issues.extend(group.errors)
    counts["failed"] += len(invalid)
    grouped = sum(len(group.rows) for group in parsed.groups)
    done = parsed.rows_total - grouped + sum(len(group.rows) for group in invalid)
    _progress(transfer, rows_total=parsed.rows_total, rows_done=done, counts=dict(counts))
    for start in range(0, len(valid), MAX_BATCH):
        batch = valid[start : start + MAX_BATCH]
        result = products_upsert(
            actor=actor,
            shop=transfer.shop,
            items=[group.item for group in batch],
            channel_id=transfer.channel_id,
        )
        for group, outcome in zip(batch, result.results, strict=True):
            if outcome.status != "error":
                counts[outcome.status] += 1
                continue
            counts["failed"] += 1
            for error in outcome.errors:
                row, column = csv_io.locate(group, error.loc)
                issues.append(
                    csv_io.Issue(row, column, error.message, error.code, "error", group.handle)
                )
        done += sum(len(group.rows) for group in batch)
        _progress(transfer, rows_done=done, counts=dict(counts))
    _finish(transfer, issues, rows_done=parsed.rows_total, counts=dict(counts))


def _export_queryset(transfer: CatalogTransfer) -> QuerySet[Product]:
    channel = transfer.channel
    prices = VariantChannelPrice.objects.filter(channel=channel) if channel else None
    listings = ProductChannelListing.objects.filter(channel=channel) if channel else None
    products = Product.objects.for_shop(transfer.shop_id)
    if transfer.filters.get("status"):
        products = products.filter(status=transfer.filters["status"])
    return products.order_by("pk").prefetch_related(
        "options__values",
        Prefetch("categories", queryset=Category.objects.order_by("path")),
        Prefetch("media", queryset=ProductMedia.objects.order_by("position", "pk")),
        Prefetch(
            "variants",
            queryset=ProductVariant.objects.order_by("position", "pk").prefetch_related(
                Prefetch(
                    "prices",
                    queryset=prices if prices is not None else VariantChannelPrice.objects.none(),
                    to_attr="channel_prices",
                )
            ),
        ),
        Prefetch(
            "channel_listings",
            queryset=listings if listings is not None else ProductChannelListing.objects.none(),
            to_attr="channel_listing",
        ),
    )


def _chunks(queryset: QuerySet[Product]) -> Iterable[list[Product]]:
    last = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last)[:EXPORT_CHUNK])
        if not chunk:
            return
        yield chunk
        last = chunk[-1].pk


def run_export(transfer_id: int) -> None:
    """Run a queued export to its end (the job's body)."""
    transfer = _claim(transfer_id, TransferKind.EXPORT)
    if transfer is None:
        return
    try:
        _export(transfer)
    except Exception:
        logger.exception("product_export_failed", transfer_id=transfer_id)
        _fail(transfer, "The export stopped on an unexpected error.")


def _export(transfer: CatalogTransfer) -> None:
    queryset = _export_queryset(transfer)
    total = queryset.count()
    _progress(transfer, rows_total=total)
    categories = CategoryPaths(transfer.shop)
    issues: list[csv_io.Issue] = []
    counts: Counter[str] = Counter(products=0, variants=0, skipped=0)
    with tempfile.TemporaryFile() as raw:
        out = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = csv_io.write_header(out)
        done = 0
        for chunk in _chunks(queryset):
            for product in chunk:
                try:
                    rows = csv_io.product_rows(product, transfer.channel, categories)
                except csv_io.Unexportable as exc:
                    counts["skipped"] += 1
                    issues.append(
                        csv_io.Issue(
                            row=None,
                            column="",
                            message=f"Not exported: {exc}",
                            code="unexportable",
                            level="warning",
                            handle=product.handle,
                        )
                    )
                    continue
                writer.writerows(rows)
                counts["products"] += 1
                counts["variants"] += len(product.variants.all())
            done += len(chunk)
            _progress(transfer, rows_done=done)
        out.flush()
        out.detach()
        raw.seek(0)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        transfer.file_name = f"products-{stamp}.csv"
        transfer.file.save(f"export-{secrets.token_urlsafe(12)}.csv", File(raw), save=False)
    CatalogTransfer.objects.filter(pk=transfer.pk).update(
        file=transfer.file.name, file_name=transfer.file_name
    )
    _finish(transfer, issues, rows_done=total, counts=dict(counts))


# -- reads ------------------------------------------------------------------------------------


def transfer_list(*, actor: Actor, shop: Shop, kind: str) -> QuerySet[CatalogTransfer]:
    """The shop's imports or exports, newest first, for the caller to paginate."""
    actor.require(Perm.CATALOG_VIEW)
    return CatalogTransfer.objects.for_shop(shop).filter(kind=kind).defer("issues")


def transfer_get(*, actor: Actor, shop: Shop, kind: str, transfer_id: int) -> CatalogTransfer:
    actor.require(Perm.CATALOG_VIEW)
    transfer = CatalogTransfer.objects.for_shop(shop).filter(kind=kind, pk=transfer_id).first()
    if transfer is None:
        raise NotFound(f"No such {kind}.")
    return transfer


def export_file(*, actor: Actor, shop: Shop, transfer_id: int) -> CatalogTransfer:
    """Return a finished export of the shop, its file ready to stream."""
    transfer = transfer_get(
        actor=actor, shop=shop, kind=TransferKind.EXPORT, transfer_id=transfer_id
    )
    if transfer.status != TransferStatus.DONE or not transfer.file:
        raise Conflict("The export has not finished.", code="export_not_ready")
    return transfer
