"""Background work for the survey: computing a wave's estimates (and publishing them when asked)."""

from __future__ import annotations

from django_tasks import task


@task()
def compute_wave(wave_id: int, publish: bool = False) -> str:
    """Compute the wave's estimates, replacing its rows; publish them afterwards when ``publish`` and
    raking converged. Returns "done", "published", "withheld" (a published wave's new results could not
    be published, so the public ones were kept), "failed" or "missing". Safe to run twice, and on
    several workers at once: each run recomputes from the data as they are, writes under a lock on the
    wave's row, and a run overtaken by a newer one is discarded (see ``estimation.compute_estimates``)."""
    from belonging.measure import estimation

    return estimation.run_computation(wave_id, publish)
