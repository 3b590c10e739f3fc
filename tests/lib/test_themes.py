"""The theme engine: unit behaviour on small inputs, and quality on real labelled text.

The labelled sets are in /work/shared/data/labelled (banking77: 10,003 English banking questions
in 77 intents; SIB-200: 800 sentences in 7 topics, each in English and in French). Their e5
embeddings are computed once and kept in var/cache/themes-embeddings (about three minutes on two
cores the first time).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import (
    adjusted_mutual_info_score,
    adjusted_rand_score,
    homogeneity_score,
    normalized_mutual_info_score,
)

from belonging.lib import themes as T

LABELLED = Path("/work/shared/data/labelled")
CACHE = Path(__file__).resolve().parents[2] / "var" / "cache" / "themes-embeddings"

TOPICS = {
    "transit": [
        "The bus to the community centre stops running at seven, so seniors cannot come to evening events.",
        "We need more buses on Sunday; without them families from the east end cannot reach the park.",
        "Le métro ferme trop tôt et les travailleurs de nuit n'ont aucun moyen de rentrer chez eux.",
        "Il faudrait plus d'autobus le soir pour que les aînés puissent sortir de chez eux.",
        "Public transit is too expensive for students and newcomers who need it most.",
        "Le transport en commun coûte trop cher pour les étudiants et les nouveaux arrivants.",
        "Bus shelters with benches and lights would make waiting for the bus safer at night.",
        "Des abribus avec des bancs et de l'éclairage rendraient l'attente de l'autobus plus sûre le soir.",
    ],
    "food": [
        "Our community garden brings neighbours together every Saturday to grow vegetables.",
        "Le jardin communautaire réunit les voisins chaque samedi pour cultiver des légumes.",
        "Potluck dinners at the church hall are where I met most of my friends in town.",
        "Les repas partagés au sous-sol de l'église m'ont permis de rencontrer mes amis.",
        "The food bank should be open on weekends so working parents can go.",
        "La banque alimentaire devrait ouvrir la fin de semaine pour les parents qui travaillent.",
        "Cooking classes with recipes from many cultures would help newcomers feel at home.",
        "Des cours de cuisine avec des recettes de plusieurs cultures aideraient les nouveaux arrivants.",
    ],
    "hockey": [
        "The hockey rink is the heart of our small town in winter.",
        "L'aréna de hockey est le cœur de notre petit village l'hiver.",
        "Hockey tournaments bring families from neighbouring towns to cheer in the stands.",
        "Les tournois de hockey attirent les familles des villages voisins dans les gradins.",
        "Outdoor skating on the pond brings every generation together on the ice.",
        "Le patinage sur l'étang réunit toutes les générations sur la glace.",
        "Our hockey team practises on the arena ice before every game.",
        "Notre équipe de hockey s'entraîne sur la glace de l'aréna avant chaque match.",
    ],
}


def small_corpus() -> tuple[list[T.Item], list[str]]:
    items, gold = [], []
    for topic, texts in TOPICS.items():
        for i, text in enumerate(texts):
            items.append(T.Item(f"{topic}-{i}", text, "fr" if i % 2 else "en"))
            gold.append(topic)
    return items, gold


@pytest.fixture(scope="module")
def e5() -> T.Embedder:
    return T.get_embedder("e5")


@pytest.fixture(scope="module")
def small(e5):
    items, gold = small_corpus()
    return items, gold, e5.embed([i.text for i in items])


SMALL_CONFIG = T.Config(
    min_themes=2, max_themes=6, min_theme_size=3, neighbours=5, min_phrase_voices=2, min_language_voices=3
)


# --- embeddings ---------------------------------------------------------------------------------------


def test_e5_embeds_english_and_french_in_one_space(e5):
    vectors = e5.embed(
        [
            "The hockey rink is the heart of our town.",
            "L'aréna est le cœur de notre village.",
            "Bus fares are too high.",
        ]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_lexical_backend_is_stateless_and_normalized():
    a = T.get_embedder("lexical").embed(["Le réseau de transport", "le reseau de transport", "hockey rink"])
    b = T.get_embedder("lexical").embed(["Le réseau de transport"])
    assert np.allclose(a[0], b[0])
    assert a[0] @ a[1] == pytest.approx(1.0, abs=1e-5)  # accents and case folded
    assert abs(a[0] @ a[2]) < 0.5
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_unknown_backend_and_missing_model_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown embedding backend"):
        T.get_embedder("word2vec")
    with pytest.raises(ValueError, match="needs a model"):
        T.get_embedder("sentence-transformers")


def test_sentence_transformers_backend_says_what_it_needs():
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="pip install sentence-transformers"):
            T.get_embedder("sentence-transformers", model="/nonexistent/model")
    else:  # installed: a model that is not on disk is refused, nothing is downloaded
        with pytest.raises(Exception):  # noqa: B017 - the library's own error type varies by version
            T.get_embedder("sentence-transformers", model="/nonexistent/model")


def test_vectors_round_trip_through_bytes():
    v = np.array([0.25, -1.5, 3.0], dtype=np.float32)
    assert np.array_equal(T.from_bytes(T.to_bytes(v)), v)


def test_cached_embed_computes_once(tmp_path):
    calls = []

    class Counting:
        name, dim = "counting", 2

        def embed(self, texts):
            calls.append(len(texts))
            return np.ones((len(texts), 2), dtype=np.float32)

    first = T.cached_embed(Counting(), ["a", "b", "c"], tmp_path, batch=2)
    second = T.cached_embed(Counting(), ["a", "b", "c"], tmp_path)
    assert calls == [2, 1] and np.array_equal(first, second)
    T.cached_embed(Counting(), ["a", "b", "d"], tmp_path)
    assert calls == [2, 1, 3]


def test_config_rejects_impossible_bounds():
    with pytest.raises(ValueError):
        T.Config(min_themes=5, max_themes=4)
    with pytest.raises(ValueError):
        T.Config(min_theme_size=0)


# --- synthesis on a small bilingual corpus -----------------------------------------------------------------


def test_finds_the_topics_across_languages(small):
    items, gold, vectors = small
    result = T.synthesize(items, vectors, SMALL_CONFIG)
    predicted = [result.assignment[i.id] for i in items]
    assert 3 <= len(result.themes) <= 4
    assert homogeneity_score(gold, predicted) == pytest.approx(1.0)  # no theme mixes topics
    assert all(len({p for g, p in zip(gold, predicted) if g == topic}) <= 2 for topic in TOPICS)
    assert result.coverage.total == 24 and result.coverage.in_themes == 24 and result.coverage.share == 1.0
    for theme in result.themes:
        assert set(theme.languages) == {"en", "fr"}
        assert set(theme.keyphrases) == {lang for lang, n in theme.languages.items() if n >= 3}
        assert all(theme.keyphrases.values())
        assert set(theme.quote_ids) <= set(theme.member_ids) and len(set(theme.quote_ids)) == len(theme.quote_ids)
    hockey = next(t for t in result.themes if "hockey-0" in t.member_ids)
    assert {"hockey", "arena", "ice"} & set(hockey.keyphrases["en"])
    assert {"hockey", "arena", "glace"} & set(hockey.keyphrases["fr"])


def test_keyphrases_never_come_from_one_voice_or_a_lone_language():
    hockey = TOPICS["hockey"]
    english = [t for i, t in enumerate(hockey) if i % 2 == 0] + [
        "Hockey night at the arena is the best evening of the week.",
        "The arena hosts hockey for every age group all winter.",
    ]
    items = [T.Item(f"en-{i}", text, "en") for i, text in enumerate(english)]
    items.append(T.Item("fr-lone", "Mon voisin Jean Tremblay au 12 rue Gilford joue au hockey.", "fr"))
    items.append(T.Item("en-name", "Coach Gagnon at Gilford arena taught my son hockey.", "en"))
    theme = T.Theme("t", [i.id for i in items], np.zeros(3, np.float32), {}, [], {"en": 7, "fr": 1})
    other = T.Theme("u", [], np.zeros(3, np.float32), {}, [], {})
    T.label_themes([theme, other], items)
    assert set(theme.keyphrases) == {"en"}  # one French voice gets no French keyphrases
    assert "hockey" in theme.keyphrases["en"] and "arena" in theme.keyphrases["en"]
    assert not {"gagnon", "coach", "gilford", "son"} & set(theme.keyphrases["en"])  # used by one voice
    phrases = T.keyphrases({"a": ["rare word here", "common thing", "common thing again"]}, min_voices=2)
    assert phrases == {"a": ["common"]}


def test_is_deterministic_for_a_seed(small):
    items, _, vectors = small
    a = T.synthesize(items, vectors, SMALL_CONFIG)
    b = T.synthesize(items, vectors, SMALL_CONFIG)
    assert a.assignment == b.assignment
    assert [t.id for t in a.themes] == [t.id for t in b.themes]
    assert [t.quote_ids for t in a.themes] == [t.quote_ids for t in b.themes]


def test_empty_texts_are_excluded_with_a_reason(small):
    items, _, vectors = small
    extra = [T.Item("blank", "   ", "en"), T.Item("dots", "...", "fr")]
    result = T.synthesize(items + extra, np.vstack([vectors, vectors[:2]]), SMALL_CONFIG)
    assert result.assignment["blank"] is None and result.reasons == {"blank": T.EMPTY, "dots": T.EMPTY}
    assert result.coverage.total == 26 and result.coverage.in_themes == 24
    assert result.coverage.excluded == {T.EMPTY: 2, T.FAR: 0, T.SMALL: 0}


def test_a_similarity_floor_leaves_outliers_out_and_says_why(small):
    items, _, vectors = small
    config = T.Config(min_themes=2, max_themes=6, min_theme_size=3, neighbours=5, similarity_floor=0.55)
    result = T.synthesize(items, vectors, config)
    X = T.apply_offsets(vectors, [i.language for i in items], result.offsets)
    far = [i for i in items if result.assignment[i.id] is None]
    assert far and all(result.reasons[i.id] in (T.FAR, T.SMALL) for i in far)
    centres = {t.id: t.centroid for t in result.themes}
    for row, item in enumerate(items):
        if result.assignment[item.id] is not None:
            assert X[row] @ centres[result.assignment[item.id]] >= 0.55 - 1e-6
    assert result.coverage.in_themes + sum(result.coverage.excluded.values()) == result.coverage.total == 24
    assert result.coverage.excluded[T.FAR] + result.coverage.excluded[T.SMALL] == len(far)


def test_theme_bounds_are_respected(small):
    items, _, vectors = small
    result = T.synthesize(items, vectors, T.Config(min_themes=1, max_themes=2, min_theme_size=3, neighbours=5))
    assert 1 <= len(result.themes) <= 2
    assert result.coverage.in_themes == 24  # the dissolved theme's voices joined the nearest one


def test_ids_are_stable_across_runs_and_new_themes_get_new_ids(small, e5):
    items, _, vectors = small
    first = T.synthesize(items, vectors, SMALL_CONFIG)
    anchors = [T.Anchor(t.id, t.centroid, frozenset(t.member_ids)) for t in first.themes]
    music = [
        T.Item("music-0", "The folk music festival downtown gets everyone dancing together.", "en"),
        T.Item("music-1", "Le festival de musique folk au centre-ville fait danser tout le monde.", "fr"),
        T.Item("music-2", "Our choir sings in three languages and welcomes every voice.", "en"),
        T.Item("music-3", "Notre chorale chante en trois langues et accueille toutes les voix.", "fr"),
    ]
    later = items[1:] + music  # one voice withdrawn, four new ones
    vectors2 = np.vstack([vectors[1:], e5.embed([m.text for m in music])])
    second = T.synthesize(later, vectors2, SMALL_CONFIG, previous=anchors)
    old_ids = {t.id for t in first.themes}
    for old in first.themes:
        kept = set(old.member_ids) - {items[0].id}
        best = max(second.themes, key=lambda t: len(kept & set(t.member_ids)))
        if len(kept & set(best.member_ids)) / len(kept | set(best.member_ids)) >= 0.5:
            assert best.id == old.id and best.matched
    new = [t for t in second.themes if t.id not in old_ids]
    assert new and all(not t.matched for t in new)
    assert any(len({m.id for m in music} & set(t.member_ids)) >= 3 for t in new)
    assert len({t.id for t in second.themes}) == len(second.themes)


def test_new_items_are_assigned_to_the_nearest_theme_above_the_floor(small, e5):
    items, _, vectors = small
    result = T.synthesize(items, vectors, SMALL_CONFIG)
    anchors = [T.Anchor(t.id, t.centroid) for t in result.themes]
    texts = [
        "Le hockey à l'aréna réunit tout notre village l'hiver.",
        "Quarterly tax remittance schedules for corporate payroll deductions.",
    ]
    assigned = T.assign(e5.embed(texts), ["fr", "en"], anchors, result.offsets, floor=0.25)
    assert assigned[0][0] == result.assignment["hockey-0"] and assigned[0][1] >= 0.25
    assert assigned[1][0] is None
    assert T.assign(e5.embed(texts), ["fr", "en"], [], result.offsets) == [(None, 0.0), (None, 0.0)]


def test_split_and_describe_for_curation(small):
    items, _, vectors = small
    result = T.synthesize(items, vectors, SMALL_CONFIG)
    both = [i for i in items if i.id.startswith(("food", "hockey"))]
    rows = [items.index(i) for i in both]
    merged = T.describe(both, vectors[rows], result.offsets, SMALL_CONFIG, theme_id_="merged")
    assert merged.id == "merged" and merged.size == 16 and set(merged.quote_ids) <= set(merged.member_ids)
    parts = T.split(both, vectors[rows], result.offsets, parts=2, config=SMALL_CONFIG)
    assert sorted(p.size for p in parts) == [8, 8]
    assert {frozenset(i[:4] for i in p.member_ids) for p in parts} == {frozenset({"food"}), frozenset({"hock"})}
    T.label_themes(parts, both, min_voices=2, min_language_voices=3)
    hockey = next(p for p in parts if "hockey-0" in p.member_ids)
    assert "hockey" in hockey.keyphrases["en"] and "hockey" in hockey.keyphrases["fr"]
    with pytest.raises(ValueError):
        T.split(both[:1], vectors[rows[:1]], result.offsets, parts=2)


def test_inputs_are_checked(small):
    items, _, vectors = small
    with pytest.raises(ValueError, match="One embedding per item"):
        T.synthesize(items, vectors[:-1])
    with pytest.raises(ValueError, match="unique"):
        T.synthesize(items[:2] + items[:1], vectors[:3])
    empty = T.synthesize([], np.zeros((0, 384), dtype=np.float32))
    assert empty.themes == [] and empty.coverage.share == 0.0


def test_progress_is_reported_in_order(small):
    items, _, vectors = small
    seen = []
    T.synthesize(items, vectors, SMALL_CONFIG, progress=lambda f, stage: seen.append((f, stage)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and seen[-1][1] == "done"


def test_neighbour_search_by_partitions_agrees_with_the_exact_search(monkeypatch):
    rng = np.random.default_rng(3)
    centres = T.normalize_rows(rng.normal(size=(20, 32)))
    X = T.normalize_rows(centres[rng.integers(0, 20, 3000)] + rng.normal(scale=0.15, size=(3000, 32)))
    exact, _ = T.neighbours(X, 10)
    monkeypatch.setattr(T, "EXACT_NEIGHBOURS_UP_TO", 100)
    approx, sims = T.neighbours(X, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, approx)])
    assert recall >= 0.95
    assert np.all(np.diff(sims, axis=1) <= 1e-6)  # most similar first
    assert not np.any(approx == np.arange(3000)[:, None])  # never its own neighbour


# --- quality on real labelled text ------------------------------------------------------------------------

ENGINE_CONFIG = T.Config(min_themes=2, max_themes=100, min_theme_size=5, seed=0)


def scores(gold: list[str], result: T.Result, items: list[T.Item]) -> dict[str, float]:
    predicted = [result.assignment[i.id] or "(not in any theme)" for i in items]
    return {
        "ami": adjusted_mutual_info_score(gold, predicted),
        "ari": adjusted_rand_score(gold, predicted),
        "nmi": normalized_mutual_info_score(gold, predicted),
        "in_themes": result.coverage.share,
        "themes": len(result.themes),
    }


def load_sib200() -> tuple[list[T.Item], list[str], list[str]]:
    items, gold, pair = [], [], []
    for folder, lang in (("eng_Latn", "en"), ("fra_Latn", "fr")):
        for split in ("train", "dev"):
            with open(LABELLED / "sib200_en_fr" / folder / f"{split}.tsv", encoding="utf-8") as f:
                for row in csv.DictReader(f, delimiter="\t"):
                    items.append(T.Item(f"{lang}-{row['index_id']}", row["text"], lang))
                    gold.append(row["category"])
                    pair.append(row["index_id"])
    return items, gold, pair


def load_banking77() -> tuple[list[T.Item], list[str]]:
    with open(LABELLED / "banking77" / "train.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [T.Item(i, r["text"], "en") for i, r in enumerate(rows)], [r["category"] for r in rows]


def test_sib200_english_and_french_together(e5, record_property):
    items, gold, pair = load_sib200()
    assert len(items) == 1600 and len(set(gold)) == 7
    vectors = T.cached_embed(e5, [i.text for i in items], CACHE)
    result = T.synthesize(items, vectors, ENGINE_CONFIG)
    figures = scores(gold, result, items)
    themes_of = Counter()
    together = 0
    by_pair: dict[str, list[str | None]] = {}
    for item, p in zip(items, pair):
        by_pair.setdefault(p, []).append(result.assignment[item.id])
    for a, b in by_pair.values():
        together += a is not None and a == b
        themes_of[a] += 1
    figures["pairs_together"] = together / len(by_pair)
    print("sib200 en+fr:", {k: round(v, 3) for k, v in figures.items()})
    for key, value in figures.items():
        record_property(key, value)
    assert len(by_pair) == 800
    assert figures["pairs_together"] >= 0.8
    assert figures["ami"] >= 0.40  # one giant theme would score 0 here
    assert figures["in_themes"] >= 0.9
    assert max(themes_of.values()) < 0.5 * len(by_pair)


def test_banking77(e5, record_property):
    items, gold = load_banking77()
    assert len(items) == 10003 and len(set(gold)) == 77
    vectors = T.cached_embed(e5, [i.text for i in items], CACHE)
    result = T.synthesize(items, vectors, ENGINE_CONFIG)
    figures = scores(gold, result, items)
    print("banking77:", {k: round(v, 3) for k, v in figures.items()})
    for key, value in figures.items():
        record_property(key, value)
    assert figures["ami"] >= 0.6
    assert figures["ari"] >= 0.25
    assert figures["in_themes"] >= 0.9
    assert 20 <= figures["themes"] <= 100
