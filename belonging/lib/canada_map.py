"""A small, dependency-free SVG map of Canada's provinces and territories.

This module is pure Python (standard library only, no Django) so that it can be
unit-tested and reused anywhere.  It turns the bundled Natural Earth 1:50m
admin-1 GeoJSON (``data/canada_provinces_territories.geojson``, public domain,
see ``data/SOURCE.md``) into compact SVG path strings, and bins per-province
counts into choropleth classes.

Pipeline of :func:`load_map`:

1. Project every lon/lat vertex with Statistics Canada's Lambert conformal
   conic (standard parallels 49°N and 77°N, central meridian 91°52'W,
   latitude of origin 63°23'26"N), using the spherical formulas (at map
   scale the ellipsoid makes no visible difference).
2. Fit the projected bounding box into ``width`` x auto-height pixels with a
   small margin, keeping the aspect ratio, y growing downward (SVG).
3. Round to integer pixels and drop consecutive duplicate vertices.
4. Split every ring into *arcs* at topological junctions (TopoJSON style:
   a vertex shared by several rings whose neighbours differ) and simplify
   each arc once with Douglas–Peucker (:data:`SIMPLIFY_TOLERANCE_PX`).  A
   border shared by two regions is therefore simplified exactly once and
   both regions get the very same vertices: no gaps, no overlaps.
5. Drop rings that collapse below 3 vertices or below
   :data:`MIN_RING_AREA_PX2`.
6. Emit each region as one path: ``M x y`` then relative ``l`` steps and
   ``z`` per ring; pick a label point inside the region's largest polygon
   (pole of inaccessibility, "polylabel").

Classification (:func:`classify`, :func:`class_bounds`): class 0 is "no
signatories" (count 0); the positive counts are split into ``classes - 1``
bins with *geometric* (log-scale) breaks between 1 and the largest count,
which suits heavily skewed data (Ontario and Quebec dwarfing the
territories) without depending on quantiles of the current data.
"""

from __future__ import annotations

import functools
import heapq
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_DATA_PATH",
    "MIN_RING_AREA_PX2",
    "PROVINCE_CODES",
    "SIMPLIFY_TOLERANCE_PX",
    "CanadaMap",
    "Region",
    "class_bounds",
    "classify",
    "load_map",
    "project",
]

#: The 13 province/territory codes in Statistics Canada's standard order
#: (provinces east to west, then the territories).
PROVINCE_CODES: tuple[str, ...] = (
    "NL",
    "PE",
    "NS",
    "NB",
    "QC",
    "ON",
    "MB",
    "SK",
    "AB",
    "BC",
    "YT",
    "NT",
    "NU",
)

#: The bundled Natural Earth GeoJSON used when :func:`load_map` gets no path.
DEFAULT_DATA_PATH: Path = Path(__file__).resolve().parent / "data" / "canada_provinces_territories.geojson"

#: Douglas–Peucker tolerance, in output pixels.
SIMPLIFY_TOLERANCE_PX: float = 0.8

#: Rings whose area (in square output pixels) is below this are dropped.
MIN_RING_AREA_PX2: float = 2.0

# Statistics Canada Lambert conformal conic parameters (degrees).
_LCC_PHI1 = 49.0
_LCC_PHI2 = 77.0
_LCC_LAMBDA0 = -(91.0 + 52.0 / 60.0)  # 91°52'W
_LCC_PHI0 = 63.0 + 23.0 / 60.0 + 26.0 / 3600.0  # 63°23'26"N

Point = tuple[int, int]
FloatPoint = tuple[float, float]


@dataclass(frozen=True)
class Region:
    """One province or territory, ready to draw.

    Attributes:
        code: Two-letter postal code, e.g. ``"AB"``.
        name_en: English name.
        name_fr: French name.
        path: SVG path ``d`` attribute (absolute ``M``, relative ``l``, ``z``).
        label_x: x of a point inside the region's largest polygon.
        label_y: y of that point (SVG coordinates, y downward).
    """

    code: str
    name_en: str
    name_fr: str
    path: str
    label_x: float
    label_y: float


