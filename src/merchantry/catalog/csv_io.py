"""
The Shopify product CSV format: reading it into bulk-upsert items, writing it.

A file has a header row, then one row per variant. Rows with the same
``Handle`` are one product: its first row carries the product's fields and
option names, every row carries a variant (option values, SKU, price...).
Rows with only image columns add images in Shopify; here images cannot be
fetched from URLs (the server may have no internet access and must not
fetch arbitrary URLs for a tenant), so ``Image Src`` is skipped with a
warning on its row. Rows are numbered as a spreadsheet shows them: the
header is row 1.

Reading never touches the database: :func:`parse_products` turns the file
into one :class:`Group` per handle, each holding a
:class:`~merchantry.catalog.schemas_io.ProductItem`-shaped dict, the rows it
came from and the errors found in them. :func:`locate` maps an error of the
bulk upsert back to a row and a column.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from merchantry.catalog.category_paths import CategoryPaths, format_path
from merchantry.catalog.models import Product
from merchantry.core.errors import FieldError, ValidationFailed
from merchantry.core.money import Money
from merchantry.tenancy.models import Channel

__all__ = [
    "COLUMNS",
    "Group",
    "InvalidFile",
    "Issue",
    "ParsedFile",
    "check_file",
    "locate",
    "parse_products",
    "product_rows",
    "write_header",
]

COLUMNS = (
    "Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags",
    "Published", "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value",
    "Option3 Name", "Option3 Value", "Variant SKU", "Variant Grams",
    "Variant Inventory Tracker", "Variant Inventory Policy", "Variant Price",
    "Variant Compare At Price", "Variant Requires Shipping", "Variant Barcode", "Image Src",
    "Image Position", "Image Alt Text", "SEO Title", "SEO Description", "Variant Weight Unit",
    "Status",
)  # fmt: skip
MAX_OPTIONS = 3
# Shopify's way of saying "no options": one option "Title" valued "Default Title".
DEFAULT_OPTION, DEFAULT_VALUE = "Title", "Default Title"
TRUE, FALSE = "TRUE", "FALSE"
WEIGHT_UNITS = {"", "g", "kg", "lb", "oz"}
_VARIANT_COLUMNS = (
    "Option1 Value", "Option2 Value", "Option3 Value", "Variant SKU", "Variant Grams",
    "Variant Inventory Tracker", "Variant Inventory Policy", "Variant Price",
    "Variant Compare At Price", "Variant Requires Shipping", "Variant Barcode",
    "Variant Weight Unit",
)  # fmt: skip
_TEXT_FIELDS = {
    "Body (HTML)": "description",
    "Vendor": "vendor",
    "Type": "product_type",
    "SEO Title": "seo_title",
    "SEO Description": "seo_description",
}
# Item field -> the column it came from, to place the upsert's errors.
PRODUCT_COLUMNS = {
    "handle": "Handle",
    "title": "Title",
    "description": "Body (HTML)",
    "vendor": "Vendor",
    "product_type": "Type",
    "tags": "Tags",
    "categories": "Product Category",
    "published": "Published",
    "seo_title": "SEO Title",
    "seo_description": "SEO Description",
    "status": "Status",
    "options": "Option1 Name",
}
VARIANT_COLUMNS = {
    "sku": "Variant SKU",
    "weight_grams": "Variant Grams",
    "track_inventory": "Variant Inventory Tracker",
    "allow_backorder": "Variant Inventory Policy",
    "price": "Variant Price",
    "compare_at_price": "Variant Compare At Price",
    "barcode": "Variant Barcode",
    "option_values": "Option1 Value",
}


class InvalidFile(ValidationFailed):
    """The file as a whole cannot be read as a product CSV."""

    code = "invalid_file"

    def __init__(self, message: str) -> None:
        super().__init__(message, errors=[FieldError(("file",), message, "invalid_file")])


@dataclass(slots=True)
class Issue:
    """An error or warning about one row (and column) of a file."""

    row: int | None
    column: str
    message: str
    code: str = "invalid"
    level: str = "error"
    handle: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "column": self.column,
            "message": self.message,
            "code": self.code,
            "level": self.level,
            "handle": self.handle,
        }


@dataclass(slots=True)
class Group:
    """The rows of one handle: one product."""

    handle: str
    first_row: int
    rows: list[int] = field(default_factory=list)
    item: dict[str, Any] = field(default_factory=dict)
    variant_rows: list[int] = field(default_factory=list)
    option_names: list[str] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)

    def error(self, row: int, column: str, message: str, code: str = "invalid") -> None:
        self.errors.append(Issue(row, column, message, code, "error", self.handle))


@dataclass(slots=True)
class ParsedFile:
    rows_total: int
    groups: list[Group]
    issues: list[Issue]
    """Warnings, and errors of rows belonging to no product (no handle)."""


# -- reading ----------------------------------------------------------------------------------


def _text(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidFile(
            f"The file is not UTF-8 text (byte {exc.start + 1} is not); save it as CSV UTF-8."
        ) from None
    if "\x00" in text:
        raise InvalidFile("The file is not a CSV file (it contains binary data).")
    if not text.strip():
        raise InvalidFile("The file is empty.")
    return text


def _records(text: str) -> tuple[dict[str, int], Iterator[list[str]]]:
    """Return the known columns' positions and the data records that follow the header."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise InvalidFile(f"The file is not a valid CSV file: {exc}.") from None
    known = {name.casefold(): name for name in COLUMNS}
    positions: dict[str, int] = {}
    for position, title in enumerate(header):
        name = known.get(title.strip().casefold())
        if name is not None:
            positions.setdefault(name, position)
    if "Handle" not in positions:
        raise InvalidFile(
            "The file has no Handle column in its first row; is it a Shopify product CSV?"
        )

    def records() -> Iterator[list[str]]:
        try:
            yield from reader
        except csv.Error as exc:
            raise InvalidFile(
                f"The file is not a valid CSV file: {exc} (line {reader.line_num})."
            ) from None

    return positions, records()


