from django.db import migrations

# PostgreSQL ignores the statistics of a partial expression index (voice_search), so without these it
# guesses how many voices a word matches; a target of 1000 also tracks the rare words.
FORWARD = [
    "CREATE STATISTICS voice_search_text ON (to_tsvector('simple'::regconfig, search_text)) FROM voices_voice",
    "ALTER STATISTICS voice_search_text SET STATISTICS 1000",
    "ANALYZE voices_voice",
]
BACKWARD = ["DROP STATISTICS IF EXISTS voice_search_text"]


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("voices", "0005_gallery_status_first")]
    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
