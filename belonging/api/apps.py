from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "belonging.api"
    label = "api"
    verbose_name = "API"
