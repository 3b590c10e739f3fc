"""One settings file. Every value comes from the environment (see .env.example)."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from belonging.env import env_bool, env_float, env_int, env_list, env_secret, env_str, load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")

DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105 - refused when DEBUG is off

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_secret("SECRET_KEY", DEV_SECRET_KEY)
if not DEBUG and (SECRET_KEY in (DEV_SECRET_KEY, "change-me") or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured("SECRET_KEY must be set to a random value of at least 32 characters when DEBUG is false")
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Number of reverse proxies in front of the app whose X-Forwarded-For entries are trusted.
NUM_PROXIES = env_int("NUM_PROXIES", 0, minimum=0)

INSTALLED_APPS = [
    # Django
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # third party
    "django_tasks",
    "django_tasks_db",
    # ours: models and helpers first, then capabilities
    "belonging.core",
    "belonging.accounts",
    "belonging.pledges",
    "belonging.voices",
    "belonging.themes",
    "belonging.measure",
    "belonging.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "belonging.core.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "belonging.urls"
WSGI_APPLICATION = "belonging.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "belonging" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "belonging.core.context_processors.site",
            ],
        },
    },
]

# Database: SQLite (WAL) by default; PostgreSQL through DATABASE_URL.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
# PgBouncer in transaction pooling mode needs server-side cursors off.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env_bool("DB_DISABLE_SERVER_SIDE_CURSORS", False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers and one writer work at once; IMMEDIATE avoids lock-upgrade deadlocks.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHE_URL = env_str("CACHE_URL", "locmem://")
if CACHE_URL.startswith("locmem://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
elif CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL.startswith("db://"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": CACHE_URL.removeprefix("db://") or "belonging_cache",
        }
    }
else:
    raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r}: use locmem://, redis://host:port/db or db://table")

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Languages: English and Canadian French, with /en/… and /fr/… URLs.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "belonging" / "locale"]
USE_I18N = True
TIME_ZONE = env_str("TIME_ZONE", "America/Toronto")
USE_TZ = True
# Canadian French writes times as "15 h 59" (belonging/formats/fr/formats.py).
FORMAT_MODULE_PATH = ["belonging.formats"]

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "staticfiles")))  # manage.py collectstatic
STATICFILES_DIRS = [BASE_DIR / "belonging" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Email: rendered to files under var/outbox/ in development, SMTP in production.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "belonging.core.mail.OutboxBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_OUTBOX_DIR = Path(env_str("EMAIL_OUTBOX_DIR", str(BASE_DIR / "var" / "outbox")))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 15, minimum=1)  # seconds; a stalled server must not block a worker
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Belonging <no-reply@localhost>")
# The development-only page that lists the outbox (/dev/outbox/).
DEV_OUTBOX = env_bool("DEV_OUTBOX", DEBUG)

# Background work: Django's Tasks API on a database-backed queue (manage.py db_worker).
TASKS = {"default": {"BACKEND": env_str("TASKS_BACKEND", "django_tasks_db.DatabaseBackend")}}

SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)

# Pledges: abuse controls and freshness of "by the numbers".
PLEDGE_CONFIRM_DAYS = env_int("PLEDGE_CONFIRM_DAYS", 7, minimum=1)
PLEDGE_CODE_MAX_ATTEMPTS = env_int("PLEDGE_CODE_MAX_ATTEMPTS", 5, minimum=1)
PLEDGE_MIN_FILL_SECONDS = env_int("PLEDGE_MIN_FILL_SECONDS", 3, minimum=0)
PLEDGE_RATE_PER_IP = env_str("PLEDGE_RATE_PER_IP", "30/h")
PLEDGE_RATE_PER_DOMAIN = env_str("PLEDGE_RATE_PER_DOMAIN", "200/h")
# Large webmail providers are exempt from the per-domain limit (they are shared by millions).
PLEDGE_RATE_DOMAIN_EXEMPT = env_list(
    "PLEDGE_RATE_DOMAIN_EXEMPT",
    [
        "gmail.com", "outlook.com", "hotmail.com", "live.com", "live.ca", "msn.com", "yahoo.com",
        "yahoo.ca", "icloud.com", "me.com", "proton.me", "protonmail.com", "videotron.ca",
        "sympatico.ca", "bell.net", "rogers.com", "shaw.ca", "telus.net", "cogeco.ca", "sasktel.net",
    ],
)
# "By the numbers" are never more than NUMBERS_STALENESS_SECONDS old for a reader: figures are stamped
# when their query starts, the server cache keeps them NUMBERS_CACHE_SECONDS from then, and responses
# tell browsers and proxies to keep them only for what is left of the budget.
NUMBERS_STALENESS_SECONDS = 5
NUMBERS_CACHE_SECONDS = env_int("NUMBERS_CACHE_SECONDS", 2, minimum=0)
if NUMBERS_CACHE_SECONDS >= NUMBERS_STALENESS_SECONDS:
    raise ImproperlyConfigured(f"NUMBERS_CACHE_SECONDS={NUMBERS_CACHE_SECONDS}: below {NUMBERS_STALENESS_SECONDS}")
PUBLIC_LIST_PAGE_SIZE = env_int("PUBLIC_LIST_PAGE_SIZE", 50, minimum=1)

# Voices: abuse controls, moderation claims, page sizes (confirmation reuses PLEDGE_CONFIRM_DAYS and
# PLEDGE_CODE_MAX_ATTEMPTS).
VOICE_RATE_PER_IP = env_str("VOICE_RATE_PER_IP", "20/h")
VOICE_RATE_PER_EMAIL = env_str("VOICE_RATE_PER_EMAIL", "10/h")
VOICE_CLAIM_MINUTES = env_int("VOICE_CLAIM_MINUTES", 30, minimum=1)
VOICE_PAGE_SIZE = env_int("VOICE_PAGE_SIZE", 20, minimum=1)
VOICE_API_MAX_PAGE_SIZE = env_int("VOICE_API_MAX_PAGE_SIZE", 100, minimum=1)

# Themes: how voices are embedded (once each, when confirmed) and grouped.
THEMES_BACKEND = env_str("THEMES_BACKEND", "e5")  # e5, lexical or sentence-transformers
THEMES_MODEL = env_str("THEMES_MODEL", "")  # a local sentence-transformers model (name or path)
if THEMES_BACKEND not in ("e5", "lexical", "sentence-transformers"):
    raise ImproperlyConfigured(f"THEMES_BACKEND={THEMES_BACKEND!r}: use e5, lexical or sentence-transformers")
if THEMES_BACKEND == "sentence-transformers" and not THEMES_MODEL:
    raise ImproperlyConfigured("THEMES_BACKEND=sentence-transformers needs THEMES_MODEL")
# Cosine (after language centring) a new voice needs to its nearest theme to join it before the next run.
THEMES_ASSIGN_FLOOR = env_float("THEMES_ASSIGN_FLOOR", 0.2, minimum=-1.0, maximum=1.0)
THEMES_MIN_THEME_SIZE = env_int("THEMES_MIN_THEME_SIZE", 5, minimum=1)  # smaller groups are not themes
THEMES_MAX_THEMES = env_int("THEMES_MAX_THEMES", 60, minimum=2)  # the most themes an organizer may ask for
THEMES_EMBED_BATCH = env_int("THEMES_EMBED_BATCH", 64, minimum=1)  # voices embedded (and saved) at a time

# Belonging survey: abuse controls on starting responses (open waves) and on wrong invitation or resume codes.
SURVEY_RATE_PER_IP = env_str("SURVEY_RATE_PER_IP", "60/h")
SURVEY_CODE_RATE_PER_IP = env_str("SURVEY_CODE_RATE_PER_IP", "30/h")

LOGIN_URL = "accounts:login"
LOGIN_RATE_PER_IP = env_str("LOGIN_RATE_PER_IP", "10/m")
LOGIN_REDIRECT_URL = "moderation:queue"
LOGOUT_REDIRECT_URL = "core:home"

RATELIMIT_IP_META_KEY = "belonging.core.net.client_ip"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
