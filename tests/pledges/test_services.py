"""Pledge services without HTTP: signing, codes, links, withdrawal, invalidation, expiry, counts."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from belonging.core.models import ConsentRecord
from belonging.pledges import selectors, services
from belonging.pledges.models import Invalidation, Signature
from tests.factories import SignatureFactory

pytestmark = pytest.mark.django_db


def data(**overrides) -> services.SignInput:
    values = {
        "name": "Marie Tremblay",
        "email": "marie.tremblay@example.org",
        "province": "QC",
        "signer_type": "individual",
        "language": "fr",
        "show_name": True,
        "follow_up": False,
    }
    values.update(overrides)
    return services.SignInput(**values)


def code_from(message) -> str:
    return re.search(r"^\s+(\d{6})\s*$", message.body, re.M).group(1)


def test_it_records_a_pending_signature_with_its_consents(pledge, run_tasks):
    signature = services.signature_sign(pledge=pledge, data=data())
    assert signature.status == Signature.Status.PENDING
    assert signature.language == "fr"
    assert signature.expires_at > timezone.now() + timedelta(days=6, hours=23)
    consents = {c.purpose: c for c in ConsentRecord.objects.filter(subject=signature.consent_subject)}
    assert consents["public_name"].given is True
    assert consents["follow_up"].given is False
    assert consents["public_name"].wording_version == services.CONSENT_WORDING_VERSION
    run_tasks()
    assert len(mail.outbox) == 1
    # The email is in the signer's language.
    assert "Bonjour Marie Tremblay" in mail.outbox[0].body
    assert mail.outbox[0].to == ["marie.tremblay@example.org"]


def test_signing_again_while_pending_resends_a_new_code_and_keeps_one_signature(pledge, run_tasks):
    services.signature_sign(pledge=pledge, data=data())
    run_tasks()
    first_code = code_from(mail.outbox[0])
    again = services.signature_sign(
        pledge=pledge, data=data(email="Marie.Tremblay+encore@Example.org", name="Marie T.", province="ON")
    )
    run_tasks()
    assert Signature.objects.count() == 1
    assert again.name == "Marie T." and again.province == "ON"
    assert len(mail.outbox) == 2
    second_code = code_from(mail.outbox[1])
    if first_code != second_code:
        with pytest.raises(services.ConfirmError):
            services.signature_confirm_with_code(pledge=pledge, email="marie.tremblay@example.org", code=first_code)
    confirmed = services.signature_confirm_with_code(pledge=pledge, email="marie.tremblay@example.org", code=second_code)
    assert confirmed.status == Signature.Status.CONFIRMED


def test_signing_again_when_confirmed_says_so_and_changes_nothing(pledge, run_tasks):
    signature = services.signature_sign(pledge=pledge, data=data())
    services.signature_confirm_with_link(signature=signature)
    services.signature_sign(pledge=pledge, data=data(name="Someone Else", province="BC"))
    run_tasks()
    signature.refresh_from_db()
    assert Signature.objects.count() == 1
    assert (signature.name, signature.province, signature.status) == ("Marie Tremblay", "QC", "confirmed")
    subjects = [m.subject for m in mail.outbox]
    assert any("déjà signé" in s for s in subjects), subjects


def test_gmail_dots_and_tags_are_one_person(pledge):
    services.signature_sign(pledge=pledge, data=data(email="jean.paul@gmail.com"))
    services.signature_sign(pledge=pledge, data=data(email="JeanPaul+belonging@googlemail.com"))
    assert Signature.objects.count() == 1


def test_a_closed_pledge_takes_no_signature(pledge):
    pledge.is_open = False
    pledge.save()
    with pytest.raises(services.PledgeClosed):
        services.signature_sign(pledge=pledge, data=data())
    assert Signature.objects.count() == 0


def test_wrong_codes_are_counted_and_lock_the_code(pledge, run_tasks, settings):
    settings.PLEDGE_CODE_MAX_ATTEMPTS = 3
    services.signature_sign(pledge=pledge, data=data())
    run_tasks()
    code = code_from(mail.outbox[0])
    wrong = "000000" if code != "000000" else "111111"
    reasons = []
    for _ in range(3):
        with pytest.raises(services.ConfirmError) as exc:
            services.signature_confirm_with_code(pledge=pledge, email="marie.tremblay@example.org", code=wrong)
        reasons.append(exc.value.reason)
    assert reasons == ["invalid", "invalid", "attempts"]
    assert Signature.objects.get().code_attempts == 3
    with pytest.raises(services.ConfirmError) as exc:
        services.signature_confirm_with_code(pledge=pledge, email="marie.tremblay@example.org", code=code)
    assert exc.value.reason == "attempts"
    # Signing again issues a new code and resets the attempts.
    services.signature_sign(pledge=pledge, data=data())
    run_tasks()
    new_code = code_from(mail.outbox[-1])
    assert services.signature_confirm_with_code(
        pledge=pledge, email="marie.tremblay@example.org", code=new_code
    ).status == Signature.Status.CONFIRMED


def test_an_expired_signature_cannot_be_confirmed_and_is_purged(pledge, run_tasks):
    signature = services.signature_sign(pledge=pledge, data=data())
    run_tasks()
    code = code_from(mail.outbox[0])
    Signature.objects.filter(pk=signature.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(services.ConfirmError) as exc:
        services.signature_confirm_with_code(pledge=pledge, email="marie.tremblay@example.org", code=code)
    assert exc.value.reason == "expired"
    with pytest.raises(services.ConfirmError):
        services.signature_confirm_with_link(signature=signature)
    confirmed = SignatureFactory(pledge=pledge, confirmed=True, expires_at=timezone.now() - timedelta(days=30))
    assert services.signatures_purge_expired() == 1
    assert list(Signature.objects.values_list("pk", flat=True)) == [confirmed.pk]
    assert not ConsentRecord.objects.filter(subject=signature.consent_subject).exists()


def test_signing_after_expiry_starts_again(pledge, run_tasks):
    signature = services.signature_sign(pledge=pledge, data=data())
    Signature.objects.filter(pk=signature.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    again = services.signature_sign(pledge=pledge, data=data())
    assert again.pk == signature.pk
    assert again.expires_at > timezone.now()
    run_tasks()
    assert services.signature_confirm_with_code(
        pledge=pledge, email="marie.tremblay@example.org", code=code_from(mail.outbox[-1])
    ).status == Signature.Status.CONFIRMED


def test_withdrawal_erases_personal_data_and_leaves_the_counts(pledge):
    signature = services.signature_sign(
        pledge=pledge,
        data=data(signer_type="organization", organization_name="Centre communautaire", sector="community",
                  postal_code="H2X 1Y4", follow_up=True),
    )
    services.signature_confirm_with_link(signature=signature)
    assert selectors.numbers_compute(pledge).signatories == 1
    services.signature_withdraw(signature=signature)
    signature.refresh_from_db()
    assert signature.status == Signature.Status.WITHDRAWN
    assert signature.withdrawn_at is not None
    erased = (signature.name, signature.email, signature.email_normalized, signature.postal_code,
              signature.organization_name, signature.sector, signature.show_name, signature.follow_up)
    assert erased == ("", "", None, "", "", "", False, False)
    assert not ConsentRecord.objects.filter(subject=signature.consent_subject).exists()
    numbers = selectors.numbers_compute(pledge)
    assert numbers.signatories == 0 and numbers.by_type["organization"] == 0
    assert list(selectors.signatures_public_list(pledge)) == []
    # Withdrawing twice is harmless, and the person may sign again.
    services.signature_withdraw(signature=signature)
    again = services.signature_sign(pledge=pledge, data=data())
    assert again.pk != signature.pk


def test_invalidation_removes_signatures_from_counts_and_is_logged(pledge, organizer):
    good = SignatureFactory.create_batch(3, pledge=pledge, confirmed=True, province="NS")
    bad = SignatureFactory.create_batch(4, pledge=pledge, confirmed=True, province="AB")
    withdrawn = SignatureFactory(pledge=pledge, status="withdrawn", name="", email="", email_normalized=None)
    with pytest.raises(ValueError):
        services.signatures_invalidate(pledge=pledge, signature_ids=[s.pk for s in bad], actor=organizer, reason=" ")
    invalidation = services.signatures_invalidate(
        pledge=pledge, signature_ids=[s.pk for s in bad] + [withdrawn.pk], actor=organizer, reason="Same IP, bot names"
    )
    assert invalidation.signature_count == 4
    assert (invalidation.actor, invalidation.reason) == (organizer, "Same IP, bot names")
    assert Signature.objects.filter(status="invalidated", invalidation=invalidation).count() == 4
    assert Signature.objects.get(pk=withdrawn.pk).status == "withdrawn"
    numbers = selectors.numbers_compute(pledge)
    assert numbers.signatories == 3
    assert numbers.by_province["AB"] == 0 and numbers.by_province["NS"] == 3
    assert Invalidation.objects.count() == 1
    assert {s.pk for s in good} == set(Signature.objects.filter(status="confirmed").values_list("pk", flat=True))
    # The evidence stays: a withdraw link on an invalidated signature erases nothing.
    services.signature_withdraw(signature=bad[0])
    bad[0].refresh_from_db()
    assert (bad[0].status, bad[0].invalidation, bad[0].email) == ("invalidated", invalidation, bad[0].email)
    assert bad[0].email != ""


def test_numbers_group_by_province_type_and_sector(pledge):
    SignatureFactory.create_batch(2, pledge=pledge, confirmed=True, province="NU")
    SignatureFactory(pledge=pledge, confirmed=True, province="BC", signer_type="association",
                     organization_name="Assoc", sector="community")
    SignatureFactory(pledge=pledge, confirmed=True, province="BC", signer_type="organization",
                     organization_name="Org", sector="health")
    SignatureFactory(pledge=pledge, province="YT")  # pending: never counts
    numbers = selectors.numbers_compute(pledge)
    assert numbers.signatories == 4
    assert numbers.provinces_territories == 2
    assert numbers.by_province["NU"] == 2 and numbers.by_province["BC"] == 2 and numbers.by_province["YT"] == 0
    assert numbers.by_type == {"individual": 2, "association": 1, "organization": 1}
    assert numbers.by_sector["community"] == 1 and numbers.by_sector["health"] == 1
    assert sum(numbers.by_sector.values()) == 2


def test_numbers_are_cached_for_less_than_five_seconds(pledge, settings):
    settings.NUMBERS_CACHE_SECONDS = 4
    assert selectors.numbers_for_pledge(pledge).signatories == 0
    SignatureFactory(pledge=pledge, confirmed=True)
    # Within the staleness budget the cached figure may be served...
    assert selectors.numbers_for_pledge(pledge).signatories == 0
    # ...but never once 5 seconds have passed (the cache's clock is moved, not waited for).
    import time as real_time

    later = real_time.time() + 5
    with mock.patch("django.core.cache.backends.locmem.time.time", return_value=later):
        assert selectors.numbers_for_pledge(pledge).signatories == 1


def test_responses_may_be_kept_only_for_what_is_left_of_the_budget(pledge):
    import dataclasses

    numbers = selectors.numbers_compute(pledge)
    assert 3 <= numbers.max_age_seconds() <= 4
    older = dataclasses.replace(numbers, updated_at=timezone.now() - timedelta(seconds=2.5))
    assert older.max_age_seconds() == 1
    too_old = dataclasses.replace(numbers, updated_at=timezone.now() - timedelta(seconds=9))
    assert too_old.max_age_seconds() == 0


def test_one_process_recomputes_while_others_serve_the_last_fresh_figures(pledge, settings):
    import dataclasses

    settings.NUMBERS_CACHE_SECONDS = 2
    first = selectors.numbers_for_pledge(pledge)
    SignatureFactory(pledge=pledge, confirmed=True)
    cache.delete(f"pledges:numbers:{pledge.pk}:fresh")  # the fresh copy expired
    cache.add(f"pledges:numbers:{pledge.pk}:lock", True, 30)  # another process is recomputing
    assert selectors.numbers_for_pledge(pledge) == first  # the last figures, still within the budget
    stale = dataclasses.replace(first, updated_at=timezone.now() - timedelta(seconds=6))
    cache.set(f"pledges:numbers:{pledge.pk}:last", stale, 60)
    assert selectors.numbers_for_pledge(pledge).signatories == 1  # too old to serve: computed here
    cache.delete(f"pledges:numbers:{pledge.pk}:lock")
    assert selectors.numbers_for_pledge(pledge).signatories == 1
    assert cache.get(f"pledges:numbers:{pledge.pk}:lock") is None


def test_numbers_count_the_public_list(pledge):
    SignatureFactory.create_batch(2, pledge=pledge, confirmed=True, show_name=True)
    SignatureFactory(pledge=pledge, confirmed=True, show_name=False)
    SignatureFactory(pledge=pledge, show_name=True)  # pending
    numbers = selectors.numbers_compute(pledge)
    assert numbers.public_names == 2 == selectors.signatures_public_list(pledge).count()


def test_signing_updates_no_counter_row(pledge):
    """No hot rows: a signature only inserts (its row, its consents, its email task)."""
    with CaptureQueriesContext(connection) as queries:
        signature = services.signature_sign(pledge=pledge, data=data())
        services.signature_confirm_with_link(signature=signature)
    updates = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    tables = {re.search(r'UPDATE\s+"?(\w+)"?', sql, re.I).group(1) for sql in updates}
    assert tables <= {"pledges_signature"}, updates
    assert not any('"pledges_pledge"' in sql for sql in updates)


@pytest.mark.django_db(transaction=True)
def test_concurrent_signings_with_one_email_make_one_signature(pledge):
    if connection.vendor != "postgresql":
        pytest.skip("row-lock race needs PostgreSQL (run by .ci/run with DATABASE_URL); SQLite serializes writers")
    barrier = threading.Barrier(4)
    results, errors = [], []

    def worker(i: int) -> None:
        from django.db import connections

        try:
            barrier.wait()
            results.append(services.signature_sign(pledge=pledge, data=data(email=f"Race.Condition+{i}@example.org")).pk)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Signature.objects.filter(email_normalized="race.condition@example.org").count() == 1
    assert len(set(results)) == 1 and len(results) == 4


def test_bad_input_is_refused_before_anything_is_written(pledge):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.signature_sign(pledge=pledge, data=data(signer_type="organization", organization_name=""))
    with pytest.raises(ValidationError):
        services.signature_sign(pledge=pledge, data=data(province="ZZ"))
    with pytest.raises(ValueError):
        services.signature_sign(pledge=pledge, data=data(email="not an email"))
    assert Signature.objects.count() == 0
