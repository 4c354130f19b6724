#!/usr/bin/python3
"""Deterministic generator of the labelled PII evaluation corpus for Sovgate's redaction
engine (see README.md beside this file and docs/pii-eval.md).

    generate.py [--seed N] [--records N] [--out DIR] [--faker-data FILE]

writes DIR/pii.jsonl (shop texts in en/de/fr/es/it/nl that contain personal data, every
entity labelled with its type and exact UTF-8 byte span) and DIR/clean.jsonl (ordinary shop
text without any personal data, at least as many records and text bytes). Each line:

    {"id": "pii-00042", "lang": "de", "kind": "order_email", "text": "...",
     "spans": [{"type": "EMAIL", "start": 12, "end": 33}, ...]}

Names, streets and cities come from @faker-js/faker's locale lists (MIT), pinned in
package.json and exported by faker-export.mjs at run time; everything else (check-digit
entities, hard negatives, the surrounding text) is generated here. Python standard library
only; the output is a pure function of --seed, --records and the pinned faker version.
"""

import argparse
import datetime
import json
import os
import random
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep tests/data/pii free of __pycache__
sys.path.insert(0, HERE)

import texts as T  # noqa: E402
import validators as V  # noqa: E402
import values as X  # noqa: E402

TYPES = ["EMAIL", "PHONE", "CARD", "IBAN", "IP", "URL_CREDENTIALS", "NATIONAL_ID", "VAT_ID",
         "SECRET", "PERSON", "ADDRESS", "DATE_OF_BIRTH"]

KIND_WEIGHTS = [("order_email", 14), ("support_chat", 15), ("returns_request", 11),
                ("product_review", 11), ("address_block", 12), ("admin_note", 17),
                ("shipping_notification", 9), ("invoice", 11)]
CLEAN_KINDS = ["product_description", "category_text", "faq_answer", "shipping_policy",
               "sku_list", "price_table", "order_status", "offer", "software_release",
               "measurements"]

# Unlabelled value slots that are hard negatives (counted for the statistics).
NEG_SLOTS = {"ORDERNO", "INVNO", "CUSTNO", "SKU", "EAN", "UPC", "TRACKING", "PRICE", "DATE", "DATE2", "DIMS",
             "WEIGHT", "NOLUHN", "BADIBAN", "VERSION", "HASH", "HASH64", "HASH7", "UUID", "ARTNO", "MASKEDCARD",
             "BIC", "COUPON", "HSCODE", "TAXNO", "NUM5", "NUM6", "NUM8", "NUM9F", "SHOPURL", "TIME"}

SLOT_RX = re.compile(r"<<([A-Z0-9_]+)(?::([^>]*))?>>")
NAME_RX = re.compile(r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$")
PLACE_RX = re.compile(r"^['’]?[^\W_][\w'’\-./() ]*[^\W_)]\)?\.?$")


# --------------------------------------------------------------------------- faker data


def ensure_npm():
    if os.path.isdir(os.path.join(HERE, "node_modules", "@faker-js", "faker")):
        return
    print("generate.py: installing the pinned faker package (npm ci) ...", file=sys.stderr)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=HERE,
                   check=True, stdout=sys.stderr)


def load_faker(path, out_dir):
    if not path:
        ensure_npm()
        path = os.path.join(out_dir, "faker-data.json")
        subprocess.run(["node", os.path.join(HERE, "faker-export.mjs"), path], cwd=HERE,
                       check=True)
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    locs = data["locales"]
    for d in locs.values():
        for k in ("first_female", "first_male", "last"):
            d[k] = [n for n in d[k] if NAME_RX.match(n)]
        d["street_names"] = sorted({re.sub(r"\s*\(.*?\)", "", s).strip() for s in d["street_names"]} - {""})
        # a few faker entries are damaged ("Ohé;", mojibake): keep clean place names only
        for k in ("street_names", "city_names", "city_prefix"):
            d[k] = [x.strip() for x in d[k] if PLACE_RX.match(x.strip()) and (k == "street_names" or x.strip()[-1] != ".")]
    return data


# --------------------------------------------------------------------------- helpers


def wchoice(rng, pairs):
    return X.wchoice(rng, pairs)


def fill_pattern(rng, pat):
    return "".join(rng.choice("0123456789") if c == "#" else rng.choice("ABCDEFGHJKLMNPRSTUWXYZ")
                   if c == "?" else c for c in pat)


def slug(s):
    s = V.ascii_fold(s).lower()
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-")


class Person:
    def __init__(self, first, last, gender, locale, dob):
        self.first, self.last, self.gender, self.locale, self.dob = first, last, gender, locale, dob
        self.full = first + " " + last


# --------------------------------------------------------------------------- one record


