#!/usr/bin/python3
"""Self-test of a generated PII evaluation corpus (Python standard library only).

    check.py DIR            # DIR holds pii.jsonl and clean.jsonl from generate.py

Proves, record by record, what the scoring in bench/pii-eval/run relies on:
  * spans are sorted, non-overlapping, on UTF-8 character boundaries, and the labelled bytes
    decode to the entity with no surrounding whitespace or punctuation;
  * every span's content is a valid entity of its type: cards pass Luhn with a real issuer
    prefix and length, IBANs pass mod-97 with the country's length, national IDs and VAT IDs
    pass their own check digits, IPs parse, dates of birth are real dates, ...;
  * every substring of the whole text that validates as a card, IBAN, VAT ID or national ID
    IS labelled with that type (so no hard negative is accidentally valid), and unlabelled
    text holds no e-mail address, no credentials in a URL, no provider key prefix, no PEM
    block, no JWT, no IPv6 address, and IPv4-shaped strings only as software versions;
  * clean.jsonl has no spans, none of the above, and at least as many text bytes.
Exits 0 when all hold, 1 otherwise (printing the first problems), and prints statistics.
"""

import collections
import datetime
import ipaddress
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep tests/data/pii free of __pycache__
sys.path.insert(0, HERE)

import texts as T  # noqa: E402
import validators as V  # noqa: E402

TYPES = ["EMAIL", "PHONE", "CARD", "IBAN", "IP", "URL_CREDENTIALS", "NATIONAL_ID", "VAT_ID",
         "SECRET", "PERSON", "ADDRESS", "DATE_OF_BIRTH"]

RX_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$")
RX_EMAIL_ANY = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
RX_PHONE = re.compile(r"^(?:\+|00|\(|0|[1-9])[0-9 ()./\-]*[0-9]$")
RX_URLCRED = re.compile(r"^[^\s:@/]+:[^\s@/]+$")
RX_URLCRED_ANY = re.compile(r"://[^\s:@/]+:[^\s@/]+@")
_NAME_TOKEN = r"'?[^\W\d_](?:[^\W\d_]|['\-][^\W\d_])*\.?"
RX_PERSON = re.compile(r"^%s(?: %s)*$" % (_NAME_TOKEN, _NAME_TOKEN))
RX_SECRET_PREFIX = re.compile(r"(?<![\w-])sk-(?:proj-|ant-)?[A-Za-z0-9]|AKIA[A-Z0-9]{16}|sk_live_|rk_live_|ghp_|github_pat_|AIza[0-9A-Za-z_\-]{35}|xox[bp]-|-----BEGIN|eyJ[A-Za-z0-9_\-]+\.eyJ")
RX_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]|\.\d)")
RX_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{1,4})*|::(?:ffff:)?[0-9A-Fa-f.:]+")
VERSION_CONTEXT = re.compile(r"(?i)(versions?|versionen|versioni|versiones|versies|versione|versión|versie|firmware|changelog|build|release|rilascio|novedades|woocommerce|plugin|firefox|chrome|app|aggiornato alla|actualizado a|mise à jour en|bijgewerkt naar|updated .{0,20} to|aktualisiert)\W")
SECRET_CONTEXT = re.compile(r"(?i)(password|passwort|kennwort|mot de passe|mdp|contraseña|clave|wachtwoord|ww|pwd|pw)\s*(?:[:=]|\"\s*:)?\s*\"?\s*$|DB_PASSWORD', '$|(?:KEY|TOKEN|key|Key|token|Bearer|JWT|SecretAccessKey|secret_access_key|api_key|apiKey|anthropic_key|secret_key)\W{0,6}$")

MONTHS = {w.lower(): i + 1 for lang in T.MONTHS for i, w in enumerate(T.MONTHS[lang])}
MONTHS.update({w[:3].lower(): i + 1 for i, w in enumerate(T.MONTHS["en"])})


def parse_dob(s):
    m = re.fullmatch(r"(\d{1,2})[./\-](\d{1,2})[./\-](\d{4})", s)
    cands = []
    if m:
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        cands = [(y, b, a), (y, a, b)]
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", s)
    if m:
        cands = [(int(m.group(1)), int(m.group(2)), int(m.group(3)))]
    m = re.fullmatch(r"(\d{1,2})\.? (?:de )?([^\W\d]+)(?: de)? (\d{4})", s)
    if m and m.group(2).lower() in MONTHS:
        cands = [(int(m.group(3)), MONTHS[m.group(2).lower()], int(m.group(1)))]
    m = re.fullmatch(r"([^\W\d]+) (\d{1,2}), (\d{4})", s)
    if m and m.group(1).lower() in MONTHS:
        cands = [(int(m.group(3)), MONTHS[m.group(1).lower()], int(m.group(2)))]
    for y, mo, d in cands:
        try:
            dt = datetime.date(y, mo, d)
        except ValueError:
            continue
        if 1930 <= dt.year <= 2010:
            return dt
    return None


