"""Shopify product CSV: round trip, row errors, whole-file errors, progress, the Admin API."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from merchantry.catalog import services, transfers
from merchantry.catalog.category_paths import CategoryPaths
from merchantry.catalog.csv_io import COLUMNS, InvalidFile, parse_products
from merchantry.catalog.models import Category, Product, ProductVariant
from merchantry.catalog.models_io import CatalogTransfer, TransferKind, TransferStatus
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.core.models import AuditEvent
from merchantry.tenancy.models import Shop
from tests.catalog.conftest import make_product
from tests.factories import ChannelFactory, secret_key

pytestmark = pytest.mark.django_db

IMPORT = "/api/v1/admin/products/import"
EXPORT = "/api/v1/admin/products/export"


# -- helpers -------------------------------------------------------------------------------


def csv_bytes(rows: list[dict[str, str]], *, columns=COLUMNS, bom: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({column: row.get(column, "") for column in columns})
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode()


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def run_import(shop: Shop, data: bytes, *, channel=None, captured) -> CatalogTransfer:
    with captured(execute=True):
        transfer = transfers.import_start(
            actor=SYSTEM_ACTOR,
            shop=shop,
            data=data,
            file_name="products.csv",
            channel_id=channel.pk if channel else None,
        )
    transfer.refresh_from_db()
    return transfer


def run_export(shop: Shop, *, channel=None, status=None, captured) -> tuple[CatalogTransfer, bytes]:
    with captured(execute=True):
        transfer = transfers.export_start(
            actor=SYSTEM_ACTOR, shop=shop, status=status, channel_id=channel.pk if channel else None
        )
    transfer.refresh_from_db()
    with transfer.file.open("rb") as f:
        return transfer, f.read()


def category(shop: Shop, path: str) -> Category:
    paths = CategoryPaths(shop)
    return paths.ensure([name.strip() for name in path.split(">")])


def build_catalog(shop: Shop, channel) -> None:
    """Products of every shape: options, variants, prices, tags, categories, publication."""
    shirt = make_product(
        shop,
        title="Linen Shirt",
        channel=channel,
        price="19.99",
        options=[
            {"name": "Size", "values": ["S", "M"]},
            {"name": "Color", "values": ["White", "Blue"]},
        ],
        description="<p>Breezy <b>linen</b>, “curly quotes”, comma, and\nnewline</p>",
        vendor="Acme",
        product_type="Shirt",
        tags=["Summer", "linen"],
        seo_title="Linen shirt | Acme",
        seo_description="A shirt",
    )  # fmt: skip
    for position, variant in enumerate(shirt.variants.order_by("position")):
        services.variant_update(
            actor=SYSTEM_ACTOR,
            shop=shop,
            variant_id=variant.pk,
            changes={
                "sku": f"SHIRT-{position}",
                "weight_grams": 200 + position,
                "barcode": f"400638133393{position}",
                "allow_backorder": position == 1,
                "track_inventory": position != 2,
            },
        )
        services.price_set(
            actor=SYSTEM_ACTOR,
            shop=shop,
            variant_id=variant.pk,
            channel_id=channel.pk,
            price=Decimal("19.99") + position,
            compare_at_price=Decimal("30.00") if position == 0 else None,
        )
    shirt.categories.add(category(shop, "Apparel > Tops > Shirts"))
    mug = make_product(shop, title="Mug", channel=channel, price="8.50", status="draft")
    mug.variants.update(sku="MUG")
    mug.categories.add(category(shop, "Kitchen"))
    services.listing_unpublish(
        actor=SYSTEM_ACTOR, shop=shop, product_id=mug.pk, channel_id=channel.pk
    )
    make_product(shop, title="Gift card", channel=None, status="archived")  # unpriced, unlisted


def dump(shop: Shop) -> dict[str, Any]:
    """The shop's catalog, without ids or dates: what a round trip must keep."""
    paths = CategoryPaths(shop)
    catalog = {}
    for product in Product.objects.for_shop(shop).prefetch_related(
        "options__values", "variants__prices", "categories", "channel_listings"
    ):
        listing = next(iter(product.channel_listings.all()), None)
        catalog[product.handle] = {
            **{
                field: getattr(product, field)
                for field in (
                    "title", "description", "vendor", "product_type", "tags", "tags_index",
                    "status", "seo_title", "seo_description",
                )
            },
            "options": [(o.name, [v.value for v in o.values.all()]) for o in product.options.all()],
            "variants": [
                (
                    v.sku, v.title, v.option_values, v.weight_grams, v.barcode,
                    v.track_inventory, v.allow_backorder, v.position,
                    [(p.currency, p.price, p.compare_at_price) for p in v.prices.all()],
                )
                for v in sorted(product.variants.all(), key=lambda v: v.position)
            ],
            "categories": [paths.path_of(c) for c in product.categories.all()],
            # The format knows "published" or not: an unpublished listing and
            # none are the same to it.
            "listing": (listing.is_published, listing.price_min, listing.price_max)
            if listing and listing.is_published
            else None,
        }  # fmt: skip
    return catalog


