"""Generates tests/data/pii_messages.jsonl: labelled sales messages for the PII redaction tests.

Each line is {"id", "lang", "text", "pii": [{"kind", "value"}]}, `value` being the exact substring
planted. Half German, half English; every PII message carries an email, a phone number or an IBAN
(often several, sometimes a card or an address too), and the distractor messages carry none but are
full of numbers that look like them: prices, dates, order and customer numbers, versions, postcodes.

Only reserved or fictional values are planted: emails under `.example` / example.com / example.de,
phone numbers with random digits in +49 30 / mobile ranges, UK 07700 900xxx and 020 7946 0xxx,
US 555-01xx, IBANs with random account numbers (correct check digits), and card test numbers.

    python tests/data/make_pii_messages.py           # rewrite the file
    python tests/data/make_pii_messages.py --check   # exit 1 if the committed file is stale
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).with_name("pii_messages.jsonl")
PII_PER_LANGUAGE = 125
DISTRACTORS_PER_LANGUAGE = 25
PII_FIELDS = {"email": "email", "email2": "email", "phone": "phone", "phone2": "phone", "iban": "iban",
              "card": "card", "address": "address"}  # fmt: skip

DE_FIRST = ["Anna", "Jonas", "Lea", "Lukas", "Marie", "Felix", "Sophie", "Maximilian", "Jana", "Tobias", "Katrin",
            "Jürgen", "Sabine", "Özlem", "Mehmet", "Birgit", "Stefan", "Franziska", "Niklas", "Ute"]  # fmt: skip
DE_LAST = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
           "Köhler", "Weiß", "Schröder", "Krüger", "Yılmaz", "Nowak", "Lehmann", "Bauer", "Vogel",
           "Hartmann"]  # fmt: skip
EN_FIRST = ["Emma", "Olivia", "James", "Liam", "Priya", "Chen", "Fatima", "Lucas", "Sophie", "Noah", "Grace",
            "Daniel", "Aisha", "Tom", "Hannah", "Ravi", "Megan", "Oliver", "Chloe", "Marcus"]  # fmt: skip
EN_LAST = ["Smith", "Johnson", "Patel", "Nguyen", "Brown", "Williams", "Garcia", "Taylor", "Khan", "Wilson",
           "Davies", "Evans", "Murphy", "Walker", "Robinson", "Lee", "Clarke", "Hughes", "Wright",
           "Turner"]  # fmt: skip
DE_COMPANIES = [("Müller Bau GmbH", "mueller-bau"), ("Nordlicht Logistik GmbH", "nordlicht-logistik"),
                ("Schmidt & Partner", "schmidt-partner"), ("Bergmann Maschinenbau AG", "bergmann-mb"),
                ("Hansen Consulting", "hansen-consulting"), ("Alpenblick Hotels", "alpenblick"),
                ("Rheinwerk Solar GmbH", "rheinwerk-solar"), ("Weber Immobilien", "weber-immo"),
                ("Fischer Medizintechnik", "fischer-med"), ("Lindner IT-Service", "lindner-it"),
                ("Krause Spedition", "krause-spedition"), ("Vogel Elektrotechnik", "vogel-elektro")]  # fmt: skip
EN_COMPANIES = [("Brightwave Analytics", "brightwave"), ("Northwind Traders", "northwind"), ("Contoso Ltd", "contoso"),
                ("Fabrikam Inc.", "fabrikam"), ("Bluepeak Software", "bluepeak"), ("Harbor & Finch", "harborfinch"),
                ("Redline Logistics", "redline"), ("Greenleaf Foods", "greenleaf"), ("Oakridge Capital", "oakridge"),
                ("Summit Dental Group", "summitdental"), ("Pioneer Robotics", "pioneer-robotics"),
                ("Lumen Health", "lumenhealth")]  # fmt: skip
DE_STREETS = ["Hauptstraße", "Musterweg", "Bahnhofstraße", "Friedrichstr.", "Lindenallee", "Am Markt", "Goethestraße",
              "Schillerplatz", "Karl-Marx-Allee", "Berliner Straße", "Industriestraße", "Gartenweg", "Kirchgasse",
              "Rosenstr.", "Am Hafen", "Uferweg"]  # fmt: skip
DE_CITIES = [("10115", "Berlin"), ("80331", "München"), ("20095", "Hamburg"), ("50667", "Köln"), ("04109", "Leipzig"),
             ("60311", "Frankfurt am Main"), ("70173", "Stuttgart"), ("01067", "Dresden"), ("1010", "Wien"),
             ("8001", "Zürich")]  # fmt: skip
EN_STREETS = ["Baker", "High", "Market", "Oak", "Elm", "Maple", "Church", "King", "Station", "Mill", "Park", "Victoria"]
EN_SUFFIXES = ["Street", "Road", "Avenue", "Lane", "Drive", "Way"]
US_CITIES = [("San Francisco", "CA", "94105"), ("Austin", "TX", "78701"), ("Boston", "MA", "02110"),
             ("Seattle", "WA", "98101"), ("Denver", "CO", "80202")]  # fmt: skip
UK_CITIES = [("London", "EC1A 1BB"), ("Manchester", "M1 1AE"), ("Leeds", "LS1 4DY"), ("Bristol", "BS1 4DJ")]
BANKS = ["Sparkasse Berlin", "Volksbank Mittelhessen", "Commerzbank", "Deutsche Bank", "Barclays", "NatWest", "ING",
         "Rabobank", "UBS", "Erste Bank", "BNP Paribas"]  # fmt: skip
PRODUCTS_DE = ["das CRM-Modul", "Lead-Scoring", "die Telefonie-Integration", "das Reporting", "die KI-Assistenz"]
PRODUCTS_EN = ["the CRM add-on", "lead scoring", "the dialer integration", "pipeline analytics", "the AI assistant"]
TEST_CARDS = ["4111 1111 1111 1111", "5555 5555 5555 4444", "4242 4242 4242 4242", "4012 8888 8888 1881",
              "5105 1051 0510 5100", "3782 822463 10005", "6011 1111 1111 1117", "4000 0566 5566 5556"]  # fmt: skip
WEEKDAYS_DE = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag"]
WEEKDAYS_EN = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
MONTHS_DE = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober"]
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"]

DE_TEMPLATES = [
    "Hallo {rep}, danke für das nette Gespräch gestern! Sie erreichen mich am besten unter {phone} oder per Mail an "
    "{email}. Viele Grüße, {name}",
    "Guten Tag, bitte senden Sie das Angebot für {count} Lizenzen an {email}. Rückfragen gern telefonisch: {phone}.",
    "Notiz nach Call mit {name} ({company}): Budget ca. {price}, Entscheidung bis {date}. Mobil {phone}, bevorzugt "
    "WhatsApp.",
    "Mit freundlichen Grüßen\n\n{name}\nLeitung Einkauf\n{company}\n{address}\nTel.: {phone}\nE-Mail: {email}",
    "Unsere Bankverbindung für die Rückerstattung: IBAN {iban}, Kontoinhaber {company}.",
    "hey {rep_first} 👋 hier ist {first} von {company}, meine nummer ist {phone} – schreib mir einfach",
    "Bitte buchen Sie die Lastschrift von unserem Konto {iban} ab. Die Rechnung bitte an {email}.",
    "Kurze Info: {first} ist ab {date} in Elternzeit, Vertretung ist {name2} ({email2}, {phone2}).",
    "Rückrufbitte: {name} von {company} hat angerufen wegen Angebot {order}, bittet um Rückruf unter {phone}.",
    "Können Sie mir die Unterlagen an meine private Adresse schicken? {email} – unser Firmenfilter blockiert Anhänge.",
    "Hallo zusammen, anbei die Daten für den Rahmenvertrag:\nFirma: {company}\nIBAN: {iban}\nAnsprechpartner: {name}, "
    "{phone}",
    "Ich bin diese Woche nur mobil erreichbar ({phone}), ab Montag wieder im Büro unter {phone2}.",
    "Termin bestätigt für {weekday}, {time} Uhr bei uns vor Ort: {address}. Bei Verspätung bitte kurz an {phone}.",
    "{first} hier. Die Zahlung ging raus, aber bitte künftig auf {iban} überweisen, das alte Konto wird gekündigt.",
    "Lead aus dem Webformular: {name}, {company}, {email}, Interesse an {product}, Teamgröße {count}.",
    "Hallo {rep}, meine Kollegin {name2} übernimmt ab sofort, ihre Durchwahl ist {phone2} und ihre Mail {email2}.",
    "Bitte nehmen Sie {email} aus Ihrem Verteiler. Danke.",
    "Sorry, falsche Nummer gespeichert – richtig ist {phone}!",
    "Gesprächsnotiz {date}: {name} will eine Demo, hat {count} Vertriebler. Kontakt {email} / {phone}. Nächster "
    "Schritt: Angebot bis {date2}.",
    "Sehr geehrte Damen und Herren, für die Gutschrift über {price} nutzen Sie bitte folgende Verbindung: {iban} "
    "(Bank: {bank}).",
    "Kreditkarte für das Jahresabo: {card}, gültig bis {expiry}. Rechnung bitte an {email}.",
    "wo seid ihr genau? wir stehen vor {address} 😅 ruf mal an: {phone}",
    "Neue Rechnungsanschrift: {company}, {address}. Rechnungen bitte nur noch per Mail an {email}.",
    "Tel. {phone} | Fax {phone2} | {email}\n{company} · {address}",
    "Hi {rep_first}, {first} aus dem Einkauf. Können wir morgen telefonieren? {phone} – am besten zwischen 9 und 11.",
    "Für die Bonitätsprüfung: Hausbank {bank}, IBAN {iban}. Geschäftsführer ist {name}, erreichbar unter {email}.",
    "Bitte die Provision für {month} auf mein Konto {iban} – danke! {first}",
    "Hallo, hier {name}. Leider klappt der Termin am {date} nicht. Bitte melden Sie sich per Mail ({email}) mit einem "
    "neuen Vorschlag.",
    "CRM-Update: {name} hat die Firma gewechselt, neue Adresse {email}, die alte {email2} ist inaktiv.",
    "Angebot {order} angenommen ✅ Lieferung an {address}, Ansprechpartner vor Ort {name}, {phone}.",
    "moin! das ist meine neue handynummer {phone}, die alte {phone2} bitte löschen",
    "Die Buchhaltung fragt, ob {iban} für die Erstattung noch aktuell ist – sonst bitte die neue an {email} schicken.",
    "Die Zahlung mit der Karte {card} wurde abgelehnt. Bitte rufen Sie uns an: {phone}.",
    "{name} | Key Account Manager\n{company}\nM {phone} · T {phone2}\n{email}",
    "Wir haben {count} Standorte, die Zentrale ist {address}. Ansprechpartner IT: {name2}, {email2}",
    "Anbei das unterschriebene Formular. Zahlungsempfänger {company}, {iban}, Verwendungszweck {order}.",
    "Von: {name} <{email}>\nGesendet: {date}\nBetreff: Angebot {order}\n\nBitte rufen Sie mich zurück: {phone}",
    "iban ist {iban}, bic {bic} 👍 rechnung dann an {email}",
]
EN_TEMPLATES = [
    "Hi {rep_first}, thanks for the call earlier. Best way to reach me is {phone} or {email}. Cheers, {first}",
    "Please send the proposal for {count} seats to {email} and cc {email2}.",
    "Call notes: {name} ({company}), budget around {price}, decision by {date}. Mobile {phone}, prefers texts.",
    "Kind regards,\n\n{name}\nHead of Procurement\n{company}\n{address}\nPhone: {phone}\nEmail: {email}",
    "For the refund please use our account: IBAN {iban}, account holder {company}.",
    "hey it's {first} from {company} 🙂 my number is {phone}, text me whenever",
    "Please set up the direct debit from {iban}. Invoices go to {email}.",
    "FYI {first} is on leave from {date}; {name2} is covering ({email2}, {phone2}).",
    "Callback request: {name} from {company} called about quote {order}, please call back on {phone}.",
    "Could you send the contract to my personal address instead? {email} - our company filter strips attachments.",
    "Hi all, details for the master agreement:\nCompany: {company}\nIBAN: {iban}\nContact: {name}, {phone}",
    "I'm only on mobile this week ({phone}); back in the office on Monday at {phone2}.",
    "Meeting confirmed for {weekday} at {time} at our office: {address}. If you're running late, call {phone}.",
    "{first} here. Payment went out, but please use {iban} going forward, the old account is being closed.",
    "Inbound lead: {name}, {company}, {email}, interested in {product}, team size {count}.",
    "Hi {rep_first}, my colleague {name2} is taking over; their direct line is {phone2}, email {email2}.",
    "Please remove {email} from your mailing list. Thanks.",
    "Sorry, I gave you the wrong number - it's {phone}!",
    "Call summary {date}: {name} wants a demo, has {count} reps. Contact {email} / {phone}. Next step: proposal by "
    "{date2}.",
    "Dear team, for the credit note of {price} please use these bank details: {iban} ({bank}).",
    "Card for the annual plan: {card}, exp {expiry}. Send the receipt to {email}.",
    "where are you guys? we're outside {address} 😅 call me {phone}",
    "New billing address: {company}, {address}. Please email invoices to {email} only.",
    "T {phone} | F {phone2} | {email}\n{company} · {address}",
    "Hey {rep_first}, {first} from purchasing. Can we talk tomorrow? {phone}, ideally between 9 and 11.",
    "For the credit check: our bank is {bank}, IBAN {iban}. Our CEO is {name}, reachable at {email}.",
    "Please pay the commission for {month} into {iban} - thanks! {first}",
    "Hi, {name} here. Unfortunately {date} doesn't work for me. Please email me at {email} with a new slot.",
    "CRM update: {name} changed companies, new email {email}, the old one {email2} bounces.",
    "Quote {order} accepted ✅ Ship to {address}, on-site contact {name}, {phone}.",
    "new phone who dis 😂 jk it's {first}, this is my new number {phone}, delete {phone2}",
    "Accounting is asking whether {iban} is still the right account for the refund - if not, send the new one to "
    "{email}.",
    "The card payment with {card} was declined. Please give us a call on {phone}.",
    "{name} | Key Account Manager\n{company}\nM: {phone} | O: {phone2}\n{email}",
    "We have {count} locations; HQ is {address}. IT contact: {name2}, {email2}",
    "Attached is the signed form. Payee {company}, {iban}, reference {order}.",
    "From: {name} <{email}>\nSent: {date}\nSubject: Quote {order}\n\nPlease call me back: {phone}",
    "ok so iban is {iban}, bic {bic} 👍 invoice to {email} pls",
]
DE_DISTRACTORS = [
    "Das Angebot {order} über {price} netto gilt bis {date}.",
    "Kurzes Update: Der Rollout von Version {version} ist für den {date} geplant, {count} Nutzer sind betroffen.",
    "Ein Rabatt von {pct} ist freigegeben, wenn bis Ende Q{quarter} {year} unterschrieben wird.",
    "Die Lieferung nach {postcode} {city} dauert 3–5 Werktage, Versandkosten {price_small}.",
    "Kundennummer {custno}, bitte bei Rückfragen immer angeben.",
    "Meeting am {date} um {time} Uhr, Dauer ca. 45 Minuten.",
    "Rechnung {invoice} vom {date} über {price} ist noch offen.",
    "Wir haben {count} Lizenzen à {price_small} im Monat, Laufzeit {months} Monate.",
    "Bestellnummer {orderno} ist unterwegs, Sendungsnummer {tracking}.",
    "ISO 9001:2015 zertifiziert seit {year}, Umsatzwachstum {pct} im Vorjahr.",
    "Die Preise steigen zum 01.01.{next_year} um {pct}.",
    "Zwischen dem {date} und dem {date2} ist das Büro geschlossen.",
    "Ticket #{ticket}: Import von {count} Kontakten fehlgeschlagen (Fehlercode {errcode}).",
    "Unsere USt-IdNr. lautet {vatid}, Handelsregister HRB {hrb}.",
    "Budget für {year}: {price}, davon {pct} für Software.",
    "Vertrag {contract} läuft am {date} aus, Kündigungsfrist 3 Monate.",
    "Die Demo-Umgebung läuft auf Build {build}, Release {version} folgt in KW {week}.",
    "Der Standort {postcode} {city} hat {count} Mitarbeiter auf ca. {area} m².",
    "Zahlungsziel 30 Tage, 2 % Skonto bei Zahlung innerhalb von 10 Tagen.",
    "Preisstaffel: 1–10 Nutzer {price_small}, 11–50 Nutzer {price_small2}, ab 51 auf Anfrage.",
    "Angebot {order}: Position 3 ({count} × {price_small}) bitte streichen.",
    "Am {weekday} ab {time} Uhr passt es, Raum {room}.",
    "Der Auftrag {po} wurde am {date} um {time} Uhr erfasst.",
    "Laut Report kommen {pct} der Leads aus {city}, Durchschnittswert {price}.",
    "Artikelnummer {sku} ist ab {date} wieder lieferbar, Mindestmenge {count} Stück.",
]
EN_DISTRACTORS = [
    "Quote {order} for {price} is valid until {date}.",
    "Version {version} rolls out on {date_iso}; {count} users are affected.",
    "A {pct} discount is approved if it is signed by the end of Q{quarter} {year}.",
    "Shipping to ZIP {zip} takes 3-5 business days, shipping cost {price_small}.",
    "Customer ID {custno}, please quote it in every reply.",
    "Meeting on {date} at {time}, about 45 minutes.",
    "Invoice {invoice} dated {date} for {price} is still open.",
    "We have {count} licenses at {price_small}/month on a {months}-month term.",
    "Order #{orderno} has shipped, tracking number {tracking}.",
    "SOC 2 Type II since {year}, revenue grew {pct} last year.",
    "Prices go up by {pct} on 01/01/{next_year}.",
    "The office is closed from {date} to {date2}.",
    "Ticket #{ticket}: import of {count} contacts failed (error {errcode}).",
    "Our company number is {company_no} and our VAT number is GB {gbvat}.",
    "Budget for FY{year}: {price}, {pct} of it for software.",
    "Contract {contract} expires on {date_iso}, 90-day notice period.",
    "The sandbox runs build {build}; release {version} ships in sprint {week}.",
    "The {city} office has {count} employees and {area} sq ft.",
    "Net 30 payment terms, 2% discount if paid within 10 days.",
    "Pricing tiers: 1-10 seats {price_small}, 11-50 seats {price_small2}, 51+ on request.",
    "Quote {order}: please drop line 3 ({count} x {price_small}).",
    "{weekday} after {time} works, room {room}.",
    "PO {po} was entered on {date_iso} at {time}.",
    "According to the report {pct} of leads come from {city}, average deal {price}.",
    "SKU {sku} is back in stock on {date}, minimum order {count} units.",
]


def digits(rng: random.Random, n: int) -> str:
    """n random digits; the first is never 0 so numbers keep their length when read as integers."""
    return str(rng.randint(1, 9)) + "".join(rng.choice(string.digits) for _ in range(n - 1))


def ascii_name(name: str) -> str:
    """How a name is spelled in an email address."""
    for umlaut, spelled in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("Ö", "Oe"), ("ı", "i")):
        name = name.replace(umlaut, spelled)
    return name.lower()


def email(rng: random.Random, first: str, last: str, slug: str, lang: str) -> str:
    """An email address at a reserved domain, in one of the forms people actually use."""
    f, la = ascii_name(first), ascii_name(last)
    tld = rng.choice(["example", "example", "example.com" if lang == "en" else "example.de"])
    domain = f"{slug}.{tld}" if "." not in tld else tld
    forms = [
        f"{f}.{la}@{domain}", f"{f[0]}.{la}@{domain}", f"{f}{la}@example.com", f"{f}.{la}+crm@{domain}",
        f"{f}@mail.{slug}.example", f"{f.upper()}.{la.upper()}@{slug.upper()}.EXAMPLE", f"{la}_{f}@example.de",
        f"{'vertrieb' if lang == 'de' else 'sales'}@{slug}.example", f"{f}.{la}{rng.randint(1, 99)}@example.com",
        f"{f}.{la} [at] {slug} [dot] example", f"{f} (at) {slug}.example",
    ]  # fmt: skip
    weights = [20, 10, 8, 6, 5, 3, 5, 6, 5, 1, 1]
    return rng.choices(forms, weights)[0]


def de_phone(rng: random.Random) -> str:
    """A German number in one of the ways Germans write them (fictional: random digits)."""
    city = rng.choice(["30", "40", "89", "221", "69"])
    mobile = rng.choice(["0151", "0160", "0170", "0171", "0172", "0176"])
    sub7, sub8, mob = digits(rng, 7), digits(rng, 8), digits(rng, 7)
    forms = [
        f"+49 30 {sub7}", f"+49 (0){city} {sub8[:3]} {sub8[3:6]} {sub8[6:]}", f"0049 {city} {sub8}", f"0{city} {sub8}",
        f"0{city}/{sub7}", f"0{city} / {sub7}", f"{mobile} {mob}", f"{mobile}-{mob}", f"{mobile}/{mob}",
        f"+49 {mobile[1:]} {mob}", f"+49 (0){mobile[1:]} {mob}", f"+49{city}{sub7}",
        f"089 / {sub7[:2]} {sub7[2:4]} {sub7[4:6]}", f"(0{city}) {sub7}", f"+49-{city}-{sub7}", f"0{city} {sub7}-0",
        f"{mobile} {mob[:3]} {mob[3:]}", f"{mobile}{mob}", f"+49 30 {sub7[:3]} {sub7[3:5]} {sub7[5:]}",
        f"0{city}-{sub8[:3]} {sub8[3:6]} {sub8[6:]}", f"+41 44 {sub7[:3]} {sub7[3:5]} {sub7[5:]}",
        f"+43 1 {sub7[:3]} {sub7[3:]}", f"+49 30 {sub7}-{rng.randint(10, 99)}", f"+49 (0) {city} {sub7}",
        f"+49 (0){city}-{sub7}",
    ]  # fmt: skip
    return rng.choice(forms)


def en_phone(rng: random.Random) -> str:
    """A UK or US number from the ranges reserved for drama (07700 900xxx, 020 7946 0xxx, 555-01xx)."""
    uk_mobile, london = f"900{rng.randint(0, 999):03d}", f"0{rng.randint(0, 999):03d}"
    us_line = f"555-01{rng.randint(0, 99):02d}"
    area = rng.choice(["212", "415", "312", "617", "206"])
    forms = [
        f"07700 {uk_mobile}", f"+44 7700 {uk_mobile}", f"020 7946 {london}", f"+44 20 7946 {london}",
        f"+44 (0)20 7946 {london}", f"(020) 7946 {london}", f"+1 ({area}) {us_line}", f"({area}) {us_line}",
        f"{area}-{us_line}", f"{area}.{us_line.replace('-', '.')}", f"+1 {area} {us_line.replace('-', ' ')}",
        f"+1-{area}-{us_line}", us_line, f"+49 30 {digits(rng, 7)}", f"+44 7700 900 {uk_mobile[3:]}",
        f"07700{uk_mobile}", f"+447700{uk_mobile}", f"1-{area}-{us_line}", f"({area}){us_line}",
        f"{area} {us_line.replace('-', ' ')}", f"+1 {area}-{us_line}", f"+44 (0) 7700 {uk_mobile}",
    ]  # fmt: skip
    weights = [10, 8, 8, 8, 4, 3, 8, 8, 8, 4, 4, 3, 2, 4, 2, 2, 2, 2, 2, 2, 2, 2]
    return rng.choices(forms, weights)[0]


def iban(rng: random.Random) -> str:
    """An IBAN with a random account number and correct ISO 13616 check digits, grouped or compact."""
    country = rng.choice(["DE", "DE", "DE", "AT", "CH", "NL", "GB", "FR"])
    bban = {
        "DE": lambda: digits(rng, 18),
        "AT": lambda: digits(rng, 16),
        "CH": lambda: digits(rng, 17),
        "NL": lambda: rng.choice(["ABNA", "INGB", "RABO"]) + digits(rng, 10),
        "GB": lambda: rng.choice(["NWBK", "BARC", "MIDL"]) + digits(rng, 14),
        "FR": lambda: digits(rng, 23),
    }[country]()
    numeric = "".join(str(int(char, 36)) for char in bban + country + "00")
    compact = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    roll = rng.random()
    if roll < 0.05:  # typed into a chat
        return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4)).lower()
    if roll < 0.6:
        return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
    return compact


def luhn_check_digit(partial: str) -> str:
    """The digit that makes `partial` + digit pass the Luhn check."""
    total = 0
    for index, char in enumerate(reversed(partial)):
        digit = int(char)
        if index % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str(-total % 10)


def card(rng: random.Random) -> str:
    """A card test number, or a Visa-shaped variant of one, spaced, dashed or compact."""
    if rng.random() < 0.5:
        number = rng.choice(TEST_CARDS).replace(" ", "")
    else:
        partial = "4" + digits(rng, 14)
        number = partial + luhn_check_digit(partial)
    if len(number) == 15:  # Amex groups 4-6-5
        groups = [number[:4], number[4:10], number[10:]]
    else:
        groups = [number[i : i + 4] for i in range(0, len(number), 4)]
    return rng.choice([" ", " ", "-", ""]).join(groups)


def address(rng: random.Random, lang: str) -> str:
    """A street address with a house number, sometimes with postcode and city."""
    if lang == "de":
        street = f"{rng.choice(DE_STREETS)} {rng.randint(1, 180)}{rng.choice(['', '', '', 'a', 'b'])}"
        if rng.random() < 0.6:
            postcode, city = rng.choice(DE_CITIES)
            return f"{street}, {postcode} {city}"
        return street
    if rng.random() < 0.1:
        return rng.choice(["221B Baker Street, London NW1 6XE", "1600 Amphitheatre Parkway, Mountain View, CA 94043"])
    street = f"{rng.randint(1, 2400)} {rng.choice(EN_STREETS)} {rng.choice(EN_SUFFIXES)}"
    roll = rng.random()
    if roll < 0.4:
        city, state, zip_code = rng.choice(US_CITIES)
        return f"{street}, {city}, {state} {zip_code}"
    if roll < 0.7:
        city, postcode = rng.choice(UK_CITIES)
        return f"{street}, {city} {postcode}"
    return street


def date(rng: random.Random, lang: str) -> str:
    day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.choice([2024, 2025, 2026])
    if lang == "de":
        return rng.choice([f"{day:02d}.{month:02d}.{year}", f"{day}.{month}.", f"{day}. {MONTHS_DE[month % 10]}"])
    return rng.choice([f"{MONTHS_EN[month % 10]} {day}", f"{day} {MONTHS_EN[month % 10]} {year}",
                       f"{month:02d}/{day:02d}/{year}", f"{year}-{month:02d}-{day:02d}"])  # fmt: skip


def price(rng: random.Random, lang: str, small: bool = False) -> str:
    amount = rng.randint(9, 199) if small else rng.randint(800, 95000)
    cents = rng.choice(["00", "90", "99", "50"])
    if lang == "de":
        whole = f"{amount:,}".replace(",", ".")
        return rng.choice([f"{whole},{cents} €", f"{whole} €", f"€ {whole}", f"EUR {whole},{cents}"])
    return rng.choice([f"${amount:,}", f"€{amount:,}", f"£{amount:,}.{cents}", f"USD {amount:,}.{cents}"])


def context_values(rng: random.Random, lang: str) -> dict[str, Callable[[], str]]:
    """The non-PII fields; callables, so only the fields a template uses consume random numbers."""
    de = lang == "de"
    year = rng.choice([2024, 2025, 2026])
    return {
        "date": lambda: date(rng, lang), "date2": lambda: date(rng, lang),
        "date_iso": lambda: f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "price": lambda: price(rng, lang), "price_small": lambda: price(rng, lang, small=True),
        "price_small2": lambda: price(rng, lang, small=True),
        "count": lambda: str(rng.choice([3, 5, 8, 12, 25, 40, 120, 250])),
        "order": lambda: rng.choice([f"{year}-{rng.randint(100, 999)}", f"A-{year}-{rng.randint(1, 999):04d}",
                                     f"Q-{year}-{rng.randint(1, 999):03d}"]),  # fmt: skip
        "time": lambda: rng.choice(["9:30", "10:00", "14:30", "16.15"] if de else ["9:30am", "2pm", "14:30"]),
        "weekday": lambda: rng.choice(WEEKDAYS_DE if de else WEEKDAYS_EN),
        "month": lambda: rng.choice(MONTHS_DE if de else MONTHS_EN),
        "bic": lambda: rng.choice(["COBADEFFXXX", "DEUTDEFF", "INGDDEFFXXX", "BARCGB22", "RABONL2U", "GENODEF1M04"]),
        "product": lambda: rng.choice(PRODUCTS_DE if de else PRODUCTS_EN), "bank": lambda: rng.choice(BANKS),
        "expiry": lambda: f"{rng.randint(1, 12):02d}/{rng.randint(26, 30)}",
        "version": lambda: f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
        "pct": lambda: rng.choice(["15 %", "12,5 %", "8%", "3 Prozent"] if de else ["15%", "12.5%", "8 percent"]),
        "quarter": lambda: str(rng.randint(1, 4)), "year": lambda: str(year), "next_year": lambda: str(year + 1),
        "postcode": lambda: rng.choice(DE_CITIES)[0],
        "city": lambda: rng.choice(DE_CITIES)[1] if de else rng.choice(US_CITIES + UK_CITIES)[0],
        "zip": lambda: rng.choice(US_CITIES)[2],
        "custno": lambda: rng.choice([f"00{digits(rng, 8)}", f"{digits(rng, 7)}", f"K-{digits(rng, 6)}"]),
        "invoice": lambda: rng.choice([f"RE-{year}-{rng.randint(1, 9999):05d}", f"{year}{rng.randint(1, 9999):04d}",
                                       f"INV-{year}-{rng.randint(1, 9999):05d}"]),  # fmt: skip
        "months": lambda: str(rng.choice([12, 24, 36])),
        "orderno": lambda: rng.choice([f"45{digits(rng, 8)}", f"0{digits(rng, 9)}", f"{digits(rng, 6)}"]),
        "tracking": lambda: rng.choice([f"00340434{digits(rng, 12)}", f"1Z999AA1{digits(rng, 10)}"]),
        "ticket": lambda: digits(rng, 5), "errcode": lambda: f"E-{rng.randint(1000, 9999)}",
        "vatid": lambda: f"DE{digits(rng, 9)}", "hrb": lambda: digits(rng, 5),
        "contract": lambda: f"V-{year}-{digits(rng, 4)}" if de else f"C-{digits(rng, 6)}",
        "build": lambda: f"{year}.{rng.randint(1, 12):02d}.{digits(rng, 4)}", "week": lambda: str(rng.randint(1, 52)),
        "area": lambda: f"{rng.randint(2, 40) * 50}", "room": lambda: f"{rng.randint(1, 5)}.{rng.randint(1, 30):02d}",
        "po": lambda: f"PO-{year}-{digits(rng, 4)}",
        "sku": lambda: f"{digits(rng, 3)}-{digits(rng, 4)}-{digits(rng, 2)}",
        "company_no": lambda: f"0{digits(rng, 7)}",
        "gbvat": lambda: f"{digits(rng, 3)} {digits(rng, 4)} {digits(rng, 2)}",
    }  # fmt: skip


def fill(template: str, rng: random.Random, lang: str) -> tuple[str, list[dict[str, str]]]:
    """The template with every field filled, and the PII planted, in order of appearance."""
    first_names, last_names = (DE_FIRST, DE_LAST) if lang == "de" else (EN_FIRST, EN_LAST)
    companies = DE_COMPANIES if lang == "de" else EN_COMPANIES
    first, last = rng.choice(first_names), rng.choice(last_names)
    first2, last2 = rng.choice(first_names), rng.choice(last_names)
    company, slug = rng.choice(companies)
    rep_first, rep_last = rng.choice(first_names), rng.choice(last_names)
    phone = de_phone if lang == "de" else en_phone
    makers: dict[str, Callable[[], str]] = {
        "name": lambda: f"{first} {last}", "first": lambda: first, "name2": lambda: f"{first2} {last2}",
        "rep": lambda: f"{'Frau' if rng.random() < 0.5 else 'Herr'} {rep_last}" if lang == "de" else rep_first,
        "rep_first": lambda: rep_first, "company": lambda: company,
        "email": lambda: email(rng, first, last, slug, lang), "email2": lambda: email(rng, first2, last2, slug, lang),
        "phone": lambda: phone(rng), "phone2": lambda: phone(rng), "iban": lambda: iban(rng),
        "card": lambda: card(rng), "address": lambda: address(rng, lang),
        **context_values(rng, lang),
    }  # fmt: skip
    values: dict[str, str] = {}
    pii: list[dict[str, str]] = []
    for _, field, _, _ in string.Formatter().parse(template):
        if field is None:
            continue
        if field not in values:
            values[field] = makers[field]()
        if field in PII_FIELDS:
            pii.append({"kind": PII_FIELDS[field], "value": values[field]})
    return template.format(**values), pii


def generate() -> list[dict[str, object]]:
    """Every message, in file order; the same list on every run (one seeded generator)."""
    rng = random.Random(7)
    messages: list[dict[str, object]] = []
    for lang, templates, distractors in (("de", DE_TEMPLATES, DE_DISTRACTORS), ("en", EN_TEMPLATES, EN_DISTRACTORS)):
        # every template at least three times, in shuffled order, then random ones up to the count
        order = templates * (PII_PER_LANGUAGE // len(templates))
        order += rng.sample(templates, PII_PER_LANGUAGE - len(order))
        rng.shuffle(order)
        order += rng.sample(distractors, DISTRACTORS_PER_LANGUAGE)
        for number, template in enumerate(order, start=1):
            text, pii = fill(template, rng, lang)
            assert all(item["value"] in text for item in pii)
            assert bool(pii) == (number <= PII_PER_LANGUAGE), template
            assert not pii or {item["kind"] for item in pii} & {"email", "phone", "iban"}, template
            messages.append({"id": f"{lang}-{number:03d}", "lang": lang, "text": text, "pii": pii})
    return messages


def render(messages: list[dict[str, object]]) -> str:
    return "".join(json.dumps(message, ensure_ascii=False) + "\n" for message in messages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file differs from the output")
    args = parser.parse_args(argv)
    content = render(generate())
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else None
        if current != content:
            print(f"{OUT} is stale: run python {Path(__file__).as_posix()} to regenerate it", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(content, encoding="utf-8")
    print(f"wrote {len(content.splitlines())} messages to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
