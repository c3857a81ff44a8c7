"""Admin API for product media: multipart upload, list, change, reorder, delete."""

from __future__ import annotations

import pytest
from django.test import Client

from merchantry.catalog.models import Product, ProductMedia
from merchantry.catalog.thumbnails import thumbnail_url
from tests.catalog.conftest import make_product
from tests.catalog.images import image_bytes, noisy_png, stored_files, upload
from tests.factories import secret_key

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

PROBLEM = "application/problem+json"
ADMIN = "/api/v1/admin"


def _upload(client: Client, product_id, data: bytes | None = None, **fields):
    return client.post(f"{ADMIN}/products/{product_id}/media", {"file": upload(data), **fields})


def _ids(client: Client, product: Product) -> list[str]:
    return [m["id"] for m in client.get(f"{ADMIN}/products/{product.pk}/media").json()]


def test_an_image_is_uploaded_as_multipart_and_described(shop, admin_client, media_root) -> None:
    product = make_product(shop)

    response = _upload(
        admin_client, product.pk, image_bytes("WEBP", (300, 200)), alt="  Front view "
    )

    assert response.status_code == 201, response.content
    body = response.json()
    media = ProductMedia.objects.get(pk=body["id"])
    assert body == {
        "id": str(media.pk),
        "product_id": str(product.pk),
        "url": f"http://testserver/media/{media.image.name}",
        "alt": "Front view",
        "position": 0,
        "width": 300,
        "height": 200,
        "format": "WEBP",
        "size_bytes": media.size_bytes,
        "variant_ids": [],
        "thumbnails": {
            str(size): f"http://testserver{thumbnail_url(media.image.name, size)}"
            for size in (160, 320, 640)
        },
        "created_at": body["created_at"],
    }
    assert media.image.name.endswith(".webp")
    assert stored_files(media_root) == [media.image.name]
    assert Product.objects.get(pk=product.pk).featured_media_id == media.pk
    # the URLs work
    assert Client().get(body["url"]).status_code == 200
    assert Client().get(body["thumbnails"]["160"]).status_code == 200


def test_the_list_is_in_order_within_a_fixed_query_budget(
    shop, admin_client, django_assert_max_num_queries
) -> None:
    product = make_product(shop, options=[{"name": "Size", "values": ["S", "M"]}])
    variant_ids = [str(pk) for pk in product.variants.values_list("pk", flat=True)]
    first = _upload(admin_client, product.pk).json()["id"]
    admin_client.get(f"{ADMIN}/shop")  # the key's first use is recorded now

    # the key, the product, its media, their variants
    with django_assert_max_num_queries(4):
        admin_client.get(f"{ADMIN}/products/{product.pk}/media")
    others = [_upload(admin_client, product.pk).json()["id"] for _ in range(5)]
    for media_id in others:
        admin_client.patch(
            f"{ADMIN}/media/{media_id}",
            {"variant_ids": variant_ids},
            content_type="application/json",
        )
    with django_assert_max_num_queries(4):
        listed = admin_client.get(f"{ADMIN}/products/{product.pk}/media").json()

    assert [m["id"] for m in listed] == [first, *others]
    assert [m["position"] for m in listed] == list(range(6))
    assert listed[1]["variant_ids"] == sorted(variant_ids, key=int)


def test_a_non_image_is_a_422_problem_on_file(shop, admin_client, media_root) -> None:
    product = make_product(shop)

    response = admin_client.post(
        f"{ADMIN}/products/{product.pk}/media",
        {"file": upload(b"GIF89a... not really", name="cat.gif", content_type="image/gif")},
    )

    assert response.status_code == 422
    assert response["Content-Type"] == PROBLEM
    assert response.json()["errors"] == [
        {
            "loc": ["file"],
            "message": "The file is not an image Merchantry can read.",
            "code": "not_an_image",
        }
    ]
    assert stored_files(media_root) == []


@pytest.mark.parametrize(
    ("_case", "send"),
    [
        ("JSON instead of a form", lambda c, url: c.post(url, {"alt": "x"}, "application/json")),
        ("a form without a file", lambda c, url: c.post(url, {"alt": "x"})),
        ("the file as a text field", lambda c, url: c.post(url, {"file": "not a file"})),
        (
            "a malformed multipart body",
            lambda c, url: c.generic(
                "POST", url, b"--x\r\nContent-Disposition: form-data", "multipart/form-data"
            ),
        ),
        (
            "a multipart body without a boundary",
            lambda c, url: c.generic("POST", url, b"garbage", "multipart/form-data"),
        ),
        (
            "an alt text of 256 characters",
            lambda c, url: c.post(url, {"file": upload(), "alt": "x" * 256}),
        ),
        (
            "a NUL in the alt text",
            lambda c, url: c.post(url, {"file": upload(), "alt": "a\x00b"}),
        ),
    ],
)
def test_malformed_uploads_are_4xx_problems_and_store_nothing(
    shop, admin_client, media_root, _case, send
) -> None:
    product = make_product(shop)

    response = send(admin_client, f"{ADMIN}/products/{product.pk}/media")

    assert response.status_code in (400, 422), response.content
    assert response["Content-Type"] == PROBLEM
    assert stored_files(media_root) == []
    assert not ProductMedia.objects.exists()


