"""A finished synthesis run written straight to the database, for the report's selectors, views, PDF and
browser tests (no engine, no embeddings: the figures are chosen so they can be worked out by hand).

The scenario (``build_scenario``), every voice in Ontario and English unless said otherwise:

* Theme A ("Belonging at the library" / "L’appartenance à la bibliothèque"): 30 self-identified voices.
  Women 0–11 (12), youth 12–14 (3), seniors 15–24 (10), First Nations (and so Indigenous) 20–29 (10).
  Published: 0, 1 and 2; the others accepted. Quotes listed: a withdrawn voice, an accepted voice, 1, 2,
  and a published voice of theme B; voice 0 is pinned. Plus a withdrawn voice (self-identified Black)
  whose membership is still there: it must count nowhere.
* Theme B (no curation; keyphrases "rent, housing, affordable" / "loyer, logement, abordable"): 30
  self-identified voices: women 0–24 (25), youth 0–14 (15), seniors 15–24 (10), Black and racialized
  10–29 (20); French 0–9; Ontario 0–19, Quebec 20–24, Nova Scotia 25–29. Plus one voice (Nova Scotia)
  with self-identification but no consent to statistics: it counts in sizes, not in the equity lens.
  Voice 29 is provisional (added since the run).
* Theme C (hidden; "Thème caché"): 10 published voices, not self-identified.
* In no theme: one "empty", one "far", and one "new" voice (not self-identified).

So 74 voices are analysed, 71 are in themes (10 in the hidden one), 60 self-identified. Every voice has
an author of its own, so people and voices are the same numbers, except that counts of people (the
equity lens, themes by province) leave out provisional voices: 59 self-identified people (theme A 30,
theme B 29), and theme B has 30 people of its own (b0–b28 and the voice without consent to statistics).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from belonging.core import identity
from belonging.core.models import Campaign
from belonging.themes.models import Curation, CurationAction, Membership, SynthesisRun, Theme
from belonging.voices.models import Prompt, SelfIdentification, Voice

SLUG = "strategy-for-belonging"
NAME_A_EN = "Belonging at the library"
NAME_A_FR = "L’appartenance à la bibliothèque"
NAME_B_EN = "rent, housing, affordable"
NAME_B_FR = "loyer, logement, abordable"
NAME_C_FR = "Thème caché"


def seed() -> None:
    """The campaign and its prompts, as the data migrations make them (also after a flush)."""
    from tests.voices.conftest import seed_voices

    seed_voices()


_counter = {"n": 0}


def make_voice(
    prompt: Prompt,
    *,
    status: str = "accepted",
    language: str = "en",
    province: str = "ON",
    communities: set[str] | None = None,
    consent_self_id: bool | None = None,
    text: str = "",
    email: str = "",
) -> Voice:
    """One voice (published, accepted or withdrawn), optionally self-identified with ``communities``.

    Each voice has an author of its own (``authorN@example.org``) unless ``email`` names one: voices
    with the same email are one person's."""
    _counter["n"] += 1
    n = _counter["n"]
    now = timezone.now()
    withdrawn = status == "withdrawn"
    identified = communities is not None
    email = email or f"author{n}@example.org"
    voice = Voice.objects.create(
        campaign_id=prompt.campaign_id,
        prompt=prompt,
        kind="thought",
        text="" if withdrawn else (text or f"Voice number {n}: the library is where I first felt at home here."),
        language=language,
        province=province,
        email="" if withdrawn else email,
        email_normalized="" if withdrawn else email.lower(),
        status=status,
        consent_publish=status == "published",
        consent_analysis=True,
        consent_self_id=identified if consent_self_id is None else consent_self_id,
        submitted_at=now - timedelta(days=3),
        published_at=now - timedelta(days=2) if status == "published" else None,
        withdrawn_at=now if withdrawn else None,
    )
    if identified:
        SelfIdentification.objects.create(voice=voice, communities=identity.encode_communities(communities))
    return voice


def make_run(campaign: Campaign, *, published: bool = False, **fields) -> SynthesisRun:
    now = timezone.now()
    values = {
        "campaign": campaign,
        "backend": "lexical",
        "backend_name": "lexical-tfidf",
        "status": SynthesisRun.Status.DONE,
        "progress": 1.0,
        "stage": "done",
        "finished_at": now,
        "published_at": now if published else None,
        "k": 4,
        "min_themes": 2,
        "max_themes": 30,
    }
    values.update(fields)
    return SynthesisRun.objects.create(**values)