def check_file(data: bytes) -> None:
    """Raise :class:`InvalidFile` unless ``data`` reads as a CSV with a Handle column."""
    _, records = _records(_text(data))
    for _ in records:
        pass


def parse_products(data: bytes) -> ParsedFile:
    """Read a Shopify product CSV into one :class:`Group` per handle."""
    positions, records = _records(_text(data))
    groups: dict[str, Group] = {}
    issues: list[Issue] = []
    rows_total = 0
    for number, record in enumerate(records, start=2):
        if not any(cell.strip() for cell in record):
            continue
        rows_total += 1
        cells = {
            name: record[position].strip() if position < len(record) else ""
            for name, position in positions.items()
        }
        handle = cells["Handle"]
        if not handle:
            issues.append(Issue(number, "Handle", "Every row needs the product's handle."))
            continue
        group = groups.get(handle)
        if group is None:
            group = groups[handle] = Group(handle=handle, first_row=number)
            group.item["handle"] = handle
            _product_fields(group, cells, number)
        group.rows.append(number)
        _variant_row(group, cells, number, issues)
    parsed = ParsedFile(rows_total=rows_total, groups=list(groups.values()), issues=issues)
    for group in parsed.groups:
        if group.option_names and not group.item.get("variants"):
            group.error(group.first_row, "Option1 Name", "The product has options but no variants.")
        elif group.option_names:
            group.item["options"] = [
                {"name": name, "values": values} for name, values in _option_values(group).items()
            ]
    _refuse_shared_skus(parsed.groups)
    return parsed


def _bool(group: Group, cells: dict[str, str], column: str, row: int) -> bool | None:
    value = cells.get(column, "").upper()
    if value in (TRUE, FALSE):
        return value == TRUE
    if value:
        group.error(row, column, f"Write {TRUE} or {FALSE}.", "not_a_boolean")
    return None


