"""Every write to pledges and signatures goes through these functions (views, admin, commands, tests)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from belonging.core.models import ConsentRecord
from belonging.core.services import consent_forget, consent_record_many
from belonging.lib.emails import normalize_email
from belonging.pledges import tasks
from belonging.pledges.models import Invalidation, Pledge, SignerType, Signature
from belonging.core.tokens import code_hash, code_matches, new_code

logger = logging.getLogger(__name__)

CONSENT_WORDING_VERSION = "pledge-2026-11"


class PledgeClosed(Exception):
    pass


class ConfirmError(Exception):
    """Why a confirmation failed: 'invalid', 'expired', 'attempts' or 'withdrawn'."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SignInput:
    name: str
    email: str
    province: str
    signer_type: str
    language: str
    postal_code: str = ""
    organization_name: str = ""
    sector: str = ""
    show_name: bool = False
    follow_up: bool = False


def _apply(signature: Signature, data: SignInput) -> None:
    signature.name = data.name.strip()
    signature.email = data.email.strip()
    signature.province = data.province
    signature.postal_code = data.postal_code
    signature.signer_type = data.signer_type
    individual = data.signer_type == SignerType.INDIVIDUAL
    signature.organization_name = "" if individual else data.organization_name.strip()
    signature.sector = "" if individual else data.sector
    signature.show_name = data.show_name
    signature.follow_up = data.follow_up
    signature.language = data.language


def _record_consents(signature: Signature, data: SignInput) -> None:
    consent_record_many(
        subject=signature.consent_subject,
        consents={ConsentRecord.Purpose.PUBLIC_NAME: data.show_name, ConsentRecord.Purpose.FOLLOW_UP: data.follow_up},
        wording_version=CONSENT_WORDING_VERSION,
        language=data.language,
    )


def signature_sign(*, pledge: Pledge, data: SignInput) -> Signature:
    """Record a signature (pending until confirmed) and send the confirmation code.

    Signing again with the same email resends the code (pending) or says it is already signed
    (confirmed); it never creates a second signature: the database constraint guarantees it even
    when two requests race.
    """
    if not pledge.is_open:
        raise PledgeClosed(pledge.slug)
    normalized = normalize_email(data.email)
    now = timezone.now()
    expires = now + timedelta(days=settings.PLEDGE_CONFIRM_DAYS)
    candidate = Signature(pledge=pledge, email_normalized=normalized, expires_at=expires)
    _apply(candidate, data)
    # Validate before taking the write lock (SQLite has one writer at a time: keep transactions short).
    # The database constraints still hold the invariants; these checks give clear errors first.
    candidate.full_clean(exclude=["pledge", "email_normalized"], validate_unique=False, validate_constraints=False)
    if candidate.signer_type != SignerType.INDIVIDUAL and not candidate.organization_name:
        raise ValidationError({"organization_name": "required for associations and organizations"})
    with transaction.atomic():
        signature = Signature.objects.select_for_update().filter(pledge=pledge, email_normalized=normalized).first()
        if signature is None:
            try:
                with transaction.atomic():
                    candidate.save()
            except IntegrityError:
                # Another request with the same email won the race: treat this one as a repeat.
                signature = (
                    Signature.objects.select_for_update().filter(pledge=pledge, email_normalized=normalized).first()
                )
                if signature is None:
                    raise
            else:
                _record_consents(candidate, data)
                tasks.send_confirmation_code.enqueue(candidate.pk)
                return candidate
        if signature.status == Signature.Status.PENDING:
            # Not confirmed yet: take the latest details, restart the clock and send a new code.
            _apply(signature, data)
            signature.expires_at = expires
            signature.code_attempts = 0
            signature.save()
            _record_consents(signature, data)
            tasks.send_confirmation_code.enqueue(signature.pk)
        elif signature.status == Signature.Status.CONFIRMED:
            tasks.send_already_signed.enqueue(signature.pk)
        else:
            logger.info("signature %s is %s; repeat signing ignored", signature.pk, signature.status)
        return signature


def signature_issue_code(*, signature_id: int) -> str | None:
    """Make a fresh code for a pending signature and store its hash; None if it needs no code."""
    with transaction.atomic():
        signature = Signature.objects.select_for_update().filter(pk=signature_id).first()
        if signature is None or signature.status != Signature.Status.PENDING or signature.expires_at < timezone.now():
            return None
        code = new_code()
        signature.code_hash = code_hash(signature.public_id, code)
        signature.code_attempts = 0
        signature.save(update_fields=["code_hash", "code_attempts"])
    return code


