"""Tests for belonging.lib.pii (pure Python, no Django needed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from belonging.lib.pii import Finding, find_pii, is_redaction_of, redact


def found(text: str) -> list[tuple[str, str]]:
    """(kind, text) of every finding, checking that each finding's offsets point at its text."""
    findings = find_pii(text)
    assert all(text[f.start : f.end] == f.text for f in findings)
    return [(f.kind, f.text) for f in findings]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # email
        ("You can reach me at jane.doe+voices@example.ca if you want.", [("email", "jane.doe+voices@example.ca")]),
        ("Écrivez-moi : m.tremblay@courriel.qc.ca.", [("email", "m.tremblay@courriel.qc.ca")]),
        # phone
        ("Call me at (613) 555-0199 after six.", [("phone", "(613) 555-0199")]),
        ("My cell is 613-555-0199, home 613.555.0198.", [("phone", "613-555-0199"), ("phone", "613.555.0198")]),
        ("Text 613 555 0199 or 6135550198", [("phone", "613 555 0199"), ("phone", "6135550198")]),
        ("Appelez-moi au +1 514 555-0123 poste 42.", [("phone", "+1 514 555-0123 poste 42")]),
        ("Office: 1-800-555-0100 ext. 12", [("phone", "1-800-555-0100 ext. 12")]),
        # postal code
        ("We moved to K1A 0B1 last spring.", [("postal_code", "K1A 0B1")]),
        ("Mon code postal est h2x1y4.", [("postal_code", "h2x1y4")]),
        ("Code: g1r-4p5", [("postal_code", "g1r-4p5")]),
        # SIN
        ("My SIN is 046 454 286, please help.", [("sin", "046 454 286")]),
        ("Mon NAS : 130-692-544", [("sin", "130-692-544")]),
        ("number 123456782 on the form", [("sin", "123456782")]),
        # address, English
        ("I grew up at 123 Main Street in Sudbury.", [("address", "123 Main Street")]),
        ("We rent at 12B Bank St. W near the canal.", [("address", "12B Bank St. W")]),
        ("Office at 1200-45 King Street West, Toronto", [("address", "1200-45 King Street West")]),
        ("Drop by 77 St. Laurent Blvd anytime.", [("address", "77 St. Laurent Blvd")]),
        ("The clinic at 5 Sir John A. Macdonald Parkway closed.", [("address", "5 Sir John A. Macdonald Parkway")]),
        ("She lives on 42 5th Avenue", [("address", "42 5th Avenue")]),
        # address, French
        ("J'habite au 123, rue Saint-Denis à Montréal.", [("address", "123, rue Saint-Denis")]),
        ("Le bureau est au 45 boulevard René-Lévesque Est.", [("address", "45 boulevard René-Lévesque Est")]),
        ("Chez nous, 8 avenue du Parc, c'est bruyant.", [("address", "8 avenue du Parc")]),
        (
            "La ferme du 1234 rang 4 et le 12 chemin de la Côte-Sainte-Catherine",
            [
                ("address", "1234 rang 4"),
                ("address", "12 chemin de la Côte-Sainte-Catherine"),
            ],
        ),
        ("au 3 rue de l'Église", [("address", "3 rue de l'Église")]),
        ("le 900 montée Saint-François", [("address", "900 montée Saint-François")]),
    ],
)
def test_finds_each_kind(text, expected):
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "In 1998 I moved to Canada and in 2019 I became a citizen.",
        "The rent went up to $1,250 a month after 25 years in the same place.",
        "We drove 400 km on Highway 401 to get there.",
        "Highway 401 and Route 132 are busy.",
        "I walked 5 miles down the road with my 3 kids on our street.",
        "Since 2015 The Main Street Project has helped newcomers.",
        "Mon numéro de dossier est 123 456 789.",  # fails the Luhn check
        "Le projet a coûté 2 500 000 $ en 2021.",
        "Call 012-555-0199 or 613-055-0199",  # area code and exchange cannot start with 0 or 1
        "Our group has 1,234,567 members and 123456789012 views.",
        "D1A 1A1 and W1A 1A1 are not Canadian postal codes.",
        "À 8 h, on est allés à la place des Arts.",
        "J'ai 3 rues à traverser.",
        "@handle and someone@localhost",
    ],
)
def test_ignores_lookalikes(text):
    assert found(text) == []


