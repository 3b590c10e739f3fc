"""Small-cell suppression for published counts of people (no Django imports).

Rule: a count of 1 to ``MIN_CELL - 1`` people is never published (0 is: it reveals no one). Where a
total is published beside the cells, more cells ("complements") are hidden so that no hidden count
can be recovered by subtracting the published cells from a published total.

The two-way version is the standard line-by-line heuristic, not an optimal or fully audited one
(no linear-programming interval audit): it guarantees that no row or column, margins included, has
exactly one hidden entry, which defeats recovery by subtraction along a line, but it does not
minimize the suppressed total and does not rule out recovery through combinations of several lines.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

K = TypeVar("K")
R = TypeVar("R", bound=Hashable)
C = TypeVar("C", bound=Hashable)

MIN_CELL = 10


def is_sensitive(count: int, min_cell: int = MIN_CELL) -> bool:
    """True if ``count`` people are too few to publish (1 to ``min_cell - 1``)."""
    return 0 < count < min_cell


def suppress_1d(counts: Mapping[K, int], total: int | None = None, min_cell: int = MIN_CELL) -> dict[K, int | None]:
    """``counts`` with sensitive cells (and, when needed, one complement) replaced by None.

    ``total`` is the total published beside the cells, if any. It may exceed the sum of the cells:
    the remainder is an unpublished category, which counts as a hidden sensitive cell when it is
    itself 1 to ``min_cell - 1``. When exactly one sensitive value is hidden, the smallest positive
    published cell (the first on ties) is hidden too. If no positive cell is left, a remainder of
    ``min_cell`` or more serves as the complement.

    Raises ValueError if ``total`` is below the sum of the cells or is itself sensitive: a total of
    1 to ``min_cell - 1`` must not be published, so call again with ``total=None``.

    >>> suppress_1d({"ON": 40, "QC": 3, "NS": 12}, total=55)
    {'ON': 40, 'QC': None, 'NS': None}
    """
    result: dict[K, int | None] = {k: None if is_sensitive(v, min_cell) else v for k, v in counts.items()}
    if total is None:
        return result
    remainder = total - sum(counts.values())
    if remainder < 0:
        raise ValueError(f"total {total} is below the sum of the cells")
    if is_sensitive(total, min_cell):
        raise ValueError(f"a total of {total} is itself too small to publish")
    hidden = sum(v is None for v in result.values()) + is_sensitive(remainder, min_cell)
    if hidden == 1:
        published = [(v, i, k) for i, (k, v) in enumerate(result.items()) if v]
        if published:
            result[min(published)[2]] = None
        # Otherwise the other cells are all 0, so (total not being sensitive) the remainder is at least
        # min_cell: the one hidden cell is mixed with it and cannot be told apart.
    return result


@dataclass
class Suppressed2D(Generic[R, C]):
    """A two-way table ready to publish: None marks every hidden cell or total."""

    cells: dict[R, dict[C, int | None]]
    row_totals: dict[R, int | None]
    col_totals: dict[C, int | None]
    grand_total: int | None


# Entries of the table bordered by its margins are addressed as (row, column), with None for the
# margin: (r, None) is row r's total, (None, c) column c's total and (None, None) the grand total.
# Every line of the bordered table (each row and column, the margins included) says that its inner
# entries add up to its margin entry, so one hidden entry in a line is recoverable by subtraction.
Entry = tuple[Any, Any]


def _lines(rows: list[Any], cols: list[Any]) -> list[list[Entry]]:
    """Every line of the bordered table (rows first), each with its margin (total) entry last."""
    all_rows, all_cols = [*rows, None], [*cols, None]
    return [[(r, c) for c in all_cols] for r in all_rows] + [[(r, c) for r in all_rows] for c in all_cols]


def suppress_2d(table: Mapping[R, Mapping[C, int]], min_cell: int = MIN_CELL) -> Suppressed2D[R, C]:
    """Suppress ``table`` (rows of column counts) for publication with all its totals.

    Missing cells count as 0; row and column keys must not be None. Steps:

    1. Primary suppression: hide every cell and every total of 1 to ``min_cell - 1``.
    2. Repeat until no line (row or column, margins included) has exactly one hidden entry: in such
       a line hide the smallest positive published inner entry, preferring one whose crossing line
       already has a hidden entry (the first on ties); only if the line has none, hide its total.

    Such a line always has a candidate, as hidden entries are positive: if its only hidden entry is
    an inner one, the total is positive; if it is the total, some inner entry is positive. Totals come
    back as None when they must not be published. See the module docstring for the heuristic's limits.

    >>> suppress_2d({"ON": {"en": 30, "fr": 4}, "QC": {"en": 12, "fr": 50}, "NB": {"en": 20, "fr": 25}}).cells
    {'ON': {'en': None, 'fr': None}, 'QC': {'en': None, 'fr': None}, 'NB': {'en': 20, 'fr': 25}}
    """
    rows = list(table)
    cols = list(dict.fromkeys(c for r in rows for c in table[r]))
    value: dict[Entry, int] = {(r, c): table[r].get(c, 0) for r in rows for c in cols}
    for r in rows:
        value[r, None] = sum(value[r, c] for c in cols)
    for c in cols:
        value[None, c] = sum(value[r, c] for r in rows)
    value[None, None] = sum(value[r, None] for r in rows)

    lines = _lines(rows, cols)
    lines_of: dict[Entry, list[int]] = {}
    for i, line in enumerate(lines):
        for entry in line:
            lines_of.setdefault(entry, []).append(i)
    hidden = {entry for entry, v in value.items() if is_sensitive(v, min_cell)}

    def complement(i: int) -> Entry:
        """The entry to hide in line ``i``, which has exactly one hidden entry."""
        line = lines[i]
        candidates = [e for e in line[:-1] if e not in hidden and value[e] > 0]
        if not candidates:
            return line[-1]

        def crossing_clear(entry: Entry) -> bool:
            crossing = lines[sum(lines_of[entry]) - i]  # each entry lies on exactly two lines
            return not any(e in hidden for e in crossing)

        return min(candidates, key=lambda e: (crossing_clear(e), value[e], line.index(e)))

    changed = True
    while changed:
        changed = False
        for i, line in enumerate(lines):
            if sum(e in hidden for e in line) == 1:
                hidden.add(complement(i))
                changed = True

    def shown(entry: Entry) -> int | None:
        return None if entry in hidden else value[entry]

    return Suppressed2D(
        cells={r: {c: shown((r, c)) for c in cols} for r in rows},
        row_totals={r: shown((r, None)) for r in rows},
        col_totals={c: shown((None, c)) for c in cols},
        grand_total=shown((None, None)),
    )


def recoverable_cells(result: Suppressed2D[R, C]) -> set[Entry]:
    """Audit: the hidden entries of ``result`` that subtraction along one line recovers.

    An entry is recoverable when it is the only hidden one in a row or column of the table bordered
    by its totals. Entries are (row, column) with None for a total, as in :func:`suppress_2d`; an
    empty set means the table is safe against that attack.
    """
    rows, cols = list(result.cells), list(result.col_totals)
    shown: dict[Entry, int | None] = {(r, c): result.cells[r][c] for r in rows for c in cols}
    shown |= {(r, None): result.row_totals[r] for r in rows}
    shown |= {(None, c): result.col_totals[c] for c in cols}
    shown[None, None] = result.grand_total
    recoverable: set[Entry] = set()
    for line in _lines(rows, cols):
        hidden = [e for e in line if shown[e] is None]
        if len(hidden) == 1:
            recoverable.add(hidden[0])
    return recoverable


def suppress_memberships(
    counts: Mapping[K, int],
    base: int,
    groups: Sequence[tuple[K, Sequence[K]]] = (),
    min_cell: int = MIN_CELL,
) -> dict[K, int | None]:
    """Suppress counts of people in overlapping groups (communities) out of a published ``base``.

    Each count has an implicit complement, the people not in the group (``base - count``), which
    anyone can work out, so a count is hidden when it or its complement is 1 to ``min_cell - 1``.
    ``groups`` lists (parent, children) where the parent is the union of its children (Indigenous =
    First Nations ∪ Métis ∪ Inuit): a hidden parent hides its children, and children are protected
    like the cells of a line, so one hidden child is never alone (it could be estimated from the
    parent minus its siblings). A base of 1 to ``min_cell - 1`` hides everything.
    """
    if is_sensitive(base, min_cell):
        return {k: None for k in counts}
    result: dict[K, int | None] = {
        k: None if is_sensitive(v, min_cell) or is_sensitive(base - v, min_cell) else v for k, v in counts.items()
    }
    for parent, children in groups:
        if result.get(parent) is None and counts.get(parent, 0) > 0:
            for child in children:
                result[child] = None
            continue
        hidden = [c for c in children if result[c] is None and counts[c] > 0]
        if len(hidden) == 1:
            shown = [c for c in children if result[c] is not None and counts[c] > 0]
            if shown:
                result[min(shown, key=lambda c: counts[c])] = None
    return result
