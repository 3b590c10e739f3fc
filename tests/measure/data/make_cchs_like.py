"""Writes cchs_like.csv: 40 synthetic respondents laid out like a Statistics Canada public use
microdata file (numeric codes, GEO_PRV province codes, WTS_M final weight, BSW1…BSW20 bootstrap
weights). Synthetic: no real person. Run it from this folder to rebuild the file (seeded, so the same
file comes out)."""

import csv

import numpy as np

PROVINCES = ["10", "11", "12", "13", "24", "35", "46", "47", "48", "59", "60", "61", "62"]
REPLICATES = 20


def main() -> None:
    rng = np.random.default_rng(20260101)
    header = ["PUMFID", "GEO_PRV", "AGE_BAND", "GENDER", "PSC_Q1", "contribution", "INDIG", "WTS_M"]
    header += [f"BSW{i}" for i in range(1, REPLICATES + 1)]
    rows = []
    for i in range(40):
        province = PROVINCES[i % len(PROVINCES)]
        age = str(int(rng.integers(1, 10)))  # 1..9
        gender = str(int(rng.integers(1, 3)))  # 1 man, 2 woman
        belonging = str(int(rng.choice([1, 2, 3, 4, 7, 8, 9], p=[0.25, 0.35, 0.2, 0.1, 0.04, 0.03, 0.03])))
        contribution = str(rng.choice(["strongly_agree", "somewhat_agree", "neither", "somewhat_disagree", ""]))
        indig = ["4", "1", "2", "1;2", "3", "9", ""][i % 7]
        weight = round(float(rng.uniform(200, 3000)), 2)
        factors = rng.choice([0.0, 1.0, 2.0, 3.0], size=REPLICATES, p=[0.37, 0.37, 0.18, 0.08])
        replicates = [f"{weight * f:.2f}" for f in factors]
        rows.append(
            [str(1000 + i), province, age, gender, belonging, contribution, indig, f"{weight:.2f}", *replicates]
        )
    with open("cchs_like.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


if __name__ == "__main__":
    main()