class Rec:
    """Builds one record: template expansion with slot values, consistent per record."""

    def __init__(self, rng, F, lang, pii=True):
        self.rng, self.F, self.lang, self.pii = rng, F, lang, pii
        self.P = T.P[lang]
        self.country = wchoice(rng, self.P["countries"])
        self.cache = {}
        self.parts = []
        self.negs = {}
        self.person = self.make_person()
        # the shop sits in the language's main country most of the time
        self.shop_country = self.country if rng.random() < 0.8 else self.P["countries"][0][0]
        words, suffixes = T.SHOP_WORDS[lang]
        base = rng.choice(words)
        self.shop = base + " " + rng.choice(suffixes)
        tld = {"GB": ".co.uk", "US": ".com", "DE": ".de", "AT": ".at", "CH": ".ch", "FR": ".fr",
               "BE": ".be", "NL": ".nl", "ES": ".es", "IT": ".it"}.get(self.shop_country, ".eu")
        self.shop_domain = slug(base).replace("-", rng.choice(["-", ""])) + rng.choice(["", "-shop", "-store"]) + tld

    # ---- people

    def name_locale(self):
        if self.rng.random() < 0.12:
            return self.rng.choice(["en_US", "en_GB", "de", "fr", "nl", "es", "it", "de_AT"])
        return wchoice(self.rng, self.P["name_locales"])

    def make_person(self, locale=None):
        rng = self.rng
        locale = locale or self.name_locale()
        d = self.F["locales"][locale]
        gender = rng.choice("fm")
        first = rng.choice(d["first_female"] if gender == "f" else d["first_male"])
        last = rng.choice(d["last"])
        lang = locale.split("_")[0]
        r = rng.random()
        if lang == "es":
            if r < 0.85:
                last = last + " " + rng.choice(d["last"])
        elif lang == "nl":
            if r < 0.3 and " " not in last:
                last = rng.choice(["van", "de", "van der", "van den", "van de", "ter", "den", "van 't"]) + " " + last
        elif lang == "de":
            if r < 0.05:
                last = last + "-" + rng.choice(d["last"])
            elif r < 0.08:
                last = rng.choice(["von", "von der", "zu"]) + " " + last
        elif lang == "en":
            if r < 0.08:
                first = first + " " + rng.choice(d["first_female"] if gender == "f" else d["first_male"])
            elif r < 0.14:
                first = first + " " + rng.choice("ABCDEFGHJKLMNPRSTW") + "."
            elif r < 0.18:
                last = last + "-" + rng.choice(d["last"])
        elif lang == "fr":
            if r < 0.2:
                last = last.upper()
            elif r < 0.27:
                first = first + "-" + rng.choice(d["first_female"] if gender == "f" else d["first_male"])
        dob = (rng.randint(1940, 2006), rng.randint(1, 12), rng.randint(1, 28))
        return Person(first, last, gender, locale, dob)

    def person_n(self, n):
        key = "person%d" % n
        if key not in self.cache:
            self.cache[key] = self.make_person()
        return self.cache[key]

    # ---- output

    def lab(self, text, typ):
        if not self.pii:
            raise AssertionError("labelled slot %s used in a clean record" % typ)
        assert text == text.strip() and text, (typ, text)
        self.parts.append((text, typ))

    def plain(self, text):
        if text:
            self.parts.append((text, None))

    def expand(self, tmpl):
        pos = 0
        for m in SLOT_RX.finditer(tmpl):
            self.plain(tmpl[pos:m.start()])
            self.slot(m.group(1), m.group(2))
            pos = m.end()
        self.plain(tmpl[pos:])

    def once(self, key, fn):
        if key not in self.cache:
            self.cache[key] = fn()
        return self.cache[key]

    # ---- formatting of values

    def fmt_date(self, y, m, d):
        rng, lang = self.rng, self.lang
        months = T.MONTHS[lang]
        if lang == "de":
            opts = ["%02d.%02d.%d" % (d, m, y), "%d.%d.%d" % (d, m, y), "%d. %s %d" % (d, months[m - 1], y), "%d-%02d-%02d" % (y, m, d)]
            w = [50, 15, 25, 10]
        elif lang == "en":
            if self.country == "US":
                opts = ["%02d/%02d/%d" % (m, d, y), "%s %d, %d" % (months[m - 1], d, y), "%d-%02d-%02d" % (y, m, d)]
                w = [50, 40, 10]
            else:
                opts = ["%02d/%02d/%d" % (d, m, y), "%d %s %d" % (d, months[m - 1], y), "%d-%02d-%02d" % (y, m, d), "%d %s %d" % (d, months[m - 1][:3], y)]
                w = [40, 35, 10, 15]
        elif lang == "fr":
            opts = ["%02d/%02d/%d" % (d, m, y), "%d %s %d" % (d, months[m - 1], y), "%02d.%02d.%d" % (d, m, y)]
            w = [55, 35, 10]
        elif lang == "es":
            opts = ["%02d/%02d/%d" % (d, m, y), "%d de %s de %d" % (d, months[m - 1], y), "%02d-%02d-%d" % (d, m, y)]
            w = [50, 35, 15]
        elif lang == "it":
            opts = ["%02d/%02d/%d" % (d, m, y), "%d %s %d" % (d, months[m - 1], y), "%02d-%02d-%d" % (d, m, y)]
            w = [55, 35, 10]
        else:
            opts = ["%02d-%02d-%d" % (d, m, y), "%d %s %d" % (d, months[m - 1], y), "%02d/%02d/%d" % (d, m, y)]
            w = [50, 35, 15]
        return wchoice(rng, list(zip(opts, w)))

    def event_day(self):
        rng = self.rng
        return datetime.date(rng.randint(2019, 2025), rng.randint(1, 12), rng.randint(1, 28))

    def event_date(self, which=1):
        """An order/delivery/offer date (never a birth date); DATE2 lies 1-21 days after
        DATE so that delivery follows order and offers end after they start."""
        d1 = self.once("day1", self.event_day)
        d = d1 if which == 1 else d1 + datetime.timedelta(days=self.once("delta", lambda: self.rng.randint(1, 21)))
        return self.fmt_date(d.year, d.month, d.day)

    def currency(self):
        return {"GB": "£", "US": "$", "CH": "CHF"}.get(self.country, "€")

    def price(self):
        rng = self.rng
        if rng.random() < 0.7:
            v = rng.randint(1, 99) + rng.choice([0.0, 0.5, 0.9, 0.95, 0.99])
        else:
            v = rng.randint(100, 2500) + rng.choice([0.0, 0.0, 0.5])
        cur = self.currency()
        if self.lang == "en" or cur == "CHF":
            s = "{:,.2f}".format(v)
            if cur == "CHF":
                return "CHF " + s.replace(",", "'")
            if cur == "€":
                return rng.choice(["€", "EUR "]) + s
            return cur + s
        ip, dp = ("%.2f" % v).split(".")
        if len(ip) > 3:
            sep = rng.choice(["\u00a0", " ", "\u202f"]) if self.lang == "fr" else "."
            ip = ip[:-3] + sep + ip[-3:]
        s = ip + "," + dp
        if self.lang in ("de", "fr", "es") and rng.random() < 0.85:
            return s + rng.choice([" €", "\u00a0€", " EUR"])
        return rng.choice(["€ ", "€", "EUR "]) + s

    # ---- addresses

    def make_address(self, country=None):
        """Returns (street_line, extra_line or None, locality_line, country) of a postal
        address; the ADDRESS span runs from the street line's first char to the locality
        line's last char."""
        rng, F = self.rng, self.F["locales"]
        c = country or self.country
        if c in ("GB", "US") and self.lang != "en" and country is None:
            c = self.P["countries"][0][0]
        hn = str(rng.randint(1, 180))
        extra = None
        if c in ("DE", "AT", "CH"):
            loc = {"DE": "de", "AT": "de_AT", "CH": "de_CH"}[c]
            if c == "CH" and rng.random() < 0.5:
                street = rng.choice(F["de_CH"]["last"]) + rng.choice(["strasse", "weg", "gasse", "rain"])
            else:
                street = rng.choice(F[loc]["street_names"])
            if c == "AT" and rng.random() < 0.4:
                hn += "/%d" % rng.randint(1, 20) + (rng.choice(["", "/%d" % rng.randint(1, 30)]))
            elif rng.random() < 0.12:
                hn += rng.choice("abc")
            elif rng.random() < 0.05:
                hn += "-%d" % (int(hn) + 2)
            street_line = "%s %s" % (street, hn)
            if c == "DE":
                pc = "%05d" % rng.randint(1067, 99998)
                city = rng.choice(F["de"]["city_names"])
            elif c == "AT":
                pc = "%d" % rng.randint(1010, 9992)
                city = rng.choice(F["de_AT"]["city_names"])
            else:
                pc = fill_pattern(rng, rng.choice(F["de_CH"]["postcode"]))
                city = rng.choice(F["de_CH"]["city_names"])
            if rng.random() < 0.08:
                extra = rng.choice(["c/o " + self.shopless_company(), "Hinterhaus", "2. OG", "Postfach %d" % rng.randint(10, 999)])
            locality = "%s %s" % (pc, city)
        elif c == "FR" or (c == "BE" and self.lang == "fr"):
            prefix = rng.choice(F["fr"]["street_prefix"])
            if rng.random() < 0.7:
                prefix = prefix.lower()
            street = prefix + " " + rng.choice(F["fr"]["street_suffix"])
            if c == "BE":
                street_line = "%s %s" % (street[0].upper() + street[1:], hn)
                pc = "%d" % rng.randint(1000, 9992)
                city = rng.choice(F["nl_BE"]["city_prefix"])
            else:
                hn += rng.choice(["", "", "", "", " bis", " ter"])
                street_line = "%s%s %s" % (hn, rng.choice([",", "", ""]), street)
                pc = "%02d%03d" % (rng.choice([n for n in range(1, 96) if n != 20]), rng.randint(0, 999))
                city = rng.choice(F["fr"]["city_names"])
                if rng.random() < 0.4:
                    city = city.upper()
                if rng.random() < 0.1:
                    extra = rng.choice(["Bâtiment B", "Résidence Les Tilleuls", "Appartement %d" % rng.randint(1, 60), "BP %d" % rng.randint(10, 999)])
            locality = "%s %s" % (pc, city)
        elif c in ("NL", "BE"):
            loc = "nl" if c == "NL" else "nl_BE"
            d = F[loc]
            base = rng.choice(d["last"] if rng.random() < 0.6 else d["first_male"] + d["first_female"])
            street = base + rng.choice(d["street_suffix"])
            if rng.random() < 0.15:
                street = rng.choice(["Kerkstraat", "Dorpsstraat", "Molenweg", "Stationsplein", "Markt", "Hoofdstraat"])
            hn2 = hn
            if c == "NL":
                hn2 += rng.choice(["", "", "", "", "A", "B", "-II", "-1", " bis"])
                pc = "%d %s" % (rng.randint(1011, 9999), rng.choice([a + b for a in "ABCDEGHJKLMNPRTVWXZ" for b in "ABCEGHJKLNPRTVWXZ"]))
                if rng.random() < 0.2:
                    pc = pc.replace(" ", "")
                city = rng.choice(d["city_prefix"])
                if rng.random() < 0.15:
                    city += rng.choice(d["city_suffix"])
            else:
                if rng.random() < 0.25:
                    hn2 += " bus %d" % rng.randint(1, 30)
                pc = "%d" % rng.randint(1000, 9992)
                city = rng.choice(d["city_prefix"])
            street_line = "%s %s" % (street, hn2)
            locality = "%s %s" % (pc, city.strip())
        elif c == "ES":
            d = F["es"]
            tipo = rng.choice(["Calle", "Calle", "C/", "Avenida", "Avda.", "Plaza", "Paseo", "Camino", "Ronda", "Travesía"])
            r = rng.random()
            if r < 0.4:
                name = "de " + rng.choice(d["last"])
            elif r < 0.7:
                name = rng.choice(d["first_male"] + d["first_female"]) + " " + rng.choice(d["last"])
            else:
                name = rng.choice(d["city_names"])
            street_line = "%s %s, %s" % (tipo, name, hn)
            if rng.random() < 0.5:
                street_line += ", %d%s %s" % (rng.randint(1, 9), rng.choice(["º", "°", "."]), rng.choice("ABCDI"))
            pc = "%02d%03d" % (rng.randint(1, 52), rng.randint(0, 999))
            locality = "%s %s" % (pc, rng.choice(d["city_names"]))
        elif c == "IT":
            d = F["it"]
            tipo = rng.choice(["Via", "Via", "Via", "Viale", "Piazza", "Corso", "Strada", "Vicolo", "Largo"])
            if rng.random() < 0.5:
                name = rng.choice(d["first_male"] + d["first_female"]) + " " + rng.choice(d["last"])
            else:
                name = rng.choice(d["last"])
            street_line = "%s %s%s %s" % (tipo, name, rng.choice([",", ""]), hn + rng.choice(["", "", "", "/A", "/B", " bis"]))
            pc = "%05d" % rng.randint(10, 98168)
            city = rng.choice(d["city_names"])
            locality = "%s %s" % (pc, city)
            if rng.random() < 0.4:
                locality += " " + rng.choice([s for s in d["state_abbr"] if len(s) == 2])
        elif c == "GB":
            d = F["en_GB"]
            street_line = "%s %s" % (hn + rng.choice(["", "", "", "A", "B"]), rng.choice(d["street_names"]))
            if rng.random() < 0.1:
                street_line = "Flat %d, %s" % (rng.randint(1, 40), street_line)
            r = rng.random()
            ln = rng.choice(d["last"]).split("-")[0]
            if r < 0.4:
                city = ln + rng.choice(d["city_suffix"])
            elif r < 0.7:
                city = rng.choice(d["city_prefix"]) + " " + ln + rng.choice(d["city_suffix"])
            else:
                city = rng.choice(["Oxford", "Leeds", "Bristol", "York", "Bath", "Norwich", "Derby", "Exeter", "Reading", "Chester"])
            pc = fill_pattern(rng, rng.choice(d["postcode"]))
            if rng.random() < 0.5:
                locality = (city, pc)  # two lines in a block, "City PC" inline
            else:
                locality = "%s %s" % (city, pc)
        else:  # US
            d = F["en_US"]
            street_line = "%s %s" % (rng.randint(10, 9999), rng.choice(d["street_names"]))
            if rng.random() < 0.25:
                street_line += rng.choice([", Apt %d%s" % (rng.randint(1, 40), rng.choice(["", "B", "C"])), ", Suite %d" % rng.randint(100, 900), " #%d" % rng.randint(2, 30)])
            zipc = "%05d" % rng.randint(1001, 99950)
            if rng.random() < 0.15:
                zipc += "-%04d" % rng.randint(1, 9999)
            locality = "%s, %s %s" % (rng.choice(d["city_names"]), rng.choice(d["state_abbr"]), zipc)
        return street_line, extra, locality, c

    def shopless_company(self):
        return self.rng.choice(["Muster GmbH", "Firma Lager", "Büro", "Rezeption"])

    def addr_text(self, a, block):
        street, extra, locality, c = a
        if block:
            lines = [street] + ([extra] if extra else [])
            if isinstance(locality, tuple):
                lines += list(locality)
            else:
                lines.append(locality)
            return "\n".join(lines)
        loc = " ".join(locality) if isinstance(locality, tuple) else locality
        sep = self.rng.choice([", ", ", ", ", "]) if c != "US" else ", "
        return street + (", " + extra if extra else "") + sep + loc

    # ---- slots

    def slot(self, name, arg):  # noqa: C901 (one dispatch table, kept flat on purpose)
        rng, P = self.rng, self.P
        if name in NEG_SLOTS:
            self.negs[name] = self.negs.get(name, 0) + 1
        p = self.person
        if name == "PERSON":
            self.lab(p.full, "PERSON")
        elif name == "PERSON2":
            self.lab(self.person_n(2).full, "PERSON")
        elif name == "PERSON3":
            self.lab(self.person_n(3).full, "PERSON")
        elif name == "SPERSON":
            if rng.random() < 0.6:
                self.plain(rng.choice(P["sal_f"] if p.gender == "f" else P["sal_m"]) + " ")
            self.lab(p.full, "PERSON")
        elif name == "G":
            m, f = arg.split("|")
            self.plain(m if p.gender == "m" else f)
        elif name == "EMAIL":
            self.lab(self.once("email", lambda: self.make_email(p)), "EMAIL")
        elif name == "EMAIL2":
            self.lab(self.once("email2", self.shop_email), "EMAIL")
        elif name == "EMAIL3":
            self.lab(self.once("email3", lambda: self.make_email(self.person_n(2))), "EMAIL")
        elif name == "PHONE":
            self.lab(self.once("phone", lambda: X.phone(rng, self.phone_country())), "PHONE")
        elif name == "PHONE2":
            self.lab(self.once("phone2", lambda: X.phone(rng, self.shop_country if self.shop_country in X._PHONE else "DE")), "PHONE")
        elif name == "PHONE3":
            self.lab(self.once("phone3", lambda: X.phone(rng, self.phone_country())), "PHONE")
        elif name in ("ADDR", "ADDRBLOCK"):
            a = self.once("addr", self.make_address)
            self.lab(self.addr_text(a, name == "ADDRBLOCK"), "ADDRESS")
        elif name in ("ADDR2", "ADDRBLOCK2"):
            a = self.once("addr2", self.make_address)
            self.lab(self.addr_text(a, name == "ADDRBLOCK2"), "ADDRESS")
        elif name in ("SHOPADDR", "SHOPADDRBLOCK"):
            a = self.once("shopaddr", lambda: self.make_address(self.shop_country))
            self.lab(self.addr_text(a, name == "SHOPADDRBLOCK"), "ADDRESS")
        elif name == "CARD":
            self.lab(self.once("card", lambda: X.card_number(rng)[0]), "CARD")
        elif name == "IBAN":
            self.lab(self.once("iban", lambda: X.iban(rng, self.iban_country())), "IBAN")
        elif name == "SHOPIBAN":
            self.lab(self.once("shopiban", lambda: X.iban(rng, self.shop_country if self.shop_country in X.IBAN_COUNTRIES else "DE")), "IBAN")
        elif name == "IP":
            self.lab(self.once("ip", lambda: X.ip(rng)), "IP")
        elif name == "IP2":
            self.lab(X.ip(rng), "IP")
        elif name == "URLCRED":
            self.url_credentials()
        elif name == "NATID":
            self.natid(None)
        elif name == "NATIDV":
            self.lab(self.natid_value(arg), "NATIONAL_ID")
        elif name == "VAT":
            self.lab(self.once("vat", lambda: X.vat(rng, self.vat_country(self.country))), "VAT_ID")
        elif name == "SHOPVAT":
            self.lab(self.once("shopvat", lambda: X.vat(rng, self.vat_country(self.shop_country))), "VAT_ID")
        elif name == "VATC":
            self.plain(rng.choice(P["vat_ctx"]))
            self.slot("VAT", None)
        elif name == "DOB":
            self.lab(self.once("dob", lambda: self.fmt_date(*p.dob)), "DATE_OF_BIRTH")
        elif name == "DOBC":
            self.plain(rng.choice(P["dob_ctx"]))
            self.slot("DOB", None)
        elif name == "PASSWORD":
            self.lab(X.password(rng), "SECRET")
        elif name == "PWC":
            before, after = rng.choice(P["pw_ctx"])
            self.plain(before)
            self.lab(X.password(rng), "SECRET")
            self.plain(after)
        elif name == "SECRET":
            self.secret()
        elif name == "PEM":
            self.lab(X.pem_block(rng), "SECRET")
        elif name == "JWT":
            self.lab(X.jwt(rng), "SECRET")
        elif name == "JSON":
            self.expand(self.json_snippet())
        elif name == "LOGLINE":
            self.expand(self.log_line())
        # ---- unlabelled values
        elif name == "ORDERNO":
            self.plain(self.once("orderno", lambda: X.checked(X.order_no, rng)))
        elif name == "INVNO":
            self.plain(self.once("invno", lambda: X.checked(X.invoice_no, rng)))
        elif name == "CUSTNO":
            self.plain(self.once("custno", lambda: X.checked(X.customer_no, rng)))
        elif name == "SKU":
            # one in five article numbers is printed like a phone number (hard negative)
            self.plain(X.phone_like_artno(rng) if rng.random() < 0.2 else X.checked(X.sku, rng))
        elif name == "EAN":
            self.plain(X.ean13(rng))
        elif name == "UPC":
            self.plain(X.upc12(rng))
        elif name == "CARRIER":
            self.plain(self.once("tracking", lambda: X.tracking(rng))[0])
        elif name == "TRACKING":
            self.plain(self.once("tracking", lambda: X.tracking(rng))[1])
        elif name == "PRICE":
            self.plain(self.price())
        elif name == "DATE":
            self.plain(self.once("date", self.event_date))
        elif name == "DATE2":
            self.plain(self.once("date2", lambda: self.event_date(2)))
        elif name == "TIME":
            self.plain("%02d:%02d" % (rng.randint(7, 22), rng.randint(0, 59)))
        elif name == "DIMS":
            self.plain(self.dims())
        elif name == "WEIGHT":
            w = rng.choice(["%d g" % rng.randint(50, 950), "%s kg" % self.dec(rng.randint(1, 300) / 10.0)])
            self.plain(w)
        elif name == "NOLUHN":
            self.plain(X.non_luhn_16(rng))
        elif name == "BADIBAN":
            self.plain(X.bad_iban(rng, rng.choice(["DE", "FR", "NL", "ES", "IT", "AT", "BE", "GB"])))
        elif name == "VERSION":
            self.plain(X.version(rng))
        elif name == "BROWSERVER":
            self.plain("%d.0%s" % (rng.randint(100, 140), rng.choice(["", ".1", ".2", ".3"])))
        elif name == "HASH":
            self.plain(X.hexhash(rng))
        elif name == "HASH64":
            self.plain(X.hexhash(rng, 64))
        elif name == "HASH7":
            self.plain(X.hexhash(rng, 7))
        elif name == "UUID":
            self.plain(X.uuid4(rng))
        elif name == "ARTNO":
            self.plain(X.phone_like_artno(rng))
        elif name == "QTY":
            self.plain(str(rng.randint(1, 6)))
        elif name == "DAYS":
            self.plain(str(rng.randint(2, 7)))
        elif name == "PERCENT":
            self.plain(rng.choice(["%d %%", "%d%%", "-%d %%", "%d\u00a0%%"]) % rng.choice([10, 15, 20, 25, 30, 40, 50]))
        elif name in ("PRODUCT", "PRODUCT_C"):
            prod = rng.choice(T.PRODUCTS)[1][self.lang]
            self.plain(prod[0].upper() + prod[1:] if name == "PRODUCT_C" else prod)
        elif name == "CATEGORY":
            self.plain(T.CATEGORIES[self.once("category", lambda: rng.choice(list(T.CATEGORIES)))][self.lang])
        elif name == "COLOR":
            self.plain(rng.choice(T.COLORS[self.lang]))
        elif name == "MATERIAL":
            self.plain(rng.choice(T.MATERIALS[self.lang]))
        elif name == "SHOP":
            self.plain(self.shop)
        elif name == "SHOPURL":
            words = {"de": ("agb", "versand", "produkt"), "en": ("terms", "delivery", "product"),
                     "fr": ("cgv", "livraison", "produit"), "es": ("condiciones", "envios", "producto"),
                     "it": ("condizioni", "spedizioni", "prodotto"), "nl": ("voorwaarden", "verzending", "product")}[self.lang]
            self.plain("https://www.%s/%s" % (self.shop_domain, rng.choice([
                words[0], words[1], "account/orders", words[2] + "/" + slug(rng.choice(T.PRODUCTS)[1][self.lang]),
                "track?order=%d" % rng.randint(1000, 99999), "?utm_source=newsletter&utm_medium=email"])))
        elif name == "MASKEDCARD":
            self.plain(X.masked_card(rng))
        elif name == "BIC":
            self.plain(X.bic(rng, self.shop_country if self.shop_country not in ("US",) else "DE"))
        elif name == "COUPON":
            self.plain(X.coupon(rng))
        elif name == "HSCODE":
            self.plain(X.checked(X.hs_code, rng))
        elif name == "TAXNO":
            self.plain(X.german_tax_number(rng))
        elif name == "REASON":
            self.plain(rng.choice(P["ret_reason"]).lower())
        elif name in ("NUM3", "NUM5", "NUM6", "NUM8"):
            n = int(name[3:])
            self.plain(X.checked(lambda: X.digits(rng, n, True)))
        elif name == "NUM9F":
            self.plain(X.checked(lambda: "%s %s %s" % (X.digits(rng, 3, True), X.digits(rng, 3), X.digits(rng, 3))))
        elif name == "LOGTS":
            self.plain("%d-%02d-%02d %02d:%02d:%02d" % (rng.randint(2023, 2025), rng.randint(1, 12), rng.randint(1, 28),
                                                       rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)))
        else:
            raise KeyError("unknown slot %s" % name)

    def dec(self, v):
        s = ("%.1f" % v)
        return s if self.lang == "en" else s.replace(".", ",")

    def dims(self):
        rng = self.rng
        a, b, c = rng.randint(5, 200), rng.randint(5, 120), rng.randint(1, 90)
        x = rng.choice([" x ", " × ", "x", " X "])
        return rng.choice(["%d%s%d%s%d cm" % (a, x, b, x, c), "%d%s%d mm" % (a, x, b), "Ø %d cm" % b,
                           "%s%s%s m" % (self.dec(a / 10.0), x, self.dec(b / 10.0)), "%d%s%d%s%d mm" % (a * 10, x, b * 10, x, c)])

    def phone_country(self):
        r = self.rng.random()
        if r < 0.75:
            return self.country
        if r < 0.85:
            return "EU"
        return self.rng.choice(list(X._PHONE))

    def iban_country(self):
        c = self.country
        if c in X.IBAN_COUNTRIES and self.rng.random() < 0.85:
            return c
        return self.rng.choice(X.IBAN_COUNTRIES)

    def vat_country(self, c):
        if c in V.VAT_CHECKS and self.rng.random() < 0.85:
            return c
        return self.rng.choice(X.VAT_COUNTRIES)

    def make_email(self, person):
        rng = self.rng

        def clean(s):
            return re.sub(r"[^a-z]", "", V.ascii_fold(s).lower())
        f = clean(person.first.split(" ")[0]) or "kunde"
        last_parts = [clean(x) for x in re.split(r"[ \-']", person.last) if clean(x)]
        l = "".join(last_parts) if rng.random() < 0.6 else (last_parts[-1] if last_parts else "shop")
        yy = "%02d" % (person.dob[0] % 100)
        local = rng.choice([
            "%s.%s" % (f, l), "%s.%s" % (f[0], l), "%s%s" % (f, l), "%s_%s" % (f, l), "%s.%s" % (l, f),
            "%s.%s%s" % (f, l, yy), "%s%d" % (f, rng.randint(1, 999)), "%s.%s+shop" % (f, l), "%s-%s" % (f, l),
            "%s%s" % (f[0], l)])
        if rng.random() < 0.85:
            domain = rng.choice(T.MAIL_PROVIDERS[self.lang])
        else:
            domain = "%s%s" % (rng.choice([l, f + "-" + l, "mail." + l]),
                               rng.choice([".de", ".fr", ".nl", ".es", ".it", ".co.uk", ".com", ".eu", ".ch", ".at", ".be"]))
        email = local + "@" + domain
        if rng.random() < 0.04:
            email = email[0].upper() + email[1:]
        return email

    def shop_email(self):
        role = {"de": ["info", "service", "kundenservice", "bestellung", "hallo"], "en": ["hello", "support", "orders", "info"],
                "fr": ["contact", "service-client", "commandes", "bonjour"], "es": ["hola", "pedidos", "atencion", "info"],
                "it": ["info", "assistenza", "ordini", "ciao"], "nl": ["info", "klantenservice", "bestellingen", "hallo"]}[self.lang]
        return self.rng.choice(role) + "@" + self.shop_domain

    def natid_value(self, kind):
        rng, p = self.rng, self.person
        if kind is None:
            kind = rng.choice([k for _, k in self.P["natid"]])
        return self.once("natid-" + kind, lambda: {
            "ssn": lambda: X.ssn(rng), "nino": lambda: X.nino(rng), "steuerid": lambda: X.steuer_id(rng),
            "nir": lambda: X.nir(rng, p.gender, p.dob), "dni": lambda: X.dni(rng), "nie": lambda: X.nie(rng),
            "cf": lambda: X.codice_fiscale(rng, p.first.split(" ")[0], p.last, p.gender, p.dob), "bsn": lambda: X.bsn(rng),
        }[kind]())

    def natid(self, _):
        opts = self.P["natid"]
        if self.lang == "en":
            want = "ssn" if self.country == "US" else "nino" if self.country == "GB" else None
            if want:
                opts = [o for o in opts if o[1] == want]
        ctx, kind = self.rng.choice(opts)
        self.plain(ctx)
        self.lab(self.natid_value(kind), "NATIONAL_ID")

    def url_credentials(self):
        rng = self.rng
        scheme = rng.choice(["https", "https", "http", "ftp", "ftps", "sftp", "mysql", "postgresql", "redis", "smtp", "amqp", "mongodb"])
        user = rng.choice(["admin", "shopadmin", "deploy", "agentur", "wp_user", "ftpuser", "backup", "editor", "api",
                           slug(self.person.first.split(" ")[0]).replace("-", "") or "user", "woo-sync", "staging"])
        pw = X.rand_str(rng, X.ALNUM + "-_.~!$*+=", rng.randint(8, 20))
        while pw[-1] in ".-_~!$*+=":
            pw = pw[:-1] + rng.choice(X.ALNUM)
        host = rng.choice(["staging." + self.shop_domain, self.shop_domain, "ftp." + self.shop_domain, "db.internal",
                           "localhost", "backup.hosting-" + rng.choice(["eu", "de", "nl"]) + ".net", "mail." + self.shop_domain])
        port = {"mysql": ":3306", "postgresql": ":5432", "redis": ":6379", "smtp": ":587", "amqp": ":5672", "mongodb": ":27017"}.get(scheme, "")
        if port and rng.random() < 0.4:
            port = ""
        path = rng.choice(["/", "/wp-admin/", "/exports/", "", "/wordpress", "/backup/db.sql.gz", "/orders.csv", "/0", "/shop"])
        self.plain(scheme + "://")
        self.lab(user + ":" + pw, "URL_CREDENTIALS")
        self.plain("@" + host + port + path)

    def secret(self):
        rng = self.rng
        r = rng.random()
        if r < 0.1:
            self.plain(rng.choice(["Authorization: Bearer ", "token=", "JWT: "]))
            self.lab(X.jwt(rng), "SECRET")
            return
        if r < 0.15:
            self.plain("\n")
            self.lab(X.pem_block(rng), "SECRET")
            return
        if r < 0.5:
            # a pasted .env file: several keys, each value labelled on its own
            env = {"openai": "OPENAI_API_KEY", "openai_proj": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
                   "aws_id": "AWS_ACCESS_KEY_ID", "aws_secret": "AWS_SECRET_ACCESS_KEY", "stripe": "STRIPE_SECRET_KEY",
                   "stripe_rk": "STRIPE_RESTRICTED_KEY", "github": "GITHUB_TOKEN", "github_pat": "GH_PAT",
                   "google": "GOOGLE_MAPS_API_KEY", "slack": "SLACK_BOT_TOKEN"}
            kinds = rng.sample(sorted(env), rng.randint(2, 4))
            for k in kinds:
                self.plain("\n%s=" % env[k])
                self.lab(X.api_key(rng, k)[1], "SECRET")
            if rng.random() < 0.4:
                self.plain("\nDB_PASSWORD=")
                self.lab(X.password(rng), "SECRET")
            self.plain("\n")
            return
        kind, v = X.api_key(rng)
        ctx = {
            "openai": [("OPENAI_API_KEY=", ""), ("Authorization: Bearer ", ""), ('"api_key": "', '"'), ("OpenAI key: ", "")],
            "openai_proj": [("OPENAI_API_KEY=", ""), ("openai.api_key = '", "'"), ("Key: ", "")],
            "anthropic": [("ANTHROPIC_API_KEY=", ""), ("x-api-key: ", ""), ('"anthropic_key": "', '"')],
            "aws_id": [("aws_access_key_id = ", ""), ("AWS_ACCESS_KEY_ID=", ""), ('"AccessKeyId": "', '"')],
            "aws_secret": [("aws_secret_access_key = ", ""), ("AWS_SECRET_ACCESS_KEY=", ""), ('"SecretAccessKey": "', '"')],
            "stripe": [("STRIPE_SECRET_KEY=", ""), ("Stripe live key: ", ""), ('"secret_key": "', '"')],
            "stripe_rk": [("STRIPE_RESTRICTED_KEY=", ""), ("restricted key ", "")],
            "github": [("GITHUB_TOKEN=", ""), ("token ", ""), ("git remote: https://x-access-token:", "@github.com/shop/theme.git")],
            "github_pat": [("GITHUB_TOKEN=", ""), ("PAT: ", "")],
            "google": [("GOOGLE_MAPS_API_KEY=", ""), ('"apiKey": "', '"'), ("https://maps.googleapis.com/maps/api/js?key=", "&callback=initMap")],
            "slack": [("SLACK_BOT_TOKEN=", ""), ("Slack bot: ", "")],
        }[kind]
        before, after = rng.choice(ctx)
        if kind == "aws_secret" and rng.random() < 0.5:
            # access key id and secret together, as in ~/.aws/credentials
            self.plain("aws_access_key_id = ")
            self.lab(X.api_key(rng, "aws_id")[1], "SECRET")
            self.plain("\naws_secret_access_key = ")
            self.lab(v, "SECRET")
            return
        if "x-access-token:" in before:
            # a GitHub token inside a URL's userinfo is a credential in a URL: the token is
            # the password part, the user name "x-access-token" is fixed.
            self.plain("git remote: https://")
            self.lab("x-access-token:" + v, "URL_CREDENTIALS")
            self.plain("@github.com/shop/theme.git")
            return
        self.plain(before)
        self.lab(v, "SECRET")
        self.plain(after)

    def json_snippet(self):
        rng = self.rng
        fields = [('"billing_email"', "<<EMAIL>>"), ('"billing_phone"', "<<PHONE>>"), ('"customer_ip_address"', "<<IP>>"),
                  ('"customer_name"', "<<PERSON>>"), ('"shipping_address"', "<<ADDR>>"), ('"card_number"', "<<CARD>>"),
                  ('"iban"', "<<IBAN>>"), ('"date_of_birth"', "<<DOB>>"), ('"password"', "<<PASSWORD>>")]
        rng.shuffle(fields)
        chosen = fields[:rng.randint(2, 5)]
        neg = [('"order_id"', "<<NUM5>>"), ('"status"', rng.choice(["processing", "on-hold", "completed", "refunded"])),
               ('"currency"', "EUR"), ('"transaction_id"', "<<UUID>>"), ('"version"', "<<VERSION>>"), ('"sku"', "<<SKU>>")]
        rng.shuffle(neg)
        items = chosen + neg[:rng.randint(1, 3)]
        rng.shuffle(items)
        pretty = rng.random() < 0.4
        out = []
        for k, v in items:
            num = v in ("<<NUM5>>",)
            out.append("%s: %s" % (k, v if num else '"%s"' % v))
        if pretty:
            return "{\n  " + ",\n  ".join(out) + "\n}"
        return "{" + ", ".join(out) + "}"

    def log_line(self):
        return self.rng.choice([
            '[<<LOGTS>>] POST /wp-json/wc/v3/orders 201 <<IP2>> "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/<<BROWSERVER>>"',
            "[<<LOGTS>>] stripe.charge failed: card_declined email=<<EMAIL>> ip=<<IP>>",
            "<<LOGTS>> WARNING login failed for <<EMAIL>> from <<IP>> (attempt 3)",
            "<<LOGTS>> DEBUG outgoing request headers: Authorization: Bearer <<JWT>>",
            "<<LOGTS>> INFO order <<ORDERNO>> paid, customer <<PERSON>>, ip <<IP>>",
            "<<LOGTS>> ERROR connection refused: <<URLCRED>>",
            "<<LOGTS>> sync user=<<EMAIL>> password=<<PASSWORD>>",
        ])

    # ---- build

    def build(self):
        parts = self.parts
        while parts and parts[-1][1] is None and not parts[-1][0].strip():
            parts.pop()
        if parts and parts[-1][1] is None:
            parts[-1] = (parts[-1][0].rstrip(), None)
        while parts and parts[0][1] is None and not parts[0][0].strip():
            parts.pop(0)
        if parts and parts[0][1] is None:
            parts[0] = (parts[0][0].lstrip(), None)
        text_parts, spans, pos = [], [], 0
        for text, typ in parts:
            b = len(text.encode("utf-8"))
            if typ:
                spans.append({"type": typ, "start": pos, "end": pos + b})
            text_parts.append(text)
            pos += b
        return "".join(text_parts), spans


