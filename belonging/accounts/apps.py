from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "belonging.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from belonging.accounts.roles import sync_roles_after_migrate

        # Runs after each app migrates, so permissions of later apps exist by the last call.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="belonging.accounts.sync_roles")
