"""
Where a shipping zone reaches, and whether an address is inside it: pure
functions over country codes (ISO 3166-1), subdivision codes (ISO 3166-2,
from pycountry) and postal-code patterns.

A zone names countries; it may narrow a country to some of its subdivisions
(``US-CA``) and narrow every country it names to some postal codes. A postal
pattern is one of:

- an exact code, ``10001`` (spaces and hyphens are ignored, letters are
  compared in upper case, so ``sw1a 1aa`` is ``SW1A1AA``);
- a wildcard, ``SW1*`` or ``750??`` (``*`` any run of characters, ``?`` one);
- a range, ``10000..14999``: both ends have the same length ``n``, and a code
  is inside when its first ``n`` characters sort between them (so
  ``10001-1234`` is inside, and for digits the order is the numeric one).

The most specific zone wins: a zone that matched the address by postal code
beats one that matched by subdivision, which beats one that matched by
country alone; between equals, the zone naming fewer countries wins, then the
oldest (lowest id), so the answer is always the same.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pycountry

from merchantry.core.errors import FieldError, ValidationFailed
from merchantry.core.validators import is_country

__all__ = [
    "MATCH_COUNTRY",
    "MATCH_POSTAL_CODE",
    "MATCH_SUBDIVISION",
    "MAX_COUNTRIES",
    "MAX_POSTAL_CODES",
    "MAX_SUBDIVISIONS",
    "ZoneArea",
    "clean_area",
    "is_subdivision",
    "match_level",
    "normalize_postal_code",
    "normalize_region",
    "postal_code_breadth",
    "postal_code_matches",
    "postal_pattern_breadth",
    "subdivision_ancestors",
    "subdivisions_of",
]

MAX_COUNTRIES = 250
MAX_SUBDIVISIONS = 500
MAX_POSTAL_CODES = 500
POSTAL_PATTERN_MAX_LENGTH = 40

MATCH_COUNTRY = 1
MATCH_SUBDIVISION = 2
MATCH_POSTAL_CODE = 3

_POSTAL_CHARS = re.compile(r"[A-Z0-9*?]+")
_RANGE_END = re.compile(r"[A-Z0-9]+")


@functools.cache
def _subdivision_parents() -> dict[str, str | None]:
    return {s.code: getattr(s, "parent_code", None) for s in pycountry.subdivisions}


def is_subdivision(code: str) -> bool:
    """Return whether ``code`` is an ISO 3166-2 subdivision code (``US-CA``)."""
    return code in _subdivision_parents()


def subdivisions_of(country: str) -> list[tuple[str, str]]:
    """Return ``(code, name)`` of the country's subdivisions, by code."""
    found = pycountry.subdivisions.get(country_code=country) or []
    return sorted((s.code, s.name) for s in found)


def subdivision_ancestors(code: str) -> tuple[str, ...]:
    """Return ``code`` and the subdivisions containing it (FR-75C, FR-IDF)."""
    parents = _subdivision_parents()
    chain = []
    current: str | None = code
    while current is not None and current not in chain:
        chain.append(current)
        current = parents.get(current)
    return tuple(chain)


def normalize_region(country: str, region: str) -> str:
    """Return an address's region as an ISO 3166-2 code: ``CA`` in US is ``US-CA``."""
    region = region.strip().upper()
    if not region:
        return ""
    return region if "-" in region else f"{country}-{region}"


def normalize_postal_code(code: str) -> str:
    """Return ``code`` upper-cased without spaces and hyphens, as patterns compare it."""
    return re.sub(r"[\s-]", "", code).upper()


def _clean_postal_pattern(pattern: str) -> str:
    """Return the pattern normalized, or raise ValueError saying what is wrong."""
    text = pattern.strip().upper()
    if not text or len(text) > POSTAL_PATTERN_MAX_LENGTH:
        raise ValueError(f"A postal-code pattern has 1 to {POSTAL_PATTERN_MAX_LENGTH} characters.")
    if ".." in text:
        low, _, high = (normalize_postal_code(part) for part in text.partition(".."))
        if not (_RANGE_END.fullmatch(low) and _RANGE_END.fullmatch(high)):
            raise ValueError("A range is two codes of letters and digits, e.g. 10000..14999.")
        if len(low) != len(high):
            raise ValueError("Both ends of a range have the same length, e.g. 10000..14999.")
        if low > high:
            raise ValueError("A range goes from the lower code to the higher one.")
        return f"{low}..{high}"
    code = normalize_postal_code(text)
    if not _POSTAL_CHARS.fullmatch(code):
        raise ValueError("Use letters, digits, * (any characters) and ? (one character).")
    return code


@functools.lru_cache(maxsize=4096)
def _wildcard(pattern: str) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts))


def postal_code_matches(pattern: str, code: str) -> bool:
    """Return whether the normalized ``code`` is one ``pattern`` (normalized) covers."""
    if not code:
        return False
    if ".." in pattern:
        low, _, high = pattern.partition("..")
        return len(code) >= len(low) and low <= code[: len(low)] <= high
    if "*" in pattern or "?" in pattern:
        return _wildcard(pattern).fullmatch(code) is not None
    return pattern == code


