"""Value generators for the PII evaluation corpus: entities with valid check digits and hard
negatives that are guaranteed NOT to validate. Every function takes a random.Random so the
corpus is a pure function of the seed. Python standard library only.

Entity generators return the entity text exactly as it must be labelled (the span); any
surrounding context (labels like "IBAN:", quotes, salutations) is added by the caller.
"""

import base64
import ipaddress
import json
import re
import string

import validators as V

DIGITS = string.digits
UPPER = string.ascii_uppercase
ALNUM = string.ascii_letters + string.digits
B64 = string.ascii_letters + string.digits + "+/"
B64URL = string.ascii_letters + string.digits + "-_"


def digits(rng, n, first_nonzero=False):
    s = "".join(rng.choice(DIGITS) for _ in range(n))
    if first_nonzero and s and s[0] == "0":
        s = rng.choice("123456789") + s[1:]
    return s


def rand_str(rng, alphabet, n):
    return "".join(rng.choice(alphabet) for _ in range(n))


def group(s, sizes, sep):
    out, i = [], 0
    for n in sizes:
        if i >= len(s):
            break
        out.append(s[i:i + n])
        i += n
    if i < len(s):
        out.append(s[i:])
    return sep.join(out)


def group4(s, sep=" "):
    return sep.join(s[i:i + 4] for i in range(0, len(s), 4))


# --------------------------------------------------------------------------- CARD

# (brand, prefix chooser, lengths with weights, grouping by length)
def _card_prefix(rng, brand):
    if brand == "visa":
        return "4"
    if brand == "mastercard":
        return str(rng.randint(51, 55)) if rng.random() < 0.6 else str(rng.randint(2221, 2720))
    if brand == "amex":
        return rng.choice(["34", "37"])
    if brand == "discover":
        return rng.choice(["6011", str(rng.randint(644, 649)), "65"])
    if brand == "jcb":
        return str(rng.randint(3528, 3589))
    if brand == "diners":
        return rng.choice([str(rng.randint(300, 305)), "36", "38", "39"])
    if brand == "unionpay":
        return "62"
    if brand == "maestro":
        return rng.choice(["5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763"])
    raise ValueError(brand)


_CARD_LENGTHS = {
    "visa": [16] * 8 + [13, 19],
    "mastercard": [16],
    "amex": [15],
    "discover": [16] * 5 + [19],
    "jcb": [16],
    "diners": [14],
    "unionpay": [16] * 3 + [19],
    "maestro": [16, 16, 18, 19, 13],
}
CARD_BRAND_WEIGHTS = [("visa", 30), ("mastercard", 25), ("amex", 10), ("discover", 7),
                      ("jcb", 7), ("diners", 6), ("unionpay", 7), ("maestro", 8)]


def wchoice(rng, pairs):
    total = sum(w for _, w in pairs)
    x = rng.uniform(0, total)
    for v, w in pairs:
        x -= w
        if x <= 0:
            return v
    return pairs[-1][0]


def card_number(rng, brand=None):
    """A Luhn-valid card number of a real issuer range, formatted (spaces, dashes or none).
    Returns (formatted, brand)."""
    brand = brand or wchoice(rng, CARD_BRAND_WEIGHTS)
    length = rng.choice(_CARD_LENGTHS[brand])
    while True:
        p = _card_prefix(rng, brand)
        body = p + digits(rng, length - len(p) - 1)
        num = body + V.luhn_check_digit(body)
        if V.card_brand(num) and V.luhn_ok(num):
            break
    sep = rng.choice([" ", " ", "-", ""])
    if length == 15:
        sizes = [4, 6, 5]
    elif length == 14:
        sizes = [4, 6, 4]
    elif length == 13:
        sizes = [4, 4, 5]
    else:
        sizes = [4, 4, 4, 4, 4]
    return (group(num, sizes, sep) if sep else num), brand


def masked_card(rng):
    last = digits(rng, 4)
    return rng.choice(["**** **** **** %s" % last, "XXXX-XXXX-XXXX-%s" % last, "•••• %s" % last,
                       "************%s" % last, "%s******%s" % (rng.choice(["4", "5"]) + digits(rng, 5), last)])


def non_luhn_16(rng):
    """16 digits with a card-like prefix that FAIL Luhn (a hard negative)."""
    while True:
        n = rng.choice(["4", "5", "37", "6"]) + ""
        n = n + digits(rng, 16 - len(n))
        if not V.luhn_ok(n) and not V.is_valid_entity_string(n):
            break
    sep = rng.choice([" ", "-", ""])
    return group4(n, sep) if sep else n


# --------------------------------------------------------------------------- IBAN