# -- round trip ----------------------------------------------------------------------------


def test_export_then_import_into_an_empty_shop_gives_the_same_catalog(
    shop, channel, other_shop, django_capture_on_commit_callbacks
) -> None:
    other_channel = ChannelFactory(shop=other_shop, slug="web", currency=channel.currency)
    build_catalog(shop, channel)

    export, data = run_export(shop, channel=channel, captured=django_capture_on_commit_callbacks)
    imported = run_import(
        other_shop, data, channel=other_channel, captured=django_capture_on_commit_callbacks
    )

    assert export.status == TransferStatus.DONE
    assert export.counts == {"products": 3, "variants": 6, "skipped": 0}
    assert imported.status == TransferStatus.DONE, imported.failure
    assert imported.issues == []
    assert imported.counts == {"created": 3, "updated": 0, "unchanged": 0, "failed": 0}
    ours, theirs = dump(shop), dump(other_shop)
    assert theirs == ours
    assert theirs["linen-shirt"]["listing"] == (True, Decimal("19.99"), Decimal("22.99"))


def test_the_export_is_in_the_shopify_format(shop, channel, django_capture_on_commit_callbacks):
    build_catalog(shop, channel)

    _, data = run_export(shop, channel=channel, captured=django_capture_on_commit_callbacks)

    header = data.decode().splitlines()[0]
    assert header == ",".join(f'"{c}"' if " " in c and "," in c else c for c in COLUMNS)
    rows = read_csv(data)
    shirt = [row for row in rows if row["Handle"] == "linen-shirt"]
    assert len(shirt) == 4
    first, second = shirt[0], shirt[1]
    assert (first["Title"], first["Option1 Name"], first["Option2 Name"]) == (
        "Linen Shirt",
        "Size",
        "Color",
    )
    assert (first["Published"], first["Status"], first["Tags"]) == (
        "TRUE",
        "active",
        "Summer, linen",
    )
    assert first["Product Category"] == "Apparel > Tops > Shirts"
    assert (first["Variant Price"], first["Variant Compare At Price"]) == ("19.99", "30.00")
    assert (first["Variant Inventory Policy"], second["Variant Inventory Policy"]) == (
        "deny",
        "continue",
    )
    assert (second["Title"], second["Option1 Name"], second["Option1 Value"]) == ("", "", "S")
    mug = next(row for row in rows if row["Handle"] == "mug")
    assert (mug["Option1 Name"], mug["Option1 Value"], mug["Published"]) == (
        "Title",
        "Default Title",
        "FALSE",
    )


def test_importing_the_same_file_again_changes_nothing(
    shop, channel, django_capture_on_commit_callbacks
) -> None:
    build_catalog(shop, channel)
    _, data = run_export(shop, channel=channel, captured=django_capture_on_commit_callbacks)
    before = dump(shop)

    again = run_import(shop, data, channel=channel, captured=django_capture_on_commit_callbacks)

    assert again.counts == {"created": 0, "updated": 0, "unchanged": 3, "failed": 0}
    assert dump(shop) == before


