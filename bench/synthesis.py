#!/usr/bin/env python
"""Synthesis at scale: the platform's whole path from stored embeddings to "What we heard", on SQLite and PostgreSQL.

Loads --voices approved voices with consent to analysis (default 100,000) in one campaign, each with
its e5 embedding ALREADY stored in ``themes_voiceembedding`` (as the confirmation task leaves it),
then measures, through the real services and views, one after the other in one process per database:

1. **run 1**: ``services.start_run(..., enqueue=False)`` then ``services.execute_run(run)``: wall time,
   time per stage (from its ``on_progress`` callback; "settle" is what ``execute_run`` does after the
   run reports "done"), and how much of it is outside the engine's own stages, SQL statements and
   their ``execute()`` time per stage (``connection.execute_wrapper``; fetching rows is not in it),
   embedder calls (must be 0: nothing is re-embedded), and the process's peak RSS (``getrusage``);
2. **curation** through the services (rename, hide, merge one pair, pin a quote), each timed (for the
   merge, also how many memberships' stored similarity it rewrote, inside and outside the pair), then
   **run 2** on the same voices, matched to run 1: time, stages, theme keys kept, curation kept;
3. ``services.assign_new_voice`` for --new-voices new voices (embedding already stored, as the
   confirmation task stores it before placing): p50/p95 ms each;
4. ``voices.services.voice_withdraw`` (which calls ``themes.services.remove_voice``) for
   --withdrawals voices in themes: p50/p95 ms each; then the queued ``relabel_run`` tasks, each
   distinct run once (timed), and how many were queued;
5. in a fresh process (as a web worker: its own empty cache), through ``django.test.Client`` (DEBUG
   off): ``/en/themes/<slug>/`` first (uncached; ``/fr/`` too), uncached
   again (report version bumped before each), cached p50/p95 over --requests; the API
   ``GET /api/v1/campaigns/<slug>/themes`` first and p50/p95; the PDF once uncached and once cached.

CEILINGS measured in the same run: the engine alone (``lib.themes.synthesize`` with the run's own
``Config`` on the same items and the same embeddings, in memory, in a child process of its own, after
an untimed 500-item warm-up as the platform process gets too) -> platform / engine time and memory;
and the moderation policy page (``/en/voices/policy/``: the same middleware and base template, one
small query) for request latencies.

The voices: the banking77 training texts and the English + French SIB-200 train/dev sentences
(11,603 texts), with their real e5 embeddings from ``lib.themes.cached_embed`` (cached in
``var/cache/themes-embeddings``: computed only if missing), repeated to reach --voices, each copy with
small seeded Gaussian noise (sigma 0.015 per dimension) and renormalized; the voice's text is its
source text, its ``text_hash`` is ``services.text_hash(services.analysis_text(voice))`` and the
backend is the e5 embedder's ``name``, so a run finds every embedding stored. 90% are published, 10%
accepted; provinces follow population, French SIB-200 voices are mostly in Quebec; 40% of voices
answered self-identification (consent to statistics; random centred communities) for the equity
lens; about 15% of people shared more than one voice (same email). 5% more voices without consent to
analysis are interleaved, which the run must leave out. Loaded with ``bulk_create`` (then ANALYZE).

Floors (PASS/FAIL lines, never a failing exit): each full run < 120 s and the process < 4 GB at
100,000 voices on each database; cached report p95 < 200 ms.

Scratch databases only: a SQLite file in a temporary folder and a PostgreSQL database named
``bench_synthesis`` (dropped at the end). Prints one line of JSON with all figures last.

    .venv/bin/python bench/synthesis.py                        # both databases, 100,000 voices
    .venv/bin/python bench/synthesis.py --db sqlite --voices 5000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _common import PG_ADMIN_URL, REPO, base_env, collect_static, log, pct, pg_admin, r

LABELLED = REPO.parent / "shared" / "data" / "labelled"
EMBEDDINGS_CACHE = REPO / "var" / "cache" / "themes-embeddings"  # lib.themes.cached_embed's files
PG_DB_NAME = "bench_synthesis"
SLUG = "strategy-for-belonging"
NOISE = 0.015  # per dimension, as bench/themes.py: each copy keeps a cosine of about 0.96 with its source
INELIGIBLE_SHARE = 0.05  # extra voices without consent to analysis, interleaved
SELF_ID_SHARE = 0.4
FLOOR_RUN_S = 120.0
FLOOR_RSS_GB = 4.0
FLOOR_CACHED_P95_MS = 200.0
FLOOR_AT_VOICES = 100_000
# The stages a run reports from inside lib.themes.synthesize (the engine's own work).
ENGINE_STAGES = ("centre", "cluster", "coverage", "describe", "match")

# Approximate Statistics Canada population estimates for 2024, in thousands (as bench/pledges.py).
POPULATION = {
    "ON": 16124, "QC": 9030, "BC": 5699, "AB": 4888, "MB": 1494, "SK": 1239, "NS": 1076,
    "NB": 854, "NL": 545, "PE": 177, "YT": 46, "NT": 45, "NU": 41,
}  # fmt: skip
# Share of self-identified people in each centred community (independent draws; rough, for the lens).
COMMUNITY_SHARE = {
    "women": 0.5, "gender_diverse": 0.02, "racialized": 0.26, "black": 0.05, "2slgbtq": 0.08,
    "disability": 0.2, "olmc": 0.05, "newcomer": 0.06, "youth": 0.2, "senior": 0.2, "financial_difficulty": 0.15,
}  # fmt: skip
INDIGENOUS_SHARE = {"first_nations": 0.03, "metis": 0.015, "inuit": 0.005}


# --------------------------------------------------------------------------------------------
# The texts and their embeddings (the same in every process: seeded)
# --------------------------------------------------------------------------------------------


def source_sets() -> list[tuple[str, list[str], list[str]]]:
    """(name, texts, languages) of banking77 train and SIB-200 en+fr train/dev, in the order (and with
    the exact texts) the engine tests cache them, so ``cached_embed`` finds them."""
    with (LABELLED / "banking77" / "train.csv").open(newline="", encoding="utf-8") as fh:
        banking = [row["text"] for row in csv.DictReader(fh)]
    sib, sib_lang = [], []
    for folder, language in (("eng_Latn", "en"), ("fra_Latn", "fr")):
        for split in ("train", "dev"):
            with (LABELLED / "sib200_en_fr" / folder / f"{split}.tsv").open(newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh, delimiter="\t"):
                    sib.append(row["text"])
                    sib_lang.append(language)
    return [("banking77", banking, ["en"] * len(banking)), ("sib200", sib, sib_lang)]


def base_corpus():
    """(texts, languages, embeddings, backend name) of the 11,603 source texts."""
    import numpy as np

    from belonging.lib import themes as engine

    embedder = engine.get_embedder("e5")
    texts, languages, parts = [], [], []
    for name, set_texts, set_languages in source_sets():
        t0 = time.perf_counter()
        parts.append(engine.cached_embed(embedder, set_texts, EMBEDDINGS_CACHE))
        seconds = time.perf_counter() - t0
        if seconds > 5:
            log(f"  {name}: {len(set_texts):,} texts embedded in {seconds:.0f} s (were not cached)")
        texts += set_texts
        languages += set_languages
    return texts, languages, np.concatenate(parts).astype(np.float32), embedder.name


def noisy(base, rows, seed: int):
    """Rows of ``base`` with seeded Gaussian noise, renormalized (float32), built in blocks."""
    import numpy as np

    from belonging.lib.themes import normalize_rows

    rng = np.random.default_rng(seed)
    out = np.empty((len(rows), base.shape[1]), dtype=np.float32)
    for start in range(0, len(rows), 8192):
        block = base[rows[start : start + 8192]]
        block += NOISE * rng.standard_normal(block.shape, dtype=np.float32)
        out[start : start + 8192] = normalize_rows(block)
    return out


def corpus(n: int, seed: int):
    """The N eligible voices: (texts, languages, embeddings, backend name), every source text once,
    then again, ... up to N."""
    import numpy as np

    texts, languages, base, name = base_corpus()
    rows = np.resize(np.arange(len(texts)), n)
    return [texts[i] for i in rows], [languages[i] for i in rows], noisy(base, rows, seed), name


# --------------------------------------------------------------------------------------------
# Voices as rows
# --------------------------------------------------------------------------------------------


class Maker:
    def __init__(self, campaign, prompts, rng: random.Random, people: int) -> None:
        from django.utils import timezone

        self.campaign, self.prompts, self.rng, self.people = campaign, prompts, rng, people
        self.now = timezone.now()
        self.provinces, self.weights = list(POPULATION), list(POPULATION.values())

    def voice(self, text: str, language: str, *, eligible: bool = True):
        from datetime import timedelta

        from belonging.voices.models import Voice

        rng = self.rng
        if language == "fr":
            province = "QC" if rng.random() < 0.8 else rng.choice(["NB", "ON", "MB"])
        else:
            province = rng.choices(self.provinces, self.weights)[0]
        prompt = rng.choices(self.prompts, [40, 25, 35])[0]
        kind = rng.choice(["story", "thought"]) if prompt.position == 3 else rng.choice(["wisdom", "thought"])
        status = Voice.Status.PUBLISHED if rng.random() < 0.9 else Voice.Status.ACCEPTED
        submitted = self.now - timedelta(seconds=rng.uniform(4 * 86400, 270 * 86400))
        email = f"person{rng.randrange(self.people)}@example.org"  # about 15% share more than one voice
        return Voice(
            campaign=self.campaign, prompt=prompt, kind=kind, text=text, language=language, province=province,
            email=email, email_normalized=email, page_language=language,
            consent_publish=status == Voice.Status.PUBLISHED, consent_analysis=eligible,
            consent_self_id=rng.random() < SELF_ID_SHARE, status=status, submitted_at=submitted,
            published_at=submitted + timedelta(hours=rng.uniform(1, 72)) if status == Voice.Status.PUBLISHED else None,
        )  # fmt: skip


def store(voices: list, vectors, backend_name: str) -> None:
    """Insert voices (bulk_create), then the embeddings of the eligible ones with the hash the services
    compute, then the self-identification of those who consented to statistics."""
    from belonging.lib import themes as engine
    from belonging.themes import services
    from belonging.themes.models import VoiceEmbedding
    from belonging.voices.models import SelfIdentification, Voice

    Voice.objects.bulk_create(voices, batch_size=1000)
    embedded = [v for v in voices if v.consent_analysis]
    assert len(embedded) == len(vectors)
    VoiceEmbedding.objects.bulk_create(
        [
            VoiceEmbedding(
                voice_id=v.pk,
                backend=backend_name,
                text_hash=services.text_hash(services.analysis_text(v)),
                vector=engine.to_bytes(row),
            )
            for v, row in zip(embedded, vectors, strict=True)
        ],
        batch_size=1000,
    )
    maker_rng = random.Random(len(voices))
    answers = []
    for v in voices:
        if v.consent_self_id:
            answers.append(SelfIdentification(voice_id=v.pk, communities=_communities(maker_rng)))
    SelfIdentification.objects.bulk_create(answers, batch_size=1000)


def _communities(rng: random.Random) -> str:
    from belonging.core import identity

    codes = {c for c, p in COMMUNITY_SHARE.items() if rng.random() < p}
    indigenous = {c for c, p in INDIGENOUS_SHARE.items() if rng.random() < p}
    if indigenous:
        codes |= indigenous | {"indigenous"}
    return identity.encode_communities(codes)


# --------------------------------------------------------------------------------------------
# Child processes: load one database; the engine alone; measure one database
# --------------------------------------------------------------------------------------------


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def current_rss_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024**2
    return 0.0


def load_child(args: argparse.Namespace) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from belonging.core.models import Campaign
    from belonging.voices.models import Prompt, Voice

    vendor = connection.vendor
    prefix = "pg" if vendor == "postgresql" else "sqlite"
    out: dict = {}
    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    log(f"[{prefix}] migrated in {time.perf_counter() - t0:.1f} s")
    if vendor == "sqlite":
        out["sqlite_version"] = connection.Database.sqlite_version
    else:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            out["pg_version"] = cursor.fetchone()[0]
    t0 = time.perf_counter()
    texts, languages, vectors, backend_name = corpus(args.voices, args.seed)
    build_s = time.perf_counter() - t0
    campaign = Campaign.objects.get(slug=SLUG)
    prompts = list(Prompt.objects.filter(campaign=campaign).order_by("position"))
    rng = random.Random(args.seed)
    maker = Maker(campaign, prompts, rng, people=int(args.voices * 0.85) or 1)
    ineligible = int(args.voices * INELIGIBLE_SHARE)
    extra_at = set(rng.sample(range(args.voices), ineligible))
    t0 = time.perf_counter()
    chunk = 20_000
    with transaction.atomic():
        for start in range(0, args.voices, chunk):
            voices, rows = [], []
            for j in range(start, min(args.voices, start + chunk)):
                if j in extra_at:  # interleaved: the eligible voices keep their order
                    voices.append(maker.voice(texts[rng.randrange(len(texts))], "en", eligible=False))
                voices.append(maker.voice(texts[j], languages[j]))
                rows.append(j)
            store(voices, vectors[rows[0] : rows[-1] + 1], backend_name)
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if vendor == "sqlite" else "VACUUM (ANALYZE)")
    analyze_s = time.perf_counter() - t1
    total = Voice.objects.count()
    out[f"{prefix}_voices_loaded"] = total
    out[f"{prefix}_load_s"] = r(load_s)
    out[f"{prefix}_analyze_s"] = r(analyze_s)
    log(f"[{prefix}] built {args.voices:,} embeddings in {build_s:.1f} s; loaded {total:,} voices "
        f"({args.voices:,} eligible, {ineligible:,} without consent to analysis) with their embeddings and "
        f"self-identification in {load_s:.1f} s (bulk_create), ANALYZE {analyze_s:.1f} s")  # fmt: skip
    return out


def engine_child(args: argparse.Namespace) -> dict:
    """The ceiling: the engine alone on the same items and embeddings, with the run's own Config."""
    import django

    django.setup()
    from django.conf import settings

    from belonging.lib import themes as engine

    texts, languages, vectors, _name = corpus(args.voices, args.seed)
    items = [engine.Item(j + 1, text, lang) for j, (text, lang) in enumerate(zip(texts, languages, strict=True))]
    del texts, languages
    # The run's Config (services._config with start_run's defaults).
    config = engine.Config(min_themes=2, max_themes=30, min_theme_size=settings.THEMES_MIN_THEME_SIZE, seed=0)
    engine.synthesize(items[:500], vectors[:500], config)  # untimed: imports
    rss_before = current_rss_gb()
    t0 = time.perf_counter()
    result = engine.synthesize(items, vectors, config)
    seconds = time.perf_counter() - t0
    return {
        "engine_s": seconds, "engine_peak_rss_gb": peak_rss_gb(), "engine_rss_before_gb": rss_before,
        "engine_themes": len(result.themes), "engine_in_themes": result.coverage.in_themes,
    }  # fmt: skip