def _bban(rng, cc):
    if cc == "DE":
        return digits(rng, 8, True) + digits(rng, 10)
    if cc == "AT":
        return digits(rng, 5, True) + digits(rng, 11)
    if cc == "CH":
        return "00" + digits(rng, 3, True) + digits(rng, 12)
    if cc == "NL":
        return rng.choice(["ABNA", "INGB", "RABO", "SNSB", "TRIO", "KNAB", "BUNQ", "ASNB", "RBRB"]) + digits(rng, 10)
    if cc == "BE":
        first = digits(rng, 10, True)
        chk = int(first) % 97
        return first + "%02d" % (chk if chk else 97)
    if cc == "FR":
        bank, branch, acct = digits(rng, 5, True), digits(rng, 5), digits(rng, 11)
        key = 97 - ((89 * int(bank) + 15 * int(branch) + 3 * int(acct)) % 97)
        return bank + branch + acct + "%02d" % key
    if cc == "ES":
        bank, branch, acct = digits(rng, 4, True), digits(rng, 4), digits(rng, 10)
        w = [1, 2, 4, 8, 5, 10, 9, 7, 3, 6]

        def dc(s):
            v = 11 - sum(int(a) * b for a, b in zip(s, w)) % 11
            return 0 if v == 11 else 1 if v == 10 else v
        return bank + branch + str(dc("00" + bank + branch)) + str(dc(acct)) + acct
    if cc == "IT":
        rest = digits(rng, 5, True) + digits(rng, 5) + digits(rng, 12)
        # CIN: same odd/even tables as the codice fiscale check character.
        return _it_cin(rest) + rest
    if cc == "GB":
        return rng.choice(["NWBK", "BARC", "LOYD", "HBUK", "MIDL", "NAIA", "MONZ"]) + digits(rng, 14)
    if cc == "LU":
        return digits(rng, 3) + digits(rng, 13)
    if cc == "IE":
        return rng.choice(["AIBK", "BOFI", "IPBS"]) + digits(rng, 14)
    if cc == "PT":
        return digits(rng, 21)
    if cc == "PL":
        return digits(rng, 24)
    if cc == "FI":
        return digits(rng, 14)
    if cc == "DK":
        return digits(rng, 14)
    if cc == "SE":
        return digits(rng, 20)
    raise ValueError(cc)


def _it_cin(rest22):
    total = 0
    for i, ch in enumerate(rest22):
        total += V._CF_ODD[ch] if i % 2 == 0 else V._cf_even(ch)
    return chr(65 + total % 26)


IBAN_COUNTRIES = ["DE", "AT", "CH", "NL", "BE", "FR", "ES", "IT", "GB", "LU", "IE", "PT", "PL", "FI", "DK", "SE"]


def iban(rng, cc):
    """A valid IBAN for country cc, printed compact or in groups of four."""
    bban = _bban(rng, cc)
    compact = cc + V.iban_check_digits(cc, bban) + bban
    assert V.iban_ok(compact), compact
    return group4(compact) if rng.random() < 0.65 else compact


def bad_iban(rng, cc):
    """An IBAN-shaped string of the right length whose mod-97 check FAILS, and no part of
    which validates as another entity (a grouped BBAN can look like a card number)."""
    while True:
        bban = _bban(rng, cc)
        good = V.iban_check_digits(cc, bban)
        wrong = "%02d" % ((int(good) + rng.randint(1, 90)) % 97 + 2)
        if wrong == good or int(wrong) > 98:
            continue
        compact = cc + wrong + bban
        printed = group4(compact) if rng.random() < 0.65 else compact
        if not V.iban_ok(compact) and not V.is_valid_entity_string(printed):
            return printed


def bic(rng, cc):
    return rng.choice(["COBA", "DEUT", "INGD", "BNPA", "SOGE", "CAIX", "BBVA", "UNCR", "BCIT",
                       "ABNA", "RABO", "GEBA", "KRED", "UBSW", "NWBK"]) + cc + rng.choice(
        ["FF", "MM", "2A", "PP", "BB", "2X", "22", "ZZ"]) + rng.choice(["", "XXX", "100", "380"])


# --------------------------------------------------------------------------- IP


def ipv4(rng):
    kind = rng.random()
    if kind < 0.15:
        return "192.168.%d.%d" % (rng.randint(0, 255), rng.randint(1, 254))
    if kind < 0.22:
        return "10.%d.%d.%d" % (rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))
    if kind < 0.27:
        return "172.%d.%d.%d" % (rng.randint(16, 31), rng.randint(0, 255), rng.randint(1, 254))
    while True:
        a = rng.randint(1, 223)
        if a not in (10, 127, 169, 172, 192):
            break
    return "%d.%d.%d.%d" % (a, rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))


def ipv6(rng):
    """IPv6 in one of the printed forms: compressed, full with leading zeros, uppercase,
    IPv4-mapped, link-local, loopback-style short forms."""
    form = rng.random()
    if form < 0.08:
        return "::ffff:%s" % ipv4(rng)
    prefix = rng.choice(["2001:db8", "2a02:810d", "2a01:4f8", "2003:e6", "2a00:1450", "2606:4700",
                         "fe80:0", "2001:16b8", "2a0a:a540", "2c0f:f248"])
    groups = [int(x, 16) for x in prefix.split(":")]
    while len(groups) < 8:
        groups.append(rng.randint(0, 0xFFFF) if rng.random() < 0.6 else 0)
    if prefix.startswith("fe80"):
        groups[1:4] = [0, 0, 0]
    groups[7] = groups[7] or rng.randint(1, 0xFFFF)
    addr = ipaddress.IPv6Address(":".join("%x" % g for g in groups))
    if form < 0.25:
        s = addr.exploded
    elif form < 0.35:
        s = str(addr).upper()
    else:
        s = str(addr)
    return s


