"""Writes that belong to no single capability: consent records."""

from __future__ import annotations

from belonging.core.models import ConsentRecord


def consent_record_many(*, subject: str, consents: dict[str, bool], wording_version: str, language: str) -> None:
    """Record each purpose's answer (given or refused) with its wording version and language."""
    ConsentRecord.objects.bulk_create(
        ConsentRecord(subject=subject, purpose=purpose, given=given, wording_version=wording_version, language=language)
        for purpose, given in consents.items()
    )


def consent_forget(*, subject: str) -> int:
    """Delete the consent records of an erased subject; returns how many were removed."""
    deleted, _ = ConsentRecord.objects.filter(subject=subject).delete()
    return deleted
