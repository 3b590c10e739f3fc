from django.apps import AppConfig


class PledgesConfig(AppConfig):
    name = "belonging.pledges"
    label = "pledges"
    verbose_name = "Pledges"