def ip(rng):
    return ipv6(rng) if rng.random() < 0.3 else ipv4(rng)


def version_quad(rng):
    """A software version a.b.c.d that is shaped like an IPv4 address (hard negative)."""
    return "%d.%d.%d.%d" % (rng.randint(1, 12), rng.randint(0, 30), rng.randint(0, 60), rng.randint(0, 250))


def version(rng):
    r = rng.random()
    if r < 0.6:
        return version_quad(rng)
    if r < 0.85:
        return "%d.%d.%d" % (rng.randint(1, 12), rng.randint(0, 30), rng.randint(0, 60))
    return "%d.%d" % (rng.randint(1, 30), rng.randint(0, 9))


# --------------------------------------------------------------------------- phones

_PHONE = {
    # country: (cc, [(area, subscriber_len_min, max)], [(mobile_prefix, len)])
    "DE": ("49", [("30", 7, 8), ("40", 7, 8), ("89", 7, 8), ("69", 7, 8), ("221", 6, 8), ("711", 6, 8),
                  ("211", 6, 8), ("351", 6, 8), ("341", 6, 8), ("511", 6, 8), ("911", 6, 8), ("421", 6, 8),
                  ("6221", 5, 7), ("7531", 5, 7), ("2131", 5, 7), ("4121", 5, 7)],
           [("151", 8), ("152", 8), ("157", 8), ("160", 7), ("162", 7), ("170", 7), ("171", 7), ("172", 7),
            ("173", 7), ("175", 7), ("176", 8), ("177", 8), ("178", 8), ("179", 7), ("159", 8)]),
    "AT": ("43", [("1", 7, 7), ("316", 6, 7), ("512", 6, 6), ("662", 6, 6), ("732", 6, 7), ("463", 6, 6)],
           [("650", 7), ("660", 7), ("664", 7), ("676", 7), ("680", 7), ("681", 8), ("688", 7), ("699", 8)]),
    "CH": ("41", [("21", 7, 7), ("22", 7, 7), ("31", 7, 7), ("41", 7, 7), ("43", 7, 7), ("44", 7, 7),
                  ("52", 7, 7), ("61", 7, 7), ("71", 7, 7), ("81", 7, 7), ("91", 7, 7)],
           [("76", 7), ("77", 7), ("78", 7), ("79", 7)]),
    "FR": ("33", [("1", 8, 8), ("2", 8, 8), ("3", 8, 8), ("4", 8, 8), ("5", 8, 8), ("9", 8, 8)],
           [("6", 8), ("7", 8)]),
    "BE": ("32", [("2", 7, 7), ("3", 7, 7), ("4", 7, 7), ("9", 7, 7), ("50", 6, 6), ("56", 6, 6),
                  ("71", 6, 6), ("81", 6, 6), ("87", 6, 6)],
           [("470", 6), ("472", 6), ("475", 6), ("477", 6), ("486", 6), ("495", 6), ("497", 6)]),
    "NL": ("31", [("20", 7, 7), ("10", 7, 7), ("70", 7, 7), ("30", 7, 7), ("40", 7, 7), ("50", 7, 7),
                  ("111", 6, 6), ("172", 6, 6), ("251", 6, 6), ("341", 6, 6), ("544", 6, 6)],
           [("6", 8)]),
    "ES": ("34", [("91", 7, 7), ("93", 7, 7), ("95", 7, 7), ("96", 7, 7), ("981", 6, 6), ("976", 6, 6)],
           [("6", 8), ("7", 8)]),
    "IT": ("39", [("02", 8, 8), ("06", 8, 8), ("011", 7, 7), ("041", 7, 7), ("051", 7, 7), ("055", 7, 7),
                  ("081", 7, 7), ("091", 7, 7)],
           [("320", 7), ("328", 7), ("333", 7), ("338", 7), ("340", 7), ("347", 7), ("366", 7), ("393", 7)]),
    "GB": ("44", [("20", 8, 8), ("161", 7, 7), ("121", 7, 7), ("131", 7, 7), ("113", 7, 7), ("1632", 6, 6),
                  ("1223", 6, 6), ("1865", 6, 6)],
           [("7700", 6), ("7911", 6), ("7400", 6), ("7555", 6), ("7824", 6)]),
    "US": ("1", [("212", 7, 7), ("310", 7, 7), ("415", 7, 7), ("312", 7, 7), ("617", 7, 7), ("206", 7, 7),
                 ("305", 7, 7), ("512", 7, 7), ("702", 7, 7), ("303", 7, 7), ("404", 7, 7), ("646", 7, 7)], []),
}