def content_ok(typ, s, before, after):
    """Returns None when s is a valid entity of typ in its context, else a reason."""
    if typ == "EMAIL":
        return None if RX_EMAIL.match(s) else "not an e-mail address"
    if typ == "PHONE":
        digits = re.sub(r"\D", "", s)
        if not RX_PHONE.match(s) or not 7 <= len(digits) <= 15:
            return "not a phone number"
        if V.is_valid_entity_string(s):
            return "phone number that also validates as another entity"
        return None
    if typ == "CARD":
        return None if V.card_ok(s) else "fails Luhn or issuer prefix/length"
    if typ == "IBAN":
        return None if V.iban_ok(s) and re.fullmatch(r"[A-Z0-9]+|[A-Z0-9]{4}(?: [A-Z0-9]{1,4})+", s) else "invalid IBAN"
    if typ == "IP":
        try:
            ipaddress.ip_address(s)
        except ValueError:
            return "not an IP address"
        return None
    if typ == "URL_CREDENTIALS":
        if not RX_URLCRED.match(s):
            return "not user:password"
        if not before.endswith("://") or not after.startswith("@"):
            return "not between :// and @"
        return None
    if typ == "NATIONAL_ID":
        return None if V.national_id_kind(s) else "invalid national ID"
    if typ == "VAT_ID":
        return None if V.vat_ok(s) else "invalid VAT ID"
    if typ == "SECRET":
        if s.startswith("-----BEGIN ") and re.fullmatch(r"-----BEGIN ([A-Z ]+)-----\n[A-Za-z0-9+/=\n]+\n-----END \1-----", s):
            return None
        if re.fullmatch(r"eyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+", s):
            return None
        if re.fullmatch(r"sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|sk-proj-[A-Za-z0-9_\-]+T3BlbkFJ[A-Za-z0-9_\-]+|sk-ant-api03-[A-Za-z0-9_\-]{93}AA|"
                        r"AKIA[A-Z0-9]{16}|sk_live_[A-Za-z0-9]{24,99}|rk_live_[A-Za-z0-9]{24,99}|ghp_[A-Za-z0-9]{36}|"
                        r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}|AIza[A-Za-z0-9_\-]{35}|xoxb-\d{10,13}-\d{10,13}-[A-Za-z0-9]{24}", s):
            return None
        if re.fullmatch(r"[A-Za-z0-9/+]{40}", s) and re.search(r"(?i)secret_?access_?key\W{0,6}$", before):
            return None
        if SECRET_CONTEXT.search(before) and re.fullmatch(r"\S+", s):
            quoted = before.endswith(("\"", "'"))
            if quoted and not after.startswith(before[-1]):
                return "quoted password not closed by the same quote"
            if not quoted and after and not after[0].isspace():
                return "unquoted password not followed by whitespace/end"
            return None
        return "unknown secret format/context"
    if typ == "PERSON":
        return None if RX_PERSON.match(s) and " " in s else "not a full name"
    if typ == "ADDRESS":
        if not re.search(r"\d", s) or not s[0].isalnum() or not (s[-1].isalnum() or s[-1] == ")"):
            return "address without digit or with punctuation at the edge"
        return None
    if typ == "DATE_OF_BIRTH":
        return None if parse_dob(s) else "not a birth date"
    return "unknown type"


def subtype(typ, s):
    """A coarse sub-kind of an entity for the statistics."""
    if typ == "CARD":
        return V.card_brand(re.sub(r"[ -]", "", s))
    if typ in ("IBAN", "VAT_ID"):
        return s[:2]
    if typ == "NATIONAL_ID":
        return V.national_id_kind(s)
    if typ == "IP":
        return "v6" if ":" in s else "v4"
    if typ == "PHONE":
        return "e164" if re.fullmatch(r"\+\d+", s) else "intl" if s.startswith(("+", "00")) else "national"
    if typ == "SECRET":
        for name, rx in (("pem", r"-----BEGIN"), ("jwt", r"eyJ"), ("openai", r"sk-(?!ant)"), ("anthropic", r"sk-ant-"),
                         ("aws_id", r"AKIA[A-Z0-9]{16}$"), ("stripe", r"[sr]k_live_"), ("github", r"gh[p]_|github_pat_"),
                         ("google", r"AIza"), ("slack", r"xoxb-"), ("aws_secret", r"[A-Za-z0-9/+]{40}$")):
            if re.match(rx, s):
                return name
        return "password"
    if typ == "ADDRESS":
        return "multiline" if "\n" in s else "inline"
    return "-"


