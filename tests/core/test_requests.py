"""Request ids, access log, problem responses, security headers, body limits."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

pytestmark = pytest.mark.urls("tests.core.urls")

PROBLEM = "application/problem+json"


# -- request ids ---------------------------------------------------------------


def test_request_id_is_generated_when_absent(client: Client) -> None:
    response = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_valid_request_id_is_echoed(client: Client) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.2026:abc_1"})
    assert response["X-Request-ID"] == "lb-7f3a.2026:abc_1"


@pytest.mark.parametrize(
    ("_case", "hostile"),
    [
        ("too long", "a" * 129),
        ("control characters", "abc\x07def"),
        ("log injection", "abc\ninjected=1"),
        ("spaces and quotes", 'abc "def"'),
        ("html", "<script>x</script>"),
    ],
)
def test_hostile_request_id_is_replaced(client: Client, _case: str, hostile: str) -> None:
    response = client.get("/healthz", HTTP_X_REQUEST_ID=hostile)
    assert response["X-Request-ID"] != hostile
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_access_log_line_has_request_id_and_no_query_string(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="merchantry.access"):
        client.get("/healthz?token=sekret", headers={"X-Request-ID": "trace-1"})
    lines = [r.msg for r in caplog.records if r.name == "merchantry.access"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "trace-1"
    assert line["method"] == "GET"
    assert line["path"] == "/healthz"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0
    assert "sekret" not in json.dumps(line)


# -- problem responses ------------------------------------------------------------


def _problem(response) -> dict:
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert {"type", "title", "status", "detail", "code", "request_id"} <= body.keys()
    assert body["status"] == response.status_code
    assert body["request_id"] == response["X-Request-ID"]
    return body


@pytest.mark.parametrize("path", ["/api/v1/no-such-route", "/api/nothing-here", "/api/v9/"])
def test_unknown_api_route_is_a_404_problem(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert _problem(response)["code"] == "not_found"


def test_wrong_method_is_a_405_problem(client: Client) -> None:
    response = client.delete("/api/v1/")
    assert response.status_code == 405
    body = _problem(response)
    assert body["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]


def test_malformed_json_is_a_400_problem(client: Client) -> None:
    response = client.post(
        "/api/test/items", data='{"name": "Mug", "quantity": ', content_type="application/json"
    )
    assert response.status_code == 400
    assert _problem(response)["code"] == "malformed_body"


def test_validation_error_is_a_422_problem_with_field_errors(client: Client) -> None:
    response = client.post(
        "/api/test/items",
        data={"name": "x" * 51, "quantity": "many"},
        content_type="application/json",
    )
    assert response.status_code == 422
    body = _problem(response)
    assert body["code"] == "validation_error"
    fields = {tuple(error["loc"])[-1]: error for error in body["errors"]}
    assert set(fields) == {"name", "quantity"}
    assert all(error["message"] and error["code"] for error in body["errors"])


def test_missing_body_is_a_422_problem(client: Client) -> None:
    response = client.post("/api/test/items", content_type="application/json")
    assert response.status_code == 422
    assert _problem(response)["code"] == "validation_error"


def test_our_errors_keep_their_code(client: Client) -> None:
    response = client.get("/api/test/conflict")
    assert response.status_code == 409
    body = _problem(response)
    assert body["code"] == "order_already_paid"
    assert body["detail"] == "The order is already paid."


@pytest.mark.parametrize("path", ["/api/test/boom", "/api/test/db-error"])
def test_unexpected_exception_is_a_500_problem_with_only_the_request_id(
    client: Client, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    # when a view fails unexpectedly
    response = client.get(path, headers={"X-Request-ID": "incident-42"})

    # then the client sees a bare problem with the request id
    assert response.status_code == 500
    body = _problem(response)
    assert body["code"] == "internal_error"
    assert body["request_id"] == "incident-42"
    text = response.content.decode()
    for leak in ("Traceback", "hunter2", "SELECT", "shop_secret", "RuntimeError", 'File "'):
        assert leak not in text
    # and the traceback is logged server-side under the same request id
    errors = [r for r in caplog.records if r.name == "merchantry.errors"]
    assert len(errors) == 1
    assert errors[0].msg["exc_info"] is True
    assert errors[0].msg["request_id"] == "incident-42"


def test_a_working_call_still_works(client: Client) -> None:
    response = client.post(
        "/api/test/items", data={"name": "Mug", "quantity": 2}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json() == {"name": "Mug", "quantity": 2}


def test_oversized_body_is_a_413_problem(client: Client, settings) -> None:
    settings.MERCHANTRY_MAX_REQUEST_BODY = 2048
    response = client.post("/api/test/items", data="x" * 4096, content_type="application/json")
    assert response.status_code == 413
    assert _problem(response)["code"] == "payload_too_large"


# -- HTML error pages --------------------------------------------------------------


def test_html_404_is_a_friendly_page(client: Client) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"couldn&#x27;t find that page" in response.content or b"couldn't find that page" in (
        response.content
    )


def test_html_500_is_a_friendly_page_without_details(client: Client) -> None:
    client.raise_request_exception = False
    response = client.get("/boom")
    assert response.status_code == 500
    assert b"Something went wrong on our side" in response.content
    assert b"template-side failure" not in response.content
    assert b"Traceback" not in response.content


# -- security headers --------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/api/v1/", "/api/v1/no-such-route", "/healthz"])
def test_security_headers_on_html_and_api_responses(client: Client, path: str) -> None:
    response = client.get(path)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert "'unsafe-inline'" not in csp


def test_hsts_over_https_when_not_in_debug(client: Client) -> None:
    response = client.get("/healthz", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_cookies_are_secure_outside_debug(settings) -> None:
    assert settings.DEBUG is False
    assert settings.SESSION_COOKIE_SECURE is True
    assert settings.CSRF_COOKIE_SECURE is True
    assert settings.SESSION_COOKIE_HTTPONLY is True


def test_passwords_hash_with_argon2_in_production() -> None:
    from merchantry import settings as production

    assert production.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_cors_refuses_unknown_origins(client: Client) -> None:
    response = client.options(
        "/api/v1/",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "Access-Control-Allow-Origin" not in response


def test_logged_tracebacks_carry_no_local_variables() -> None:
    # Locals can hold passwords and card numbers; the JSON renderer drops them.
    import logging

    from merchantry.core.logging import build_logging_config

    config = build_logging_config(level="INFO", fmt="json")
    formatter = config["formatters"]["structured"]["()"](
        processors=config["formatters"]["structured"]["processors"],
        foreign_pre_chain=config["formatters"]["structured"]["foreign_pre_chain"],
    )

    def fail(password: str) -> None:
        raise ValueError("bad")

    try:
        fail("hunter2-secret")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    rendered = formatter.format(record)
    assert "ValueError" in rendered
    assert "hunter2-secret" not in rendered


def test_health_probes_answer_head(client: Client) -> None:
    assert client.head("/healthz").status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unsafe_method_on_unknown_api_route_is_a_404_problem(client: Client, method: str) -> None:
    csrf_client = Client(enforce_csrf_checks=True)
    response = getattr(csrf_client, method)("/api/v1/nowhere", content_type="application/json")
    assert response.status_code == 404
    assert _problem(response)["code"] == "not_found"


def test_unknown_host_on_api_is_a_400_problem(client: Client) -> None:
    response = client.get("/api/v1/", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert _problem(response)["code"] == "bad_request"


def test_api_root_without_slash_redirects(client: Client) -> None:
    response = client.get("/api/v1")
    assert response.status_code == 301
    assert response["Location"] == "/api/v1/"


def test_csrf_trusted_origins_cover_direct_and_proxied_access(settings) -> None:
    assert "https://localhost" in settings.CSRF_TRUSTED_ORIGINS
    assert "http://127.0.0.1:8000" in settings.CSRF_TRUSTED_ORIGINS


@pytest.mark.django_db
def test_access_log_masks_the_webhook_token(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="merchantry.access"):
        client.post(
            "/webhooks/example/s3cr3t-token-value/events",
            data=b"{}",
            content_type="application/json",
        )
    [line] = [r.msg for r in caplog.records if r.name == "merchantry.access"]
    assert line["path"] == "/webhooks/example/****/events"
