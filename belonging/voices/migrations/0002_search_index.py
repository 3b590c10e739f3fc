"""Full-text search over the folded ``search_text``: FTS5 on SQLite, a GIN tsvector index on PostgreSQL."""

from django.db import migrations

SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE voices_voice_fts USING fts5("
    "search_text, content='voices_voice', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER voices_voice_fts_ai AFTER INSERT ON voices_voice BEGIN "
    "INSERT INTO voices_voice_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER voices_voice_fts_ad AFTER DELETE ON voices_voice BEGIN "
    "INSERT INTO voices_voice_fts(voices_voice_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER voices_voice_fts_au AFTER UPDATE OF search_text ON voices_voice BEGIN "
    "INSERT INTO voices_voice_fts(voices_voice_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO voices_voice_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "INSERT INTO voices_voice_fts(voices_voice_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS voices_voice_fts_au",
    "DROP TRIGGER IF EXISTS voices_voice_fts_ad",
    "DROP TRIGGER IF EXISTS voices_voice_fts_ai",
    "DROP TABLE IF EXISTS voices_voice_fts",
]
POSTGRES_FORWARD = [
    "CREATE INDEX voice_search ON voices_voice USING gin (to_tsvector('simple'::regconfig, search_text)) "
    "WHERE status = 'published'",
]
POSTGRES_BACKWARD = ["DROP INDEX IF EXISTS voice_search"]


def _run(statements: dict[str, list[str]]):
    def apply(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("voices", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        )
    ]