# Other EU countries, printed in international format only.
_INTL_ONLY = [("48", [2, 3, 3, 3]), ("48", [3, 3, 3]), ("46", [1, 3, 3, 2]), ("46", [2, 3, 2, 2]), ("45", [2, 2, 2, 2]),
              ("351", [3, 3, 3]), ("353", [1, 3, 4]), ("353", [2, 3, 4]), ("352", [3, 3, 3]),
              ("420", [3, 3, 3]), ("358", [2, 3, 4]), ("30", [2, 4, 4]), ("36", [1, 3, 4]),
              ("40", [3, 3, 3]), ("386", [1, 3, 2, 2]), ("421", [3, 3, 3]), ("385", [1, 4, 3]),
              ("370", [3, 5]), ("371", [2, 3, 3]), ("372", [3, 4]), ("356", [4, 4]), ("357", [2, 6]),
              ("359", [2, 3, 4])]


def _split_sub(rng, sub, country):
    """Split a subscriber number into the groups a person of that country would print."""
    n = len(sub)
    if country == "FR" or (country == "BE" and n == 6):
        return [sub[i:i + 2] for i in range(0, n, 2)]
    if country == "CH":
        return [sub[:3], sub[3:5], sub[5:]]
    if country == "BE" and n == 7:
        return rng.choice([[sub[:3], sub[3:5], sub[5:]], [sub]])
    if country == "GB":
        if n == 8:
            return [sub[:4], sub[4:]]
        if n == 7:
            return [sub[:3], sub[3:]]
        return rng.choice([[sub], [sub[:3], sub[3:]]])
    if country == "IT":
        if n == 8:
            return rng.choice([[sub[:4], sub[4:]], [sub]])
        return rng.choice([[sub[:3], sub[3:]], [sub]])
    if country == "NL":
        if n == 7:
            return rng.choice([[sub], [sub[:3], sub[3:]]])
        if n == 8:
            return rng.choice([[sub], [sub[:4], sub[4:]]])
        return [sub]
    style = rng.random()  # DE, AT
    if style < 0.6 or n < 6:
        return [sub]
    if style < 0.8:
        return [sub[i:i + 2] for i in range(0, n, 2)] if n % 2 == 0 else [sub[:3]] + [sub[i:i + 2] for i in range(3, n, 2)]
    return [sub[:3], sub[3:]] if n <= 7 else [sub[:4], sub[4:]]


def phone(rng, country):
    """A phone number of country (DE AT CH FR BE NL ES IT GB US, or 'EU' for another EU
    country) in a national or international format. Never a string that also validates as a
    card, IBAN, VAT or national ID."""
    while True:
        s = _phone_once(rng, country)
        if not V.is_valid_entity_string(s):
            return s


def _phone_once(rng, country):
    if country == "EU":
        cc, sizes = rng.choice(_INTL_ONLY)
        sub = digits(rng, sum(sizes), True)
        parts = []
        i = 0
        for n in sizes:
            parts.append(sub[i:i + n])
            i += n
        r = rng.random()
        if r < 0.2:
            return "+" + cc + sub
        if r < 0.3:
            return "00" + cc + " " + " ".join(parts)
        return "+" + cc + " " + " ".join(parts)
    cc, areas, mobiles = _PHONE[country]
    if country == "US":
        area = rng.choice(areas)[0]
        ex = str(rng.randint(201, 999))
        line = digits(rng, 4)
        return rng.choice([
            "(%s) %s-%s", "%s-%s-%s", "%s.%s.%s", "%s %s %s", "+1 %s %s %s", "+1-%s-%s-%s",
            "+1 (%s) %s-%s", "1-%s-%s-%s", "+1%s%s%s", "(%s) %s-%s"]) % (area, ex, line)
    if mobiles and rng.random() < 0.45:
        area, n = rng.choice(mobiles)
        sub = digits(rng, n, True)
        mobile = True
    else:
        area, lo, hi = rng.choice(areas)
        sub = digits(rng, rng.randint(lo, hi), True)
        mobile = False
    # trunk prefix: IT keeps the 0 of geographic numbers internationally; ES/US have none.
    if country == "IT":
        trunk = ""
    elif country == "ES":
        trunk = ""
    else:
        trunk = "0"
    national_area = trunk + area
    r = rng.random()
    if country == "FR":
        full = area + sub  # 9 digits
        pairs = [full[0]] + [full[i:i + 2] for i in range(1, 9, 2)]
        sep = rng.choice([" ", " ", ".", "-", ""])
        if r < 0.55:
            return ("0" + pairs[0] + sep + sep.join(pairs[1:])) if sep else "0" + full
        if r < 0.85:
            return "+33 " + pairs[0] + " " + " ".join(pairs[1:])
        if r < 0.93:
            return "+33" + full
        return "+33 (0)" + pairs[0] + " " + " ".join(pairs[1:])
    subparts = _split_sub(rng, sub, country)
    if country == "ES":
        full = area + sub
        if r < 0.5:
            return rng.choice([full[:3] + " " + full[3:6] + " " + full[6:],
                               full[:3] + " " + full[3:5] + " " + full[5:7] + " " + full[7:], full])
        if r < 0.9:
            return "+34 " + rng.choice([full[:3] + " " + full[3:6] + " " + full[6:],
                                        full[:3] + " " + full[3:5] + " " + full[5:7] + " " + full[7:]])
        return rng.choice(["+34", "0034 "]) + full
    if r < 0.5:
        # national
        sep = rng.choice([" ", " ", "/", "-"] if country in ("DE", "AT") else
                         [" ", "-"] if country == "NL" else [" ", "/"] if country == "BE" else [" "])
        body = " ".join(subparts) if sep in (" ", "/") else "".join(subparts)
        if country == "GB" and not mobile and rng.random() < 0.3:
            return "(%s) %s" % (national_area, body)
        if country == "DE" and rng.random() < 0.15:
            return "(%s) %s" % (national_area, "".join(subparts))
        if country == "BE" and sep == "/":
            return national_area + "/" + ".".join(subparts) if len(subparts) > 1 else national_area + "/" + sub
        return national_area + sep + body
    if r < 0.8:
        body = " ".join(subparts)
        if country in ("DE", "GB", "NL", "AT", "CH") and not mobile and rng.random() < 0.2:
            return "+%s (0)%s %s" % (cc, area, body)
        return "+%s %s %s" % (cc, area.lstrip("0") if country != "IT" else area, body)
    if r < 0.92:
        return "+%s%s%s" % (cc, area if country == "IT" else area, sub)  # E.164
    return "00%s %s %s" % (cc, area, " ".join(subparts))


