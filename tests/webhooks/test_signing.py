"""The signature scheme, as docs/webhooks.md documents it."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from merchantry.webhooks.signing import new_secret, sign, signature_header, verify

SECRET = "whsec_test-secret"
BODY = b'{"id":"e1","type":"order.placed"}'
NOW = 1_750_000_000


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()

    assert sign(SECRET, NOW, BODY) == expected
    assert signature_header([SECRET], NOW, BODY) == f"v1={expected}"


def test_a_valid_signature_verifies() -> None:
    header = signature_header([SECRET], NOW, BODY)

    assert verify(secret=SECRET, body=BODY, timestamp=str(NOW), signature=header, now=NOW + 10)


def test_any_of_several_signatures_verifies() -> None:
    header = signature_header(["whsec_new", SECRET], NOW, BODY)

    assert verify(secret=SECRET, body=BODY, timestamp=str(NOW), signature=header, now=NOW)
    assert verify(secret="whsec_new", body=BODY, timestamp=str(NOW), signature=header, now=NOW)


@pytest.mark.parametrize(
    ("_case", "secret", "body", "timestamp", "signature"),
    [
        ("another secret", "whsec_other", BODY, str(NOW), None),
        ("changed body", SECRET, BODY + b" ", str(NOW), None),
        ("changed timestamp", SECRET, BODY, str(NOW + 1), None),
        ("no timestamp", SECRET, BODY, None, None),
        ("not a number", SECRET, BODY, "soon", None),
        ("no signature", SECRET, BODY, str(NOW), ""),
        ("another scheme", SECRET, BODY, str(NOW), "v0=" + sign(SECRET, NOW, BODY)),
        ("garbage", SECRET, BODY, str(NOW), "v1=\u00e9\u00e9,,="),
    ],
)
def test_anything_else_does_not(_case, secret, body, timestamp, signature) -> None:
    header = signature_header([SECRET], NOW, BODY) if signature is None else signature

    assert not verify(secret=secret, body=body, timestamp=timestamp, signature=header, now=NOW)


def test_an_old_or_future_timestamp_is_refused() -> None:
    header = signature_header([SECRET], NOW, BODY)

    assert verify(secret=SECRET, body=BODY, timestamp=str(NOW), signature=header, now=NOW + 300)
    assert not verify(secret=SECRET, body=BODY, timestamp=str(NOW), signature=header, now=NOW + 301)
    assert not verify(secret=SECRET, body=BODY, timestamp=str(NOW), signature=header, now=NOW - 301)


def test_secrets_are_random_and_prefixed() -> None:
    secrets = {new_secret() for _ in range(50)}

    assert len(secrets) == 50
    assert all(s.startswith("whsec_") and len(s) == 49 for s in secrets)