def test_an_export_filters_by_status_and_prices_in_the_named_channel(
    shop, channel, django_capture_on_commit_callbacks
) -> None:
    build_catalog(shop, channel)
    euro = ChannelFactory(shop=shop, slug="eu", currency="EUR")
    shirt = Product.objects.get(handle="linen-shirt")
    services.price_set(
        actor=SYSTEM_ACTOR,
        shop=shop,
        variant_id=shirt.variants.get(position=0).pk,
        channel_id=euro.pk,
        price=Decimal("17.5"),
    )

    _, data = run_export(
        shop, channel=euro, status="active", captured=django_capture_on_commit_callbacks
    )

    rows = read_csv(data)
    assert {row["Handle"] for row in rows} == {"linen-shirt"}
    assert [row["Variant Price"] for row in rows] == ["17.50", "", "", ""]
    assert rows[0]["Published"] == "FALSE"


# -- row errors ----------------------------------------------------------------------------


def _rows_with_errors() -> list[dict[str, str]]:
    def product(handle: str, **fields: str) -> dict[str, str]:
        return {"Handle": handle, "Title": handle.title(), "Option1 Name": "Size",
                "Option1 Value": "S", "Variant SKU": f"{handle}-s", "Variant Price": "10.00",
                "Published": "TRUE", "Status": "active", **fields}  # fmt: skip

    return [
        product("good"),  # row 2
        {"Handle": "good", "Option1 Value": "M", "Variant SKU": "good-m", "Variant Price": "11"},
        product("bad-price", **{"Variant Price": "-3"}),  # row 4
        product("count"),  # row 5
        {"Handle": "count", "Option1 Value": "M", "Option2 Value": "Red", "Variant SKU": "c-m"},
        product("untitled", Title=""),  # row 7
        product("dup-a", **{"Variant SKU": "SAME"}),  # row 8
        product("dup-b", **{"Variant SKU": "SAME"}),  # row 9
        product("fine", **{"Product Category": "Home > Decor"}),  # row 10
        {"Handle": "", "Title": "orphan"},  # row 11
        product("cents", **{"Variant Price": "1.999"}),  # row 12
    ]


def test_invalid_products_are_reported_by_row_and_left_out(
    shop, channel, django_capture_on_commit_callbacks
) -> None:
    data = csv_bytes(_rows_with_errors())

    result = run_import(shop, data, captured=django_capture_on_commit_callbacks)

    assert result.status == TransferStatus.DONE
    errors = [(i["row"], i["column"], i["code"], i["handle"]) for i in result.issues]
    assert errors == [
        (4, "Variant Price", "negative", "bad-price"),
        (6, "Option2 Value", "option_count", "count"),
        (7, "Title", "required", "untitled"),
        (8, "Variant SKU", "duplicate", "dup-a"),
        (9, "Variant SKU", "duplicate", "dup-b"),
        (11, "Handle", "invalid", None),
        (12, "Variant Price", "too_many_decimals", "cents"),
    ]
    assert "rows 8, 9" in result.issues[3]["message"]
    assert set(Product.objects.for_shop(shop).values_list("handle", flat=True)) == {"good", "fine"}
    assert not ProductVariant.objects.filter(sku__in=["SAME", "c-m", "bad-price-s"]).exists()
    assert result.counts == {"created": 2, "updated": 0, "unchanged": 0, "failed": 6}
    assert (result.errors_total, result.warnings_total) == (7, 0)
    assert (result.rows_total, result.rows_done) == (11, 11)
    good = Product.objects.get(handle="good")
    assert [v.sku for v in good.variants.order_by("position")] == ["good-s", "good-m"]
    assert Product.objects.get(handle="fine").categories.get().name == "Decor"


