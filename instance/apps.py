from django.apps import AppConfig


class InstanceConfig(AppConfig):
    name = "instance"
    verbose_name = "Instance content"
