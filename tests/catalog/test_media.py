"""Product media services: what an upload must be, where it goes, order and featured image."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from merchantry.catalog import media as services
from merchantry.catalog.models import Product, ProductMedia
from merchantry.catalog.thumbnails import thumbnail_name
from merchantry.core.actors import SYSTEM_ACTOR, Actor
from merchantry.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from merchantry.core.models import AuditEvent, OutboxEvent
from tests.catalog.conftest import make_product
from tests.catalog.images import (
    exif_rotated_jpeg,
    image_bytes,
    noisy_png,
    png_bomb,
    stored_files,
    upload,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def _upload(shop, product, data=None, **kwargs):
    return services.media_upload(
        actor=SYSTEM_ACTOR,
        shop=shop,
        product_id=product.pk,
        file=image_bytes() if data is None else data,
        **kwargs,
    )


def _featured(product: Product) -> int | None:
    return Product.objects.get(pk=product.pk).featured_media_id


def _order(product: Product) -> list[tuple[int, int]]:
    return list(
        ProductMedia.objects.filter(product=product)
        .order_by("position", "pk")
        .values_list("pk", "position")
    )


# -- what an upload must be ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "extension", "save_args"),
    [
        ("JPEG", "jpg", {}),
        ("PNG", "png", {}),
        ("WEBP", "webp", {}),
        ("GIF", "gif", {}),
    ],
)
def test_jpeg_png_webp_and_gif_are_accepted_and_stored_under_a_random_name(
    shop, media_root, fmt, extension, save_args
) -> None:
    # given
    product = make_product(shop)
    data = image_bytes(fmt, (64, 48), **save_args)

    # when: sent under a misleading name and content type
    media = services.media_upload(
        actor=SYSTEM_ACTOR,
        shop=shop,
        product_id=product.pk,
        file=upload(data, name="holiday.txt", content_type="text/plain"),
        alt="  A red square  ",
    )

    # then: the decoded format decides, and the file is what was sent
    assert re.fullmatch(rf"products/{shop.pk}/[A-Za-z0-9_-]{{22}}\.{extension}", media.image.name)
    assert (media.format, media.width, media.height, media.size_bytes) == (fmt, 64, 48, len(data))
    assert media.alt == "A red square"
    assert (media_root / media.image.name).read_bytes() == data
    assert stored_files(media_root) == [media.image.name]


def test_names_are_never_reused(shop) -> None:
    product = make_product(shop)

    names = {_upload(shop, product).image.name for _ in range(3)}

    assert len(names) == 3


def test_the_exif_orientation_gives_the_upright_size(shop) -> None:
    media = _upload(shop, make_product(shop), exif_rotated_jpeg((60, 20)))

    assert (media.width, media.height) == (20, 60)


def _truncated_jpeg() -> bytes:
    data = image_bytes("JPEG", (300, 200))
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("_case", "make_data", "code"),
    [
        ("text renamed .jpg", lambda: b"this is not a photo, honest\n" * 10, "not_an_image"),
        ("empty file", lambda: b"", "not_an_image"),
        ("truncated JPEG", _truncated_jpeg, "not_an_image"),
        (
            "PNG signature then garbage",
            lambda: b"\x89PNG\r\n\x1a\n" + b"\x00" * 200,
            "not_an_image",
        ),
        ("BMP", lambda: image_bytes("BMP"), "unsupported_format"),
        ("TIFF", lambda: image_bytes("TIFF"), "unsupported_format"),
        ("decompression bomb (400 megapixels in 50 KB)", png_bomb, "too_many_pixels"),
    ],
)
def test_invalid_files_are_422_on_file_and_store_nothing(
    shop, media_root, _case, make_data, code
) -> None:
    # given
    product = make_product(shop)
    events = OutboxEvent.objects.count()

    # when
    with pytest.raises(ValidationFailed) as caught:
        services.media_upload(
            actor=SYSTEM_ACTOR,
            shop=shop,
            product_id=product.pk,
            file=upload(make_data(), name="photo.jpg", content_type="image/jpeg"),
        )

    # then
    assert caught.value.status == 422
    assert [(e.loc, e.code) for e in caught.value.errors] == [(("file",), code)]
    assert not ProductMedia.objects.exists()
    assert stored_files(media_root) == []
    assert OutboxEvent.objects.count() == events
    assert _featured(product) is None


def test_the_bomb_is_refused_without_decoding_it(shop) -> None:
    # 400 megapixels would take over a second and 400 MB to decode; the
    # header is enough to refuse it.
    product = make_product(shop)
    bomb = png_bomb()
    started = time.perf_counter()

    with pytest.raises(ValidationFailed):
        _upload(shop, product, bomb)

    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    ("_case", "size"),
    [("above the limit (Pillow warns)", (11, 10)), ("above twice the limit", (30, 30))],
)
def test_more_pixels_than_the_limit_is_too_many_pixels(shop, settings, _case, size) -> None:
    settings.MERCHANTRY_MAX_IMAGE_PIXELS = 100
    product = make_product(shop)

    with pytest.raises(ValidationFailed) as caught:
        _upload(shop, product, image_bytes("PNG", size))
    accepted = _upload(shop, product, image_bytes("PNG", (10, 10)))

    assert caught.value.errors[0].code == "too_many_pixels"
    assert "100 pixels" in caught.value.errors[0].message
    assert (accepted.width, accepted.height) == (10, 10)


def test_a_file_larger_than_the_limit_is_too_large(shop, settings, media_root) -> None:
    # given: a limit of 2 KB and a photo of about 5 KB
    settings.MERCHANTRY_MAX_IMAGE_BYTES = 2048
    product = make_product(shop)
    photo = noisy_png()
    assert len(photo) > 2048

    # when
    with pytest.raises(ValidationFailed) as caught:
        _upload(shop, product, photo)

    # then
    assert caught.value.errors[0].code == "too_large"
    assert stored_files(media_root) == []


def test_an_unknown_or_foreign_product_is_not_found_and_nothing_is_stored(
    shop, other_shop, media_root
) -> None:
    theirs = make_product(other_shop)

    for product_id in (theirs.pk, 999_999):
        with pytest.raises(NotFound):
            services.media_upload(
                actor=SYSTEM_ACTOR, shop=shop, product_id=product_id, file=image_bytes()
            )

    assert stored_files(media_root) == []
    assert not ProductMedia.objects.exists()


def test_uploading_needs_catalog_manage(shop, media_root) -> None:
    viewer = Actor(kind="apikey", key="apikey:1", shop_id=shop.pk, permissions={"catalog.view"})
    product = make_product(shop)

    with pytest.raises(PermissionDenied):
        services.media_upload(actor=viewer, shop=shop, product_id=product.pk, file=image_bytes())

    assert stored_files(media_root) == []


def test_a_product_has_at_most_100_images(shop, media_root) -> None:
    product = make_product(shop)
    ProductMedia.objects.bulk_create(
        ProductMedia(shop=shop, product=product, image=f"products/{shop.pk}/x{i}.png", position=i)
        for i in range(services.MAX_MEDIA_PER_PRODUCT)
    )

    with pytest.raises(Conflict):
        _upload(shop, product)

    assert stored_files(media_root) == []


# -- order, featured image, events ------------------------------------------------------


def test_uploads_go_last_and_the_first_is_featured(shop) -> None:
    product = make_product(shop)
    events = OutboxEvent.objects.filter(type="product.changed").count()

    first, second, third = (_upload(shop, product) for _ in range(3))

    assert _order(product) == [(first.pk, 0), (second.pk, 1), (third.pk, 2)]
    assert _featured(product) == first.pk
    assert OutboxEvent.objects.filter(type="product.changed").count() == events + 3
    assert AuditEvent.objects.filter(action="product.media_add", shop_id=shop.pk).count() == 3


def test_the_featured_image_follows_reorder_update_and_delete(
    shop, media_root, django_capture_on_commit_callbacks
) -> None:
    # given
    product = make_product(shop)
    a, b, c = (_upload(shop, product) for _ in range(3))
    thumb = default_storage.save(
        thumbnail_name(c.image.name, 160), ContentFile(image_bytes("WEBP", (8, 8)))
    )
    updated_before = Product.objects.get(pk=product.pk).updated_at

    # when / then: reordered
    services.media_reorder(
        actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk, media_ids=[c.pk, a.pk, b.pk]
    )
    assert _order(product) == [(c.pk, 0), (a.pk, 1), (b.pk, 2)]
    assert _featured(product) == c.pk
    assert Product.objects.get(pk=product.pk).updated_at > updated_before

    # moved by position
    services.media_update(actor=SYSTEM_ACTOR, shop=shop, media_id=b.pk, changes={"position": 0})
    assert _order(product) == [(b.pk, 0), (c.pk, 1), (a.pk, 2)]
    assert _featured(product) == b.pk
    services.media_update(actor=SYSTEM_ACTOR, shop=shop, media_id=b.pk, changes={"position": 99})
    assert _order(product) == [(c.pk, 0), (a.pk, 1), (b.pk, 2)]
    assert _featured(product) == c.pk

    # deleted: the next one is featured, positions close up, files go at commit
    with django_capture_on_commit_callbacks(execute=True):
        services.media_delete(actor=SYSTEM_ACTOR, shop=shop, media_id=c.pk)
    assert _order(product) == [(a.pk, 0), (b.pk, 1)]
    assert _featured(product) == a.pk
    assert stored_files(media_root) == sorted([a.image.name, b.image.name])
    assert not default_storage.exists(thumb)

    # all deleted: no featured image
    for media in (a, b):
        services.media_delete(actor=SYSTEM_ACTOR, shop=shop, media_id=media.pk)
    assert _featured(product) is None
    assert AuditEvent.objects.filter(action="product.media_delete").count() == 3


def test_files_are_deleted_only_when_the_deletion_commits(
    shop, media_root, django_capture_on_commit_callbacks
) -> None:
    media = _upload(shop, make_product(shop))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.media_delete(actor=SYSTEM_ACTOR, shop=shop, media_id=media.pk)

    assert (media_root / media.image.name).exists()  # not committed yet
    for callback in callbacks:
        callback()
    assert not (media_root / media.image.name).exists()


@pytest.mark.parametrize(
    ("_case", "ids"),
    [
        ("one missing", lambda a, b, c, other: [a, b]),
        ("one twice", lambda a, b, c, other: [a, b, c, c]),
        ("one of another product", lambda a, b, c, other: [a, b, other]),
        ("an unknown id", lambda a, b, c, other: [a, b, c, 999_999]),
        ("not an id", lambda a, b, c, other: [a, b, "x"]),
    ],
)
def test_reorder_must_name_every_image_once(shop, _case, ids) -> None:
    product = make_product(shop)
    a, b, c = (_upload(shop, product).pk for _ in range(3))
    other = _upload(shop, make_product(shop, title="Other")).pk

    with pytest.raises(ValidationFailed) as caught:
        services.media_reorder(
            actor=SYSTEM_ACTOR, shop=shop, product_id=product.pk, media_ids=ids(a, b, c, other)
        )

    assert caught.value.errors[0].loc == ("media_ids",)
    assert [pk for pk, _ in _order(product)] == [a, b, c]


# -- variants and alt text -----------------------------------------------------------


def test_variants_of_the_same_product_can_be_attached(shop) -> None:
    product = make_product(shop, options=[{"name": "Size", "values": ["S", "M"]}])
    small, medium = product.variants.order_by("position")

    media = _upload(shop, product, variant_ids=[str(small.pk)])
    services.media_update(
        actor=SYSTEM_ACTOR,
        shop=shop,
        media_id=media.pk,
        changes={"variant_ids": [medium.pk, small.pk], "alt": "Both sizes"},
    )

    media.refresh_from_db()
    assert set(media.variants.values_list("pk", flat=True)) == {small.pk, medium.pk}
    assert media.alt == "Both sizes"


def test_a_variant_of_another_product_or_shop_is_refused(shop, other_shop, media_root) -> None:
    product = make_product(shop)
    media = _upload(shop, product)
    sibling_variant = make_product(shop, title="Sibling").variants.get()
    foreign_variant = make_product(other_shop).variants.get()

    for variant in (sibling_variant, foreign_variant):
        with pytest.raises(ValidationFailed) as caught:
            services.media_update(
                actor=SYSTEM_ACTOR,
                shop=shop,
                media_id=media.pk,
                changes={"variant_ids": [variant.pk]},
            )
        assert [(e.loc, e.code) for e in caught.value.errors] == [(("variant_ids", 0), "not_found")]
        with pytest.raises(ValidationFailed):
            _upload(shop, product, variant_ids=[variant.pk])

    assert not media.variants.exists()
    assert stored_files(media_root) == [media.image.name]


def test_alt_text_longer_than_255_characters_is_refused(shop) -> None:
    media = _upload(shop, make_product(shop))

    with pytest.raises(ValidationFailed) as caught:
        services.media_update(
            actor=SYSTEM_ACTOR, shop=shop, media_id=media.pk, changes={"alt": "x" * 256}
        )

    assert caught.value.errors[0].loc == ("alt",)


def test_another_shops_media_is_not_found(shop, other_shop) -> None:
    theirs = _upload(other_shop, make_product(other_shop))

    with pytest.raises(NotFound):
        services.media_update(actor=SYSTEM_ACTOR, shop=shop, media_id=theirs.pk, changes={})
    with pytest.raises(NotFound):
        services.media_delete(actor=SYSTEM_ACTOR, shop=shop, media_id=theirs.pk)

    assert ProductMedia.objects.filter(pk=theirs.pk).exists()


def test_a_bytes_like_file_without_a_name_is_accepted(shop) -> None:
    media = _upload(shop, make_product(shop), memoryview(image_bytes("GIF", (5, 5))))

    assert media.image.name.endswith(".gif")
    assert Path(media.image.path).exists()
