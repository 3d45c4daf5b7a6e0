from django.apps import AppConfig


class RedundancyConfig(AppConfig):
    name = "instance.redundancy"
    label = "redundancy"
    verbose_name = "Redundancy"

    def ready(self):
        from instance import webseeds

        from .models import published_copy_urls

        webseeds.register(published_copy_urls)