def test_mixed_story_in_order():
    text = (
        "Hi, I'm Sam from 77 Elgin Street, Ottawa ON K1P 1L4. Call 613-555-0199 or write sam@example.org. "
        "Mon NAS est 046 454 286."
    )
    assert found(text) == [
        ("address", "77 Elgin Street"),
        ("postal_code", "K1P 1L4"),
        ("phone", "613-555-0199"),
        ("email", "sam@example.org"),
        ("sin", "046 454 286"),
    ]


def test_overlaps_keep_email_then_the_longer_finding():
    assert found("6135550199@example.ca") == [("email", "6135550199@example.ca")]
    # "613-555-0199" is also 613 + a 7-digit local number; the phone with extension is kept whole.
    assert found("613-555-0199 poste 12") == [("phone", "613-555-0199 poste 12")]


def test_finding_is_a_frozen_value():
    finding = find_pii("K1A 0B1")[0]
    assert finding == Finding("postal_code", 0, 7, "K1A 0B1")
    with pytest.raises(AttributeError):
        finding.start = 1  # type: ignore[misc]


def test_redact_merges_overlapping_and_touching_spans():
    text = "Call 613-555-0199 or write sam@example.org today"
    assert redact(text, [], "[x]") == text
    assert redact(text, [(5, 17)], "[x]") == "Call [x] or write sam@example.org today"
    assert redact(text, [(27, 42), (5, 10), (8, 17)], "[x]") == "Call [x] or write [x] today"
    assert redact(text, [(0, 5), (5, 17)], "█") == "█ or write sam@example.org today"
    assert redact(text, [(3, 3), (40, 99)], "█") == "Call 613-555-0199 or write sam@example.o█"


def test_redact_with_findings():
    text = "Je suis au 45 boulevard René-Lévesque Est, appelez le 514-555-0123."
    spans = [(f.start, f.end) for f in find_pii(text)]
    assert redact(text, spans, "[retiré]") == "Je suis au [retiré], appelez le [retiré]."


def test_is_redaction_of_examples():
    original = "I'm Sam, call 613-555-0199. We love this neighbourhood."
    assert is_redaction_of(original, original, "[x]")
    assert is_redaction_of(original, "  " + original + "\n", "[x]")
    assert is_redaction_of(original, "I'm Sam, call  [x]  . We love this neighbourhood.", "[x]")
    assert is_redaction_of(original, "I'm Sam, call [x]. We love this neighbourhood.", "[x]")
    assert is_redaction_of(original, "I'm [x], call [x]. We love this neighbourhood.", "[x]")
    assert is_redaction_of(original, "[x]We love this neighbourhood.", "[x]")  # a whole sentence removed
    assert is_redaction_of(original, "[x]", "[x]")
    # Added, changed or reordered text is not a redaction.
    assert not is_redaction_of(original, "I'm Sam, call [x]. We hate this neighbourhood.", "[x]")
    assert not is_redaction_of(original, "I'm Sam, call [x]. We love this neighbourhood!", "[x]")
    assert not is_redaction_of(original, "We love this neighbourhood. [x] I'm Sam", "[x]")
    # Without any marker the text must be unchanged: a silent deletion is refused.
    assert not is_redaction_of(original, "I'm Sam. We love this neighbourhood.", "[x]")
    with pytest.raises(ValueError):
        is_redaction_of(original, original, "")


texts = st.text(alphabet="abc .,\nÉé’", max_size=40)


@st.composite
def text_and_spans(draw):
    text = draw(texts)
    bound = st.integers(0, len(text))
    spans = draw(st.lists(st.tuples(bound, bound).map(sorted).map(tuple), max_size=5))
    return text, spans


@given(text_and_spans(), st.sampled_from(["█", "[removed]", "[retiré]", "***"]))
def test_redact_is_always_a_redaction(case, marker):
    text, spans = case
    assert is_redaction_of(text, redact(text, spans, marker), marker)


@given(text_and_spans(), st.data())
def test_adding_a_word_is_never_a_redaction(case, data):
    text, spans = case
    redacted = redact(text, spans, "█")
    position = data.draw(st.integers(0, len(redacted)))
    tampered = redacted[:position] + "zebra" + redacted[position:]  # letters the text cannot contain
    assert not is_redaction_of(text, tampered, "█")
