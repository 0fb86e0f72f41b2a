"""Write the demo seed data of the ``core`` pack (``metadata/core/seed/*.yaml``).

The data is deterministic: one ``random.Random(2026)`` drives every choice and all dates
are relative to the fixed anchor date 2026-11-01, so running the generator twice gives
byte-identical files (and diffs of the seed stay reviewable). Only the standard library
and PyYAML are used.

Seed files are loaded in file-name order. A value "@key" points at the record whose
``_ref`` is ``key`` in an earlier file (records of one file are created together, so they
cannot point at each other); other packs' seeds may use the refs
written here: ``acc_001``..``acc_150``, ``con_001``..``con_400``, ``prd_<sku>`` (see
``PRODUCTS``), ``badge_<title>`` and ``crm_settings``. Records are owned by the demo
logins (``"@user:sales.rep@demo.tessera.dev"``, resolved by the seed loader), and
activities name their ``account``, so they show on its timeline.

Before writing, every record is checked against the entity definitions in
``metadata/core/entities`` (known fields, enum options, lengths, formats), so the seed
cannot drift from the metadata unnoticed.

Usage::

    python examples/demo_data/generate_core_seed.py [--out DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import unicodedata
from pathlib import Path
from random import Random
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "metadata" / "core"
ANCHOR = dt.date(2026, 11, 1)
SEED = 2026
N_ACCOUNTS = 150
N_SUBSIDIARIES = 14
N_CONTACTS = 400
N_ACTIVITIES = 2400
# The demo logins (engine/demo.py) that own the sample records; seed files name them as
# "@user:EMAIL". A separate random stream picks owners, so the rest of the data does not move.
SALES_USERS = {"sales.rep@demo.tessera.dev": 6, "sales.manager@demo.tessera.dev": 3, "director@demo.tessera.dev": 1}
SUPPORT_USERS = ["support.agent@demo.tessera.dev", "support.lead@demo.tessera.dev", "technician@demo.tessera.dev"]

# --------------------------------------------------------------------------------------
# Product catalog. One product a line under its category:
#   sku | name | oem | list price | cost | unit | service tier | service months |
#   warranty months | WooCommerce id
# An empty cell does not apply; services without an OEM are our own.
# --------------------------------------------------------------------------------------
PRODUCT_TABLE = """
[hardware]
C9300-48P-E | Cisco Catalyst 9300 48-port PoE+ switch | Cisco | 9850 | 7420 | each |  |  | 12 |
C9200L-24P-4G-E | Cisco Catalyst 9200L 24-port PoE+ switch | Cisco | 3290 | 2480 | each |  |  | 12 | 1101
ISR4331/K9 | Cisco ISR 4331 integrated services router | Cisco | 4650 | 3510 | each |  |  | 12 |
MR46-HW | Cisco Meraki MR46 Wi-Fi 6 access point | Cisco | 1149 | 865 | each |  |  | 12 | 1102
FG-100F | Fortinet FortiGate 100F firewall | Fortinet | 3795 | 2890 | each |  |  | 12 | 1103
FG-60F | Fortinet FortiGate 60F firewall | Fortinet | 899 | 675 | each |  |  | 12 | 1104
PE-R760-BASE | Dell PowerEdge R760 rack server | Dell | 11900 | 9150 | each |  |  | 36 |
PE-R660-BASE | Dell PowerEdge R660 rack server | Dell | 8450 | 6480 | each |  |  | 36 |
LAT-5450 | Dell Latitude 5450 laptop | Dell | 1389 | 1090 | each |  |  | 36 | 1105
OPT-7020-MT | Dell OptiPlex 7020 tower PC | Dell | 949 | 742 | each |  |  | 36 | 1106
P52534-B21 | HPE ProLiant DL380 Gen11 server | HPE | 12450 | 9560 | each |  |  | 36 |
JL661A | HPE Aruba CX 6300M 48-port switch | HPE | 7980 | 6020 | each |  |  | 12 |
ALT-6010 | HPE Alletra 6010 all-flash storage | HPE | 38500 | 29900 | each |  |  | 36 |
21ML-T14G5 | Lenovo ThinkPad T14 Gen 5 laptop | Lenovo | 1459 | 1140 | each |  |  | 36 | 1107
7D76-SR650V3 | Lenovo ThinkSystem SR650 V3 server | Lenovo | 10890 | 8340 | each |  |  | 36 |
SMT3000RMI2U | APC Smart-UPS 3000 VA rack-mount | APC | 2190 | 1640 | each |  |  | 24 | 1108
[software]
WS25-STD-16C | Windows Server 2025 Standard, 16 cores | Microsoft | 1099 | 905 | each |  |  |  | 1201
SQL22-STD-2C | SQL Server 2022 Standard, 2 cores | Microsoft | 4390 | 3720 | core |  |  |  |
VEEAM-VBR-ENT | Veeam Backup & Replication Enterprise Plus | Veeam | 2450 | 1960 | each |  |  |  |
VISIO-24-PRO | Microsoft Visio Professional 2024 | Microsoft | 689 | 560 | each |  |  |  | 1202
[license]
M365-E3-1Y | Microsoft 365 E3, annual subscription | Microsoft | 433.2 | 389.88 | user |  | 12 |  | 1301
M365-BP-1Y | Microsoft 365 Business Premium, annual | Microsoft | 264 | 237.6 | user |  | 12 |  | 1302
VVF-CORE-1Y | VMware vSphere Foundation, per core, 1 year | VMware | 175 | 148 | core |  | 12 |  |
VCF-CORE-3Y | VMware Cloud Foundation, per core, 3 years | VMware | 1050 | 890 | core |  | 36 |  |
FC-10-F100F-950 | FortiGuard UTP, FortiGate 100F, 1 year | Fortinet | 1690 | 1270 | device |  | 12 |  | 1303
C9300-DNA-A-48-3Y | Cisco DNA Advantage for C9300-48, 3 years | Cisco | 5920 | 4560 | device |  | 36 |  |
SOPH-IXA-1Y | Sophos Intercept X Advanced, per user, 1 year | Sophos | 39.5 | 28.9 | user |  | 12 |  | 1304
RHEL-STD-1Y | Red Hat Enterprise Linux Server Standard, 1 year | Red Hat | 799 | 655 | each |  | 12 |  |
[service]
SVC-NET-ASSESS | Network assessment (day rate) |  | 1250 | 640 | day |  |  |  |
SVC-INSTALL-HR | Installation & configuration (hourly) |  | 145 | 72 | hour |  |  |  |
SVC-FW-DEPLOY | Firewall deployment package |  | 2900 | 1480 | each |  |  |  |
SVC-M365-MIG | Microsoft 365 migration, per mailbox |  | 39 | 18 | user |  |  |  | 1401
SVC-PM-DAY | Project management (day rate) |  | 1150 | 590 | day |  |  |  |
SVC-TRAIN-DAY | On-site training day |  | 1490 | 720 | day |  |  |  |
SVC-MNGD-FW-1Y | Managed firewall service, 1 year |  | 2400 | 1150 | device | silver | 12 |  |
[amc]
AMC-NET-GOLD-1Y | AMC Gold for network devices, 24x7, 4h on-site |  | 890 | 420 | device | gold | 12 |  |
AMC-NET-SILVER-1Y | AMC Silver for network devices, 8x5, NBD |  | 540 | 250 | device | silver | 12 |  |
AMC-NET-BRONZE-1Y | AMC Bronze for network devices, 8x5, remote |  | 290 | 130 | device | bronze | 12 |  |
AMC-SRV-GOLD-3Y | AMC Gold for servers and storage, 24x7, 3 years |  | 4200 | 2050 | device | gold | 36 |  |
AMC-SRV-SILVER-1Y | AMC Silver for servers, 8x5, NBD |  | 980 | 470 | device | silver | 12 |  |
"""


def parse_products() -> list[tuple[Any, ...]]:
    """``PRODUCT_TABLE`` as tuples (sku, name, category, oem, list_price, cost, unit,
    service_tier, service_months, warranty_months, woo_id); empty cells become None."""
    rows, category = [], None
    for line in PRODUCT_TABLE.strip().splitlines():
        if line.startswith("["):
            category = line.strip("[]")
            continue
        cells: list[Any] = [c.strip() or None for c in line.split("|")]
        cells += [None] * (10 - len(cells))
        sku, name, oem, price, cost, unit, tier, months, warranty, woo_id = cells
        number = float if "." in price + cost else int
        rows.append(
            (
                sku,
                name,
                category,
                oem,
                number(price),
                number(cost),
                unit,
                tier,
                *(int(v) if v else None for v in (months, warranty, woo_id)),
            )
        )
    return rows


PRODUCTS = parse_products()

PRODUCT_BLURBS = {
    "hardware": "Hardware delivered, installed and registered with the OEM on request.",
    "software": "Perpetual licence; media and keys delivered electronically.",
    "license": "Subscription licence; renewal reminders are sent before expiry.",
    "service": "Delivered by our certified engineers; billed per unit as stated.",
    "amc": "Annual maintenance contract; the service tier sets response and resolution targets.",
}

# --------------------------------------------------------------------------------------
# Countries. Cities are (name, phone area code, postcode range or UK outward codes or None
# for none, time zone when it differs from the country's).
# Phone numbers use fictional ranges where a country reserves them (US 555-01xx, UK Ofcom
# drama numbers), otherwise random digits.
# --------------------------------------------------------------------------------------
# fmt: off
COUNTRIES: dict[str, dict[str, Any]] = {
    "DE": {
        "name": "Germany", "cc": "49", "tld": "de", "tz": "Europe/Berlin", "lang": "de", "names": "de",
        "count": 44,
        "cities": [("Berlin", "30", (10115, 14199)), ("München", "89", (80331, 81929)),
                   ("Hamburg", "40", (20095, 22769)), ("Frankfurt am Main", "69", (60311, 60599)),
                   ("Köln", "221", (50667, 51149)), ("Stuttgart", "711", (70173, 70629)),
                   ("Düsseldorf", "211", (40210, 40629)), ("Leipzig", "341", (4103, 4357)),
                   ("Hannover", "511", (30159, 30669)), ("Nürnberg", "911", (90402, 90491)),
                   ("Dresden", "351", (1067, 1328)), ("Bremen", "421", (28195, 28779))],
        "streets": ["Friedrichstraße", "Hauptstraße", "Bahnhofstraße", "Industriestraße", "Kaiserstraße",
                    "Lindenallee", "Schillerstraße", "Goethestraße", "Hafenstraße", "Mainzer Landstraße",
                    "Leopoldstraße", "Am Gewerbepark", "Königsallee", "Otto-Hahn-Straße", "Siemensstraße"],
        "mobile": ["151", "152", "160", "170", "171", "176", "178"], "mobile_digits": 8,
        "legal": [("GmbH", "gmbh", 6), ("AG", "ag", 2), ("GmbH & Co. KG", "kg", 2)],
    },
    "AT": {
        "name": "Austria", "cc": "43", "tld": "at", "tz": "Europe/Vienna", "lang": "de-AT", "names": "de",
        "count": 10,
        "cities": [("Wien", "1", (1010, 1230)), ("Graz", "316", (8010, 8063)), ("Linz", "732", (4020, 4040)),
                   ("Salzburg", "662", (5020, 5026)), ("Innsbruck", "512", (6020, 6080))],
        "streets": ["Mariahilfer Straße", "Ringstraße", "Landstraßer Hauptstraße", "Wiener Straße",
                    "Herrengasse", "Museumstraße", "Linzer Straße"],
        "mobile": ["664", "676", "699", "650"], "mobile_digits": 7,
        "legal": [("GmbH", "gmbh", 7), ("AG", "ag", 2)],
    },
    "CH": {
        "name": "Switzerland", "cc": "41", "tld": "ch", "tz": "Europe/Zurich", "lang": "de-CH", "names": "de",
        "count": 10,
        "cities": [("Zürich", "44", (8001, 8057)), ("Genève", "22", (1201, 1209)),
                   ("Basel", "61", (4001, 4059)), ("Bern", "31", (3001, 3030)),
                   ("Lausanne", "21", (1003, 1018))],
        "streets": ["Bahnhofstrasse", "Seestrasse", "Badenerstrasse", "Rue du Rhône", "Hardstrasse",
                    "Spitalgasse", "Avenue de la Gare"],
        "mobile": ["76", "77", "78", "79"], "mobile_digits": 7,
        "legal": [("AG", "ag", 5), ("GmbH", "gmbh", 4), ("SA", "sa", 1)],
    },
    "NL": {
        "name": "Netherlands", "cc": "31", "tld": "nl", "tz": "Europe/Amsterdam", "lang": "nl", "names": "nl",
        "count": 10,
        "cities": [("Amsterdam", "20", (1011, 1109)), ("Rotterdam", "10", (3011, 3089)),
                   ("Utrecht", "30", (3511, 3585)), ("Den Haag", "70", (2511, 2597)),
                   ("Eindhoven", "40", (5611, 5658))],
        "streets": ["Herengracht", "Keizersgracht", "Stationsplein", "Coolsingel", "Laan van Kronenburg",
                    "Piet Heinkade", "Kanaalweg", "Catharinasingel"],
        "mobile": ["6"], "mobile_digits": 8, "legal": [("B.V.", "bv", 8), ("N.V.", "nv", 1)],
    },
    "GB": {
        "name": "United Kingdom", "short": "UK", "cc": "44", "tld": "co.uk", "tz": "Europe/London",
        "lang": "en-GB", "names": "gb", "count": 15,
        "cities": [("London", "20", ["EC1V", "EC2A", "SE1", "W1T", "N1", "E14"]),
                   ("Manchester", "161", ["M1", "M2", "M3"]), ("Birmingham", "121", ["B1", "B2", "B3"]),
                   ("Leeds", "113", ["LS1", "LS2", "LS11"]), ("Edinburgh", "131", ["EH1", "EH2", "EH3"]),
                   ("Bristol", "117", ["BS1", "BS2", "BS8"])],
        "streets": ["High Street", "King Street", "Deansgate", "Victoria Street", "Queen Street",
                    "Canada Square", "Park Row", "George Street", "Broad Street"],
        "mobile": ["7700"], "mobile_digits": 6, "legal": [("Ltd", "ltd", 8), ("PLC", "plc", 2)],
    },
    "FR": {
        "name": "France", "cc": "33", "tld": "fr", "tz": "Europe/Paris", "lang": "fr", "names": "fr",
        "count": 8,
        "cities": [("Paris", "1", (75001, 75020)), ("Lyon", "4", (69001, 69009)),
                   ("Toulouse", "5", (31000, 31500)), ("Lille", "3", (59000, 59800)),
                   ("Nantes", "2", (44000, 44300)), ("Marseille", "4", (13001, 13016))],
        "streets": ["rue de Rivoli", "boulevard Haussmann", "rue de la République", "avenue Jean Jaurès",
                    "quai Perrache", "rue Nationale", "cours Lafayette"],
        "mobile": ["6", "7"], "mobile_digits": 8, "legal": [("SAS", "sa", 6), ("S.A.", "sa", 2)],
    },
    "US": {
        "name": "United States", "short": "USA", "cc": "1", "tld": "com", "tz": "America/New_York",
        "lang": "en-US", "names": "us", "count": 15,
        "cities": [("New York", "212", (10001, 10282), "America/New_York"),
                   ("Chicago", "312", (60601, 60661), "America/Chicago"),
                   ("Austin", "512", (78701, 78759), "America/Chicago"),
                   ("San Francisco", "415", (94102, 94134), "America/Los_Angeles"),
                   ("Boston", "617", (2108, 2137), "America/New_York"),
                   ("Seattle", "206", (98101, 98199), "America/Los_Angeles"),
                   ("Atlanta", "404", (30303, 30363), "America/New_York")],
        "streets": ["Fifth Avenue", "Main Street", "Market Street", "Congress Avenue", "Michigan Avenue",
                    "Peachtree Street", "Boylston Street", "Pine Street"],
        "mobile": None, "mobile_digits": 0, "legal": [("Inc.", "inc", 6), ("LLC", "llc", 4)],
    },
    "IN": {
        "name": "India", "cc": "91", "tld": "co.in", "tz": "Asia/Kolkata", "lang": "en-IN", "names": "in",
        "count": 14,
        "cities": [("Mumbai", "22", (400001, 400104)), ("Bengaluru", "80", (560001, 560103)),
                   ("New Delhi", "11", (110001, 110096)), ("Pune", "20", (411001, 411062)),
                   ("Chennai", "44", (600001, 600119)), ("Hyderabad", "40", (500001, 500096))],
        "streets": ["Bandra Kurla Complex", "MG Road", "Outer Ring Road", "Hitech City Road", "Nehru Place",
                    "Anna Salai", "Senapati Bapat Road"],
        "mobile": ["98", "97", "99", "90", "88"], "mobile_digits": 8,
        "legal": [("Pvt. Ltd.", "pvt_ltd", 7), ("Ltd.", "ltd", 2)],
    },
    "AE": {
        "name": "United Arab Emirates", "short": "Middle East", "cc": "971", "tld": "ae", "tz": "Asia/Dubai",
        "lang": "ar", "names": "ae", "count": 10,
        "cities": [("Dubai", "4", None), ("Abu Dhabi", "2", None), ("Sharjah", "6", None)],
        "streets": ["Sheikh Zayed Road", "Al Maryah Island", "Dubai Internet City", "Corniche Road",
                    "Al Wahda Street", "Business Bay"],
        "mobile": ["50", "52", "55", "56"], "mobile_digits": 7,
        "legal": [("LLC", "llc", 6), ("FZE", "fze", 3)],
    },
    "IR": {
        "name": "Iran", "cc": "98", "tld": "ir", "tz": "Asia/Tehran", "lang": "fa", "names": "ir",
        "count": 12,
        "cities": [("Tehran", "21", (11369, 19999)), ("Isfahan", "31", (81000, 81999)),
                   ("Shiraz", "71", (71000, 71999)), ("Mashhad", "51", (91000, 91999)),
                   ("Tabriz", "41", (51000, 51999))],
        "streets": ["Valiasr Street", "Mirdamad Boulevard", "Enghelab Street", "Motahari Street",
                    "Chaharbagh Street", "Azadi Street"],
        "mobile": ["912", "935", "919", "901", "937"], "mobile_digits": 7,
        "legal": [("PJS", "pjs", 3), ("Co.", "other", 6)],
    },
}

FIRST_NAMES: dict[str, tuple[list[str], list[str]]] = {  # (male, female)
    "de": (["Thomas", "Michael", "Andreas", "Stefan", "Jürgen", "Markus", "Christian", "Frank", "Tobias",
            "Jan", "Lukas", "Florian", "Matthias", "Sebastian", "Klaus", "Uwe", "Dirk", "Timo", "Jens",
            "Felix"],
           ["Sabine", "Anna", "Julia", "Claudia", "Katrin", "Stefanie", "Nicole", "Sandra", "Laura", "Lena",
            "Birgit", "Anja", "Petra", "Miriam", "Jana", "Franziska", "Monika", "Sophie", "Ines", "Carolin"]),
    "nl": (["Daan", "Sem", "Bram", "Jeroen", "Pieter", "Ruben", "Thijs", "Maarten", "Sander", "Joost"],
           ["Sanne", "Lotte", "Femke", "Anouk", "Eva", "Marieke", "Lieke", "Noor", "Esther", "Iris"]),
    "gb": (["James", "Oliver", "Harry", "George", "William", "Thomas", "Daniel", "Matthew", "Richard",
            "Paul"],
           ["Emma", "Charlotte", "Sophie", "Emily", "Olivia", "Hannah", "Lucy", "Rachel", "Sarah",
            "Victoria"]),
    "us": (["Michael", "David", "John", "Robert", "Chris", "Brian", "Kevin", "Jason", "Ryan", "Eric"],
           ["Jennifer", "Jessica", "Ashley", "Amanda", "Megan", "Lauren", "Rachel", "Nicole", "Stephanie",
            "Emily"]),
    "fr": (["Pierre", "Nicolas", "Julien", "Antoine", "Mathieu", "Thomas", "Sébastien", "Guillaume",
            "Olivier", "Laurent"],
           ["Marie", "Camille", "Julie", "Sophie", "Claire", "Émilie", "Céline", "Nathalie", "Aurélie",
            "Chloé"]),
    "in": (["Rahul", "Amit", "Vikram", "Arjun", "Suresh", "Rajesh", "Sanjay", "Anil", "Karthik", "Pradeep",
            "Rohan", "Aditya"],
           ["Priya", "Ananya", "Deepa", "Kavita", "Neha", "Pooja", "Sneha", "Lakshmi", "Divya", "Meera"]),
    "ae": (["Mohammed", "Ahmed", "Khalid", "Omar", "Rashid", "Saeed", "Hamad", "Yousef", "Ali", "Faisal"],
           ["Fatima", "Aisha", "Mariam", "Noura", "Layla", "Hessa", "Sara", "Amna", "Reem", "Shamma"]),
    "ir": (["Reza", "Ali", "Mohammad", "Hossein", "Mehdi", "Amir", "Saeed", "Behnam", "Kaveh", "Arash",
            "Farhad", "Navid"],
           ["Maryam", "Zahra", "Fatemeh", "Sara", "Neda", "Leila", "Shirin", "Parisa", "Mina", "Nazanin",
            "Roya", "Elham"]),
}

LAST_NAMES: dict[str, list[str]] = {
    "de": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
           "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
           "Braun", "Krüger", "Hartmann", "Lange", "Werner", "Krause", "Lehmann", "Köhler", "Huber", "Berger",
           "Gruber", "Steiner", "Moser", "Keller"],
    "nl": ["de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Visser", "Smit", "Meijer",
           "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks"],
    "gb": ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
           "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Clarke",
           "Hughes"],
    "us": ["Miller", "Davis", "Garcia", "Rodriguez", "Martinez", "Anderson", "Thomas", "Jackson", "Moore",
           "Martin", "Lee", "Perez", "Harris", "Clark", "Lewis", "Young", "Allen", "King", "Scott", "Nguyen"],
    "fr": ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
           "Simon", "Laurent", "Lefèvre", "Michel", "Garnier", "David", "Bertrand", "Roux", "Vincent",
           "Fournier"],
    "in": ["Sharma", "Patel", "Iyer", "Reddy", "Gupta", "Nair", "Mehta", "Rao", "Singh", "Kumar", "Menon",
           "Desai", "Joshi", "Chatterjee", "Banerjee", "Kulkarni", "Pillai", "Verma"],
    "ae": ["Al Mansoori", "Al Hashimi", "Al Suwaidi", "Al Nuaimi", "Al Mazrouei", "Al Falasi", "Al Ketbi",
           "Al Shamsi", "Haddad", "Khoury", "Saleh", "Nasser"],
    "ir": ["Ahmadi", "Hosseini", "Karimi", "Rahimi", "Mohammadi", "Moradi", "Rezaei", "Jafari", "Ghasemi",
           "Sadeghi", "Kazemi", "Tehrani", "Rostami", "Shirazi", "Esfahani", "Farahani"],
}

# Company name stems per country (fictional); public bodies, clinics and schools use the city.
# City names are written as locals write them (München, Genève), country names in English.
STEMS: dict[str, list[str]] = {
    "DE": ["Nordlicht", "Rheinland", "Hansa", "Weserberg", "Alpenblick", "Schwarzwald", "Elbtal", "Bergmann",
           "Falkenstein", "Lindenhof", "Brandt", "Kranich", "Sonnenfeld", "Adler", "Mainufer", "Isartal",
           "Hohenstein", "Eichwald", "Donau", "Spree", "Ostsee", "Sternberg", "Fichtel", "Neckar", "Greif",
           "Wendelstein", "Hirschberg", "Mühlbach", "Taunus", "Harz", "Kessler", "Vogt", "Lorenz", "Engel",
           "Baumann", "Auerbach", "Rosental", "Kiefer", "Seeberg", "Waldeck", "Feldmann", "Brückner", "Heide",
           "Lahn", "Sauerland", "Wittmann", "Rhön", "Moselblick"],
    "AT": ["Donauwelle", "Kaiserberg", "Tauern", "Wachau", "Edelweiss", "Arlberg", "Semmering", "Traunsee",
           "Kahlenberg", "Gmunden", "Steirer", "Pongau"],
    "CH": ["Helvetia", "Säntis", "Matterhorn", "Limmat", "Jungfrau", "Pilatus", "Rigi", "Leman", "Aare",
           "Gotthard", "Bernina", "Engadin"],
    "NL": ["Oranje", "Delta", "Polder", "Zuidkust", "Tulp", "Molenwaard", "Noordzee", "Van Leeuwen",
           "Kroonpoort", "Dijkstra", "Windkracht", "Grachten"],
    "GB": ["Thames", "Pennine", "Crown", "Albion", "Kingsbridge", "Harbour", "Oakfield", "Redbrick",
           "Northgate", "Whitfield", "Sterling", "Cotswold", "Fairway", "Highland", "Mersey", "Blackwood",
           "Ashford"],
    "FR": ["Lumière", "Provence", "Rivoli", "Atlantique", "Azur", "Loire", "Mistral", "Bellevue", "Dauphin",
           "Garonne"],
    "US": ["Summit", "Liberty", "Cascade", "Pioneer", "Redwood", "Ironclad", "Bluewater", "Lakeshore",
           "Keystone", "Evergreen", "Granite", "Horizon", "Northstar", "Silverline", "Prairie", "Bayview",
           "Frontier"],
    "IN": ["Sahyadri", "Ganga", "Kaveri", "Indus", "Vindhya", "Lotus", "Suryoday", "Nilgiri", "Himalaya",
           "Narmada", "Deccan", "Shakti", "Aravali", "Godavari", "Konark", "Tapti"],
    "AE": ["Falcon", "Al Noor", "Emirates Crest", "Gulf Pearl", "Oasis", "Al Safa", "Desert Rose", "Marina",
           "Al Reem", "Palm", "Sandstone", "Dhow"],
    "IR": ["Pars", "Alborz", "Zagros", "Kavir", "Persepolis", "Damavand", "Golestan", "Arvand", "Caspian",
           "Sepahan", "Simorgh", "Tous", "Khazar", "Karun"],
}

GERMAN = {"DE", "AT", "CH"}
#: industries whose large customers are groups with subsidiaries
GROUP_INDUSTRIES = {"automotive", "banking", "chemicals", "construction", "energy", "food", "insurance",
                    "it_services", "logistics", "manufacturing", "media", "pharma", "professional_services",
                    "retail", "telecom"}

INDUSTRY_WORDS: dict[str, tuple[list[str], list[str]]] = {  # (German, English)
    "manufacturing": (["Maschinenbau", "Anlagenbau", "Präzisionstechnik"],
                      ["Manufacturing", "Engineering", "Industries"]),
    "automotive": (["Fahrzeugtechnik", "Automotive"], ["Automotive", "Motors"]),
    "banking": (["Privatbank", "Bank"], ["Bank", "Capital"]),
    "insurance": (["Versicherung", "Versicherungsgruppe"], ["Insurance", "Assurance"]),
    "healthcare": (["Kliniken", "Gesundheitszentrum"], ["Healthcare", "Medical Center"]),
    "pharma": (["Pharma", "Life Sciences"], ["Pharmaceuticals", "Life Sciences"]),
    "retail": (["Handelshaus", "Warenhaus"], ["Retail", "Stores"]),
    "logistics": (["Logistik", "Spedition"], ["Logistics", "Freight"]),
    "telecom": (["Netz", "Telekom"], ["Telecom", "Networks"]),
    "energy": (["Energie", "Energiesysteme"], ["Energy", "Power"]),
    "hospitality": (["Hotels", "Hotelgruppe"], ["Hotels", "Resorts"]),
    "media": (["Medien", "Verlag"], ["Media", "Publishing"]),
    "it_services": (["IT-Services", "Software"], ["Technologies", "Software", "Digital"]),
    "construction": (["Bau", "Immobilien"], ["Construction", "Properties"]),
    "professional_services": (["Consulting", "Treuhand"], ["Consulting", "Advisory", "Partners"]),
    "chemicals": (["Chemie"], ["Chemicals"]), "food": (["Lebensmittel", "Brauerei"], ["Foods", "Beverages"]),
}
# Weighted industry mix of an IT system integrator's customer base.
INDUSTRY_WEIGHTS = {
    "manufacturing": 14, "automotive": 5, "banking": 6, "insurance": 4, "healthcare": 8, "pharma": 4,
    "retail": 7, "logistics": 7, "telecom": 3, "energy": 5, "public_sector": 7, "education": 5,
    "hospitality": 3, "media": 3, "it_services": 6, "construction": 4, "professional_services": 6,
    "chemicals": 3, "food": 3, "non_profit": 2,
}

SENIOR_TITLES = [("Chief Information Officer", "IT", "Decision maker"),
                 ("Head of IT", "IT", "Decision maker"), ("IT Director", "IT", "Decision maker"),
                 ("Chief Technology Officer", "Management", "Decision maker"),
                 ("Chief Financial Officer", "Finance", "Economic buyer"),
                 ("Managing Director", "Management", "Economic buyer")]
STAFF_TITLES = [("IT Manager", "IT", "Champion"),
                ("Network Engineer", "IT Infrastructure", "Technical evaluator"),
                ("System Administrator", "IT Operations", "End user"),
                ("Procurement Manager", "Purchasing", "Economic buyer"),
                ("Chief Information Security Officer", "Information Security", "Influencer"),
                ("Head of Infrastructure", "IT Infrastructure", "Technical evaluator"),
                ("Service Desk Lead", "IT Operations", "End user"),
                ("Purchasing Agent", "Purchasing", "Gatekeeper"),
                ("Financial Controller", "Finance", "Influencer"),
                ("Data Center Manager", "IT Infrastructure", "Technical evaluator"),
                ("Project Manager", "PMO", "Influencer"), ("Cloud Architect", "IT", "Technical evaluator"),
                ("Office Manager", "Administration", "Gatekeeper")]

SOURCE_WEIGHTS = {
    "webform": 12, "email": 6, "chat": 3, "phone": 8, "referral": 14, "event": 10, "import": 6, "partner": 10,
    "social": 5, "campaign": 8, "cold_outreach": 12, "other": 2,
}
ACCOUNT_TAGS = ["key_account", "strategic", "reference_customer", "new_logo", "public_tender",
                "managed_services", "at_risk"]


# fmt: on


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------
def ascii_slug(text: str, sep: str = "") -> str:
    """'Jürgen Müller' -> 'juergenmueller' (umlauts spelled out, accents dropped)."""
    text = text.lower()
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(a, b)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", sep, text)
    return text.strip(sep)


def weighted(rng: Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def digits(rng: Random, n: int) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(n))


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


class Place:
    """Phone numbers, streets and postcodes of one city."""

    def __init__(self, country: str, spec: tuple[Any, ...]):
        self.country = country
        self.c = COUNTRIES[country]
        self.city, self.area, self.postcodes = spec[0], spec[1], spec[2]
        self.tz = spec[3] if len(spec) > 3 else self.c["tz"]

    def landline(self, rng: Random) -> str:
        cc, area = self.c["cc"], self.area
        if self.country == "US":
            return f"+1 {area} 555 01{rng.randint(0, 99):02d}"
        if self.country == "GB":  # Ofcom numbers reserved for drama
            return f"+44 20 7946 0{digits(rng, 3)}" if area == "20" else f"+44 {area} 496 0{digits(rng, 3)}"
        if self.country == "FR":
            rest = digits(rng, 8)
            return f"+33 {area} " + " ".join(rest[i : i + 2] for i in range(0, 8, 2))
        if self.country in ("IN", "IR"):
            rest = digits(rng, 8)
            return f"+{cc} {area} {rest[:4]} {rest[4:]}"
        if self.country == "AE":
            rest = digits(rng, 7)
            return f"+971 {area} {rest[:3]} {rest[3:]}"
        return f"+{cc} {area} {rng.randint(1, 9)}{digits(rng, 6 if len(area) <= 2 else 5)}"

    def mobile(self, rng: Random) -> str:
        c = self.c
        if self.country == "US":
            return f"+1 {self.area} 555 01{rng.randint(0, 99):02d}"
        prefix, rest = rng.choice(c["mobile"]), digits(rng, c["mobile_digits"])
        if self.country == "GB":
            return f"+44 7700 900{rest[:3]}"
        if self.country in ("FR", "NL"):
            return f"+{c['cc']} {prefix} " + " ".join(rest[i : i + 2] for i in range(0, 8, 2))
        if self.country in ("CH", "AE", "IR"):
            return f"+{c['cc']} {prefix} {rest[:3]} {rest[3:]}"
        if self.country == "IN":
            return f"+91 {prefix}{rest[:3]} {rest[3:]}"
        return f"+{c['cc']} {prefix} {rest}"

    def street(self, rng: Random) -> str:
        name, n = rng.choice(self.c["streets"]), rng.randint(1, 180)
        if self.country in ("GB", "US", "FR"):
            return f"{n} {name}"
        if self.country == "IN":
            return f"Plot {n}, {name}"
        if self.country == "AE":
            return f"Office {rng.randint(101, 2409)}, {name}"
        if self.country == "IR":
            return f"No. {n}, {name}"
        return f"{name} {n}"

    def postcode(self, rng: Random) -> str:
        p = self.postcodes
        if p is None:  # the Emirates have no postcodes; a P.O. box is usual
            return f"PO Box {rng.randint(1000, 99999)}"
        if isinstance(p, list):  # UK outward code + inward code
            letters = "ABDEFGHJLNPQRSTUWXYZ"
            return f"{rng.choice(p)} {rng.randint(1, 9)}{rng.choice(letters)}{rng.choice(letters)}"
        if self.country == "NL":
            letters = "ABCDEGHJKLMNPRSTVWXZ"
            return f"{rng.randint(*p)} {rng.choice(letters)}{rng.choice(letters)}"
        if self.country == "IR":
            return f"{rng.randint(*p)}-{digits(rng, 5)}"
        if self.country in ("AT", "CH", "IN"):  # 4 and 6 digits
            return str(rng.randint(*p))
        return f"{rng.randint(*p):05d}"


def places(country: str) -> list[Place]:
    return [Place(country, spec) for spec in COUNTRIES[country]["cities"]]


# --------------------------------------------------------------------------------------
# products
# --------------------------------------------------------------------------------------
def product_ref(sku: str) -> str:
    return "prd_" + ascii_slug(sku, "_")


def build_products() -> list[dict[str, Any]]:
    records = []
    for sku, name, category, oem, price, cost, unit, tier, months, warranty, woo_id in PRODUCTS:
        rec: dict[str, Any] = {"_ref": product_ref(sku), "sku": sku, "name": name, "category": category}
        if oem:
            rec["oem"] = oem
        rec.update(
            {
                "description": PRODUCT_BLURBS[category],
                "active": True,
                "list_price": price,
                "cost": cost,
                "unit": unit,
            }
        )
        if tier:
            rec["service_tier"] = tier
        if months:
            rec["service_months"] = months
        if warranty:
            rec["warranty_months"] = warranty
        if woo_id:
            rec["woo_id"] = woo_id
        records.append(rec)
    return records


# --------------------------------------------------------------------------------------
# accounts
# --------------------------------------------------------------------------------------
def tax_id(rng: Random, country: str) -> str | None:
    return {
        "DE": f"DE{digits(rng, 9)}",
        "AT": f"ATU{digits(rng, 8)}",
        "CH": f"CHE-{digits(rng, 3)}.{digits(rng, 3)}.{digits(rng, 3)} MWST",
        "NL": f"NL{digits(rng, 9)}B01",
        "GB": f"GB{digits(rng, 9)}",
        "FR": f"FR{digits(rng, 11)}",
        "US": f"{digits(rng, 2)}-{digits(rng, 7)}",
        "IN": f"{rng.randint(10, 36)}AAC{rng.choice('CFHP')}{digits(rng, 4)}"
        f"{rng.choice('ABCDEFGHJK')}1Z{rng.randint(1, 9)}",
        "AE": f"100{digits(rng, 12)}",
        "IR": digits(rng, 11),
    }[country]


def registration(rng: Random, country: str, city: str) -> str | None:
    return {
        "DE": f"HRB {rng.randint(10000, 250000)}",
        "AT": f"FN {rng.randint(100000, 599999)}{rng.choice('abdgkmpstvwxyz')}",
        "CH": None,
        "NL": f"KvK {digits(rng, 8)}",
        "GB": f"Company No. {rng.randint(1000000, 14999999):08d}",
        "FR": f"RCS {city} {digits(rng, 3)} {digits(rng, 3)} {digits(rng, 3)}",
        "US": None,
        "IN": f"U72200MH{rng.randint(1995, 2022)}PTC{digits(rng, 6)}",
        "AE": f"Licence {rng.randint(100000, 999999)}",
        "IR": f"Reg. {rng.randint(10000, 599999)}",
    }[country]


def company_name(rng: Random, country: str, stem: str, industry: str, place: Place) -> tuple[str, str, str]:
    """A fictional company name as (name without legal suffix, legal suffix, legal form)."""
    german = country in GERMAN
    city = place.city
    if industry == "public_sector":
        if country == "FR" or city in ("Genève", "Lausanne"):
            return rng.choice([f"Ville de {city}", f"Syndicat des eaux de {city}"]), "", "public_body"
        if german:
            return (
                rng.choice([f"Stadtverwaltung {city}", f"Stadtwerke {city}", f"Kommunale IT {city}"]),
                "",
                "public_body",
            )
        return (
            rng.choice([f"{city} City Council", f"{stem} Regional Authority", f"{stem} Water Board"]),
            "",
            "public_body",
        )
    if industry == "education":
        if german:
            return (
                rng.choice([f"Hochschule {city}", f"Berufskolleg {city}", f"Technische Akademie {city}"]),
                "",
                "public_body",
            )
        return (
            rng.choice([f"{stem} University", f"{stem} College", f"{stem} Institute of Technology"]),
            "",
            "public_body",
        )
    if industry == "non_profit":
        return (f"Stiftung {stem}", "", "non_profit") if german else (f"{stem} Foundation", "", "non_profit")
    if industry == "healthcare" and rng.random() < 0.5:
        return (f"Klinikum {city}", "gGmbH", "gmbh") if german else (f"{stem} Hospital", "", "non_profit")
    suffix, form = legal_suffix(rng, country)
    if industry == "banking" and german and rng.random() < 0.5:
        return f"Bankhaus {stem}", suffix, form
    return f"{stem} {rng.choice(INDUSTRY_WORDS[industry][0 if german else 1])}", suffix, form


def legal_suffix(rng: Random, country: str) -> tuple[str, str]:
    legal = COUNTRIES[country]["legal"]
    return rng.choices([(s, f) for s, f, _ in legal], weights=[w for *_, w in legal])[0]


def build_accounts(rng: Random) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Accounts and, by ref, facts the contacts and activities need (place, domain, size)."""
    plans = []
    for code, c in COUNTRIES.items():
        stems = rng.sample(STEMS[code], len(STEMS[code]))
        for i in range(c["count"]):
            plans.append((code, stems[i]))
    rng.shuffle(plans)
    plans = plans[: N_ACCOUNTS - N_SUBSIDIARIES]

    records: list[dict[str, Any]] = []
    facts: dict[str, dict[str, Any]] = {}
    names: set[str] = set()
    domains: set[str] = set()

    def add(code: str, stem: str, industry: str, parent: dict[str, Any] | None = None) -> None:
        place = rng.choice(places(code))
        if parent is None:
            for _ in range(20):  # public bodies are named after the city; retry on a clash
                base, suffix, form = company_name(rng, code, stem, industry, place)
                if base not in names:
                    break
            else:
                base = f"{base} {place.city}"
        else:  # a subsidiary: the group's name plus the country (abroad) or city (at home)
            suffix, form = legal_suffix(rng, code)
            where = place.city if code == parent["code"] else COUNTRIES[code].get("short", COUNTRIES[code]["name"])
            base = f"{parent['base']} {where}"
        names.add(base)
        name = f"{base} {suffix}".strip()
        ref = f"acc_{len(records) + 1:03d}"
        # a subsidiary abroad uses the group's name under its country's domain
        slug = ascii_slug(base if parent is None or code == parent["code"] else parent["base"], "-")[:40].strip("-")
        domain, n = f"{slug}.{COUNTRIES[code]['tld']}", 2
        while domain in domains:
            domain, n = f"{slug}{n}.{COUNTRIES[code]['tld']}", n + 1
        domains.add(domain)

        if industry in ("public_sector", "education"):
            segment = "public_sector"
            employees = rng.choice([rng.randint(80, 900), rng.randint(900, 6000)])
        else:
            segment = rng.choices(["enterprise", "mid_market", "smb"], weights=[25, 45, 30])[0]
            if parent is not None:
                segment = rng.choice(["mid_market", "smb"])
            employees = {
                "enterprise": rng.randint(1000, 48000),
                "mid_market": rng.randint(100, 999),
                "smb": rng.randint(8, 99),
            }[segment]
        per_head = rng.randint(90, 320) * 1000
        revenue = round(employees * per_head, -5) if segment != "public_sector" else None
        relationship = (
            "customer"
            if parent is not None
            else rng.choices(
                ["customer", "prospect", "former_customer", "partner", "reseller"], weights=[58, 28, 5, 5, 4]
            )[0]
        )

        rec: dict[str, Any] = {
            "_ref": ref,
            "name": name,
            "relationship": relationship,
            "industry": industry,
            "segment": segment,
        }
        if relationship in ("customer", "partner", "reseller", "former_customer"):
            if employees >= 5000:
                rec["tier"] = rng.choice(["platinum", "platinum", "gold"])
            elif employees >= 1000:
                rec["tier"] = rng.choice(["gold", "gold", "silver"])
            elif employees >= 100:
                rec["tier"] = rng.choice(["silver", "silver", "bronze", "gold"])
            else:
                rec["tier"] = rng.choice(["bronze", "bronze", "silver"])
        if parent is not None:
            rec["parent_account"] = "@" + parent["ref"]
        tags = []
        if rec.get("tier") == "platinum":
            tags.append("key_account")
        if relationship == "customer" and rng.random() < 0.3:
            tags += rng.sample(ACCOUNT_TAGS[1:], rng.randint(1, 2))
        if segment == "public_sector" and rng.random() < 0.6:
            tags.append("public_tender")
        if tags:
            rec["tags"] = list(dict.fromkeys(tags))
        if relationship == "customer":
            rec["health_score"] = rng.randint(25, 60) if "at_risk" in tags else rng.randint(55, 98)
        rec["source"] = weighted(rng, SOURCE_WEIGHTS)
        rec["website"] = f"https://www.{domain}"
        rec["domain"] = domain
        rec["phone"] = place.landline(rng)
        rec["email"] = f"{rng.choice(['info', 'info', 'contact', 'office', 'hello'])}@{domain}"
        street, postcode = place.street(rng), place.postcode(rng)
        rec.update(
            {
                "city": place.city,
                "country": COUNTRIES[code]["name"],
                "billing_street": street,
                "billing_city": place.city,
                "billing_postcode": postcode,
                "billing_country": COUNTRIES[code]["name"],
            }
        )
        ship = rng.choice(places(code)) if rng.random() < 0.2 else place
        rec.update(
            {
                "shipping_street": place.street(rng) if ship is not place else street,
                "shipping_city": ship.city,
                "shipping_postcode": ship.postcode(rng) if ship is not place else postcode,
                "shipping_country": COUNTRIES[code]["name"],
            }
        )
        rec["employees"] = employees
        if revenue:
            rec["annual_revenue"] = revenue
        rec["legal_form"] = form
        rec["tax_id"] = tax_id(rng, code)
        reg = registration(rng, code, place.city)
        if reg and form not in ("public_body",):
            rec["registration_number"] = reg
        if relationship in ("customer", "partner", "reseller"):
            rec["credit_limit"] = int(min(2_000_000, max(10_000, round((revenue or employees * 150_000) * 0.004, -4))))
            rec["payment_terms"] = rng.choice(["net_30", "net_30", "net_30", "net_14", "net_45", "net_60"])
            if segment == "public_sector":
                rec["payment_terms"] = "net_30"
        else:
            rec["payment_terms"] = rng.choice(["net_30", "prepaid", "net_14"])
        rec["description"] = describe(rng, rec)
        records.append(rec)
        facts[ref] = {
            "ref": ref,
            "place": place,
            "code": code,
            "domain": domain,
            "segment": segment,
            "base": base,
            "industry": industry,
            "relationship": relationship,
            "employees": employees,
        }

    for code, stem in plans:
        add(code, stem, weighted(rng, INDUSTRY_WEIGHTS))
    # the largest customers get subsidiaries (in other countries mostly); parents come first
    groups = sorted(
        (
            f
            for f in facts.values()
            if f["relationship"] == "customer"
            and f["industry"] in GROUP_INDUSTRIES
            and not f["base"].startswith("Klinikum")
        ),
        key=lambda f: -f["employees"],
    )[:N_SUBSIDIARIES]
    for parent in groups:
        code = rng.choice([c for c in COUNTRIES if c != parent["code"]] + [parent["code"]] * 3)
        add(code, "", parent["industry"], parent)
    return records, facts