def phone_like_artno(rng):
    """An article number printed like a phone number (hard negative)."""
    while True:
        s = rng.choice([
            "%s-%s-%s" % (digits(rng, 4, True), digits(rng, 3), digits(rng, 2)),
            "%s %s %s" % (digits(rng, 4, True), digits(rng, 4), digits(rng, 2)),
            "%s.%s.%s" % (digits(rng, 3, True), digits(rng, 3), digits(rng, 3)),
            "%s/%s" % (digits(rng, 3, True), digits(rng, 5)),
            "%s-%s" % (digits(rng, 5, True), digits(rng, 3)),
        ])
        if not V.is_valid_entity_string(s):
            return s


# --------------------------------------------------------------------------- national IDs


def ssn(rng):
    while True:
        a = rng.randint(1, 899)
        if a != 666:
            break
    s = "%03d-%02d-%04d" % (a, rng.randint(1, 99), rng.randint(1, 9999))
    if rng.random() < 0.15:
        s = s.replace("-", " ")
    assert V.ssn_ok(s)
    return s


def nino(rng):
    while True:
        a, b = rng.choice(UPPER), rng.choice(UPPER)
        if a in "DFIQUV" or b in "DFIOQUV" or a + b in V._NINO_BAD_PREFIX:
            continue
        break
    d = digits(rng, 6)
    suf = rng.choice("ABCD")
    s = rng.choice(["%s%s %s %s %s %s" % (a, b, d[:2], d[2:4], d[4:], suf), "%s%s%s%s" % (a, b, d, suf)])
    assert V.nino_ok(s)
    return s


def steuer_id(rng):
    while True:
        pool = list("0123456789")
        rng.shuffle(pool)
        dup = rng.choice(pool[:9])
        times = rng.choice([2, 2, 3])
        chosen = pool[: 10 - times + 1]
        if dup not in chosen:
            chosen[-1] = dup
        body = [c for c in chosen if c != dup] + [dup] * times
        body = body[:10]
        rng.shuffle(body)
        first10 = "".join(body)
        if len(first10) == 10 and V.steuerid_structure_ok(first10):
            break
    s = first10 + str(V.mod11_10_check(first10))
    assert V.steuerid_ok(s), s
    if rng.random() < 0.4:
        s = "%s %s %s %s" % (s[:2], s[2:5], s[5:8], s[8:])
    return s


def nir(rng, gender, dob):
    sex = "1" if gender == "m" else "2"
    yy = "%02d" % (dob[0] % 100)
    mm = "%02d" % dob[1]
    dep = "%02d" % rng.choice([n for n in range(1, 96) if n != 20])
    body = sex + yy + mm + dep + "%03d" % rng.randint(1, 990) + "%03d" % rng.randint(1, 999)
    key = 97 - int(body) % 97
    s = body + "%02d" % key
    assert V.nir_ok(s), s
    if rng.random() < 0.5:
        s = " ".join([s[0], s[1:3], s[3:5], s[5:7], s[7:10], s[10:13], s[13:]])
    return s


def dni(rng):
    num = digits(rng, 8)
    s = num + V.DNI_LETTERS[int(num) % 23]
    if rng.random() < 0.25:
        s = s[:8] + "-" + s[8]
    assert V.dni_ok(s)
    return s


def nie(rng):
    p = rng.choice("XYZ")
    num = digits(rng, 7)
    s = p + num + V.DNI_LETTERS[int(str("XYZ".index(p)) + num) % 23]
    assert V.dni_ok(s)
    return s


