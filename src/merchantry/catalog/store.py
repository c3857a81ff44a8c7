"""
The Store API's catalog reads, built for speed: plain rows in, JSON-ready dicts out.

A listing page is two queries whatever its size and however many variants its
products have: the channel's listings joined to their products (and featured
image), then those products' variants joined to their price on the channel.
Neither instantiates a model; prices come from the listing's denormalised
``price_min``/``price_max``. Filters are all indexed columns of the listing or
the product, or the full-text search of :mod:`merchantry.catalog.search`.

Only what the channel sells is ever read: active products with a published
listing on the channel whose publish date has come and which have a price on
it (a product without a price cannot be bought, so it is not shown).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from django.db import connection
from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone

from merchantry.catalog import search
from merchantry.catalog.models import (
    Attribute,
    AttributeType,
    Category,
    Collection,
    Product,
    ProductChannelListing,
    ProductMedia,
    ProductOptionValue,
    ProductStatus,
    ProductVariant,
)
from merchantry.catalog.thumbnails import thumbnail_url
from merchantry.core.errors import BadRequest, NotFound, invalid_field
from merchantry.core.money import minor_unit_exponent
from merchantry.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, InvalidCursor
from merchantry.tenancy.models import Channel

__all__ = ["SORTS", "StoreQuery", "facets", "product_detail", "product_page"]

SORTS = ("relevance", "title", "-title", "price", "-price", "newest")
THUMBNAIL_SIZE = 320
MAX_OPTION_FILTERS = 10
MAX_SEARCH_OFFSET = 1000


@dataclass(frozen=True)
class StoreQuery:
    """What a shopper asked the product list for; validated by :func:`product_page`."""

    q: str | None = None
    tag: str | None = None
    category: str | None = None
    collection: str | None = None
    vendor: str | None = None
    product_type: str | None = None
    price_min: str | None = None
    price_max: str | None = None
    in_stock: bool | None = None
    options: tuple[str, ...] = field(default_factory=tuple)
    attributes: tuple[str, ...] = field(default_factory=tuple)
    sort: str | None = None


def _money(amount: Decimal | None, currency: str, exponent: int) -> dict[str, str] | None:
    if amount is None:
        return None
    return {"amount": str(amount.quantize(Decimal(1).scaleb(-exponent))), "currency": currency}


def _thumbnail(image: str | None) -> str | None:
    return thumbnail_url(image, THUMBNAIL_SIZE) if image else None


def _amount_param(value: str | None, name: str, exponent: int) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(value)
    except (InvalidOperation, ValueError):
        raise invalid_field(name, "Not a number.", "not_a_number") from None
    if not amount.is_finite() or amount < 0:
        raise invalid_field(name, "Must be a non-negative number.", "invalid")
    return amount


def _listings(channel: Channel) -> QuerySet[ProductChannelListing]:
    now = timezone.now()
    return ProductChannelListing.objects.filter(
        shop_id=channel.shop_id,
        # Said of the product too, so its (shop, status, title) index can
        # deliver a page already sorted instead of sorting the whole channel.
        product__shop_id=channel.shop_id,
        channel=channel,
        is_published=True,
        price_min__isnull=False,
        product__status=ProductStatus.ACTIVE,
    ).filter(Q(published_at__isnull=True) | Q(published_at__lte=now))


def category_filter(channel: Channel, handle: str) -> Q:
    """Products in the category ``handle`` of the channel's shop or any subcategory."""
    node = Category.objects.filter(shop_id=channel.shop_id, handle=handle).only("path").first()
    if node is None:
        raise NotFound("No such category.")
    members = Product.categories.through.objects.filter(
        category__shop_id=channel.shop_id, category__path__startswith=node.path
    ).values("product_id")
    return Q(product_id__in=members)


