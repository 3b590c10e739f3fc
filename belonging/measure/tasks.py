"""Background work for the survey: computing a wave's estimates (and publishing them when asked)."""

from __future__ import annotations

from django_tasks import task


@task()
def compute_wave(wave_id: int, publish: bool = False) -> str:
    """Compute the wave's estimates, replacing its rows; publish them afterwards when ``publish`` and
    raking converged. Returns "done", "published", "failed" or "missing". Safe to run twice: each run
    recomputes from the data as they are."""
    from belonging.measure import estimation

    return estimation.run_computation(wave_id, publish)