@dataclass(frozen=True)
class CanadaMap:
    """The projected map: a canvas size plus the 13 regions in standard order."""

    width: int
    height: int
    regions: tuple[Region, ...]

    @property
    def view_box(self) -> str:
        """The SVG ``viewBox`` attribute value, ``"0 0 W H"``."""
        return f"0 0 {self.width} {self.height}"

    def region(self, code: str) -> Region:
        """Return the region with the given two-letter code (``KeyError`` if absent)."""
        for region in self.regions:
            if region.code == code:
                return region
        raise KeyError(code)


# ---------------------------------------------------------------------------
# Projection
# ---------------------------------------------------------------------------


def _lcc_constants() -> tuple[float, float, float]:
    """Return ``(n, F, rho0)`` of the spherical LCC (unit sphere)."""
    phi1 = math.radians(_LCC_PHI1)
    phi2 = math.radians(_LCC_PHI2)
    phi0 = math.radians(_LCC_PHI0)
    n = math.log(math.cos(phi1) / math.cos(phi2)) / math.log(
        math.tan(math.pi / 4 + phi2 / 2) / math.tan(math.pi / 4 + phi1 / 2)
    )
    f = math.cos(phi1) * math.tan(math.pi / 4 + phi1 / 2) ** n / n
    rho0 = f / math.tan(math.pi / 4 + phi0 / 2) ** n
    return n, f, rho0


_LCC_N, _LCC_F, _LCC_RHO0 = _lcc_constants()


def project(lon: float, lat: float) -> FloatPoint:
    """Project lon/lat degrees to Statistics Canada Lambert (unit sphere).

    Returns ``(x, y)`` with x growing east and y growing north, in units of the
    sphere's radius; the origin is the projection's origin (91°52'W,
    63°23'26"N).
    """
    phi = math.radians(lat)
    theta = _LCC_N * math.radians(lon - _LCC_LAMBDA0)
    rho = _LCC_F / math.tan(math.pi / 4 + phi / 2) ** _LCC_N
    return rho * math.sin(theta), _LCC_RHO0 - rho * math.cos(theta)


# ---------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------


def _ring_area(ring: Sequence[FloatPoint] | Sequence[Point]) -> float:
    """Signed shoelace area of an open ring (last vertex not repeated)."""
    total = 0.0
    n = len(ring)
    for i in range(n):
        x1, y1 = ring[i]
        x2, y2 = ring[(i + 1) % n]
        total += x1 * y2 - x2 * y1
    return total / 2.0


def _segment_distance_sq(p: FloatPoint | Point, a: FloatPoint | Point, b: FloatPoint | Point) -> float:
    """Squared distance from point ``p`` to segment ``ab``."""
    ax, ay = a
    bx, by = b
    px, py = p
    dx = bx - ax
    dy = by - ay
    if dx == 0 and dy == 0:
        return (px - ax) ** 2 + (py - ay) ** 2
    t = ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)
    t = max(0.0, min(1.0, t))
    cx = ax + t * dx
    cy = ay + t * dy
    return (px - cx) ** 2 + (py - cy) ** 2


def _point_in_ring(x: float, y: float, ring: Sequence[FloatPoint] | Sequence[Point]) -> bool:
    """Even-odd ray casting test for an open ring."""
    inside = False
    n = len(ring)
    j = n - 1
    for i in range(n):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def _douglas_peucker(points: Sequence[Point], tolerance: float) -> list[Point]:
    """Simplify an open polyline, always keeping both end points."""
    n = len(points)
    if n <= 2:
        return list(points)
    keep = [False] * n
    keep[0] = keep[-1] = True
    tol_sq = tolerance * tolerance
    stack = [(0, n - 1)]
    while stack:
        first, last = stack.pop()
        max_d = -1.0
        index = -1
        a = points[first]
        b = points[last]
        for i in range(first + 1, last):
            d = _segment_distance_sq(points[i], a, b)
            if d > max_d:
                max_d = d
                index = i
        if index != -1 and max_d > tol_sq:
            keep[index] = True
            stack.append((first, index))
            stack.append((index, last))
    return [p for p, k in zip(points, keep) if k]