def _product_fields(group: Group, cells: dict[str, str], row: int) -> None:
    item = group.item
    if "Title" in cells:
        if cells["Title"]:
            item["title"] = cells["Title"]
        else:
            group.error(row, "Title", "The first row of a product needs its title.", "required")
    for column, name in _TEXT_FIELDS.items():
        if column in cells:
            item[name] = cells[column]
    if "Tags" in cells:
        item["tags"] = [tag.strip() for tag in cells["Tags"].split(",") if tag.strip()]
    if cells.get("Product Category"):
        item["categories"] = [cells["Product Category"]]
    published = _bool(group, cells, "Published", row)
    if published is not None:
        item["published"] = published
    if cells.get("Status"):
        item["status"] = cells["Status"].lower()
    names = [cells.get(f"Option{n} Name", "") for n in range(1, MAX_OPTIONS + 1)]
    while names and not names[-1]:
        names.pop()
    if "" in names:
        group.error(row, "Option1 Name", "Option names fill Option1 Name, Option2 Name... in turn.")
    elif names == [DEFAULT_OPTION] and cells.get("Option1 Value") in ("", DEFAULT_VALUE):
        names = []
    group.option_names = names


def _variant_row(group: Group, cells: dict[str, str], row: int, issues: list[Issue]) -> None:
    if cells.get("Image Src"):
        issues.append(
            Issue(
                row,
                "Image Src",
                "Images are not imported from URLs; add them in the admin or the API.",
                "image_skipped",
                "warning",
                group.handle,
            )
        )
    if not any(cells.get(column) for column in _VARIANT_COLUMNS):
        return  # the product's own row without a variant, or an image row
    variant: dict[str, Any] = {"option_values": _row_option_values(group, cells, row)}
    if "Variant SKU" in cells:
        variant["sku"] = cells["Variant SKU"] or None
    if "Variant Grams" in cells:
        variant["weight_grams"] = _grams(group, cells["Variant Grams"], row)
    if "Variant Inventory Tracker" in cells:
        variant["track_inventory"] = bool(cells["Variant Inventory Tracker"])
    policy = cells.get("Variant Inventory Policy", "").lower()
    if policy in ("deny", "continue"):
        variant["allow_backorder"] = policy == "continue"
    elif policy:
        group.error(row, "Variant Inventory Policy", "Write deny or continue.", "invalid_choice")
    if cells.get("Variant Price"):
        variant["price"] = cells["Variant Price"]
    if "Variant Compare At Price" in cells:
        variant["compare_at_price"] = cells["Variant Compare At Price"] or None
    if "Variant Barcode" in cells:
        variant["barcode"] = cells["Variant Barcode"]
    _bool(group, cells, "Variant Requires Shipping", row)  # checked; every variant ships
    if cells.get("Variant Weight Unit", "").lower() not in WEIGHT_UNITS:
        group.error(row, "Variant Weight Unit", "Write g, kg, lb or oz.", "invalid_choice")
    group.item.setdefault("variants", []).append(variant)
    group.variant_rows.append(row)


def _row_option_values(group: Group, cells: dict[str, str], row: int) -> dict[str, str]:
    values = {}
    names = group.option_names
    for n in range(1, MAX_OPTIONS + 1):
        column = f"Option{n} Value"
        value = cells.get(column, "")
        if n <= len(names):
            if value:
                values[names[n - 1]] = value
            else:
                group.error(row, column, f"Give the variant's {names[n - 1]}.", "option_value")
        elif value and not (n == 1 and value == DEFAULT_VALUE):
            group.error(
                row,
                column,
                f"The product's first row names {len(names)} option(s), not {n}.",
                "option_count",
            )
    return values


def _grams(group: Group, text: str, row: int) -> int | None:
    if not text:
        return None
    try:
        grams = Decimal(text)
    except InvalidOperation:
        grams = Decimal(-1)
    if not grams.is_finite() or grams < 0 or grams != grams.to_integral_value():
        group.error(row, "Variant Grams", "Write a whole number of grams.", "not_a_number")
        return None
    return int(grams)


def _option_values(group: Group) -> dict[str, list[str]]:
    """Each option's values in the order the rows first use them."""
    values: dict[str, list[str]] = {name: [] for name in group.option_names}
    for variant in group.item.get("variants", ()):
        for name, value in variant["option_values"].items():
            if value not in values[name]:
                values[name].append(value)
    return values


def _refuse_shared_skus(groups: list[Group]) -> None:
    """Fail every product using a SKU that another product of the file uses too."""
    users: dict[str, list[tuple[Group, int]]] = defaultdict(list)
    for group in groups:
        for variant, row in zip(group.item.get("variants", ()), group.variant_rows, strict=True):
            if variant.get("sku"):
                users[variant["sku"]].append((group, row))
    for sku, places in users.items():
        if len({id(group) for group, _ in places}) < 2:
            continue
        rows = ", ".join(str(row) for _, row in places)
        for group, row in places:
            group.error(row, "Variant SKU", f"SKU {sku} is on rows {rows}.", "duplicate")


