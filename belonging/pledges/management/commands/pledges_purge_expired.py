"""Delete unconfirmed signatures past their 7-day window (they never counted). Run daily."""

from django.core.management.base import BaseCommand

from belonging.pledges.services import signatures_purge_expired


class Command(BaseCommand):
    help = "Delete unconfirmed signatures whose confirmation window has passed, with their consent records."

    def handle(self, *args: object, **options: object) -> None:
        deleted = signatures_purge_expired()
        self.stdout.write(f"Deleted {deleted} expired unconfirmed signatures.")