def test_another_shops_product_is_404_and_nothing_is_stored(
    shop, other_shop, admin_client, media_root
) -> None:
    theirs = make_product(other_shop)

    response = _upload(admin_client, theirs.pk)

    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert stored_files(media_root) == []
    assert not ProductMedia.objects.exists()


def test_a_read_only_key_lists_but_cannot_upload(shop, media_root) -> None:
    product = make_product(shop)
    reader = Client(
        headers={"Authorization": f"Bearer {secret_key(shop, permissions=['catalog.view'])}"}
    )

    listed = reader.get(f"{ADMIN}/products/{product.pk}/media")
    uploaded = _upload(reader, product.pk)

    assert listed.status_code == 200
    assert uploaded.status_code == 403
    assert stored_files(media_root) == []


def test_alt_position_and_variants_are_changed(shop, admin_client) -> None:
    product = make_product(shop, options=[{"name": "Size", "values": ["S", "M"]}])
    small = product.variants.order_by("position").first()
    a, b = (_upload(admin_client, product.pk).json()["id"] for _ in range(2))

    response = admin_client.patch(
        f"{ADMIN}/media/{b}",
        {"alt": "Back", "position": 0, "variant_ids": [str(small.pk)]},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    assert (response.json()["alt"], response.json()["position"]) == ("Back", 0)
    assert response.json()["variant_ids"] == [str(small.pk)]
    assert _ids(admin_client, product) == [b, a]
    assert str(Product.objects.get(pk=product.pk).featured_media_id) == b


def test_a_variant_of_another_product_is_a_422(shop, admin_client) -> None:
    product = make_product(shop)
    media_id = _upload(admin_client, product.pk).json()["id"]
    elsewhere = make_product(shop, title="Elsewhere").variants.get()

    response = admin_client.patch(
        f"{ADMIN}/media/{media_id}",
        {"variant_ids": [str(elsewhere.pk)]},
        content_type="application/json",
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["variant_ids", 0]
    assert not ProductMedia.objects.get(pk=media_id).variants.exists()


def test_the_order_is_replaced_and_the_featured_image_follows(shop, admin_client) -> None:
    product = make_product(shop)
    a, b, c = (_upload(admin_client, product.pk).json()["id"] for _ in range(3))

    response = admin_client.put(
        f"{ADMIN}/products/{product.pk}/media/order",
        {"media_ids": [c, a, b]},
        content_type="application/json",
    )
    partial = admin_client.put(
        f"{ADMIN}/products/{product.pk}/media/order",
        {"media_ids": [a, b]},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    assert [m["id"] for m in response.json()] == [c, a, b]
    assert str(Product.objects.get(pk=product.pk).featured_media_id) == c
    assert partial.status_code == 422
    assert partial.json()["errors"][0]["code"] == "mismatch"
    assert _ids(admin_client, product) == [c, a, b]


def test_deleting_removes_the_row_then_the_files(
    shop, admin_client, media_root, django_capture_on_commit_callbacks
) -> None:
    product = make_product(shop)
    a, b = (_upload(admin_client, product.pk).json() for _ in range(2))
    assert Client().get(a["thumbnails"]["160"]).status_code == 200  # a thumbnail exists

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.delete(f"{ADMIN}/media/{a['id']}")

    assert response.status_code == 204
    assert _ids(admin_client, product) == [b["id"]]
    assert str(Product.objects.get(pk=product.pk).featured_media_id) == b["id"]
    assert stored_files(media_root) == [ProductMedia.objects.get(pk=b["id"]).image.name]
    assert admin_client.delete(f"{ADMIN}/media/{a['id']}").status_code == 404


# -- the body limit -----------------------------------------------------------------------


def test_the_upload_route_takes_bodies_larger_than_the_general_limit(
    shop, admin_client, settings, media_root
) -> None:
    # given: a 4 KB general limit, 200 KB for uploads, and a photo of about 12 KB
    settings.MERCHANTRY_MAX_REQUEST_BODY = 4096
    settings.MERCHANTRY_UPLOAD_BODY_LIMITS = ((r"^/api/v\d+/admin/products/[^/]+/media$", 200_000),)
    product = make_product(shop)
    photo = noisy_png()
    assert 4096 < len(photo) < 200_000

    # when
    uploaded = _upload(admin_client, product.pk, photo)
    big_json = admin_client.patch(
        f"{ADMIN}/media/{uploaded.json()['id']}",
        {"alt": "x" * 5000},
        content_type="application/json",
    )
    settings.MERCHANTRY_UPLOAD_BODY_LIMITS = ((r"^/api/v\d+/admin/products/[^/]+/media$", 8000),)
    too_big = _upload(admin_client, product.pk, photo)

    # then
    assert uploaded.status_code == 201, uploaded.content
    assert big_json.status_code == 413
    assert too_big.status_code == 413
    assert too_big["Content-Type"] == PROBLEM
    assert too_big.json()["code"] == "payload_too_large"
    assert len(stored_files(media_root)) == 1