def locate(group: Group, loc: tuple[str | int, ...]) -> tuple[int, str]:
    """Return the row and column an upsert error at ``loc`` of ``group``'s item is about."""
    position = loc[1] if len(loc) >= 2 and loc[0] == "variants" else None
    if isinstance(position, int) and position < len(group.variant_rows):
        name = loc[2] if len(loc) > 2 else ""
        column = VARIANT_COLUMNS.get(str(name), "")
        if name == "option_values" and len(loc) > 3 and loc[3] in group.option_names:
            column = f"Option{group.option_names.index(str(loc[3])) + 1} Value"
        return group.variant_rows[position], column
    return group.first_row, PRODUCT_COLUMNS.get(str(loc[0]), "") if loc else ""


# -- writing ----------------------------------------------------------------------------------


def write_header(out: IO[str]) -> Any:
    """Write the header row to ``out``; return the CSV writer for the rows."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    return writer


class Unexportable(Exception):
    """The product cannot be written in this format (e.g. more than three options)."""


def _amount(value: Decimal | None, currency: str) -> str:
    return "" if value is None else str(Money.rounded(value, currency).amount)


def product_rows(
    product: Product, channel: Channel | None, categories: CategoryPaths
) -> Iterable[list[str]]:
    """
    Return the rows of ``product``, its options, variants, prices and listing
    prefetched (see :mod:`merchantry.catalog.transfers`). Raise
    :class:`Unexportable` for a product the format cannot hold.
    """
    options = [option.name for option in product.options.all()]
    if len(options) > MAX_OPTIONS:
        raise Unexportable(f"It has {len(options)} options; the format holds {MAX_OPTIONS}.")
    listing = product.channel_listing[0] if product.channel_listing else None
    category = next(iter(product.categories.all()), None)
    rows = []
    for position, variant in enumerate(product.variants.all()):
        row = dict.fromkeys(COLUMNS, "")
        row["Handle"] = product.handle
        if position == 0:
            row.update(
                {
                    "Title": product.title,
                    "Body (HTML)": product.description,
                    "Vendor": product.vendor,
                    "Product Category": format_path(categories.path_of(category))
                    if category
                    else "",
                    "Type": product.product_type,
                    "Tags": ", ".join(product.tags),
                    "Published": TRUE if listing and listing.is_published else FALSE,
                    "SEO Title": product.seo_title,
                    "SEO Description": product.seo_description,
                    "Status": product.status,
                }
            )
            for n, name in enumerate(options or [DEFAULT_OPTION], start=1):
                row[f"Option{n} Name"] = name
        for n, name in enumerate(options, start=1):
            row[f"Option{n} Value"] = variant.option_values.get(name, "")
        if not options:
            row["Option1 Value"] = DEFAULT_VALUE
        price = variant.channel_prices[0] if variant.channel_prices else None
        row.update(
            {
                "Variant SKU": variant.sku or "",
                "Variant Grams": "" if variant.weight_grams is None else str(variant.weight_grams),
                "Variant Inventory Tracker": "shopify" if variant.track_inventory else "",
                "Variant Inventory Policy": "continue" if variant.allow_backorder else "deny",
                "Variant Price": _amount(price.price, price.currency) if price else "",
                "Variant Compare At Price": _amount(price.compare_at_price, price.currency)
                if price
                else "",
                "Variant Requires Shipping": TRUE,
                "Variant Barcode": variant.barcode,
                "Variant Weight Unit": "" if variant.weight_grams is None else "g",
            }
        )
        rows.append(row)
    for position, media in enumerate(product.media.all()):
        if position >= len(rows):
            rows.append({**dict.fromkeys(COLUMNS, ""), "Handle": product.handle})
        rows[position].update(
            {
                "Image Src": media.image.url,
                "Image Position": str(position + 1),
                "Image Alt Text": media.alt,
            }
        )
    return [[row[column] for column in COLUMNS] for row in rows]