# --------------------------------------------------------------------------- kinds


def lbl(r, key):
    return r.P["lbl"][key]


def greeting(r):
    return r.rng.choice(r.P["greet_f"] if r.person.gender == "f" else r.P["greet_m"])


def country_line(r, c):
    return T.COUNTRY_NAMES.get(c, {}).get(r.lang, "")


def address_section(r, who="<<PERSON>>", block="<<ADDRBLOCK>>", addr_key="addr"):
    rng = r.rng
    lines = [who]
    if rng.random() < 0.2:
        lines.append(rng.choice(["Holzwerk Design", "Atelier Nord", "Studio Acht", "Praxis am Markt", "Bureau Ouest", "Kantoor Zuid"]))
    lines.append(block)
    if rng.random() < 0.3:
        a = r.once(addr_key, r.make_address)
        lines.append(country_line(r, a[3]))
    return "\n".join(x for x in lines if x)


def k_order_email(r):
    rng, P = r.rng, r.P
    out = [rng.choice(P["order_subject"]), "", greeting(r), "", rng.choice(P["order_intro"]), ""]
    out += [rng.choice(P["order_item"]) for _ in range(rng.randint(1, 4))]
    out += ["", rng.choice(P["order_total"]), "", rng.choice(P["order_payment"]), ""]
    sections = []
    sections.append(lbl(r, "billing") + ":\n" + address_section(r))
    contact = [lbl(r, "email") + ": <<EMAIL>>", lbl(r, "phone") + ": <<PHONE>>"]
    rng.shuffle(contact)
    sections.append("\n".join(contact[:rng.randint(1, 2)]))
    if rng.random() < 0.3:
        sections.append(lbl(r, "shipping") + ":\n" + address_section(r, rng.choice(["<<PERSON2>>", "<<SPERSON>>"]), "<<ADDRBLOCK2>>", "addr2"))
    if rng.random() < 0.15:
        sections.append(lbl(r, "customer_ip") + ": <<IP>>")
    if rng.random() < 0.2:
        sections.append(lbl(r, "age") + ": <<DOBC>>")
    out += ["\n\n".join(sections), "", rng.choice(P["order_outro"]), "", rng.choice(P["closing"]), rng.choice(P["sig_team"])]
    if rng.random() < 0.6:
        out += ["", "--", rng.choice(P["footer"])]
    return "\n".join(out)