def _simplify_closed(ring: Sequence[Point], tolerance: float) -> list[Point]:
    """Simplify an open-stored closed ring starting at ``ring[0]`` (kept)."""
    n = len(ring)
    if n <= 3:
        return list(ring)
    start = ring[0]
    far = max(range(1, n), key=lambda i: (ring[i][0] - start[0]) ** 2 + (ring[i][1] - start[1]) ** 2)
    first = _douglas_peucker(ring[: far + 1], tolerance)
    second = _douglas_peucker([*ring[far:], start], tolerance)
    return first + second[1:-1]


def _dedupe(ring: Iterable[Point]) -> list[Point]:
    """Drop consecutive duplicates and a closing vertex equal to the first."""
    out: list[Point] = []
    for p in ring:
        if not out or out[-1] != p:
            out.append(p)
    while len(out) > 1 and out[-1] == out[0]:
        out.pop()
    return out


# ---------------------------------------------------------------------------
# Topology-preserving simplification
# ---------------------------------------------------------------------------


def _find_junctions(rings: Iterable[Sequence[Point]]) -> set[Point]:
    """Vertices where shared borders start or end (TopoJSON rule).

    A vertex is a junction when it occurs more than once over all rings and
    its (unordered) pair of neighbours is not the same in every occurrence.
    """
    neighbours: dict[Point, set[frozenset[Point]]] = defaultdict(set)
    occurrences: dict[Point, int] = defaultdict(int)
    for ring in rings:
        n = len(ring)
        for i, p in enumerate(ring):
            occurrences[p] += 1
            neighbours[p].add(frozenset((ring[i - 1], ring[(i + 1) % n])))
    return {p for p, count in occurrences.items() if count > 1 and len(neighbours[p]) > 1}


class _ArcSimplifier:
    """Simplifies rings arc by arc, caching each arc by a canonical key."""

    def __init__(self, junctions: set[Point], tolerance: float) -> None:
        self._junctions = junctions
        self._tolerance = tolerance
        self._cache: dict[tuple[Point, ...], list[Point]] = {}

    def _arc(self, arc: list[Point]) -> list[Point]:
        forward = tuple(arc)
        backward = forward[::-1]
        key = min(forward, backward)
        if key not in self._cache:
            self._cache[key] = _douglas_peucker(key, self._tolerance)
        simplified = self._cache[key]
        return list(simplified) if key == forward else simplified[::-1]

    def _closed(self, ring: list[Point]) -> list[Point]:
        # Canonical start (smallest vertex) and direction so that two
        # identical junction-free rings simplify identically.
        i = ring.index(min(ring))
        forward = tuple(ring[i:] + ring[:i])
        backward = (forward[0], *forward[:0:-1])
        key = min(forward, backward)
        if key not in self._cache:
            self._cache[key] = _simplify_closed(key, self._tolerance)
        simplified = self._cache[key]
        if key == forward:
            return list(simplified)
        return [simplified[0], *simplified[:0:-1]]

    def simplify(self, ring: list[Point]) -> list[Point]:
        """Return the simplified open ring."""
        cuts = [i for i, p in enumerate(ring) if p in self._junctions]
        if not cuts:
            return self._closed(ring)
        start = cuts[0]
        rotated = ring[start:] + ring[:start]
        offsets = [c - start for c in cuts] + [len(ring)]
        closed = rotated + [rotated[0]]
        out: list[Point] = []
        for a, b in zip(offsets, offsets[1:]):
            part = self._arc(closed[a : b + 1])
            out.extend(part[:-1])
        return out


# ---------------------------------------------------------------------------
# Label placement (pole of inaccessibility, after mapbox/polylabel)
# ---------------------------------------------------------------------------


def _signed_distance(x: float, y: float, rings: Sequence[Sequence[Point]]) -> float:
    """Distance to the polygon outline, positive inside, negative outside."""
    inside = False
    best = math.inf
    for ring in rings:
        if _point_in_ring(x, y, ring):
            inside = not inside
        n = len(ring)
        for i in range(n):
            best = min(best, _segment_distance_sq((x, y), ring[i - 1], ring[i]))
    d = math.sqrt(best)
    return d if inside else -d


