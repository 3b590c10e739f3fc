"""Importing survey responses, and population margins, from CSV files.

Responses come from another survey tool or from public microdata (a Statistics Canada PUMF, say): a
header row, then one respondent per row, UTF-8 with or without a byte-order mark, commas or
semicolons (a semicolon file may write decimals with a comma, as French-language spreadsheets do).
The organizer says:

- which column answers which question (``mapping``: item id → column and a value map from the file's
  values to the item's codes, e.g. ``1 → very_strong``; a value mapped to "" is missing). A question
  left out of the mapping is taken from a column named exactly like its item id, if the file has
  one. A value that is already one of the item's codes needs no entry. Several answers to a
  multiple-answer question are written ``a;b`` (or ``a|b``) in one cell;
- the final weight column (e.g. ``WTS_M``; none: every row weighs 1);
- optional bootstrap replicate weight columns: a prefix (``BSW`` finds BSW1…BSWn, in numeric order,
  and they must run from 1 to n without a gap) or a list of column names. Every row must have every
  replicate weight, a number ≥ 0.

Every row is checked and every bad row is reported with its line number in the file (the header is
line 1) and the reasons, in the organizer's language. One bad row and nothing is imported: the whole
file is one transaction. The file is read as a stream (the ``csv`` module) and written in batches;
replicate weights are converted with NumPy one row at a time and stored as little-endian float64
bytes, so 100,000 rows × 500 replicates never sit in memory as Python floats.

Designs are never mixed: a wave whose earlier imports have replicate weights only takes files with the
same number of them, and responses answered here (which have none) never share a wave with imported
replicate weights: such a file goes into a wave of its own.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import math
import re
import shlex
import struct
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from belonging.measure import instrument
from belonging.measure.models import ImportBatch, Margin, Response, Wave

MAX_SHOWN = 50  # bad rows listed in full; all are counted
BATCH_SIZE = 500  # rows per bulk_create
PREVIEW_ROWS = 5
SCAN_ROWS = 2000  # rows read by the preview to list each column's values
MAX_VALUES_SHOWN = 30
# Rows a file may have when imported or checked through the web page (inside one request); larger
# files go through ``manage.py import_survey``, which has all the time it needs.
WEB_MAX_ROWS = 20_000

# Statistics Canada's Standard Geographical Classification codes for the provinces and territories,
# as public microdata files write them (e.g. GEO_PRV).
STATCAN_PROVINCES: dict[str, str] = {
    "10": "NL",
    "11": "PE",
    "12": "NS",
    "13": "NB",
    "24": "QC",
    "35": "ON",
    "46": "MB",
    "47": "SK",
    "48": "AB",
    "59": "BC",
    "60": "YT",
    "61": "NT",
    "62": "NU",
}

# Column names the preview proposes as the final weight when the organizer has named none.
WEIGHT_NAMES = ("wts_m", "wts_s", "weight", "poids", "final_weight", "fweight", "wgt")

_MULTI_SPLIT = re.compile(r"[;|]")
_SPEC_SPLIT = re.compile(r"[,;\s]+")


# --- results and refusals ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RowProblem:
    """One bad row: its line in the file (the header is line 1) and why, in the organizer's language."""

    line: int
    reasons: tuple[str, ...]

    @property
    def text(self) -> str:
        return _("Line %(line)s: %(reasons)s") % {"line": self.line, "reasons": "; ".join(self.reasons)}


class ImportRefused(Exception):
    """Nothing was imported. ``messages``: what is wrong with the file as a whole; ``problems``: the
    first ``MAX_SHOWN`` bad rows; ``bad_rows``: how many rows are bad in all; ``rows``: rows read."""

    def __init__(
        self, messages: Sequence[str], problems: Sequence[RowProblem] = (), *, bad_rows: int = 0, rows: int = 0
    ) -> None:
        self.messages = list(messages)
        self.problems = list(problems)
        self.bad_rows = bad_rows
        self.rows = rows
        super().__init__(" ".join(self.messages))


@dataclass(frozen=True)
class ItemMapping:
    """Where a question's answers are in the file, and how the file's values become the item's codes
    ("" = missing)."""

    column: str
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """A file that would import cleanly (nothing written)."""

    rows: int
    replicates: int
    mapping: dict[str, Any]


