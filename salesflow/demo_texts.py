"""Text pools and distributions for the demo generator (salesflow.demo): names, companies,
industries, titles, and German and English sales conversation fragments.

Company and mail domains use the reserved `.example` top-level domain (RFC 2606), so no generated
address can belong to a real company or person.
"""

from __future__ import annotations


def _lines(block: str) -> tuple[str, ...]:
    """One entry per non-blank line: keeps the text pools below free of quotes and commas."""
    return tuple(line.strip() for line in block.strip().splitlines() if line.strip())


def _words(block: str) -> tuple[str, ...]:
    return tuple(block.split())


# -- people and companies ---------------------------------------------------------------------------------
# naming culture -> (female first names, male first names, last names)
NAMES = {
    "de": (_words("""Anna Julia Katharina Laura Lena Sarah Lisa Sabine Claudia Stefanie Nicole Andrea Petra
                     Miriam Johanna Franziska Carina Melanie Birgit Selin"""),
           _words("""Thomas Michael Andreas Stefan Christian Markus Tobias Daniel Florian Matthias Jan
                     Sebastian Alexander Jürgen Uwe Frank Lukas Jonas Felix Maximilian Niklas Philipp
                     Murat"""),
           _words("""Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch
                     Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hartmann Lange
                     Werner Krause Lehmann Huber Gruber Moser Steiner Keller Brunner Baumann Frei Yılmaz Kaya
                     Nowak Weiß""")),
    "en": (_words("Emma Olivia Sophie Charlotte Emily Hannah Grace Chloe Rachel Megan Priya Jessica"),
           _words("""James Oliver William Thomas George Harry Jack Daniel Matthew Ryan Michael David Chris
                     Ethan"""),
           _words("""Smith Jones Taylor Brown Williams Wilson Davies Evans Johnson Roberts Walker Wright
                     Robinson Thompson Hughes Clarke Patel Murphy Miller Anderson Campbell O'Brien Fitzgerald
                     Hayes""")),
    "nl": (("Sanne", "Lotte", "Femke", "Eva", "Anouk"), ("Daan", "Bram", "Jeroen", "Sem", "Thijs"),
           ("van Dijk", "de Vries", "Bakker", "Jansen", "Visser", "de Jong", "Smit", "Mulder")),
}
STAFF = (("Katharina", "Brandt", "f"), ("Tobias", "Lindner", "m"), ("Lena", "Hoffmann", "f"),
          ("James", "Whitfield", "m"), ("Sophie", "Keller", "f"), ("Murat", "Demir", "m"),
          ("Daniel", "Fischer", "m"), ("Charlotte", "Evans", "f"), ("Jonas", "Albrecht", "m"),
          ("Miriam", "Vogt", "f"))
ROLES = ("owner", "admin", "rep", "rep", "rep", "rep", "analyst")
_REP_SHARE = (0.32, 0.27, 0.23, 0.18)  # one star, one newcomer
BY_REP, BY_ADMIN = 0.85, 0.10  # the remaining 5 % of leads are unowned
REP_CUTS = tuple(BY_REP * sum(_REP_SHARE[: i + 1]) for i in range(3))

COUNTRIES = ("DE",) * 55 + ("AT",) * 12 + ("CH",) * 13 + ("GB",) * 8 + ("US",) * 7 + ("NL",) * 5
DACH = ("DE", "AT", "CH")
# reserved for documentation (RFC 2606): demo addresses must never reach a real inbox
TLD = {"DE": "de.example", "AT": "at.example", "CH": "ch.example", "GB": "uk.example", "US": "us.example",
       "NL": "nl.example"}
LEGAL = {"DE": ("GmbH", "GmbH", "GmbH", "AG", "SE", "GmbH & Co. KG"), "AT": ("GmbH", "GmbH", "AG", "KG"),
          "CH": ("AG", "AG", "GmbH", "SA"), "GB": ("Ltd", "Ltd", "PLC"),
          "US": ("Inc.", "Inc.", "LLC", "Corp."),
          "NL": ("B.V.", "B.V.", "N.V.")}
