#!/usr/bin/env python
"""Voices at scale: gallery search, filtered gallery pages and the moderation queue, on SQLite and PostgreSQL.

Loads --voices voices (default 200,000) built from real text, then times real requests through the
whole app in-process (``django.test.Client``: URL routing, middleware, forms, the selectors, the
paginator's COUNT(*) and the template), one after the other, with DEBUG off:

1. **search**: ``/en/voices/?q=...``: common and rare words (down to words in 3-30 voices), accented
   and unaccented, 1-3 words, English and French, prefixes, words that match nothing, a few with a
   filter or on page 2-3 too;
2. **filtered**: ``/en/voices/?prompt=&province=&language=&kind=`` combinations, page 1 and deep
   pages (up to page 50);
3. **queue**: ``/en/moderation/`` as a moderator (``force_login``; a member of the Moderators role,
   not a superuser): every status, filters by prompt, language, province, waiting time and
   near-duplicates, page 1 and deep pages.

Each scenario is a seeded random draw from its mix (each URL requested once untimed first, to warm
up), p50/p95/p99 in ms; the target is p95 < 200 ms. In the same run, the CEILING is the moderation
policy page (``/en/voices/policy/``: the same middleware and base template, one small query), and
the REFERENCE is the unfiltered gallery's first page (the same query without search or filters).
The PEER for search is what a plain Django implementation would do: ``icontains`` on the text
column (here the folded ``search_text``, one ``icontains`` per folded word, so the matches are the
same up to prefix vs substring); the same view is served with ``selectors.search`` swapped for it,
on a subset of the queries, interleaved with the indexed search, so the ratio shows what the
full-text index buys. After each scenario the SQL of its slowest URL is captured with the time of
each statement, and the slowest statements are EXPLAINed.

The texts: every ``comment-body`` of ``../shared/data/polis/*/comments.csv``, the banking77 training
texts and the English and French SIB-200 (FLORES-200) sentences, combined 1-4 (up to 6 for stories)
per voice, with words swapped, case and punctuation varied; about 3% are near-copies of an earlier
voice (grouped as near-duplicates, as the app does). ``search_text`` and ``fingerprint`` come from
the app's own ``textfold.search_document`` and ``neardup.fingerprint`` (computed once, on every
core, and shared by both databases). Loading: COPY on PostgreSQL, ``executemany`` on SQLite with
the migration's FTS5 triggers firing on every insert (as in production).

Scratch databases only: a SQLite file in a temporary folder and a PostgreSQL database named
``bench_voices`` (dropped at the end). Prints one line of JSON with all figures last.

    .venv/bin/python bench/voices.py                       # both databases, 200,000 voices
    .venv/bin/python bench/voices.py --db sqlite --voices 50000 --requests 100
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from _common import PG_ADMIN_URL, REPO, base_env, collect_static, log, pct, pg_admin, r

DATA = REPO.parent / "shared" / "data"
PG_DB_NAME = "bench_voices"
TARGET_P95_MS = 200.0
CHUNK = 10_000  # voices generated per task

# Approximate Statistics Canada population estimates for 2024, in thousands (as bench/pledges.py).
POPULATION = {
    "ON": 16124, "QC": 9030, "BC": 5699, "AB": 4888, "MB": 1494, "SK": 1239, "NS": 1076,
    "NB": 854, "NL": 545, "PE": 177, "YT": 46, "NT": 45, "NU": 41,
}  # fmt: skip
FRENCH_SHARE = {"QC": 0.78, "NB": 0.3, "ON": 0.04}  # otherwise 2%
STATUSES = {
    "published": 80, "submitted": 10, "rejected": 4, "withdrawn": 2, "accepted": 2, "returned": 1, "pending": 1,
}  # fmt: skip
PROMPT_WEIGHTS = [40, 25, 35]  # needs-to-have, who-needs-to-be-part, story-of-belonging (by position)
DISPLAYS = {"anonymous": 50, "first_name": 35, "pseudonym": 15}
NAMES = [
    "Amélie", "Jean-François", "Priya", "Noah", "Aiyana", "Mohamed", "Chloé", "Wei", "Siobhan", "Kwame",
    "Marie-Ève", "Tariq", "Hélène", "Owen", "Nadia", "Étienne", "Grace", "Joël", "Inuk", "Fatima",
]  # fmt: skip
COMMUNITIES = [
    "Montréal-Nord", "Saint-Boniface", "Trois-Rivières", "Québec", "Gatineau", "Moncton", "Iqaluit", "Whitehorse",
    "Surrey", "Scarborough", "Brampton", "North End Halifax", "Wendake", "Sudbury", "Chéticamp", "Regina",
    "Côte-des-Neiges", "Lévis", "Sherbrooke", "Yellowknife", "Rivière-du-Loup", "Thunder Bay",
]  # fmt: skip
EN_SOURCE_WEIGHTS = {"polis": 35, "sib200_en": 35, "banking77": 30}  # per sentence; banking77 alone would dominate
CONNECTORS = {
    "en": ["Also,", "Honestly,", "And", "For me,", "In my town,"],
    "fr": ["Aussi,", "Et", "Pour moi,", "Chez nous,"],
}

# Search mix: (class, q). Words checked against the corpus (the log prints how many voices each matches).
SEARCH_QUERIES = [
    ("common_en", "card"), ("common_en", "money"), ("common_en", "transfer"), ("common_en", "account"),
    ("common_en", "people"), ("common_en", "community"), ("common_en", "water"),
    ("common_fr", "pays"), ("common_fr", "été"), ("common_fr", "ete"), ("common_fr", "après"), ("common_fr", "apres"),
    ("common_fr", "gouvernement"), ("common_fr", "personnes"),
    ("very_common", "the"), ("very_common", "de"),
    ("rare_en", "biodiversity"), ("rare_en", "brexit"), ("rare_en", "electoral"), ("rare_en", "housing"),
    ("rare_en", "transit"), ("rare_en", "wage"), ("rare_en", "police"), ("rare_en", "volunteers"),
    ("rare_fr", "réseau"), ("rare_fr", "reseau"), ("rare_fr", "santé"), ("rare_fr", "sante"), ("rare_fr", "société"),
    ("rare_fr", "societe"), ("rare_fr", "hôpital"), ("rare_fr", "hopital"), ("rare_fr", "université"),
    ("rare_fr", "ÉCOLE"), ("rare_fr", "musique"),
    ("rare_single", "mother"), ("rare_single", "curious"), ("rare_single", "frustrated"), ("rare_single", "youngest"),
    ("rare_single", "remorse"), ("rare_single", "incident"), ("rare_single", "afraid"), ("rare_single", "significance"),
    ("multi_en", "transfer money"), ("multi_en", "card payment"), ("multi_en", "electoral reform"),
    ("multi_en", "top up card"), ("multi_en", "public transit"), ("multi_en", "minimum wage"),
    ("multi_en", "native trees forest"),
    ("multi_fr", "la mer"), ("multi_fr", "États-Unis"), ("multi_fr", "président déclaré"),
    ("multi_fr", "première fois"), ("multi_fr", "l'eau potable"), ("multi_fr", "système de santé"),
    ("prefix", "commun"), ("prefix", "vol"), ("prefix", "gouv"), ("prefix", "elect"),
    ("no_match", "appartenance"), ("no_match", "belongng"), ("no_match", "zxqv"),
    ("community", "Montréal"), ("community", "saint-boniface"),
    ("with_filter", {"q": "card", "language": "en"}), ("with_filter", {"q": "été", "province": "QC"}),
    ("with_filter", {"q": "community", "prompt": 2}), ("with_filter", {"q": "reseau", "language": "fr"}),
    ("page_2", {"q": "money", "page": 2}), ("page_2", {"q": "pays", "page": 3}),
]  # fmt: skip
# The peer's subset: common, rare, accented, multi-word and no match, in both languages.
NAIVE_QUERIES = ["card", "été", "brexit", "réseau", "remorse", "transfer money", "la mer", "commun", "appartenance"]

# Filtered gallery pages: (class, params); "prompt" is the prompt's position (1-3), mapped to its id.
FILTERED = [
    ("page_1", {"prompt": 1}), ("page_1", {"province": "ON"}), ("page_1", {"province": "NU"}),
    ("page_1", {"language": "fr"}), ("page_1", {"kind": "story"}), ("page_1", {"province": "QC", "language": "fr"}),
    ("page_1", {"prompt": 2, "kind": "wisdom"}), ("page_1", {"prompt": 1, "province": "BC", "language": "en"}),
    ("page_1", {"prompt": 3, "kind": "story", "province": "QC", "language": "fr"}),
    ("page_1", {"province": "PE", "kind": "thought"}), ("page_1", {"prompt": 2, "language": "fr", "kind": "thought"}),
    ("deep", {"page": 2}), ("deep", {"page": 50}), ("deep", {"prompt": 3, "page": 50}),
    ("deep", {"language": "fr", "page": 50}), ("deep", {"province": "AB", "kind": "thought", "page": 10}),
    ("deep", {"language": "en", "kind": "story", "page": 50}), ("deep", {"prompt": 2, "language": "fr", "page": 50}),
    ("deep", {"province": "MB", "page": 50}), ("deep", {"prompt": 1, "province": "ON", "kind": "wisdom", "page": 50}),
]  # fmt: skip
QUEUE = [
    ("default", {}), ("default", {"page": 2}), ("deep", {"page": 50}),
    ("filter", {"status": "submitted", "language": "fr"}), ("filter", {"status": "submitted", "province": "QC"}),
    ("filter", {"status": "submitted", "prompt": 3}), ("filter", {"status": "submitted", "age": "7"}),
    ("filter", {"status": "submitted", "age": "1", "page": 5}), ("filter", {"status": "submitted", "duplicates": "on"}),
    ("filter", {"status": "submitted", "prompt": 3, "language": "en", "province": "ON", "age": "3"}),
    ("filter", {"status": "returned"}), ("filter", {"status": "rejected"}), ("filter", {"status": "accepted"}),
    ("filter", {"status": "published"}), ("deep", {"status": "published", "page": 50}),
    ("deep", {"status": "published", "language": "fr", "page": 50}), ("deep", {"status": "rejected", "page": 20}),
    ("deep", {"status": "submitted", "language": "en", "page": 50}),
]  # fmt: skip


# --------------------------------------------------------------------------------------------
# The corpus and the voices (generated once in the parent, on every core, shared by both databases)
# --------------------------------------------------------------------------------------------


def first_lines(path: Path, prefixes: tuple[str, ...]) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.startswith(prefixes)]


def load_corpus() -> tuple[dict[str, list[str]], list[str]]:
    """Sentences by source: {"polis", "banking77", "sib200_en", "sib200_fr"} and the attribution lines."""
    sources: dict[str, list[str]] = defaultdict(list)
    for path in sorted((DATA / "polis").glob("*/comments.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            sources["polis"] += [" ".join(row["comment-body"].split()) for row in csv.DictReader(fh)]
    with (DATA / "labelled" / "banking77" / "train.csv").open(newline="", encoding="utf-8") as fh:
        sources["banking77"] = [" ".join(row["text"].split()) for row in csv.DictReader(fh)]
    for lang, key in (("eng_Latn", "sib200_en"), ("fra_Latn", "sib200_fr")):
        for part in ("train", "dev"):
            path = DATA / "labelled" / "sib200_en_fr" / lang / f"{part}.tsv"
            with path.open(newline="", encoding="utf-8") as fh:
                sources[key] += [" ".join(row["text"].split()) for row in csv.DictReader(fh, delimiter="\t")]
    sources = {k: [s for s in v if s] for k, v in sources.items()}
    attribution = [
        f"polis comments.csv 'comment-body' ({len(sources['polis']):,} comments from "
        f"{len(list((DATA / 'polis').glob('*/comments.csv')))} conversations): "
        + " ".join(first_lines(DATA / "polis" / "SOURCE.md", ("Source:", "Licence:"))),
        (
            "  Data was gathered using the Polis software (compdemocracy.org/polis) and is sub-licensed under "
            "CC BY 4.0 with Attribution to The Computational Democracy Project."
        ),
        f"banking77 train.csv 'text' ({len(sources['banking77']):,}): "
        + " ".join(first_lines(DATA / "labelled" / "banking77" / "SOURCE.md", ("Source:", "Licence:"))),
        f"SIB-200 eng_Latn + fra_Latn train/dev ({len(sources['sib200_en']):,} + {len(sources['sib200_fr']):,} "
        f"sentences): "
        + " ".join(first_lines(DATA / "labelled" / "sib200_en_fr" / "SOURCE.md", ("Source:", "Licence:", "so treat"))),
    ]
    return sources, attribution


def vary(rng: random.Random, sentence: str) -> str:
    """The sentence with some variation: two neighbouring words swapped, case, final punctuation."""
    words = sentence.split(" ")
    if len(words) > 3 and rng.random() < 0.2:
        k = rng.randrange(len(words) - 1)
        words[k], words[k + 1] = words[k + 1], words[k]
    s = " ".join(words)
    x = rng.random()
    if x < 0.07:
        s = s.lower()
    elif x < 0.09:
        s = s.upper()
    elif x < 0.17:
        s = s[:1].lower() + s[1:]
    x = rng.random()
    stem = s.rstrip(".!?… ")
    if x < 0.08:
        s = stem + "!"
    elif x < 0.13:
        s = stem + "..."
    elif x < 0.23:
        s = stem
    elif not s.endswith((".", "!", "?")):
        s = stem + "."
    return s


class Maker:
    """Seeded voices: each a dict of the model's columns, with ``prompt``/``reason``/``claimed_by`` as positions."""

    def __init__(self, sources: dict[str, list[str]], now: datetime) -> None:
        self.sources = sources
        self.now = now
        self.en_sources = list(EN_SOURCE_WEIGHTS)
        self.en_weights = list(EN_SOURCE_WEIGHTS.values())
        self.provinces, self.province_w = list(POPULATION), list(POPULATION.values())

    def sentence(self, rng: random.Random, language: str) -> str:
        if language == "fr":
            return rng.choice(self.sources["sib200_fr"])
        return rng.choice(self.sources[rng.choices(self.en_sources, self.en_weights)[0]])

    def text(self, rng: random.Random, language: str, story: bool) -> str:
        count = rng.choice([2, 3, 3, 4, 4, 5, 6]) if story else rng.choice([1, 1, 2, 2, 3, 4])
        parts = []
        for k in range(count):
            s = vary(rng, self.sentence(rng, language))
            if k and rng.random() < 0.1:
                s = rng.choice(CONNECTORS[language]) + " " + s[:1].lower() + s[1:]
            parts.append(s)
        glue = "\n\n" if story and rng.random() < 0.3 else " "
        return glue.join(parts)[:4900]

    def voice(self, rng: random.Random, pk: int) -> dict:
        status = rng.choices(list(STATUSES), list(STATUSES.values()))[0]
        province = "" if rng.random() < 0.01 else rng.choices(self.provinces, self.province_w)[0]
        language = "fr" if rng.random() < FRENCH_SHARE.get(province, 0.02) else "en"
        prompt = rng.choices([1, 2, 3], PROMPT_WEIGHTS)[0]
        if prompt == 3:
            kind = "story" if rng.random() < 0.8 else "thought"
        else:
            kind = rng.choices(["wisdom", "thought", "story"], [40, 50, 10])[0]
        text = self.text(rng, language, kind == "story")
        title = ""
        if rng.random() < 0.3:
            title = " ".join(vary(rng, self.sentence(rng, language)).split()[: rng.randint(3, 7)])[:120]
        community = rng.choice(COMMUNITIES) if rng.random() < 0.15 else ""
        display = rng.choices(list(DISPLAYS), list(DISPLAYS.values()))[0]
        # The campaign opened 270 days ago; the queue's backlog is the last 14 days.
        if status in ("submitted", "returned"):
            submitted = self.now - timedelta(seconds=rng.expovariate(1 / (3 * 86400)) % (14 * 86400))
            created = submitted - timedelta(minutes=rng.uniform(1, 30))
        elif status == "pending":
            created = self.now - timedelta(seconds=rng.uniform(60, 6 * 86400))
            submitted = None
        else:
            created = self.now - timedelta(seconds=rng.uniform(4 * 86400, 270 * 86400))
            submitted = created + timedelta(minutes=rng.uniform(1, 30))
        published = None
        if status == "published":
            published = min(submitted + timedelta(seconds=rng.uniform(3600, 3 * 86400)), self.now)
        row = {
            "id": pk, "public_id": uuid.UUID(int=rng.getrandbits(128), version=4), "prompt": prompt, "kind": kind,
            "title": title, "text": text, "redacted_text": "", "language": language, "province": province,
            "community": community, "display": display,
            "display_name": "" if display == "anonymous" else rng.choice(NAMES),
            "email": f"voice{pk}@example.org", "email_normalized": f"voice{pk}@example.org",
            "page_language": language, "consent_publish": status == "published" or rng.random() < 0.85,
            "consent_analysis": rng.random() < 0.8, "consent_self_id": rng.random() < 0.5, "status": status,
            "code_hash": "0" * 64 if status == "pending" else "", "code_attempts": 0,
            "expires_at": created + timedelta(days=7), "created_at": created, "submitted_at": submitted,
            "published_at": published, "withdrawn_at": None, "claimed_by": None, "claimed_at": None,
            "reason": None, "moderator_note": "", "duplicate_of_id": None,
        }  # fmt: skip
        if status == "accepted":
            row["consent_publish"] = False
        if status in ("rejected", "returned"):
            row["reason"] = rng.randint(1, 7)
        if status == "submitted" and rng.random() < 0.05:
            row["claimed_by"] = rng.randint(1, 5)
            row["claimed_at"] = self.now - timedelta(minutes=rng.uniform(1, 60))
        if status == "published" and rng.random() < 0.01:
            marker = "[retiré]" if language == "fr" else "[removed]"
            words = text.split(" ")
            k = rng.randrange(len(words))
            row["redacted_text"] = " ".join(words[:k] + [marker] + words[k + 1 :])
        if status == "withdrawn":  # erased: a tombstone
            row.update(
                title="", text="", community="", display="anonymous", display_name="", email="",
                email_normalized="", consent_publish=False, consent_analysis=False, consent_self_id=False,
                withdrawn_at=created + timedelta(days=rng.uniform(1, 3)),
            )  # fmt: skip
        return row