def test_image_urls_are_skipped_with_a_warning(
    shop, channel, django_capture_on_commit_callbacks
) -> None:
    rows = [
        {"Handle": "pic", "Title": "Pic", "Variant Price": "5", "Option1 Name": "Title",
         "Option1 Value": "Default Title", "Image Src": "https://cdn.example.com/a.jpg"},
        {"Handle": "pic", "Image Src": "https://cdn.example.com/b.jpg", "Image Position": "2"},
    ]  # fmt: skip

    result = run_import(shop, csv_bytes(rows), captured=django_capture_on_commit_callbacks)

    assert [(i["row"], i["column"], i["level"]) for i in result.issues] == [
        (2, "Image Src", "warning"),
        (3, "Image Src", "warning"),
    ]
    assert result.counts["created"] == 1
    product = Product.objects.get(handle="pic")
    assert list(product.variants.values_list("option_values", flat=True)) == [{}]
    assert not product.media.exists()


def test_a_file_with_only_some_columns_updates_only_those(
    shop, channel, django_capture_on_commit_callbacks
) -> None:
    product = make_product(shop, title="Mug", channel=channel, price="8.50", vendor="Acme")
    data = csv_bytes([{"Handle": product.handle, "Title": "Big mug"}], columns=("Handle", "Title"))

    result = run_import(shop, data, captured=django_capture_on_commit_callbacks)

    product.refresh_from_db()
    assert result.counts["updated"] == 1
    assert (product.title, product.vendor) == ("Big mug", "Acme")
    assert product.variants.get().prices.get().price == Decimal("8.50")


def test_a_bom_and_spreadsheet_quirks_are_read(shop, channel, django_capture_on_commit_callbacks):
    data = csv_bytes(
        [{"Handle": "bom", "Title": "Bömß", "Published": "true", "Variant Price": "5",
          "Variant Grams": "250.0", "Variant Inventory Policy": "Continue"}],
        columns=("Handle", "Title", "Published", "Variant Price", "Variant Grams",
                 "Variant Inventory Policy"),
        bom=True,
    ).replace(b"\n", b"\r\n")  # fmt: skip

    result = run_import(shop, data, captured=django_capture_on_commit_callbacks)

    assert result.counts["created"] == 1, result.issues
    variant = Product.objects.get(handle="bom", title="Bömß").variants.get()
    assert (variant.weight_grams, variant.allow_backorder) == (250, True)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"Handle,Title\nok,\xff\xfe broken\n", "not UTF-8"),
        ("Handle,Title\nok,Caf\u00e9\n".encode("utf-16"), "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
        (b"Title,Vendor\nShirt,Acme\n", "no Handle column"),
        (b"just some text, not a table\n", "no Handle column"),
        (b"", "empty"),
        (b'Handle,Title\n"unterminated,x\n', "not a valid CSV"),
        (b"Handle,Title\x00\n", "binary"),
    ],
)
def test_a_file_that_is_no_product_csv_is_refused_whole(shop, data, message) -> None:
    with pytest.raises(InvalidFile) as raised:
        parse_products(data)

    assert message in raised.value.detail
    with pytest.raises(InvalidFile):
        transfers.import_start(actor=SYSTEM_ACTOR, shop=shop, data=data, file_name="x.csv")
    assert not CatalogTransfer.objects.exists()


def test_a_job_finding_a_bad_file_marks_the_import_failed(
    shop, channel, django_capture_on_commit_callbacks
) -> None:
    transfer = run_import(shop, b"Handle\nok\n", captured=django_capture_on_commit_callbacks)
    transfer.status = TransferStatus.QUEUED
    transfer.save()
    transfer.file.save("broken.csv", io.BytesIO(b"Vendor\nx\n"))

    transfers.run_import(transfer.pk)

    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.FAILED
    assert "no Handle column" in transfer.failure


