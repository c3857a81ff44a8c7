"""
Admin screens: shipping zones (with a country picker), methods with their
rate rules and a "what would this address pay" tester, and shipments.

Every change goes through :mod:`merchantry.shipping.services` (validation,
audit); the tester calls :func:`merchantry.shipping.quotes.available_methods`,
the same service checkout uses.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from babel import Locale
from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from unfold.decorators import action, display
from unfold.widgets import (
    UnfoldAdminSelect2MultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from merchantry.core.errors import MerchantryError, ValidationFailed
from merchantry.core.validators import is_country
from merchantry.inventory.models import StockLocation
from merchantry.shipping import quotes, services
from merchantry.shipping.models import Shipment, ShipmentStatus, ShippingMethod, ShippingZone
from merchantry.shipping.quotes import ShippingLine
from merchantry.tenancy.admin_scope import AdminScope, ServiceModelForm, ShopScopedAdmin
from merchantry.tenancy.models import Channel
from merchantry.tenancy.permissions import Perm

__all__ = ["ShipmentAdmin", "ShippingMethodAdmin", "ShippingZoneAdmin"]


def country_choices() -> list[tuple[str, str]]:
    """Return ``(code, "Name (code)")`` for every ISO 3166-1 country, by name."""
    names = Locale("en").territories
    return sorted(
        ((code, f"{name} ({code})") for code, name in names.items() if is_country(code)),
        key=lambda item: item[1],
    )


class ListField(forms.CharField):
    """A list typed as comma- or line-separated text."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list | tuple):
            return [str(item) for item in value]
        text = str(value or "").replace("\n", ",")
        return [item.strip() for item in text.split(",") if item.strip()]


def _scoped_channels(form: forms.ModelForm, *names: str) -> None:
    scope = form.admin_scope  # type: ignore[attr-defined]
    shop = scope.shop if scope is not None else None
    for name in names:
        if name in form.fields:
            form.fields[name].queryset = (  # type: ignore[attr-defined]
                Channel.objects.for_shop(shop) if shop else Channel.objects.none()
            )


# -- zones ------------------------------------------------------------------------------