class Queries:
    """Counts SQL statements and their time, by the current label (``connection.execute_wrapper``)."""

    def __init__(self) -> None:
        self.label = "setup"
        self.count: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()

    def __call__(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.count[self.label] += 1
            self.seconds[self.label] += time.perf_counter() - t0

    def of(self, prefix: str) -> tuple[int, float]:
        keys = [k for k in self.count if k == prefix or k.startswith(prefix + ":")]
        return sum(self.count[k] for k in keys), sum(self.seconds[k] for k in keys)


class Stages:
    """A run's ``on_progress``: the time each stage starts (every change of stage)."""

    def __init__(self, queries: Queries, label: str) -> None:
        self.queries, self.label = queries, label
        self.marks: list[tuple[str, float]] = []
        self.fractions: list[float] = []

    def __call__(self, fraction: float, stage: str) -> None:
        self.fractions.append(fraction)
        if not self.marks or self.marks[-1][0] != stage:
            self.marks.append((stage, time.perf_counter()))
            self.queries.label = f"{self.label}:{stage}"

    def durations(self, start: float, end: float) -> dict[str, float]:
        """Seconds per stage (summed when a stage comes back); "settle" is after "done"."""
        out: Counter[str] = Counter()
        marks = [("start", start), *self.marks]
        for (stage, t), (_next, t_next) in zip(marks, [*marks[1:], ("end", end)], strict=True):
            out["settle" if stage == "done" else stage] += t_next - t
        return dict(out)


def measure_child(args: argparse.Namespace) -> dict:
    import django

    django.setup()
    from django.db import close_old_connections, connection

    from belonging.accounts.models import User
    from belonging.core.models import Campaign
    from belonging.lib import themes as engine
    from belonging.themes import selectors, services
    from belonging.themes.models import Curation, Membership, SynthesisRun, Theme, VoiceEmbedding
    from belonging.voices import services as voice_services
    from belonging.voices.models import Prompt, Voice

    vendor = connection.vendor
    p = "pg" if vendor == "postgresql" else "sqlite"
    out: dict = {}
    queries = Queries()
    wrapper = connection.execute_wrapper(queries)
    wrapper.__enter__()
    campaign = Campaign.objects.get(slug=SLUG)
    organizer = User.objects.create_user(username="organizer", email="organizer@example.org", password=None)

    # The embedder the services use, counting every call: a run over stored embeddings makes none.
    t0 = time.perf_counter()
    model = services.embedder()
    out[f"{p}_embedder_load_s"] = r(time.perf_counter() - t0, 2)
    embed_calls = Counter()
    real_embed = model.embed

    def counting_embed(texts):
        embed_calls["calls"] += 1
        embed_calls["texts"] += len(texts)
        return real_embed(texts)

    model.embed = counting_embed

    # Untimed warm-up, as the engine ceiling gets: the engine's imports on 500 stored voices.
    ids = list(
        services.voices_in_scope(SynthesisRun(campaign=campaign)).order_by("pk").values_list("pk", flat=True)[:500]
    )
    warm = {v.pk: v for v in Voice.objects.filter(pk__in=ids).only("pk", "title", "text", "redacted_text", "language")}
    stored = dict(VoiceEmbedding.objects.filter(voice_id__in=ids).values_list("voice_id", "vector"))
    engine.synthesize(
        [engine.Item(i, services.analysis_text(warm[i]), warm[i].language) for i in ids],
        engine.normalize_rows([engine.from_bytes(bytes(stored[i])) for i in ids]),
        engine.Config(max_themes=30),
    )
    rss_before = current_rss_gb()
    out[f"{p}_rss_before_run_gb"] = r(rss_before, 2)

    def timed(label: str, fn, *a, **kw):
        queries.label = label
        t0 = time.perf_counter()
        value = fn(*a, **kw)
        return value, time.perf_counter() - t0

    def synthesis(label: str) -> SynthesisRun:
        before = embed_calls["calls"]
        run, start_s = timed(f"{label}:start_run", services.start_run, campaign, organizer, enqueue=False)
        stages = Stages(queries, label)
        queries.label = f"{label}:start"
        t0 = time.perf_counter()
        run = services.execute_run(run, on_progress=stages)
        end = time.perf_counter()
        if run.status != SynthesisRun.Status.DONE:
            raise RuntimeError(f"{label} ended {run.status}: {run.error}")
        seconds = end - t0
        n_sql, sql_s = queries.of(label)
        by_stage = stages.durations(t0, end)
        out[f"{p}_{label}_s"] = r(seconds, 2)
        out[f"{p}_{label}_start_run_ms"] = r(start_s * 1000, 1)
        out[f"{p}_{label}_stages_s"] = {k: r(v, 2) for k, v in by_stage.items()}
        in_engine = sum(by_stage.get(k, 0.0) for k in ENGINE_STAGES)
        out[f"{p}_{label}_engine_stages_s"] = r(in_engine, 2)
        out[f"{p}_{label}_outside_engine_s"] = r(seconds - in_engine, 2)
        out[f"{p}_{label}_sql_statements"] = n_sql
        out[f"{p}_{label}_sql_s"] = r(sql_s, 2)
        out[f"{p}_{label}_sql_by_stage"] = {
            k.split(":", 1)[1]: [queries.count[k], r(queries.seconds[k], 2)]
            for k in queries.count
            if k.startswith(label + ":")
        }
        out[f"{p}_{label}_embedder_calls"] = embed_calls["calls"] - before
        out[f"{p}_{label}_themes"] = run.themes.count()
        out[f"{p}_{label}_k"] = run.k
        out[f"{p}_{label}_total"] = run.total
        out[f"{p}_{label}_in_themes"] = run.in_themes
        out[f"{p}_{label}_peak_rss_gb"] = r(peak_rss_gb(), 2)
        monotone = all(b >= a for a, b in zip(stages.fractions, stages.fractions[1:]))
        out[f"{p}_{label}_progress_monotone"] = monotone
        log(f"[{p}] {label}: {seconds:.1f} s for {run.total:,} voices ({run.in_themes:,} in {out[f'{p}_{label}_themes']} "
            f"themes, k={run.k}); {n_sql:,} SQL statements, {sql_s:.1f} s in SQL; embedder calls "
            f"{out[f'{p}_{label}_embedder_calls']}; peak RSS so far {out[f'{p}_{label}_peak_rss_gb']} GB")  # fmt: skip
        log(
            f"[{p}]   stages (s): "
            + ", ".join(f"{k} {v:.2f}" for k, v in by_stage.items())
            + f"; in the engine's stages {in_engine:.1f} s, outside them {seconds - in_engine:.1f} s"
        )
        log(f"[{p}]   SQL by stage (statements, s): " + ", ".join(
            f"{k} {n} / {s}" for k, (n, s) in out[f"{p}_{label}_sql_by_stage"].items()))  # fmt: skip
        return run

    # 1. The first run.
    run1 = synthesis("run1")
    eligible = services.voices_in_scope(run1).count()
    out[f"{p}_run1_covers_every_eligible_voice"] = run1.total == eligible == args.voices
    _, s = timed("publish1", services.publish, run1, organizer)
    out[f"{p}_publish_ms"] = r(s * 1000, 1)

    # 2. Curation through the services, then the second run.
    themes1 = list(Theme.objects.filter(run=run1).order_by("position"))
    if len(themes1) < 4:
        raise RuntimeError(f"run 1 has {len(themes1)} themes; curation needs 4")
    named, hidden, source, target = (t.key for t in themes1[:4])
    candidates = selectors.pin_candidates(themes1[0])
    pinned = candidates[-1]  # a published member, not among the most central quotes
    sims_before = dict(Membership.objects.filter(run=run1).values_list("voice_id", "similarity"))
    pair = set(Membership.objects.filter(run=run1, theme__key__in=[source, target]).values_list("voice_id", flat=True))
    curation_ms = {}
    for label, fn, a in (
        ("rename", services.rename, (campaign, named, "Bench theme name", "Nom du thème du banc", organizer)),
        ("hide", services.hide, (campaign, hidden, organizer)),
        ("merge", services.merge, (campaign, source, target, organizer)),
        ("pin", services.pin_quote, (campaign, named, pinned, organizer)),
    ):
        _, s = timed(f"curate_{label}", fn, *a)
        curation_ms[label] = r(s * 1000, 1)
        out[f"{p}_curate_{label}_sql_statements"] = queries.count[f"curate_{label}"]
        if label == "merge":
            sims_after = dict(Membership.objects.filter(run=run1).values_list("voice_id", "similarity"))
            rewritten = [v for v, x in sims_before.items() if sims_after.get(v) != x]
            out[f"{p}_merge_pair_voices"] = len(pair)
            out[f"{p}_merge_similarity_rewritten"] = len(rewritten)
            out[f"{p}_merge_similarity_rewritten_outside_pair"] = sum(1 for v in rewritten if v not in pair)
            del sims_before, sims_after, rewritten
    out[f"{p}_curation_ms"] = curation_ms
    log(f"[{p}] curation (ms): " + ", ".join(f"{k} {v:,.0f}" for k, v in curation_ms.items())
        + f"; merged {source} ({themes1[2].size:,} voices) into {target} ({themes1[3].size:,}): "
        f"{out[f'{p}_curate_merge_sql_statements']} SQL statements, similarity rewritten for "
        f"{out[f'{p}_merge_similarity_rewritten']:,} memberships, {out[f'{p}_merge_similarity_rewritten_outside_pair']:,} "
        "of them outside the merged pair")  # fmt: skip

    run2 = synthesis("run2")
    keys1 = set(run1.raw_themes)
    keys2 = set(run2.raw_themes)
    out[f"{p}_run2_raw_keys_kept"] = r(len(keys1 & keys2) / len(keys1), 4) if keys1 else 0.0
    raw1 = dict(Membership.objects.filter(run=run1).values_list("voice_id", "raw_key"))
    raw2 = dict(Membership.objects.filter(run=run2).values_list("voice_id", "raw_key"))
    out[f"{p}_run2_same_raw_theme_share"] = r(sum(raw2.get(v) == k for v, k in raw1.items()) / len(raw1), 4)
    themes2 = {t.key: t for t in Theme.objects.filter(run=run2)}
    named_theme = themes2.get(named)
    checks = {
        "renamed_kept": named in themes2 and Curation.objects.get(campaign=campaign, key=named).name_en != "",
        "hidden_kept": hidden in themes2 and Curation.objects.get(campaign=campaign, key=hidden).hidden,
        "merged_kept": source not in themes2 and target in themes2 and source in themes2[target].merged_from,
        "pin_first": named_theme is not None and bool(named_theme.quote_ids) and named_theme.quote_ids[0] == pinned.pk,
    }
    out[f"{p}_run2_curation_kept"] = checks
    log(f"[{p}] run 2 vs run 1: raw theme keys kept {out[f'{p}_run2_raw_keys_kept']:.0%}, voices in the same "
        f"raw theme {out[f'{p}_run2_same_raw_theme_share']:.2%}; curation kept: {checks}")  # fmt: skip
    services.publish(run2, organizer)
    close_old_connections()

    # 3. New voices placed in the latest run (their embeddings stored, as the confirmation task does).
    import numpy as np

    texts, languages, base, backend_name = base_corpus()
    rng = random.Random(args.seed + 3)
    picks = [rng.randrange(len(texts)) for _ in range(args.new_voices)]
    vectors = noisy(base, np.asarray(picks), args.seed + 3)
    prompts = list(Prompt.objects.filter(campaign=campaign).order_by("position"))
    maker = Maker(campaign, prompts, rng, people=10**9)
    new = [maker.voice(texts[i], languages[i]) for i in picks]
    queries.label = "setup"
    store(new, vectors, backend_name)
    before = embed_calls["calls"]
    assign_ms = []
    placed = Counter()
    for voice in new:
        membership, s = timed("assign", services.assign_new_voice, voice)
        close_old_connections()
        assign_ms.append(s * 1000)
        placed["theme" if membership is not None and membership.theme_id else "new" if membership else "none"] += 1
    out[f"{p}_assign_p50_ms"] = r(pct(assign_ms, 50), 1)
    out[f"{p}_assign_p95_ms"] = r(pct(assign_ms, 95), 1)
    out[f"{p}_assign_max_ms"] = r(max(assign_ms), 1)
    out[f"{p}_assign_sql_per_voice"] = r(queries.count["assign"] / len(new), 1)
    out[f"{p}_assign_placed"] = dict(placed)
    out[f"{p}_assign_embedder_calls"] = embed_calls["calls"] - before
    log(f"[{p}] assign_new_voice x{len(new)}: p50 {pct(assign_ms, 50):.1f} ms, p95 {pct(assign_ms, 95):.1f} ms, "
        f"max {max(assign_ms):.1f} ms; {out[f'{p}_assign_sql_per_voice']} SQL statements each; placed {dict(placed)}; "
        f"embedder calls {out[f'{p}_assign_embedder_calls']}")  # fmt: skip

    # 4. Withdrawals of voices in themes (a few of them quoted), then the queued relabelling.
    from django_tasks_db.models import DBTaskResult

    quoted = [q for t in Theme.objects.filter(run=run2) for q in t.quote_ids if q != pinned.pk]
    members = list(
        Membership.objects.filter(run=run2, theme__isnull=False, provisional=False, voice__status="published")
        .exclude(voice_id=pinned.pk)
        .values_list("voice_id", flat=True)
    )
    rng = random.Random(args.seed + 4)
    chosen = rng.sample(quoted, min(2, len(quoted)))
    chosen += rng.sample([m for m in members if m not in set(chosen)], args.withdrawals - len(chosen))
    relabels = DBTaskResult.objects.filter(task_path__endswith="relabel_run")
    tasks_before = set(relabels.values_list("pk", flat=True))
    withdraw_ms = []
    for voice_id in chosen:
        voice = Voice.objects.get(pk=voice_id)
        _, s = timed("withdraw", voice_services.voice_withdraw, voice=voice)
        close_old_connections()
        withdraw_ms.append(s * 1000)
    queued = [a for pk, a in relabels.values_list("pk", "args_kwargs") if pk not in tasks_before]
    runs_queued = Counter(a["args"][0] for a in queued)
    out[f"{p}_withdraw_p50_ms"] = r(pct(withdraw_ms, 50), 1)
    out[f"{p}_withdraw_p95_ms"] = r(pct(withdraw_ms, 95), 1)
    out[f"{p}_withdraw_max_ms"] = r(max(withdraw_ms), 1)
    out[f"{p}_withdraw_sql_per_voice"] = r(queries.count["withdraw"] / len(chosen), 1)
    out[f"{p}_relabel_tasks_queued"] = len(queued)
    out[f"{p}_relabel_runs_queued"] = len(runs_queued)
    log(f"[{p}] voice_withdraw x{len(chosen)} ({len(set(chosen) & set(quoted))} quoted): p50 "
        f"{pct(withdraw_ms, 50):.1f} ms, p95 {pct(withdraw_ms, 95):.1f} ms, max {max(withdraw_ms):.1f} ms; "
        f"{out[f'{p}_withdraw_sql_per_voice']} SQL statements each; relabel tasks queued: {len(queued)} "
        f"for {len(runs_queued)} runs ({dict(runs_queued)})")  # fmt: skip
    relabel_s = {}
    for run_id in sorted(runs_queued):
        _, s = timed(f"relabel:{run_id}", services.relabel_run, run_id)
        relabel_s[run_id] = s
    close_old_connections()
    out[f"{p}_relabel_s_per_run"] = r(max(relabel_s.values()), 2) if relabel_s else 0.0
    out[f"{p}_relabel_s_each_once"] = r(sum(relabel_s.values()), 2)
    out[f"{p}_relabel_s_as_queued"] = r(sum(relabel_s[k] * n for k, n in runs_queued.items()), 1)
    gone = Membership.objects.filter(voice_id__in=chosen).count()
    still_quoted = [q for t in Theme.objects.filter(run__campaign=campaign) for q in t.quote_ids if q in set(chosen)]
    out[f"{p}_withdrawn_left_in_themes"] = gone + len(still_quoted)
    log(f"[{p}] relabel_run once per queued run: " + ", ".join(f"run {k} {v:.2f} s" for k, v in relabel_s.items())
        + f" (as queued, {len(queued)} tasks, the worker would spend about {out[f'{p}_relabel_s_as_queued']:.0f} s);"
        f" withdrawn voices left in memberships or quotes: {out[f'{p}_withdrawn_left_in_themes']}")  # fmt: skip

    wrapper.__exit__(None, None, None)
    out[f"{p}_peak_rss_gb"] = r(peak_rss_gb(), 2)
    return out


def requests_child(args: argparse.Namespace) -> dict:
    """5. Requests through the whole app, in a fresh process as a web worker would serve them (its own
    empty cache: the first request is uncached), one after the other."""
    import django

    django.setup()
    from django.db import close_old_connections, connection
    from django.test import Client

    from belonging.core.models import Campaign
    from belonging.themes import selectors

    p = "pg" if connection.vendor == "postgresql" else "sqlite"
    out: dict = {}
    queries = Queries()
    campaign = Campaign.objects.get(slug=SLUG)
    client = Client(HTTP_HOST="127.0.0.1")

    def get(url: str, label: str) -> tuple[float, object]:
        queries.label = label
        t0 = time.perf_counter()
        response = client.get(url)
        close_old_connections()  # as the server does after each response (SQLite: CONN_MAX_AGE 0)
        elapsed = (time.perf_counter() - t0) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} -> {response.status_code}: {response.content[:300]!r}")
        return elapsed, response

    def series(url: str, label: str, n: int) -> list[float]:
        return [get(url, label)[0] for _ in range(n)]

    wrapper = connection.execute_wrapper(queries)
    wrapper.__enter__()
    report_url, pdf_url = f"/en/themes/{SLUG}/", f"/en/themes/{SLUG}/report.pdf"
    api_url = f"/api/v1/campaigns/{SLUG}/themes"
    for _ in range(3):
        get("/en/voices/policy/", "warm")
    ceiling = series("/en/voices/policy/", "ceiling", args.requests)
    first_ms, response = get(report_url, "report_first")
    body = response.content.decode()
    out[f"{p}_report_first_ms"] = r(first_ms, 1)
    out[f"{p}_report_first_sql_statements"] = queries.count["report_first"]
    out[f"{p}_report_kb"] = r(len(body) / 1024, 1)
    out[f"{p}_report_shows_rename"] = "Bench theme name" in body
    fr_ms, _ = get(f"/fr/themes/{SLUG}/", "report_first_fr")
    out[f"{p}_report_first_fr_ms"] = r(fr_ms, 1)
    uncached = []
    for _ in range(args.uncached):
        selectors.bump_report_version(campaign.pk)
        uncached.append(get(report_url, "report_uncached")[0])
    cached = series(report_url, "report_cached", args.requests)
    api_first, response = get(api_url, "api_first")
    api_themes = len(response.json()["themes"])
    api = series(api_url, "api", args.requests)
    selectors.bump_report_version(campaign.pk)
    pdf_ms, response = get(pdf_url, "pdf_first")
    pdf_kb = len(response.content) / 1024
    pdf_cached_ms, _ = get(pdf_url, "pdf_cached")
    for name, values, label in (
        ("ceiling", ceiling, "ceiling"),
        ("report_uncached", uncached, "report_uncached"),
        ("report_cached", cached, "report_cached"),
        ("api", api, "api"),
    ):
        out[f"{p}_{name}_p50_ms"] = r(pct(values, 50), 2)
        out[f"{p}_{name}_p95_ms"] = r(pct(values, 95), 2)
        out[f"{p}_{name}_sql_per_request"] = r(queries.count[label] / len(values), 1)
    out[f"{p}_api_first_ms"] = r(api_first, 1)
    out[f"{p}_api_themes"] = api_themes
    out[f"{p}_pdf_first_ms"] = r(pdf_ms, 1)
    out[f"{p}_pdf_cached_ms"] = r(pdf_cached_ms, 1)
    out[f"{p}_pdf_kb"] = r(pdf_kb, 1)
    out[f"{p}_report_cached_p50_over_ceiling_p50"] = r(pct(cached, 50) / pct(ceiling, 50), 2)
    out[f"{p}_api_p50_over_ceiling_p50"] = r(pct(api, 50) / pct(ceiling, 50), 2)
    out[f"{p}_report_uncached_p50_over_ceiling_p50"] = r(pct(uncached, 50) / pct(ceiling, 50), 1)
    log(f"[{p}] ceiling /en/voices/policy/: p50 {pct(ceiling, 50):.1f} ms, p95 {pct(ceiling, 95):.1f} ms "
        f"({args.requests} requests)")  # fmt: skip
    log(f"[{p}] report {report_url}: first (uncached) {first_ms:,.0f} ms ({out[f'{p}_report_first_sql_statements']} "
        f"SQL statements, {len(body) / 1024:,.0f} KB; French first {fr_ms:,.0f} ms); uncached again x{len(uncached)} "
        f"p50 {pct(uncached, 50):,.0f} ms; cached p50 {pct(cached, 50):.1f} ms, p95 {pct(cached, 95):.1f} ms "
        f"({out[f'{p}_report_cached_sql_per_request']} SQL statements each)")  # fmt: skip
    log(f"[{p}] API {api_url}: first {api_first:.1f} ms, then p50 {pct(api, 50):.1f} ms, p95 {pct(api, 95):.1f} ms "
        f"({out[f'{p}_api_sql_per_request']} SQL statements each, {api_themes} themes)")  # fmt: skip
    log(f"[{p}] PDF {pdf_url}: uncached {pdf_ms:,.0f} ms ({pdf_kb:,.0f} KB), cached {pdf_cached_ms:.1f} ms")
    wrapper.__exit__(None, None, None)
    return out