@dataclass
class Preview:
    """The head of a file and what the import would do with it by default."""

    header: list[str]
    rows: list[list[str]]
    delimiter: str
    suggested_columns: dict[str, str]  # item id → column whose name is the item id
    weight_column: str  # a column that looks like the final weight, or ""
    replicate_prefix: str  # a prefix followed by 1…n, e.g. "BSW", or ""
    replicate_count: int
    values: dict[str, list[str]]  # column → distinct values in the first SCAN_ROWS rows (a few)
    scanned_rows: int


# --- reading ----------------------------------------------------------------------------------------


def _binary(file: Any) -> IO[bytes]:
    """A readable binary stream at its start, from an uploaded file, an open binary file, a path or bytes."""
    if isinstance(file, bytes | bytearray):
        return io.BytesIO(file)
    if isinstance(file, str | Path):
        return open(file, "rb")
    if hasattr(file, "seek"):
        try:
            file.seek(0)
        except (OSError, ValueError):
            pass
    return file


class _Text:
    """The file decoded as UTF-8 (a byte-order mark dropped), as lines for ``csv``, without closing the
    caller's file; decoding errors name the line."""

    def __init__(self, file: Any) -> None:
        self.owned = isinstance(file, str | Path)
        self.raw = _binary(file)
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        # Lines end at "\n" only (a "\r\n" stays whole for csv); other line separators Unicode knows
        # (U+2028, form feeds…) may be inside a cell.
        pending = ""
        while True:
            chunk = self.raw.read(1 << 20)
            if not chunk:
                break
            lines = (pending + self._decode(chunk)).split("\n")
            pending = lines.pop()
            for line in lines:
                self.line += 1
                yield line + "\n"
        pending += self._decode(b"", final=True)
        if pending:
            self.line += 1
            yield pending

    def _decode(self, chunk: bytes, final: bool = False) -> str:
        try:
            return self.decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            line = self.line + 1 + chunk[: max(exc.start, 0)].count(b"\n")
            raise ImportRefused(
                [
                    _(
                        "The file is not UTF-8 text (line %(line)s). Save it as “CSV UTF-8” from your spreadsheet "
                        "or survey tool and try again."
                    )
                    % {"line": line}
                ]
            ) from None

    def close(self) -> None:
        if self.owned:
            self.raw.close()


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


@dataclass
class _Reader:
    header: list[str]
    delimiter: str
    records: Iterator[tuple[int, list[str]]]  # (line where the record starts, cells)


def _open_csv(text: _Text) -> _Reader:
    lines = iter(text)
    first = next(lines, None)
    while first is not None and not first.strip():
        first = next(lines, None)
    if first is None:
        raise ImportRefused([_("The file is empty.")])
    header_line = text.line
    delimiter = _delimiter(first)
    reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter)
    header = [name.strip() for name in next(reader)]
    if not any(header):
        raise ImportRefused([_("The first line of the file must name its columns.")])
    duplicates = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicates:
        raise ImportRefused(
            [
                _("Several columns have the same name: %(names)s. Each column needs a name of its own.")
                % {"names": ", ".join(duplicates)}
            ]
        )
    offset = header_line - 1  # lines skipped before the header (blank lines)

    def records() -> Iterator[tuple[int, list[str]]]:
        end = reader.line_num
        for cells in reader:
            start, end = end + 1, reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue  # blank lines (often at the end of a file)
            yield start + offset, cells

    return _Reader(header, delimiter, records())


def _number(text: str, comma_decimal: bool) -> float | None:
    """A number written in the file, or None. Decimal commas are read in semicolon files."""
    value = text.strip().replace("\u00a0", "").replace(" ", "")
    if comma_decimal and "," in value and "." not in value:
        value = value.replace(",", ".")
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _integer_form(value: str) -> str | None:
    """ "1.0" → "1" (numeric codes exported as decimals), else None."""
    try:
        number = float(value)
    except ValueError:
        return None
    return str(int(number)) if math.isfinite(number) and number == int(number) else None


# --- what to read: the plan -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    item: instrument.Item
    index: int
    name: str
    values: dict[str, str]


@dataclass(frozen=True)
class _Plan:
    header: list[str]
    columns: tuple[_Column, ...]
    weight: tuple[int, str] | None
    replicates: tuple[int, ...]
    replicate_names: tuple[str, ...]
    comma_decimal: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "items": {c.item.id: {"column": c.name, "values": dict(c.values)} for c in self.columns},
            "weight": self.weight[1] if self.weight else "",
            "replicates": list(self.replicate_names),
        }