CITIES = {"DE": ("München", "Hamburg", "Stuttgart", "Köln", "Frankfurt", "Leipzig", "Nürnberg", "Bremen",
                  "Augsburg", "Dortmund", "Hannover", "Freiburg"),
           "AT": ("Wien", "Graz", "Linz", "Salzburg", "Innsbruck"),
           "CH": ("Zürich", "Basel", "Bern", "Luzern", "St. Gallen"),
           "GB": ("London", "Manchester", "Leeds", "Bristol", "Birmingham"),
           "US": ("Boston", "Chicago", "Austin", "Denver", "Seattle"),
           "NL": ("Amsterdam", "Rotterdam", "Utrecht", "Eindhoven")}
ROOTS = {"de": _words("""Müller Bergmann Hofmann Krüger Lindner Vogel Brandt Seidel Kessler Hartmann Albrecht
                          Rheintal Alpen Nordsee Elbe Isar Taunus Spree Bodensee Hanse Schwarzwald Harz Weser
                          Donau Säntis Nordlicht Weitblick Sonnenberg Falkenstein Eichenhof Lindenau Steinbach
                          Rosenthal Adler Kranich Brückner Wendt Pfeiffer Sauer Lorenz"""),
          "en": _words("""Brightwater Northgate Redwood Summit Bluestone Harbour Ashford Kingsley Crestline
                          Ironbridge Silverline Oakridge Pinnacle Meridian Westbrook Clearpath Stonebridge
                          Highfield Lakeside Granite"""),
          "nl": ("Van Dijk", "De Vries", "Oranje", "Zeeland", "Amstel", "Delta", "Noorderlicht", "Polder")}
# (industry, German name words, English name words)
INDUSTRIES = (
    ("Manufacturing", ("Maschinenbau", "Präzisionstechnik", "Antriebstechnik", "Werkzeugbau"),
     ("Engineering", "Precision Parts", "Industries")),
    ("Logistics", ("Logistik", "Spedition", "Lagertechnik"), ("Logistics", "Freight", "Supply Chain")),
    ("Software", ("Software", "IT-Systeme", "Datentechnik", "Digital"), ("Software", "Analytics", "Systems")),
    ("Healthcare", ("Medizintechnik", "Labordiagnostik", "Pharma"), ("Medical", "Health", "Diagnostics")),
    ("Energy", ("Energie", "Solartechnik", "Netze"), ("Energy", "Renewables", "Power")),
    ("Construction", ("Bau", "Gebäudetechnik", "Haustechnik"), ("Construction", "Building Services")),
    ("Wholesale", ("Großhandel", "Handel", "Versand"), ("Trading", "Wholesale", "Retail")),
    ("Food & Beverage", ("Feinkost", "Lebensmittel", "Brauerei"), ("Foods", "Brewing")),
    ("Automotive", ("Fahrzeugtechnik", "Automotive"), ("Automotive", "Mobility")),
    ("Chemicals", ("Chemie", "Kunststofftechnik", "Beschichtungen"), ("Chemicals", "Materials")),
    ("Financial Services", ("Finanzberatung", "Leasing", "Versicherungsmakler"), ("Capital", "Finance")),
    ("Professional Services", ("Consulting", "Personalberatung", "Unternehmensberatung"),
     ("Consulting", "Advisory", "Partners")),
)
FREEMAIL = {"de": ("mail.de.example", "post.de.example", "webmail.example"),
            "en": ("webmail.example", "inbox.example")}
# country -> (calling code, mobile prefixes, subscriber digits): E.164 without spaces, as the CHECK wants
PHONE = {"DE": ("+49", ("151", "152", "160", "170", "171", "176"), 8),
          "AT": ("+43", ("660", "664", "676"), 7),
          "CH": ("+41", ("76", "78", "79"), 7), "GB": ("+44", ("74", "77", "78", "79"), 8),
          "US": ("+1", ("617", "312", "512", "303", "206"), 7), "NL": ("+31", ("6",), 8)}