def make_chunk(task: tuple) -> list[dict]:
    """Voices ``start+1 .. start+count`` (ids), with the app's derived fields; near-copies within the chunk."""
    from belonging.lib import neardup, textfold

    sources, now, start, count, seed = task
    rng = random.Random(seed)
    maker = Maker(sources, now)
    rows: list[dict] = []
    for k in range(count):
        row = maker.voice(rng, start + k + 1)
        if rows and row["status"] not in ("withdrawn", "pending") and rng.random() < 0.03:
            # A near-copy of an earlier voice (someone sharing twice, with a small change).
            original = rows[rng.randrange(len(rows))]
            if original["text"]:
                row["text"] = vary(rng, original["text"])
                row["language"] = original["language"]
                row["duplicate_of_id"] = original["duplicate_of_id"] or original["id"]
        # What services._derive computes on every save.
        public_text = row["redacted_text"] or row["text"]
        row["search_text"] = textfold.search_document(row["title"], public_text, row["community"])
        row["fingerprint"] = neardup.fingerprint(row["text"]) if row["text"] else None
        rows.append(row)
    return rows


def generate(count: int, seed: int, path: Path) -> float:
    """Generate every voice on all cores and pickle them to ``path``; returns seconds."""
    import multiprocessing

    t0 = time.perf_counter()
    sources, _ = load_corpus()
    now = datetime.now(UTC)
    tasks = [(sources, now, start, min(CHUNK, count - start), seed * 1000 + i)
             for i, start in enumerate(range(0, count, CHUNK))]  # fmt: skip
    with multiprocessing.get_context("spawn").Pool(os.cpu_count() or 1) as pool:
        rows = [row for chunk in pool.imap(make_chunk, tasks) for row in chunk]
    with path.open("wb") as fh:
        pickle.dump(rows, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------------------
# One database, in its own process (settings are read from the environment at import)
# --------------------------------------------------------------------------------------------


def voice_columns() -> list[str]:
    from belonging.voices.models import Voice

    return [f.column for f in Voice._meta.concrete_fields]


def bulk_load(vendor: str, rows_path: Path, prompt_ids: dict[int, int], reason_ids: dict[int, int],
              moderator_ids: dict[int, int], campaign_id: int) -> tuple[int, float]:  # fmt: skip
    """Insert the voices (COPY on PostgreSQL, executemany on SQLite, FTS5 triggers firing); (rows, seconds)."""
    from django.db import connection, transaction

    with rows_path.open("rb") as fh:
        rows = pickle.load(fh)
    columns = voice_columns()
    sqlite = vendor == "sqlite"

    def record(row: dict) -> tuple:
        values = dict(
            row, campaign_id=campaign_id, prompt_id=prompt_ids[row["prompt"]], place_id=None,
            reason_id=reason_ids.get(row["reason"]), claimed_by_id=moderator_ids.get(row["claimed_by"]),
        )  # fmt: skip
        out = []
        for column in columns:
            value = values[column]
            if sqlite:
                if isinstance(value, uuid.UUID):
                    value = value.hex
                elif isinstance(value, datetime):
                    value = value.replace(tzinfo=None).isoformat(" ")
                elif isinstance(value, bool):
                    value = int(value)
            out.append(value)
        return tuple(out)

    t0 = time.perf_counter()
    if not sqlite:
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY voices_voice ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(record(row))
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('voices_voice', 'id'), (SELECT max(id) FROM voices_voice))"
            )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) voices_voice")
    else:
        sql = f"INSERT INTO voices_voice ({', '.join(columns)}) VALUES ({', '.join(['?'] * len(columns))})"
        connection.ensure_connection()
        raw = connection.connection  # the sqlite3 connection: executemany without Django's per-row work
        raw.execute("PRAGMA cache_size = -400000")  # this loading connection only
        with transaction.atomic():
            for k in range(0, len(rows), 20_000):
                raw.executemany(sql, [record(row) for row in rows[k : k + 20_000]])
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        connection.close()  # later queries run on connections as the app opens them
    return len(rows), time.perf_counter() - t0