def _cf_part(name, is_first):
    letters = re.sub(r"[^A-Z]", "", V.ascii_fold(name).upper())
    cons = [c for c in letters if c not in "AEIOU"]
    vows = [c for c in letters if c in "AEIOU"]
    if is_first and len(cons) >= 4:
        code = cons[0] + cons[2] + cons[3]
    else:
        code = "".join(cons + vows)[:3]
    return (code + "XXX")[:3]


def codice_fiscale(rng, first, last, gender, dob):
    y, m, d = dob
    code = _cf_part(last, False) + _cf_part(first, True) + "%02d" % (y % 100) + V.CF_MONTHS[m - 1]
    code += "%02d" % (d + (40 if gender == "f" else 0))
    code += rng.choice("ABCDEFGHILM") + digits(rng, 3)
    code += V.cf_check_char(code)
    assert V.cf_ok(code), code
    return code


def bsn(rng):
    while True:
        d = digits(rng, 8, True)
        r = sum(int(x) * w for x, w in zip(d, range(9, 1, -1))) % 11
        if r < 10:
            s = d + str(r)
            if V.bsn_ok(s):
                break
    assert V.bsn_ok(s)
    return s


# --------------------------------------------------------------------------- VAT


def vat(rng, cc):
    """A valid EU VAT number with its country prefix."""
    while True:
        n = _vat_body(rng, cc)
        if n and V.vat_ok(cc + n):
            break
    s = cc + n
    if cc in ("DE", "FR", "IT", "ES", "AT", "BE", "PL", "PT") and rng.random() < 0.15:
        s = cc + " " + n
    assert V.vat_ok(s), s
    return s


def _vat_body(rng, cc):
    if cc == "DE":
        b = digits(rng, 8, True)
        return b + str(V.mod11_10_check(b))
    if cc == "AT":
        b = digits(rng, 7)
        for c in DIGITS:
            if V._vat_at("U" + b + c):
                return "U" + b + c
        return None
    if cc == "FR":
        b = digits(rng, 8, True)
        siren = b + V.luhn_check_digit(b)
        return "%02d" % ((12 + 3 * (int(siren) % 97)) % 97) + siren
    if cc == "NL":
        b = digits(rng, 8)
        r = sum(int(x) * w for x, w in zip(b, range(9, 1, -1))) % 11
        if r == 10:
            return None
        return b + str(r) + "B" + "%02d" % rng.randint(1, 3)
    if cc == "BE":
        b = rng.choice("01") + digits(rng, 7)
        if b[0] == "0" and b[1] == "0":
            b = "0" + rng.choice("3456789") + b[2:]
        return b + "%02d" % (97 - int(b) % 97)
    if cc == "ES":
        letter = rng.choice("AB")
        seven = digits(rng, 7)
        return letter + seven + str(V.cif_control(seven))
    if cc == "IT":
        b = digits(rng, 7) + "%03d" % rng.choice(list(range(1, 101)) + [120, 121])
        return b + V.luhn_check_digit(b)
    if cc == "PL":
        b = digits(rng, 9, True)
        r = sum(int(x) * w for x, w in zip(b, (6, 5, 7, 2, 3, 4, 5, 6, 7))) % 11
        return None if r == 10 else b + str(r)
    if cc == "LU":
        b = digits(rng, 6, True)
        return b + "%02d" % (int(b) % 89)
    if cc == "DK":
        for _ in range(20):
            b = digits(rng, 7, True)
            for c in DIGITS:
                if V._vat_dk(b + c):
                    return b + c
        return None
    if cc == "FI":
        b = digits(rng, 7)
        r = sum(int(x) * w for x, w in zip(b, (7, 9, 10, 5, 8, 4, 2))) % 11
        if r == 1:
            return None
        return b + str(0 if r == 0 else 11 - r)
    if cc == "SE":
        b = digits(rng, 9, True)
        return b + V.luhn_check_digit(b) + "01"
    if cc == "PT":
        b = rng.choice("5125") + digits(rng, 7)
        c = 11 - sum(int(x) * w for x, w in zip(b, range(9, 1, -1))) % 11
        return b + str(0 if c > 9 else c)
    raise ValueError(cc)


VAT_COUNTRIES = list(V.VAT_CHECKS)


# --------------------------------------------------------------------------- secrets

PEM_KINDS = ["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY"]


def pem_block(rng):
    kind = rng.choice(PEM_KINDS)
    nlines = {"RSA PRIVATE KEY": rng.randint(6, 14), "PRIVATE KEY": rng.randint(4, 12),
              "EC PRIVATE KEY": 3, "OPENSSH PRIVATE KEY": rng.randint(4, 7),
              "ENCRYPTED PRIVATE KEY": rng.randint(4, 9)}[kind]
    raw = bytes(rng.randrange(256) for _ in range(48 * nlines - rng.randint(0, 30)))
    b = base64.b64encode(raw).decode()
    if kind == "OPENSSH PRIVATE KEY":
        b = "b3BlbnNzaC1rZXktdjEAAAAA" + b[24:]
    elif kind == "EC PRIVATE KEY":
        b = "MHcCAQEEI" + b[9:]
    elif kind in ("RSA PRIVATE KEY",):
        b = "MIIEo" + b[5:]
    body = "\n".join(b[i:i + 64] for i in range(0, len(b), 64))
    return "-----BEGIN %s-----\n%s\n-----END %s-----" % (kind, body, kind)