def check_file(path, pii, problems, stats):
    total_bytes = 0
    n = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            n += 1
            rid = rec["id"]
            text = rec["text"]
            b = text.encode("utf-8")
            total_bytes += len(b)
            stats["lang"][(pii, rec["lang"])] += 1
            stats["kind"][(pii, rec["kind"])] += 1

            def bad(msg):
                if len(problems) < 200:
                    problems.append("%s: %s" % (rid, msg))
            if not pii and rec["spans"]:
                bad("clean record has spans")
            covered = []  # (start_char, end_char, type)
            last = 0
            for sp in rec["spans"]:
                typ, s0, s1 = sp["type"], sp["start"], sp["end"]
                if typ not in TYPES:
                    bad("unknown type %s" % typ)
                    continue
                if not (last <= s0 < s1 <= len(b)):
                    bad("span out of order/bounds %r" % sp)
                    continue
                last = s1
                try:
                    seg = b[s0:s1].decode("utf-8")
                    c0 = len(b[:s0].decode("utf-8"))
                except UnicodeDecodeError:
                    bad("span not on a character boundary %r" % sp)
                    continue
                c1 = c0 + len(seg)
                if text[c0:c1] != seg:
                    bad("byte/char offset mismatch %r" % sp)
                if seg != seg.strip():
                    bad("%s span has surrounding whitespace %r" % (typ, seg))
                before, after = text[max(0, c0 - 40):c0], text[c1:c1 + 40]
                if before[-1:].isalnum() or after[:1].isalnum():
                    bad("%s span %r cuts a word (%r|%r)" % (typ, seg, before[-5:], after[:5]))
                why = content_ok(typ, seg, before, after)
                if why:
                    bad("%s %r: %s" % (typ, seg, why))
                stats["type"][typ] += 1
                stats["sub"][(typ, subtype(typ, seg))] += 1
                stats["type_lang"][(typ, rec["lang"])] += 1
                covered.append((c0, c1, typ))

            def labelled(c0, c1, typ=None):
                for a, z, t in covered:
                    if a == c0 and z == c1 and (typ is None or t == typ):
                        return True
                return False

            def inside_label(c0, c1):
                return any(a <= c0 and c1 <= z for a, z, _ in covered)
            for typ, c0, c1, s in V.valid_candidates(text):
                if not labelled(c0, c1, typ) and not inside_label(c0, c1):
                    bad("unlabelled valid %s %r" % (typ, s))
            # unlabelled text: no entity-looking strings
            gaps, pos = [], 0
            for a, z, _ in covered:
                gaps.append((pos, text[pos:a]))
                pos = z
            gaps.append((pos, text[pos:]))
            for off, g in gaps:
                for rx, what in ((RX_EMAIL_ANY, "e-mail"), (RX_URLCRED_ANY, "URL credentials"), (RX_SECRET_PREFIX, "secret prefix")):
                    m = rx.search(g)
                    if m:
                        bad("unlabelled %s %r" % (what, m.group(0)))
                for m in RX_IPV6.finditer(g):
                    try:
                        ipaddress.IPv6Address(m.group(0))
                        bad("unlabelled IPv6 %r" % m.group(0))
                    except ValueError:
                        pass
                for m in RX_IPV4.finditer(g):
                    try:
                        ipaddress.IPv4Address(m.group(0))
                    except ValueError:
                        continue
                    ctx = text[max(0, off + m.start() - 45):off + m.end() + 25]
                    stats["ipv4_negatives"] += 1
                    if not VERSION_CONTEXT.search(ctx):
                        bad("unlabelled IPv4-shaped string %r outside a version context (%r)" % (m.group(0), ctx))
    return n, total_bytes


