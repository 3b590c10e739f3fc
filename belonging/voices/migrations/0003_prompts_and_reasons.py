"""The campaign's first three prompts and the reason codes moderators start with (organizers edit both)."""

from django.db import migrations

PROMPTS = [
    {
        "slug": "needs-to-have",
        "position": 1,
        "text_en": "What does a Strategy for Belonging need to have?",
        "text_fr": "Que doit contenir une stratégie pour l’appartenance?",
        "help_en": "An idea, a priority, something that worked where you live, or something that must not be forgotten.",
        "help_fr": "Une idée, une priorité, quelque chose qui a fonctionné là où vous vivez, ou quelque chose à ne pas "
        "oublier.",
    },
    {
        "slug": "who-needs-to-be-part",
        "position": 2,
        "text_en": "Who needs to be part of it?",
        "text_fr": "Qui doit y prendre part?",
        "help_en": "People, communities, associations or organizations whose voices and gifts a strategy needs.",
        "help_fr": "Les personnes, communautés, associations ou organismes dont la stratégie a besoin de la voix et "
        "des dons.",
    },
    {
        "slug": "story-of-belonging",
        "position": 3,
        "text_en": "Tell us a story of belonging — or of not belonging",
        "text_fr": "Racontez-nous une histoire d’appartenance — ou de non-appartenance",
        "help_en": "A moment when you felt you belonged, or did not, and what made the difference.",
        "help_fr": "Un moment où vous avez senti que vous faisiez partie du groupe, ou non, et ce qui a fait la "
        "différence.",
    },
]

REASONS = [
    ("personal-information", "Personal information", "Renseignements personnels",
     "It contains details that could identify you or someone else, such as a name, an address or a phone number.",
     "Elle contient des détails qui pourraient vous identifier, ou identifier une autre personne, comme un nom, "
     "une adresse ou un numéro de téléphone."),
    ("hateful", "Hateful or discriminatory", "Haineuse ou discriminatoire",
     "It attacks people for who they are (for example their origin, religion, gender, sexual orientation or "
     "disability).",
     "Elle s’en prend à des personnes pour ce qu’elles sont (par exemple leur origine, leur religion, leur genre, "
     "leur orientation sexuelle ou leur handicap)."),
    ("harassment", "Harassment or threats", "Harcèlement ou menaces",
     "It targets, threatens or insults a person or a group.",
     "Elle vise, menace ou insulte une personne ou un groupe."),
    ("off-topic", "Off topic", "Hors sujet",
     "It does not answer the question or speak about belonging.",
     "Elle ne répond pas à la question et ne parle pas d’appartenance."),
    ("advertising", "Advertising or spam", "Publicité ou pourriel",
     "It promotes a product, a service, a campaign or a website, or it is automated spam.",
     "Elle fait la promotion d’un produit, d’un service, d’une campagne ou d’un site Web, ou il s’agit de "
     "pourriel automatisé."),
    ("duplicate", "Duplicate", "Doublon",
     "The same voice was already shared.",
     "La même voix a déjà été partagée."),
    ("unclear", "Hard to understand", "Difficile à comprendre",
     "We could not understand it well enough to publish it as it is.",
     "Nous n’avons pas pu la comprendre assez bien pour la publier telle quelle."),
]


def create_content(apps, schema_editor):
    Campaign = apps.get_model("core", "Campaign")
    Prompt = apps.get_model("voices", "Prompt")
    ReasonCode = apps.get_model("voices", "ReasonCode")
    campaign = Campaign.objects.filter(slug="strategy-for-belonging").first()
    if campaign is not None:
        for prompt in PROMPTS:
            Prompt.objects.get_or_create(campaign=campaign, slug=prompt["slug"], defaults=prompt)
    for position, (code, label_en, label_fr, explanation_en, explanation_fr) in enumerate(REASONS, start=1):
        ReasonCode.objects.get_or_create(
            code=code,
            defaults={
                "label_en": label_en,
                "label_fr": label_fr,
                "explanation_en": explanation_en,
                "explanation_fr": explanation_fr,
                "position": position,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("voices", "0002_search_index"), ("core", "0002_campaign_content")]
    operations = [migrations.RunPython(create_content, migrations.RunPython.noop)]