def explain(vendor: str, sql: str) -> str:
    """The plan of a statement the app really sent (captured with its parameters inlined)."""
    from django.db import connection

    head = "EXPLAIN (ANALYZE, BUFFERS) " if vendor == "postgresql" else "EXPLAIN QUERY PLAN "
    with connection.cursor() as cursor:
        cursor.execute(head + sql)
        rows = cursor.fetchall()
    return "\n".join(str(row[0] if vendor == "postgresql" else row[-1]) for row in rows)


class Timer:
    """Times GETs through the whole app in this process, as one server thread would serve them."""

    def __init__(self, client) -> None:
        self.client = client

    def get(self, url: str) -> float:
        from django.db import close_old_connections

        t0 = time.perf_counter()
        response = self.client.get(url)
        # What the server does after each response: SQLite (CONN_MAX_AGE 0) closes its connection,
        # PostgreSQL keeps it (the test client alone would keep both).
        close_old_connections()
        elapsed = time.perf_counter() - t0
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} -> {response.status_code}: {response.content[:300]!r}")
        return elapsed * 1000

    def run(self, mix: list[tuple[str, str]], requests: int, seed: int) -> dict:
        """Warm every URL once, then ``requests`` timed GETs drawn from ``mix``: per-request (class, url, ms)."""
        for _cls, url in mix:
            self.get(url)
        rng = random.Random(seed)
        order = [mix[k % len(mix)] for k in range(requests)]
        rng.shuffle(order)
        return {"samples": [(cls, url, self.get(url)) for cls, url in order]}


