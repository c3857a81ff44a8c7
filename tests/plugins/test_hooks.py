"""
Calling plugin hooks: only plugins enabled in the shop, in pluggy's order,
each isolated from the others' failures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from merchantry.plugins import hooks
from merchantry.plugins.hooks import (
    HookFailure,
    adjust_checkout_totals,
    dispatch_event,
    validate_checkout,
)
from merchantry.plugins.hookspecs import hookimpl
from merchantry.plugins.models import PluginInstallation
from merchantry.plugins.providers import CheckoutProblem, CheckoutTotals, Money
from merchantry.plugins.spec import Plugin, PluginManifest
from merchantry.testing import SampleEvent, plugins_enabled, registered_plugin, sample_checkout
from merchantry.testing.installations import install_plugin
from tests.plugins import sample

Calls = list[tuple[str, Any]]


def _manifest(plugin_id: str, settings_model: type[BaseModel] | None = None) -> PluginManifest:
    return PluginManifest(
        id=plugin_id,
        name=plugin_id,
        version="1.0",
        requires_core=">=0.1",
        settings_model=settings_model,
    )


def event_plugin(plugin_id: str, calls: Calls, *, fail: bool = False, order: str = "") -> Plugin:
    """Return a plugin whose ``merchantry_on_event`` records its calls (and may raise)."""

    class EventPlugin(Plugin):
        manifest = _manifest(plugin_id)

        @hookimpl(tryfirst=order == "first", trylast=order == "last")
        def merchantry_on_event(self, event: Any) -> None:
            calls.append((plugin_id, event.id))
            if fail:
                raise RuntimeError(f"{plugin_id} is down")

    return EventPlugin()


@pytest.fixture
def register() -> Iterator[Callable[..., None]]:
    with ExitStack() as stack:
        yield lambda *plugins: [stack.enter_context(registered_plugin(p)) for p in plugins]


def enable(shop, *plugin_ids: str, status: str = "enabled") -> None:
    for plugin_id in plugin_ids:
        PluginInstallation.objects.create(shop=shop, plugin_id=plugin_id, status=status)


# -- merchantry_on_event ------------------------------------------------------------


def test_an_event_reaches_only_the_plugins_enabled_in_its_shop(register, shop, other_shop) -> None:
    # given plugins enabled here, enabled elsewhere, and installed but disabled here
    calls: Calls = []
    register(*(event_plugin(name, calls) for name in ("here", "elsewhere", "off", "absent")))
    enable(shop, "here")
    enable(other_shop, "elsewhere")
    enable(shop, "off", status="disabled")

    # when an event of the shop is dispatched
    failures = dispatch_event(SampleEvent(type="order.placed", shop_id=shop.pk, id=41))

    # then only the plugin enabled in that shop saw it
    assert failures == []
    assert calls == [("here", 41)]


def test_a_crashing_hook_is_isolated_returned_and_logged(
    register, shop, caplog: pytest.LogCaptureFixture
) -> None:
    # given two enabled plugins, the one called first raising
    calls: Calls = []
    register(event_plugin("alpha", calls), event_plugin("beta", calls, fail=True))
    enable(shop, "alpha", "beta")
    event = SampleEvent(type="order.paid", shop_id=shop.pk, id=7, payload={"order_id": 3})

    # when the event is dispatched
    with caplog.at_level("ERROR", logger="merchantry.plugins.hooks"):
        failures = dispatch_event(event)

    # then the other plugin was still called, and the failure is returned and logged
    assert calls == [("beta", 7), ("alpha", 7)]
    assert failures == [HookFailure("beta", "merchantry_on_event", "RuntimeError: beta is down")]
    [line] = [r.msg for r in caplog.records if r.name == "merchantry.plugins.hooks"]
    assert {k: line[k] for k in ("event", "plugin", "hook", "error", "event_id", "shop_id")} == {
        "event": "plugin_hook_failed",
        "plugin": "beta",
        "hook": "merchantry_on_event",
        "error": "RuntimeError: beta is down",
        "event_id": 7,
        "shop_id": shop.pk,
    }
    assert "payload" not in line  # event data may hold personal data


def test_hook_failures_and_successes_count_in_the_installations_health(register, shop) -> None:
    # given two enabled plugins, one of which raises
    from merchantry.plugins.models import PluginInstallation

    calls: Calls = []
    register(event_plugin("alpha", calls), event_plugin("beta", calls, fail=True))
    enable(shop, "alpha", "beta")

    # when an event is dispatched
    dispatch_event(SampleEvent(type="order.paid", shop_id=shop.pk, id=9))

    # then each installation counted its outcome, and the failure is visible
    alpha = PluginInstallation.objects.get(shop=shop, plugin_id="alpha")
    beta = PluginInstallation.objects.get(shop=shop, plugin_id="beta")
    assert (alpha.success_count, alpha.error_count) == (1, 0)
    assert (beta.success_count, beta.error_count) == (0, 1)
    assert beta.last_error == "RuntimeError: beta is down"


def test_a_retry_calls_only_the_plugins_that_failed(register, shop) -> None:
    # given a dispatch where one of two plugins failed
    calls: Calls = []
    register(event_plugin("alpha", calls), event_plugin("beta", calls, fail=True))
    enable(shop, "alpha", "beta")
    event = SampleEvent(type="order.paid", shop_id=shop.pk, id=8)
    failed = [failure.plugin_id for failure in dispatch_event(event)]
    calls.clear()

    # when the event is dispatched again for the failed plugins only
    dispatch_event(event, plugin_ids=failed)

    # then only that plugin was called
    assert failed == ["beta"]
    assert calls == [("beta", 8)]


def test_hooks_run_tryfirst_then_last_registered_first_then_trylast(register, shop) -> None:
    # given plugins registered in id order, one tryfirst and one trylast
    calls: Calls = []
    register(
        event_plugin("a_plain", calls),
        event_plugin("b_plain", calls),
        event_plugin("y_first", calls, order="first"),
        event_plugin("z_last", calls, order="last"),
    )
    enable(shop, "a_plain", "b_plain", "y_first", "z_last")

    # when an event is dispatched
    dispatch_event(SampleEvent(type="stock.changed", shop_id=shop.pk, id=1))

    # then pluggy's order holds: tryfirst, the rest LIFO, trylast
    assert [plugin_id for plugin_id, _ in calls] == ["y_first", "b_plain", "a_plain", "z_last"]


def test_a_refused_plugin_is_never_called_even_if_enabled(shop) -> None:
    # given an incompatible plugin enabled in the shop
    with registered_plugin(sample.future, must_load=False) as loaded:
        enable(shop, "future")

        # when an event is dispatched
        failures = dispatch_event(SampleEvent(type="order.placed", shop_id=shop.pk))

    # then nothing was called and nothing failed
    assert loaded.status == "incompatible"
    assert failures == []


class Greeting(BaseModel):
    greeting: str


def test_an_implementation_gets_its_installation_and_settings_when_it_asks(register, shop) -> None:
    # given a plugin whose hook takes its installation and settings
    seen: list[tuple[Any, ...]] = []

    class Configured(Plugin):
        manifest = _manifest("configured", Greeting)

        @hookimpl
        def merchantry_on_event(self, event, settings, installation) -> None:
            seen.append((event.id, settings, installation.pk, installation.shop_id))

    register(Configured())
    installation = PluginInstallation.objects.create(
        shop=shop, plugin_id="configured", status="enabled", settings={"greeting": "hi"}
    )

    # when an event is dispatched
    failures = dispatch_event(SampleEvent(type="order.placed", shop_id=shop.pk, id=5))

    # then the hook got the shop's installation and its settings as the model
    assert failures == []
    assert seen == [(5, Greeting(greeting="hi"), installation.pk, shop.pk)]


def test_settings_that_do_not_validate_fail_that_plugin_only(register, shop) -> None:
    # given a plugin asking for settings it was never given, beside another
    calls: Calls = []

    class Unconfigured(Plugin):
        manifest = _manifest("unconfigured", Greeting)

        @hookimpl
        def merchantry_on_event(self, event, settings) -> None:
            calls.append(("unconfigured", event.id))  # pragma: no cover

    register(Unconfigured(), event_plugin("other", calls))
    enable(shop, "unconfigured", "other")

    # when an event is dispatched
    failures = dispatch_event(SampleEvent(type="order.placed", shop_id=shop.pk, id=9))

    # then that plugin failed without being called, and the other ran
    assert [(f.plugin_id, f.error.split(":")[0]) for f in failures] == [
        ("unconfigured", "PluginNotConfigured")
    ]
    assert calls == [("other", 9)]


def test_plugins_enabled_needs_no_database() -> None:
    # given a registered plugin treated as enabled in shop 1 only
    calls: Calls = []
    with registered_plugin(event_plugin("nodb", calls)), plugins_enabled("nodb", shops=[1]):
        # when events of shops 1 and 2 are dispatched
        dispatch_event(SampleEvent(type="order.placed", shop_id=1, id="a"))
        dispatch_event(SampleEvent(type="order.placed", shop_id=2, id="b"))

    # then only shop 1's reached it
    assert calls == [("nodb", "a")]


# -- merchantry_adjust_checkout_totals ------------------------------------------------


def totals_plugin(plugin_id: str, adjust: Callable[[CheckoutTotals], Any]) -> Plugin:
    class TotalsPlugin(Plugin):
        manifest = _manifest(plugin_id)

        @hookimpl
        def merchantry_adjust_checkout_totals(self, checkout, totals) -> Any:
            return adjust(totals)

    return TotalsPlugin()


def _discount(amount: str) -> Callable[[CheckoutTotals], CheckoutTotals]:
    def adjust(totals: CheckoutTotals) -> CheckoutTotals:
        off = Money(Decimal(amount), totals.currency)
        return replace(totals, discount=totals.discount + off, total=totals.total - off)

    return adjust


def _in_euros(totals: CheckoutTotals) -> CheckoutTotals:
    euros = {
        name: Money(getattr(totals, name).amount, "EUR")
        for name in ("subtotal", "discount", "shipping", "tax", "total")
    }
    return CheckoutTotals(**euros)


def _boom(totals: CheckoutTotals) -> None:
    raise ValueError("no rates today")


def test_checkout_totals_pass_through_each_plugin_in_turn(register, shop) -> None:
    # given two discounting plugins, one leaving totals alone, one raising,
    # and one answering in another currency
    register(
        totals_plugin("a_discount", _discount("1.00")),
        totals_plugin("b_discount", _discount("2.50")),
        totals_plugin("c_none", lambda totals: None),
        totals_plugin("d_raises", _boom),
        totals_plugin("e_euro", _in_euros),
    )
    enable(shop, "a_discount", "b_discount", "c_none", "d_raises", "e_euro")
    checkout = sample_checkout(shop_id=shop.pk)
    failures: list[HookFailure] = []

    # when the totals are adjusted
    totals = adjust_checkout_totals(
        checkout=checkout, totals=checkout.totals, on_failure=failures.append
    )

    # then both discounts apply, each on the other's result, and the bad answers are skipped
    assert totals.discount == Money(Decimal("3.50"), "USD")
    assert totals.total == checkout.totals.total - Money(Decimal("3.50"), "USD")
    assert [(f.plugin_id, f.error) for f in failures] == [
        ("e_euro", "ValueError: returned totals in EUR; the checkout is in USD"),
        ("d_raises", "ValueError: no rates today"),
    ]


def test_checkout_totals_stay_as_they_are_without_enabled_plugins(register, shop) -> None:
    register(totals_plugin("a_discount", _discount("1.00")))
    checkout = sample_checkout(shop_id=shop.pk)

    assert adjust_checkout_totals(checkout=checkout, totals=checkout.totals) == checkout.totals


def test_a_totals_answer_of_the_wrong_type_is_skipped(register, shop) -> None:
    register(totals_plugin("a_wrong", lambda totals: {"total": "0"}))
    enable(shop, "a_wrong")
    checkout = sample_checkout(shop_id=shop.pk)
    failures: list[HookFailure] = []

    totals = adjust_checkout_totals(
        checkout=checkout, totals=checkout.totals, on_failure=failures.append
    )

    assert totals == checkout.totals
    assert [f.error for f in failures] == [
        "TypeError: returned dict; expected CheckoutTotals or None"
    ]


# -- merchantry_validate_checkout -----------------------------------------------------


def problems_plugin(plugin_id: str, answer: Callable[[], Any]) -> Plugin:
    class ProblemsPlugin(Plugin):
        manifest = _manifest(plugin_id)

        @hookimpl
        def merchantry_validate_checkout(self, checkout) -> Any:
            return answer()

    return ProblemsPlugin()


def _crash() -> None:
    raise RuntimeError("fraud service down")


def test_checkout_problems_are_collected_and_attributed(register, shop) -> None:
    # given a plugin objecting, one content, one crashing, one answering nonsense
    register(
        problems_plugin("fraud", lambda: [CheckoutProblem(code="risky", message="Too risky.")]),
        problems_plugin("happy", lambda: None),
        problems_plugin("crashy", _crash),
        problems_plugin("wrong", lambda: "no"),
    )
    enable(shop, "fraud", "happy", "crashy", "wrong")
    failures: list[HookFailure] = []

    # when the checkout is validated
    problems = validate_checkout(
        checkout=sample_checkout(shop_id=shop.pk), on_failure=failures.append
    )

    # then the objection is returned with its plugin; the failures do not block the sale
    assert problems == [CheckoutProblem(code="risky", message="Too risky.", plugin_id="fraud")]
    assert [(f.plugin_id, f.error) for f in failures] == [
        ("crashy", "RuntimeError: fraud service down"),
        ("wrong", "TypeError: returned 'no'; expected a list of CheckoutProblem"),
    ]


def test_a_hook_nobody_implements_costs_no_query(django_assert_num_queries, shop) -> None:
    checkout = sample_checkout(shop_id=shop.pk)

    with django_assert_num_queries(0):
        assert validate_checkout(checkout=checkout) == []


def test_the_enabled_plugins_come_from_the_installations(shop, other_shop) -> None:
    enable(shop, "one", "two")
    enable(shop, "three", status="disabled")
    enable(other_shop, "four")

    assert hooks.enabled_plugin_ids(shop.pk) == frozenset({"one", "two"})


class Credentials(BaseModel):
    token: SecretStr


def test_a_secret_in_a_plugin_s_exception_is_not_logged_or_returned(
    register, shop, caplog: pytest.LogCaptureFixture
) -> None:
    # given a plugin that puts its secret token in the exception it raises
    class Leaky(Plugin):
        manifest = _manifest("leaky", Credentials)

        @hookimpl
        def merchantry_on_event(self, event, settings) -> None:
            raise RuntimeError(f"401 for token {settings.token.get_secret_value()}")

    register(Leaky())
    install_plugin(shop, "leaky", settings={"token": "tok_SECRET_1234"})

    # when its hook fails
    with caplog.at_level("ERROR", logger="merchantry.plugins.hooks"):
        failures = dispatch_event(SampleEvent(type="order.placed", shop_id=shop.pk, id=1))

    # then the secret is in neither the failure nor the log
    assert failures == [
        HookFailure("leaky", "merchantry_on_event", "RuntimeError: 401 for token [redacted]")
    ]
    assert "tok_SECRET_1234" not in caplog.text
    assert "401 for token [redacted]" in caplog.text