TITLES_DE = (("Geschäftsführer", "Geschäftsführerin"), ("Leiter Einkauf", "Leiterin Einkauf"),
              ("IT-Leiter", "IT-Leiterin"), ("Vertriebsleiter", "Vertriebsleiterin"),
              ("Head of Operations", "Head of Operations"), ("Prokurist", "Prokuristin"),
              ("Kaufmännischer Leiter", "Kaufmännische Leiterin"), ("CFO", "CFO"),
              ("Marketingleiter", "Marketingleiterin"), ("Projektmanager", "Projektmanagerin"),
              ("Teamleiter Innendienst", "Teamleiterin Innendienst"))
TITLES_EN = ("Head of Sales", "VP Operations", "Procurement Manager", "IT Director", "CFO",
              "Managing Director", "Sales Operations Manager", "Chief Revenue Officer", "Marketing Manager",
              "COO", "Business Development Lead")

# -- funnel --------------------------------------------------------------------------------------------
STAGES = ("subscriber",) * 12 + ("lead",) * 30 + ("mql",) * 18 + ("sql",) * 12 + ("opportunity",) * 10 + (
    "customer",) * 8 + ("evangelist",) * 2 + ("disqualified",) * 8  # wide at the top, few evangelists
# stage -> (activity weight, share with a deal, share with a conversation, earliest last touch as a
# fraction of the lead's lifetime: customers are touched recently, disqualified leads went quiet)
STAGE_PROFILE = {
    "subscriber": (0.3, 0.0, 0.05, 0.0), "lead": (0.6, 0.02, 0.12, 0.1), "mql": (0.9, 0.1, 0.2, 0.3),
    "sql": (1.3, 0.5, 0.3, 0.5), "opportunity": (1.9, 1.0, 0.45, 0.7), "customer": (1.8, 1.0, 0.35, 0.4),
    "evangelist": (2.0, 1.0, 0.3, 0.6), "disqualified": (0.7, 0.4, 0.15, 0.05),
}
SOURCES = ("website",) * 24 + ("referral",) * 12 + ("event",) * 10 + ("outbound",) * 18 + (
    "inbound_call",) * 5 + ("partner",) * 7 + ("social",) * 6 + ("paid_ads",) * 10 + ("import",) * 6 + (
    "other",) * 2
DEAL_STAGES = {"lead": ("prospecting",), "mql": ("prospecting",), "sql": ("prospecting", "qualification"),
                "opportunity": ("qualification", "proposal", "proposal", "negotiation", "closed_lost"),
                "customer": ("closed_won",), "evangelist": ("closed_won",), "disqualified": ("closed_lost",)}
PROBABILITY = {"prospecting": 10, "qualification": 20, "proposal": 50, "negotiation": 75, "closed_won": 100,
                "closed_lost": 0}
# The first leads, pinned: every lifecycle stage, every deal stage, a German and an English thread.
PINNED = (("subscriber", None, None), ("lead", None, None), ("mql", None, None),
           ("sql", "prospecting", "de"), ("opportunity", "qualification", "en"),
           ("opportunity", "proposal", None), ("opportunity", "negotiation", None),
           ("customer", "closed_won", None), ("evangelist", "closed_won", None),
           ("disqualified", "closed_lost", None))
PACKAGES = (("Starter", 39), ("Professional", 79), ("Enterprise", 129))  # list price per user and month
FX = {"EUR": 1.0, "CHF": 0.94, "GBP": 0.86, "USD": 1.08}
SYSTEMS = ("SAP", "DATEV", "Microsoft 365", "Outlook", "Teams", "Shopware", "Personio", "Salesforce")
COMPETITORS = ("HubSpot", "Salesforce", "Pipedrive", "Zoho CRM", "Microsoft Dynamics")
QUARTERS = ("Q4 2026", "Q1 2027", "Q2 2027", "Q3 2027")
EVENTS = ("Hannover Messe 2026", "DMEXCO 2025", "OMR Festival 2026", "SaaStr Europa 2026", "it-sa 2025")
CAMPAIGNS = ("q1-brand-search", "linkedin-leadgen-dach", "retargeting-pricing", "webinar-pipeline-2026")
LOST_REASONS = {"de": ("Budget gestrichen", "Entscheidung für {competitor}", "Kein Entscheider erreichbar",
                        "Projekt auf nächstes Jahr verschoben", "Fehlende {system}-Integration"),
                 "en": ("Budget cut", "Went with {competitor}", "No decision maker engaged",
                        "Project postponed to next year", "Missing {system} integration")}

