from django.apps import AppConfig


class PluginsConfig(AppConfig):
    name = "merchantry.plugins"
    label = "plugins"
    verbose_name = "Plugins"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from merchantry.plugins import registry, sinks

        sinks.register()  # domain events from the outbox reach the plugins' hooks
        # Load every plugin now, so an incompatible or broken one is refused
        # (one log line each) when the process starts, not on first use.
        registry.discover_plugins()