def _polylabel(rings: Sequence[Sequence[Point]], precision: float = 0.5) -> FloatPoint:
    """Return a point well inside the polygon ``rings`` (outer ring first)."""
    outer = rings[0]
    xs = [p[0] for p in outer]
    ys = [p[1] for p in outer]
    min_x, max_x, min_y, max_y = min(xs), max(xs), min(ys), max(ys)
    cell = min(max_x - min_x, max_y - min_y)
    if cell == 0:
        return float(min_x), float(min_y)

    counter = 0
    heap: list[tuple[float, int, float, float, float, float]] = []

    def push(cx: float, cy: float, h: float) -> tuple[float, float, float]:
        nonlocal counter
        d = _signed_distance(cx, cy, rings)
        potential = d + h * math.sqrt(2)
        counter += 1
        heapq.heappush(heap, (-potential, counter, cx, cy, h, d))
        return d, cx, cy

    h = cell / 2
    x = min_x
    while x < max_x:
        y = min_y
        while y < max_y:
            push(x + h, y + h, h)
            y += cell
        x += cell

    # Start from the area centroid, or the bounding-box centre if better.
    area = _ring_area(outer)
    if area != 0:
        cx = cy = 0.0
        n = len(outer)
        for i in range(n):
            x1, y1 = outer[i]
            x2, y2 = outer[(i + 1) % n]
            f = x1 * y2 - x2 * y1
            cx += (x1 + x2) * f
            cy += (y1 + y2) * f
        best = (_signed_distance(cx / (6 * area), cy / (6 * area), rings), cx / (6 * area), cy / (6 * area))
    else:
        best = (_signed_distance(float(outer[0][0]), float(outer[0][1]), rings), float(outer[0][0]), float(outer[0][1]))
    bbox_centre = ((min_x + max_x) / 2, (min_y + max_y) / 2)
    d_bbox = _signed_distance(*bbox_centre, rings)
    if d_bbox > best[0]:
        best = (d_bbox, *bbox_centre)

    while heap:
        neg_potential, _, cx, cy, h, d = heapq.heappop(heap)
        if d > best[0]:
            best = (d, cx, cy)
        if -neg_potential - best[0] <= precision:
            continue
        h /= 2
        push(cx - h, cy - h, h)
        push(cx + h, cy - h, h)
        push(cx - h, cy + h, h)
        push(cx + h, cy + h, h)
    return best[1], best[2]


# ---------------------------------------------------------------------------
# SVG path encoding
# ---------------------------------------------------------------------------


def _join_numbers(numbers: Iterable[int]) -> str:
    """Join integers SVG-style: a minus sign doubles as a separator."""
    parts: list[str] = []
    for value in numbers:
        text = str(value)
        if parts and not text.startswith("-"):
            parts.append(" ")
        parts.append(text)
    return "".join(parts)


def _ring_to_path(ring: Sequence[Point]) -> str:
    """Encode one open ring as ``Mx yl dx dy ... z``."""
    x0, y0 = ring[0]
    deltas: list[int] = []
    px, py = x0, y0
    for x, y in ring[1:]:
        deltas.extend((x - px, y - py))
        px, py = x, y
    return f"M{_join_numbers((x0, y0))}l{_join_numbers(deltas)}z"


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def _polygons(geometry: Mapping[str, Any]) -> list[list[list[list[float]]]]:
    """Return a GeoJSON Polygon/MultiPolygon as a list of polygons."""
    kind = geometry["type"]
    if kind == "Polygon":
        return [geometry["coordinates"]]
    if kind == "MultiPolygon":
        return list(geometry["coordinates"])
    raise ValueError(f"unsupported geometry type {kind!r}")