# -- activities ---------------------------------------------------------------------------------------
KINDS = ("call",) * 6 + ("email",) * 6 + ("meeting",) * 2 + ("note",) * 3 + ("task",) * 3
CALL_OUTCOMES = ("connected",) * 5 + ("no_answer",) * 3 + ("voicemail",) * 2 + ("meeting_booked",) * 2 + (
    "callback_requested", "wrong_number")
EMAIL_OUTCOMES = ("sent", "sent", "opened", "opened", "replied", "bounced")
MEETING_OUTCOMES = ("completed",) * 7 + ("no_show", "rescheduled", "rescheduled")
ACT = {
    "de": {
        "detail": _lines("""
            Interesse an der Anbindung an {system}.
            Budget für {quarter} ist eingeplant.
            Möchte das Angebot intern mit der Geschäftsführung abstimmen.
            Arbeitet noch mit Excel-Listen und sucht eine Ablösung.
            Vergleicht uns mit {competitor}.
            Entscheidung fällt voraussichtlich in {quarter}.
            Braucht eine Lösung für {seats} Nutzer.
            Datenschutz ist ein großes Thema, AV-Vertrag angefragt.
            Hauptproblem: Leads gehen zwischen Marketing und Vertrieb verloren."""),
        "call": ("Erstgespräch", "Rückruf", "Follow-up zum Angebot", "Bedarfsanalyse", "Kurzer Check-in"),
        "connected": ("{first} erreicht. {detail}", "Gutes Gespräch mit {first}. {detail}",
                      "Kurz mit {first} gesprochen. {detail}"),
        "no_answer": ("Nicht erreicht, neuer Versuch am {weekday}.", "Niemand abgenommen.",
                      "Besetzt, später erneut versuchen."),
        "voicemail": ("Auf die Mailbox gesprochen und um Rückruf gebeten.",
                      "Nachricht auf der Mailbox hinterlassen."),
        "meeting_booked": ("Demo für {weekday}, {time} Uhr vereinbart.",
                           "Termin mit {first} und Team für {weekday} eingestellt."),
        "callback_requested": ("{first} bittet um Rückruf am {weekday}.",),
        "wrong_number": ("Falsche Nummer hinterlegt, bitte prüfen.",),
        "meeting": ("Produktdemo", "Angebotsbesprechung", "Kick-off", "Workshop Anforderungen",
                    "Quartalsgespräch"),
        "completed": ("{subject} mit {first} {last} ({company}). {detail}", "Termin bei {company}. {detail}"),
        "no_show": ("{first} ist nicht erschienen, neuen Termin anbieten.",),
        "rescheduled": ("Auf {weekday} verschoben, {first} hatte einen Kundentermin.",),
        "email": ("Angebot für {company}", "Unterlagen zur Demo", "Kurze Nachfrage", "Ihre Anfrage",
                  "Einladung zum Webinar", "Referenzen aus Ihrer Branche"),
        "outbound": ("{subject}: an {first} geschickt.", "{subject} verschickt. {detail}"),
        "inbound": ("Antwort von {first}: {detail}", "Rückfrage von {first} zu den Preisen."),
        "note": ("{detail}", "Ansprechpartner: {first} {last}, {title}. {detail}", "Wichtig: {detail}"),
        "task": ("Angebot nachfassen", "Rückruf bei {first}", "Vertragsentwurf senden",
                 "Referenzkunden nennen", "Demo vorbereiten", "Preise mit Vertriebsleitung abstimmen",
                 "LinkedIn-Kontakt herstellen"),
        "task_body": ("Bis {weekday} erledigen.", "Unterlagen vorher an {first} schicken.", "", ""),
        "weekday": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag"),
        "time": ("9:30", "10:00", "11:00", "14:00", "15:30", "16:00"),
    },
    "en": {
        "detail": _lines("""
            Interested in the {system} integration.
            Budget for {quarter} is approved.
            Wants to run the proposal past the CEO's office.
            Still tracking deals in spreadsheets, they're looking for a replacement.
            Comparing us with {competitor}.
            Decision expected in {quarter}.
            Needs a solution for {seats} users.
            Data protection is a big topic, asked for our DPA.
            Main pain: leads get lost between marketing and sales."""),
        "call": ("Intro call", "Callback", "Follow-up on proposal", "Discovery call", "Quick check-in"),
        "connected": ("Reached {first}. {detail}", "Good conversation with {first}. {detail}",
                      "Short call with {first}. {detail}"),
        "no_answer": ("Didn't pick up, trying again on {weekday}.", "Nobody picked up.",
                      "Line busy, retry later."),
        "voicemail": ("Left a voicemail asking for a callback.", "Left a message on voicemail."),
        "meeting_booked": ("Demo booked for {weekday} at {time}.", "Set up a meeting with {first} and team."),
        "callback_requested": ("{first} asked for a callback on {weekday}.",),
        "wrong_number": ("Wrong number on file, please check.",),
        "meeting": ("Product demo", "Proposal review", "Kick-off", "Requirements workshop",
                    "Quarterly review"),
        "completed": ("{subject} with {first} {last} ({company}). {detail}",
                      "Meeting at {company}. {detail}"),
        "no_show": ("{first} did not show up, offer a new slot.",),
        "rescheduled": ("Moved to {weekday}, {first} had a customer visit.",),
        "email": ("Proposal for {company}", "Demo follow-up materials", "Quick question", "Your enquiry",
                  "Webinar invitation", "Customer references from your industry"),
        "outbound": ("{subject}: sent to {first}.", "Sent {subject}. {detail}"),
        "inbound": ("Reply from {first}: {detail}", "{first} asked about pricing."),
        "note": ("{detail}", "Contact: {first} {last}, {title}. {detail}", "Important: {detail}"),
        "task": ("Follow up on proposal", "Call back {first}", "Send draft contract",
                 "Share customer references", "Prepare demo", "Align pricing with sales lead",
                 "Connect on LinkedIn"),
        "task_body": ("Due by {weekday}.", "Send the documents to {first} beforehand.", "", ""),
        "weekday": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"),
        "time": ("9:30 am", "10:00 am", "11:00 am", "2:00 pm", "3:30 pm", "4:00 pm"),
    },
}

