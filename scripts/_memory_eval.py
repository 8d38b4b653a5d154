"""A long-conversation evaluation set, generated deterministically: many conversations of hundreds of
turns over separate chats, German and English, each with questions whose evidence turns are known.

Every conversation is one lead. Its turns are small talk and sales chatter (fillers), facts about
the lead (budget, role, timeline, tools, ...) stated once each in a turn of their own, and
distractors that use a question's topic words without answering it. Questions paraphrase their
fact: some share a word with the evidence, some only its meaning. The templates were written once,
before any search was run against them, and are not tuned to one method.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# (fact turn, question, distractor turns); {x} is a random value per conversation
FACTS = {
    "en": [
        ("Our budget for the whole rollout is capped at {n} thousand euros this year.",
         "How much money can they spend on the rollout?",
         ["The rollout of the new coffee machine went badly, nobody can use it.",
          "Money is tight for everyone in town after the festival."]),
        ("I moved to {city} last spring, the new office is right next to the station.",
         "Where did the contact relocate to?",
         ["The station was closed again because of a strike.", "Our office plants need more light."]),
        ("We currently run {tool} for our ticketing, but that contract ends in {month}.",
         "Which competitor product do they use today and when does it expire?",
         ["I bought tickets for a concert in {month}.", "Their product launch was quite loud."]),
        ("I was promoted to head of operations, so the final sign-off is mine now.",
         "Who makes the final decision on the purchase?",
         ["The operations team had a barbecue on Friday.", "Final exams are stressful for my niece."]),
        ("The biggest headache is that invoices get lost between three different systems.",
         "What is their main pain point?",
         ["I had a headache all weekend after the flight.", "The three of us went hiking."]),
        ("We must go live before the trade fair in {month}, otherwise the project is dead.",
         "What deadline do they have for going live?",
         ["The trade fair food was overpriced.", "My brother goes to the fair every year."]),
        ("Honestly, the price per seat seems too high compared to what we pay now.",
         "What objection did they raise about cost?",
         ["The seats on the train were too small.", "Prices at the bakery went up again."]),
        ("Please only contact me by email, phone calls interrupt my workshops.",
         "How does the contact prefer to be reached?",
         ["My phone battery died during the workshop.", "The email newsletter of the gym is funny."]),
        ("My daughter {name} just started at university studying biology.",
         "What did they say about their family?",
         ["Biology was my worst subject at school.", "The university library has a great cafe."]),
        ("We need the software to integrate with SAP, that is non-negotiable for IT.",
         "What technical requirement is mandatory for them?",
         ["IT replaced all the printers last week.", "The negotiation course was boring."]),
        ("I spent my holiday sailing around {city} with friends.",
         "What did the contact do on vacation?",
         ["The friends of my neighbour are loud.", "Sailing lessons are expensive here."]),
        ("Our team will grow from {n} to roughly twice that many people by next year.",
         "How large will their team become?",
         ["The grass grows too fast this summer.", "Next year I want to learn Spanish."]),
    ],
    "de": [
        ("Unser Budget für die Einführung liegt dieses Jahr bei höchstens {n} tausend Euro.",
         "Wie viel Geld steht für das Projekt zur Verfügung?",
         ["Die Einführung der neuen Kantine war ein Chaos.", "Das Geld für den Betriebsausflug ist knapp."]),
        ("Ich bin im Frühjahr nach {city} gezogen, das Büro liegt direkt am Bahnhof.",
         "Wohin ist der Ansprechpartner umgezogen?",
         ["Der Bahnhof war wegen Bauarbeiten gesperrt.", "Im Büro ist die Heizung ausgefallen."]),
        ("Wir nutzen derzeit {tool} für Tickets, der Vertrag läuft im {month} aus.",
         "Welches Konkurrenzprodukt setzen sie ein und wann endet es?",
         ["Ich habe Tickets für ein Konzert im {month} gekauft.", "Das Produkt im Supermarkt war ausverkauft."]),
        ("Ich bin jetzt Leiterin des Einkaufs, die endgültige Freigabe liegt bei mir.",
         "Wer trifft die Kaufentscheidung?",
         ["Der Einkauf im Baumarkt hat ewig gedauert.", "Die Entscheidung beim Fußball war umstritten."]),
        ("Das größte Problem ist, dass Rechnungen zwischen drei Systemen verloren gehen.",
         "Was ist ihr wichtigster Schmerzpunkt?",
         ["Mein Rücken macht mir seit Tagen Probleme.", "Drei Kollegen sind krank."]),
        ("Wir müssen vor der Messe im {month} live gehen, sonst ist das Projekt gestorben.",
         "Bis wann muss das System produktiv sein?",
         ["Auf der Messe war das Essen teuer.", "Mein Bruder geht jedes Jahr zur Messe."]),
        ("Ehrlich gesagt ist der Preis pro Lizenz zu hoch im Vergleich zu heute.",
         "Welchen Einwand hatten sie zu den Kosten?",
         ["Die Preise beim Bäcker sind schon wieder gestiegen.", "Die Lizenz für den Angelschein ist abgelaufen."]),
        ("Bitte kontaktieren Sie mich nur per E-Mail, Anrufe stören meine Workshops.",
         "Wie möchte der Kontakt erreicht werden?",
         ["Mein Akku war im Workshop leer.", "Der Newsletter vom Fitnessstudio ist lustig."]),
        ("Meine Tochter {name} hat gerade ihr Studium der Biologie begonnen.",
         "Was hat sie über ihre Familie erzählt?",
         ["Biologie war in der Schule mein schlechtestes Fach.", "Die Mensa der Uni ist gut."]),
        ("Die Software muss mit SAP zusammenarbeiten, das ist für die IT Pflicht.",
         "Welche technische Anforderung ist zwingend?",
         ["Die IT hat letzte Woche alle Drucker getauscht.", "Die Pflichtlektüre im Kurs war langweilig."]),
        ("Im Urlaub bin ich mit Freunden rund um {city} gesegelt.",
         "Was hat der Kontakt in den Ferien gemacht?",
         ["Die Freunde meines Nachbarn sind laut.", "Segelkurse sind hier teuer."]),
        ("Unser Team wächst bis nächstes Jahr von {n} auf etwa doppelt so viele Leute.",
         "Wie groß wird ihr Team werden?",
         ["Der Rasen wächst diesen Sommer viel zu schnell.", "Nächstes Jahr will ich Spanisch lernen."]),
    ],
}

FILLERS = {
    "en": [
        "Thanks for the quick reply, {name}.", "Sounds good, let us talk again next week.",
        "I will check with the team and come back to you.", "Did you see the match yesterday?",
        "The weather here has been awful all week.", "Could you send me the slides from our last call?",
        "Sure, I will forward them this afternoon.", "We had a long meeting about the quarterly numbers.",
        "Hope you had a nice weekend!", "Quick question about the onboarding session.",
        "Our intern starts on Monday, busy times.", "I am travelling until Thursday, reply may be slow.",
        "Let me know if the demo link works for you.", "The new dashboard looks much cleaner.",
        "We are still collecting feedback from the department heads.", "Great, talk soon.",
        "I am on a train, the connection keeps dropping.", "Can we move our call to 3 pm?",
        "That works for me.", "The report is attached, page four has the summary.",
        "How is the project going on your side?", "We are reviewing the contract draft internally.",
        "My colleague {name} will join the next call.", "I just got back from lunch.",
    ],
    "de": [
        "Danke für die schnelle Antwort, {name}.", "Klingt gut, sprechen wir nächste Woche weiter.",
        "Ich kläre das mit dem Team und melde mich.", "Haben Sie gestern das Spiel gesehen?",
        "Das Wetter hier war die ganze Woche furchtbar.", "Könnten Sie mir die Folien vom letzten Termin schicken?",
        "Klar, ich schicke sie heute Nachmittag.", "Wir hatten ein langes Meeting zu den Quartalszahlen.",
        "Ich hoffe, Sie hatten ein schönes Wochenende!", "Kurze Frage zur Schulung.",
        "Unser Praktikant fängt am Montag an, viel los.", "Ich bin bis Donnerstag unterwegs.",
        "Sagen Sie Bescheid, ob der Demo-Link funktioniert.", "Das neue Dashboard sieht viel übersichtlicher aus.",
        "Wir sammeln noch Rückmeldungen der Abteilungsleiter.", "Super, bis bald.",
        "Ich sitze im Zug, die Verbindung bricht ständig ab.", "Können wir unseren Termin auf 15 Uhr verschieben?",
        "Das passt mir.", "Der Bericht ist angehängt, Seite vier hat die Zusammenfassung.",
        "Wie läuft das Projekt bei Ihnen?", "Wir prüfen den Vertragsentwurf intern.",
        "Meine Kollegin {name} ist beim nächsten Termin dabei.", "Ich bin gerade vom Mittagessen zurück.",
    ],
}

VALUES = {
    "city": ["Hamburg", "Lisbon", "Leipzig", "Porto", "Graz", "Utrecht", "Bremen", "Valencia"],
    "tool": ["Zendesk", "Freshdesk", "Jira", "ServiceNow", "HubSpot", "Salesforce"],
    "month": ["March", "June", "September", "November"],
    "name": ["Mia", "Lea", "Noah", "Paul", "Ella", "Finn"],
}
MONTHS_DE = {"March": "März", "June": "Juni", "September": "September", "November": "November"}


@dataclass(frozen=True)
class Turn:
    session: int
    index: int
    inbound: bool
    text: str


@dataclass(frozen=True)
class Conversation:
    lang: str
    turns: list[Turn]
    # (question, indexes of the evidence turns)
    questions: list[tuple[str, list[int]]]


def conversation(seed: int, lang: str, sessions: int = 20, per_session: int = 20) -> Conversation:
    """One conversation of sessions x per_session turns; every fact once, each distractor twice."""
    r = random.Random(seed)
    values = {k: r.choice(v) for k, v in VALUES.items()}
    values["n"] = str(r.randint(12, 90))
    if lang == "de":
        values["month"] = MONTHS_DE[values["month"]]
    total = sessions * per_session
    slots = list(range(total))
    r.shuffle(slots)
    placed: dict[int, tuple[str, int | None]] = {}
    for f, (fact, _, distractors) in enumerate(FACTS[lang]):
        placed[slots.pop()] = (fact.format_map(values), f)
        for d in distractors * 2:
            placed[slots.pop()] = (d.format_map(values), None)
    turns, evidence = [], {}
    for i in range(total):
        text, fact = placed.get(i) or (r.choice(FILLERS[lang]).format(name=r.choice(VALUES["name"])), None)
        if fact is not None:
            evidence[fact] = [i]
        turns.append(Turn(i // per_session, i, r.random() < 0.5, text))
    questions = [(q, evidence[f]) for f, (_, q, _) in enumerate(FACTS[lang])]
    return Conversation(lang, turns, questions)


def evaluation_set(conversations: int = 10, seed: int = 2026) -> list[Conversation]:
    """Half English, half German, each with its own seed."""
    return [conversation(seed + c, "en" if c % 2 == 0 else "de") for c in range(conversations)]
