"""Every write to survey waves, invitations and collected responses goes through these functions
(the organizers' pages, the survey pages, tests).

Anonymity is kept here, not only in the views:

- a response stores no user, email, IP address or time of day (``started_on`` and ``submitted_on``
  are dates), and nothing that links it to the invitation code that opened it: using a code only
  marks the invitation used (a yes or no: no date or time, so the day a code was used cannot be
  matched with the day a response was started);
- invitation codes are stored as HMAC-SHA256 hashes keyed with the site's secret, so a leaked list
  of codes cannot be matched to the stored hashes without the key; the rows of one batch are written
  in an order unrelated to the order of the codes handed out. Codes made before the hashes were
  keyed (migration 0002) keep their plain SHA-256 hash: a lookup tries both forms;
- the respondent's token (their resume code) is stored as its SHA-256 hash (80 random bits, only
  ever known to the respondent);
- the raw codes and tokens are returned once, to the person who needs them, and never written anywhere.

Waves keep their rules here too: only one baseline per campaign, place and sample type; the
questionnaire version and sample type of a wave are fixed once it has responses (otherwise answers
to different questions, or from different samples, would be pooled in one estimate).

Permissions are checked by the views (``belonging.measure.access``), not here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from belonging.core.models import Campaign, Place
from belonging.measure import instrument
from belonging.measure.models import ImportBatch, Invitation, Response, Wave

# Codes people type: no 0/O or 1/I to confuse, upper case, shown in groups of four.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols: 5 bits each
INVITATION_LENGTH = 10  # 50 bits: ABCD-EFGH-JK
TOKEN_LENGTH = 16  # 80 bits: ABCD-EFGH-JKLM-NPQR (the resume code)
GROUP = 4
MAX_INVITATIONS = 100_000
BATCH = 1000
# A wave's slug is the last part of the survey's address; "results" is the campaign's dashboard.
RESERVED_SLUGS = frozenset({"results", "manage"})

State = Literal["upcoming", "open", "closed"]


class SurveyError(Exception):
    """A refusal a respondent must be told about; ``reason`` says which (the views word it):

    ``upcoming`` (not open yet), ``closed``, ``code_required``, ``unknown_code``, ``used_code``,
    ``submitted`` (a submitted response cannot change), ``not_invited`` (invitations for an open
    sample), ``import_only`` (the wave has imported responses with bootstrap replicate weights, which
    answers collected here would not have: it cannot be answered on this site).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- codes and tokens -------------------------------------------------------------------------------


def normalize_code(text: str) -> str:
    """A code as typed (any case, spaces, hyphens) in its canonical form."""
    return "".join(ch for ch in (text or "").upper() if ch not in " -\t\r\n\u00a0\u2010\u2011\u2012\u2013")


def hash_code(text: str) -> str:
    """The stored form of a respondent's token (SHA-256 of the canonical form); also the form of the
    invitation codes made before they were keyed (see ``invitation_hashes``)."""
    return hashlib.sha256(normalize_code(text).encode("utf-8")).hexdigest()


def _keyed_hash(canonical: bytes, key: str) -> str:
    return hmac.new(key.encode("utf-8"), b"measure-invitation:" + canonical, hashlib.sha256).hexdigest()


def invitation_hash(code: str) -> str:
    """The stored form of a new invitation code: HMAC-SHA256 of its canonical form, keyed with the
    site's secret, so that someone holding the list of codes (the organizer mails them) and a copy of
    the database cannot tell which row is whose code without the key too."""
    return _keyed_hash(normalize_code(code).encode("utf-8"), settings.SECRET_KEY)


def invitation_hashes(code: str) -> list[str]:
    """Every stored form a code may have: keyed with the current secret, keyed with a secret being
    rotated out (``SECRET_KEY_FALLBACKS``), or the plain SHA-256 of a code made before codes were
    keyed. A code made under a secret that is no longer current nor a fallback is no longer found."""
    canonical = normalize_code(code).encode("utf-8")
    keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return [*(_keyed_hash(canonical, key) for key in keys), hashlib.sha256(canonical).hexdigest()]