def k_support_chat(r):
    rng, P = r.rng, r.P
    out = []
    if rng.random() < 0.6:
        out.append(rng.choice(P["chat_header"]))
    style = rng.choice(["time", "label", "name", "json", "label"])
    if rng.random() < 0.3:
        # plugin/agency support: the shop owner pastes access data, keys and logs
        cust = list(P["dev_cust"])
        agent = list(P["dev_agent"])
    else:
        cust = list(P["chat_cust"])
        agent = list(P["chat_agent"])
    first = cust.pop(0)
    rng.shuffle(cust)
    rng.shuffle(agent)
    msgs = [("c", first)]
    n = rng.randint(2, 5)
    for i in range(n):
        msgs.append(("a", agent[i % len(agent)]))
        msgs.append(("c", cust[i % len(cust)]))
    if rng.random() < 0.5:
        msgs.append(("a", agent[(n + 1) % len(agent)]))
    h, m = rng.randint(8, 20), rng.randint(0, 50)
    cl, al = rng.choice(P["chat_cust_lbl"]), rng.choice(P["chat_agent_lbl"])
    for who, msg in msgs:
        m += rng.randint(0, 3)
        if style == "json":
            # inside a JSON string an unquoted password would end at the closing quote, and log
            # lines/snippets carry quotes of their own: use a plain message instead
            while any(x in msg for x in ("<<PWC>>", "<<PASSWORD>>", "<<LOGLINE>>", "<<JSON>>", "<<SECRET>>", "<<PEM>>")):
                msg = rng.choice(P["chat_cust"] if who == "c" else P["chat_agent"])
            msg = msg.replace("<<ADDRBLOCK>>", "<<ADDR>>").replace("<<JSON>>", "<<IP2>>").replace("<<SECRET>>", "<<JWT>>").replace("\n", " ")
            out.append('{"role": "%s", "content": "%s"}' % ("user" if who == "c" else "assistant", msg))
        elif style == "time":
            out.append("[%02d:%02d] %s: %s" % (h + m // 60, m % 60, cl if who == "c" else al, msg))
        elif style == "name":
            out.append("%s: %s" % ("<<PERSON>>" if who == "c" else "<<PERSON2>>", msg))
        else:
            out.append("%s: %s" % (cl if who == "c" else al, msg))
    return "\n".join(out)


def k_returns_request(r):
    rng, P = r.rng, r.P
    if rng.random() < 0.45:
        return rng.choice(P["ret_letter"])
    L = P["lbl"]
    lines = [rng.choice(P["ret_title"]), ""]
    fields = [
        "%s: <<SPERSON>>" % L["name"] if rng.random() < 0.4 else "%s: <<PERSON>>" % L["name"],
        "%s: <<ORDERNO>>" % L["order"],
        "%s: <<DATE>>" % L["date"],
        "%s: <<PRODUCT>> (<<SKU>>)" % L["item"],
        "%s: %s" % ({"de": "Grund", "en": "Reason", "fr": "Motif", "es": "Motivo", "it": "Motivo", "nl": "Reden"}[r.lang], rng.choice(P["ret_reason"])),
        rng.choice(P["ret_refund"]),
        ("%s:\n<<ADDRBLOCK>>" if rng.random() < 0.5 else "%s: <<ADDR>>") % L["address"],
        "%s: <<EMAIL>>" % L["email"],
        "%s: <<PHONE>>" % L["phone"],
    ]
    if rng.random() < 0.15:
        fields.insert(6, "%s: <<CARD>>" % L["card"])
    keep = fields[:4] + [f for f in fields[4:] if rng.random() < 0.75]
    lines += keep
    if "IBAN" in " ".join(keep) and rng.random() < 0.6:
        lines.append("%s: <<PERSON>>" % L["holder"])
    return "\n".join(lines)


def k_product_review(r):
    rng, P = r.rng, r.P
    out = []
    head = rng.random() < 0.5
    if head:
        out.append(rng.choice(P["rev_head"]))
    stars = rng.randint(1, 5)
    out.append(rng.choice(["★" * stars + "☆" * (5 - stars) + " ", "%d/5 – " % stars, ""]) + rng.choice(P["rev_title"]))
    body = list(P["rev_body"])
    rng.shuffle(body)
    out.append(" ".join(body[:rng.randint(2, 4)]))
    if not head or rng.random() < 0.4 or "<<PERSON>>" not in " ".join(out):
        out.append(rng.choice(P["rev_sig"]))
    return "\n".join(out)


def k_address_block(r):
    rng, P = r.rng, r.P
    L = P["lbl"]
    v = rng.random()
    if v < 0.45:
        lines = [L["details"].replace("<<ORDERNO>>", "#<<NUM5>>"),
                 "%s %s. %s <<DATE>> @ <<TIME>>. %s: <<IP>>" % (L["paid_via"], rng.choice(["PayPal", "Stripe", "Klarna", "Mollie", "iDEAL"]), L["paid_on"], L["customer_ip"]), "",
                 L["billing"], address_section(r), "", L["email_addr"] + ":", "<<EMAIL>>", "", L["phone"] + ":", "<<PHONE>>"]
        if rng.random() < 0.3:
            lines += ["", L["age"] + ":", "<<DOB>>"]
        tax_label, _, tax_kind = T.TAX_FIELD[r.lang]
        if rng.random() < (0.5 if r.lang in ("it", "es") else 0.12):
            lines += ["", tax_label + ":", "<<NATIDV:%s>>" % tax_kind]
        if rng.random() < 0.5:
            lines += ["", L["shipping"], address_section(r, rng.choice(["<<PERSON>>", "<<PERSON2>>"]), "<<ADDRBLOCK2>>", "addr2")]
        return "\n".join(lines)
    if v < 0.7:
        tail = rng.choice(["", "\n<<PHONE>>", "\n<<EMAIL>>", "\n" + L["phone"] + ": <<PHONE>>", "\n<<EMAIL>>\n<<PHONE>>"])
        return rng.choice(["<<PERSON>>", "<<SPERSON>>"]) + "\n" + "<<ADDRBLOCK>>" + tail
    if v < 0.88:
        fields = [('"billing_name"', "<<PERSON>>"), ('"billing_address"', "<<ADDR>>"), ('"billing_email"', "<<EMAIL>>"),
                  ('"billing_phone"', "<<PHONE>>"), ('"customer_ip_address"', "<<IP>>"), ('"order_key"', "wc_order_<<HASH7>>"),
                  ('"shipping_method"', rng.choice(["flat_rate:1", "free_shipping:3", "local_pickup:2"]))]
        if rng.random() < (0.5 if r.lang in ("it", "es") else 0.15):
            _, key, kind = T.TAX_FIELD[r.lang]
            fields.append((key, "<<NATIDV:%s>>" % kind))
        keep = fields[:2] + [f for f in fields[2:] if rng.random() < 0.7]
        rng.shuffle(keep)
        if rng.random() < 0.5:
            return "{\n  " + ",\n  ".join('%s: "%s"' % kv for kv in keep) + "\n}"
        return "{" + ", ".join('%s: "%s"' % kv for kv in keep) + "}"
    # a CSV export row: random column order, header only sometimes, so that entities of
    # several types stand at the very start and the very end of the text
    sep = rng.choice([";", ",", "\t", ";"])
    cols = [("order", "<<ORDERNO>>"), ("name", "<<PERSON>>"), ("email", "<<EMAIL>>"), ("phone", "<<PHONE>>"),
            ("address", '"<<ADDR>>"' if sep == "," else "<<ADDR>>"), ("ip", "<<IP>>"), ("iban", "<<IBAN>>")]
    rng.shuffle(cols)
    cols = cols[:rng.randint(3, len(cols))]
    rows = [sep.join(c for c, _ in cols)] if rng.random() < 0.5 else []
    rows.append(sep.join(v for _, v in cols))
    return "\n".join(rows)


def k_admin_note(r):
    rng, P = r.rng, r.P
    items = list(P["note_items"])
    # rarer entity types get more weight so that every type has enough examples
    weights = []
    for it in items:
        w = 1.0
        if "<<URLCRED>>" in it:
            w = 3.5
        elif any(s in it for s in ("<<SECRET>>", "<<PEM>>", "<<JSON>>", "<<LOGLINE>>")):
            w = 2.2
        elif any(s in it for s in ("<<CARD>>", "<<NATID", "<<DOB>>")):
            w = 2.5
        weights.append(w)
    n = rng.randint(1, 4)
    notes = []
    for i in range(n):
        it = rng.choices(items, weights)[0]
        style = rng.random()
        if i == 0 and style < 0.35:
            notes.append(it)
        elif style < 0.7:
            notes.append("<<DATE>> <<TIME>> – %s: %s" % (rng.choice(P["note_author"]), it))
        else:
            notes.append("- " + it)
    return "\n".join(notes)


def k_shipping_notification(r):
    rng, P = r.rng, r.P
    out = [rng.choice(P["ship_subject"]), "", greeting(r), "", P["ship_body"][0]]
    for extra in P["ship_body"][1:]:
        if rng.random() < 0.5:
            out.append(extra)
    out += ["", lbl(r, "shipping") + ":", address_section(r, rng.choice(["<<PERSON>>", "<<SPERSON>>"]))]
    if rng.random() < 0.3:
        out.append(lbl(r, "phone") + ": <<PHONE>>")
    out += ["", rng.choice(P["closing"]), rng.choice(P["sig_team"])]
    return "\n".join(out)


def k_invoice(r):
    rng, P = r.rng, r.P
    out = ["<<SHOP>>", "<<SHOPADDRBLOCK>>"]
    if rng.random() < 0.5:
        out.append("<<EMAIL2>> · <<PHONE2>>")
    out += ["", address_section(r), ""]
    out += [rng.choice(P["inv_title"]), rng.choice(P["inv_meta"])]
    if rng.random() < 0.55:
        out.append(rng.choice(P["inv_custvat"]))
    out += ["", P["inv_head"]]
    for i in range(rng.randint(1, 4)):
        out.append("%d | <<PRODUCT>> | <<SKU>> | <<QTY>> | <<PRICE>> | <<PRICE>>" % (i + 1))
    out += ["", rng.choice(P["inv_totals"]), "", rng.choice(P["inv_pay"]), "", rng.choice(P["inv_footer"])]
    return "\n".join(out)


KINDS = {"order_email": k_order_email, "support_chat": k_support_chat, "returns_request": k_returns_request,
         "product_review": k_product_review, "address_block": k_address_block, "admin_note": k_admin_note,
         "shipping_notification": k_shipping_notification, "invoice": k_invoice}


# --------------------------------------------------------------------------- clean kinds


def c_table(r, cols):
    rng = r.rng
    rows = [r.P["c_table_head"]]
    for _ in range(rng.randint(3, 8)):
        rows.append(" | ".join(cols))
    return "\n".join(rows)


def clean_template(r, kind):
    rng, P = r.rng, r.P

    def some(key, lo, hi):
        items = list(P[key])
        rng.shuffle(items)
        return items[:rng.randint(lo, min(hi, len(items)))]
    if kind == "product_description":
        return "\n".join(some("c_product", 3, 6))
    if kind == "category_text":
        return "<<CATEGORY>>\n" + " ".join(some("c_category", 2, 3)) + "\n" + " ".join(some("c_product", 1, 3))
    if kind == "faq_answer":
        return "\n\n".join(some("c_faq", 2, 4))
    if kind == "shipping_policy":
        return "\n".join(some("c_shipping", 2, 4)) + "\n" + rng.choice(P["c_faq"][:1])
    if kind == "sku_list":
        return c_table(r, ["<<PRODUCT_C>>", "<<SKU>>", "<<EAN>>", "<<PRICE>>", "<<NUM3>>"])
    if kind == "price_table":
        return "<<CATEGORY>>\n" + "\n".join("<<PRODUCT_C>> (<<DIMS>>) – <<PRICE>>" for _ in range(rng.randint(3, 8))) + "\n" + rng.choice(P["c_offer"])
    if kind == "order_status":
        return "\n".join(some("c_status", 2, 3)) + "\n" + rng.choice(P["c_shipping"])
    if kind == "offer":
        return "\n".join(some("c_offer", 1, 2)) + "\n" + "\n".join(some("c_product", 2, 4))
    if kind == "software_release":
        return "\n".join(some("c_software", 2, 3)) + "\n" + " ".join(some("c_product", 1, 2))
    if kind == "measurements":
        return "\n".join(some("c_measure", 2, 3)) + "\n" + "\n".join(some("c_product", 1, 3))
    raise KeyError(kind)


# --------------------------------------------------------------------------- driver


def make_record(F, seed, i, pii):
    lang = T.LANGS[i % len(T.LANGS)]
    rng = random.Random("%s-%s-%d" % (seed, "pii" if pii else "clean", i))
    r = Rec(rng, F, lang, pii=pii)
    if pii:
        kind = wchoice(rng, KIND_WEIGHTS)
        r.expand(KINDS[kind](r))
        rid = "pii-%05d" % i
    else:
        kind = CLEAN_KINDS[(i // len(T.LANGS)) % len(CLEAN_KINDS)] if rng.random() < 0.5 else rng.choice(CLEAN_KINDS)
        r.expand(clean_template(r, kind))
        rid = "clean-%05d" % i
    text, spans = r.build()
    return {"id": rid, "lang": lang, "kind": kind, "text": text, "spans": spans}, r.negs


def self_check(rec):
    """Cheap invariants checked for every record while generating (check.py does more)."""
    b = rec["text"].encode("utf-8")
    last = 0
    for s in rec["spans"]:
        assert s["type"] in TYPES, s
        assert last <= s["start"] < s["end"] <= len(b), (rec["id"], s)
        seg = b[s["start"]:s["end"]].decode("utf-8")
        assert seg == seg.strip(), (rec["id"], seg)
        last = s["end"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--records", type=int, default=4000, help="records in pii.jsonl (default 4000)")
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="output directory (default tests/data/pii/out)")
    ap.add_argument("--faker-data", help="use this faker export instead of running faker-export.mjs")
    a = ap.parse_args(argv)
    t0 = time.time()
    os.makedirs(a.out, exist_ok=True)
    F = load_faker(a.faker_data, a.out)
    t1 = time.time()
    pii_bytes = 0
    counts = {}
    neg_pii, neg_clean = {}, {}
    with open(os.path.join(a.out, "pii.jsonl"), "w", encoding="utf-8") as f:
        for i in range(a.records):
            rec, negs = make_record(F, a.seed, i, True)
            for k, v in negs.items():
                neg_pii[k] = neg_pii.get(k, 0) + v
            self_check(rec)
            pii_bytes += len(rec["text"].encode("utf-8"))
            for s in rec["spans"]:
                counts[s["type"]] = counts.get(s["type"], 0) + 1
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    clean_bytes, n = 0, 0
    with open(os.path.join(a.out, "clean.jsonl"), "w", encoding="utf-8") as f:
        while n < a.records or clean_bytes < pii_bytes:
            rec, negs = make_record(F, a.seed, n, False)
            for k, v in negs.items():
                neg_clean[k] = neg_clean.get(k, 0) + v
            assert not rec["spans"]
            clean_bytes += len(rec["text"].encode("utf-8"))
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    t2 = time.time()
    print("generate.py: faker %s, seed %d: pii.jsonl %d records, %d text bytes; clean.jsonl %d records, %d text bytes; "
          "%.1fs (faker export %.1fs)" % (F.get("faker_version"), a.seed, a.records, pii_bytes, n, clean_bytes, t2 - t0, t1 - t0),
          file=sys.stderr)
    print("generate.py: labels: " + ", ".join("%s=%d" % (t, counts.get(t, 0)) for t in TYPES), file=sys.stderr)
    for name, negs in (("pii", neg_pii), ("clean", neg_clean)):
        print("generate.py: hard negatives in %s: " % name + ", ".join("%s=%d" % kv for kv in sorted(negs.items())), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
