from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "belonging.core"
    label = "core"
    verbose_name = "Core"