def collection_filter(channel: Channel, handle: str) -> Q:
    """Products of the published collection ``handle``: its members or its rules."""
    collection = Collection.objects.filter(
        shop_id=channel.shop_id, handle=handle, is_published=True
    ).first()
    if collection is None:
        raise NotFound("No such collection.")
    from merchantry.catalog.collections import collection_product_filter

    return Q(product__in=Product.objects.filter(collection_product_filter(collection, channel)))


def _facet_attributes(channel: Channel) -> dict[str, Attribute]:
    return {a.slug: a for a in Attribute.objects.filter(shop_id=channel.shop_id, is_facet=True)}


def _attribute_filter(channel: Channel, pairs: tuple[str, ...]) -> Q:
    """Products whose facet attributes have the values asked (values of one attribute: any)."""
    if len(pairs) > MAX_OPTION_FILTERS:
        raise invalid_field("attr", f"At most {MAX_OPTION_FILTERS} attribute filters.", "invalid")
    definitions = _facet_attributes(channel)
    wanted: dict[str, list[Any]] = defaultdict(list)
    for text in pairs:
        slug, sep, raw = text.partition(":")
        attribute = definitions.get(slug.strip())
        if not sep or attribute is None:
            raise invalid_field("attr", 'Write "slug:value" with a facet attribute.', "invalid")
        raw = raw.strip()
        value: Any = raw
        if attribute.type == AttributeType.BOOLEAN:
            if raw not in ("true", "false"):
                raise invalid_field("attr", f"{slug}: true or false.", "invalid")
            value = raw == "true"
        elif attribute.type == AttributeType.NUMBER:
            try:
                value = format(Decimal(raw).normalize(), "f")
            except InvalidOperation:
                raise invalid_field("attr", f"{slug}: not a number.", "not_a_number") from None
        wanted[attribute.slug].append(value)
    condition = Q()
    for slug, values in wanted.items():
        condition &= Q(**{f"product__attributes__{slug}__in": values})
    return condition


def _filtered(channel: Channel, query: StoreQuery, exponent: int) -> QuerySet:
    listings = _listings(channel)
    if query.tag:
        listings = listings.filter(product__tags_index__contains=f"|{query.tag.strip().lower()}|")
    if query.vendor:
        listings = listings.filter(product__vendor__iexact=query.vendor)
    if query.product_type:
        listings = listings.filter(product__product_type__iexact=query.product_type)
    if query.in_stock is not None:
        listings = listings.filter(in_stock=query.in_stock)
    low = _amount_param(query.price_min, "price_min", exponent)
    high = _amount_param(query.price_max, "price_max", exponent)
    # A product is in a price range when some variant is: its span overlaps it.
    if low is not None:
        listings = listings.filter(price_max__gte=low)
    if high is not None:
        listings = listings.filter(price_min__lte=high)
    if query.category:
        listings = listings.filter(category_filter(channel, query.category))
    if query.collection:
        listings = listings.filter(collection_filter(channel, query.collection))
    if query.options:
        if len(query.options) > MAX_OPTION_FILTERS:
            raise invalid_field(
                "option", f"At most {MAX_OPTION_FILTERS} option filters.", "invalid"
            )
        by_name: dict[str, list[str]] = defaultdict(list)
        for text in query.options:
            name, sep, value = text.partition(":")
            if not sep or not name.strip() or not value.strip():
                raise invalid_field("option", 'Write an option filter as "Name:Value".', "invalid")
            by_name[name.strip()].append(value.strip())
        # Values of one option widen the choice (M or L); options narrow it (and Red).
        variants = ProductVariant.objects.filter(shop_id=channel.shop_id)
        for name, values in by_name.items():
            any_value = Q()
            for value in values:
                any_value |= Q(**{f"option_values__{name}": value})
            variants = variants.filter(any_value)
        listings = listings.filter(product_id__in=variants.values("product_id"))
    if query.attributes:
        listings = listings.filter(_attribute_filter(channel, query.attributes))
    if query.q:
        ids = search.matching_ids(query.q)
        listings = listings.none() if ids is None else listings.filter(product_id__in=ids)
    return listings


