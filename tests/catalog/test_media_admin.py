"""The images inline of the product screen: uploads checked and saved by the services."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from merchantry.catalog.media import media_upload
from merchantry.catalog.models import Product, ProductMedia
from merchantry.catalog.thumbnails import thumbnail_url
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.core.models import AuditEvent
from tests.catalog.conftest import make_product
from tests.catalog.images import image_bytes, stored_files, upload
from tests.test_admin_tenancy import member, staff_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def _image(shop, product, alt: str = "") -> ProductMedia:
    return media_upload(
        actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk, file=image_bytes(), alt=alt
    )


def _form(product: Product, media: list[ProductMedia], **changes: Any) -> dict[str, Any]:
    """The product page's POST data as the browser sends it, with ``changes`` applied."""
    variant = product.variants.get()
    data: dict[str, Any] = {
        "title": product.title,
        "handle": product.handle,
        "status": product.status,
        "description": product.description,
        "product_type": "",
        "vendor": "",
        "tags": "",
        "seo_title": "",
        "seo_description": "",
        "variants-TOTAL_FORMS": "1",
        "variants-INITIAL_FORMS": "1",
        "variants-0-id": str(variant.pk),
        "variants-0-product": str(product.pk),
        "media-TOTAL_FORMS": str(len(media)),
        "media-INITIAL_FORMS": str(len(media)),
    }
    for index, item in enumerate(media):
        data.update(
            {
                f"media-{index}-id": str(item.pk),
                f"media-{index}-product": str(product.pk),
                f"media-{index}-alt": item.alt,
                f"media-{index}-position": str(item.position),
            }
        )
    data.update(changes)
    return data


def _new_row(data: dict[str, Any], file: Any, alt: str = "", position: str = "0") -> None:
    index = int(data["media-TOTAL_FORMS"])
    data["media-TOTAL_FORMS"] = str(index + 1)
    data[f"media-{index}-image"] = file
    data[f"media-{index}-alt"] = alt
    data[f"media-{index}-position"] = position


def _order(product: Product) -> list[int]:
    return list(
        ProductMedia.objects.filter(product=product)
        .order_by("position")
        .values_list("pk", flat=True)
    )


def test_the_product_page_shows_previews_and_the_add_page_no_images(shop) -> None:
    product = make_product(shop)
    media = _image(shop, product, alt="Front")
    client = staff_client(member(shop, "catalog_manager"), shop)

    change = client.get(reverse("admin:catalog_product_change", args=[product.pk]))
    add = client.get(reverse("admin:catalog_product_add"))

    assert change.status_code == 200
    page = change.content.decode()
    assert f'src="{thumbnail_url(media.image.name, 160)}"' in page
    assert 'name="media-TOTAL_FORMS"' in page
    assert 'enctype="multipart/form-data"' in page
    assert 'name="media-TOTAL_FORMS"' not in add.content.decode()


def test_an_image_uploaded_in_the_admin_goes_through_the_service(shop, media_root) -> None:
    product = make_product(shop)
    existing = _image(shop, product)
    client = staff_client(member(shop, "catalog_manager"), shop)
    data = _form(product, [existing])
    _new_row(data, upload(image_bytes("JPEG", (30, 20)), name="x.png"), alt="Side")

    response = client.post(reverse("admin:catalog_product_change", args=[product.pk]), data)

    assert response.status_code == 302, response.content.decode()[:3000]
    added = ProductMedia.objects.exclude(pk=existing.pk).get()
    assert (added.format, added.width, added.alt, added.position) == ("JPEG", 30, "Side", 1)
    assert added.image.name.endswith(".jpg")
    assert sorted(stored_files(media_root)) == sorted([existing.image.name, added.image.name])
    assert AuditEvent.objects.filter(action="product.media_add").count() == 2
    assert Product.objects.get(pk=product.pk).featured_media_id == existing.pk


@pytest.mark.parametrize(
    ("_case", "data", "message"),
    [
        ("text renamed .jpg", b"not an image", "not an image"),
        ("TIFF", image_bytes("TIFF"), "TIFF images are not accepted"),
    ],
)
def test_a_bad_file_is_an_error_on_its_row_and_the_page_is_not_saved(
    shop, media_root, _case, data, message
) -> None:
    product = make_product(shop, title="Linen shirt")
    client = staff_client(member(shop, "catalog_manager"), shop)
    form = _form(product, [], title="Renamed meanwhile")
    _new_row(form, upload(data, name="photo.jpg", content_type="image/jpeg"))

    response = client.post(reverse("admin:catalog_product_change", args=[product.pk]), form)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ProductMedia.objects.exists()
    assert stored_files(media_root) == []
    # the product's own fields were saved by their service first; that is undone too
    assert Product.objects.get(pk=product.pk).title == "Linen shirt"


def test_dragging_reorders_and_the_featured_image_follows(shop) -> None:
    product = make_product(shop)
    a, b, c = (_image(shop, product) for _ in range(3))
    client = staff_client(member(shop, "catalog_manager"), shop)
    # the browser renumbers every row's hidden position after a drag: c, a, b
    data = _form(
        product,
        [a, b, c],
        **{"media-0-position": "1", "media-1-position": "2", "media-2-position": "0"},
    )

    response = client.post(reverse("admin:catalog_product_change", args=[product.pk]), data)

    assert response.status_code == 302, response.content.decode()[:3000]
    assert _order(product) == [c.pk, a.pk, b.pk]
    assert Product.objects.get(pk=product.pk).featured_media_id == c.pk


def test_alt_text_changes_and_deletions_go_through_the_services(
    shop, media_root, django_capture_on_commit_callbacks
) -> None:
    product = make_product(shop)
    a, b = _image(shop, product), _image(shop, product)
    client = staff_client(member(shop, "catalog_manager"), shop)
    data = _form(product, [a, b], **{"media-0-DELETE": "on", "media-1-alt": "Back view"})

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:catalog_product_change", args=[product.pk]), data)

    assert response.status_code == 302, response.content.decode()[:3000]
    assert list(ProductMedia.objects.values_list("pk", "alt", "position")) == [
        (b.pk, "Back view", 0)
    ]
    assert Product.objects.get(pk=product.pk).featured_media_id == b.pk
    assert stored_files(media_root) == [b.image.name]
    assert AuditEvent.objects.filter(action="product.media_delete").count() == 1


def test_a_blank_new_row_is_ignored(shop) -> None:
    product = make_product(shop)
    a = _image(shop, product)
    client = staff_client(member(shop, "catalog_manager"), shop)
    data = _form(product, [a])
    _new_row(data, "", position="1")  # renumbered by a drag, but nothing chosen

    response = client.post(reverse("admin:catalog_product_change", args=[product.pk]), data)

    assert response.status_code == 302, response.content.decode()[:3000]
    assert _order(product) == [a.pk]


def test_a_read_only_member_sees_images_but_cannot_upload(shop, media_root) -> None:
    product = make_product(shop)
    media = _image(shop, product)
    client = staff_client(member(shop, "read_only"), shop)

    page = client.get(reverse("admin:catalog_product_change", args=[product.pk]))

    assert page.status_code == 200
    assert thumbnail_url(media.image.name, 160) in page.content.decode()
    assert 'type="file"' not in page.content.decode()
