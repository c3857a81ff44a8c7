from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "merchantry.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from merchantry.core.events import register_sink
        from merchantry.webhooks.delivery import fan_out

        # Every dispatched domain event passes through here on its way to the
        # shop's endpoints (see merchantry.core.events).
        register_sink("webhooks", fan_out)