class ZoneForm(ServiceModelForm):
    countries = forms.MultipleChoiceField(
        choices=country_choices,
        widget=UnfoldAdminSelect2MultipleWidget,
        help_text="Type to search, e.g. France.",
    )
    subdivisions = ListField(
        required=False,
        widget=UnfoldAdminTextInputWidget,
        help_text="ISO 3166-2 codes, comma-separated (US-CA, US-OR); a country with some "
        "listed is limited to them.",
    )
    postal_codes = ListField(
        required=False,
        widget=UnfoldAdminTextareaWidget,
        help_text="One per line or comma-separated: 10001, SW1*, 750??, 10000..14999.",
    )
    channels = forms.ModelMultipleChoiceField(
        queryset=Channel.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ShippingZone
        fields = ("name", "countries", "subdivisions", "postal_codes", "channels")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _scoped_channels(self, "channels")

    def commit(self, scope: AdminScope) -> ShippingZone:
        actor, shop = scope.current()
        data = dict(self.cleaned_data)
        data["channel_ids"] = [c.pk for c in data.pop("channels")]
        if self.instance._state.adding:
            return services.zone_create(actor=actor, shop=shop, **data)
        return services.zone_update(actor=actor, shop=shop, zone_id=self.instance.pk, changes=data)


@admin.register(ShippingZone)
class ShippingZoneAdmin(ShopScopedAdmin):
    form = ZoneForm
    view_permission = Perm.SHIPPING_VIEW
    manage_permission = Perm.SHIPPING_MANAGE
    list_display = ("name", "country_list", "narrowed", "updated_at")
    search_fields = ("name",)
    ordering = ("name", "id")

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if not getattr(form, "committed", False):
            super().save_related(request, form, formsets, change)  # the service set them

    @display(description="Countries")
    def country_list(self, obj: ShippingZone) -> str:
        shown = ", ".join(obj.countries[:8])
        return shown + (f" +{len(obj.countries) - 8}" if len(obj.countries) > 8 else "")

    @display(description="Narrowed to")
    def narrowed(self, obj: ShippingZone) -> str:
        parts = [*obj.subdivisions[:4], *obj.postal_codes[:4]]
        return ", ".join(parts) or "whole countries"

    def perform_delete(self, request: HttpRequest, scope: AdminScope, obj: ShippingZone) -> None:
        actor, shop = scope.current()
        services.zone_delete(actor=actor, shop=shop, zone_id=obj.pk)


# -- methods ----------------------------------------------------------------------------

_RATES_HELP = (
    'JSON, one entry per currency. Flat: [{"currency": "USD", "amount": "5.00"}]. Free from a '
    'subtotal: [{"currency": "USD", "amount": "5.00", "free_over": "50.00"}]. Weight: '
    '[{"currency": "USD", "weight_tiers": [{"min_grams": 0, "max_grams": 1000, "amount": '
    '"5.00"}, {"min_grams": 1000, "max_grams": null, "amount": "9.00"}]}]. Subtotal tiers use '
    '"subtotal_tiers" with "min" and "max" amounts. Carrier-calculated: [].'
)


class MethodForm(ServiceModelForm):
    rates = forms.JSONField(required=False, help_text=_RATES_HELP, widget=UnfoldAdminTextareaWidget)
    excluded_product_types = ListField(required=False, widget=UnfoldAdminTextInputWidget)
    excluded_tags = ListField(
        required=False, widget=UnfoldAdminTextInputWidget, help_text="e.g. hazmat, oversized"
    )
    channels = forms.ModelMultipleChoiceField(
        queryset=Channel.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every channel that uses the zone.",
    )
    pickup_locations = forms.ModelMultipleChoiceField(
        queryset=StockLocation.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Pickup-only methods: where shoppers collect (locations that allow pickup).",
    )

    class Meta:
        model = ShippingMethod
        fields = (
            "zone", "name", "description", "is_active", "position", "min_days", "max_days",
            "channels", "rate_type", "rates", "carrier_plugin", "carrier_service", "origin",
            "max_weight_grams", "excluded_product_types", "excluded_tags", "pickup_only",
            "pickup_locations",
        )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _scoped_channels(self, "channels")
        scope = self.admin_scope
        shop = scope.shop if scope is not None else None
        self.fields["pickup_locations"].queryset = (  # type: ignore[attr-defined]
            StockLocation.objects.for_shop(shop) if shop else StockLocation.objects.none()
        )

    def commit(self, scope: AdminScope) -> ShippingMethod:
        actor, shop = scope.current()
        data = dict(self.cleaned_data)
        zone = data.pop("zone")
        origin = data.pop("origin")
        channels = data.pop("channels")
        pickup = data.pop("pickup_locations")
        values = {
            **data,
            "rates": data.get("rates") or [],
            "channel_ids": [c.pk for c in channels],
            "pickup_location_ids": [loc.pk for loc in pickup],
            "origin_id": origin.pk if origin else None,
        }
        if values["rate_type"] != "carrier":
            values.pop("origin_id")
            values.pop("carrier_plugin")
            values.pop("carrier_service")
        if not values["pickup_only"]:
            values.pop("pickup_location_ids")
        if self.instance._state.adding:
            name = values.pop("name")
            return services.method_create(
                actor=actor, shop=shop, zone_id=zone.pk, name=name, **values
            )
        return services.method_update(
            actor=actor, shop=shop, method_id=self.instance.pk, changes=values
        )


class RateTesterForm(forms.Form):
    """What would this address pay: an address, a weight and a subtotal."""

    channel = forms.ModelChoiceField(
        queryset=Channel.objects.none(), widget=UnfoldAdminSelectWidget
    )
    country = forms.ChoiceField(choices=country_choices, widget=UnfoldAdminSelectWidget)
    region = forms.CharField(
        required=False, max_length=10, widget=UnfoldAdminTextInputWidget, help_text="e.g. US-CA"
    )
    postal_code = forms.CharField(required=False, max_length=20, widget=UnfoldAdminTextInputWidget)
    weight_grams = forms.IntegerField(min_value=0, max_value=10**9, initial=500)
    subtotal = forms.DecimalField(min_value=0, max_digits=14, decimal_places=3, initial=Decimal(50))
    product_type = forms.CharField(
        required=False, max_length=120, widget=UnfoldAdminTextInputWidget
    )
    tags = ListField(required=False, widget=UnfoldAdminTextInputWidget, help_text="comma-separated")


@admin.register(ShippingMethod)
class ShippingMethodAdmin(ShopScopedAdmin):
    form = MethodForm
    view_permission = Perm.SHIPPING_VIEW
    manage_permission = Perm.SHIPPING_MANAGE
    list_display = ("name", "zone", "rate_type", "price_summary", "pickup_only", "is_active")
    list_filter = ("rate_type", "is_active", "pickup_only")
    search_fields = ("name", "zone__name")
    ordering = ("zone__name", "position", "name", "id")
    actions_list = ("rate_tester",)
    list_select_related = ("zone",)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if not getattr(form, "committed", False):
            super().save_related(request, form, formsets, change)

    @display(description="Rates")
    def price_summary(self, obj: ShippingMethod) -> str:
        if obj.rate_type == "carrier":
            return f"by {obj.carrier_plugin or 'enabled carriers'}"
        parts = []
        for entry in obj.rates:
            tiers = entry.get("weight_tiers") or entry.get("subtotal_tiers")
            if tiers:
                parts.append(f"{entry['currency']}: {len(tiers)} tiers")
            elif entry.get("free_over"):
                parts.append(
                    f"{entry['amount']} {entry['currency']}, free from {entry['free_over']}"
                )
            else:
                parts.append(f"{entry.get('amount')} {entry['currency']}")
        return "; ".join(parts)

    def perform_delete(self, request: HttpRequest, scope: AdminScope, obj: ShippingMethod) -> None:
        actor, shop = scope.current()
        services.method_delete(actor=actor, shop=shop, method_id=obj.pk)

    @action(description="What would this address pay?", url_path="rate-tester", icon="calculate")
    def rate_tester(self, request: HttpRequest) -> HttpResponse:
        """Price an address, a weight and a subtotal with the current rules."""
        scope = self.scope(request)
        if scope is None or scope.shop is None or not self.has_view_permission(request):
            raise DjangoPermissionDenied
        channels = Channel.objects.for_shop(scope.shop)
        form = RateTesterForm(request.GET or None, initial={"country": scope.shop.default_country})
        form.fields["channel"].queryset = channels  # type: ignore[attr-defined]
        if not request.GET:
            form.initial["channel"] = channels.first()
        result, error = None, ""
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            try:
                address = quotes.address_from_input(
                    country=data["country"], region=data["region"], postal_code=data["postal_code"]
                )
                result = quotes.available_methods(
                    channel=data["channel"],
                    address=address,
                    lines=[
                        ShippingLine(
                            quantity=1,
                            total=data["subtotal"],
                            unit_weight_grams=data["weight_grams"],
                            product_type=data["product_type"],
                            tags=tuple(data["tags"]),
                        )
                    ],
                )
            except ValidationFailed as exc:
                error = "; ".join(e.message for e in exc.errors) or exc.detail
            except MerchantryError as exc:
                error = exc.detail
        return TemplateResponse(
            request,
            "admin/shipping/rate_tester.html",
            {
                **self.admin_site.each_context(request),
                "title": "What would this address pay?",
                "opts": self.model._meta,
                "form": form,
                "result": result,
                "error": error,
            },
        )


# -- shipments --------------------------------------------------------------------------


@admin.register(Shipment)
class ShipmentAdmin(ShopScopedAdmin):
    view_permission = Perm.ORDERS_VIEW
    manage_permission = ""  # changed through the API (fulfillment integrations) for now
    list_display = ("id", "order_id", "status_label", "carrier", "tracking_link", "created_at")
    list_filter = ("status", "carrier")
    search_fields = ("order_id", "tracking_number")
    ordering = ("-created_at", "-id")
    readonly_fields = (
        "order_id", "lines_display", "location", "method", "carrier", "service",
        "tracking_number", "tracking_url", "label", "status", "status_at", "events_display",
        "created_at", "updated_at",
    )  # fmt: skip
    fields = readonly_fields

    @display(
        description="Status",
        ordering="status",
        label={
            ShipmentStatus.DELIVERED.label: "success",
            ShipmentStatus.FAILED.label: "danger",
            ShipmentStatus.RETURNED.label: "warning",
            ShipmentStatus.IN_TRANSIT.label: "info",
            ShipmentStatus.OUT_FOR_DELIVERY.label: "info",
        },
    )
    def status_label(self, obj: Shipment) -> str:
        return ShipmentStatus(obj.status).label

    @display(description="Tracking")
    def tracking_link(self, obj: Shipment) -> str:
        return obj.tracking_number or "-"

    @display(description="Lines")
    def lines_display(self, obj: Shipment) -> str:
        return json.dumps(obj.lines)

    @display(description="Tracking history")
    def events_display(self, obj: Shipment) -> str:
        rows = obj.events.order_by("occurred_at", "pk")
        return (
            "\n".join(
                f"{e.occurred_at:%Y-%m-%d %H:%M} {e.status}{'' if e.applied else ' (not applied)'}"
                f"{' - ' + e.description if e.description else ''}"
                for e in rows
            )
            or "-"
        )
