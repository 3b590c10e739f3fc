"""Tests for belonging.lib.canada_map (pure Python, no Django needed)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from belonging.lib.canada_map import (
    DEFAULT_DATA_PATH,
    PROVINCE_CODES,
    CanadaMap,
    Region,
    class_bounds,
    classify,
    load_map,
    project,
)

PATH_BUDGET_BYTES = 60_000

EXPECTED_NAMES = {
    "NL": ("Newfoundland and Labrador", "Terre-Neuve-et-Labrador"),
    "PE": ("Prince Edward Island", "Île-du-Prince-Édouard"),
    "NS": ("Nova Scotia", "Nouvelle-Écosse"),
    "NB": ("New Brunswick", "Nouveau-Brunswick"),
    "QC": ("Quebec", "Québec"),
    "ON": ("Ontario", "Ontario"),
    "MB": ("Manitoba", "Manitoba"),
    "SK": ("Saskatchewan", "Saskatchewan"),
    "AB": ("Alberta", "Alberta"),
    "BC": ("British Columbia", "Colombie-Britannique"),
    "YT": ("Yukon", "Yukon"),
    "NT": ("Northwest Territories", "Territoires du Nord-Ouest"),
    "NU": ("Nunavut", "Nunavut"),
}

PATH_RE = re.compile(r"^(M-?\d+ -?\d+l(?:-?\d+(?: ?-?\d+)*)z)+$")
TOKEN_RE = re.compile(r"[Mlz]|-?\d+")


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def parse_path(d: str) -> list[list[tuple[int, int]]]:
    """Parse an 'M x y l dx dy ... z' path into rings of absolute points."""
    tokens = TOKEN_RE.findall(d)
    assert "".join(tokens) == re.sub(r"\s+", "", d), "path has unexpected characters"
    rings: list[list[tuple[int, int]]] = []
    i = 0
    cmd = ""
    x = y = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("M", "l", "z"):
            cmd = tok
            i += 1
            if cmd == "z":
                cmd = ""
            continue
        if cmd == "M":
            x, y = int(tokens[i]), int(tokens[i + 1])
            rings.append([(x, y)])
            cmd = "l"  # SVG: extra pairs after M are implicit lineto (absolute); we never emit them
            i += 2
            assert tokens[i] == "l", "M must be followed by l"
        elif cmd == "l":
            x, y = x + int(tokens[i]), y + int(tokens[i + 1])
            rings[-1].append((x, y))
            i += 2
        else:  # pragma: no cover - would be a malformed path
            raise AssertionError(f"number outside a command at token {i}")
    return rings


def ring_area(ring: list[tuple[int, int]]) -> float:
    """Absolute shoelace area."""
    n = len(ring)
    return abs(sum(ring[i][0] * ring[(i + 1) % n][1] - ring[(i + 1) % n][0] * ring[i][1] for i in range(n))) / 2


def point_in_ring(x: float, y: float, ring: list[tuple[int, int]]) -> bool:
    """Even-odd ray casting."""
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


@pytest.fixture(scope="module")
def cmap() -> CanadaMap:
    return load_map()


def region(cmap: CanadaMap, code: str) -> Region:
    return next(r for r in cmap.regions if r.code == code)


# ---------------------------------------------------------------------------
# data + map structure
# ---------------------------------------------------------------------------


def test_province_codes_standard_order() -> None:
    assert PROVINCE_CODES == ("NL", "PE", "NS", "NB", "QC", "ON", "MB", "SK", "AB", "BC", "YT", "NT", "NU")


def test_bundled_geojson_has_the_13_codes() -> None:
    data = json.loads(DEFAULT_DATA_PATH.read_text(encoding="utf-8"))
    codes = {f["properties"]["code"] for f in data["features"]}
    assert codes == set(PROVINCE_CODES)
    assert (DEFAULT_DATA_PATH.parent / "SOURCE.md").is_file()


def test_all_regions_present_with_names(cmap: CanadaMap) -> None:
    assert tuple(r.code for r in cmap.regions) == PROVINCE_CODES
    for r in cmap.regions:
        assert (r.name_en, r.name_fr) == EXPECTED_NAMES[r.code]


def test_view_box(cmap: CanadaMap) -> None:
    assert cmap.width == 1000
    assert cmap.view_box == f"0 0 1000 {cmap.height}"
    # Canada in this projection is a bit wider than tall.
    assert 700 < cmap.height < 1000


def test_paths_parse(cmap: CanadaMap) -> None:
    for r in cmap.regions:
        assert r.path.startswith("M"), r.code
        assert set(re.sub(r"[-\d ]", "", r.path)) <= {"M", "l", "z"}, r.code
        assert PATH_RE.match(r.path), r.code
        rings = parse_path(r.path)
        assert rings, r.code
        assert all(len(ring) >= 3 for ring in rings), r.code


def test_path_coordinates_within_view_box(cmap: CanadaMap) -> None:
    xs: list[int] = []
    ys: list[int] = []
    for r in cmap.regions:
        for ring in parse_path(r.path):
            xs.extend(p[0] for p in ring)
            ys.extend(p[1] for p in ring)
    assert min(xs) >= 0 and max(xs) <= cmap.width
    assert min(ys) >= 0 and max(ys) <= cmap.height
    # The fit uses the canvas: small margins only.
    assert min(xs) <= 0.03 * cmap.width and max(xs) >= 0.97 * cmap.width
    assert min(ys) <= 0.03 * cmap.height and max(ys) >= 0.97 * cmap.height


def test_total_path_size_within_budget(cmap: CanadaMap) -> None:
    total = sum(len(r.path.encode("utf-8")) for r in cmap.regions)
    assert total < PATH_BUDGET_BYTES
    assert total > 5_000  # not simplified into blobs


def test_no_tiny_rings(cmap: CanadaMap) -> None:
    for r in cmap.regions:
        for ring in parse_path(r.path):
            assert ring_area(ring) >= 2, r.code
            assert all(a != b for a, b in zip(ring, ring[1:])), r.code


def test_label_inside_largest_polygon(cmap: CanadaMap) -> None:
    for r in cmap.regions:
        rings = parse_path(r.path)
        largest = max(rings, key=ring_area)
        assert point_in_ring(r.label_x, r.label_y, largest), r.code


def test_projection_relative_positions(cmap: CanadaMap) -> None:
    bc, ab, sk, mb, on, qc = (region(cmap, c) for c in ("BC", "AB", "SK", "MB", "ON", "QC"))
    assert bc.label_x < ab.label_x < sk.label_x < mb.label_x < on.label_x < qc.label_x
    nu = region(cmap, "NU")
    assert nu.label_y < mb.label_y  # north is up (smaller y)
    assert region(cmap, "YT").label_y < bc.label_y
    assert region(cmap, "NL").label_x > qc.label_x


def test_project_orientation() -> None:
    # Origin of the StatCan Lambert maps to (0, 0); east/north are positive.
    x0, y0 = project(-91.8667, 63.390675)
    assert abs(x0) < 1e-5 and abs(y0) < 1e-5
    assert project(-80, 63.390675)[0] > 0
    assert project(-91.8667, 70)[1] > 0


def test_shared_borders_use_identical_vertices(cmap: CanadaMap) -> None:
    """Neighbours share the very same border segments (no gaps, no slivers)."""
    segments: dict[str, set[frozenset[tuple[int, int]]]] = {}
    uses: Counter[frozenset[tuple[int, int]]] = Counter()
    for r in cmap.regions:
        segs: set[frozenset[tuple[int, int]]] = set()
        for ring in parse_path(r.path):
            for a, b in zip(ring, ring[1:] + ring[:1]):
                seg = frozenset((a, b))
                segs.add(seg)
                uses[seg] += 1
        segments[r.code] = segs
    neighbours = [
        ("BC", "AB"), ("AB", "SK"), ("SK", "MB"), ("MB", "ON"), ("ON", "QC"), ("QC", "NL"),
        ("QC", "NB"), ("NB", "NS"), ("YT", "NT"), ("YT", "BC"), ("NT", "NU"), ("MB", "NU"),
        ("AB", "NT"), ("SK", "NT"), ("BC", "NT"),
    ]  # fmt: skip
    for a, b in neighbours:
        assert segments[a] & segments[b], f"{a}/{b} share no border segment"
    # An edge is used by at most two regions (one on each side).
    assert max(uses.values()) <= 2


def _segment_distance_sq(p: tuple[float, float], a: tuple[int, int], b: tuple[int, int]) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    if dx == 0 and dy == 0:
        return (p[0] - a[0]) ** 2 + (p[1] - a[1]) ** 2
    t = max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy)))
    return (p[0] - a[0] - t * dx) ** 2 + (p[1] - a[1] - t * dy) ** 2


def test_no_doubled_borders(cmap: CanadaMap) -> None:
    """A segment used by one region only (a coastline) never runs along another
    region's lone segment: that would be a border simplified twice, drawn as
    two slightly different lines with a sliver gap or overlap between them."""
    uses: Counter[frozenset[tuple[int, int]]] = Counter()
    owner: dict[frozenset[tuple[int, int]], str] = {}
    for r in cmap.regions:
        for ring in parse_path(r.path):
            for a, b in zip(ring, ring[1:] + ring[:1]):
                seg = frozenset((a, b))
                uses[seg] += 1
                owner[seg] = r.code
    lone = [(tuple(sorted(seg)), owner[seg]) for seg, n in uses.items() if n == 1]
    cell = 4
    grid: dict[tuple[int, int], list[tuple[tuple[tuple[int, int], ...], str]]] = {}
    for seg, code in lone:
        (ax, ay), (bx, by) = seg
        for gx in range(min(ax, bx) // cell, max(ax, bx) // cell + 1):
            for gy in range(min(ay, by) // cell, max(ay, by) // cell + 1):
                grid.setdefault((gx, gy), []).append((seg, code))
    doubled = []
    for seg, code in lone:
        (ax, ay), (bx, by) = seg
        mid = ((ax + bx) / 2, (ay + by) / 2)
        gx, gy = int(mid[0]) // cell, int(mid[1]) // cell
        for nx in (gx - 1, gx, gx + 1):
            for ny in (gy - 1, gy, gy + 1):
                for other, other_code in grid.get((nx, ny), []):
                    if other_code != code and _segment_distance_sq(mid, other[0], other[1]) < 0.25:
                        doubled.append((code, other_code, seg))
    assert not doubled, doubled[:5]


def test_load_map_is_cached_and_accepts_path(cmap: CanadaMap) -> None:
    assert load_map() is cmap
    explicit = load_map(DEFAULT_DATA_PATH)
    assert explicit == cmap
    assert load_map(str(DEFAULT_DATA_PATH)) == cmap


def test_load_map_other_width() -> None:
    small = load_map(width=500)
    assert small.width == 500
    big = load_map()
    assert abs(small.height / small.width - big.height / big.width) < 0.01
    for r in small.regions:
        for ring in parse_path(r.path):
            assert all(0 <= x <= 500 and 0 <= y <= small.height for x, y in ring)


def test_load_map_rejects_tiny_width() -> None:
    with pytest.raises(ValueError):
        load_map(width=10)


def test_load_map_missing_region(tmp_path: Path) -> None:
    data = json.loads(DEFAULT_DATA_PATH.read_text(encoding="utf-8"))
    data["features"] = [f for f in data["features"] if f["properties"]["code"] != "PE"]
    path = tmp_path / "partial.geojson"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="PE"):
        load_map(path)


def test_regions_are_frozen(cmap: CanadaMap) -> None:
    with pytest.raises(AttributeError):
        cmap.regions[0].code = "XX"  # type: ignore[misc]


# ---------------------------------------------------------------------------
# classification
# ---------------------------------------------------------------------------

SAMPLE_COUNTS = [
    {},
    {"ON": 1},
    {"ON": 2, "QC": 1},
    {"ON": 3, "QC": 2, "BC": 1},
    {"ON": 4, "QC": 3, "BC": 2, "AB": 1},
    {"ON": 1000, "QC": 400, "BC": 250, "AB": 120, "MB": 30, "SK": 20, "NS": 15, "NB": 8, "NL": 5, "PE": 2, "YT": 1},
    {code: 7 for code in PROVINCE_CODES},
    {code: i * i * 37 for i, code in enumerate(PROVINCE_CODES)},
    {"NU": 123_456_789, "ON": 1},
]


@pytest.mark.parametrize("classes", [2, 3, 4, 5, 7])
@pytest.mark.parametrize("counts", SAMPLE_COUNTS)
def test_classify_properties(counts: dict[str, int], classes: int) -> None:
    result = classify(counts, classes=classes)
    assert set(result) == set(PROVINCE_CODES)
    full = {code: counts.get(code, 0) for code in PROVINCE_CODES}
    maximum = max(full.values())
    for code, value in full.items():
        assert 0 <= result[code] < classes
        if value == 0:
            assert result[code] == 0
        else:
            assert result[code] >= 1
        if maximum > 0 and value == maximum:
            assert result[code] == classes - 1
    # Monotone: a larger count never gets a smaller class.
    ordered = sorted(PROVINCE_CODES, key=lambda c: full[c])
    for a, b in zip(ordered, ordered[1:]):
        assert result[a] <= result[b]


@pytest.mark.parametrize("classes", [2, 3, 5, 6])
@pytest.mark.parametrize("maximum", [1, 2, 3, 4, 5, 9, 10, 99, 1000, 54321])
def test_class_bounds_consistent_with_classify(maximum: int, classes: int) -> None:
    counts = {"ON": maximum}
    bounds = class_bounds(counts, classes=classes)
    assert len(bounds) == classes
    assert bounds[0] == (0, 0)
    assert bounds[-1][1] == maximum
    # Non-empty classes tile 1..maximum in order without gaps or overlaps.
    expected_low = 1
    for low, high in bounds[1:]:
        assert low == expected_low
        if low <= high:
            expected_low = high + 1
    assert expected_low == maximum + 1
    if maximum >= classes - 1:
        assert all(low <= high for low, high in bounds)  # no empty class
    # Every value 0..maximum lands in the class whose bounds contain it,
    # and classes grow monotonically with the value.
    previous = 0
    for value in list(range(0, min(maximum, 300) + 1)) + [maximum]:
        cls = classify({"ON": maximum, "QC": value}, classes=classes)["QC"]
        low, high = bounds[cls]
        assert low <= value <= high
        assert cls >= previous
        previous = cls


def test_classify_geometric_breaks_example() -> None:
    bounds = class_bounds({"ON": 1000})
    assert bounds == [(0, 0), (1, 5), (6, 31), (32, 177), (178, 1000)]
    result = classify({"ON": 1000, "QC": 177, "BC": 178, "AB": 6, "MB": 5, "SK": 1})
    assert result["ON"] == 4 and result["BC"] == 4
    assert result["QC"] == 3
    assert result["AB"] == 2
    assert result["MB"] == 1 and result["SK"] == 1
    assert result["NU"] == 0


def test_classify_all_zero() -> None:
    assert set(classify({}).values()) == {0}
    assert class_bounds({}) == [(0, 0), (1, 0), (1, 0), (1, 0), (1, 0)]


def test_classify_ignores_unknown_codes() -> None:
    assert classify({"XX": 50, "ON": 2}) == classify({"ON": 2})


def test_classify_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        classify({"ON": -1})
    with pytest.raises(ValueError):
        classify({"ON": 1}, classes=1)
    with pytest.raises(TypeError):
        classify({"ON": 1.5})  # type: ignore[dict-item]