def add_members(run: SynthesisRun, theme: Theme | None, voices, *, reason: str = "", provisional: bool = False) -> None:
    Membership.objects.bulk_create(
        Membership(run=run, voice=v, theme=theme, reason="" if theme else reason, provisional=provisional)
        for v in voices
    )


def _spec(index: int, groups: dict[str, range]) -> set[str]:
    return {code for code, indices in groups.items() if index in indices}


@dataclass
class Scenario:
    campaign: Campaign
    prompt: Prompt
    run: SynthesisRun
    theme_a: Theme
    theme_b: Theme
    theme_c: Theme
    a_voices: list[Voice]
    b_voices: list[Voice]
    c_voices: list[Voice]
    withdrawn: Voice
    unpublished_quote: Voice
    no_consent: Voice


def build_scenario(*, published: bool = True) -> Scenario:
    seed()
    campaign = Campaign.objects.get(slug=SLUG)
    prompt = Prompt.objects.filter(campaign=campaign).order_by("position", "id").first()
    run = make_run(campaign, published=published)
    C = identity.Community

    a_groups = {
        C.WOMEN: range(12),
        C.YOUTH: range(12, 15),
        C.SENIOR: range(15, 25),
        C.FIRST_NATIONS: range(20, 30),
        C.INDIGENOUS: range(20, 30),
    }
    a_voices = [
        make_voice(prompt, status="published" if i < 3 else "accepted", communities=_spec(i, a_groups))
        for i in range(30)
    ]
    withdrawn = make_voice(prompt, status="withdrawn", communities={C.BLACK, C.RACIALIZED})

    b_groups = {
        C.WOMEN: range(25),
        C.YOUTH: range(15),
        C.SENIOR: range(15, 25),
        C.BLACK: range(10, 30),
        C.RACIALIZED: range(10, 30),
    }

    def b_province(i: int) -> str:
        return "ON" if i < 20 else ("QC" if i < 25 else "NS")

    b_voices = [
        make_voice(
            prompt,
            status="published" if i == 5 else "accepted",
            language="fr" if i < 10 else "en",
            province=b_province(i),
            communities=_spec(i, b_groups),
            text="Le loyer augmente et nous devons quitter le quartier." if i < 10 else "",
        )
        for i in range(30)
    ]
    no_consent = make_voice(prompt, province="NS", communities={C.WOMEN}, consent_self_id=False)
    c_voices = [make_voice(prompt, status="published") for _ in range(10)]
    empty = make_voice(prompt, text="!!!")
    far = make_voice(prompt)
    new = make_voice(prompt)

    theme_a = Theme.objects.create(
        run=run,
        key="tlibrary001",
        size=31,
        position=0,
        keyphrases={"en": ["library", "tuesday", "welcome"]},
        quote_ids=[withdrawn.pk, a_voices[5].pk, a_voices[1].pk, a_voices[2].pk, b_voices[5].pk],
        languages={"en": 31},
    )
    theme_b = Theme.objects.create(
        run=run,
        key="thousing002",
        size=31,
        position=1,
        keyphrases={"en": NAME_B_EN.split(", "), "fr": NAME_B_FR.split(", ")},
        quote_ids=[b_voices[5].pk],
        languages={"en": 21, "fr": 10},
    )
    theme_c = Theme.objects.create(
        run=run, key="thidden003", size=10, position=2, keyphrases={"en": ["secret"]}, quote_ids=[c_voices[0].pk]
    )
    unpublished_quote = a_voices[5]
    add_members(run, theme_a, [*a_voices, withdrawn])
    add_members(run, theme_b, [*b_voices[:29], no_consent])
    add_members(run, theme_b, [b_voices[29]], provisional=True)
    add_members(run, theme_c, c_voices)
    add_members(run, None, [empty], reason="empty")
    add_members(run, None, [far], reason="far")
    add_members(run, None, [new], reason="new", provisional=True)

    Curation.objects.create(
        campaign=campaign, key=theme_a.key, name_en=NAME_A_EN, name_fr=NAME_A_FR, pinned_quote=a_voices[0]
    )
    Curation.objects.create(campaign=campaign, key=theme_c.key, name_fr=NAME_C_FR, hidden=True)
    CurationAction.objects.create(
        campaign=campaign, key=theme_c.key, action=CurationAction.Action.HIDE, detail={"hidden": True}
    )
    return Scenario(
        campaign=campaign,
        prompt=prompt,
        run=run,
        theme_a=theme_a,
        theme_b=theme_b,
        theme_c=theme_c,
        a_voices=a_voices,
        b_voices=b_voices,
        c_voices=c_voices,
        withdrawn=withdrawn,
        unpublished_quote=unpublished_quote,
        no_consent=no_consent,
    )