def _build_map(path: Path, width: int) -> CanadaMap:
    """Read the GeoJSON at ``path`` and build the map (uncached)."""
    if width < 100:
        raise ValueError("width must be at least 100 pixels")
    with path.open(encoding="utf-8") as fh:
        data = json.load(fh)

    features: dict[str, Mapping[str, Any]] = {}
    for feature in data["features"]:
        code = feature.get("properties", {}).get("code") or feature.get("id")
        features[str(code)] = feature
    missing = [c for c in PROVINCE_CODES if c not in features]
    if missing:
        raise ValueError(f"GeoJSON lacks regions {missing}")

    # 1. Project.
    projected: dict[str, list[list[list[FloatPoint]]]] = {}
    for code in PROVINCE_CODES:
        projected[code] = [
            [[project(lon, lat) for lon, lat, *_ in ring] for ring in polygon]
            for polygon in _polygons(features[code]["geometry"])
        ]

    # 2. Fit into width x auto-height, y downward.
    all_points = [p for polys in projected.values() for poly in polys for ring in poly for p in ring]
    min_x = min(p[0] for p in all_points)
    max_x = max(p[0] for p in all_points)
    min_y = min(p[1] for p in all_points)
    max_y = max(p[1] for p in all_points)
    margin = max(2, round(width * 0.01))
    scale = (width - 2 * margin) / (max_x - min_x)
    height = math.ceil((max_y - min_y) * scale + 2 * margin)

    def to_px(p: FloatPoint) -> Point:
        return round(margin + (p[0] - min_x) * scale), round(margin + (max_y - p[1]) * scale)

    # 3. Round and de-duplicate.
    pixel: dict[str, list[list[list[Point]]]] = {}
    for code in PROVINCE_CODES:
        polys: list[list[list[Point]]] = []
        for poly in projected[code]:
            rings = [_dedupe(to_px(p) for p in ring) for ring in poly]
            if len(rings[0]) >= 3:
                polys.append([r for r in rings if len(r) >= 3])
        pixel[code] = polys

    # 4. Topology-aware simplification.
    junctions = _find_junctions(ring for polys in pixel.values() for poly in polys for ring in poly)
    simplifier = _ArcSimplifier(junctions, SIMPLIFY_TOLERANCE_PX)

    regions: list[Region] = []
    for code in PROVINCE_CODES:
        kept: list[list[list[Point]]] = []
        for poly in pixel[code]:
            rings = []
            for ring in poly:
                simple = _dedupe(simplifier.simplify(ring))
                # 5. Drop collapsed or tiny rings.
                if len(simple) >= 3 and abs(_ring_area(simple)) >= MIN_RING_AREA_PX2:
                    rings.append(simple)
                elif not rings:
                    break  # outer ring gone: drop the whole polygon
            if rings:
                kept.append(rings)
        if not kept:
            raise ValueError(f"region {code} vanished at width {width}")

        # 6. Path and label.
        d = "".join(_ring_to_path(ring) for poly in kept for ring in poly)
        largest = max(kept, key=lambda rings: abs(_ring_area(rings[0])) - sum(abs(_ring_area(r)) for r in rings[1:]))
        lx, ly = _polylabel(largest)
        props = features[code].get("properties", {})
        regions.append(
            Region(
                code=code,
                name_en=str(props.get("name", code)),
                name_fr=str(props.get("name_fr", props.get("name", code))),
                path=d,
                label_x=round(lx, 1),
                label_y=round(ly, 1),
            )
        )
    return CanadaMap(width=width, height=height, regions=tuple(regions))


@functools.lru_cache(maxsize=8)
def _load_default(width: int) -> CanadaMap:
    """Cached build of the map from the bundled data file."""
    return _build_map(DEFAULT_DATA_PATH, width)


def load_map(path: str | Path | None = None, *, width: int = 1000) -> CanadaMap:
    """Load and project the provinces/territories map.

    Args:
        path: A GeoJSON FeatureCollection with one feature per code in
            :data:`PROVINCE_CODES` (``properties.code`` or ``id``, plus
            ``properties.name`` and ``properties.name_fr``).  ``None`` uses the
            bundled Natural Earth file; that result is cached per ``width``
            (the returned objects are immutable, so sharing them is safe).
        width: Width of the SVG canvas in pixels; the height follows from the
            projection's aspect ratio.

    Returns:
        A :class:`CanadaMap` whose regions follow :data:`PROVINCE_CODES` order.

    Raises:
        ValueError: If ``width`` is below 100 or the file lacks a region.
    """
    if path is None:
        return _load_default(width)
    return _build_map(Path(path), width)


# ---------------------------------------------------------------------------
# Choropleth classes
# ---------------------------------------------------------------------------