# -- the list ----------------------------------------------------------------------------

# Sort -> (column, descending, tie-breaker). Each pair is an index's order
# (product_store_title, product_store_newest, listing_channel_price), so a
# page is read already sorted however large the catalog.
_SORT_FIELDS = {
    "title": ("product__title", False, "product__id"),
    "-title": ("product__title", True, "product__id"),
    "price": ("price_min", False, "product_id"),
    "-price": ("price_min", True, "product_id"),
    "newest": ("product__created_at", True, "product__id"),
}


def _encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, default=str, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor("The cursor is malformed; start again without one.") from None
    if not isinstance(values, list) or len(values) != 2:
        raise InvalidCursor("The cursor does not belong to this list.")
    return values


def _cursor_value(sort: str, value: Any) -> Any:
    try:
        if sort in ("price", "-price"):
            return Decimal(str(value))
        if sort == "newest":
            return datetime.fromisoformat(str(value))
        if not isinstance(value, str) or "\x00" in value:
            raise ValueError
        return value
    except (InvalidOperation, ValueError, TypeError):
        raise InvalidCursor("The cursor does not belong to this list.") from None


def _page_rows(
    listings: QuerySet, sort: str, limit: int, cursor: str | None, query_text: str
) -> tuple[list, Any]:
    """Return up to ``limit`` rows in ``sort`` order, and the next cursor (or None)."""
    columns = (
        "product_id",
        "product__title",
        "product__handle",
        "product__vendor",
        "product__product_type",
        "product__tags",
        "product__created_at",
        "price_min",
        "price_max",
        "in_stock",
        "product__featured_media__image",
    )
    if sort == "relevance":
        # Ranked results page by offset: the rank is no stable key, and
        # nobody reads a search past its first pages.
        offset = 0
        if cursor:
            values = _decode_cursor(cursor)
            if values[0] != "o" or not isinstance(values[1], int) or values[1] < 0:
                raise InvalidCursor("The cursor does not belong to this list.")
            offset = values[1]
        if offset >= MAX_SEARCH_OFFSET:
            return [], None
        ordered = listings.annotate(search_rank=search.rank(query_text)).order_by(
            "-search_rank", "product_id"
        )
        rows = list(ordered.values_list(*columns)[offset : offset + limit + 1])
        more = len(rows) > limit
        return rows[:limit], _encode_cursor(["o", offset + limit]) if more else None
    name, descending, tie = _SORT_FIELDS[sort]
    if cursor:
        value, last_id = _decode_cursor(cursor)
        if not isinstance(last_id, int) or not 0 < last_id < 2**63:
            raise InvalidCursor("The cursor does not belong to this list.")
        value = _cursor_value(sort, value)
        op = "lt" if descending else "gt"
        listings = listings.filter(
            Q(**{f"{name}__{op}": value}) | Q(**{name: value, f"{tie}__{op}": last_id})
        )
    direction = "-" if descending else ""
    ordered = listings.order_by(f"{direction}{name}", f"{direction}{tie}")
    rows = list(ordered.values_list(*columns)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        key = {"product__title": last[1], "price_min": last[7], "product__created_at": last[6]}
        next_cursor = _encode_cursor([key[name], last[0]])
    return rows, next_cursor


# The page's variants with their price on the channel. Written as SQL rather
# than built by the ORM: it has one fixed shape, and compiling the equivalent
# FilteredRelation query cost more CPU than running it.
_VARIANTS_SQL = """
    SELECT v.id, v.product_id, v.title, v.sku, v.option_values, p.price, p.compare_at_price
    FROM catalog_productvariant v
    LEFT JOIN catalog_variantchannelprice p ON p.variant_id = v.id AND p.channel_id = %s
    WHERE v.shop_id = %s AND v.product_id IN ({ids})
    ORDER BY v.product_id, v.position, v.id
"""


def _decimal(value: Any) -> Decimal | None:
    # SQLite hands numeric columns back as floats; their repr is the stored
    # decimal (at most 15 significant digits, see PRICE_MAX_DIGITS).
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _variants(channel: Channel, product_ids: list[int], exponent: int) -> dict[int, list[dict]]:
    sql = _VARIANTS_SQL.format(ids=", ".join(["%s"] * len(product_ids)))
    with connection.cursor() as cursor:
        cursor.execute(sql, [channel.pk, channel.shop_id, *product_ids])
        rows = cursor.fetchall()
    currency = channel.currency
    by_product: dict[int, list[dict]] = defaultdict(list)
    for pk, product_id, title, sku, option_values, price, compare_at in rows:
        if isinstance(option_values, str | bytes):
            option_values = orjson.loads(option_values)
        by_product[product_id].append(
            {
                "id": str(pk),
                "title": title,
                "sku": sku,
                "option_values": option_values,
                "price": _money(_decimal(price), currency, exponent),
                "compare_at_price": _money(_decimal(compare_at), currency, exponent),
            }
        )
    return by_product


def product_page(
    channel: Channel,
    query: StoreQuery,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Return one page of the channel's products as ``{"items": [...], "next_cursor": ...}``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}.", code="invalid_limit")
    sort = query.sort or ("relevance" if query.q else "title")
    if sort not in SORTS:
        raise invalid_field("sort", f"One of {', '.join(SORTS)}.", "invalid")
    if sort == "relevance" and not query.q:
        sort = "title"
    exponent = minor_unit_exponent(channel.currency)
    listings = _filtered(channel, query, exponent)
    rows, next_cursor = _page_rows(listings, sort, limit, cursor, query.q or "")
    variants = _variants(channel, [row[0] for row in rows], exponent) if rows else {}
    currency = channel.currency
    items = [
        {
            "id": str(pk),
            "handle": handle,
            "title": title,
            "vendor": vendor,
            "product_type": product_type,
            "tags": tags,
            "thumbnail_url": _thumbnail(image),
            "min_price": _money(low, currency, exponent),
            "max_price": _money(high, currency, exponent),
            "in_stock": in_stock,
            "variants": variants.get(pk, []),
        }
        for pk, title, handle, vendor, product_type, tags, _, low, high, in_stock, image in rows
    ]
    return {"items": items, "next_cursor": next_cursor}


# -- one product -----------------------------------------------------------------------


def product_detail(channel: Channel, handle: str) -> dict[str, Any]:
    """Return the product ``handle`` as the channel sells it, or raise ``NotFound``."""
    row = (
        _listings(channel)
        .filter(product__handle=handle)
        .values(
            "product_id",
            "product__title",
            "product__handle",
            "product__description",
            "product__vendor",
            "product__product_type",
            "product__tags",
            "product__seo_title",
            "product__seo_description",
            "product__metadata_public",
            "product__attributes",
            "price_min",
            "price_max",
            "in_stock",
        )
        .first()
    )
    if row is None:
        raise NotFound("No such product.")
    pk = row["product_id"]
    exponent = minor_unit_exponent(channel.currency)
    currency = channel.currency
    options: dict[str, dict[str, Any]] = {}
    for option_id, name, value in (
        ProductOptionValue.objects.filter(option__product_id=pk)
        .order_by("option__position", "option_id", "position", "id")
        .values_list("option_id", "option__name", "value")
    ):
        options.setdefault(option_id, {"name": name, "values": []})["values"].append(value)
    media: dict[int, dict[str, Any]] = {}
    # One row per (image, variant): the images' variants come in the same query.
    for media_id, alt, width, height, image, variant_id in (
        ProductMedia.objects.filter(shop_id=channel.shop_id, product_id=pk)
        .order_by("position", "id")
        .values_list("id", "alt", "width", "height", "image", "variants")
    ):
        entry = media.setdefault(
            media_id,
            {
                "id": str(media_id),
                "alt": alt,
                "width": width,
                "height": height,
                "thumbnail_url": _thumbnail(image),
                "variant_ids": [],
            },
        )
        if variant_id is not None:
            entry["variant_ids"].append(str(variant_id))
    categories = [
        {"handle": handle, "name": name}
        for handle, name in Category.objects.filter(products=pk)
        .order_by("path")
        .values_list("handle", "name")
    ]
    return {
        "id": str(pk),
        "handle": row["product__handle"],
        "title": row["product__title"],
        "description": row["product__description"],
        "vendor": row["product__vendor"],
        "product_type": row["product__product_type"],
        "tags": row["product__tags"],
        "seo_title": row["product__seo_title"],
        "seo_description": row["product__seo_description"],
        "metadata_public": row["product__metadata_public"],
        "attributes": row["product__attributes"],
        "min_price": _money(row["price_min"], currency, exponent),
        "max_price": _money(row["price_max"], currency, exponent),
        "in_stock": row["in_stock"],
        "options": list(options.values()),
        "media": list(media.values()),
        "categories": categories,
        "variants": _variants(channel, [pk], exponent).get(pk, []),
    }


# -- facets ------------------------------------------------------------------------------


def facets(channel: Channel, query: StoreQuery) -> dict[str, Any]:
    """
    Counts of the products the query matches, by category, vendor, type, option
    value and stock, and their price range: what a storefront's filter panel shows.
    """
    exponent = minor_unit_exponent(channel.currency)
    listings = _filtered(channel, query, exponent)
    currency = channel.currency
    span = listings.aggregate(low=Min("price_min"), high=Max("price_max"), total=Count("id"))
    product_ids = listings.values("product_id")

    def counted(column: str) -> list[dict[str, Any]]:
        rows = (
            listings.exclude(**{column: ""})
            .values_list(column)
            .annotate(n=Count("id"))
            .order_by("-n", column)
        )
        return [{"value": value, "count": n} for value, n in rows]

    categories = [
        {"handle": handle, "name": name, "count": n}
        for handle, name, n in Category.objects.filter(
            shop_id=channel.shop_id, products__in=product_ids
        )
        .values_list("handle", "name")
        .annotate(n=Count("products"))
        .order_by("path")
    ]
    # Option values counted in Python: a product counts once per value however
    # many of its variants carry it.
    option_counts: Counter[tuple[str, str]] = Counter()
    seen: set[tuple[int, str, str]] = set()
    for product_id, values in ProductVariant.objects.filter(
        shop_id=channel.shop_id, product_id__in=product_ids
    ).values_list("product_id", "option_values"):
        for name, value in (values or {}).items():
            if (product_id, name, value) not in seen:
                seen.add((product_id, name, value))
                option_counts[(name, value)] += 1
    options: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (name, value), n in sorted(option_counts.items()):
        options[name].append({"value": value, "count": n})
    stock = dict(listings.values_list("in_stock").annotate(n=Count("id")).order_by())
    facet_attributes = _facet_attributes(channel)
    attribute_counts: Counter[tuple[str, Any]] = Counter()
    if facet_attributes:
        for values in listings.values_list("product__attributes", flat=True):
            for slug in facet_attributes:
                if (values or {}).get(slug) is not None:
                    attribute_counts[(slug, values[slug])] += 1
    return {
        "total": span["total"],
        "price": {
            "min": _money(span["low"], currency, exponent),
            "max": _money(span["high"], currency, exponent),
        },
        "in_stock": {"true": stock.get(True, 0), "false": stock.get(False, 0)},
        "categories": categories,
        "vendors": counted("product__vendor"),
        "product_types": counted("product__product_type"),
        "options": [{"name": name, "values": values} for name, values in options.items()],
        "attributes": [
            {
                "slug": slug,
                "name": attribute.name,
                "type": attribute.type,
                "values": [
                    {"value": value, "count": n}
                    for (s, value), n in sorted(attribute_counts.items(), key=lambda i: str(i[0]))
                    if s == slug
                ],
            }
            for slug, attribute in facet_attributes.items()
        ],
    }
