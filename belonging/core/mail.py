"""Development email backend: every message is written to its own .eml file under var/outbox/."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone


class OutboxBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        outbox = Path(settings.EMAIL_OUTBOX_DIR)
        outbox.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
            path = outbox / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
            path.write_bytes(message.message().as_bytes())
            sent += 1
        return sent


def outbox_message(message_id: str) -> Path | None:
    """The message file named ``message_id`` (as written by OutboxBackend), or None."""
    if not re.fullmatch(r"\d{8}T\d{12}-[0-9a-f]{8}", message_id):
        return None
    path = Path(settings.EMAIL_OUTBOX_DIR) / f"{message_id}.eml"
    return path if path.is_file() else None


def outbox_messages(limit: int = 200) -> list[Path]:
    """The newest messages in the outbox, newest first."""
    outbox = Path(settings.EMAIL_OUTBOX_DIR)
    if not outbox.is_dir():
        return []
    return sorted(outbox.glob("*.eml"), reverse=True)[:limit]