# --------------------------------------------------------------------------------------------
# Orchestration: a scratch database per run, child processes per database
# --------------------------------------------------------------------------------------------


def child(role: str, db: str, args: argparse.Namespace, env: dict[str, str], workdir: Path) -> dict:
    result_path = workdir / f"{role}.json"
    command = [
        sys.executable, str(Path(__file__).resolve()), "--_child", role, "--result", str(result_path),
        "--voices", str(args.voices), "--seed", str(args.seed), "--requests", str(args.requests),
        "--uncached", str(args.uncached), "--new-voices", str(args.new_voices),
        "--withdrawals", str(args.withdrawals),
    ]  # fmt: skip
    proc = subprocess.run(command, cwd=REPO, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the {db} {role} step failed (exit status {proc.returncode})")
    return json.loads(result_path.read_text())


def run_db(db: str, args: argparse.Namespace, root: Path) -> dict:
    workdir = root / db
    workdir.mkdir()
    env = dict(base_env(), STATIC_ROOT=str(root / "static"))
    prefix = "pg" if db == "postgres" else "sqlite"
    if db == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    else:
        env["DATABASE_URL"] = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{PG_DB_NAME}"
        pg_admin(f"DROP DATABASE IF EXISTS {PG_DB_NAME} WITH (FORCE)")
        pg_admin(f"CREATE DATABASE {PG_DB_NAME}")
    try:
        out = child("load", db, args, env, workdir)
        log(f"[{prefix}] the engine alone (ceiling), in its own process ...")
        eng = child("engine", db, args, env, workdir)
        out[f"{prefix}_engine_s"] = r(eng["engine_s"], 2)
        out[f"{prefix}_engine_peak_rss_gb"] = r(eng["engine_peak_rss_gb"], 2)
        out[f"{prefix}_engine_themes"] = eng["engine_themes"]
        log(f"[{prefix}] engine alone: {eng['engine_s']:.1f} s, peak RSS {eng['engine_peak_rss_gb']:.2f} GB "
            f"({eng['engine_rss_before_gb']:.2f} GB before the run), {eng['engine_themes']} themes")  # fmt: skip
        out[f"{prefix}_load_avg_before_measure"] = r(os.getloadavg()[0], 2)
        out.update(child("measure", db, args, env, workdir))
        out.update(child("requests", db, args, env, workdir))
        for label in ("run1", "run2"):
            out[f"{prefix}_{label}_over_engine"] = r(out[f"{prefix}_{label}_s"] / eng["engine_s"], 2)
        out[f"{prefix}_peak_rss_over_engine"] = r(out[f"{prefix}_peak_rss_gb"] / eng["engine_peak_rss_gb"], 2)
        log(f"[{prefix}] platform / engine: run 1 {out[f'{prefix}_run1_over_engine']}x, run 2 "
            f"{out[f'{prefix}_run2_over_engine']}x the time; peak RSS {out[f'{prefix}_peak_rss_gb']} GB vs "
            f"{out[f'{prefix}_engine_peak_rss_gb']} GB ({out[f'{prefix}_peak_rss_over_engine']}x)")  # fmt: skip
        return out
    finally:
        if db == "postgres" and not args.keep:
            pg_admin(f"DROP DATABASE IF EXISTS {PG_DB_NAME} WITH (FORCE)")


def floors(figures: dict, databases: list[str], voices: int) -> dict:
    out = {}
    for db in databases:
        p = "pg" if db == "postgres" else "sqlite"
        if f"{p}_run1_s" not in figures:
            continue
        scale = "" if voices >= FLOOR_AT_VOICES else f" (at {voices:,} voices; the floors are set at 100,000)"
        for label in ("run1", "run2"):
            ok = figures[f"{p}_{label}_s"] < FLOOR_RUN_S
            out[f"{p}_{label}_under_{FLOOR_RUN_S:g}s"] = ok
            log(
                f"{'PASS' if ok else 'FAIL'}  {p} {label}: {figures[f'{p}_{label}_s']:.1f} s < {FLOOR_RUN_S:g} s{scale}"
            )
        ok = figures[f"{p}_peak_rss_gb"] < FLOOR_RSS_GB
        out[f"{p}_rss_under_{FLOOR_RSS_GB:g}gb"] = ok
        log(f"{'PASS' if ok else 'FAIL'}  {p} peak RSS of the process: {figures[f'{p}_peak_rss_gb']:.2f} GB "
            f"< {FLOOR_RSS_GB:g} GB{scale}")  # fmt: skip
        ok = figures[f"{p}_report_cached_p95_ms"] < FLOOR_CACHED_P95_MS
        out[f"{p}_cached_report_p95_under_{FLOOR_CACHED_P95_MS:g}ms"] = ok
        log(f"{'PASS' if ok else 'FAIL'}  {p} cached report p95: {figures[f'{p}_report_cached_p95_ms']:.1f} ms "
            f"< {FLOOR_CACHED_P95_MS:g} ms")  # fmt: skip
        ok = figures[f"{p}_run1_embedder_calls"] == 0 and figures[f"{p}_run2_embedder_calls"] == 0
        out[f"{p}_nothing_reembedded"] = ok
        log(f"{'PASS' if ok else 'FAIL'}  {p} nothing re-embedded by either run (embedder calls "
            f"{figures[f'{p}_run1_embedder_calls']}, {figures[f'{p}_run2_embedder_calls']})")  # fmt: skip
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--voices", type=int, default=100_000, help="eligible voices (default 100,000)")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per series (default 50)")
    parser.add_argument("--uncached", type=int, default=5, help="uncached report requests after the first")
    parser.add_argument("--new-voices", type=int, default=50, help="voices placed with assign_new_voice")
    parser.add_argument("--withdrawals", type=int, default=20, help="voices in themes withdrawn")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases and folder")
    parser.add_argument("--_child", choices=["load", "engine", "measure", "requests"], help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped run still removes its scratch data
    if args._child:
        role = {"load": load_child, "engine": engine_child, "measure": measure_child, "requests": requests_child}
        role = role[args._child]
        Path(args.result).write_text(json.dumps(role(args)))
        return 0

    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="bench-synthesis-"))
    figures: dict[str, object] = {}
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    try:
        log(
            f"bench/synthesis.py: {', '.join(databases)}; {args.voices:,} voices with stored e5 embeddings; "
            f"{args.new_voices} new voices placed, {args.withdrawals} withdrawn, {args.requests} timed requests per "
            f"series; {os.cpu_count()} cores, load average {load_at_start:.2f}"
        )
        collect_static(root / "static", base_env())
        for db in databases:
            if db == "postgres":
                try:
                    pg_admin("SELECT 1")
                except Exception as exc:  # noqa: BLE001 - say why and go on with what can run
                    log(f"PostgreSQL skipped: cannot connect to {PG_ADMIN_URL}: {exc}")
                    figures["pg_skipped"] = True
                    continue
            figures.update(run_db(db, args, root))
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    passed = floors(figures, databases, args.voices)
    figures = {
        "voices": args.voices,
        "floor_run_s": FLOOR_RUN_S,
        "floor_rss_gb": FLOOR_RSS_GB,
        "floor_cached_report_p95_ms": FLOOR_CACHED_P95_MS,
        **figures,
        "floors": passed,
        "cores": os.cpu_count(),
        "load_avg_at_start": r(load_at_start, 2),
        "load_avg_at_end": r(os.getloadavg()[0], 2),
        "run_s": r(time.perf_counter() - started),
    }
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
