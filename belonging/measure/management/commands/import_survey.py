"""Import survey responses from a CSV file into a wave (big public microdata files belong here rather
than in a browser upload: the web page refuses files over ``imports.WEB_MAX_ROWS`` rows and gives this
command, with the organizer's options), with a progress count; everything is checked first and
nothing is imported if a row is bad.

    manage.py import_survey strategy-for-belonging cchs-2024 cchs.csv --weight WTS_M --replicates BSW \\
        --map css_belonging=PSC_Q1 --values css_belonging='1=very_strong;2=somewhat_strong;3=somewhat_weak;4=very_weak;7=prefer_not;8=;9=' \\
        --map province=GEO_PRV --statcan-provinces

Or give the whole mapping as JSON (``--mapping mapping.json``), as stored in an earlier import:
``{"items": {"css_belonging": {"column": "PSC_Q1", "values": {"1": "very_strong"}}}, "weight": "WTS_M",
"replicates": ["BSW1", ...]}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from belonging.measure import imports
from belonging.measure.models import Wave


def _pair(text: str) -> tuple[str, str]:
    item, sep, value = text.partition("=")
    if not sep or not item.strip():
        raise ValueError(f"{text!r}: write item=value")
    return item.strip(), value.strip()


def _values(text: str) -> dict[str, str]:
    found = {}
    for pair in text.replace("\n", ";").split(";"):
        if pair.strip():
            value, sep, code = pair.partition("=")
            if not sep:
                raise CommandError(f"{pair!r} in a value map: write value=code")
            found[value.strip()] = code.strip()
    return found


class Command(BaseCommand):
    help = "Import survey responses from a CSV file into a wave: all rows, or none if one is bad."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", help="the campaign's slug")
        parser.add_argument("wave", help="the wave's slug")
        parser.add_argument("file", type=Path, help="the CSV file (UTF-8, commas or semicolons, a header row)")
        parser.add_argument("--weight", default="", help="the final weight column, e.g. WTS_M (none: weight 1)")
        parser.add_argument("--replicates", default="", help="replicate weight columns: a prefix (BSW) or names")
        parser.add_argument("--map", action="append", default=[], type=_pair, metavar="ITEM=COLUMN")
        parser.add_argument("--values", action="append", default=[], type=_pair, metavar="ITEM='v=code;v=code'")
        parser.add_argument(
            "--statcan-provinces", action="store_true", help="read the province column's codes 10…62 (GEO_PRV)"
        )
        parser.add_argument("--mapping", type=Path, help="a JSON mapping, as an earlier import stored it")
        parser.add_argument("--check", action="store_true", help="check every row, import nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        wave = Wave.objects.filter(campaign__slug=options["campaign"], slug=options["wave"]).first()
        if wave is None:
            raise CommandError(f"No wave {options['wave']!r} in campaign {options['campaign']!r}.")
        if not options["file"].is_file():
            raise CommandError(f"No file {options['file']}.")
        mapping: dict[str, dict[str, Any]] = {}
        weight, replicates = options["weight"], options["replicates"]
        if options["mapping"]:
            stored = json.loads(options["mapping"].read_text(encoding="utf-8"))
            mapping = {k: dict(v) for k, v in (stored.get("items") or {}).items()}
            weight = weight or stored.get("weight", "")
            replicates = replicates or stored.get("replicates") or ""
        for item, column in options["map"]:
            mapping.setdefault(item, {"column": column, "values": {}})["column"] = column
        for item, text in options["values"]:
            mapping.setdefault(item, {"column": item, "values": {}})["values"] = _values(text)
        if options["statcan_provinces"]:
            mapping.setdefault("province", {"column": "province", "values": {}})["values"] = dict(
                imports.STATCAN_PROVINCES
            )
        try:
            if options["check"]:
                result = imports.check_csv(wave, options["file"], mapping, weight, replicates)
                self.stdout.write(
                    self.style.SUCCESS(
                        f"All {result.rows} rows can be imported ({result.replicates} replicate weights)."
                    )
                )
                return
            batch = imports.import_csv(
                wave,
                options["file"],
                mapping,
                weight,
                replicates,
                None,
                filename=options["file"].name,
                on_progress=self._progress,
            )
        except imports.ImportRefused as refused:
            for message in refused.messages:
                self.stderr.write(message)
            for problem in refused.problems:
                self.stderr.write(f"  {problem.text}")
            raise CommandError("Nothing was imported.") from None
        if self.stdout.isatty():
            self.stdout.write("")  # end the progress line
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {batch.rows} responses ({batch.replicates} replicate weights) into {wave.slug}."
            )
        )

    def _progress(self, rows: int) -> None:
        if self.stdout.isatty():
            self.stdout.write(f"\r{rows:,} rows imported", ending="")
            self.stdout.flush()
        elif rows % 10_000 < imports.BATCH_SIZE:
            self.stdout.write(f"{rows:,} rows imported")
