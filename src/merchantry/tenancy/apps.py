from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "merchantry.tenancy"
    label = "tenancy"
    verbose_name = "Shops and channels"
    default_auto_field = "django.db.models.BigAutoField"
