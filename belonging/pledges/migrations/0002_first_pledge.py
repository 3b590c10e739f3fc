"""The campaign's pledge, in English and Canadian French (organizers edit it in the admin)."""

from django.db import migrations

PLEDGE = {
    "slug": "strategy-for-belonging",
    "title_en": "The pledge for a Strategy for Belonging",
    "title_fr": "L’engagement pour une stratégie pour l’appartenance",
    "commitment_en": (
        "I support a pan-Canadian Strategy for Belonging that centres residents and community groups, is designed "
        "and delivered locally, and shifts power and resources to communities.\n\n"
        "I commit to help build belonging where I live: to listen, to share my gifts, and to invite others in."
    ),
    "commitment_fr": (
        "J’appuie une stratégie pancanadienne pour l’appartenance qui place les résidents et les groupes "
        "communautaires au centre, qui est conçue et mise en œuvre localement, et qui transfère le pouvoir et les "
        "ressources aux communautés.\n\n"
        "Je m’engage à bâtir l’appartenance là où je vis\u00a0: écouter, partager mes dons et inviter les autres "
        "à se joindre à nous."
    ),
}


def create_pledge(apps, schema_editor):
    Campaign = apps.get_model("core", "Campaign")
    Pledge = apps.get_model("pledges", "Pledge")
    campaign = Campaign.objects.filter(slug="strategy-for-belonging").first()
    if campaign is None or Pledge.objects.filter(slug=PLEDGE["slug"]).exists():
        return
    Pledge.objects.create(campaign=campaign, is_open=True, **PLEDGE)


class Migration(migrations.Migration):
    dependencies = [("pledges", "0001_initial"), ("core", "0002_campaign_content")]
    operations = [migrations.RunPython(create_pledge, migrations.RunPython.noop)]