def format_code(code: str) -> str:
    """ABCDEFGHJK -> ABCD-EFGH-JK (how codes are shown and printed)."""
    code = normalize_code(code)
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def _random_code(length: int) -> str:
    bits = secrets.randbits(5 * length)
    return "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in range(length))


def _token_for_key(wave: Wave, request_key: uuid.UUID) -> str:
    """The token of the start form with this key, for this wave: the same form sent twice (a double
    click, a resent page) gives the same token, so it starts one response. Keyed with the site's
    secret, so the form's key alone does not reveal the token; the wave is part of the message, so the
    same key sent to two waves gives two tokens."""
    message = b"measure-token:%d:" % wave.pk + request_key.bytes
    digest = hmac.new(settings.SECRET_KEY.encode("utf-8"), message, hashlib.sha256).digest()
    bits = int.from_bytes(digest[:10], "big")  # 80 bits
    return "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in range(TOKEN_LENGTH))


# --- waves ------------------------------------------------------------------------------------------


def wave_state(wave: Wave, now: datetime | None = None) -> State:
    now = now or timezone.now()
    if now < wave.opens_at:
        return "upcoming"
    if now >= wave.closes_at:
        return "closed"
    return "open"


def first_day(wave: Wave) -> date:
    return timezone.localdate(wave.opens_at)


def last_day(wave: Wave) -> date:
    """The last day the survey can be answered (``closes_at`` is the first moment it cannot)."""
    return timezone.localdate(wave.closes_at - timedelta(microseconds=1))


def day_start(day: date) -> datetime:
    """Midnight, local time, at the start of ``day``."""
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


@dataclass(frozen=True)
class WaveData:
    """What organizers set on a wave."""

    slug: str
    title_en: str
    title_fr: str
    opens_at: datetime
    closes_at: datetime
    place: Place | None = None
    kind: str = Wave.Kind.BASELINE
    sample: str = Wave.Sample.OPEN
    questionnaire: str = instrument.CURRENT.version
    replicate_centre: str = Wave.Centre.REPLICATE_MEAN


def _has_responses(wave: Wave) -> bool:
    return wave.pk is not None and Response.objects.filter(wave=wave).exists()


