from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A person with an account: organizers and moderators (signers need no account)."""

    email = models.EmailField(_("email address"), unique=True)
    language = models.CharField(_("language"), max_length=2, default="en", choices=[("en", "English"), ("fr", "Français")])

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
