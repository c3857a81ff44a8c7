"""
Products, their options and variants, and how each channel lists and prices them.

Every row carries ``shop`` (directly, or through its product for the small
child tables that are only ever read with their product) and is read through
``for_shop(shop)``. A variant stores its option values as a JSON mapping
(``{"Size": "M", "Color": "Red"}``): storefronts read a product's variants in
one query without a join through option values, and generation matches
existing variants by comparing mappings.
"""

from __future__ import annotations

from typing import Self

from django.db import models
from django.db.models import Q
from django.utils import timezone
from treebeard.mp_tree import MP_Node, MP_NodeManager, MP_NodeQuerySet

from merchantry.tenancy.models import Channel, Shop, ShopScopedQuerySet

__all__ = [
    "Attribute",
    "AttributeType",
    "Category",
    "Collection",
    "CollectionKind",
    "CollectionProduct",
    "Product",
    "ProductChannelListing",
    "ProductMedia",
    "ProductOption",
    "ProductOptionValue",
    "ProductStatus",
    "ProductVariant",
    "VariantChannelPrice",
]

PRICE_MAX_DIGITS = 14
PRICE_DECIMAL_PLACES = 3  # the most any ISO 4217 currency has (BHD, KWD...)


class ProductStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


class ProductQuerySet(ShopScopedQuerySet):
    def visible_in(self, channel: Channel) -> Self:
        """Active products published on ``channel`` whose publish date has come."""
        listed = ProductChannelListing.objects.filter(channel=channel, is_published=True).filter(
            Q(published_at__isnull=True) | Q(published_at__lte=timezone.now())
        )
        return self.filter(
            shop_id=channel.shop_id,
            status=ProductStatus.ACTIVE,
            pk__in=listed.values("product_id"),
        )

    def tagged(self, tag: str) -> Self:
        return self.filter(tags_index__contains=f"|{tag.strip().lower()}|")