def _b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(rng):
    header = {"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}
    payload = {"sub": str(rng.randint(1000, 99999999)), "iat": rng.randint(1700000000, 1760000000)}
    payload["exp"] = payload["iat"] + rng.choice([900, 3600, 86400])
    if rng.random() < 0.5:
        payload["scope"] = rng.choice(["read write", "orders:read", "wc/v3"])
    if rng.random() < 0.4:
        payload["iss"] = rng.choice(["https://auth.shop-backend.io", "wc-api", "sovgate-test"])
    sig = _b64url(bytes(rng.randrange(256) for _ in range(rng.choice([32, 32, 64]))))
    return "%s.%s.%s" % (_b64url(json.dumps(header, separators=(",", ":")).encode()),
                         _b64url(json.dumps(payload, separators=(",", ":")).encode()), sig)


def api_key(rng, kind=None):
    """(kind, value) of a provider API key in its real printed format."""
    kind = kind or rng.choice(["openai", "openai_proj", "anthropic", "aws_id", "aws_secret", "stripe",
                               "stripe_rk", "github", "github_pat", "google", "slack"])
    if kind == "openai":
        v = "sk-" + rand_str(rng, ALNUM, 20) + "T3BlbkFJ" + rand_str(rng, ALNUM, 20)
    elif kind == "openai_proj":
        v = "sk-proj-" + rand_str(rng, B64URL, rng.choice([64, 74])) + "T3BlbkFJ" + rand_str(rng, B64URL, rng.choice([64, 74]))
    elif kind == "anthropic":
        v = "sk-ant-api03-" + rand_str(rng, B64URL, 93) + "AA"
    elif kind == "aws_id":
        v = "AKIA" + rand_str(rng, UPPER + "234567", 16)
    elif kind == "aws_secret":
        v = rand_str(rng, B64, 40)
    elif kind == "stripe":
        v = "sk_live_" + rand_str(rng, ALNUM, rng.choice([24, 99]))
    elif kind == "stripe_rk":
        v = "rk_live_" + rand_str(rng, ALNUM, rng.choice([24, 99]))
    elif kind == "github":
        v = "ghp_" + rand_str(rng, ALNUM, 36)
    elif kind == "github_pat":
        v = "github_pat_" + rand_str(rng, ALNUM, 22) + "_" + rand_str(rng, ALNUM, 59)
    elif kind == "google":
        v = "AIza" + rand_str(rng, B64URL, 35)
    elif kind == "slack":
        v = "xoxb-%s-%s-%s" % (digits(rng, rng.choice([11, 12, 13]), True), digits(rng, 13, True), rand_str(rng, ALNUM, 24))
    else:
        raise ValueError(kind)
    return kind, v


_PW_WORDS = ["Sommer", "Winter", "Katze", "Sonne", "Soleil", "Verano", "Estate", "Zomer", "Hunter", "Dragon",
             "Shop", "Admin", "Welkom", "Bienvenue", "Passw", "Garten", "Mare", "Fiets", "Playa", "Montagne"]
_PW_TAIL = "!#$%&*+=?-_"


def password(rng):
    """A password value: no whitespace, quote characters or backslashes (so it can stand
    quoted or unquoted), and it never ends in sentence punctuation."""
    r = rng.random()
    if r < 0.35:
        pw = rng.choice(_PW_WORDS) + str(rng.randint(1, 2025)) + rng.choice("!#$%&*?")
    elif r < 0.7:
        pw = rand_str(rng, ALNUM + _PW_TAIL, rng.randint(10, 18))
    elif r < 0.85:
        pw = rng.choice(_PW_WORDS).lower() + rng.choice(["_", "-", ".", ""]) + rand_str(rng, ALNUM, rng.randint(3, 6))
    else:
        pw = rand_str(rng, ALNUM, rng.randint(12, 24))
    while pw[-1] in ".,;:!?)]}'\"-":
        pw = pw[:-1] + rng.choice(ALNUM)
    if pw[0] in "-_":
        pw = rng.choice(ALNUM) + pw[1:]
    return pw


# --------------------------------------------------------------------------- misc negatives


def hexhash(rng, n=None):
    return rand_str(rng, "0123456789abcdef", n or rng.choice([32, 40, 64, 7]))


def uuid4(rng):
    h = hexhash(rng, 32)
    h = h[:12] + "4" + h[13:16] + rng.choice("89ab") + h[17:]
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def ean13(rng):
    while True:
        body = rng.choice(["400", "401", "402", "403", "404", "405", "406", "407", "408", "409", "410",
                           "420", "440", "300", "330", "370", "800", "840", "870", "871", "872",
                           "540", "541", "760", "761", "900", "901"]) + digits(rng, 9)
        for c in DIGITS:
            if V.ean_ok(body + c):
                s = body + c
        if not V.is_valid_entity_string(s):
            return s


def upc12(rng):
    while True:
        body = digits(rng, 11)
        for c in DIGITS:
            if V.ean_ok(body + c):
                s = body + c
        if not V.is_valid_entity_string(s):
            return s


def tracking(rng):
    """(carrier, number) of a parcel tracking number in a real carrier format."""
    while True:
        carrier, s = _tracking_once(rng)
        if not V.is_valid_entity_string(s):
            return carrier, s


def _tracking_once(rng):
    r = rng.random()
    if r < 0.2:
        return "DHL", "00340434" + digits(rng, 12)
    if r < 0.3:
        return "DHL", "JJD" + digits(rng, 15, True)
    if r < 0.4:
        return "DHL", digits(rng, 12, True)
    if r < 0.55:
        return "UPS", "1Z" + rand_str(rng, UPPER + DIGITS, 6) + rng.choice(["01", "02", "03", "12", "13", "42"]) + digits(rng, 8)
    if r < 0.68:
        return "PostNL", "3S" + rand_str(rng, UPPER, 4) + digits(rng, rng.choice([7, 9]))
    if r < 0.76:
        return "DPD", digits(rng, 14, True)
    if r < 0.82:
        return "GLS", rand_str(rng, UPPER + DIGITS, 8)
    if r < 0.9:
        cc = rng.choice(["DE", "GB", "FR", "NL", "IT", "ES"])
        return rng.choice(["Royal Mail", "La Poste", "Correos", "Poste Italiane", "Deutsche Post"]), \
            rng.choice(["RR", "CX", "LX", "RB", "CP"]) + digits(rng, 9) + cc
    if r < 0.95:
        return "Colissimo", rng.choice(["6A", "8R", "6C"]) + digits(rng, 11)
    return "SEUR", digits(rng, 10, True)


def order_no(rng):
    return rng.choice([
        "#%d" % rng.randint(1000, 999999),
        "%d" % rng.randint(10000, 999999),
        "WC-%d" % rng.randint(10000, 99999),
        "ORD-%d-%05d" % (rng.randint(2019, 2025), rng.randint(1, 99999)),
        "B-%d-%d" % (rng.randint(2019, 2025), rng.randint(100, 9999)),
        "%d-%d" % (rng.randint(100, 999), rng.randint(1000, 9999)),
    ])


def invoice_no(rng):
    return rng.choice([
        "RE-%d-%06d" % (rng.randint(2019, 2025), rng.randint(1, 99999)),
        "INV-%06d" % rng.randint(1, 999999),
        "%d/%04d" % (rng.randint(2019, 2025), rng.randint(1, 9999)),
        "FA-%02d-%05d" % (rng.randint(19, 25), rng.randint(1, 99999)),
        "F%d-%05d" % (rng.randint(2019, 2025), rng.randint(1, 99999)),
        "R%d%04d" % (rng.randint(19, 25), rng.randint(1, 9999)),
    ])


def sku(rng):
    return rng.choice([
        "%s-%s-%s-%03d" % (rand_str(rng, UPPER, 3), rng.choice(["BLK", "WHT", "RED", "BLU", "GRN", "NAT"]),
                           rng.choice(["S", "M", "L", "XL", "36", "38", "42"]), rng.randint(1, 999)),
        "%s-%d-%s" % (rand_str(rng, UPPER, 2), rng.randint(100, 9999), rand_str(rng, UPPER, 2)),
        "ART-%05d" % rng.randint(1, 99999),
        "%02d-%04d-%02d" % (rng.randint(10, 99), rng.randint(0, 9999), rng.randint(0, 99)),
        "%s%05d" % (rand_str(rng, UPPER, 2), rng.randint(0, 99999)),
    ])


def customer_no(rng):
    return rng.choice(["%d" % rng.randint(10000, 999999), "K-%06d" % rng.randint(1, 999999),
                       "C%07d" % rng.randint(1, 9999999)])


def coupon(rng):
    return rng.choice(["SOMMER", "WINTER", "WELCOME", "BLACKFRIDAY", "NEWSLETTER", "PROMO", "HERBST",
                       "PRIMAVERA", "SOLDES", "KORTING"]) + str(rng.choice([5, 10, 15, 20, 24, 25, 30]))


def hs_code(rng):
    return "%04d %02d %02d" % (rng.randint(3900, 9700), rng.randint(0, 99), rng.randint(0, 90))


def german_tax_number(rng):
    while True:
        s = "%d/%03d/%05d" % (rng.randint(10, 99), rng.randint(100, 999), rng.randint(10000, 99999))
        if not V.is_valid_entity_string(s):
            return s


def checked(fn, *a):
    """Call a negative generator until its value does not validate as any entity."""
    while True:
        v = fn(*a)
        if not V.is_valid_entity_string(v):
            return v
