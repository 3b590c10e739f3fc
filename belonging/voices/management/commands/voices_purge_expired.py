"""Delete voices never confirmed within their window (they were never reviewed or published). Run daily."""

from django.core.management.base import BaseCommand

from belonging.voices.services import voices_purge_expired


class Command(BaseCommand):
    help = "Delete unconfirmed voices whose confirmation window has passed, with their consents and self-identification."

    def handle(self, *args: object, **options: object) -> None:
        deleted = voices_purge_expired()
        self.stdout.write(f"Deleted {deleted} expired unconfirmed voices.")