class Product(models.Model):
    """Something a shop sells; the variants are what is actually bought."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="products")
    title = models.CharField(max_length=255)
    handle = models.SlugField(max_length=255, allow_unicode=False)
    description = models.TextField(blank=True, default="")
    product_type = models.CharField(max_length=120, blank=True, default="")
    vendor = models.CharField(max_length=120, blank=True, default="")
    tags = models.JSONField(default=list, blank=True)
    # "|red|summer|": the tags lowercased, for a portable filter (SQLite has no
    # JSON containment lookup). Kept in step with ``tags`` by the services.
    tags_index = models.CharField(max_length=2000, blank=True, default="", editable=False)
    status = models.CharField(max_length=16, choices=ProductStatus, default=ProductStatus.DRAFT)
    seo_title = models.CharField(max_length=255, blank=True, default="")
    seo_description = models.CharField(max_length=500, blank=True, default="")
    metadata_public = models.JSONField(default=dict, blank=True)
    metadata_private = models.JSONField(default=dict, blank=True)
    # Values of the shop's typed attributes, by attribute slug; validated
    # against the ``Attribute`` definitions by the services.
    attributes = models.JSONField(default=dict, blank=True)
    categories = models.ManyToManyField("Category", related_name="products", blank=True)
    # The first image by position, kept by the media services so a listing
    # reaches its thumbnail with a join instead of another query.
    featured_media = models.ForeignKey(
        "ProductMedia", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    was_published = models.BooleanField(
        default=False, help_text="Set once first published; the handle is then frozen."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ("shop_id", "-updated_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("shop", "handle"), name="product_handle_unique_per_shop"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ProductStatus.values), name="product_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=("shop", "status", "updated_at"), name="product_shop_status_upd"),
            models.Index(fields=("shop", "updated_at", "id"), name="product_shop_updated"),
            models.Index(fields=("shop", "title"), name="product_shop_title"),
            # The Store list's sorts, walked in order so a page costs the same
            # whatever the catalog's size.
            models.Index(fields=("shop", "status", "title", "id"), name="product_store_title"),
            models.Index(
                fields=("shop", "status", "created_at", "id"), name="product_store_newest"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ProductOption(models.Model):
    """A dimension a product varies in (Size, Color), with ordered values."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="options")
    name = models.CharField(max_length=60)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("product_id", "position", "id")
        constraints = [
            models.UniqueConstraint(fields=("product", "name"), name="option_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class ProductOptionValue(models.Model):
    option = models.ForeignKey(ProductOption, on_delete=models.CASCADE, related_name="values")
    value = models.CharField(max_length=120)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("option_id", "position", "id")
        constraints = [
            models.UniqueConstraint(fields=("option", "value"), name="option_value_unique"),
        ]

    def __str__(self) -> str:
        return self.value


class ProductVariant(models.Model):
    """One buyable version of a product: a SKU with its option values."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="variants")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    title = models.CharField(max_length=255, blank=True, default="")
    sku = models.CharField(max_length=64, null=True, blank=True)
    barcode = models.CharField(max_length=32, blank=True, default="")
    option_values = models.JSONField(default=dict, blank=True)
    weight_grams = models.PositiveIntegerField(null=True, blank=True)
    length_mm = models.PositiveIntegerField(null=True, blank=True)
    width_mm = models.PositiveIntegerField(null=True, blank=True)
    height_mm = models.PositiveIntegerField(null=True, blank=True)
    track_inventory = models.BooleanField(default=True)
    allow_backorder = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("product_id", "position", "id")
        constraints = [
            # A SKU is optional, but two variants of a shop never share one.
            models.UniqueConstraint(
                fields=("shop", "sku"),
                condition=Q(sku__isnull=False),
                name="variant_sku_unique_per_shop",
            ),
        ]
        indexes = [models.Index(fields=("product", "position"), name="variant_product_pos")]

    def __str__(self) -> str:
        return self.sku or self.title or f"variant {self.pk}"


class ProductChannelListing(models.Model):
    """Whether (and from when) a product is for sale on a channel."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="channel_listings")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="product_listings")
    is_published = models.BooleanField(default=False)
    published_at = models.DateTimeField(null=True, blank=True)
    # Denormalised from the variants' prices on this channel (by the price
    # services) so listings filter, facet and sort by price without a join.
    price_min = models.DecimalField(
        max_digits=PRICE_MAX_DIGITS, decimal_places=PRICE_DECIMAL_PLACES, null=True, blank=True
    )
    price_max = models.DecimalField(
        max_digits=PRICE_MAX_DIGITS, decimal_places=PRICE_DECIMAL_PLACES, null=True, blank=True
    )
    # Whether any variant can be bought on this channel; kept by inventory.
    in_stock = models.BooleanField(default=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("product", "channel"), name="listing_unique"),
        ]
        indexes = [
            models.Index(fields=("channel", "is_published", "product"), name="listing_channel_pub"),
            models.Index(
                fields=("channel", "price_min", "product"),
                condition=Q(is_published=True),
                name="listing_channel_price",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} on {self.channel_id}"


class VariantChannelPrice(models.Model):
    """A variant's price on a channel, in that channel's currency."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    variant = models.ForeignKey(ProductVariant, on_delete=models.CASCADE, related_name="prices")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="variant_prices")
    currency = models.CharField(max_length=3)
    price = models.DecimalField(max_digits=PRICE_MAX_DIGITS, decimal_places=PRICE_DECIMAL_PLACES)
    compare_at_price = models.DecimalField(
        max_digits=PRICE_MAX_DIGITS, decimal_places=PRICE_DECIMAL_PLACES, null=True, blank=True
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("variant", "channel"), name="variant_price_unique"),
            models.CheckConstraint(condition=Q(price__gte=0), name="variant_price_not_negative"),
            models.CheckConstraint(
                condition=Q(compare_at_price__isnull=True) | Q(compare_at_price__gte=0),
                name="variant_compare_at_not_negative",
            ),
        ]
        indexes = [models.Index(fields=("channel", "variant"), name="price_channel_variant")]

    def __str__(self) -> str:
        return f"{self.price} {self.currency}"


class AttributeType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Yes/no"
    CHOICE = "choice", "Choice"


class Attribute(models.Model):
    """A typed custom field a shop defines for its products (Material, Waterproof)."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60)
    type = models.CharField(max_length=16, choices=AttributeType, default=AttributeType.TEXT)
    choices = models.JSONField(default=list, blank=True, help_text="Allowed values of a choice.")
    is_facet = models.BooleanField(default=False, help_text="Offered as a filter in the Store API.")
    position = models.PositiveSmallIntegerField(default=0)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("shop_id", "position", "id")
        constraints = [
            models.UniqueConstraint(fields=("shop", "slug"), name="attribute_slug_unique_per_shop"),
            models.CheckConstraint(
                condition=Q(type__in=AttributeType.values), name="attribute_type_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CategoryQuerySet(MP_NodeQuerySet):
    def for_shop(self, shop: Shop | int) -> Self:
        return self.filter(shop=shop)


class CategoryManager(MP_NodeManager.from_queryset(CategoryQuerySet)):  # type: ignore[misc]
    def get_queryset(self) -> CategoryQuerySet:
        # MP_NodeManager builds a plain MP_NodeQuerySet, which has no
        # for_shop(); ours keeps treebeard's subtree-aware delete and order.
        return CategoryQuerySet(self.model, using=self._db).order_by("path")


class Category(MP_Node):
    """
    A node of the shop's category tree. Each shop's top-level categories are
    roots of the (installation-wide) materialised-path tree, so a subtree is a
    prefix match on ``path`` and siblings keep the order they were placed in.
    """

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=120)
    handle = models.SlugField(max_length=120)
    description = models.TextField(blank=True, default="")
    seo_title = models.CharField(max_length=255, blank=True, default="")
    seo_description = models.CharField(max_length=500, blank=True, default="")
    metadata_public = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    steplen = 5  # 36**5 = 60M siblings per level: roots are shared by every shop
    node_order_by: list[str] = []

    objects = CategoryManager()

    class Meta:
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(
                fields=("shop", "handle"), name="category_handle_unique_per_shop"
            ),
        ]
        indexes = [models.Index(fields=("shop", "path"), name="category_shop_path")]

    def __str__(self) -> str:
        return self.name


class CollectionKind(models.TextChoices):
    MANUAL = "manual", "Manual (curated)"
    AUTOMATED = "automated", "Automated (rules)"


class Collection(models.Model):
    """
    A merchandising group of products: curated by hand and ordered
    (``CollectionProduct``), or automated by ``rules`` evaluated at read time,
    e.g. ``[{"field": "tag", "op": "equals", "value": "summer"}]``.
    """

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=255)
    handle = models.SlugField(max_length=255)
    description = models.TextField(blank=True, default="")
    kind = models.CharField(max_length=16, choices=CollectionKind, default=CollectionKind.MANUAL)
    rules = models.JSONField(default=list, blank=True)
    # True: a product must match every rule; False: any one rule.
    rules_match_all = models.BooleanField(default=True)
    is_published = models.BooleanField(default=False)
    seo_title = models.CharField(max_length=255, blank=True, default="")
    seo_description = models.CharField(max_length=500, blank=True, default="")
    products = models.ManyToManyField(
        Product, through="CollectionProduct", related_name="collections", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("shop_id", "title", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("shop", "handle"), name="collection_handle_unique_per_shop"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=CollectionKind.values), name="collection_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class CollectionProduct(models.Model):
    """A product's place in a curated collection."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="entries")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("collection_id", "position", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("collection", "product"), name="collection_product_unique"
            ),
        ]
        indexes = [models.Index(fields=("product",), name="collection_product_product")]

    def __str__(self) -> str:
        return f"{self.product_id} in {self.collection_id}"


def media_upload_to(instance: ProductMedia, filename: str) -> str:
    # The name is chosen by the services (a random token and the real format);
    # the shop prefix keeps one shop's files apart from another's in storage.
    return f"products/{instance.shop_id}/{filename}"


class ProductMedia(models.Model):
    """An image of a product, in order, optionally shown for some variants only."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="media")
    image = models.ImageField(upload_to=media_upload_to, max_length=255)
    alt = models.CharField(max_length=255, blank=True, default="")
    position = models.PositiveIntegerField(default=0)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    format = models.CharField(max_length=8, default="")
    size_bytes = models.PositiveIntegerField(default=0)
    variants = models.ManyToManyField(ProductVariant, related_name="media", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        ordering = ("product_id", "position", "id")
        verbose_name_plural = "product media"
        indexes = [models.Index(fields=("product", "position"), name="media_product_pos")]

    def __str__(self) -> str:
        return self.alt or self.image.name


# Imports and exports live in their own module; imported here so Django registers them.
from merchantry.catalog.models_io import CatalogTransfer  # noqa: E402, F401
