"""Gallery indexes lead with status and carry the filters, so SQLite picks them (not voice_queue) and counts read the index alone."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0002_campaign_content'),
        ('voices', '0004_take_down_action'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='voice',
            name='voice_gallery',
        ),
        migrations.RemoveIndex(
            model_name='voice',
            name='voice_gallery_prompt',
        ),
        migrations.RemoveIndex(
            model_name='voice',
            name='voice_gallery_province',
        ),
        migrations.RemoveIndex(
            model_name='voice',
            name='voice_gallery_language',
        ),
        migrations.RemoveIndex(
            model_name='voice',
            name='voice_gallery_kind',
        ),
        migrations.AddIndex(
            model_name='voice',
            index=models.Index(fields=['status', '-published_at', '-id'], name='voice_gallery'),
        ),
        migrations.AddIndex(
            model_name='voice',
            index=models.Index(fields=['status', 'prompt', '-published_at', '-id', 'kind', 'language', 'province'], name='voice_gallery_prompt'),
        ),
        migrations.AddIndex(
            model_name='voice',
            index=models.Index(fields=['status', 'province', '-published_at', '-id', 'prompt', 'kind', 'language'], name='voice_gallery_province'),
        ),
        migrations.AddIndex(
            model_name='voice',
            index=models.Index(fields=['status', 'language', '-published_at', '-id', 'prompt', 'kind', 'province'], name='voice_gallery_language'),
        ),
        migrations.AddIndex(
            model_name='voice',
            index=models.Index(fields=['status', 'kind', '-published_at', '-id', 'prompt', 'language', 'province'], name='voice_gallery_kind'),
        ),
    ]