# -- conversations ----------------------------------------------------------------------------------
# (topic, language, who, when) -> lines. German lines read as they follow "Hallo X," (lower case
# after the comma); a line that does not open a message gets its first letter capitalised.
TOPIC_TEXT = {
    ("pricing", "de", "lead", "open"): _lines("""
        wir prüfen gerade Lösungen für unser Vertriebsteam. Was kostet {product} für etwa {seats} Nutzer?
        könnten Sie mir ein Angebot für {seats} Lizenzen schicken, gern mit und ohne Onboarding?
        gibt es bei Ihnen Staffelpreise ab {seats} Nutzern? Wir möchten in {quarter} starten."""),
    ("pricing", "de", "lead", "reply"): _lines("""
        danke für das Angebot. Das liegt über unserem Budget, gibt es Spielraum bei 24 Monaten Laufzeit?
        ist die Schnittstelle zu {system} im Preis enthalten oder kommt sie extra dazu?
        können wir mit weniger Lizenzen starten und später aufstocken?"""),
    ("pricing", "de", "rep", "open"): _lines("""
        vielen Dank für Ihr Interesse. Für {seats} Nutzer liegt {package} bei {price} im Monat.
        wie besprochen mein Angebot für {company}: {package}, {seats} Nutzer, {price} monatlich."""),
    ("pricing", "de", "rep", "reply"): _lines("""
        bei 24 Monaten Laufzeit kann ich Ihnen 10 % Rabatt auf die Lizenzen anbieten.
        die Integration mit {system} ist in {package} bereits enthalten.
        Sie können jederzeit monatlich weitere Lizenzen hinzubuchen, ohne Mindestmenge."""),
    ("pricing", "en", "lead", "open"): _lines("""
        We are evaluating tools for our sales team. What would {product} cost for about {seats} users?
        Could you send me a quote for {seats} licences, with and without onboarding?
        Do you offer volume pricing from {seats} users? We would like to start in {quarter}."""),
    ("pricing", "en", "lead", "reply"): _lines("""
        Thanks for the proposal. It is above our budget, is there room with a 24-month term?
        Is the {system} integration included in the price or extra?
        Can we start with fewer seats and add more later?"""),
    ("pricing", "en", "rep", "open"): _lines("""
        Thanks for your interest! For {seats} users, {package} comes to {price} per month.
        As discussed, here is our proposal for {company}: {package}, {seats} users, {price} per month."""),
    ("pricing", "en", "rep", "reply"): _lines("""
        With a 24-month term I can offer 10% off the licences.
        The {system} integration is already included in {package}.
        You can add seats month by month at any time, no minimum."""),
    ("demo", "de", "lead", "open"): _lines("""
        ich habe mich auf Ihrer Website umgesehen und hätte gern eine Demo für unser Team.
        ein Kollege hat uns {product} empfohlen. Können Sie uns das System einmal live zeigen?"""),
    ("demo", "de", "lead", "reply"): _lines("""
        {weekday} um {time} Uhr passt bei uns. Ich bringe noch unsere IT-Leitung mit.
        diese Woche wird es knapp, ginge auch {weekday} nächste Woche?
        danke für die Demo, das Team war angetan. Können wir einen Testzugang bekommen?"""),
    ("demo", "de", "rep", "open"): _lines("""
        gern zeige ich Ihnen in 30 Minuten, wie {company} mit {product} Leads schneller qualifiziert.
        viele Firmen aus Ihrer Branche steuern ihre Pipeline mit {product}. Hätten Sie Lust auf eine Demo?
        """),
    ("demo", "de", "rep", "reply"): _lines("""
        gern! Ich habe Ihnen eine Einladung für {weekday} um {time} Uhr geschickt.
        kein Problem, wir können den Termin auf {weekday} verschieben.
        Ihr Testzugang ist eingerichtet, die Zugangsdaten kommen in einer separaten Nachricht."""),
    ("demo", "en", "lead", "open"): _lines("""
        I had a look at your website and would like a demo for our team.
        A colleague recommended {product}. Could you show us the system live?"""),
    ("demo", "en", "lead", "reply"): _lines("""
        {weekday} at {time} works for us. I will bring our head of IT.
        This week is tight, would {weekday} next week work?
        Thanks for the demo, the team liked it. Could we get a trial account?"""),
    ("demo", "en", "rep", "open"): _lines("""
        Happy to show you in 30 minutes how {company} could qualify leads faster with {product}.
        Many companies in your industry run their pipeline on {product}. Up for a short demo?"""),
    ("demo", "en", "rep", "reply"): _lines("""
        Sure! I have sent you an invite for {weekday} at {time}.
        No problem, we can move it to {weekday}.
        Your trial account is ready, the login details follow in a separate message."""),
    ("objection", "de", "lead", "open"): _lines("""
        wir nutzen aktuell {competitor} und sind eigentlich zufrieden. Was wäre bei Ihnen besser?
        ehrlich gesagt hat das Thema gerade keine Priorität, das Budget für dieses Jahr ist verplant."""),
    ("objection", "de", "lead", "reply"): _lines("""
        der Umstieg von {competitor} klingt nach viel Aufwand für uns.
        wie sieht es mit dem Datenschutz aus? Unsere Daten müssen in der EU bleiben.
        vor {quarter} können wir leider nichts entscheiden."""),
    ("objection", "de", "rep", "open"): _lines("""
        ich wollte kurz nachhaken: Wie zufrieden sind Sie mit Ihrem aktuellen CRM?
        viele Teams wechseln zu uns, weil ihr CRM zu wenig über die Kundenkommunikation weiß."""),
    ("objection", "de", "rep", "reply"): _lines("""
        das verstehe ich. Wir übernehmen die Migration aus {competitor} komplett, inklusive Historie.
        alle Daten liegen in Rechenzentren in Frankfurt, den AV-Vertrag schicke ich Ihnen gern mit.
        dann melde ich mich in {quarter} noch einmal, passt das für Sie?"""),
    ("objection", "en", "lead", "open"): _lines("""
        We currently use {competitor} and are fairly happy. What would be better with you?
        To be honest this is not a priority right now, this year's budget is allocated."""),
    ("objection", "en", "lead", "reply"): _lines("""
        Switching from {competitor} sounds like a lot of work for us.
        What about data protection? Our data has to stay in the EU.
        We cannot decide anything before {quarter}, unfortunately."""),
    ("objection", "en", "rep", "open"): _lines("""
        Just checking in: how happy are you with your current CRM?
        Many teams switch to us because their CRM knows too little about customer conversations."""),
    ("objection", "en", "rep", "reply"): _lines("""
        I understand. We handle the whole migration from {competitor}, history included.
        All data is hosted in Frankfurt, happy to send over our DPA.
        Then I'll get back to you in {quarter}, does that work for you?"""),
    ("follow_up", "de", "lead", "open"): _lines("""
        kurze Rückfrage zu unserem Gespräch: Bis wann gilt Ihr Angebot?
        wir haben intern über Ihr Angebot gesprochen und hätten noch zwei Fragen."""),
    ("follow_up", "de", "lead", "reply"): _lines("""
        wir sind noch in der Abstimmung, ich melde mich bis {weekday}.
        die Geschäftsführung hat zugestimmt. Wie geht es jetzt weiter?"""),
    ("follow_up", "de", "rep", "open"): _lines("""
        ich wollte mich nach unserer Demo noch einmal melden. Gibt es schon Neuigkeiten?
        haben Sie das Angebot vom {weekday} erhalten? Bei Fragen bin ich gern für Sie da."""),
    ("follow_up", "de", "rep", "reply"): _lines("""
        super, dann schicke ich Ihnen heute noch den Vertrag zur Unterschrift.
        das Angebot gilt bis Ende des Monats, danach passe ich es gern an."""),
    ("follow_up", "en", "lead", "open"): _lines("""
        Quick question about our call: how long is your offer valid?
        We discussed your proposal internally and have two more questions."""),
    ("follow_up", "en", "lead", "reply"): _lines("""
        We are still aligning internally, I will get back to you by {weekday}.
        Management has signed off. What are the next steps?"""),
    ("follow_up", "en", "rep", "open"): _lines("""
        Following up after our demo. Any news on your side?
        Did you receive the proposal from {weekday}? Happy to answer any questions."""),
    ("follow_up", "en", "rep", "reply"): _lines("""
        Great, I'll send the contract for signature today.
        The offer is valid until the end of the month, happy to adjust it after that."""),
    ("integration", "de", "lead", "open"): _lines("""
        bevor wir weitermachen: Gibt es eine fertige Anbindung an {system}?
        unser IT-Team fragt, ob {product} eine REST-API und Webhooks anbietet."""),
    ("integration", "de", "lead", "reply"): _lines("""
        können Sie uns die API-Dokumentation schicken?
        wie lange dauert die Einrichtung der {system}-Schnittstelle ungefähr?"""),
    ("integration", "de", "rep", "open"): _lines("""
        Sie hatten nach der Anbindung an {system} gefragt, dazu gibt es gute Neuigkeiten."""),
    ("integration", "de", "rep", "reply"): _lines("""
        ja, die {system}-Integration ist Standard und in zwei bis drei Tagen eingerichtet.
        die API-Dokumentation schicke ich Ihnen gleich, Webhooks sind ebenfalls dabei."""),
    ("integration", "en", "lead", "open"): _lines("""
        Before we continue: is there a ready-made {system} integration?
        Our IT team asks whether {product} offers a REST API and webhooks."""),
    ("integration", "en", "lead", "reply"): _lines("""
        Could you send us the API documentation?
        Roughly how long does setting up the {system} connector take?"""),
    ("integration", "en", "rep", "open"): _lines("""
        You asked about connecting {system}, I have good news on that."""),
    ("integration", "en", "rep", "reply"): _lines("""
        Yes, the {system} integration is standard and set up in two to three days.
        I will send the API documentation right away, webhooks are included too."""),
}
TOPICS = ("pricing", "demo", "objection", "follow_up", "integration")
SUBJECTS = {"pricing": ("Preisanfrage {product}", "Pricing for {product}"),
             "demo": ("Produktdemo {product}", "{product} demo"),
             "objection": ("Ihr CRM bei {company}", "Your CRM at {company}"),
             "follow_up": ("Nächste Schritte", "Next steps"),
             "integration": ("Anbindung an {system}", "{system} integration")}
