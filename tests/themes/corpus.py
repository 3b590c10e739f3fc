"""Short, realistic voices in English and French on three clearly different topics."""

from __future__ import annotations

HOUSING = {
    "en": [
        "Rent in our city went up again this year and my family may have to move away from our neighbourhood.",
        "Affordable housing is the first thing we need; nobody can belong where they cannot afford rent.",
        "My landlord raised the rent by twenty percent and the waiting list for social housing is eight years.",
        "Young people leave town because there are no apartments they can afford to rent.",
        "We need more affordable housing near work so families are not pushed to the edge of the city.",
        "After the renoviction we lost our apartment, our neighbours and the school my kids loved.",
        "Housing costs eat half of my income; there is nothing left for community life.",
        "Build social housing and cooperative housing so rent stays affordable for seniors and newcomers.",
        "Finding an apartment to rent as a newcomer is nearly impossible without a credit history.",
        "Our housing co-op kept the rent affordable and that is why we could stay and belong here.",
    ],
    "fr": [
        "Le loyer a encore augmenté cette année et ma famille devra peut-être quitter le quartier.",
        "Il faut du logement abordable d'abord : personne ne peut appartenir là où le loyer est trop cher.",
        "Mon propriétaire a augmenté le loyer de vingt pour cent et la liste d'attente pour un logement social est de huit ans.",
        "Les jeunes quittent la ville parce qu'il n'y a aucun logement abordable à louer.",
        "Construisez du logement social et des coopératives d'habitation pour que le loyer reste abordable.",
        "Trouver un logement à louer quand on est nouvel arrivant est presque impossible.",
        "Le coût du logement mange la moitié de mon revenu, il ne reste rien pour la vie de quartier.",
    ],
}

TRANSIT = {
    "en": [
        "The bus comes once an hour on weekends, so I cannot get to the community centre without a car.",
        "Better public transit would connect the suburbs to downtown jobs and events.",
        "Seniors in our area are isolated because the bus route was cut last spring.",
        "A reliable bus service and safe bike lanes would let teenagers get around on their own.",
        "Public transit fares are too expensive for low-income families; make the bus free for youth.",
        "The train station has no elevator, so people in wheelchairs cannot use public transit.",
        "Late night bus service would help shift workers get home safely.",
        "Rural communities need some public transit; without a bus we depend on rides from neighbours.",
        "Bus stops without shelters are miserable in winter; people stop taking transit.",
        "Extend the subway and add express bus lanes so commuting does not take two hours.",
    ],
    "fr": [
        "L'autobus passe une fois par heure la fin de semaine, impossible d'aller au centre communautaire sans auto.",
        "Un meilleur transport en commun relierait les banlieues aux emplois du centre-ville.",
        "Les aînés de notre secteur sont isolés depuis qu'on a coupé la ligne d'autobus.",
        "Le transport en commun coûte trop cher pour les familles à faible revenu; l'autobus gratuit pour les jeunes.",
        "La station de métro n'a pas d'ascenseur, les personnes en fauteuil roulant ne peuvent pas prendre le transport en commun.",
        "Un service d'autobus de nuit aiderait les travailleurs de soir à rentrer en sécurité.",
        "Les régions rurales ont besoin de transport en commun; sans autobus on dépend des voisins.",
    ],
}

FOOD = {
    "en": [
        "Our community garden brings neighbours together every summer to grow vegetables and share meals.",
        "The food bank line gets longer every month; nobody should go hungry in a country this rich.",
        "Potluck dinners where everyone brings a dish from home made me feel welcome as a newcomer.",
        "Groceries cost so much that we skip meals; fresh vegetables are a luxury now.",
        "School breakfast programs mean kids start the day with food instead of hunger.",
        "A community kitchen where we cook together and share recipes from our cultures would build belonging.",
        "Farmers markets in the park connect local farmers with families and feel like a festival.",
        "The community fridge on our street lets neighbours share food without shame.",
        "Cooking classes at the community centre taught me to make meals on a small grocery budget.",
        "Sharing a meal with neighbours from other cultures is how strangers become friends.",
    ],
    "fr": [
        "Notre jardin communautaire réunit les voisins chaque été pour cultiver des légumes et partager des repas.",
        "La file à la banque alimentaire s'allonge chaque mois; personne ne devrait avoir faim.",
        "Les repas partagés où chacun apporte un plat de chez soi m'ont fait sentir la bienvenue.",
        "L'épicerie coûte tellement cher qu'on saute des repas; les légumes frais sont un luxe.",
        "Une cuisine collective où l'on cuisine ensemble des recettes de nos cultures créerait l'appartenance.",
        "Le frigo communautaire de notre rue permet aux voisins de partager la nourriture sans gêne.",
        "Le marché fermier au parc relie les producteurs locaux aux familles du quartier.",
    ],
}

TOPICS = {"housing": HOUSING, "transit": TRANSIT, "food": FOOD}


def all_voices() -> list[tuple[str, str, str]]:
    """(topic, language, text) for every voice of the corpus."""
    return [
        (topic, lang, text) for topic, by_lang in TOPICS.items() for lang, texts in by_lang.items() for text in texts
    ]


# New voices arriving after a first run (for re-runs and provisional assignment).
LATER = [
    ("housing", "en", "Rent keeps rising and affordable housing is out of reach for my adult children."),
    ("housing", "fr", "Le loyer d'un logement abordable est devenu impossible pour les familles."),
    ("transit", "en", "More frequent bus service and public transit passes for students would change everything."),
    ("transit", "fr", "Il faut plus d'autobus et un transport en commun accessible le soir."),
    ("food", "en", "A community garden and a shared meal each week would help neighbours meet and share food."),
    ("food", "fr", "Un jardin communautaire et des repas partagés aideraient les voisins à se rencontrer."),
]
