"""Thumbnails made once on request and kept; media files served from the local folder."""

from __future__ import annotations

import io
import os

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image

from merchantry.catalog.media import media_upload
from merchantry.catalog.thumbnails import (
    CACHE_FOREVER,
    THUMBNAIL_SIZES,
    thumbnail_name,
    thumbnail_url,
)
from merchantry.core.actors import SYSTEM_ACTOR
from tests.catalog.conftest import make_product
from tests.catalog.images import exif_rotated_jpeg, image_bytes, stored_files
from tests.factories import secret_key

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


@pytest.fixture
def photo(shop):
    """A stored 400 x 300 JPEG."""
    return media_upload(
        actor=SYSTEM_ACTOR,
        shop=shop,
        product_id=make_product(shop).pk,
        file=image_bytes("JPEG", (400, 300)),
    )


def _decoded(response) -> Image.Image:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    image = Image.open(io.BytesIO(body))
    image.load()
    return image


def test_thumbnail_url_is_a_pure_function(django_assert_num_queries, media_root) -> None:
    with django_assert_num_queries(0):
        url = thumbnail_url("products/7/abc_DEF-1.png", 320)

    assert url == "/media/thumbs/320/products/7/abc_DEF-1.png.webp"
    assert not media_root.exists()  # storage untouched: nothing made, nothing looked up
    with pytest.raises(ValueError, match="no thumbnail size 100"):
        thumbnail_url("products/7/abc.png", 100)


def test_the_first_request_makes_the_thumbnail_and_stores_it(client: Client, photo) -> None:
    # when
    response = client.get(thumbnail_url(photo.image.name, 160))

    # then: fitted within 160 x 160, aspect kept, WebP, cached forever, stored
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["Cache-Control"] == CACHE_FOREVER
    image = _decoded(response)
    assert (image.format, image.size) == ("WEBP", (160, 120))
    assert default_storage.exists(thumbnail_name(photo.image.name, 160))


def test_later_requests_serve_the_stored_thumbnail_without_the_original(
    client: Client, photo, media_root
) -> None:
    # given: a thumbnail made, then the original gone (so nothing could be made again)
    url = thumbnail_url(photo.image.name, 320)
    first = client.get(url)
    stored = media_root / thumbnail_name(photo.image.name, 320)
    made_at = stored.stat().st_mtime_ns
    default_storage.delete(photo.image.name)

    # when
    second = client.get(url)

    # then: the same bytes, from the same file, untouched
    assert second.status_code == 200
    assert second["Content-Type"] == "image/webp"
    assert second["Cache-Control"] == CACHE_FOREVER
    assert b"".join(second.streaming_content) == first.content
    assert stored.stat().st_mtime_ns == made_at


def test_thumbnails_are_upright_and_keep_transparency(client: Client, shop) -> None:
    product = make_product(shop)
    rotated = media_upload(
        actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk, file=exif_rotated_jpeg((60, 20))
    )
    clear = media_upload(
        actor=SYSTEM_ACTOR,
        shop=shop,
        product_id=product.pk,
        file=image_bytes("PNG", (100, 50), mode="RGBA", color=(0, 0, 0, 0)),
    )

    upright = _decoded(client.get(thumbnail_url(rotated.image.name, 64)))
    transparent = _decoded(client.get(thumbnail_url(clear.image.name, 64)))

    assert upright.size == (20, 60)  # turned, and never enlarged
    assert transparent.size == (64, 32)
    assert transparent.mode == "RGBA"
    assert transparent.getpixel((5, 5))[3] == 0


def test_only_the_listed_sizes_exist(client: Client, photo, media_root) -> None:
    for size in (0, 1, 100, 161, 2560, 99999999999999999999):
        response = client.get(f"/media/thumbs/{size}/{photo.image.name}.webp")
        assert response.status_code == 404, size
    assert all(client.get(thumbnail_url(photo.image.name, s)).status_code == 200 for s in [64])
    assert [f for f in stored_files(media_root) if f.startswith("thumbs/")] == [
        thumbnail_name(photo.image.name, 64)
    ]
    assert 64 in THUMBNAIL_SIZES


@pytest.mark.parametrize(
    "path",
    [
        "/media/thumbs/160/products/1/../../../../etc/passwd.webp",
        "/media/thumbs/160/products/1/%2e%2e/%2e%2e/secret.png.webp",
        "/media/thumbs/160//etc/hosts.png.webp",
        "/media/thumbs/160/products/1/x.png/../../../secret.png.webp",
        "/media/thumbs/160/thumbs/160/products/1/x.png.webp.webp",
        "/media/thumbs/160/exports/1/report.png.webp",
        "/media/thumbs/160/products/1/report.csv.webp",
        "/media/thumbs/160/products/1/no-such-image.png.webp",
    ],
)
def test_traversal_other_files_and_missing_originals_are_404(
    client: Client, media_root, path
) -> None:
    secret = media_root / "exports" / "1" / "report.png"
    secret.parent.mkdir(parents=True)
    secret.write_bytes(image_bytes("PNG"))

    response = client.get(path)

    assert response.status_code == 404
    assert not (media_root / "thumbs").exists()


def test_an_original_that_is_not_an_image_any_more_is_404(client: Client, photo) -> None:
    default_storage.delete(photo.image.name)
    default_storage.save(photo.image.name, ContentFile(b"not an image"))

    response = client.get(thumbnail_url(photo.image.name, 160))

    assert response.status_code == 404
    assert not default_storage.exists(thumbnail_name(photo.image.name, 160))


def test_listing_media_makes_no_thumbnail(shop, photo, media_root) -> None:
    client = Client(headers={"Authorization": f"Bearer {secret_key(shop)}"})

    response = client.get(f"/api/v1/admin/products/{photo.product_id}/media")

    assert response.status_code == 200
    assert response.json()[0]["thumbnails"]["160"].endswith(thumbnail_url(photo.image.name, 160))
    assert not (media_root / "thumbs").exists()


# -- originals at MEDIA_URL --------------------------------------------------------------


def test_originals_are_served_from_the_media_folder(client: Client, photo, media_root) -> None:
    response = client.get(photo.image.url)
    head = client.head(photo.image.url)

    assert photo.image.url == f"/media/{photo.image.name}"
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == CACHE_FOREVER
    assert b"".join(response.streaming_content) == (media_root / photo.image.name).read_bytes()
    assert head.status_code == 200
    assert client.post(photo.image.url).status_code == 405


@pytest.mark.parametrize(
    "path",
    [
        "/media/exports/1/report.csv",  # not a public folder
        "/media/products/../exports/1/report.csv",
        "/media/products/%2e%2e/exports/1/report.csv",
        "/media/products/1/missing.png",
        "/media/products/1/",
        "/media/products/1/link.png",  # a symbolic link out of the folder
    ],
)
def test_only_public_files_inside_the_media_folder_are_served(
    client: Client, media_root, tmp_path, path
) -> None:
    (media_root / "exports" / "1").mkdir(parents=True)
    (media_root / "exports" / "1" / "report.csv").write_text("secret")
    (media_root / "products" / "1").mkdir(parents=True)
    outside = tmp_path / "outside.png"
    outside.write_bytes(image_bytes())
    os.symlink(outside, media_root / "products" / "1" / "link.png")

    response = client.get(path)

    assert response.status_code == 404


def test_nothing_is_served_from_storage_that_is_not_the_local_folder(
    client: Client, photo, settings
) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }

    assert client.get(f"/media/{photo.image.name}").status_code == 404
