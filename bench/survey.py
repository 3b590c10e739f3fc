#!/usr/bin/env python
"""Survey estimation at scale: ``belonging.lib.survey.estimate_table`` on 1,000,000 responses with 500 bootstrap weights.

Generates --rows synthetic respondents (default 1,000,000) with a fixed --seed: province (13 codes, sampled
roughly in proportion to the square root of the population, so the small provinces and the territories are
oversampled as in a national survey), age band, gender, five community flags (Indigenous, racialized, immigrant,
2SLGBTQI+, disability) whose rates depend on province and age, final weights (stratum population / stratum
sample size x a gender adjustment x log-normal non-response noise) and --replicates (default 500) Rao-Wu
bootstrap replicate weights: within each of the 78 strata (province x age band) of n_h respondents, n_h - 1
draws with replacement; replicate weight = full weight x n_h / (n_h - 1) x times drawn (combined weights, as
Statistics Canada's BSW1..BSWn). The replicate matrix is written, one block of 64 columns at a time, straight
into a float64 ``.npy`` file in a temporary folder (4 GB at the default sizes), so generation never holds a
second copy. Six indicators, correlated with the groups through a shared latent disposition: five 1-5 agreement
items turned into "strongly or somewhat agree" (1/0; 3-8% "prefer not to answer" as NaN, more often among
older respondents) and a four-category sense of belonging turned into "very or somewhat strong" (3% NaN).
40 overlapping domains: everyone, the 13 provinces and territories, 12 groups (gender, age, communities) and 14
intersections (community x region, 2SLGBTQI+ youth, women with a disability, racialized women).

Then, one after the other:

1. **Estimation at full size** in a child process that maps the ``.npy`` files (``np.load(mmap_mode="r")``),
   so its peak RSS (``VmHWM``) is the estimation's alone: one untimed sequential pass brings the replicate
   matrix into the process from the page cache ("load"), then ``estimate_table(ReplicateDesign(w, reps,
   centre="replicate_mean"), values, domains)`` --repeats times (first, median, CPU time). **Ceiling**: one
   streaming pass over the replicate matrix (``ones @ reps``, the least any estimator must read), in the same
   process. **Peer and full-size check**: the plain dense formulation, ``reps.T @ [y*d, v*d]`` (480 columns)
   in row blocks with BLAS, from which every estimate and SE is computed independently and compared.
2. **R's survey on a subset** (the first --r-rows rows and --r-replicates replicate columns: 100,000 x 200):
   the subset is written as raw float64 for ``bench/survey_r.R`` (``svrepdesign(type="bootstrap",
   combined.weights=TRUE, mse=FALSE)``; --r-idiom picks how R is asked for the 240 cells, ``ratio`` by
   default: the fastest of the four idioms tried, see the README), which times only its estimation with
   ``system.time``; then ours on exactly the same subset (a contiguous copy, --r-repeats times, median), and
   the largest absolute differences of the estimates and SEs (should be < 1e-8).

Floors (PASS/FAIL lines, never a failing exit): full-size estimation < 30 s and < 8 GB peak RSS; ours >= 10x
faster than R on the subset; estimates and SEs within 1e-8 of R's and of the dense formulation.

Scratch files only, in a temporary folder removed at the end (about 4.5 GB at the default sizes). Prints one
line of JSON with all figures last.

    .venv/bin/python bench/survey.py                           # 1,000,000 x 500; R on 100,000 x 200
    .venv/bin/python bench/survey.py --rows 100000 --replicates 200 --r-rows 20000 --r-replicates 100
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, log, r

# Province or territory, share of the population aged 15+ (approximate 2024 estimates), region.
PROVINCES = (
    ("NL", 0.0135, "Atlantic"), ("PE", 0.0044, "Atlantic"), ("NS", 0.0268, "Atlantic"), ("NB", 0.0210, "Atlantic"),
    ("QC", 0.2160, "Quebec"), ("ON", 0.3930, "Ontario"), ("MB", 0.0368, "Prairies"), ("SK", 0.0303, "Prairies"),
    ("AB", 0.1200, "Prairies"), ("BC", 0.1350, "BC"), ("YT", 0.0011, "North"), ("NT", 0.0011, "North"),
    ("NU", 0.0010, "North"),
)  # fmt: skip
# Community rates by province (rough Census 2021 levels): Indigenous, racialized, immigrant.
INDIGENOUS = (0.09, 0.03, 0.06, 0.04, 0.025, 0.03, 0.18, 0.17, 0.07, 0.06, 0.22, 0.50, 0.85)
RACIALIZED = (0.04, 0.07, 0.07, 0.05, 0.17, 0.34, 0.22, 0.14, 0.27, 0.34, 0.10, 0.13, 0.03)
IMMIGRANT = (0.03, 0.08, 0.07, 0.05, 0.15, 0.30, 0.20, 0.12, 0.23, 0.29, 0.10, 0.09, 0.02)
PROVINCE_EFFECT = (0.25, 0.25, 0.20, 0.20, -0.10, -0.05, 0.05, 0.10, 0.0, -0.10, 0.15, 0.05, -0.10)
# Age band, population share, relative response rate, effect on the latent disposition, 2SLGBTQI+ rate,
# disability rate, racialized and immigrant rate multipliers.
AGE_BANDS = (
    ("15-24", 0.150, 0.70, -0.25, 0.105, 0.20, 1.30, 0.60),
    ("25-34", 0.170, 0.80, -0.30, 0.070, 0.20, 1.25, 1.10),
    ("35-44", 0.160, 0.95, -0.15, 0.045, 0.22, 1.10, 1.30),
    ("45-54", 0.150, 1.00, 0.00, 0.030, 0.26, 0.95, 1.25),
    ("55-64", 0.160, 1.15, 0.15, 0.020, 0.31, 0.80, 1.00),
    ("65+", 0.210, 1.30, 0.35, 0.015, 0.40, 0.60, 0.90),
)  # fmt: skip
GENDERS = (("woman", 0.505, 0.530), ("man", 0.490, 0.463), ("gender-diverse", 0.005, 0.007))  # population, sample
POPULATION_15_PLUS = 33_000_000
# The five agreement items: intercept, "prefer not to answer" rate.
ITEMS = (
    ("I feel I belong in my community", 0.6, 0.028),
    ("Most people in my neighbourhood can be trusted", 0.4, 0.04),
    ("I feel safe walking alone after dark", 0.9, 0.035),
    ("I can be myself where I live", 0.8, 0.05),
    ("People from my background are treated with respect here", 0.7, 0.065),
)
INDICATORS = [f"agree: {item[0]}" for item in ITEMS] + ["sense of belonging very or somewhat strong"]
LIKERT_CUTS = (-2.2, -1.2, -0.3, 1.3)  # latent cut points between the 1-5 answers; 4-5 = agree
BELONGING_CUTS = (-1.5, 0.0, 2.0)  # very weak | somewhat weak | somewhat strong | very strong
REPLICATE_BLOCK = 64  # replicate columns generated at a time (a 512 MB buffer at 1,000,000 rows)
REFERENCE_BLOCK = 20_000  # rows per block of the dense formulation

FLOOR_SECONDS = 30.0
FLOOR_GB = 8.0
FLOOR_R_RATIO = 10.0
FLOOR_DIFF = 1e-8


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000, help="respondents (default 1,000,000)")
    p.add_argument("--replicates", type=int, default=500, help="bootstrap replicate weights (default 500)")
    p.add_argument("--r-rows", type=int, default=100_000, help="rows of the subset given to R (default 100,000)")
    p.add_argument("--r-replicates", type=int, default=200, help="replicates of R's subset (default 200)")
    p.add_argument("--r-idiom", default="ratio", choices=("ratio", "subset", "svyby", "totals"),
                   help="how R is asked for the cells (see bench/survey_r.R; default ratio, the fastest)")  # fmt: skip
    p.add_argument("--no-r", action="store_true", help="skip the comparison with R")
    p.add_argument("--no-reference", action="store_true", help="skip the dense formulation at full size")
    p.add_argument("--repeats", type=int, default=3, help="full-size estimate_table calls (default 3)")
    p.add_argument("--r-repeats", type=int, default=5, help="our calls on R's subset (default 5; median)")
    p.add_argument("--seed", type=int, default=20261125)
    p.add_argument("--estimate-child", metavar="DIR", help=argparse.SUPPRESS)
    return p.parse_args()


def vm_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS, VmHWM): resident file pages (the mapped .npy) count too."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def gb(kib: int) -> float:
    return kib / 1024**2


def cpu_seconds() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process (BLAS included)
    return u.ru_utime + u.ru_stime


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown"
    libs = [f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)" for i in threadpool_info()]
    return "; ".join(libs) or "unknown"


# --- the synthetic survey -----------------------------------------------------------------------------------


def domain_names() -> list[str]:
    names = ["everyone"] + [p[0] for p in PROVINCES]
    names += ["women", "men", "gender-diverse", "15-24", "25-44", "45-64", "65+"]
    names += ["Indigenous", "racialized", "immigrant", "2SLGBTQI+", "disability"]
    names += [f"Indigenous x {g}" for g in ("Prairies", "Ontario", "BC", "North")]
    names += [f"racialized x {g}" for g in ("Quebec", "Ontario", "Prairies", "BC")]
    names += [f"immigrant x {g}" for g in ("Quebec", "Ontario", "BC")]
    names += ["2SLGBTQI+ x 15-24", "disability x women", "racialized x women"]
    return names


def generate_respondents(n: int, rng):
    """Everything but the replicate weights: (weights, stratum, values (n, 6), domains (n, 40) bool, codes)."""
    import numpy as np

    prov_pop = np.array([p[1] for p in PROVINCES])
    prov_sample = np.sqrt(prov_pop) / np.sqrt(prov_pop).sum()
    age_pop = np.array([a[1] for a in AGE_BANDS])
    age_sample = age_pop * np.array([a[2] for a in AGE_BANDS])
    age_sample /= age_sample.sum()
    province = rng.choice(len(PROVINCES), size=n, p=prov_sample).astype(np.int8)
    age = rng.choice(len(AGE_BANDS), size=n, p=age_sample).astype(np.int8)
    gender = rng.choice(3, size=n, p=[g[2] for g in GENDERS]).astype(np.int8)

    def col(i: int):
        return np.array([a[i] for a in AGE_BANDS])

    indigenous = rng.random(n) < np.array(INDIGENOUS)[province]
    racialized = ~indigenous & (rng.random(n) < np.array(RACIALIZED)[province] * col(6)[age])
    p_imm = np.array(IMMIGRANT)[province] * col(7)[age] * np.where(racialized, 2.2, 0.55)
    immigrant = rng.random(n) < np.minimum(p_imm, 0.95)
    lgbt = (gender == 2) | (rng.random(n) < col(4)[age])
    disability = rng.random(n) < col(5)[age] * np.where(gender == 0, 1.15, 0.9)

    # Final weights: stratum population / stratum sample size, x gender adjustment, x log-normal noise.
    stratum = province.astype(np.int32) * len(AGE_BANDS) + age
    strata = len(PROVINCES) * len(AGE_BANDS)
    n_h = np.bincount(stratum, minlength=strata)
    pop_h = POPULATION_15_PLUS * np.outer(prov_pop, age_pop).ravel()
    base = pop_h[stratum] / n_h[stratum]
    gender_adj = np.array([g[1] / g[2] for g in GENDERS])[gender]
    sigma = 0.4
    weights = base * gender_adj * rng.lognormal(-(sigma**2) / 2, sigma, size=n)

    # Answers: a shared latent disposition (group effects + a person effect) and logistic noise per question.
    eta = (np.array(PROVINCE_EFFECT)[province] + col(3)[age] - 0.35 * indigenous - 0.25 * racialized
           + 0.10 * immigrant - 0.40 * lgbt - 0.30 * disability - 0.30 * (gender == 2) + rng.normal(0, 1, n))  # fmt: skip
    extra = (
        0.0,
        0.25 * (age >= 4) - 0.15 * immigrant,
        -0.6 * (gender == 0) - 0.5 * (gender == 2) + 0.2 * (province >= 10),
        -0.5 * lgbt,
        -0.5 * racialized - 0.6 * indigenous,
    )
    values = np.empty((n, 6))
    refuse_boost = np.where(age == 5, 1.5, 1.0) * np.where(gender == 2, 1.5, 1.0)
    for k, (_, alpha, refuse) in enumerate(ITEMS):
        z = alpha + eta + extra[k] + rng.logistic(size=n)
        likert = 1 + sum((z > c).astype(np.int8) for c in LIKERT_CUTS)
        values[:, k] = likert >= 4
        values[rng.random(n) < refuse * refuse_boost, k] = np.nan
    z = 0.3 + eta + rng.logistic(size=n)
    belonging = 4 - sum((z > c).astype(np.int8) for c in BELONGING_CUTS)  # 1 very strong .. 4 very weak
    values[:, 5] = belonging <= 2
    values[rng.random(n) < 0.03, 5] = np.nan

    region = np.array([p[2] for p in PROVINCES])[province]
    women = gender == 0
    doms = [np.ones(n, bool)] + [province == i for i in range(len(PROVINCES))]
    doms += [women, gender == 1, gender == 2, age == 0, (age == 1) | (age == 2), (age == 3) | (age == 4), age == 5]
    doms += [indigenous, racialized, immigrant, lgbt, disability]
    doms += [indigenous & (region == g) for g in ("Prairies", "Ontario", "BC", "North")]
    doms += [racialized & (region == g) for g in ("Quebec", "Ontario", "Prairies", "BC")]
    doms += [immigrant & (region == g) for g in ("Quebec", "Ontario", "BC")]
    doms += [lgbt & (age == 0), disability & women, racialized & women]
    domains = np.column_stack(doms)
    assert domains.shape[1] == len(domain_names())
    return weights, stratum, values, domains


def write_replicates(path: Path, weights, stratum, replicates: int, rng) -> None:
    """Rao-Wu bootstrap (n_h - 1 draws with replacement in each stratum), combined with the full weights.

    Written block by block (REPLICATE_BLOCK columns) into a float64 .npy opened as a memmap: no second copy.
    """
    import numpy as np

    n = len(weights)
    reps = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, replicates))
    order = np.argsort(stratum, kind="stable")
    sizes = np.bincount(stratum)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    draws = np.where(sizes >= 2, sizes - 1, 0)
    draw_start = np.repeat(starts, draws)
    draw_size = np.repeat(sizes, draws)
    single = np.repeat(sizes < 2, sizes)  # a stratum of one cannot be resampled: it keeps its weight
    scale_sorted = np.repeat(np.where(sizes >= 2, sizes / np.maximum(sizes - 1, 1), 1.0), sizes) * weights[order]
    for b0 in range(0, replicates, REPLICATE_BLOCK):
        b1 = min(replicates, b0 + REPLICATE_BLOCK)
        block = np.empty((b1 - b0, n))
        for j in range(b1 - b0):
            counts = np.bincount(draw_start + rng.integers(0, draw_size), minlength=n).astype(np.float64)
            counts[single] = 1.0
            block[j, order] = counts * scale_sorted
        reps[:, b0:b1] = block.T
    reps.flush()
    del reps


# --- the estimation child -----------------------------------------------------------------------------------


def estimate_child(folder: Path, repeats: int, reference: bool) -> None:
    import numpy as np

    from belonging.lib.survey import ReplicateDesign, estimate_table

    weights = np.load(folder / "weights.npy")
    values = np.load(folder / "values.npy")
    domains = np.load(folder / "domains.npy")
    reps = np.load(folder / "replicates.npy", mmap_mode="r")
    n, B = reps.shape
    out: dict[str, object] = {"rss_before_load_gb": r(gb(vm_kib("VmRSS")), 3)}

    # Bring the replicate matrix into this process (from the page cache the generator left): not timed as
    # estimation. After it the whole matrix is resident, as it would be after reading it from a file.
    t = time.perf_counter()
    checksum = 0.0
    for i in range(0, n, 50_000):
        checksum += float(reps[i : i + 50_000].sum())
    out["load_s"] = r(time.perf_counter() - t, 2)
    out["rss_after_load_gb"] = r(gb(vm_kib("VmRSS")), 3)
    log(f"  child: replicate matrix mapped and read in {out['load_s']} s; resident {out['rss_after_load_gb']} GB")

    ones = np.ones(n)
    one_pass = []
    for _ in range(3):
        t = time.perf_counter()
        ones @ reps
        one_pass.append(time.perf_counter() - t)
    out["one_pass_s"] = r(min(one_pass), 3)

    # Building the design validates the replicate matrix (it reads it): timed, and counted in the floor.
    t = time.perf_counter()
    design = ReplicateDesign(weights=weights, replicates=reps, centre="replicate_mean")
    out["design_s"] = r(time.perf_counter() - t, 3)
    log(f"  child: ReplicateDesign(...) built in {out['design_s']} s")
    runs, cpus, table = [], [], None
    for i in range(repeats):
        c, t = cpu_seconds(), time.perf_counter()
        table = estimate_table(design, values, domains)
        runs.append(time.perf_counter() - t)
        cpus.append(cpu_seconds() - c)
        log(f"  child: estimate_table call {i + 1}: {runs[-1]:.2f} s wall, {cpus[-1]:.2f} s CPU")
    out["estimate_runs_s"] = [r(x, 3) for x in runs]
    out["estimate_first_s"] = r(runs[0], 3)
    out["design_and_first_s"] = r(out["design_s"] + runs[0], 3)
    out["estimate_median_s"] = r(statistics.median(runs), 3)
    out["estimate_cpu_s"] = r(statistics.median(cpus), 3)
    out["estimate_peak_rss_gb"] = r(gb(vm_kib("VmHWM")), 3)
    k, d = values.shape[1], domains.shape[1]
    est = np.array([[table[a][b].estimate for b in range(d)] for a in range(k)])
    se = np.array([[table[a][b].se for b in range(d)] for a in range(k)])
    cnt = np.array([[table[a][b].n for b in range(d)] for a in range(k)])
    wn = np.array([[table[a][b].weighted_n for b in range(d)] for a in range(k)])
    flags = [table[a][b].flag for a in range(k) for b in range(d)]
    out["cells_flag_E"] = flags.count("E")
    out["cells_flag_F"] = flags.count("F")
    np.save(folder / "full_estimates.npy", np.stack([est, se]))

    if reference:
        # The plain dense formulation: [y*d, v*d] (k*d numerator and k*d denominator columns) against every
        # replicate column, in row blocks, with BLAS; every cell's estimate and SE computed from it.
        t = time.perf_counter()
        cols = k * d
        rep_acc = np.zeros((B, 2 * cols))
        full_acc = np.zeros(2 * cols)
        count_acc = np.zeros(cols)
        for i in range(0, n, REFERENCE_BLOCK):
            y = values[i : i + REFERENCE_BLOCK]
            dm = domains[i : i + REFERENCE_BLOCK].astype(np.float64)
            valid = ~np.isnan(y)
            num = (np.where(valid, y, 0.0)[:, :, None] * dm[:, None, :]).reshape(len(y), cols)
            den = (valid[:, :, None] * dm[:, None, :]).reshape(len(y), cols)
            m = np.hstack([num, den])
            rep_acc += reps[i : i + REFERENCE_BLOCK].T @ m
            full_acc += weights[i : i + REFERENCE_BLOCK] @ m
            count_acc += den.sum(axis=0)
        theta = full_acc[:cols] / full_acc[cols:]
        theta_b = rep_acc[:, :cols] / rep_acc[:, cols:]
        ref_se = np.sqrt(((theta_b - theta_b.mean(axis=0)) ** 2).sum(axis=0) / (B - 1))
        out["dense_s"] = r(time.perf_counter() - t, 3)
        out["dense_max_abs_diff_estimate"] = float(np.abs(est.ravel() - theta).max())
        out["dense_max_abs_diff_se"] = float(np.abs(se.ravel() - ref_se).max())
        out["dense_n_mismatches"] = int((cnt.ravel() != count_acc).sum())
        out["dense_max_rel_diff_weighted_n"] = float(np.abs(wn.ravel() / full_acc[cols:] - 1).max())
    (folder / "child.json").write_text(json.dumps(out))


# --- R's survey on the subset -------------------------------------------------------------------------------


def r_available() -> tuple[bool, str]:
    if shutil.which("Rscript") is None:
        return False, "Rscript is not installed"
    probe = subprocess.run(["Rscript", "-e", "suppressPackageStartupMessages(library(survey))"],
                           check=False, capture_output=True, text=True)  # fmt: skip
    if probe.returncode != 0:
        return False, "R's survey package is not installed: " + probe.stderr.strip().splitlines()[-1]
    return True, ""


def run_r(folder: Path, n: int, B: int, k: int, d: int, idiom: str) -> dict:
    cmd = ["Rscript", str(REPO / "bench" / "survey_r.R"), str(folder), str(n), str(B), str(k), str(d), idiom]
    t = time.perf_counter()
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"Rscript failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    out: dict = {"wall_s": wall}
    for line in proc.stdout.splitlines():
        if line.startswith("R_VERSION "):
            out["version"] = line.split(" ", 1)[1]
        elif line.startswith("R_TIMES "):
            design_s, est_s, user_s, sys_s = map(float, line.split()[1:])
            out.update(design_s=design_s, estimate_s=est_s, cpu_s=user_s + sys_s)
    with open(folder / "r_out.csv", newline="") as f:
        out["rows"] = [(int(row["domain"]), int(row["indicator"]), float(row["estimate"]), float(row["se"]))
                       for row in csv.DictReader(f)]  # fmt: skip
    return out


# --- main ---------------------------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    if args.estimate_child:
        estimate_child(Path(args.estimate_child), args.repeats, not args.no_reference)
        return 0
    import numpy as np

    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    n, B = args.rows, args.replicates
    rn, rb = min(args.r_rows, n), min(args.r_replicates, B)
    survey_path = REPO / "belonging" / "lib" / "survey.py"
    if not survey_path.exists():
        log("belonging/lib/survey.py does not exist: nothing to measure")
        return 1
    module_hash = hashlib.sha256(survey_path.read_bytes()).hexdigest()[:12]
    log(f"bench/survey.py: estimate_table, {n:,} respondents x {B} bootstrap replicates, 6 indicators x 40 domains; "
        f"R on {rn:,} x {rb}")  # fmt: skip
    log(f"belonging/lib/survey.py sha256 {module_hash}; python {sys.version.split()[0]}, numpy {np.__version__}, BLAS: {blas_info()}; {os.cpu_count()} cores; "
        f"load average {load_at_start:.2f}")  # fmt: skip
    out: dict[str, object] = {"rows": n, "replicates": B, "indicators": 6, "domains": 40, "seed": args.seed}
    out["survey_module_sha256"] = module_hash
    verdicts: list[bool] = []

    def floor(label: str, ok: bool, detail: str) -> None:
        verdicts.append(ok)
        log(f"{'PASS' if ok else 'FAIL'}  {label}: {detail}")

    with tempfile.TemporaryDirectory(prefix="bench-survey-") as tmp:
        folder = Path(tmp)
        # 1. Generate.
        t = time.perf_counter()
        rng = np.random.default_rng(args.seed)
        weights, stratum, values, domains = generate_respondents(n, rng)
        write_replicates(folder / "replicates.npy", weights, stratum, B, rng)
        np.save(folder / "weights.npy", weights)
        np.save(folder / "values.npy", values)
        np.save(folder / "domains.npy", domains)
        out["generate_s"] = r(time.perf_counter() - t, 1)
        out["generate_peak_rss_gb"] = r(gb(vm_kib("VmHWM")), 2)
        sizes = domains.sum(axis=0)
        names = domain_names()
        missing = np.isnan(values).mean(axis=0)
        log(f"\n== data: generated in {out['generate_s']} s (peak RSS of the generator {out['generate_peak_rss_gb']} GB, "
            f"the replicate matrix written through a memmap: {n * B * 8 / 1e9:.1f} GB)")  # fmt: skip
        log(f"  weights: {weights.min():.1f} to {weights.max():.1f} (sum {weights.sum():,.0f}); "
            f"{len(np.unique(stratum))} strata of {np.bincount(stratum)[np.bincount(stratum) > 0].min():,} to "
            f"{np.bincount(stratum).max():,} respondents")  # fmt: skip
        log(f"  domain sizes: {sizes.min():,} ({names[int(sizes.argmin())]}) to {sizes.max():,}; "
            f"a respondent is in {domains.sum(axis=1).mean():.1f} domains on average")  # fmt: skip
        log(f"  no answer: {', '.join(f'{m:.1%}' for m in missing)} of the six indicators")
        del weights, stratum

        # 2. Estimation at full size, in a child process.
        log(f"\n== estimate_table at full size ({n:,} x {B}), in a child process mapping the .npy files")
        out["load_avg_before_estimation"] = r(os.getloadavg()[0], 2)
        cmd = [sys.executable, __file__, "--estimate-child", str(folder), "--repeats", str(args.repeats)]
        cmd += ["--no-reference"] if args.no_reference else []
        subprocess.run(cmd, check=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
        child = json.loads((folder / "child.json").read_text())
        out.update({k: v for k, v in child.items()})
        full = np.load(folder / "full_estimates.npy")
        log(f"  ReplicateDesign {child['design_s']} s + estimate_table: first {child['estimate_first_s']} s, median "
            f"{child['estimate_median_s']} s of {args.repeats} ({child['estimate_cpu_s']} s CPU); peak RSS "
            f"{child['estimate_peak_rss_gb']} GB, of which {child['rss_after_load_gb']} GB resident after mapping "
            f"and reading the data")  # fmt: skip
        ratio_pass = child["estimate_median_s"] / child["one_pass_s"]
        out["estimate_over_one_pass"] = r(ratio_pass, 1)
        log(f"  ceiling, one pass over the replicate matrix (ones @ reps): {child['one_pass_s']} s; "
            f"estimate_table / one pass = {ratio_pass:.1f}x")  # fmt: skip
        out["estimate_s_over_floor"] = r(child["design_and_first_s"] / FLOOR_SECONDS, 3)
        out["estimate_gb_over_floor"] = r(child["estimate_peak_rss_gb"] / FLOOR_GB, 3)
        if "dense_s" in child:
            out["dense_over_estimate"] = r(child["dense_s"] / child["estimate_median_s"], 2)
            log(f"  peer, the dense formulation (reps.T @ [y*d, v*d], 480 columns, row blocks, BLAS): {child['dense_s']} s; "
                f"dense / estimate_table = {out['dense_over_estimate']}x; max |diff| estimate "
                f"{child['dense_max_abs_diff_estimate']:.1e}, SE {child['dense_max_abs_diff_se']:.1e}; "
                f"n mismatches {child['dense_n_mismatches']}; weighted n max rel diff "
                f"{child['dense_max_rel_diff_weighted_n']:.1e}")  # fmt: skip
        log(f"  cells flagged E {child['cells_flag_E']}, F {child['cells_flag_F']} of 240")
        se_rel = full[1] / full[0]
        log(f"  estimates {full[0].min():.3f} to {full[0].max():.3f}; SE {full[1].min():.4f} to {full[1].max():.4f} "
            f"(CV {100 * se_rel.min():.2f}% to {100 * se_rel.max():.2f}%)")  # fmt: skip

        # 3. R on a subset, then ours on exactly the same subset.
        out.update(r_rows=rn, r_replicates=rb, r_idiom=args.r_idiom, r_seconds=None)
        ok_r, why = (False, "--no-r given") if args.no_r else r_available()
        if not ok_r:
            log(f"\n== R's survey: skipped ({why})")
            out["r_skipped"] = why
        else:
            log(f"\n== R's survey on the subset ({rn:,} x {rb}), idiom '{args.r_idiom}', then ours on the same subset")
            reps_map = np.load(folder / "replicates.npy", mmap_mode="r")
            sub_reps = np.ascontiguousarray(reps_map[:rn, :rb])
            del reps_map
            sub_w = np.load(folder / "weights.npy")[:rn].copy()
            sub_y, sub_d = values[:rn].copy(), domains[:rn].copy()
            rdir = folder / "r"
            rdir.mkdir()
            sub_w.tofile(rdir / "w.bin")
            sub_reps.T.tofile(rdir / "reps.bin")  # column-major for R's matrix()
            sub_y.T.tofile(rdir / "values.bin")
            sub_d.T.astype(np.int32).tofile(rdir / "domains.bin")
            out["load_avg_before_r"] = r(os.getloadavg()[0], 2)
            res = run_r(rdir, rn, rb, 6, 40, args.r_idiom)
            log(f"  {res.get('version')}: design {res['design_s']:.2f} s, estimation {res['estimate_s']:.2f} s "
                f"({res['cpu_s']:.2f} s CPU; Rscript whole, with reading, {res['wall_s']:.1f} s)")  # fmt: skip

            from belonging.lib.survey import ReplicateDesign, estimate_table

            t = time.perf_counter()
            design = ReplicateDesign(weights=sub_w, replicates=sub_reps, centre="replicate_mean")
            ours_design_s = time.perf_counter() - t
            ours, ours_cpu, table = [], [], None
            for _ in range(args.r_repeats):
                c, t = cpu_seconds(), time.perf_counter()
                table = estimate_table(design, sub_y, sub_d)
                ours.append(time.perf_counter() - t)
                ours_cpu.append(cpu_seconds() - c)
            ours_s, ours_cpu_s = statistics.median(ours), statistics.median(ours_cpu)
            diff_est = max(abs(table[k - 1][j - 1].estimate - e) for j, k, e, _ in res["rows"])
            diff_se = max(abs(table[k - 1][j - 1].se - s) for j, k, _, s in res["rows"])
            speed = res["estimate_s"] / ours_s
            speed_cpu = res["cpu_s"] / ours_cpu_s if ours_cpu_s > 0 else float("inf")
            log(f"  ours: ReplicateDesign {ours_design_s:.3f} s; estimate_table median {ours_s:.3f} s of "
                f"{args.r_repeats} (first {ours[0]:.3f} s; {ours_cpu_s:.3f} s CPU)")  # fmt: skip
            speed_with_design = (res["design_s"] + res["estimate_s"]) / (ours_design_s + ours_s)
            log(f"  R / ours = {speed:.0f}x wall ({speed_cpu:.0f}x CPU; {speed_with_design:.0f}x counting both designs' "
                f"construction); max |diff| estimate {diff_est:.1e}, SE {diff_se:.1e} over {len(res['rows'])} cells")  # fmt: skip
            out.update(
                r_version=res.get("version"),
                r_seconds=r(res["estimate_s"], 2),
                r_design_s=r(res["design_s"], 2),
                r_cpu_s=r(res["cpu_s"], 2),
                ours_subset_design_s=r(ours_design_s, 4),
                ours_subset_s=r(ours_s, 4),
                ours_subset_first_s=r(ours[0], 4),
                ours_subset_cpu_s=r(ours_cpu_s, 4),
                speed_ratio_vs_r=r(speed, 1),
                speed_ratio_vs_r_cpu=r(speed_cpu, 1),
                speed_ratio_vs_r_with_design=r(speed_with_design, 1),
                r_max_abs_diff_estimate=diff_est,
                r_max_abs_diff_se=diff_se,
            )

    log("")
    floor(f"full-size estimation < {FLOOR_SECONDS:g} s", out["design_and_first_s"] < FLOOR_SECONDS,
          f"{out['design_and_first_s']} s (ReplicateDesign {out['design_s']} s + first estimate_table call "
          f"{out['estimate_first_s']} s; median call {out['estimate_median_s']} s)")  # fmt: skip
    floor(f"full-size estimation < {FLOOR_GB:g} GB", out["estimate_peak_rss_gb"] < FLOOR_GB,
          f"{out['estimate_peak_rss_gb']} GB peak RSS of the estimating process")  # fmt: skip
    if "dense_max_abs_diff_estimate" in out:
        worst = max(out["dense_max_abs_diff_estimate"], out["dense_max_abs_diff_se"])
        floor(f"full size: estimates and SEs within {FLOOR_DIFF:g} of the dense formulation",
              worst < FLOOR_DIFF and out["dense_n_mismatches"] == 0, f"max |diff| {worst:.1e}")  # fmt: skip
    if out["r_seconds"] is not None:
        floor(f"ours >= {FLOOR_R_RATIO:g}x faster than R's survey", out["speed_ratio_vs_r"] >= FLOOR_R_RATIO,
              f"{out['speed_ratio_vs_r']}x ({out['r_seconds']} s vs {out['ours_subset_s']} s)")  # fmt: skip
        worst = max(out["r_max_abs_diff_estimate"], out["r_max_abs_diff_se"])
        floor(f"estimates and SEs within {FLOOR_DIFF:g} of R's", worst < FLOOR_DIFF, f"max |diff| {worst:.1e}")
    changed = hashlib.sha256(survey_path.read_bytes()).hexdigest()[:12] != module_hash
    if changed:
        log("NOTE: belonging/lib/survey.py changed during this run; run the bench again for consistent figures")
    log(f"\n{sum(verdicts)} of {len(verdicts)} floors passed")
    out.update(
        floors_passed=sum(verdicts),
        floors=len(verdicts),
        survey_module_changed_during_run=changed,
        cores=os.cpu_count(),
        load_avg_at_start=r(load_at_start, 2),
        load_avg_at_end=r(os.getloadavg()[0], 2),
        run_s=r(time.perf_counter() - started),
    )
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