# Lines for any topic: the middle of a longer thread, and its last message.
CONV = {
    "de": {
        "lead_more": _lines("""
            kurze Frage noch: Gibt es eine Mindestlaufzeit?
            ich habe die Unterlagen an unseren Einkauf weitergeleitet.
            unsere IT-Leitung hätte gern noch ein technisches Gespräch.
            können wir den Termin um eine halbe Stunde nach hinten schieben?
            gibt es Referenzkunden aus unserer Branche, mit denen wir sprechen könnten?"""),
        "rep_more": _lines("""
            gern, ich habe den Termin entsprechend angepasst.
            kurze Erinnerung an unseren Termin am {weekday} um {time} Uhr.
            anbei zwei Referenzen aus Ihrer Branche, beide arbeiten seit über einem Jahr mit {product}.
            die Mindestlaufzeit beträgt zwölf Monate, danach ist der Vertrag monatlich kündbar.
            ich habe Ihnen die Zusammenfassung unseres Gesprächs per Mail geschickt."""),
        "lead_close": _lines("""
            danke, ich stimme das intern ab und melde mich bis {weekday}.
            klingt gut, dann bis {weekday}!
            perfekt, vielen Dank für die schnelle Antwort."""),
        "rep_close": _lines("""
            vielen Dank, dann bis {weekday} um {time} Uhr!
            danke für Ihre Rückmeldung, ich melde mich wie besprochen.
            alles klar, ich freue mich auf unser Gespräch."""),
        "cta": ("Passt Ihnen ein kurzer Call am {weekday} um {time} Uhr?", "Melden Sie sich gern bei Fragen.",
                "Soll ich die Unterlagen auch für Ihre Geschäftsführung aufbereiten?"),
        "hello_mail": ("Hallo {first},", "Guten Tag {salutation} {last},"),
        "hello_chat": ("Hallo {first},", "Hi {first},"),
        "bye_mail": ("Viele Grüße\n{name}", "Beste Grüße\n{name}",
                     "Mit freundlichen Grüßen\n{name}\n{company}"),
        "bye_chat": ("VG {first}", "Danke! 🙂", ""),
        "salutation": ("Herr", "Frau"),
        "reply": "AW: ",
    },
    "en": {
        "lead_more": _lines("""
            One more question: is there a minimum term?
            I have forwarded the documents to our procurement team.
            Our head of IT would like a technical session as well.
            Could we push the meeting back by half an hour?
            Do you have reference customers in our industry we could talk to?"""),
        "rep_more": _lines("""
            Sure, I have moved the meeting accordingly.
            Quick reminder of our meeting on {weekday} at {time}.
            Attached are two references from your industry, both have used {product} for over a year.
            The minimum term is twelve months, after that it is cancellable monthly.
            I've sent you a summary of our conversation by email."""),
        "lead_close": _lines("""
            Thanks, I'll align internally and get back to you by {weekday}.
            Sounds good, talk on {weekday}!
            Perfect, thanks for the quick reply."""),
        "rep_close": _lines("""
            Thank you, see you on {weekday} at {time}!
            Thanks for getting back to me, I will follow up as agreed.
            Great, looking forward to our call."""),
        "cta": ("Would a quick call on {weekday} at {time} work?", "Let me know if you have any questions.",
                "Shall I prepare the material for your leadership team as well?"),
        "hello_mail": ("Hi {first},", "Dear {first},", "Hello {first},"),
        "hello_chat": ("Hi {first},", "Hey {first},"),
        "bye_mail": ("Best regards,\n{name}", "Kind regards,\n{name}\n{company}", "Thanks,\n{name}"),
        "bye_chat": ("Best, {first}", "Thanks! 👍", ""),
        "salutation": ("Mr", "Ms"),
        "reply": "Re: ",
    },
}