def test_progress_is_recorded_per_batch(shop, channel, django_capture_on_commit_callbacks):
    rows = [{"Handle": f"p{i}", "Title": f"P{i}", "Variant Price": "1"} for i in range(250)]
    seen = []
    original = transfers._progress

    def spy(transfer, **fields):
        original(transfer, **fields)
        seen.append(CatalogTransfer.objects.values_list("rows_done", "rows_total").get())

    transfers._progress = spy
    try:
        result = run_import(shop, csv_bytes(rows), captured=django_capture_on_commit_callbacks)
    finally:
        transfers._progress = original

    assert result.counts["created"] == 250
    assert seen == [(0, 250), (100, 250), (200, 250), (250, 250), (250, 250)]
    assert result.started_at <= result.finished_at


def test_a_job_runs_a_transfer_once(shop, channel, django_capture_on_commit_callbacks) -> None:
    data = csv_bytes([{"Handle": "once", "Title": "Once"}])
    transfer = run_import(shop, data, captured=django_capture_on_commit_callbacks)
    finished = transfer.finished_at

    transfers.run_import(transfer.pk)  # a second delivery of the job

    transfer.refresh_from_db()
    assert (transfer.status, transfer.finished_at) == (TransferStatus.DONE, finished)


# -- the Admin API -------------------------------------------------------------------------


def test_an_import_through_the_api(
    shop, channel, admin_client, django_capture_on_commit_callbacks
) -> None:
    data = csv_bytes(_rows_with_errors())

    with django_capture_on_commit_callbacks(execute=True):
        response = _upload_named(admin_client, data, channel_id=str(channel.pk))
    body = response.json()
    detail = admin_client.get(f"/api/v1/admin/product-imports/{body['id']}").json()
    listed = admin_client.get("/api/v1/admin/product-imports").json()

    assert response.status_code == 202, body
    assert (body["kind"], body["status"], body["file_name"]) == ("import", "queued", "products.csv")
    assert detail["status"] == "done"
    assert detail["counts"]["created"] == 2
    assert detail["issues"][0] == {
        "row": 4,
        "column": "Variant Price",
        "message": "Must not be negative.",
        "code": "negative",
        "level": "error",
        "handle": "bad-price",
    }
    assert [item["id"] for item in listed["items"]] == [body["id"]]
    assert "issues" not in listed["items"][0]
    assert AuditEvent.objects.filter(action="product.import").count() == 1


def _upload_named(client: Client, data: bytes, **fields: str):
    upload = io.BytesIO(data)
    upload.name = "products.csv"
    return client.post(IMPORT, {"file": upload, **fields})


def test_an_upload_that_is_no_product_csv_is_422(admin_client) -> None:
    response = _upload_named(admin_client, b"Vendor,Title\nx,y\n")

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["file"]
    assert not CatalogTransfer.objects.exists()


def test_an_export_through_the_api(
    shop, channel, admin_client, django_capture_on_commit_callbacks
) -> None:
    build_catalog(shop, channel)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(EXPORT, {"status": "active"}, content_type="application/json")
    body = response.json()
    detail = admin_client.get(f"/api/v1/admin/product-exports/{body['id']}").json()
    download = admin_client.get(detail["download_url"])

    assert response.status_code == 202, body
    assert body["download_url"] is None
    assert detail["status"] == "done"
    assert detail["download_url"] == f"/api/v1/admin/product-exports/{body['id']}/file"
    assert download.status_code == 200
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in download["Content-Disposition"]
    rows = read_csv(b"".join(download.streaming_content))
    assert {row["Handle"] for row in rows} == {"linen-shirt"}


def test_an_unfinished_export_cannot_be_downloaded(shop, admin_client) -> None:
    transfer = CatalogTransfer.objects.create(shop=shop, kind=TransferKind.EXPORT)

    response = admin_client.get(f"/api/v1/admin/product-exports/{transfer.pk}/file")

    assert response.status_code == 409
    assert response.json()["code"] == "export_not_ready"


def test_an_import_is_not_an_export(shop, admin_client) -> None:
    transfer = CatalogTransfer.objects.create(shop=shop, kind=TransferKind.IMPORT)

    response = admin_client.get(f"/api/v1/admin/product-exports/{transfer.pk}")

    assert response.status_code == 404