def _check_wave(campaign: Campaign, data: WaveData, wave: Wave | None) -> None:
    """Every rule a wave keeps, as errors by field (raised together)."""
    errors: dict[str, list[str]] = {}

    def error(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if not data.slug:
        error("slug", _("Enter a short name for the survey’s address."))
    elif data.slug in RESERVED_SLUGS:
        error("slug", _("“%(slug)s” is used by another page. Choose another short name.") % {"slug": data.slug})
    elif Wave.objects.filter(campaign=campaign, slug=data.slug).exclude(pk=getattr(wave, "pk", None)).exists():
        error("slug", _("Another wave of this campaign already uses this short name. Choose another one."))
    if not data.title_en.strip():
        error("title_en", _("Enter the title in English."))
    if not data.title_fr.strip():
        error("title_fr", _("Enter the title in French."))
    if data.closes_at <= data.opens_at:
        error("closes_at", _("The survey must close after it opens."))
    if data.place is not None and data.place.campaign_id != campaign.pk:
        error("place", _("This place belongs to another campaign."))
    if data.kind not in Wave.Kind.values:
        error("kind", _("Choose a kind of wave."))
    if data.sample not in Wave.Sample.values:
        error("sample", _("Choose a sample type."))
    if data.questionnaire not in instrument.QUESTIONNAIRES:
        error("questionnaire", _("Choose a questionnaire version."))
    if data.replicate_centre not in Wave.Centre.values:
        error("replicate_centre", _("Choose how the bootstrap variance is centred."))
    if wave is not None and _has_responses(wave):
        if data.questionnaire != wave.questionnaire:
            error(
                "questionnaire",
                _(
                    "This wave already has responses, so its questionnaire version cannot change: answers to "
                    "different questions would be mixed. Create a new wave instead."
                ),
            )
        if data.sample != wave.sample:
            error(
                "sample",
                _(
                    "This wave already has responses, so its sample type cannot change: an open sample and an "
                    "invited sample are never pooled. Create a new wave instead."
                ),
            )
    if data.kind == Wave.Kind.BASELINE and data.sample in Wave.Sample.values:
        other = (
            Wave.objects.filter(campaign=campaign, place=data.place, sample=data.sample, kind=Wave.Kind.BASELINE)
            .exclude(pk=getattr(wave, "pk", None))
            .first()
        )
        if other is not None:
            error(
                "kind",
                _(
                    "“%(title)s” is already the baseline of this campaign for this place and sample type. There is "
                    "one baseline per campaign, place and sample type: make this wave a follow-up."
                )
                % {"title": other.title},
            )
    if errors:
        raise ValidationError(errors)


def _lock_campaign(campaign: Campaign) -> None:
    """Waves of one campaign are created and changed one at a time (the baseline rule reads, then writes)."""
    Campaign.objects.select_for_update().filter(pk=campaign.pk).first()


def _apply(wave: Wave, data: WaveData) -> None:
    for name in (
        "slug", "title_en", "title_fr", "opens_at", "closes_at", "place", "kind", "sample", "questionnaire",
        "replicate_centre",
    ):  # fmt: skip
        setattr(wave, name, getattr(data, name))
    wave.title_en = wave.title_en.strip()
    wave.title_fr = wave.title_fr.strip()


def create_wave(campaign: Campaign, data: WaveData) -> Wave:
    """A new wave; ``ValidationError`` (by field) when it breaks a rule."""
    try:
        with transaction.atomic():
            _lock_campaign(campaign)
            _check_wave(campaign, data, None)
            wave = Wave(campaign=campaign)
            _apply(wave, data)
            wave.save()
    except IntegrityError:  # the same short name saved at the same moment by someone else
        raise ValidationError(
            {"slug": [_("Another wave of this campaign already uses this short name. Choose another one.")]}
        ) from None
    return wave


def update_wave(wave: Wave, data: WaveData) -> Wave:
    """Change a wave; its questionnaire version and sample type are fixed once it has responses."""
    try:
        with transaction.atomic():
            _lock_campaign(wave.campaign)
            current = Wave.objects.select_for_update().get(pk=wave.pk)
            _check_wave(current.campaign, data, current)
            _apply(current, data)
            current.save()
    except IntegrityError:
        raise ValidationError(
            {"slug": [_("Another wave of this campaign already uses this short name. Choose another one.")]}
        ) from None
    return current


# --- invitations ------------------------------------------------------------------------------------


def generate_invitations(wave: Wave, count: int) -> list[str]:
    """``count`` new single-use codes for an invited wave, formatted ABCD-EFGH-JK, in random order.

    Only their keyed hashes are stored: the codes are returned once, here, and cannot be shown again.
    The work is linear in ``count``: each code is hashed once per stored form it is checked against,
    and written with the others of its batch in one INSERT. A code whose hash is already stored (50
    random bits: very unlikely) is left out and only it is drawn again. The rows of a batch are
    written in the order of their keyed hashes and share one ``created_at``, so neither the row order
    nor the time says which row holds which code of the list.
    """
    if wave.sample != Wave.Sample.INVITED:
        raise ValidationError(_("Invitation codes are only for waves with an invited sample."), code="not_invited")
    if not 1 <= count <= MAX_INVITATIONS:
        raise ValidationError(
            _("Choose between 1 and %(max)s codes.") % {"max": f"{MAX_INVITATIONS:,}".replace(",", "\u00a0")},
            code="count",
        )
    made_at = timezone.now()
    codes: list[str] = []
    made: set[str] = set()  # the hashes stored by this call
    clashes = 0
    with transaction.atomic():
        while len(codes) < count:
            fresh: dict[str, str] = {}  # keyed hash -> code
            forms: dict[str, str] = {}  # every form a lookup of the code would try -> its keyed hash
            for code in (_random_code(INVITATION_LENGTH) for _ in range(min(BATCH, count - len(codes)))):
                hashes = invitation_hashes(code)
                if hashes[0] in made or hashes[0] in fresh:
                    continue
                fresh[hashes[0]] = code
                forms.update((form, hashes[0]) for form in hashes)
            # A stored row that a lookup of a new code would also find (the same code made earlier, or a
            # clash of hashes) would make the code ambiguous: leave that code out; the loop draws again.
            stored = list(forms)
            for start in range(0, len(stored), BATCH):
                taken = Invitation.objects.filter(code_hash__in=stored[start : start + BATCH])
                for form in taken.values_list("code_hash", flat=True):
                    fresh.pop(forms[form], None)
            try:
                with transaction.atomic():  # a savepoint: a clash with a code made at this moment elsewhere
                    Invitation.objects.bulk_create(
                        [Invitation(wave=wave, code_hash=h, created_at=made_at) for h in sorted(fresh)],
                        batch_size=BATCH,
                    )
            except IntegrityError:
                clashes += 1
                if clashes > 10:  # pragma: no cover - only if something else keeps failing
                    raise
                continue
            made.update(fresh)
            codes.extend(fresh.values())
    secrets.SystemRandom().shuffle(codes)
    return [format_code(code) for code in codes]


# --- taking the survey ------------------------------------------------------------------------------


def _require_open(wave: Wave) -> None:
    state = wave_state(wave)
    if state != "open":
        raise SurveyError(state)


def import_only(wave: Wave) -> bool:
    """Whether the wave has imported responses with bootstrap replicate weights. Answers collected on
    this site have none, and a wave's respondents must all have them or none (one design per wave),
    so such a wave cannot be answered here: it only takes imports."""
    return ImportBatch.objects.filter(wave=wave, replicates__gt=0, responses__isnull=False).exists()


def _started(wave: Wave, token: str) -> Response | None:
    return Response.objects.filter(wave=wave, token_hash=hash_code(token)).first()


def _create_response(wave: Wave, token: str, invitation_code: str | None, language: str) -> Response:
    with transaction.atomic():
        # The wave's row lock orders this with an import into the wave (which takes it too), so a
        # response never starts beside replicate weights imported at the same moment.
        Wave.objects.select_for_update().filter(pk=wave.pk).exists()
        if import_only(wave):
            raise SurveyError("import_only")
        if wave.sample == Wave.Sample.INVITED:
            if not normalize_code(invitation_code or ""):
                raise SurveyError("code_required")
            forms = invitation_hashes(invitation_code or "")
            claimed = Invitation.objects.filter(wave=wave, code_hash__in=forms, used=False).update(used=True)
            if not claimed:
                used = Invitation.objects.filter(wave=wave, code_hash__in=forms).exists()
                raise SurveyError("used_code" if used else "unknown_code")
        return Response.objects.create(
            wave=wave,
            token_hash=hash_code(token),
            language=language,
            started_on=timezone.localdate(),
            source=Response.Source.COLLECTED,
        )


def start_response(
    wave: Wave,
    *,
    invitation_code: str | None = None,
    language: str,
    request_key: uuid.UUID | None = None,
) -> tuple[Response, str]:
    """Start one anonymous response; returns it with its raw token (the respondent's resume code).

    An invited wave needs an unused invitation code of the wave: it is marked used (a flag, no date) by
    one conditional UPDATE, so two people sending the same code at once start one response between
    them. The response keeps no link to the code. ``request_key`` (the start form's own key) makes a
    form sent twice start one response. A wave with imported replicate weights is refused
    (``import_only``).
    """
    _require_open(wave)
    if language not in ("en", "fr"):
        raise ValueError(f"language {language!r}")
    if request_key is None:
        token = _random_code(TOKEN_LENGTH)
    else:
        token = _token_for_key(wave, request_key)
        existing = _started(wave, token)
        if existing is not None:
            return existing, token
    try:
        return _create_response(wave, token, invitation_code, language), token
    except (SurveyError, IntegrityError) as exc:
        # The same form sent twice at once: the other request started the response (and used the code).
        if request_key is not None:
            existing = _started(wave, token)
            if existing is not None:
                return existing, token
        if isinstance(exc, SurveyError):
            raise
    # The token is already another response's (by chance: a form's key is chosen by the client, but
    # the wave is part of the token): start with a random token instead.
    token = _random_code(TOKEN_LENGTH)
    return _create_response(wave, token, invitation_code, language), token


def find_response(wave: Wave, token: str | None) -> Response | None:
    """The collected response of this wave with this token (as typed: any case, with or without hyphens)."""
    if not token or len(normalize_code(token)) != TOKEN_LENGTH:
        return None
    return Response.objects.filter(
        wave=wave, token_hash=hash_code(token), source=Response.Source.COLLECTED
    ).first()


def _clean_page_answers(page: instrument.Page, answers: dict[str, Any]) -> dict[str, Any]:
    """The page's answers in stored form: codes (one, or several in the questionnaire's order);
    unanswered questions left out. Anything that is not an answer to this page is refused."""
    ids = {item.id for item in page.items}
    unknown = set(answers) - ids
    if unknown:
        raise ValueError(f"not on page {page.id}: {sorted(unknown)}")
    kept: dict[str, Any] = {}
    for item in page.items:
        value = answers.get(item.id)
        if value in (None, "", [], ()):
            continue
        if item.kind == instrument.Kind.MULTIPLE:
            chosen = set(value) if isinstance(value, list | tuple | set) else {value}
            kept[item.id] = [code for code, _label in item.choices if code in chosen]
            if len(kept[item.id]) != len(chosen):
                kept[item.id] = sorted(chosen)  # let validation name the unknown code
        else:
            kept[item.id] = value
    return kept


def save_page(response: Response, page_index: int, cleaned_answers: dict[str, Any]) -> Response:
    """Keep the answers to one page (0-based): they replace that page's earlier answers only, so
    earlier pages are never lost, and the response's ``page`` moves on to the next page to show."""
    pages = response.wave.questions.pages
    if not 0 <= page_index < len(pages):
        raise ValueError(f"page {page_index} of {len(pages)}")
    page = pages[page_index]
    answers = _clean_page_answers(page, cleaned_answers)
    errors = instrument.validate_answers(response.wave.questions, answers)
    if errors:
        raise ValidationError(errors)
    ids = {item.id for item in page.items}
    with transaction.atomic():
        current = Response.objects.select_for_update().select_related("wave").get(pk=response.pk)
        if current.status == Response.Status.SUBMITTED:
            raise SurveyError("submitted")
        _require_open(current.wave)
        merged = {key: value for key, value in current.answers.items() if key not in ids}
        merged.update(answers)
        current.answers = merged
        current.page = max(current.page, page_index + 1)
        current.save(update_fields=["answers", "page"])
    return current


def submit(response: Response) -> Response:
    """Submit a response: derive its province and communities (for domain estimates); it cannot change after."""
    with transaction.atomic():
        current = Response.objects.select_for_update().select_related("wave").get(pk=response.pk)
        if current.status == Response.Status.SUBMITTED:
            raise SurveyError("submitted")
        _require_open(current.wave)
        current.province, current.communities = instrument.derived_fields(current.answers)
        current.status = Response.Status.SUBMITTED
        current.submitted_on = timezone.localdate()
        current.page = len(current.wave.questions.pages)
        current.save(update_fields=["province", "communities", "status", "submitted_on", "page"])
    return current


def continue_number(response: Response) -> int:
    """The page (1-based) a respondent continues on: the first one not yet saved, or the last one."""
    total = len(response.wave.questions.pages)
    return min(response.page, total - 1) + 1


# --- reads for the organizers' pages ----------------------------------------------------------------


def _count(model: type, **filters: Any) -> Coalesce:
    rows = (
        model.objects.filter(wave=OuterRef("pk"), **filters)
        .order_by()
        .values("wave")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def waves_with_counts() -> QuerySet[Wave]:
    """Every wave, with its responses in progress, submitted and imported, and its invitations used and
    unused (one subquery each: never a join of responses with invitations)."""
    collected = Response.Source.COLLECTED
    return (
        Wave.objects.select_related("campaign", "place")
        .annotate(
            in_progress=_count(Response, source=collected, status=Response.Status.IN_PROGRESS),
            submitted=_count(Response, source=collected, status=Response.Status.SUBMITTED),
            imported=_count(Response, source=Response.Source.IMPORTED),
            invitations_used=_count(Invitation, used=True),
            invitations_unused=_count(Invitation, used=False),
        )
        .order_by("campaign__title_en", "campaign_id", "opens_at", "pk")
    )


def wave_with_counts(wave_id: int) -> Wave | None:
    return waves_with_counts().filter(pk=wave_id).first()
