"""Public aggregates of voices: exact published counts, and community counts with small cells suppressed."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone, translation
from django.utils.translation import gettext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from belonging.core import identity
from belonging.lib.suppression import is_sensitive
from belonging.voices import selectors
from belonging.voices.models import Prompt, SelfIdentification, Voice
from tests.factories import VoiceFactory

pytestmark = pytest.mark.django_db

NUMBERS = "/en/voices/numbers/"


def add_self_identified(prompt: Prompt, communities: set[str], n: int, status: str = "submitted",
                        consent: bool = True, emails: list[str] | None = None) -> None:
    """``n`` voices answering ``prompt`` whose authors belong to ``communities`` (bulk, for speed).

    Each voice has its own author unless ``emails`` (one per voice) says who wrote it.
    """
    if n == 0:
        return
    now = timezone.now()
    if emails is None:
        start = Voice.objects.count()
        emails = [f"author{start + i}@example.org" for i in range(n)]
    voices = Voice.objects.bulk_create(
        Voice(
            campaign_id=prompt.campaign_id,
            prompt=prompt,
            kind="thought",
            text="" if status == "withdrawn" else "A voice.",
            language="en",
            province="ON",
            email="" if status == "withdrawn" else email,
            email_normalized="" if status == "withdrawn" else email,
            status=status,
            consent_self_id=consent,
            consent_publish=status == "published",
            submitted_at=now,
            published_at=now if status == "published" else None,
            withdrawn_at=now if status == "withdrawn" else None,
        )
        for email in emails
    )
    if not voices[0].pk:  # backends that do not return ids from bulk_create
        voices = list(Voice.objects.order_by("-id")[:n])
    SelfIdentification.objects.bulk_create(
        SelfIdentification(voice=v, communities=identity.encode_communities(communities)) for v in voices
    )


def community_rows(figures) -> dict[str, tuple[int | None, int | None]]:
    """Community label → (people, their voices), None where suppressed."""
    return {str(label): (people, voices) for label, people, voices in figures.communities}


LABELS = dict(identity.Community.choices)


def label(code: str) -> str:
    return str(LABELS[code])


# --- published counts -------------------------------------------------------------------------------


def test_published_voices_by_province_prompt_and_language(prompts):
    needs, story = prompts["needs-to-have"], prompts["story-of-belonging"]
    VoiceFactory.create_batch(3, prompt=needs, published=True, province="NS", language="en")
    VoiceFactory.create_batch(2, prompt=story, published=True, province="QC", language="fr")
    VoiceFactory(prompt=story, published=True, province="YT", language="en")
    # Not published: not counted.
    VoiceFactory(prompt=story, submitted=True, province="YT", language="fr")
    VoiceFactory(prompt=story, status="accepted", consent_publish=False, province="YT")
    figures = selectors.aggregates()
    assert figures.published == 6
    by_province = {code: n for code, _, n in figures.by_province}
    assert len(by_province) == 13
    assert (by_province["NS"], by_province["QC"], by_province["YT"], by_province["ON"]) == (3, 2, 1, 0)
    assert {p.slug: n for p, n in figures.by_prompt} == {
        "needs-to-have": 3, "who-needs-to-be-part": 0, "story-of-belonging": 3,
    }
    assert [n for _, n in figures.by_language] == [4, 2]

    html = Client().get(NUMBERS).content.decode()
    assert re.search(r"<th scope=\"row\">Nova Scotia</th><td class=\"num\">3</td>", html)
    assert re.search(r"<th scope=\"row\">Yukon</th><td class=\"num\">1</td>", html)
    assert "6 voices are published." in html


def test_aggregates_are_cached_for_a_minute(prompts, django_assert_num_queries):
    VoiceFactory(prompt=prompts["needs-to-have"], published=True)
    first = selectors.aggregates()
    VoiceFactory(prompt=prompts["needs-to-have"], published=True)
    with django_assert_num_queries(0):
        again = selectors.aggregates()
    assert again.published == first.published == 1
    assert selectors.AGGREGATES_CACHE_SECONDS == 60


# --- community table -------------------------------------------------------------------------------------


def test_a_community_of_three_people_is_suppressed(client, prompts):
    needs = prompts["needs-to-have"]
    add_self_identified(needs, {"metis", "indigenous"}, 3)
    add_self_identified(needs, {"women"}, 30)
    add_self_identified(needs, set(), 15)
    figures = selectors.aggregates()
    rows = community_rows(figures)
    assert rows[label("metis")] == (None, None)
    assert rows[label("indigenous")] == (None, None)
    assert rows[label("women")] == (30, 30)
    assert rows[label("senior")] == (0, 0)
    assert (figures.self_identified_people, figures.self_identified_voices) == (48, 48)

    html = client.get(NUMBERS).content.decode()
    table = html[html.index('id="by-community"'):]
    metis = re.search(r'<th scope="row">Métis</th>(.*?)</tr>', table).group(1)
    assert metis.count(">suppressed<") == 2 and ">3<" not in metis
    assert re.search(r'<th scope="row">Women</th><td class="num">30</td><td class="num">30</td>', table)
    for cell in re.findall(r'<td class="num">(\d+)</td>', table):
        assert not is_sensitive(int(cell)), f"a published community cell is {cell}"


def test_people_are_counted_once_with_their_latest_answers(prompts):
    needs, story = prompts["needs-to-have"], prompts["story-of-belonging"]
    # 12 people who each shared two voices; their latest answers say "youth", not "women".
    add_self_identified(needs, {"women"}, 12, emails=[f"p{i}@example.org" for i in range(12)])
    add_self_identified(story, {"youth"}, 12, emails=[f"p{i}@example.org" for i in range(12)])
    add_self_identified(story, set(), 20)
    figures = selectors.aggregates()
    rows = community_rows(figures)
    assert (figures.self_identified_people, figures.self_identified_voices) == (32, 44)
    assert rows[label("youth")] == (12, 12)
    assert rows[label("women")][0] == 0


def test_suppressed_reads_in_french(client, prompts):
    add_self_identified(prompts["needs-to-have"], {"youth"}, 2)
    add_self_identified(prompts["needs-to-have"], set(), 20)
    html = client.get("/fr/voices/numbers/").content.decode()
    with translation.override("fr"):
        word = gettext("suppressed")
    assert word != "suppressed", "no French translation for “suppressed”"
    assert word in html


def test_a_small_complement_hides_the_count_it_would_reveal(prompts):
    # 12 women and 3 other people: showing 12 beside a base of 15 would reveal the 3.
    add_self_identified(prompts["needs-to-have"], {"women"}, 12)
    add_self_identified(prompts["needs-to-have"], set(), 3)
    figures = selectors.aggregates()
    assert figures.self_identified_people == 15
    assert community_rows(figures)[label("women")] == (None, None)


def test_a_small_base_hides_everything(prompts):
    add_self_identified(prompts["needs-to-have"], {"women"}, 4)
    add_self_identified(prompts["needs-to-have"], set(), 3)
    figures = selectors.aggregates()
    assert (figures.self_identified_people, figures.self_identified_voices) == (None, None)
    assert all(people is None and voices is None for _, people, voices in figures.communities)


def test_one_hidden_indigenous_group_is_never_alone(prompts):
    needs = prompts["needs-to-have"]
    add_self_identified(needs, {"indigenous", "first_nations"}, 20)
    add_self_identified(needs, {"indigenous", "inuit"}, 15)
    add_self_identified(needs, {"indigenous", "metis"}, 4)
    add_self_identified(needs, set(), 40)
    rows = community_rows(selectors.aggregates())
    assert rows[label("indigenous")][0] == 39
    assert rows[label("metis")][0] is None
    # Indigenous − First Nations − Inuit would give the Métis count: another group is hidden too.
    assert rows[label("inuit")][0] is None
    assert rows[label("first_nations")][0] == 20


def test_only_received_voices_with_consent_count(prompts):
    needs = prompts["needs-to-have"]
    add_self_identified(needs, {"women"}, 10, status="submitted")
    add_self_identified(needs, {"women"}, 10, status="published")
    add_self_identified(needs, set(), 10, status="accepted")
    add_self_identified(needs, {"women"}, 5, status="rejected")
    add_self_identified(needs, {"women"}, 5, status="pending")
    add_self_identified(needs, {"women"}, 5, status="withdrawn")
    add_self_identified(needs, {"women"}, 5, status="submitted", consent=False)
    figures = selectors.aggregates()
    assert community_rows(figures)[label("women")] == (20, 20)
    assert figures.self_identified_people == 30


# --- property: nothing below 10 can be read or worked out ---------------------------------------------------

COMBOS = [
    frozenset(),
    frozenset({"women"}),
    frozenset({"women", "youth"}),
    frozenset({"youth"}),
    frozenset({"indigenous", "metis"}),
    frozenset({"indigenous", "first_nations"}),
    frozenset({"indigenous", "first_nations", "inuit", "women"}),
]
GROUPS = {"indigenous": ["first_nations", "metis", "inuit"]}
# One entry per kind of person: how many such people, and how many voices each shared.
PEOPLE = st.lists(st.tuples(st.integers(0, 18), st.integers(1, 3)), min_size=len(COMBOS), max_size=len(COMBOS))


def check_safe(shown: dict[str, int | None], true: dict[str, int], base_shown: int | None, base: int) -> None:
    """No shown count, nor its complement in the shown base, is 1 to 9; no hidden count stands alone."""
    assert base_shown in (None, base)
    if base_shown is not None:
        assert not is_sensitive(base_shown)
    for code, value in shown.items():
        assert value in (None, true[code]), code
        if value is None:
            continue
        assert not is_sensitive(value), (code, value)
        if base_shown is not None:
            assert not is_sensitive(base_shown - value), ("complement", code, base_shown, value)
    for parent, children in GROUPS.items():
        if shown[parent] is not None:
            hidden = [c for c in children if shown[c] is None and true[c] > 0]
            assert len(hidden) != 1, (parent, hidden, shown)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=PEOPLE)
def test_no_published_community_count_reveals_fewer_than_ten_people(prompts, kinds):
    SelfIdentification.objects.all().delete()
    Voice.objects.all().delete()
    prompt = prompts["needs-to-have"]
    people = {c: 0 for c in identity.Community.values}
    voices = dict(people)
    base_people = base_voices = 0
    for k, (combo, (n, each)) in enumerate(zip(COMBOS, kinds, strict=True)):
        emails = [f"k{k}p{i}@example.org" for i in range(n)] * each
        add_self_identified(prompt, set(combo), len(emails), emails=emails)
        base_people += n
        base_voices += n * each
        for code in combo:
            people[code] += n
            voices[code] += n * each
    result = selectors._community_table()
    by_code = dict(zip(identity.Community.values, result["communities"], strict=True))
    assert [str(label) for label, _, _ in result["communities"]] == [str(n) for _, n in identity.Community.choices]
    check_safe({c: row[1] for c, row in by_code.items()}, people, result["self_identified_people"], base_people)
    check_safe({c: row[2] for c, row in by_code.items()}, voices, result["self_identified_voices"], base_voices)
    # A community's voices are shown only when its people are.
    assert all(row[2] is None for row in by_code.values() if row[1] is None)
