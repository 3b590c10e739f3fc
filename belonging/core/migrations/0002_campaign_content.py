"""The first campaign's home page, in English and Canadian French (organizers edit it in the admin)."""

from django.db import migrations

NBSP = "\u00a0"

CAMPAIGN = {
    "slug": "strategy-for-belonging",
    "title_en": "A Strategy for Belonging",
    "title_fr": "Une stratégie pour l’appartenance",
    "tagline_en": "Strengthening communities with their voices and gifts at the centre",
    "tagline_fr": "Renforcer les communautés en plaçant leurs voix et leurs dons au centre",
}

SECTIONS = [
    {
        "kind": "idea",
        "heading_en": "The idea",
        "heading_fr": "L’idée",
        "body_en": (
            "What if we had a pan-Canadian Strategy for Belonging? A plan that centres residents and community "
            "groups, designed and delivered locally, in the voice of their own communities, and sustained with "
            "dedicated resources for the community caretakers who make it happen."
        ),
        "body_fr": (
            "Et si nous avions une stratégie pancanadienne pour l’appartenance? Un plan qui place les "
            "résidents et les groupes communautaires au centre, conçu et mis en œuvre localement, dans la voix de "
            "leurs propres communautés, et soutenu par des ressources dédiées aux personnes qui prennent soin de "
            "leur communauté."
        ),
        "items": [],
    },
    {
        "kind": "features",
        "heading_en": "The plan’s four features",
        "heading_fr": "Les quatre caractéristiques du plan",
        "body_en": "The strategy we imagine:",
        "body_fr": f"La stratégie que nous imaginons{NBSP}:",
        "items": [
            (
                "Cross-sector collaboration",
                "Une collaboration entre les secteurs",
                "Alliances of individuals, associations and organizations that share resources and expertise.",
                "Des alliances de personnes, d’associations et d’organismes qui mettent en commun leurs "
                "ressources et leur expertise.",
            ),
            (
                "It centres those too often left out",
                "Elle place au centre les personnes trop souvent laissées de côté",
                "Indigenous, Black and racialized peoples; people with low incomes; people with disabilities; "
                "2SLGBTQ+ people; official language minority communities; recent newcomers; youth; and people who "
                "live several of these identities.",
                "Les peuples autochtones, les personnes noires et racisées; les personnes à faible revenu; les "
                "personnes en situation de handicap; les personnes 2ELGBTQ+; les communautés de langue officielle "
                "en situation minoritaire; les personnes nouvellement arrivées; les jeunes; et les personnes qui "
                "vivent plusieurs de ces identités.",
            ),
            (
                "It shifts power and resources",
                "Elle transfère le pouvoir et les ressources",
                "Power, funds and other resources move to residents, associations and community.",
                "Le pouvoir, les fonds et d’autres ressources passent aux résidents, aux associations et à la "
                "communauté.",
            ),
            (
                "It changes things for everyone",
                "Elle change les choses pour tout le monde",
                "Population-level change: a higher sense of contribution, power, belonging, equity and "
                "possibility, reported by all people.",
                f"Un changement à l’échelle de la population{NBSP}: un sentiment accru de contribution, de pouvoir, "
                "d’appartenance, d’équité et de possibilité, exprimé par toutes et tous.",
            ),
        ],
    },
    {
        "kind": "belonging",
        "heading_en": "What belonging is",
        "heading_fr": "Ce qu’est l’appartenance",
        "body_en": (
            "Belonging is both an individual’s feeling toward their community and their relationship with the "
            "systems that shape it. To belong is to be an active co-owner of the community.\n\n"
            "This definition is a starting point for conversations, not a final word."
        ),
        "body_fr": (
            "L’appartenance, c’est à la fois le sentiment d’une personne envers sa communauté et sa relation avec "
            "les systèmes qui la façonnent. Appartenir, c’est être copropriétaire actif de sa communauté.\n\n"
            "Cette définition est un point de départ pour les conversations, pas le dernier mot."
        ),
        "items": [],
    },
    {
        "kind": "opportunity",
        "heading_en": "The opportunity",
        "heading_fr": "L’occasion",
        "body_en": (
            "How can a strategy be built by the people, for the people, with governments at all levels learning "
            "to support communities rather than direct them? This is the question we want to answer together."
        ),
        "body_fr": (
            "Comment bâtir une stratégie par la population, pour la population, avec des gouvernements de tous les "
            "ordres qui apprennent à soutenir les communautés plutôt qu’à les diriger? C’est la question à "
            "laquelle nous voulons répondre ensemble."
        ),
        "items": [],
    },
    {
        "kind": "ask",
        "heading_en": "Join us",
        "heading_fr": "Joignez-vous à nous",
        "body_en": (
            "Everyone is invited to share stories, wisdom and thoughts on what a pan-Canadian Strategy for "
            "Belonging needs to have and who needs to be part of it.\n\n"
            "Start today: sign the pledge and show that belonging matters where you live."
        ),
        "body_fr": (
            "Tout le monde est invité à partager ses histoires, sa sagesse et ses réflexions sur ce qu’une stratégie "
            "pancanadienne pour l’appartenance doit contenir et sur les personnes qui doivent y prendre part.\n\n"
            f"Commencez dès aujourd’hui{NBSP}: signez l’engagement et montrez que l’appartenance compte là où vous "
            "vivez."
        ),
        "items": [],
    },
]


def create_content(apps, schema_editor):
    Campaign = apps.get_model("core", "Campaign")
    CampaignSection = apps.get_model("core", "CampaignSection")
    SectionItem = apps.get_model("core", "SectionItem")
    if Campaign.objects.filter(slug=CAMPAIGN["slug"]).exists():
        return
    campaign = Campaign.objects.create(is_featured=True, **CAMPAIGN)
    for order, data in enumerate(SECTIONS):
        data = dict(data)
        items = data.pop("items")
        section = CampaignSection.objects.create(campaign=campaign, order=order * 10, **data)
        for i, (title_en, title_fr, body_en, body_fr) in enumerate(items):
            SectionItem.objects.create(
                section=section, order=i, title_en=title_en, title_fr=title_fr, body_en=body_en, body_fr=body_fr
            )


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunPython(create_content, migrations.RunPython.noop)]
