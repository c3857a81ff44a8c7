from django.apps import AppConfig


class StorefrontConfig(AppConfig):
    name = "merchantry.storefront"
    label = "storefront"
    verbose_name = "Storefront"
