"""What every benchmark shares: output, percentiles, scratch PostgreSQL databases, the child's environment.

Not a benchmark itself (``make bench`` skips files starting with ``_``).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def log(message: str) -> None:
    print(message, flush=True)


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def r(value: float, digits: int = 1) -> float:
    return round(value, digits)


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="belonging.settings",
        DEBUG="false",
        SECRET_KEY="bench-" + secrets.token_urlsafe(32),
        ALLOWED_HOSTS="127.0.0.1",
        CACHE_URL="locmem://",
        TASKS_BACKEND="django_tasks_db.DatabaseBackend",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        SECURE_COOKIES="false",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(REPO),
    )
    return env


def collect_static(static_root: Path, env: dict[str, str]) -> None:
    """``manage.py collectstatic`` into the scratch folder (the settings read STATIC_ROOT from the environment).

    With DEBUG off the app uses WhiteNoise's manifest storage, which needs the collected files.
    """
    env = dict(env, STATIC_ROOT=str(static_root))
    subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=REPO, env=env, check=True,
    )  # fmt: skip
