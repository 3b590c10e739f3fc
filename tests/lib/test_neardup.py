"""Tests for belonging.lib.neardup (pure Python, no Django needed)."""

from __future__ import annotations

import csv
import itertools
import random
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from belonging.lib.neardup import NEAR, distance, fingerprint, groups, near

COMMENTS_CSV = Path("/work/shared/data/polis/canadian-electoral-reform/comments.csv")

STORY_EN = (
    "Our neighbourhood association started a community garden behind the public library three years ago. "
    "At first only a handful of families came on Saturday mornings, but now newcomers from Syria, the "
    "Philippines and Nigeria share plots with people who have lived on our street for decades. We trade "
    "seeds, recipes and stories, and the kids run between the rows of beans and squash while their parents "
    "argue happily about compost. Last summer an older neighbour who had not left her apartment much since "
    "her husband died started coming every week to teach us how to grow tomatoes from seed. She says the "
    "garden gave her a reason to get up in the morning. I never felt that I belonged in this city until I "
    "started spending my weekends there, and now I know the names of half the people on my block and they "
    "know mine."
)
STORY_FR = (
    "Quand je suis arrivée à Sherbrooke il y a cinq ans, je ne connaissais personne et je parlais à peine "
    "français. C'est la bibliothèque du quartier qui a tout changé pour moi. Une bénévole m'a proposé de "
    "participer à un café-rencontre le mardi soir, où des gens d'ici et d'ailleurs pratiquent la langue "
    "autour d'un thé. J'y ai rencontré ma meilleure amie, une retraitée née à Magog qui m'a appris les "
    "expressions québécoises et la recette de sa tourtière. Aujourd'hui, c'est moi qui accueille les "
    "nouveaux arrivants et qui leur explique comment fonctionne l'autobus, la clinique et l'école. Je me "
    "sens chez moi parce que quelqu'un a pris le temps de m'inviter, et j'essaie de faire la même chose "
    "pour les autres chaque semaine, même quand il fait moins trente dehors."
)


def real_comments() -> list[str]:
    """Distinct comments from a public Polis conversation on Canadian electoral reform."""
    with COMMENTS_CSV.open(newline="", encoding="utf-8") as f:
        bodies = [row["comment-body"].strip() for row in csv.DictReader(f)]
    return list(dict.fromkeys(body for body in bodies if len(body.split()) >= 8))


def test_fingerprint_is_a_stable_signed_64_bit_int():
    fp = fingerprint(STORY_EN)
    assert -(2**63) <= fp < 2**63
    assert fp == fingerprint(STORY_EN)
    assert fingerprint("") == fingerprint("  ...  ") == 0
    assert fingerprint("Bonjour") != fingerprint("Hello")  # fewer than 3 words: single words count
    values = [fingerprint(c) for c in real_comments()[:60]]
    assert any(v < 0 for v in values) and any(v > 0 for v in values)


def test_case_accents_and_punctuation_do_not_count():
    assert fingerprint(STORY_FR) == fingerprint(STORY_FR.upper())
    assert fingerprint(STORY_FR) == fingerprint(STORY_FR.replace("é", "e").replace(",", "").replace(".", "!"))
    assert fingerprint("L’école, c’est ça!") == fingerprint("l'ecole c'est ca")


def test_small_edits_are_near():
    edits_en = [
        STORY_EN.replace("three years", "four years"),
        STORY_EN.replace("tomatoes", "peppers"),
        STORY_EN.replace("half the people", "most of the people"),
        STORY_EN + " Thank you!",
    ]
    edits_fr = [
        STORY_FR.replace("cinq ans", "six ans"),
        STORY_FR.replace("meilleure amie", "grande amie"),
        STORY_FR.replace("Sherbrooke", "Rimouski"),
    ]
    for story, edits in ((STORY_EN, edits_en), (STORY_FR, edits_fr)):
        for edited in edits:
            assert edited != story
            assert near(fingerprint(story), fingerprint(edited)), distance(fingerprint(story), fingerprint(edited))


def test_replacing_any_one_word_of_a_story_is_near():
    for story in (STORY_EN, STORY_FR):
        words, original = story.split(), fingerprint(story)
        for i in range(len(words)):
            edited = " ".join(words[:i] + ["quelquechose"] + words[i + 1 :])
            assert near(original, fingerprint(edited)), (i, distance(original, fingerprint(edited)))


