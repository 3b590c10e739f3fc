"""With CACHE_URL=redis://…, app processes share one cache: rate limits and numbers hold across them."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

REDIS = ("127.0.0.1", 6379)


def _redis_up() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=0.5):
            return True
    except OSError:
        return False


def test_a_redis_cache_url_is_shared_between_processes():
    if not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379 (the development machines and CI run one)")
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='belonging.settings'; django.setup();"
        "from django.core.cache import cache; import sys;"
        "cache.set('belonging-test-key', sys.argv[1], 30) if sys.argv[1] != 'read' else print(cache.get('belonging-test-key'))"
    )
    env = {"CACHE_URL": "redis://127.0.0.1:6379/15", "PATH": "/usr/bin:/bin", "PYTHONPATH": "."}
    subprocess.run([sys.executable, "-c", code, "from-process-one"], env=env, check=True)
    read = subprocess.run([sys.executable, "-c", code, "read"], env=env, check=True, capture_output=True, text=True)
    assert read.stdout.strip() == "from-process-one"


def test_an_unknown_cache_url_is_refused():
    result = subprocess.run(
        [sys.executable, "-c", "import belonging.settings"],
        env={"CACHE_URL": "memcached://x", "PATH": "/usr/bin:/bin", "PYTHONPATH": "."},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "CACHE_URL" in result.stderr