def _confirm(signature: Signature) -> Signature:
    if signature.status == Signature.Status.CONFIRMED:
        return signature
    if signature.status != Signature.Status.PENDING:
        raise ConfirmError("withdrawn")
    if signature.expires_at < timezone.now():
        raise ConfirmError("expired")
    signature.status = Signature.Status.CONFIRMED
    signature.confirmed_at = timezone.now()
    signature.code_hash = ""
    signature.save(update_fields=["status", "confirmed_at", "code_hash"])
    return signature


def signature_confirm_with_code(*, pledge: Pledge, email: str, code: str) -> Signature:
    """Confirm by the 6-digit code; each wrong try counts, and too many lock the code."""
    try:
        normalized = normalize_email(email)
    except ValueError:
        raise ConfirmError("invalid") from None
    with transaction.atomic():
        signature = Signature.objects.select_for_update().filter(pledge=pledge, email_normalized=normalized).first()
        if signature is None:
            raise ConfirmError("invalid")
        if signature.status == Signature.Status.CONFIRMED:
            return signature
        if signature.status != Signature.Status.PENDING:
            raise ConfirmError("invalid")
        if signature.expires_at < timezone.now():
            raise ConfirmError("expired")
        if signature.code_attempts >= settings.PLEDGE_CODE_MAX_ATTEMPTS:
            raise ConfirmError("attempts")
        if code_matches(signature.public_id, code.strip(), signature.code_hash):
            return _confirm(signature)
        signature.code_attempts += 1
        signature.save(update_fields=["code_attempts"])
        error = "attempts" if signature.code_attempts >= settings.PLEDGE_CODE_MAX_ATTEMPTS else "invalid"
    # Raised after the block so the failed attempt is committed.
    raise ConfirmError(error)


def signature_confirm_with_link(*, signature: Signature) -> Signature:
    """Confirm from the emailed link (the caller has checked the link's token)."""
    with transaction.atomic():
        signature = Signature.objects.select_for_update().get(pk=signature.pk)
        return _confirm(signature)


def signature_withdraw(*, signature: Signature) -> Signature:
    """Withdraw: leave every count and list, and erase the personal data (a tombstone remains)."""
    with transaction.atomic():
        signature = Signature.objects.select_for_update().get(pk=signature.pk)
        if signature.status in (Signature.Status.WITHDRAWN, Signature.Status.INVALIDATED):
            # Invalidated signatures are kept as evidence for the fraud review; they already count nowhere.
            return signature
        signature.status = Signature.Status.WITHDRAWN
        signature.withdrawn_at = timezone.now()
        _erase(signature)
        signature.save()
        consent_forget(subject=signature.consent_subject)
    return signature


def _erase(signature: Signature) -> None:
    signature.name = signature.email = signature.postal_code = signature.organization_name = ""
    signature.email_normalized = None
    signature.sector = ""
    signature.show_name = signature.follow_up = False
    signature.code_hash = ""


def signatures_erase_invalidated(*, pledge: Pledge, signature_ids: list[int]) -> int:
    """Erase the personal data of invalidated signatures (a person asked; the review is over).

    They stay invalidated and linked to their Invalidation, so the log keeps its counts.
    """
    with transaction.atomic():
        targets = list(
            Signature.objects.select_for_update().filter(
                pledge=pledge, pk__in=signature_ids, status=Signature.Status.INVALIDATED
            )
        )
        for signature in targets:
            _erase(signature)
            signature.save()
            consent_forget(subject=signature.consent_subject)
    return len(targets)


def signatures_invalidate(*, pledge: Pledge, signature_ids: list[int], actor: object, reason: str) -> Invalidation:
    """Invalidate signatures of ``pledge`` as fraudulent; logged with who, why and how many."""
    reason = reason.strip()
    if not reason:
        raise ValueError("a reason is required")
    with transaction.atomic():
        targets = Signature.objects.select_for_update().filter(
            pledge=pledge,
            pk__in=signature_ids,
            status__in=[Signature.Status.PENDING, Signature.Status.CONFIRMED],
        )
        ids = list(targets.values_list("pk", flat=True))
        invalidation = Invalidation.objects.create(
            pledge=pledge, actor=actor, reason=reason, signature_count=len(ids)
        )
        Signature.objects.filter(pk__in=ids).update(status=Signature.Status.INVALIDATED, invalidation=invalidation)
    logger.warning("invalidated %d signatures of %s by %s: %s", len(ids), pledge.slug, actor, reason)
    return invalidation


def signatures_purge_expired(*, now: object | None = None) -> int:
    """Delete unconfirmed signatures past their expiry (they never counted) and their consents."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            Signature.objects.select_for_update()
            .filter(status=Signature.Status.PENDING, expires_at__lt=now)
            .values_list("pk", flat=True)
        )
        ConsentRecord.objects.filter(subject__in=[f"pledges.signature:{pk}" for pk in ids]).delete()
        deleted, _ = Signature.objects.filter(pk__in=ids).delete()
    return deleted
