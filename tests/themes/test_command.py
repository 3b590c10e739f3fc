"""manage.py synthesize: a run in the foreground with a progress bar and the coverage at the end."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from belonging.themes import services
from belonging.themes.models import SynthesisRun
from tests.themes.conftest import theme_of_topic

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_english():
    """Commands print in the active language; an earlier test in the same process may leave French on."""
    with translation.override("en"):
        yield


def synthesize(*args: str) -> str:
    out = StringIO()
    call_command("synthesize", *args, stdout=out)
    return out.getvalue()


def test_it_runs_in_the_foreground_and_prints_progress_and_coverage(campaign, corpus, organizer):
    output = synthesize(campaign.slug, "--min-themes", "3", "--max-themes", "3", "--seed", "4")

    run = SynthesisRun.objects.get()
    assert (run.status, run.seed, run.started_by, run.published_at) == ("done", 4, None, None)
    lines = output.splitlines()
    assert lines[0] == f"Run {run.pk}: {campaign.slug}, e5 embeddings, seed 4."
    bars = [line for line in lines if line.startswith("[")]
    assert re.fullmatch(r"\[\.{30}\]   0% Reading the voices", bars[0])
    assert re.fullmatch(r"\[#{30}\] 100% Done", bars[-1])
    assert any("Grouping the voices" in line for line in bars)
    percents = [int(re.search(r"(\d+)%", line).group(1)) for line in bars]
    assert percents == sorted(percents)
    assert f"Run {run.pk} done in " in output
    assert f"(e5-small-q4): {len(corpus)} voices, {len(corpus)} in 3 themes (100%)." in output
    assert "Not in a theme: empty 0, far 0, small 0." in output
    housing = run.themes.get(key=theme_of_topic(run, corpus)["housing"])
    name = housing.default_name("en")
    assert name.startswith(("housing, rent", "rent, housing"))
    line = f"  {housing.position + 1:2d}. {name} ({housing.size} voices) [{housing.key}]"
    assert line in lines


def test_it_names_curated_themes_and_can_publish(campaign, corpus, organizer):
    synthesize(campaign.slug, "--min-themes", "3", "--max-themes", "3")
    keys = theme_of_topic(SynthesisRun.objects.get(), corpus)
    services.rename(campaign, keys["transit"], "Getting around", "Se déplacer", organizer)
    services.hide(campaign, keys["food"], organizer)

    output = synthesize(campaign.slug, "--min-themes", "3", "--max-themes", "3", "--publish")

    run = SynthesisRun.objects.order_by("-id").first()
    assert run.published_at is not None
    assert f"Getting around (17 voices) [{keys['transit']}]" in output
    assert f"[{keys['food']}] (hidden)" in output
    assert output.rstrip().endswith(f"Run {run.pk} is published as What we heard.")


def test_it_scopes_by_prompt_and_dates(campaign, prompts, corpus):
    output = synthesize(campaign.slug, "--prompt", "story-of-belonging", "--from", "2020-01-01", "--to", "2020-12-31")
    run = SynthesisRun.objects.get()
    assert run.prompt.slug == "story-of-belonging"
    assert str(run.date_from) == "2020-01-01" and str(run.date_to) == "2020-12-31"
    assert run.total == 0 and "0 voices, 0 in 0 themes" in output


def test_it_refuses_what_it_cannot_do_with_a_clear_message(campaign, corpus, monkeypatch):
    with pytest.raises(CommandError, match="No campaign 'nowhere'"):
        synthesize("nowhere")
    with pytest.raises(CommandError, match="No prompt 'nope' in this campaign"):
        synthesize(campaign.slug, "--prompt", "nope")
    with pytest.raises(CommandError, match="No place 'atlantis' in this campaign"):
        synthesize(campaign.slug, "--place", "atlantis")
    with pytest.raises(CommandError, match="The most themes cannot be fewer than the fewest themes"):
        synthesize(campaign.slug, "--min-themes", "5", "--max-themes", "2")
    assert not SynthesisRun.objects.exists()

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(services.engine, "synthesize", broken)
    with pytest.raises(CommandError, match=r"Run \d+ failed: RuntimeError: out of memory"):
        synthesize(campaign.slug)
    assert SynthesisRun.objects.get().status == "failed"


def test_ctrl_c_marks_the_run_failed(campaign, corpus, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(services.engine, "synthesize", interrupted)
    with pytest.raises(CommandError, match=r"Run \d+ was interrupted; it is marked failed\.") as error:
        synthesize(campaign.slug)
    assert error.value.returncode == 130
    run = SynthesisRun.objects.get()
    assert run.status == "failed" and run.error == "The run was interrupted (KeyboardInterrupt) before it finished."