def _iroot_ceil(value: int, k: int) -> int:
    """Smallest integer ``r >= 0`` with ``r ** k >= value`` (exact, by bisection)."""
    if value <= 1:
        return max(value, 0)
    low, high = 1, 1 << (value.bit_length() // k + 1)  # low**k < value <= high**k
    while high - low > 1:
        mid = (low + high) // 2
        if mid**k >= value:
            high = mid
        else:
            low = mid
    return high


def _positive_counts(counts: Mapping[str, int]) -> dict[str, int]:
    """The count of every code in :data:`PROVINCE_CODES` (missing = 0)."""
    out: dict[str, int] = {}
    for code in PROVINCE_CODES:
        value = counts.get(code, 0) or 0
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"count for {code} must be an int, got {value!r}")
        if value < 0:
            raise ValueError(f"count for {code} is negative: {value}")
        out[code] = value
    return out


def _lower_bounds(maximum: int, bins: int) -> list[int]:
    """Lower bound of each positive bin 1..bins (inclusive), see :func:`classify`."""
    if maximum >= bins:
        # Geometric breaks ceil(max ** ((i-1)/bins)), forced strictly increasing
        # (so no bin is empty) while leaving room for the bins above.
        lows: list[int] = []
        for i in range(1, bins + 1):
            geometric = _iroot_ceil(maximum ** (i - 1), bins)
            candidate = max(geometric, lows[-1] + 1) if lows else 1
            lows.append(candidate)
        return [min(low, maximum - bins + i) for i, low in enumerate(lows, start=1)]
    # Fewer distinct positive values than bins: count v < max gets bin v,
    # the maximum gets the top bin, the bins in between stay empty.
    lows = [min(i, maximum) for i in range(1, bins)] + [maximum]
    return [max(low, 1) for low in lows]


def class_bounds(counts: Mapping[str, int], *, classes: int = 5) -> list[tuple[int, int]]:
    """Inclusive ``(low, high)`` count range of each class, for a legend.

    Class 0 is always ``(0, 0)``.  The bins depend only on the largest count
    among the 13 codes (see :func:`classify`).  A class that no count can fall
    in (only when the largest count is smaller than ``classes - 1``) is
    returned with ``low > high``; a legend should skip such entries.

    Raises:
        ValueError: If ``classes < 2`` or a count is negative.
        TypeError: If a count is not an ``int``.
    """
    if classes < 2:
        raise ValueError("classes must be at least 2")
    values = _positive_counts(counts)
    maximum = max(values.values())
    bins = classes - 1
    if maximum == 0:
        return [(0, 0)] + [(1, 0)] * bins
    lows = _lower_bounds(maximum, bins)
    bounds: list[tuple[int, int]] = [(0, 0)]
    for i in range(bins):
        high = maximum if i == bins - 1 else lows[i + 1] - 1
        low = lows[i]
        if i < bins - 1 and lows[i + 1] <= lows[i]:
            low, high = bounds[-1][1] + 1, bounds[-1][1]  # empty class
        bounds.append((low, high))
    return bounds


def classify(counts: Mapping[str, int], *, classes: int = 5) -> dict[str, int]:
    """Assign each of the 13 codes a choropleth class ``0 .. classes - 1``.

    Rule: class 0 means a count of 0.  Positive counts use ``classes - 1``
    bins with geometric (log-scale) breaks between 1 and the largest count
    ``M``: bin ``i`` (1-based) starts at ``ceil(M ** ((i - 1) / (classes - 1)))``,
    raised where needed so that the starts strictly increase (no empty bins
    when ``M >= classes - 1``).  For example with ``M = 1000`` and 5 classes the
    bins are 1–5, 6–31, 32–177 and 178–1000.  The rule is deterministic,
    monotone in the count, and ``M`` always lands in the top class.  Codes
    missing from ``counts`` count as 0; keys outside :data:`PROVINCE_CODES`
    are ignored.

    Raises:
        ValueError: If ``classes < 2`` or a count is negative.
        TypeError: If a count is not an ``int``.
    """
    bounds = class_bounds(counts, classes=classes)
    values = _positive_counts(counts)
    result: dict[str, int] = {}
    for code, value in values.items():
        cls = 0
        for i in range(classes - 1, -1, -1):
            low, high = bounds[i]
            if low <= value <= high:
                cls = i
                break
        result[code] = cls
    return result