def summary(samples: list[tuple[str, str, float]]) -> dict:
    ms = [s[2] for s in samples]
    by_class: dict[str, list[float]] = defaultdict(list)
    by_url: dict[str, list[float]] = defaultdict(list)
    for cls, url, t in samples:
        by_class[cls].append(t)
        by_url[url].append(t)
    return {
        "n": len(ms), "p50": pct(ms, 50), "p95": pct(ms, 95), "p99": pct(ms, 99), "max": max(ms), "mean": sum(ms) / len(ms),
        "classes": {c: (pct(v, 50), pct(v, 95), max(v), len(v)) for c, v in sorted(by_class.items())},
        "slowest_urls": sorted(((pct(v, 50), u) for u, v in by_url.items()), reverse=True)[:3],
    }  # fmt: skip


def diagnose(vendor: str, prefix: str, client, url: str) -> list[tuple[float, str]]:
    """The SQL of one request of ``url`` with each statement's time; EXPLAIN the two slowest."""
    from django.db import close_old_connections, connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    statements = [(float(q["time"]) * 1000, q["sql"]) for q in queries.captured_queries]
    close_old_connections()
    total = sum(t for t, _ in statements)
    log(f"[{prefix}]   {url}: {len(statements)} statements, {total:.1f} ms in SQL")
    for t, sql in statements:
        log(f"[{prefix}]     {t:7.1f} ms  {sql[:220]}")
    for t, sql in sorted(statements, reverse=True)[:2]:
        if t < 5:
            break
        plan = explain(vendor, sql)
        log(f"[{prefix}]   plan of the {t:.1f} ms statement:\n      " + "\n      ".join(plan.splitlines()))
    return statements