def test_reading_needs_catalog_view_and_starting_needs_catalog_manage(shop) -> None:
    viewer = Client(
        headers={"Authorization": f"Bearer {secret_key(shop, permissions=['catalog.view'])}"}
    )
    nobody = Client(
        headers={"Authorization": f"Bearer {secret_key(shop, permissions=['orders.view'])}"}
    )

    assert _upload_named(viewer, b"Handle\nx\n").status_code == 403
    assert viewer.post(EXPORT, {}, content_type="application/json").status_code == 403
    assert viewer.get("/api/v1/admin/product-imports").status_code == 200
    assert nobody.get("/api/v1/admin/product-exports").status_code == 403
    assert not CatalogTransfer.objects.exists()


def test_list_queries_do_not_grow_with_the_page(
    shop, admin_client, django_assert_max_num_queries
) -> None:
    admin_client.get("/api/v1/admin/product-imports")
    for _ in range(30):
        CatalogTransfer.objects.create(shop=shop, kind=TransferKind.IMPORT)

    with django_assert_max_num_queries(4):
        response = admin_client.get("/api/v1/admin/product-imports")

    assert len(response.json()["items"]) == 30


# -- the admin screen ----------------------------------------------------------------------


def test_the_admin_lists_the_current_shops_transfers_read_only(shop, other_shop) -> None:
    from django.urls import reverse

    from tests.test_admin_tenancy import member, staff_client

    ours = CatalogTransfer.objects.create(
        shop=shop, kind=TransferKind.IMPORT, file_name="acme-x1.csv", rows_total=9, rows_done=4
    )
    theirs = CatalogTransfer.objects.create(
        shop=other_shop, kind=TransferKind.IMPORT, file_name="globex-x1.csv"
    )
    client = staff_client(member(shop, "catalog_manager"), shop)

    listed = client.get(reverse("admin:catalog_catalogtransfer_changelist"))
    detail = client.get(reverse("admin:catalog_catalogtransfer_change", args=[ours.pk]))
    other = client.get(reverse("admin:catalog_catalogtransfer_change", args=[theirs.pk]))
    add = client.get(reverse("admin:catalog_catalogtransfer_add"))

    assert listed.status_code == 200
    assert "acme-x1.csv" in listed.content.decode()
    assert "4 / 9" in listed.content.decode()
    assert "globex-x1.csv" not in listed.content.decode()
    assert detail.status_code == 200
    assert other.status_code in (302, 404)
    assert add.status_code == 403


# -- lost and stalled jobs -----------------------------------------------------------------


def test_the_sweep_runs_lost_transfers_and_fails_stalled_ones(shop, channel) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from merchantry.catalog.tasks import sweep_transfers

    # an import whose job was never enqueued (its transaction's commit hook is lost here)
    lost = transfers.import_start(
        actor=SYSTEM_ACTOR, shop=shop, data=csv_bytes([{"Handle": "late", "Title": "Late"}]),
        file_name="late.csv",
    )  # fmt: skip
    stalled = CatalogTransfer.objects.create(
        shop=shop, kind=TransferKind.EXPORT, status=TransferStatus.RUNNING
    )
    fresh = CatalogTransfer.objects.create(shop=shop, kind=TransferKind.EXPORT)
    long_ago = timezone.now() - timedelta(hours=2)
    CatalogTransfer.objects.filter(pk=lost.pk).update(created_at=long_ago)
    CatalogTransfer.objects.filter(pk=stalled.pk).update(updated_at=long_ago)

    touched = sweep_transfers.call()

    lost.refresh_from_db()
    stalled.refresh_from_db()
    fresh.refresh_from_db()
    assert touched == 2
    assert (lost.status, lost.counts["created"]) == (TransferStatus.DONE, 1)
    assert Product.objects.filter(handle="late").exists()
    assert stalled.status == TransferStatus.FAILED
    assert "start it again" in stalled.failure
    assert fresh.status == TransferStatus.QUEUED