# Known answers: published example numbers (issuer test cards, the ECBS/SWIFT IBAN examples,
# VAT numbers of well-known companies, documented ID examples) that must validate, and one
# digit changed that must not. Guards the validators themselves.
KNOWN_VALID = [
    (V.card_ok, ["4111 1111 1111 1111", "4222222222222", "378282246310005", "30569309025904", "6011111111111117",
                 "3530111333300000", "5555555555554444", "2223003122003222", "6200000000000005", "6759649826438453"]),
    (V.iban_ok, ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "FR1420041010050500013M02606",
                 "NL91ABNA0417164300", "BE68539007547034", "ES9121000418450200051332", "IT60X0542811101000000123456",
                 "AT611904300234573201", "CH9300762011623852957"]),
    (V.vat_ok, ["DE136695976", "ATU13585627", "FR40303265045", "NL004495445B01", "ESA28015865", "IT00743110157",
                "PL5260250995", "LU15027442", "DK13585628", "FI20774740", "SE556188840401", "PT501964843"]),
    (V.steuerid_ok, ["86095742719"]), (V.nir_ok, ["2 55 08 14 168 025 38"]), (V.dni_ok, ["12345678Z", "X1234567L"]),
    (V.cf_ok, ["RSSMRA85T10A562S"]), (V.bsn_ok, ["111222333"]), (V.nino_ok, ["AB 12 34 56 C"]), (V.ssn_ok, ["123-45-6789"]),
    (V.ean_ok, ["4006381333931", "036000291452"]),
]
KNOWN_INVALID = [
    (V.card_ok, ["4111 1111 1111 1112", "1234 5678 9012 3452"]), (V.iban_ok, ["DE89 3704 0044 0532 0130 01", "GB82WEST1234569876543"]),
    (V.vat_ok, ["DE136695977", "ATU13585628", "FR40303265046", "NL004495446B01"]), (V.steuerid_ok, ["86095742718"]),
    (V.nir_ok, ["255081416802539"]), (V.dni_ok, ["12345678A"]), (V.cf_ok, ["RSSMRA85T10A562T"]), (V.bsn_ok, ["111222334"]),
    (V.nino_ok, ["QQ123456C", "AB123456E"]), (V.ssn_ok, ["666-45-6789", "123-00-6789"]),
]


def known_answers():
    bad = []
    for fn, vals in KNOWN_VALID:
        bad += ["%s(%r) should be valid" % (fn.__name__, v) for v in vals if not fn(v)]
    for fn, vals in KNOWN_INVALID:
        bad += ["%s(%r) should be invalid" % (fn.__name__, v) for v in vals if fn(v)]
    return bad


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    d = argv[1]
    problems = known_answers()
    stats = {"type": collections.Counter(), "type_lang": collections.Counter(), "lang": collections.Counter(),
             "kind": collections.Counter(), "sub": collections.Counter(), "ipv4_negatives": 0}
    n_pii, b_pii = check_file(os.path.join(d, "pii.jsonl"), True, problems, stats)
    ipv4_pii = stats["ipv4_negatives"]
    n_clean, b_clean = check_file(os.path.join(d, "clean.jsonl"), False, problems, stats)
    if b_clean < b_pii:
        problems.append("clean.jsonl has fewer text bytes (%d) than pii.jsonl (%d)" % (b_clean, b_pii))
    print("pii.jsonl: %d records, %d text bytes; clean.jsonl: %d records, %d text bytes" % (n_pii, b_pii, n_clean, b_clean))
    print("labels per type:")
    for t in TYPES:
        per = " ".join("%s=%d" % (l, stats["type_lang"][(t, l)]) for l in T.LANGS)
        print("  %-16s %6d   (%s)" % (t, stats["type"][t], per))
    print("sub-kinds:")
    for t in TYPES:
        subs = sorted(((k[1], c) for k, c in stats["sub"].items() if k[0] == t and k[1] != "-"), key=lambda x: -x[1])
        if subs:
            print("  %-16s %s" % (t, ", ".join("%s=%d" % sc for sc in subs)))
    print("records per kind (pii): " + ", ".join("%s=%d" % (k, c) for (p, k), c in sorted(stats["kind"].items()) if p))
    print("records per kind (clean): " + ", ".join("%s=%d" % (k, c) for (p, k), c in sorted(stats["kind"].items()) if not p))
    print("IPv4-shaped version numbers (hard negatives): pii %d, clean %d" % (ipv4_pii, stats["ipv4_negatives"] - ipv4_pii))
    if problems:
        print("\n%d problem(s), first ones:" % len(problems))
        for p in problems[:40]:
            print("  " + p)
        return 1
    print("OK: all spans exact and valid, no valid unlabelled entity, clean corpus clean")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
