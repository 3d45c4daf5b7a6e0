from django.apps import AppConfig


class TrackerAppConfig(AppConfig):
    name = "tracker"

    def ready(self):
        from . import signals  # noqa: F401 - connects the policy invalidation