# Letters and digits: how many characters one position of a postal code may be.
_POSITION_CHOICES = 36
# What "*" stands for when counting the codes a pattern covers: a run of
# characters long enough that any pattern with "*" counts as broad.
_STAR_CODES = _POSITION_CHOICES**6


def _code_number(code: str) -> int:
    return int(code, _POSITION_CHOICES)


def postal_pattern_breadth(pattern: str) -> int:
    """
    Return about how many postal codes the normalized ``pattern`` covers: 1
    for one exact code, the width of a range, 36 per ``?`` of a wildcard.

    Only the order matters: among zones that cover an address equally (by
    postal code), the one whose matching pattern covers fewest codes is the
    most specific.
    """
    if ".." in pattern:
        low, _, high = pattern.partition("..")
        if low.isdigit() and high.isdigit():
            return int(high) - int(low) + 1
        return _code_number(high) - _code_number(low) + 1
    breadth = 1
    for char in pattern:
        if char == "?":
            breadth *= _POSITION_CHOICES
        elif char == "*":
            breadth *= _STAR_CODES
    return breadth


def postal_code_breadth(area: ZoneArea, postal_code: str) -> int | None:
    """The breadth of the narrowest pattern of ``area`` that covers the code, if any."""
    breadths = [
        postal_pattern_breadth(p) for p in area.postal_codes if postal_code_matches(p, postal_code)
    ]
    return min(breadths) if breadths else None


@dataclass(frozen=True, slots=True)
class ZoneArea:
    """What a zone covers, as stored: countries, subdivisions, postal patterns."""

    countries: tuple[str, ...]
    subdivisions: tuple[str, ...] = ()
    postal_codes: tuple[str, ...] = ()


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def clean_area(
    *,
    countries: Sequence[str],
    subdivisions: Sequence[str] = (),
    postal_codes: Sequence[str] = (),
) -> ZoneArea:
    """
    Return the area normalized (upper case, duplicates dropped), or raise
    :class:`ValidationFailed` naming every invalid entry.
    """
    # Errors name each entry by its index in the input, duplicates included.
    errors: list[FieldError] = []
    country_list: list[str] = []
    for index, raw in enumerate(countries):
        country = raw.strip().upper()
        if not is_country(country):
            errors.append(
                FieldError(
                    ("countries", index),
                    f"{country!r} is not an ISO 3166-1 alpha-2 country code.",
                    "unknown_country",
                )
            )
        elif country not in country_list:
            country_list.append(country)
    if not countries:
        errors.append(FieldError(("countries",), "Name at least one country.", "required"))
    if len(country_list) > MAX_COUNTRIES:
        errors.append(FieldError(("countries",), f"At most {MAX_COUNTRIES}.", "too_many"))
    subdivision_list: list[str] = []
    for index, raw in enumerate(subdivisions):
        code = raw.strip().upper()
        if not is_subdivision(code):
            errors.append(
                FieldError(
                    ("subdivisions", index),
                    f"{code!r} is not an ISO 3166-2 subdivision code (e.g. US-CA).",
                    "unknown_subdivision",
                )
            )
        elif code.split("-", 1)[0] not in country_list:
            errors.append(
                FieldError(
                    ("subdivisions", index),
                    f"{code} is in a country the zone does not name.",
                    "country_not_in_zone",
                )
            )
        elif code not in subdivision_list:
            subdivision_list.append(code)
    if len(subdivision_list) > MAX_SUBDIVISIONS:
        errors.append(FieldError(("subdivisions",), f"At most {MAX_SUBDIVISIONS}.", "too_many"))
    pattern_list = []
    for index, pattern in enumerate(postal_codes):
        try:
            pattern_list.append(_clean_postal_pattern(pattern))
        except ValueError as exc:
            errors.append(FieldError(("postal_codes", index), str(exc), "invalid_pattern"))
    pattern_list = _unique(pattern_list)
    if len(pattern_list) > MAX_POSTAL_CODES:
        errors.append(FieldError(("postal_codes",), f"At most {MAX_POSTAL_CODES}.", "too_many"))
    if errors:
        raise ValidationFailed("The zone's area is invalid; see errors.", errors=errors)
    return ZoneArea(tuple(country_list), tuple(subdivision_list), tuple(pattern_list))


def match_level(area: ZoneArea, *, country: str, region: str = "", postal_code: str = "") -> int:
    """
    Return how specifically ``area`` covers the address: 0 (not at all),
    :data:`MATCH_COUNTRY`, :data:`MATCH_SUBDIVISION` or :data:`MATCH_POSTAL_CODE`.

    ``region`` is an ISO 3166-2 code (see :func:`normalize_region`) and
    ``postal_code`` a normalized code (see :func:`normalize_postal_code`).
    """
    if country not in area.countries:
        return 0
    level = MATCH_COUNTRY
    prefix = f"{country}-"
    named = [s for s in area.subdivisions if s.startswith(prefix)]
    if named:
        if not region or not set(subdivision_ancestors(region)) & set(named):
            return 0
        level = MATCH_SUBDIVISION
    if area.postal_codes:
        if not any(postal_code_matches(p, postal_code) for p in area.postal_codes):
            return 0
        level = MATCH_POSTAL_CODE
    return level
