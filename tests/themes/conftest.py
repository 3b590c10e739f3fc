"""Themes fixtures: the campaign with a corpus of voices in English and French on three topics, and
embeddings memoized for the session (each text is embedded by the real model once, then reused)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pytest

from belonging.themes import services
from belonging.themes.models import SynthesisRun
from belonging.voices.models import Prompt, Voice
from tests.factories import VoiceFactory
from tests.themes.corpus import all_voices
from tests.voices.conftest import moderator, seed_voices

__all__ = ["moderator"]  # the voices' moderator fixture, shared

_VECTORS: dict[tuple[str, str], np.ndarray] = {}


class MemoEmbedder:
    """The real embedder, asked only for texts it has not embedded yet in this test session;
    ``computed`` counts the texts this test asked the platform to embed (memoized or not)."""

    def __init__(self, inner, computed: Counter) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.computed = computed

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.computed.update(texts)
        missing = [t for t in dict.fromkeys(texts) if (self.name, t) not in _VECTORS]
        if missing:
            for text, row in zip(missing, self.inner.embed(missing), strict=True):
                _VECTORS[(self.name, text)] = row
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([_VECTORS[(self.name, t)] for t in texts])


@pytest.fixture(autouse=True)
def embedded(monkeypatch, settings) -> Counter:
    """Every text the platform embedded during the test (a Counter of texts)."""
    settings.THEMES_BACKEND = "e5"
    settings.THEMES_MIN_THEME_SIZE = 5
    settings.THEMES_ASSIGN_FLOOR = 0.2
    computed: Counter = Counter()
    real = services.embedder
    monkeypatch.setattr(services, "embedder", lambda backend=None: MemoEmbedder(real(backend), computed))
    return computed


@pytest.fixture
def prompts(db) -> dict[str, Prompt]:
    seed_voices()
    return {p.slug: p for p in Prompt.objects.all()}


@pytest.fixture
def campaign(prompts):
    return prompts["needs-to-have"].campaign


def add_voice(prompt: Prompt, topic: str, language: str, text: str, *, published: bool = True, **fields) -> Voice:
    """An approved voice, consented to analysis: published, or accepted (not consented to publication)."""
    if published:
        voice = VoiceFactory(prompt=prompt, text=text, language=language, published=True, **fields)
    else:
        voice = VoiceFactory(
            prompt=prompt, text=text, language=language, status="accepted", consent_publish=False, **fields
        )
    voice.topic = topic
    return voice


@pytest.fixture
def corpus(prompts) -> dict[int, str]:
    """Every voice of the corpus (every third one accepted, not published): voice id -> topic."""
    prompt = prompts["needs-to-have"]
    voices = [
        add_voice(prompt, topic, lang, text, published=i % 3 != 2) for i, (topic, lang, text) in enumerate(all_voices())
    ]
    return {v.pk: v.topic for v in voices}


def run_now(campaign, user=None, **options) -> SynthesisRun:
    """Start and execute a run in the foreground (three themes unless told otherwise)."""
    options.setdefault("min_themes", 3)
    options.setdefault("max_themes", 3)
    run = services.start_run(campaign, user, enqueue=False, **options)
    run = services.execute_run(run)
    assert run.status == SynthesisRun.Status.DONE, run.error
    return run


def members(run: SynthesisRun) -> dict[int, str | None]:
    """voice id -> theme key (None when in no theme), from the run's memberships."""
    return dict(run.memberships.values_list("voice_id", "theme__key"))


def theme_of_topic(run: SynthesisRun, corpus: dict[int, str]) -> dict[str, str]:
    """topic -> the key of the theme holding most of its voices."""
    counts: dict[str, Counter] = {}
    for voice_id, key in members(run).items():
        if voice_id in corpus and key:
            counts.setdefault(corpus[voice_id], Counter())[key] += 1
    return {topic: c.most_common(1)[0][0] for topic, c in counts.items()}
