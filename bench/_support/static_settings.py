"""belonging.settings with STATIC_ROOT moved to a scratch folder (bench use only).

With DEBUG false the app uses WhiteNoise's manifest storage, which needs `collectstatic` first;
STATIC_ROOT is fixed to var/staticfiles in belonging/settings.py, so the benches collect into
their own temporary folder instead of touching the working tree. Nothing else is changed.
"""

import os

from belonging.settings import *  # noqa: F403

STATIC_ROOT = os.environ["BENCH_STATIC_ROOT"]
