from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "merchantry.tenancy"
    label = "tenancy"
    verbose_name = "Shops and channels"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from corsheaders.signals import check_request_enabled

        from merchantry.tenancy.cors import allow_store_origin

        # django-cors-headers asks this whether a cross-origin Store API call
        # is allowed: channels own their origins, settings list none.
        check_request_enabled.connect(allow_store_origin, dispatch_uid="merchantry-store-origins")