def naive_search(qs, query: str):
    """The peer: what a plain Django implementation would do, ``icontains`` per word on the text column
    (here the folded ``search_text``, so accents fold the same way and the matches are comparable)."""
    from belonging.lib import textfold

    for term in textfold.search_terms(query):
        qs = qs.filter(search_text__icontains=term)
    return qs


def url_of(base: str, params: dict, prompt_ids: dict[int, int]) -> str:
    params = dict(params)
    if "prompt" in params:
        params["prompt"] = prompt_ids[params["prompt"]]
    return base + ("?" + urlencode(params) if params else "")


def run_one_db(args: argparse.Namespace) -> dict:
    import django

    django.setup()
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from belonging.accounts.models import User
    from belonging.accounts.roles import MODERATORS
    from belonging.core.models import Campaign
    from belonging.voices import selectors
    from belonging.voices.models import Prompt, ReasonCode, Voice

    vendor = connection.vendor
    prefix = "pg" if vendor == "postgresql" else "sqlite"
    out: dict[str, object] = {}
    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    log(f"[{prefix}] migrated in {time.perf_counter() - t0:.1f} s")
    if vendor == "sqlite":
        out["sqlite_version"] = connection.Database.sqlite_version
    else:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            out["pg_version"] = cursor.fetchone()[0]

    campaign = Campaign.objects.get(slug="strategy-for-belonging")
    prompt_ids = {p.position: p.pk for p in Prompt.objects.filter(campaign=campaign)}
    reason_ids = {
        k + 1: pk for k, pk in enumerate(ReasonCode.objects.order_by("position").values_list("pk", flat=True))
    }
    group = Group.objects.get(name=MODERATORS)
    moderators = []
    for k in range(1, 6):
        user = User.objects.create_user(username=f"moderator{k}", email=f"moderator{k}@example.org", password=None)
        user.groups.add(group)
        moderators.append(user)
    moderator_ids = {k + 1: u.pk for k, u in enumerate(moderators)}

    rows, seconds = bulk_load(vendor, Path(args.rows), prompt_ids, reason_ids, moderator_ids, campaign.pk)
    published = Voice.objects.filter(status="published").count()
    queued = Voice.objects.filter(status="submitted").count()
    out[f"{prefix}_load_rows"] = rows
    out[f"{prefix}_load_s"] = r(seconds)
    out[f"{prefix}_load_rows_per_s"] = r(rows / seconds)
    if vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM voices_voice_fts")
            fts_rows = cursor.fetchone()[0]
        db_mb = Path(connection.settings_dict["NAME"]).stat().st_size / 1e6
        connection.close()
        log(f"[{prefix}] loaded {rows:,} voices in {seconds:.1f} s ({rows / seconds:,.0f}/s; FTS5 triggers firing); "
            f"FTS rows {fts_rows:,}; file {db_mb:,.0f} MB")  # fmt: skip
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_total_relation_size('voices_voice'), pg_relation_size('voice_search')")
            total_b, gin_b = cursor.fetchone()
        log(f"[{prefix}] loaded {rows:,} voices in {seconds:.1f} s ({rows / seconds:,.0f}/s, COPY + VACUUM ANALYZE); "
            f"table with indexes {total_b / 1e6:,.0f} MB, of which the GIN index {gin_b / 1e6:,.0f} MB")  # fmt: skip
    log(f"[{prefix}] {published:,} published, {queued:,} waiting in the queue")

    client = Client(HTTP_HOST="127.0.0.1")
    timer = Timer(client)
    moderator_client = Client(HTTP_HOST="127.0.0.1")
    moderator_client.force_login(moderators[0])
    moderator_timer = Timer(moderator_client)

    def search_url(q: str | dict) -> str:
        return url_of("/en/voices/", q if isinstance(q, dict) else {"q": q}, prompt_ids)

    # How many published voices each search matches (untimed; shows the mix's spread).
    counts = []
    for cls, q in SEARCH_QUERIES:
        params = q if isinstance(q, dict) else {"q": q}
        filters = {k: v for k, v in params.items() if k != "page"}
        if "prompt" in filters:
            filters["prompt"] = Prompt.objects.get(pk=prompt_ids[filters["prompt"]])
        counts.append((cls, params.get("q"), selectors.gallery(**filters).count()))
    log(f"[{prefix}] search mix (published voices matched): "
        + ", ".join(f"{q!r} {n:,}" for _cls, q, n in counts))  # fmt: skip
    out[f"{prefix}_search_queries_matching_nothing"] = sum(1 for _c, _q, n in counts if n == 0)

    mixes = {
        "ceiling": ([("policy", "/en/voices/policy/")], timer),
        "unfiltered": ([("page_1", "/en/voices/")], timer),
        "search": ([(cls, search_url(q)) for cls, q in SEARCH_QUERIES], timer),
        "filtered": ([(cls, url_of("/en/voices/", p, prompt_ids)) for cls, p in FILTERED], timer),
        "queue": ([(cls, url_of("/en/moderation/", p, prompt_ids)) for cls, p in QUEUE], moderator_timer),
    }
    requests = {"ceiling": args.ref_requests, "unfiltered": args.ref_requests}
    results = {}
    for k, (name, (mix, tm)) in enumerate(mixes.items()):
        t0 = time.perf_counter()
        res = tm.run(mix, requests.get(name, args.requests), seed=args.seed + k)
        s = summary(res["samples"])
        results[name] = s
        out[f"{prefix}_{name}_requests"] = s["n"]
        for q in ("p50", "p95", "p99"):
            out[f"{prefix}_{name}_{q}_ms"] = r(s[q], 1)
        out[f"{prefix}_{name}_max_ms"] = r(s["max"], 1)
        log(f"[{prefix}] {name}: {s['n']} requests over {len(mix)} URLs in {time.perf_counter() - t0:.1f} s: "
            f"p50 {s['p50']:.1f} ms, p95 {s['p95']:.1f} ms, p99 {s['p99']:.1f} ms, max {s['max']:.0f} ms")  # fmt: skip
        if len(s["classes"]) > 1:
            for cls, (p50, p95, mx, n) in s["classes"].items():
                log(f"[{prefix}]     {cls:12} p50 {p50:7.1f}  p95 {p95:7.1f}  max {mx:7.1f} ms  ({n} requests)")
                out[f"{prefix}_{name}_{cls}_p95_ms"] = r(p95, 1)
        if name in ("search", "filtered", "queue"):
            log(f"[{prefix}]   slowest URLs by p50: " + "; ".join(f"{u} {t:.1f} ms" for t, u in s["slowest_urls"]))
            diagnose(vendor, prefix, moderator_client if name == "queue" else client, s["slowest_urls"][0][1])

    ceiling = results["ceiling"]
    for name in ("unfiltered", "search", "filtered", "queue"):
        # Share of the ceiling's throughput (one thread: requests/s = 1 / mean latency), as in bench/pledges.py.
        out[f"{prefix}_{name}_ratio_to_ceiling"] = r(ceiling["mean"] / results[name]["mean"], 3)
    out[f"{prefix}_search_p50_over_unfiltered_p50"] = r(results["search"]["p50"] / results["unfiltered"]["p50"], 2)
    out[f"{prefix}_target_met"] = all(results[n]["p95"] < TARGET_P95_MS for n in ("search", "filtered", "queue"))
    log(
        f"[{prefix}] ceiling (policy page) p50 {ceiling['p50']:.1f} ms; share of its throughput: "
        + ", ".join(
            f"{n} {out[f'{prefix}_{n}_ratio_to_ceiling']}" for n in ("unfiltered", "search", "filtered", "queue")
        )
        + f"; search p50 / unfiltered p50 = {out[f'{prefix}_search_p50_over_unfiltered_p50']}"
    )

    # The peer: icontains, through the same view, interleaved with the indexed search on the same queries.
    naive_ms: list[float] = []
    index_ms: list[float] = []
    real_search = selectors.search
    peer_counts = []
    for q in NAIVE_QUERIES:
        selectors.search = naive_search
        try:
            peer_counts.append((q, selectors.gallery(q=q).count()))
        finally:
            selectors.search = real_search
    urls = [search_url(q) for q in NAIVE_QUERIES]
    t0 = time.perf_counter()
    for rep in range(args.naive_rounds):
        for url in urls:
            for naive in (False, True) if rep % 2 else (True, False):
                selectors.search = naive_search if naive else real_search
                try:
                    t = timer.get(url)
                finally:
                    selectors.search = real_search
                if rep:  # the first round warms up
                    (naive_ms if naive else index_ms).append(t)
    out[f"{prefix}_naive_icontains_p50_ms"] = r(pct(naive_ms, 50))
    out[f"{prefix}_naive_icontains_p95_ms"] = r(pct(naive_ms, 95))
    out[f"{prefix}_indexed_same_queries_p50_ms"] = r(pct(index_ms, 50))
    out[f"{prefix}_indexed_same_queries_p95_ms"] = r(pct(index_ms, 95))
    out[f"{prefix}_index_speedup_vs_icontains_p50"] = r(pct(naive_ms, 50) / pct(index_ms, 50), 1)
    out[f"{prefix}_index_speedup_vs_icontains_p95"] = r(pct(naive_ms, 95) / pct(index_ms, 95), 1)
    log(
        f"[{prefix}] peer: icontains on {len(NAIVE_QUERIES)} queries x {args.naive_rounds - 1} rounds "
        f"({time.perf_counter() - t0:.1f} s, interleaved): p50 {pct(naive_ms, 50):.1f} ms, p95 {pct(naive_ms, 95):.1f} ms"
        f" vs the index p50 {pct(index_ms, 50):.1f} ms, p95 {pct(index_ms, 95):.1f} ms: the index is "
        f"{out[f'{prefix}_index_speedup_vs_icontains_p50']}x faster at p50, "
        f"{out[f'{prefix}_index_speedup_vs_icontains_p95']}x at p95. Matches (icontains is a substring match, "
        "the index a prefix match): " + ", ".join(f"{q!r} {n:,}" for q, n in peer_counts)
    )
    return out