def describe(rng: Random, rec: dict[str, Any]) -> str:
    industry = rec["industry"].replace("_", " ")
    size = {"enterprise": "Large", "mid_market": "Mid-sized", "smb": "Small", "public_sector": "Public"}[rec["segment"]]
    focus = rng.choice(
        [
            "campus network refresh",
            "data center modernisation",
            "Microsoft 365 roll-out",
            "firewall consolidation",
            "hybrid cloud",
            "backup and disaster recovery",
            "Wi-Fi 6 upgrade",
            "endpoint security",
            "managed services",
            "SD-WAN for branch offices",
        ]
    )
    return f"{size} {industry} organisation in {rec['city']}. Current focus: {focus}."


# --------------------------------------------------------------------------------------
# contacts
# --------------------------------------------------------------------------------------
def contact_counts(rng: Random, facts: dict[str, dict[str, Any]]) -> dict[str, int]:
    counts = {ref: 1 for ref in facts}
    weights = {
        ref: {"enterprise": 6, "public_sector": 4, "mid_market": 3, "smb": 1}[f["segment"]] for ref, f in facts.items()
    }
    refs = list(facts)
    while sum(counts.values()) < N_CONTACTS:
        ref = rng.choices(refs, weights=[weights[r] for r in refs])[0]
        if counts[ref] < 8:
            counts[ref] += 1
    return counts


