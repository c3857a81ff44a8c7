"""Zone areas: countries, ISO 3166-2 subdivisions and postal-code patterns (pure functions)."""

from __future__ import annotations

import pytest

from merchantry.core.errors import ValidationFailed
from merchantry.shipping import geo


def _codes(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[tuple[tuple, str]]:
    return [(e.loc, e.code) for e in exc.value.errors]


@pytest.mark.parametrize(
    ("pattern", "code", "expected"),
    [
        ("10001", "10001", True),
        ("10001", "10002", False),
        ("SW1A1AA", "SW1A1AA", True),
        ("SW1*", "SW1A1AA", True),
        ("SW1*", "SW2A1AA", False),
        ("750??", "75001", True),
        ("750??", "7500", False),
        ("10000..14999", "10000", True),  # the lower end is inside
        ("10000..14999", "14999", True),  # and the upper end
        ("10000..14999", "15000", False),
        ("10000..14999", "09999", False),
        ("10000..14999", "100011234", True),  # ZIP+4, normalized
        ("10000..14999", "1000", False),  # too short to compare
        ("75..77", "76100", True),  # a department prefix range
        ("75..77", "78000", False),
        ("10001", "", False),
    ],
)
def test_postal_patterns(pattern, code, expected) -> None:
    assert geo.postal_code_matches(pattern, code) is expected


def test_postal_codes_are_normalized_like_patterns() -> None:
    area = geo.clean_area(countries=["GB"], postal_codes=["sw1a 1aa", " sw1a-* "])

    assert area.postal_codes == ("SW1A1AA", "SW1A*")
    assert geo.normalize_postal_code("sw1a 1aa") == "SW1A1AA"
    assert geo.normalize_postal_code("10001-1234") == "100011234"


@pytest.mark.parametrize(
    "pattern", ["", "1000..999", "A..BB", "100 .. 1$9", "10#01", "9" * 41, "20000..10000"]
)
def test_invalid_postal_patterns_are_refused(pattern) -> None:
    with pytest.raises(ValidationFailed) as exc:
        geo.clean_area(countries=["US"], postal_codes=["10001", pattern])

    assert _codes(exc) == [(("postal_codes", 1), "invalid_pattern")]


def test_unknown_countries_and_subdivisions_are_named_one_by_one() -> None:
    with pytest.raises(ValidationFailed) as exc:
        geo.clean_area(
            countries=["US", "XX", "uk"],
            subdivisions=["US-CA", "US-ZZ", "FR-IDF", "nonsense"],
        )

    assert _codes(exc) == [
        (("countries", 1), "unknown_country"),
        (("countries", 2), "unknown_country"),  # the UK is GB
        (("subdivisions", 1), "unknown_subdivision"),
        (("subdivisions", 2), "country_not_in_zone"),
        (("subdivisions", 3), "unknown_subdivision"),
    ]


def test_errors_name_the_entry_as_given_duplicates_included() -> None:
    with pytest.raises(ValidationFailed) as exc:
        geo.clean_area(countries=["US", "US", "XX"], subdivisions=["US-CA", "us-ca", "US-ZZ"])

    assert _codes(exc) == [
        (("countries", 2), "unknown_country"),
        (("subdivisions", 2), "unknown_subdivision"),
    ]


def test_a_zone_names_at_least_one_country() -> None:
    with pytest.raises(ValidationFailed) as exc:
        geo.clean_area(countries=[])

    assert _codes(exc) == [(("countries",), "required")]


def test_codes_are_upper_cased_and_deduplicated() -> None:
    area = geo.clean_area(countries=["us", "US", "ca"], subdivisions=["us-ca", "US-CA"])

    assert area == geo.ZoneArea(("US", "CA"), ("US-CA",), ())


def test_match_levels() -> None:
    whole = geo.ZoneArea(("US", "CA"))
    west = geo.ZoneArea(("US", "CA"), ("US-CA", "US-OR"))
    nyc = geo.ZoneArea(("US",), (), ("10000..10299",))

    assert geo.match_level(whole, country="US") == geo.MATCH_COUNTRY
    assert geo.match_level(whole, country="MX") == 0
    assert geo.match_level(west, country="US", region="US-CA") == geo.MATCH_SUBDIVISION
    assert geo.match_level(west, country="US", region="US-NY") == 0
    assert geo.match_level(west, country="US") == 0  # limited to some states: say which
    # Canada is named without subdivisions: all of it is in the zone
    assert geo.match_level(west, country="CA", region="CA-BC") == geo.MATCH_COUNTRY
    assert geo.match_level(nyc, country="US", postal_code="10001") == geo.MATCH_POSTAL_CODE
    assert geo.match_level(nyc, country="US", postal_code="90210") == 0
    assert geo.match_level(nyc, country="US") == 0


def test_a_subdivision_covers_the_ones_inside_it() -> None:
    ile_de_france = geo.ZoneArea(("FR",), ("FR-IDF",))
    england = geo.ZoneArea(("GB",), ("GB-ENG",))

    assert geo.subdivision_ancestors("FR-75C") == ("FR-75C", "FR-IDF")
    assert geo.match_level(ile_de_france, country="FR", region="FR-75C") == geo.MATCH_SUBDIVISION
    assert geo.match_level(ile_de_france, country="FR", region="FR-13") == 0
    assert geo.match_level(england, country="GB", region="GB-NBL") == geo.MATCH_SUBDIVISION
    assert geo.match_level(england, country="GB", region="GB-CAY") == 0  # Wales


def test_regions_without_a_country_prefix_get_one() -> None:
    assert geo.normalize_region("US", "ca") == "US-CA"
    assert geo.normalize_region("US", "US-CA") == "US-CA"
    assert geo.normalize_region("US", " ") == ""


@pytest.mark.parametrize(
    ("narrower", "broader"),
    [
        ("10012", "10010..10019"),
        ("10010..10019", "10000..19999"),
        ("SW1A1AA", "SW1???"),
        ("SW1???", "SW*"),
        ("SW1A?AA", "SW1A*"),
        ("A0A..A9Z", "A*"),
        ("10000..19999", "1*"),
    ],
)
def test_a_narrower_postal_pattern_covers_fewer_codes(narrower: str, broader: str) -> None:
    assert geo.postal_pattern_breadth(narrower) < geo.postal_pattern_breadth(broader)


def test_the_narrowest_matching_pattern_of_an_area_counts() -> None:
    area = geo.ZoneArea(("US",), (), ("10000..19999", "10012", "2*"))

    assert geo.postal_code_breadth(area, "10012") == 1
    assert geo.postal_code_breadth(area, "10013") == 10_000
    assert geo.postal_code_breadth(area, "30000") is None
