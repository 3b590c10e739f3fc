"""The French catalog: complete, faithful to its placeholders, in sync with the code, and really served.

When a test here fails after a template or Python string changed, run `make messages`, translate every
new or changed entry in belonging/locale/fr/LC_MESSAGES/django.po (and djangojs.po if it exists), remove
any "#, fuzzy" flag, then `make compilemessages`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polib
import pytest
from asgiref.local import Local
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import trans_real

ROOT = Path(settings.BASE_DIR)
LOCALE_DIR = ROOT / "belonging" / "locale"
MESSAGES_DIR = LOCALE_DIR / "fr" / "LC_MESSAGES"
PO_PATH = MESSAGES_DIR / "django.po"
# djangojs.po exists only once a script has a translatable string; django.po must always exist.
DOMAINS = tuple(d for d in ("django", "djangojs") if d == "django" or (MESSAGES_DIR / f"{d}.po").exists())
PLEDGE_URL = "/fr/pledges/strategy-for-belonging/"
NBSP = "\u00a0"

# python-format directives (%(name)s, %s, %d, %.2f …); "%%" is a literal percent sign, not a placeholder.
PERCENT_RE = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]")
BRACE_RE = re.compile(r"\{[^{}]*\}")
TAG_RE = re.compile(r"</?[A-Za-z][^<>]*>")


def _catalog(domain: str = "django") -> list[polib.POEntry]:
    return [e for e in polib.pofile(str(MESSAGES_DIR / f"{domain}.po")) if not e.obsolete]


def _label(entry: polib.POEntry) -> str:
    where = entry.occurrences[0][0] if entry.occurrences else "?"
    context = f" [context {entry.msgctxt!r}]" if entry.msgctxt else ""
    return f"{entry.msgid!r}{context} ({where})"


def _key(entry: polib.POEntry) -> tuple[str | None, str, str]:
    return (entry.msgctxt, entry.msgid, entry.msgid_plural or "")


def _is_translated(entry: polib.POEntry) -> bool:
    if entry.msgid_plural:
        forms = entry.msgstr_plural
        return len(forms) >= 2 and all(forms.get(i) for i in range(len(forms)))
    return bool(entry.msgstr)


def _placeholders(text: str, entry: polib.POEntry) -> tuple[list[str], list[str], list[str]]:
    percent = sorted(p for p in PERCENT_RE.findall(text) if p != "%%") if "python-format" in entry.flags else []
    brace = sorted(BRACE_RE.findall(text)) if "python-brace-format" in entry.flags else []
    tags = sorted(TAG_RE.findall(text))
    return percent, brace, tags


@pytest.fixture(scope="module", autouse=True)
def compiled_catalog():
    """Compile the catalogs when the .mo is missing or older than the .po (`make test` already does it)."""
    compiled = False
    for domain in DOMAINS:
        po_path, mo_path = MESSAGES_DIR / f"{domain}.po", MESSAGES_DIR / f"{domain}.mo"
        if not po_path.exists():
            continue
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        tmp = mo_path.with_suffix(".mo.tmp")
        polib.pofile(str(po_path)).save_as_mofile(str(tmp))
        os.replace(tmp, mo_path)
        compiled = True
    if compiled:
        # Forget catalogs Django may already have loaded in this process (as Django's setting_changed does).
        trans_real._translations = {}
        trans_real._default = None
        trans_real._active = Local()
        for cached in ("translation_catalog_exists", "check_for_language"):
            if hasattr(getattr(trans_real, cached, None), "cache_clear"):
                getattr(trans_real, cached).cache_clear()
    yield


# --- the catalog itself ---------------------------------------------------------------------------------


def test_catalog_exists_with_french_plural_rule():
    assert PO_PATH.exists(), f"{PO_PATH} is missing: run `make messages` and translate it"
    po = polib.pofile(str(PO_PATH))
    assert not po.metadata_is_fuzzy, "the catalog header is marked fuzzy"
    assert po.metadata.get("Language") == "fr"
    assert po.metadata.get("Plural-Forms", "").replace(" ", "") == "nplurals=2;plural=(n>1);"
    assert "charset=UTF-8" in po.metadata.get("Content-Type", "")


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_entry_is_translated_and_not_fuzzy(domain):
    problems = []
    for entry in _catalog(domain):
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {_label(entry)}")
        if not _is_translated(entry):
            problems.append(f"untranslated: {_label(entry)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("domain", DOMAINS)
def test_placeholders_and_html_tags_are_kept(domain):
    problems = []
    for entry in _catalog(domain):
        if not _is_translated(entry):
            continue  # reported by test_every_entry_is_translated_and_not_fuzzy
        singular = _placeholders(entry.msgid, entry)
        if entry.msgid_plural:
            plural = _placeholders(entry.msgid_plural, entry)
            for index, text in sorted(entry.msgstr_plural.items()):
                found = _placeholders(text, entry)
                # French uses form 0 for 0 and 1, so it may follow either English form; the others follow the plural.
                allowed = [singular, plural] if index == 0 else [plural]
                if found not in allowed:
                    problems.append(f"msgstr[{index}] of {_label(entry)}: {found} instead of {allowed[-1]}")
        else:
            found = _placeholders(entry.msgstr, entry)
            if found != singular:
                problems.append(f"{_label(entry)}: {found} instead of {singular}")
    assert not problems, "placeholders or HTML tags differ (placeholders, brace fields, tags):\n" + "\n".join(problems)


def test_msgfmt_check_format_passes():
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("msgfmt (gettext) is not installed")
    for domain in DOMAINS:
        po_path = MESSAGES_DIR / f"{domain}.po"
        if po_path.exists():
            result = subprocess.run(
                [msgfmt, "--check-format", "--check-header", "-o", os.devnull, str(po_path)],
                capture_output=True,
                text=True,
            )
            assert result.returncode == 0, result.stderr


def test_french_typography_is_consistent():
    """Canadian (Quebec) style: no-break space before ":" and inside « », no space before ? ! ;, no “ ”."""
    problems = []
    for entry in _catalog():
        texts = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        for text in filter(None, texts):
            if re.search(r"[ \u00a0\u202f][?!;]", text):
                problems.append(f"space before ? ! or ; in {text!r}")
            if re.search(r"(?:^|[^\u00a0]):(?=\s|$)", text) or " :" in text:
                problems.append(f"a colon needs a no-break space (U+00A0) before it in {text!r}")
            if re.search(r"«(?!\u00a0)|(?<!\u00a0)»", text):
                problems.append(f"« » need no-break spaces (U+00A0) inside in {text!r}")
            if "“" in text or "”" in text:
                problems.append(f"use « » rather than “ ” in {text!r}")
    assert not problems, "\n".join(problems)


# --- the catalog is in sync with the code and templates -------------------------------------------------


def _regenerate(tmp_path: Path) -> Path:
    """Run makemessages on a copy of the project whose locale folder starts empty; return that folder."""
    project = tmp_path / "project"
    shutil.copytree(
        ROOT / "belonging",
        project / "belonging",
        ignore=shutil.ignore_patterns("locale", "__pycache__", "*.pyc"),
    )
    shutil.copy2(ROOT / "manage.py", project / "manage.py")
    (project / "belonging" / "locale").mkdir()
    env = {**os.environ, "PYTHONPATH": str(project), "DJANGO_SETTINGS_MODULE": "belonging.settings"}
    common = ["-l", "fr", "--no-obsolete", "--add-location=file", "--ignore=.venv", "--ignore=var"]
    for domain in DOMAINS:
        result = subprocess.run(
            [sys.executable, "manage.py", "makemessages", "-d", domain, *common],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"makemessages -d {domain} failed:\n{result.stdout}\n{result.stderr}"
    return project / "belonging" / "locale" / "fr" / "LC_MESSAGES"


def test_catalog_is_up_to_date_with_the_source(tmp_path):
    regenerated_dir = _regenerate(tmp_path)
    problems = []
    for domain in DOMAINS:
        fresh_path = regenerated_dir / f"{domain}.po"
        fresh = [e for e in polib.pofile(str(fresh_path)) if not e.obsolete] if fresh_path.exists() else []
        committed_path = MESSAGES_DIR / f"{domain}.po"
        committed = {_key(e): e for e in _catalog(domain)} if committed_path.exists() else {}
        fresh_keys = {_key(e) for e in fresh}
        for entry in fresh:
            existing = committed.get(_key(entry))
            if existing is None:
                problems.append(f"{domain}: missing from the catalog: {_label(entry)}")
            elif not _is_translated(existing) or "fuzzy" in existing.flags:
                problems.append(f"{domain}: not translated (or fuzzy): {_label(entry)}")
        for key, entry in committed.items():
            if key not in fresh_keys:
                problems.append(f"{domain}: no longer in the source (stale): {_label(entry)}")
    assert not problems, "run `make messages` and translate:\n" + "\n".join(problems)


# --- French pages really render in French --------------------------------------------------------------


@pytest.mark.django_db
def test_home_page_renders_in_french(client):
    response = client.get("/fr/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="fr"' in html
    assert "Passer au contenu principal" in html  # also in Django admin's French catalog, so check ours below
    assert "Skip to main content" not in html
    assert "Signer l’engagement" in html  # only in our catalog
    assert "Appartenance" in html  # the site's name, only in our catalog


@pytest.mark.django_db
def test_english_home_page_stays_in_english(client):
    html = client.get("/en/").content.decode()
    assert '<html lang="en"' in html
    assert "Skip to main content" in html
    assert "Passer au contenu principal" not in html


@pytest.mark.django_db
def test_sign_page_shows_french_labels_and_province_names(client):
    response = client.get(PLEDGE_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="fr"' in html
    assert "Province ou territoire" in html
    assert "Province or territory" not in html
    for name in (
        "Terre-Neuve-et-Labrador",
        "Île-du-Prince-Édouard",
        "Nouvelle-Écosse",
        "Nouveau-Brunswick",
        "Québec",
        "Colombie-Britannique",
        "Territoires du Nord-Ouest",
    ):
        assert name in html, name
    assert "British Columbia" not in html
    assert "Courriel" in html
    assert "Code postal (facultatif)" in html
    assert "(obligatoire)" in html


@pytest.mark.django_db
def test_form_errors_are_in_french_including_djangos_own(client):
    response = client.post(PLEDGE_URL, {})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Ce champ est obligatoire." in html  # Django's own message, from Django's French catalog
    assert "This field is required." not in html
    assert "Il y a un problème" in html  # ours
    assert "Erreur\u00a0:" in html  # the page title says there is an error


def test_confirmation_email_subject_is_in_french():
    with translation.override("fr"):
        subject = render_to_string("pledges/email/confirm_subject.txt", {"code": "123456"}).strip()
    assert subject == f"Votre code de confirmation{NBSP}: 123456"