def person(rng: Random, code: str) -> tuple[str, str, str, str]:
    """First name, last name, gender and name culture of someone working in ``code``."""
    culture = COUNTRIES[code]["names"]
    if code == "AE" and rng.random() < 0.35:
        culture = rng.choice(["in", "gb"])  # the Emirates' many expatriates
    gender = rng.choices(["male", "female"], weights=[58, 42])[0]
    first = rng.choice(FIRST_NAMES[culture][0 if gender == "male" else 1])
    return first, rng.choice(LAST_NAMES[culture]), gender, culture


def build_contacts(rng: Random, facts: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    records: list[dict[str, Any]] = []
    by_account: dict[str, list[str]] = {}
    emails: set[str] = set()
    for acc_ref, n in contact_counts(rng, facts).items():
        f = facts[acc_ref]
        code, place, domain = f["code"], f["place"], f["domain"]
        staff = rng.sample(STAFF_TITLES, min(n - 1, len(STAFF_TITLES)))
        head_ref = None
        for i in range(n):
            first, last, gender, culture = person(rng, code)
            title, department, role = rng.choice(SENIOR_TITLES) if i == 0 else staff[(i - 1) % len(staff)]
            if f["segment"] == "smb" and i == 0:
                title, department, role = "Managing Director", "Management", "Decision maker"
            ref = f"con_{len(records) + 1:03d}"
            local = f"{ascii_slug(first)}.{ascii_slug(last)}"
            email = f"{local}@{domain}"
            while email in emails:
                local = f"{ascii_slug(first)[0]}.{ascii_slug(last)}{rng.randint(2, 99)}"
                email = f"{local}@{domain}"
            emails.add(email)
            salutation = ("mr" if gender == "male" else "ms") if rng.random() > 0.08 else rng.choice(["dr", "prof"])
            rec: dict[str, Any] = {
                "_ref": ref,
                "salutation": salutation,
                "first_name": first,
                "last_name": last,
                "gender": gender if rng.random() > 0.04 else "undisclosed",
            }
            if rng.random() < 0.6:
                age = rng.randint(26, 63)
                rec["birthday"] = (ANCHOR - dt.timedelta(days=age * 365 + rng.randint(0, 364))).isoformat()
            lang = COUNTRIES[code]["lang"]
            if code == "AE" and culture != "ae":
                lang = "en"
            if code == "CH" and place.city in ("Genève", "Lausanne"):
                lang = "fr-CH"
            rec.update(
                {
                    "language": lang,
                    "timezone": place.tz,
                    "account": "@" + acc_ref,
                    "title": title,
                    "department": department,
                    "role": role,
                }
            )
            if i > 0 and head_ref and rng.random() < 0.75:
                rec["reports_to"] = "@" + head_ref
            rec["email"] = email
            if rng.random() < 0.12:
                alias = f"{ascii_slug(first)[0]}{ascii_slug(last)}@{domain}"
                if alias != email:
                    rec["email_secondary"] = alias
            rec["phone"] = place.landline(rng)
            rec["mobile"] = place.mobile(rng)
            if rng.random() < 0.08:
                rec["mobile_secondary"] = place.mobile(rng)
            rec["preferred_channel"] = preferred_channel(rng, code)
            if rng.random() < 0.6:
                handle = f"{ascii_slug(first)}-{ascii_slug(last, '-')}-{digits(rng, 4)}"
                rec["linkedin"] = f"https://www.linkedin.com/in/{handle}"
            if rng.random() < 0.12:
                # handles without "@": a seed value "@x" is a ref
                rec["twitter"] = (ascii_slug(first) + ascii_slug(last))[:15]
            if (code == "IR" and rng.random() < 0.5) or rec["preferred_channel"] == "telegram":
                rec["telegram"] = (ascii_slug(first) + "_" + ascii_slug(last))[:30]
            if rng.random() < 0.15:
                home = rng.choice(places(code))
                rec.update({"street": home.street(rng), "postcode": home.postcode(rng), "city": home.city})
            else:
                rec["city"] = place.city
            rec["country"] = COUNTRIES[code]["name"]
            rec["consent_marketing"] = rng.random() < 0.55
            rec["consent_processing"] = rng.random() < 0.85
            rec["do_not_sell"] = code == "US" and rng.random() < 0.15
            rec["source"] = weighted(rng, SOURCE_WEIGHTS)
            # referrers are heads of other accounts, so they are loaded before (see main)
            heads = [r for r in by_account if r != acc_ref]
            if i > 0 and rec["source"] == "referral" and heads:
                rec["referred_by"] = "@" + by_account[rng.choice(heads)][0]
            if rng.random() < 0.2:
                rec["description"] = rng.choice(
                    [
                        "Prefers short calls in the morning.",
                        "Met at it-sa; interested in zero-trust networking.",
                        "Signs off purchases up to the budget agreed each January.",
                        "Former customer contact at a competitor.",
                        "Wants quotes as PDF and in the procurement portal.",
                        "Decides together with the CFO.",
                        "Likes detailed technical documentation before meetings.",
                        "Speaks at regional CIO round tables.",
                    ]
                )
            records.append(rec)
            by_account.setdefault(acc_ref, []).append(ref)
            if i == 0:
                head_ref = ref
    return records, by_account


def preferred_channel(rng: Random, code: str) -> str:
    weights = {"email": 55, "phone": 30, "sms": 4, "whatsapp": 8, "telegram": 3}
    if code in ("IN", "AE"):
        weights = {"email": 40, "phone": 20, "sms": 5, "whatsapp": 33, "telegram": 2}
    if code == "IR":
        weights = {"email": 25, "phone": 30, "sms": 15, "whatsapp": 10, "telegram": 20}
    return weighted(rng, weights)


# --------------------------------------------------------------------------------------
# activities
# --------------------------------------------------------------------------------------
# fmt: off
SHORT = [p[1].split(",")[0] for p in PRODUCTS if p[2] in ("hardware", "license", "software")]
TOPICS = ["campus network refresh", "firewall renewal", "Microsoft 365 migration", "server consolidation",
          "backup concept", "Wi-Fi 6 roll-out", "VMware licensing change", "AMC renewal", "SD-WAN pilot",
          "storage expansion", "endpoint security", "quarterly business review"]

# Timeline entries per kind: (subject, body, direction or None, possible outcomes). Words in
# braces are filled per entry; a call or e-mail has a direction, held calls and meetings an outcome.
TEMPLATES: dict[str, list[tuple[str, str, str | None, list[str]]]] = {
    "call": [("Discovery call: {topic}",
              "Spoke with {first} about the {topic}. Timeline is {when}; the {boss} owns the budget.",
              "outbound", ["Interested, follow-up agreed", "Asked for a quote", "Not the right time"]),
             ("Follow-up on the {product} quote",
              "Went through the quote with {first}; questions about delivery time and discount for volume.",
              "outbound",
              ["Asked for a revised quote", "Decision expected next month", "No answer, left voicemail"]),
             ("Call about budget for the {topic}",
              "{first} expects the budget for the {topic} to be released {when}.", "outbound",
              ["Budget confirmed", "Budget not yet approved", "No answer, left voicemail"]),
             ("{first} called about the {product}",
              "{first} asked how the {product} compares with the installed base. Promised a short "
              "comparison by e-mail.", "inbound", ["Comparison promised", "Demo agreed"]),
             ("Delivery date of the {product}",
              "{first} asked for the delivery date; checked with the distributor.", "inbound",
              ["Date confirmed", "Escalated to purchasing"]),
             ("Reference call for the {topic}", "{first} is willing to act as a reference for the {topic}.",
              "outbound", ["Reference agreed", "Referred us to a colleague"])],
    "email": [("Quote for {product}",
               "Hello {first},\n\nplease find attached our quote for the {product}. It is valid for 30 "
               "days.\n\nBest regards", "outbound", []),
              ("Datasheet {product}",
               "Hello {first},\n\nas promised, the datasheet and licensing guide of the {product}.\n\nKind "
               "regards", "outbound", []),
              ("Summary of our meeting: {topic}",
               "Hi {first},\n\nthank you for your time. As agreed, the next step is a workshop on the "
               "{topic} {when}.\n\nKind regards", "outbound", []),
              ("Renewal of your {product}",
               "Dear {first},\n\nyour subscription for the {product} ends soon. We prepared a renewal quote "
               "for you.\n\nBest regards", "outbound", []),
              ("Re: Quote for {product}",
               "Hello,\n\nthanks for the quote. Can you offer a better price for 3 years and include "
               "installation?\n\nRegards,\n{first}", "inbound", []),
              ("Request for information: {topic}",
               "Hello,\n\nwe are planning the {topic} for {when} and would like to talk about "
               "options.\n\nBest,\n{first}", "inbound", [])],
    "meeting": [("Workshop: {topic}",
                 "Agenda: current situation, requirements, next steps. Open points: licensing, migration "
                 "window, training.", None, ["Requirements clarified", "Proposal requested"]),
                ("Quarterly business review",
                 "Reviewed open tickets, renewals and the project pipeline for {when}.", None,
                 ["Next meeting scheduled", "Upsell opportunity identified"]),
                ("Demo: {product}", "Live demo of the {product} for {first} and team.", None,
                 ["Pilot agreed", "Proposal requested", "Decision postponed"]),
                ("Kick-off: {topic}", "Project kick-off: scope, team, milestones and communication plan.",
                 None, ["Project plan agreed"]),
                ("Site survey for the {topic}",
                 "Surveyed server rooms and cabling; photos and measurements in the project folder.", None,
                 ["Survey completed", "Second visit needed"])],
    "note": [("Budget approved for the {topic}",
              "{first} confirmed that the {boss} approved the budget for the {topic}.", None, []),
             ("Competitor active on the {topic}",
              "Heard that a competitor offered the {product} at a lower price; focus on service quality and "
              "our AMC.", None, []),
             ("Decision postponed", "The decision on the {topic} moves to {when}; keep in touch monthly.",
              None, []),
             ("Procurement requires three offers",
              "Purchasing needs three comparable offers for the {topic}.", None, []),
             ("Margin guideline for the {topic}", "Internal: keep the margin on the {topic} above 18 %.",
              None, [])],
    "task": [("Send revised quote for {product}", "Include installation and three years of support.", None,
              []),
             ("Prepare demo of the {product}", "Book the demo kit and align the scenario with {first}.", None,
              []),
             ("Book an engineer for the {topic}",
              "Check the certifications needed and the engineers' availability.", None, []),
             ("Ask the distributor for special pricing on the {product}",
              "Project pricing request with the end customer named.", None, []),
             ("Update the account plan", "Add the new contacts, the installed base and the renewal dates.",
              None, []),
             ("Send the proposal for the {topic}", "Proposal and statement of work to {first} {when}.", None,
              [])],
}
BOSSES = ["CIO", "CFO", "managing director", "head of IT"]
WHEN = ["by the end of the quarter", "before the summer", "next month", "in the next fiscal year"]
# fmt: on


def build_activities(
    rng: Random,
    facts: dict[str, dict[str, Any]],
    contacts: list[dict[str, Any]],
    by_account: dict[str, list[str]],
) -> list[dict[str, Any]]:
    """Timeline entries on accounts and contacts, mostly in the past, some ahead."""
    contact_by_ref = {c["_ref"]: c for c in contacts}
    account_refs = list(facts)
    active = [r for r in account_refs if facts[r]["relationship"] in ("customer", "prospect")]
    records = []
    for _ in range(N_ACTIVITIES):
        kind = rng.choices(["call", "email", "meeting", "note", "task"], weights=[30, 25, 15, 15, 15])[0]
        acc_ref = rng.choice(active) if rng.random() < 0.85 else rng.choice(account_refs)
        people = by_account[acc_ref]
        contact_ref = rng.choice(people)
        on_contact = rng.random() < (0.6 if kind in ("call", "email") else 0.2)
        # calls, meetings and tasks also lie ahead; e-mails and notes are written, so past
        future_share = {"call": 0.12, "email": 0.0, "meeting": 0.2, "note": 0.0, "task": 0.3}[kind]
        days = rng.randint(1, 45) if rng.random() < future_share else -rng.randint(1, 240)
        due = dt.datetime.combine(
            ANCHOR + dt.timedelta(days=days),
            dt.time(rng.randint(7, 16), rng.choice([0, 15, 30, 45])),
            tzinfo=dt.UTC,
        )
        while due.weekday() >= 5:  # business days only
            due += dt.timedelta(days=1)
        past = due.date() < ANCHOR
        subject, body, direction, outcomes = rng.choice(TEMPLATES[kind])
        words = {
            "topic": rng.choice(TOPICS),
            "product": rng.choice(SHORT),
            "boss": rng.choice(BOSSES),
            "first": contact_by_ref[contact_ref]["first_name"],
            "when": rng.choice(WHEN),
        }
        subject = subject.format(**words)
        rec: dict[str, Any] = {
            "kind": kind,
            "subject": subject[:1].upper() + subject[1:],
            "body": body.format(**words),
            "due_at": iso(due),
        }
        # e-mails and notes are done once written; calls, meetings and tasks may still be open
        done = kind in ("email", "note") or (past and rng.random() < (0.85 if kind == "task" else 0.93))
        rec["done"] = done
        if kind == "task":
            rec["priority"] = rng.choices(["low", "normal", "high"], weights=[2, 6, 2])[0]
        if kind == "call":
            rec["duration_minutes"] = rng.choice([5, 10, 15, 20, 30, 45])
        if kind == "meeting":
            rec["duration_minutes"] = rng.choice([30, 60, 60, 90, 120, 240])
        if direction:
            rec["direction"] = direction
        if kind == "meeting":
            city = facts[acc_ref]["place"].city
            rec["location"] = rng.choice(
                [f"Customer site, {city}", f"Customer site, {city}", "Microsoft Teams", "Zoom", "Our office"]
            )
            attendees = rng.sample(people, min(len(people), rng.randint(1, 3)))
            rec["attendees"] = [
                "@" + r
                for r in ([contact_ref] if on_contact else [])
                + [r for r in attendees if not on_contact or r != contact_ref]
            ]
        elif kind == "call":
            rec["attendees"] = ["@" + contact_ref]
        if done and outcomes:
            rec["outcome"] = rng.choice(outcomes)
        # what the customer saw anyway (our e-mails, meeting summaries) may show in the portal
        public = (kind == "email" and direction == "outbound" and rng.random() < 0.3) or (
            kind == "meeting" and rng.random() < 0.25
        )
        rec["visibility"] = "public" if public else "internal"
        rec["related_entity"] = "contact" if on_contact else "account"
        rec["related_id"] = "@" + (contact_ref if on_contact else acc_ref)
        rec["account"] = "@" + acc_ref  # also on the account's timeline, and the portal's
        records.append(rec)
    records.sort(key=lambda r: r["due_at"])
    return records


# --------------------------------------------------------------------------------------
# badges and settings
# --------------------------------------------------------------------------------------
def build_badges() -> list[dict[str, Any]]:
    badges = [
        ("Legend", 1, "crown", "#b8860b", "Top seller of the year; more than EUR 2 million won."),
        ("Top Performer", 2, "trophy", "#f59e0b", "Beat the quarterly target by 20 % or more."),
        ("Closer", 3, "target", "#dc2626", "Ten or more deals won this year."),
        ("Mentor", 4, "graduation-cap", "#6366f1", "Coaches new colleagues through their first deals."),
        ("Rookie", 5, "sprout", "#16a34a", "In the team for less than six months."),
    ]
    return [
        {
            "_ref": "badge_" + ascii_slug(t, "_"),
            "title": t,
            "rank": r,
            "icon": i,
            "color": c,
            "description": d,
        }
        for t, r, i, c, d in badges
    ]


def assign_owners(
    accounts: list[dict[str, Any]], contacts: list[dict[str, Any]], activities: list[dict[str, Any]]
) -> None:
    """Accounts belong to the sales logins; their contacts and most of their activities to
    the account's owner, some activities to the support team (who also call customers)."""
    rng = Random(SEED + 1)
    users, weights = list(SALES_USERS), list(SALES_USERS.values())
    owner_of = {}
    for acc in accounts:
        owner_of[acc["_ref"]] = acc["owner"] = "@user:" + rng.choices(users, weights)[0]
    for con in contacts:
        con["owner"] = owner_of[con["account"][1:]]
    for act in activities:
        helper = act["kind"] in ("call", "task") and rng.random() < 0.15
        act["owner"] = "@user:" + rng.choice(SUPPORT_USERS) if helper else owner_of[act["account"][1:]]


def build_user_badges() -> list[dict[str, Any]]:
    """Badges of the demo logins: updates of the users (records with an ``id``)."""
    awarded = {
        "sales.manager@demo.tessera.dev": "badge_legend",
        "sales.rep@demo.tessera.dev": "badge_top_performer",
        "presales@demo.tessera.dev": "badge_mentor",
        "support.agent@demo.tessera.dev": "badge_rookie",
    }
    return [{"id": f"@user:{email}", "badge": f"@{badge}"} for email, badge in awarded.items()]


def build_settings() -> list[dict[str, Any]]:
    return [
        {
            "_ref": "crm_settings",
            "name": "default",
            "default_phone_region": "DE",
            "phone_number_format": "international",
            "lead_uniqueness_rule": "email_or_phone",
            "lead_reassignment_timeout": "2d",
            "email_queue_limit_per_hour": 500,
            "sms_queue_limit_per_hour": 200,
        }
    ]


# --------------------------------------------------------------------------------------
# checking against the metadata, writing
# --------------------------------------------------------------------------------------
EMAIL = re.compile(r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$")
PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{1,38}[0-9]$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$")


def load_fields() -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for path in sorted((PACK / "entities").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        name = doc.get("entity") or doc.get("extends")
        out.setdefault(name, {}).update(doc["fields"])
    for fields in out.values():  # system fields a seed record may set
        fields.setdefault("owner", {"type": "user"})
        fields.setdefault("id", {"type": "link"})
    return out


def check(entity: str, records: list[dict[str, Any]], fields: dict[str, dict[str, Any]], refs: set[str]) -> None:
    """Fail loudly when a generated value does not fit its field."""
    for index, rec in enumerate(records):
        where = f"{entity}[{index}]"
        for name, spec in fields.items():
            if spec.get("required") and name not in rec and "default" not in spec:
                raise ValueError(f"{where}: required field {name!r} missing")
        for name, value in rec.items():
            if name == "_ref":
                if value in refs or sum(r.get("_ref") == value for r in records) > 1:
                    raise ValueError(f"{where}: duplicate _ref {value!r}")
                continue
            spec = fields.get(name)
            if spec is None:
                raise ValueError(f"{where}: unknown field {name!r}")
            values = value if isinstance(value, list) else [value]
            t = spec["type"]
            for v in values:  # the loader reads every "@..." string as a ref to an earlier file
                if isinstance(v, str) and v.startswith("@") and v[1:] not in refs:
                    raise ValueError(f"{where}.{name}: unknown ref {v!r}")
                if t in ("link", "links", "user", "team") and not (isinstance(v, str) and v.startswith("@")):
                    raise ValueError(f"{where}.{name}: a reference must be written as @ref")
            limit = spec.get("max_length", 255 if t == "string" else None)
            if t in ("string", "text") and limit and len(value) > limit:
                raise ValueError(f"{where}.{name}: {len(value)} characters, at most {limit}")
            if t == "string" and "\n" in value:
                raise ValueError(f"{where}.{name}: a string is one line")
            if t in ("enum", "multi_enum"):
                options = [o["value"] if isinstance(o, dict) else o for o in spec["options"]]
                bad = [v for v in values if v not in options]
                if bad:
                    raise ValueError(f"{where}.{name}: {bad} not among {options}")
            if t == "email" and not EMAIL.match(value):
                raise ValueError(f"{where}.{name}: bad e-mail {value!r}")
            if t == "phone" and not PHONE.match(value):
                raise ValueError(f"{where}.{name}: bad phone {value!r}")
            if t == "url" and not value.startswith("https://"):
                raise ValueError(f"{where}.{name}: bad url {value!r}")
            if t == "datetime" and not DATETIME.match(value):
                raise ValueError(f"{where}.{name}: bad datetime {value!r}")
            if t == "date":
                dt.date.fromisoformat(value)
            if t in ("int", "money") and (
                ("min" in spec and value < spec["min"]) or ("max" in spec and value > spec["max"])
            ):
                raise ValueError(f"{where}.{name}: {value} out of range")
            if t == "money" and round(value, 2) != value:
                raise ValueError(f"{where}.{name}: more than two decimals")
    refs.update(rec["_ref"] for rec in records if "_ref" in rec)  # usable from the next file on


HEADER = (
    "# Demo data of the core pack, generated by examples/demo_data/generate_core_seed.py\n"
    "# (random seed {seed}, anchor date {anchor}). Do not edit by hand: change the generator and rerun it.\n"
)


class SeedDumper(yaml.SafeDumper):
    """Writes multi-line text (e-mail bodies) as readable ``|`` blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


SeedDumper.add_representer(str, _str)


def write(out: Path, filename: str, entity: str, records: list[dict[str, Any]]) -> None:
    text = yaml.dump(
        {"entity": entity, "records": records},
        Dumper=SeedDumper,
        sort_keys=False,
        allow_unicode=True,
        width=120,
    )
    (out / filename).write_text(HEADER.format(seed=SEED, anchor=ANCHOR) + text, encoding="utf-8")
    print(f"{filename}: {len(records)} {entity} records")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PACK / "seed", help="folder to write the seed files to")
    args = parser.parse_args(argv)
    rng = Random(SEED)
    products = build_products()
    accounts, facts = build_accounts(rng)
    contacts, by_account = build_contacts(rng, facts)
    activities = build_activities(rng, facts, contacts, by_account)
    # The loader creates a file's records together, so a "@ref" must point into an earlier
    # file: subsidiaries follow their groups, and contacts who report to (or were referred
    # by) someone follow the heads of the accounts.
    heads = {refs[0] for refs in by_account.values()}
    files = [
        ("01_products.yaml", "product", products),
        ("02_accounts.yaml", "account", [a for a in accounts if "parent_account" not in a]),
        ("03_subsidiaries.yaml", "account", [a for a in accounts if "parent_account" in a]),
        ("04_contacts.yaml", "contact", [c for c in contacts if c["_ref"] in heads]),
        ("05_contacts_staff.yaml", "contact", [c for c in contacts if c["_ref"] not in heads]),
        ("06_activities.yaml", "activity", activities),
        ("07_badges.yaml", "user_badge", build_badges()),
        ("08_settings.yaml", "crm_setting", build_settings()),
        ("09_user_badges.yaml", "user", build_user_badges()),
    ]
    assign_owners(accounts, contacts, activities)
    demo_logins = [*SALES_USERS, *SUPPORT_USERS, "presales@demo.tessera.dev"]
    fields, refs = load_fields(), {f"user:{email}" for email in demo_logins}
    for _, entity, records in files:
        check(entity, records, fields[entity], refs)
    args.out.mkdir(parents=True, exist_ok=True)
    for filename, entity, records in files:
        write(args.out, filename, entity, records)


if __name__ == "__main__":
    main()
