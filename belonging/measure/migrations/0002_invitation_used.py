"""Invitations keep no date of use: ``used_on`` (a date) becomes ``used`` (yes or no).

The date a code was used, next to the date a response was started, could link an invited person to
their answers. The conversion is one UPDATE (used = used_on IS NOT NULL), then the date column is
dropped. Going back sets ``used_on`` to the day the code was made, never to a day of use.

``created_at`` is now set once per batch of codes made together (by the service) instead of per row.

Codes made before this migration keep their plain SHA-256 hash (it cannot be recomputed without the
codes, which are not kept); codes made after it are keyed with the site's secret (HMAC-SHA256), and
looking a code up tries both forms (``services.invitation_hashes``).
"""

import django.utils.timezone
from django.db import migrations, models
from django.db.models.functions import TruncDate


def to_flag(apps, schema_editor):
    Invitation = apps.get_model("measure", "Invitation")
    Invitation.objects.filter(used_on__isnull=False).update(used=True)


def to_date(apps, schema_editor):
    Invitation = apps.get_model("measure", "Invitation")
    Invitation.objects.filter(used=True).update(used_on=TruncDate("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("measure", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="invitation",
            name="used",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(to_flag, to_date, elidable=True),
        migrations.RemoveField(
            model_name="invitation",
            name="used_on",
        ),
        migrations.AlterField(
            model_name="invitation",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
        ),
    ]