def _find(header: Sequence[str], name: str) -> int | None:
    """A column by name: exact, else ignoring case when that is unambiguous."""
    if name in header:
        return list(header).index(name)
    folded = [i for i, h in enumerate(header) if h.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


def replicate_columns(header: Sequence[str], spec: str | Sequence[str] | None) -> list[str]:
    """The replicate weight columns named by ``spec``: a prefix (``BSW`` → BSW1…BSWn, in numeric
    order, from 1 without a gap) or column names (a list, or one string separated by commas)."""
    if not spec:
        return []
    tokens = (
        [t for t in _SPEC_SPLIT.split(spec) if t]
        if isinstance(spec, str)
        else [str(t).strip() for t in spec if str(t).strip()]
    )
    if not tokens:
        return []
    if len(tokens) == 1:
        prefix = tokens[0]
        pattern = re.compile(rf"^{re.escape(prefix)}(\d+)$", re.IGNORECASE)
        numbered = sorted(
            ((_column_number(m.group(1)), name) for name in header if (m := pattern.match(name))), key=lambda p: p[0]
        )
        if numbered:
            numbers = [n for n, _name in numbered]
            # 1…len(numbers) exactly, checked without building a range as long as the largest number.
            if any(n != i for i, n in enumerate(numbers, start=1)):
                raise ImportRefused(
                    [
                        _(
                            "The replicate weight columns %(first)s…%(last)s must be numbered from 1 without a gap or a "
                            "repeat: check %(detail)s."
                        )
                        % {
                            "first": f"{prefix}1",
                            "last": _short(numbered[-1][1]),
                            "detail": _numbering_problems(prefix, numbered),
                        }
                    ]
                )
            return [name for _n, name in numbered]
    names = []
    for token in tokens:
        index = _find(header, token)
        if index is None:
            if len(tokens) == 1:
                raise ImportRefused(
                    [
                        _(
                            "The file has no column %(name)s, and no columns %(name)s1, %(name)s2… for replicate weights."
                        )
                        % {"name": token}
                    ]
                )
            raise ImportRefused([_("The file has no replicate weight column %(name)s.") % {"name": token}])
        names.append(header[index])
    if len(set(names)) != len(names):
        raise ImportRefused([_("A replicate weight column is named twice.")])
    return names


MAX_COLUMN_NUMBER = 10**6  # a replicate column number beyond this (or too long to read) is a gap in itself


def _column_number(digits: str) -> int:
    """The number at the end of a column name; numbers too long to be one count as ``MAX_COLUMN_NUMBER``."""
    return int(digits) if len(digits) <= 7 else MAX_COLUMN_NUMBER


def _short(name: str, length: int = 40) -> str:
    return name if len(name) <= length else f"{name[: length - 1]}…"


def _numbering_problems(prefix: str, numbered: Sequence[tuple[int, str]], limit: int = 10) -> str:
    """The first ``limit`` missing or repeated replicate columns, walking the sorted numbers once."""
    found: list[str] = []
    expected = 1
    for number, name in numbered:
        if number < expected:
            found.append(_short(name))  # a repeat (BSW1 and BSW01, say)
        else:
            found.extend(f"{prefix}{n}" for n in range(expected, min(number, expected + limit)))
            if number >= MAX_COLUMN_NUMBER:
                found.append(_short(name))
            expected = number + 1
        if len(found) >= limit:
            break
    return ", ".join(found[:limit])


def _normalize_mapping(mapping: Mapping[str, Any] | None) -> dict[str, ItemMapping]:
    found: dict[str, ItemMapping] = {}
    for item_id, value in (mapping or {}).items():
        if isinstance(value, ItemMapping):
            found[item_id] = value
        elif isinstance(value, str):
            found[item_id] = ItemMapping(value)
        else:
            found[item_id] = ItemMapping(str(value.get("column") or ""), dict(value.get("values") or {}))
    return found


def _plan(
    questionnaire: instrument.Questionnaire,
    header: list[str],
    delimiter: str,
    mapping: Mapping[str, Any] | None,
    weight_column: str,
    replicate_spec: str | Sequence[str] | None,
) -> _Plan:
    problems: list[str] = []
    given = _normalize_mapping(mapping)
    for item_id in given:
        if item_id not in {item.id for item in questionnaire.items}:
            problems.append(_("“%(item)s” is not a question of this wave’s questionnaire.") % {"item": item_id})
    columns: list[_Column] = []
    for item in questionnaire.items:
        chosen = given.get(item.id)
        if chosen is not None and chosen.column:
            index = _find(header, chosen.column)
            if index is None:
                problems.append(
                    _("Question %(item)s: the file has no column %(column)s.")
                    % {"item": item.id, "column": chosen.column}
                )
                continue
        else:
            index = _find(header, item.id)  # the default: a column named like the item
            if index is None:
                continue
        values = {str(k).strip(): str(v).strip() for k, v in (chosen.values if chosen else {}).items()}
        bad = sorted({code for code in values.values() if code and code not in item.codes})
        if bad:
            problems.append(
                _("Question %(item)s: %(codes)s is not one of its answers (%(answers)s).")
                % {"item": item.id, "codes": ", ".join(bad), "answers": ", ".join(sorted(item.codes))}
            )
            continue
        columns.append(_Column(item, index, header[index], values))
    weight = None
    if weight_column:
        index = _find(header, weight_column)
        if index is None:
            problems.append(_("The file has no weight column %(column)s.") % {"column": weight_column})
        else:
            weight = (index, header[index])
    try:
        replicate_names = replicate_columns(header, replicate_spec)
    except ImportRefused as exc:
        problems.extend(exc.messages)
        replicate_names = []
    if len(replicate_names) == 1:
        problems.append(
            _(
                "Bootstrap replicate weights need at least 2 columns; only %(column)s was found. Name all the "
                "replicate weight columns (a prefix such as BSW, or the names separated by commas), or leave the "
                "field empty when the file has none."
            )
            % {"column": replicate_names[0]}
        )
    if not columns and not problems:
        problems.append(
            _(
                "No column of the file is matched to a question: say which column answers which question, or name "
                "the file’s columns after the question ids."
            )
        )
    used = [c.name for c in columns] + ([weight[1]] if weight else [])
    clash = sorted(set(used) & set(replicate_names)) or sorted({n for n in used if used.count(n) > 1})
    if clash:
        problems.append(_("Column %(column)s is used for two purposes.") % {"column": ", ".join(clash)})
    if problems:
        raise ImportRefused(problems)
    return _Plan(
        header=header,
        columns=tuple(columns),
        weight=weight,
        replicates=tuple(header.index(n) for n in replicate_names),
        replicate_names=tuple(replicate_names),
        comma_decimal=delimiter == ";",
    )


def _check_wave(wave: Wave, replicates: int) -> None:
    """Refuse a file whose design does not fit the wave's (replicate weights are all or nothing)."""
    earlier = set(
        ImportBatch.objects.filter(wave=wave, responses__isnull=False).values_list("replicates", flat=True).distinct()
    )
    if earlier and replicates not in earlier:
        expected = max(earlier)
        if expected and not replicates:
            raise ImportRefused(
                [
                    _(
                        "This wave’s earlier imports have %(expected)s bootstrap replicate weights; this file has none. "
                        "Every respondent of a wave must have the same replicate weights: name the replicate weight "
                        "columns, or import this file into a wave of its own."
                    )
                    % {"expected": expected}
                ]
            )
        if expected:
            raise ImportRefused(
                [
                    _(
                        "This wave’s earlier imports have %(expected)s bootstrap replicate weights; this file has "
                        "%(found)s. Every respondent of a wave must have the same number of replicate weights."
                    )
                    % {"expected": expected, "found": replicates}
                ]
            )
        raise ImportRefused(
            [
                _(
                    "This wave’s earlier imports have no replicate weights; this file has %(found)s. Import it into a "
                    "wave of its own: the two designs cannot be combined in one estimate."
                )
                % {"found": replicates}
            ]
        )
    if replicates and Response.objects.filter(wave=wave, source=Response.Source.COLLECTED).exists():
        raise ImportRefused(
            [
                _(
                    "This wave has responses answered on this site, which have no replicate weights, so responses "
                    "with replicate weights cannot join them in one design. Import this file into a wave of its own."
                )
            ]
        )


# --- one row ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    answers: dict[str, Any]
    weight: float
    replicates: bytes | None


def _answer(column: _Column, raw: str) -> tuple[Any, str | None]:
    """(the item's code, a list of codes, or None when missing; a reason when the cell is bad)."""
    item = column.item
    parts = [p.strip() for p in _MULTI_SPLIT.split(raw)] if item.kind == instrument.Kind.MULTIPLE else [raw]
    codes: list[str] = []
    for part in parts:
        if not part:
            continue
        code = column.values.get(part)
        if code is None and (alias := _integer_form(part)) is not None:
            code = column.values.get(alias)
        if code is None:
            if part in item.codes:
                code = part
            else:
                return None, _("%(column)s: “%(value)s” is not an answer to question %(item)s") % {
                    "column": column.name,
                    "value": part,
                    "item": item.id,
                }
        if code and code not in codes:
            codes.append(code)
    if not codes:
        return None, None
    if item.kind != instrument.Kind.MULTIPLE:
        return codes[0], None
    if instrument.PREFER_NOT in codes and len(codes) > 1:
        return None, _("%(column)s: “Prefer not to answer” cannot be combined with another answer") % {
            "column": column.name
        }
    return codes, None


def _replicates(plan: _Plan, cells: list[str]) -> tuple[bytes | None, list[str]]:
    values = [cells[i] for i in plan.replicates]
    if plan.comma_decimal:
        values = [v.replace(",", ".") for v in values]
    try:
        # Straight to little-endian float64 bytes (the stored form); NumPy then checks them at once.
        packed = struct.pack(f"<{len(values)}d", *map(float, values))
    except ValueError:
        packed = None
    if packed is not None:
        array = np.frombuffer(packed, dtype="<f8")
        if np.isfinite(array).all() and array.min() >= 0:
            return packed, []
    # Something is wrong: say which columns, a few at a time.
    empty: list[str] = []
    bad: list[str] = []
    negative: list[str] = []
    for name, value in zip(plan.replicate_names, values, strict=True):
        number = _number(value, plan.comma_decimal)
        if not value.strip():
            empty.append(name)
        elif number is None:
            bad.append(f"{name} “{value.strip()}”")
        elif number < 0:
            negative.append(f"{name} ({value.strip()})")
    reasons = []
    for names, message in (
        (empty, _("replicate weights missing: %(columns)s")),
        (bad, _("replicate weights that are not numbers: %(columns)s")),
        (negative, _("replicate weights below 0: %(columns)s")),
    ):
        if names:
            shown = ", ".join(names[:3])
            if len(names) > 3:
                shown += " " + ngettext("and %(count)s more", "and %(count)s more", len(names) - 3) % {
                    "count": len(names) - 3
                }
            reasons.append(message % {"columns": shown})
    return None, reasons


def _parse(plan: _Plan, cells: list[str]) -> _Row | list[str]:
    width = len(plan.header)
    if len(cells) > width and not any(c.strip() for c in cells[width:]):
        cells = cells[:width]  # a trailing delimiter
    if len(cells) != width:
        return [
            ngettext(
                "it has %(found)s value but the header has %(expected)s columns",
                "it has %(found)s values but the header has %(expected)s columns",
                len(cells),
            )
            % {"found": len(cells), "expected": width}
        ]
    reasons: list[str] = []
    answers: dict[str, Any] = {}
    for column in plan.columns:
        value, reason = _answer(column, cells[column.index].strip())
        if reason:
            reasons.append(reason)
        elif value is not None:
            answers[column.item.id] = value
    weight = 1.0
    if plan.weight is not None:
        index, name = plan.weight
        raw = cells[index].strip()
        number = _number(raw, plan.comma_decimal)
        if not raw:
            reasons.append(_("the weight (%(column)s) is missing") % {"column": name})
        elif number is None:
            reasons.append(_("the weight (%(column)s) “%(value)s” is not a number") % {"column": name, "value": raw})
        elif number <= 0:
            reasons.append(
                _("the weight (%(column)s) must be greater than 0, not %(value)s") % {"column": name, "value": raw}
            )
        else:
            weight = number
    replicates = None
    if plan.replicates:
        replicates, more = _replicates(plan, cells)
        reasons.extend(more)
    if reasons:
        return reasons
    return _Row(answers, weight, replicates)


# --- the import -------------------------------------------------------------------------------------


def _response(wave: Wave, batch: ImportBatch, row: _Row, today: Any, pages: int) -> Response:
    province, communities = instrument.derived_fields(row.answers)
    return Response(
        wave=wave,
        token_hash=None,
        status=Response.Status.SUBMITTED,
        source=Response.Source.IMPORTED,
        batch=batch,
        page=pages,
        answers=row.answers,
        province=province,
        communities=communities,
        weight=row.weight,
        replicate_weights=row.replicates,
        started_on=today,
        submitted_on=today,
    )


def import_command(
    wave: Wave,
    mapping: Mapping[str, Any] | None = None,
    weight_column: str = "",
    replicate_spec: str | Sequence[str] | None = None,
    filename: str = "",
) -> str:
    """The ``import_survey`` command that checks the same file with the same options on the server, as the
    organizer would type it (drop ``--check`` to import)."""
    parts = ["python", "manage.py", "import_survey", wave.campaign.slug, wave.slug, filename or "FILE.csv"]
    if weight_column:
        parts += ["--weight", weight_column]
    if replicate_spec:
        spec = replicate_spec if isinstance(replicate_spec, str) else ",".join(map(str, replicate_spec))
        parts += ["--replicates", spec]
    for item_id, chosen in _normalize_mapping(mapping).items():
        if chosen.column and chosen.column != item_id:
            parts += ["--map", f"{item_id}={chosen.column}"]
        if chosen.values:
            # "; " (the command strips each pair) lets a page wrap the line.
            parts += ["--values", f"{item_id}={'; '.join(f'{k}={v}' for k, v in chosen.values.items())}"]
    parts.append("--check")
    return shlex.join(parts)


def too_many_rows(wave: Wave, max_rows: int, command: str) -> str:
    return _(
        "This file has more than %(max)s rows, too many to import through this page, so nothing was imported. "
        "Ask the site’s administrators to import it on the server, where it can take as long as it needs, with "
        "this command (the same command without --check then imports it): %(command)s"
    ) % {"max": formats.number_format(max_rows, force_grouping=True), "command": command}


def _refusal(bad: int, rows: int, problems: list[RowProblem]) -> ImportRefused:
    summary = ngettext(
        "%(count)s row of %(rows)s has a problem, so nothing was imported. Correct the file and import it again.",
        "%(count)s rows of %(rows)s have problems, so nothing was imported. Correct the file and import it again.",
        bad,
    ) % {"count": bad, "rows": rows}
    if bad > len(problems):
        summary += " " + _("The first %(shown)s are listed.") % {"shown": len(problems)}
    return ImportRefused([summary], problems, bad_rows=bad, rows=rows)


def _run(
    wave: Wave,
    file: Any,
    mapping: Mapping[str, Any] | None,
    weight_column: str,
    replicate_columns_spec: str | Sequence[str] | None,
    *,
    user: Any = None,
    filename: str = "",
    write: bool,
    on_progress: Callable[[int], None] | None = None,
    max_rows: int | None = None,
) -> ImportBatch | CheckResult:
    text = _Text(file)
    try:
        reader = _open_csv(text)
        plan = _plan(wave.questions, reader.header, reader.delimiter, mapping, weight_column, replicate_columns_spec)
        rows = bad = 0
        problems: list[RowProblem] = []
        pending: list[Response] = []
        today = timezone.localdate()
        pages = len(wave.questions.pages)
        with transaction.atomic() if write else nullcontext():
            if write:
                # One import at a time per wave, so two files cannot bring two designs into it.
                Wave.objects.select_for_update().filter(pk=wave.pk).exists()
            _check_wave(wave, len(plan.replicates))
            batch = None
            if write:
                batch = ImportBatch.objects.create(
                    wave=wave,
                    filename=(filename or getattr(file, "name", "") or "")[:255],
                    rows=0,
                    replicates=len(plan.replicates),
                    mapping=plan.as_json(),
                    imported_by=user if getattr(user, "is_authenticated", False) else None,
                )
            for line, cells in reader.records:
                rows += 1
                if max_rows is not None and rows > max_rows:
                    command = import_command(
                        wave, mapping, weight_column, replicate_columns_spec, filename or getattr(file, "name", "")
                    )
                    raise ImportRefused([too_many_rows(wave, max_rows, command)])  # rolls the transaction back
                parsed = _parse(plan, cells)
                if isinstance(parsed, list):
                    bad += 1
                    if len(problems) < MAX_SHOWN:
                        problems.append(RowProblem(line, tuple(parsed)))
                    continue
                if batch is None or bad:
                    continue  # checking only, or already refused: keep checking, write nothing more
                pending.append(_response(wave, batch, parsed, today, pages))
                if len(pending) >= BATCH_SIZE:
                    Response.objects.bulk_create(pending, batch_size=BATCH_SIZE)
                    pending.clear()
                    if on_progress is not None:
                        on_progress(rows)
            if bad:
                raise _refusal(bad, rows, problems)  # rolls the transaction back
            if not rows:
                raise ImportRefused([_("The file has a header but no rows.")])
            if batch is None:
                return CheckResult(rows=rows, replicates=len(plan.replicates), mapping=plan.as_json())
            if pending:
                Response.objects.bulk_create(pending, batch_size=BATCH_SIZE)
            batch.rows = rows
            batch.save(update_fields=["rows"])
            if on_progress is not None:
                on_progress(rows)
            return batch
    except csv.Error as exc:
        raise ImportRefused([_("The file is not a readable CSV file: %(error)s") % {"error": exc}]) from None
    finally:
        text.close()


def import_csv(
    wave: Wave,
    file: Any,
    mapping: Mapping[str, Any] | None = None,
    weight_column: str = "",
    replicate_columns: str | Sequence[str] | None = None,
    user: Any = None,
    *,
    filename: str = "",
    on_progress: Callable[[int], None] | None = None,
    max_rows: int | None = None,
) -> ImportBatch:
    """Import every row of ``file`` into ``wave`` as submitted, imported responses, or raise
    ``ImportRefused`` and import nothing. ``mapping``: item id → ``ItemMapping`` (or
    ``{"column": ..., "values": {...}}``, or just the column name). ``max_rows``: refuse a file with more
    rows (the web page's ``WEB_MAX_ROWS``), pointing to the command."""
    result = _run(
        wave,
        file,
        mapping,
        weight_column,
        replicate_columns,
        user=user,
        filename=filename,
        write=True,
        on_progress=on_progress,
        max_rows=max_rows,
    )
    assert isinstance(result, ImportBatch)
    return result


def check_csv(
    wave: Wave,
    file: Any,
    mapping: Mapping[str, Any] | None = None,
    weight_column: str = "",
    replicate_columns: str | Sequence[str] | None = None,
    *,
    max_rows: int | None = None,
) -> CheckResult:
    """Everything ``import_csv`` checks, writing nothing: the rows it would import, or ``ImportRefused``."""
    result = _run(wave, file, mapping, weight_column, replicate_columns, write=False, max_rows=max_rows)
    assert isinstance(result, CheckResult)
    return result


def preview(
    file: Any, questionnaire: instrument.Questionnaire | None = None, *, rows: int = PREVIEW_ROWS, scan: int = SCAN_ROWS
) -> Preview:
    """The header and first rows of a file, the columns named like questions, a likely weight column and
    replicate prefix, and a few distinct values of every column (from the first ``scan`` rows)."""
    questionnaire = questionnaire or instrument.CURRENT
    text = _Text(file)
    try:
        reader = _open_csv(text)
        header = reader.header
        head: list[list[str]] = []
        seen: list[dict[str, None]] = [{} for _name in header]
        scanned = 0
        for _line, cells in itertools.islice(reader.records, scan):
            scanned += 1
            if len(head) < rows:
                head.append(cells)
            for i, value in enumerate(cells[: len(header)]):
                value = value.strip()
                if value and len(seen[i]) <= MAX_VALUES_SHOWN:
                    seen[i].setdefault(value, None)
    except csv.Error as exc:
        raise ImportRefused([_("The file is not a readable CSV file: %(error)s") % {"error": exc}]) from None
    finally:
        text.close()
    suggested = {}
    for item in questionnaire.items:
        index = _find(header, item.id)
        if index is not None:
            suggested[item.id] = header[index]
    weight = next((h for h in header if h.casefold() in WEIGHT_NAMES), "")
    prefix, count = _replicate_prefix(header)
    return Preview(
        header=header,
        rows=head,
        delimiter=reader.delimiter,
        suggested_columns=suggested,
        weight_column=weight,
        replicate_prefix=prefix,
        replicate_count=count,
        values={name: list(seen[i]) for i, name in enumerate(header)},
        scanned_rows=scanned,
    )


def find_column(header: Sequence[str], name: str) -> str | None:
    """The file's column ``name`` as the import finds it (exact, else ignoring case), or None."""
    index = _find(header, name)
    return None if index is None else header[index]


def unmapped_values(item: instrument.Item, seen: Iterable[str], values: Mapping[str, str]) -> list[str]:
    """Values of a column that the import would refuse for ``item``: not answers, not in the value map."""
    parts: Iterable[str] = seen
    if item.kind == instrument.Kind.MULTIPLE:
        parts = (p.strip() for v in seen for p in _MULTI_SPLIT.split(v))
    found = []
    for value in dict.fromkeys(p for p in parts if p):
        if value in values or value in item.codes or _integer_form(value) in values:
            continue
        found.append(value)
    return found


def _replicate_prefix(header: Iterable[str]) -> tuple[str, int]:
    """The most common "PREFIX<number>" family of at least two columns (BSW1…BSWn), or ("", 0)."""
    families: dict[str, set[int]] = {}
    for name in header:
        match = re.match(r"^(.*?[A-Za-z_])(\d+)$", name)
        if match and len(match.group(2)) <= 7:
            families.setdefault(match.group(1), set()).add(int(match.group(2)))
    best = max(families.items(), key=lambda kv: len(kv[1]), default=("", set()))
    return (best[0], len(best[1])) if len(best[1]) >= 2 and 1 in best[1] else ("", 0)


# --- population margins -----------------------------------------------------------------------------


def parse_margins(file: Any) -> list[tuple[str, str, float]]:
    """Rows ``variable,category,population`` (header required) → (variable, category, population),
    or ``ImportRefused`` with every bad line. Variables: ``instrument.RAKING_VARIABLES``; categories:
    the item's codes (not "prefer not to answer"); populations > 0; each category once."""
    text = _Text(file)
    found: list[tuple[str, str, float]] = []
    problems: list[RowProblem] = []
    bad = rows = 0
    try:
        reader = _open_csv(text)
        header = [h.casefold() for h in reader.header]
        expected = ["variable", "category", "population"]
        if not set(expected) <= set(header):
            raise ImportRefused(
                [
                    _("The first line must name the columns variable, category and population (found: %(found)s).")
                    % {"found": ", ".join(reader.header)}
                ]
            )
        where = [header.index(name) for name in expected]
        seen: dict[tuple[str, str], int] = {}
        for line, cells in reader.records:
            rows += 1
            reasons: list[str] = []
            if len(cells) > len(header) and not any(c.strip() for c in cells[len(header) :]):
                cells = cells[: len(header)]  # trailing delimiters
            if len(cells) != len(header):
                reasons.append(
                    ngettext(
                        "it has %(found)s value but the header has %(expected)s columns",
                        "it has %(found)s values but the header has %(expected)s columns",
                        len(cells),
                    )
                    % {"found": len(cells), "expected": len(header)}
                )
                if len(cells) > len(header):
                    reasons.append(
                        _("write populations without thousands separators (15996989, not 15,996,989)")
                    )
            else:
                variable, category, population = (cells[i].strip() for i in where)
                item = instrument.RAKING_VARIABLES.get(variable)
                if item is None:
                    reasons.append(
                        _("“%(variable)s” is not a variable that can be raked (%(variables)s)")
                        % {"variable": variable, "variables": ", ".join(instrument.RAKING_VARIABLES)}
                    )
                elif category not in item.codes or category == instrument.PREFER_NOT:
                    reasons.append(
                        _("“%(category)s” is not a category of %(variable)s (%(categories)s)")
                        % {
                            "category": category,
                            "variable": variable,
                            "categories": ", ".join(c for c, _label in item.choices if c != instrument.PREFER_NOT),
                        }
                    )
                elif (variable, category) in seen:
                    reasons.append(
                        _("%(variable)s %(category)s is already given on line %(line)s")
                        % {"variable": variable, "category": category, "line": seen[(variable, category)]}
                    )
                number = _number(population, reader.delimiter == ";")
                if number is None:
                    reasons.append(_("the population “%(value)s” is not a number") % {"value": population})
                elif number <= 0:
                    reasons.append(_("the population must be greater than 0, not %(value)s") % {"value": population})
                if not reasons:
                    seen[(variable, category)] = line
                    found.append((variable, category, float(number)))  # type: ignore[arg-type]
            if reasons:
                bad += 1
                if len(problems) < MAX_SHOWN:
                    problems.append(RowProblem(line, tuple(reasons)))
    except csv.Error as exc:
        raise ImportRefused([_("The file is not a readable CSV file: %(error)s") % {"error": exc}]) from None
    finally:
        text.close()
    if bad:
        summary = ngettext(
            "%(count)s line has a problem, so the margins were not changed.",
            "%(count)s lines have problems, so the margins were not changed.",
            bad,
        ) % {"count": bad}
        raise ImportRefused([summary], problems, bad_rows=bad, rows=rows)
    if not found:
        raise ImportRefused([_("The file has a header but no rows.")])
    return found


def replace_margins(wave: Wave, file: Any) -> list[Margin]:
    """The wave's margins become exactly the file's (all or nothing)."""
    rows = parse_margins(file)
    with transaction.atomic():
        Margin.objects.filter(wave=wave).delete()
        return Margin.objects.bulk_create([Margin(wave=wave, variable=v, category=c, population=p) for v, c, p in rows])


def clear_margins(wave: Wave) -> int:
    deleted, _detail = Margin.objects.filter(wave=wave).delete()
    return deleted
