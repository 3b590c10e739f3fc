"""Group a campaign's voices into themes now, in the foreground, with a progress bar."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from belonging.core.models import Campaign, Place
from belonging.themes import services
from belonging.themes.models import STAGES, Backend, Curation, SynthesisRun, theme_name
from belonging.voices.models import Prompt


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class ProgressBar:
    """``[#####.....]  50% Grouping the voices``: redrawn in place on a terminal, else one line per
    stage and per tenth."""

    width = 30

    def __init__(self, out: OutputWrapper) -> None:
        self.out = out
        self.tty = out.isatty()
        self.last: tuple[int, str] | None = None

    def __call__(self, fraction: float, stage: str) -> None:
        percent = round(fraction * 100)
        if self.last is not None:
            last_percent, last_stage = self.last
            if stage == last_stage and (percent == last_percent or (not self.tty and percent - last_percent < 10)):
                return
        self.last = (percent, stage)
        filled = int(self.width * fraction)
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {percent:3d}% {STAGES.get(stage, stage)}"
        if self.tty:
            self.out.write(f"\r{line:<80}", ending="")
            self.out.flush()
        else:
            self.out.write(line)

    def finish(self) -> None:
        if self.tty:
            self.out.write("")


class Command(BaseCommand):
    help = "Group a campaign's voices into themes now (in the foreground, with a progress bar) and print coverage."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", help="the campaign's slug")
        parser.add_argument("--prompt", help="only voices answering this prompt (its slug)")
        parser.add_argument("--place", help="only voices from this place (its slug; a province takes its voices too)")
        parser.add_argument(
            "--from", dest="date_from", type=_date, help="only voices received on or after (YYYY-MM-DD)"
        )
        parser.add_argument("--to", dest="date_to", type=_date, help="only voices received on or before (YYYY-MM-DD)")
        parser.add_argument("--min-themes", type=int, default=2)
        parser.add_argument("--max-themes", type=int, default=30)
        parser.add_argument("--backend", choices=Backend.values, help="embeddings (default: THEMES_BACKEND)")
        parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same themes")
        parser.add_argument("--publish", action="store_true", help="publish the run as the campaign's What we heard")

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = Campaign.objects.filter(slug=options["campaign"]).first()
        if campaign is None:
            raise CommandError(f"No campaign {options['campaign']!r}.")
        prompt = place = None
        if options["prompt"]:
            prompt = Prompt.objects.filter(campaign=campaign, slug=options["prompt"]).first()
            if prompt is None:
                raise CommandError(f"No prompt {options['prompt']!r} in this campaign.")
        if options["place"]:
            place = Place.objects.filter(campaign=campaign, slug=options["place"]).first()
            if place is None:
                raise CommandError(f"No place {options['place']!r} in this campaign.")
        try:
            run = services.start_run(
                campaign,
                None,
                place=place,
                prompt=prompt,
                date_from=options["date_from"],
                date_to=options["date_to"],
                min_themes=options["min_themes"],
                max_themes=options["max_themes"],
                backend=options["backend"] or settings.THEMES_BACKEND,
                seed=options["seed"],
                enqueue=False,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"Run {run.pk}: {campaign.slug}, {run.backend} embeddings, seed {run.seed}.")
        bar = ProgressBar(self.stdout)
        started = time.monotonic()
        try:
            run = services.execute_run(run, on_progress=bar)
        except KeyboardInterrupt:
            # execute_run has marked the run failed (unless its results were saved already); say so
            # instead of a traceback, with the exit status of Ctrl-C.
            bar.finish()
            run.refresh_from_db()
            outcome = "its results are saved" if run.status == SynthesisRun.Status.DONE else "it is marked failed"
            raise CommandError(f"Run {run.pk} was interrupted; {outcome}.", returncode=130) from None
        bar.finish()
        if run.status != SynthesisRun.Status.DONE:
            raise CommandError(f"Run {run.pk} failed: {run.error}")
        self._summary(run, time.monotonic() - started)
        if options["publish"]:
            services.publish(run, None)
            self.stdout.write(self.style.SUCCESS(f"Run {run.pk} is published as What we heard."))

    def _summary(self, run: SynthesisRun, seconds: float) -> None:
        themes = list(run.themes.order_by("position"))
        share = f"{run.share:.0%}"
        self.stdout.write(
            self.style.SUCCESS(
                f"Run {run.pk} done in {seconds:.1f} s ({run.backend_name}): {run.total} voices, "
                f"{run.in_themes} in {len(themes)} themes ({share})."
            )
        )
        excluded = ", ".join(f"{reason} {n}" for reason, n in sorted(run.excluded.items()))
        self.stdout.write(f"Not in a theme: {excluded or 'none'}.")
        curations = {c.key: c for c in Curation.objects.filter(campaign_id=run.campaign_id)}
        for theme in themes:
            curation = curations.get(theme.key)
            hidden = " (hidden)" if curation is not None and curation.hidden else ""
            name = theme_name(theme, curation, "en")
            self.stdout.write(f"  {theme.position + 1:2d}. {name} ({theme.size} voices) [{theme.key}]{hidden}")