# --------------------------------------------------------------------------------------------
# Orchestration: a scratch database per run, one child process per database
# --------------------------------------------------------------------------------------------


def run_db_child(db: str, args: argparse.Namespace, root: Path, rows_path: Path) -> dict:
    workdir = root / db
    workdir.mkdir()
    env = dict(base_env(), STATIC_ROOT=str(root / "static"))
    if db == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    else:
        env["DATABASE_URL"] = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{PG_DB_NAME}"
        pg_admin(f"DROP DATABASE IF EXISTS {PG_DB_NAME} WITH (FORCE)")
        pg_admin(f"CREATE DATABASE {PG_DB_NAME}")
    result_path = workdir / "result.json"
    command = [
        sys.executable, str(Path(__file__).resolve()), "--_child", "--rows", str(rows_path), "--result",
        str(result_path), "--requests", str(args.requests), "--ref-requests", str(args.ref_requests),
        "--naive-rounds", str(args.naive_rounds), "--seed", str(args.seed),
    ]  # fmt: skip
    try:
        proc = subprocess.run(command, cwd=REPO, env=env, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"the {db} run failed (exit status {proc.returncode})")
        return json.loads(result_path.read_text())
    finally:
        if db == "postgres" and not args.keep:
            pg_admin(f"DROP DATABASE IF EXISTS {PG_DB_NAME} WITH (FORCE)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--voices", type=int, default=200_000, help="voices to load (default 200,000)")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per scenario (default 300)")
    parser.add_argument("--ref-requests", type=int, default=200, help="timed requests of the ceiling and reference")
    parser.add_argument("--naive-rounds", type=int, default=4, help="rounds of the icontains peer (first one warms)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases and folder")
    parser.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rows", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    if args._child:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        out = run_one_db(args)
        Path(args.result).write_text(json.dumps(out))
        return 0

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped run still removes its scratch data
    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="bench-voices-"))
    figures: dict[str, object] = {}
    try:
        databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
        log(
            f"bench/voices.py: {', '.join(databases)}; {args.voices:,} voices; {args.requests} timed requests per "
            f"scenario ({args.ref_requests} for the ceiling and the reference); target p95 < {TARGET_P95_MS:g} ms; "
            f"{os.cpu_count()} cores"
        )
        _, attribution = load_corpus()
        log("texts from:\n  " + "\n  ".join(attribution))
        collect_static(root / "static", base_env())
        rows_path = root / "voices.pickle"
        seconds = generate(args.voices, args.seed, rows_path)
        figures["generate_s"] = r(seconds)
        log(f"generated {args.voices:,} voices with search_text and fingerprint in {seconds:.1f} s "
            f"on {os.cpu_count()} processes")  # fmt: skip
        for db in databases:
            if db == "postgres":
                try:
                    pg_admin("SELECT 1")
                except Exception as exc:  # noqa: BLE001 - say why and go on with what can run
                    log(f"PostgreSQL skipped: cannot connect to {PG_ADMIN_URL}: {exc}")
                    figures["pg_skipped"] = True
                    continue
            figures.update(run_db_child(db, args, root, rows_path))
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    figures = {
        "voices": args.voices,
        "target_p95_ms": TARGET_P95_MS,
        **figures,
        "cores": os.cpu_count(),
        # Other work on the machine skews absolute figures (ratios less so): the 1-minute load average.
        "load_avg_at_start": r(load_at_start, 2),
        "load_avg_at_end": r(os.getloadavg()[0], 2),
        "run_s": r(time.perf_counter() - started),
    }
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