def test_unrelated_real_texts_are_not_near():
    comments = real_comments()
    assert len(comments) >= 100
    items = [(c, fingerprint(c)) for c in comments] + [
        (STORY_EN, fingerprint(STORY_EN)),
        (STORY_FR, fingerprint(STORY_FR)),
    ]
    # The only near pairs among 150 real comments are genuine rewordings of the same comment.
    assert [[text[:40] for text in group] for group in groups(items)] == [
        ["Many of the comments here are difficult ", "I think many of the comments here are di"],
        ["I think that a good consultation tool/pr", "I think that a good consultation tool, b"],
        ["Electoral reform should be decided by a ", "I think electoral reform should be decid"],
    ]
    distances = [distance(a, b) for (_, a), (_, b) in itertools.combinations(items, 2)]
    assert sorted(distances)[3] > NEAR
    assert sum(distances) / len(distances) > 28  # unrelated fingerprints differ in about half their bits


def test_distance_and_near():
    assert distance(0, 0) == 0
    assert distance(-1, 0) == 64
    assert distance(-1, 2**64 - 1) == 0  # signed and unsigned forms of the same bits
    assert distance(0b1011, 0b0001) == 2
    assert distance(-(2**63), 0) == 1
    assert near(0b111111, 0)
    assert not near(0b1111111, 0)
    assert near(0b1111111, 0, threshold=7)


def test_groups_mixes_duplicates_and_distinct_texts():
    comments = real_comments()
    items = [
        ("a", STORY_EN),
        ("b", comments[0]),
        ("c", STORY_FR),
        ("d", STORY_EN.replace("tomatoes", "peppers")),
        ("e", comments[1]),
        ("f", STORY_FR.upper()),
        ("g", STORY_EN.replace("three years", "four years")),
        ("h", comments[2]),
        ("i", comments[1]),
    ]
    result = groups([(key, fingerprint(text)) for key, text in items])
    assert result == [["a", "d", "g"], ["c", "f"], ["e", "i"]]


def test_groups_are_transitive():
    # x and z are 12 bits apart, but each is within 6 bits of y.
    items = [("x", 0), ("y", 0b111111 << 3), ("z", 0b111111111111 << 3), ("w", -1)]
    assert groups(items) == [["x", "y", "z"]]
    assert groups(items, threshold=0) == []
    assert groups([("p", 5), ("q", 5)], threshold=0) == [["p", "q"]]
    assert groups([]) == []


def brute_force_groups(items, threshold):
    """The O(n²) reference: connected components of the 'near' graph, same ordering rules."""
    parent = list(range(len(items)))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in itertools.combinations(range(len(items)), 2):
        if distance(items[i][1], items[j][1]) <= threshold:
            parent[find(j)] = find(i)
    components: dict[int, list] = {}
    for i, (key, _) in enumerate(items):
        components.setdefault(find(i), []).append(key)
    return sorted((c for c in components.values() if len(c) > 1), key=lambda c: [k for k, _ in items].index(c[0]))


@st.composite
def clustered_fingerprints(draw):
    """Fingerprints derived from a few random bases by flipping a few bits, so that many are near."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    bases = [rng.getrandbits(64) - 2**63 for _ in range(draw(st.integers(1, 5)))]
    items = []
    for key in range(draw(st.integers(0, 40))):
        fp = rng.choice(bases)
        for bit in rng.sample(range(64), rng.randint(0, 8)):
            fp ^= 1 << bit
        items.append((key, (fp + 2**63) % 2**64 - 2**63))
    return items


@given(clustered_fingerprints(), st.integers(0, 10))
def test_groups_matches_brute_force(items, threshold):
    assert groups(items, threshold) == brute_force_groups(items, threshold)


def test_groups_scales_to_many_fingerprints():
    rng = random.Random(7)
    items = [(i, rng.getrandbits(64) - 2**63) for i in range(20_000)]
    items += [(20_000 + i, items[i][1] ^ (1 << 5)) for i in range(0, 20_000, 1000)]
    assert groups(items) == [[i, 20_000 + i] for i in range(0, 20_000, 1000)]
