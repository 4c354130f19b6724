"""Check-digit validators for the PII evaluation corpus (Python standard library only).

These are independent re-implementations of the published checks that the corpus
generator (generate.py) uses to build valid entities and to prove that its hard negatives
are NOT valid entities, and that check.py uses to verify a generated corpus. They are not
the detector's code (that lives in src/redact/ in C); two independent implementations
agreeing is the point.

Every function takes a string and returns True/False; none raises on odd input.
"""

import re
import unicodedata

# --------------------------------------------------------------------------- cards


def luhn_ok(digits):
    """True if the digit string passes the Luhn (mod 10) check."""
    if not digits.isdigit() or len(digits) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_check_digit(partial):
    """The digit that makes partial + digit pass Luhn."""
    for d in "0123456789":
        if luhn_ok(partial + d):
            return d
    raise AssertionError("unreachable")


# (name, prefix ranges as (lo, hi) of equal-length prefixes, allowed lengths)
CARD_BRANDS = [
    ("visa", [("4", "4")], (13, 16, 19)),
    ("mastercard", [("51", "55"), ("2221", "2720")], (16,)),
    ("amex", [("34", "34"), ("37", "37")], (15,)),
    ("discover", [("6011", "6011"), ("644", "649"), ("65", "65")], (16, 19)),
    ("jcb", [("3528", "3589")], (16, 17, 18, 19)),
    ("diners", [("300", "305"), ("36", "36"), ("38", "39")], (14, 16)),
    ("unionpay", [("62", "62")], (16, 17, 18, 19)),
    ("maestro", [("5018", "5018"), ("5020", "5020"), ("5038", "5038"), ("5893", "5893"),
                 ("6304", "6304"), ("6759", "6759"), ("6761", "6763")], (12, 13, 14, 15, 16, 17, 18, 19)),
]


def card_brand(digits):
    """Name of the issuer whose prefix and length match the digit string, else None.
    Does not check Luhn."""
    if not digits.isdigit():
        return None
    for name, ranges, lengths in CARD_BRANDS:
        if len(digits) not in lengths:
            continue
        for lo, hi in ranges:
            p = digits[: len(lo)]
            if lo <= p <= hi:
                return name
    return None


def card_ok(s):
    """True if s (digits with optional spaces/dashes) is a Luhn-valid number with a real
    issuer prefix and length."""
    digits = re.sub(r"[ -]", "", s)
    return card_brand(digits) is not None and luhn_ok(digits)


# --------------------------------------------------------------------------- IBAN

IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22,
    "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18,
    "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
}


def _iban_numeric(s):
    return "".join(str(int(c, 36)) for c in s)


def iban_mod97(compact):
    """The ISO 13616 remainder of a compact IBAN (1 means valid)."""
    rearranged = compact[4:] + compact[:4]
    return int(_iban_numeric(rearranged)) % 97


def iban_ok(s):
    """True if s (compact or grouped with single spaces) is an IBAN of a known country with
    that country's length and a valid mod-97 check."""
    compact = s.replace(" ", "")
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+", compact):
        return False
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    return iban_mod97(compact) == 1


def iban_check_digits(country, bban):
    """The two check digits for country + bban."""
    r = int(_iban_numeric(bban + country + "00")) % 97
    return "%02d" % (98 - r)


# --------------------------------------------------------------------------- national IDs


def ssn_ok(s):
    """US Social Security Number AAA-GG-SSSS (dashes or spaces or none): SSNs carry no check
    digit; validity is the SSA's structural rules (area not 000/666/9xx, group not 00,
    serial not 0000)."""
    m = re.fullmatch(r"(\d{3})[- ]?(\d{2})[- ]?(\d{4})", s)
    if not m:
        return False
    a, g, n = m.groups()
    return a not in ("000", "666") and a[0] != "9" and g != "00" and n != "0000"


_NINO_BAD_PREFIX = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}


def nino_ok(s):
    """UK National Insurance number, e.g. 'AB 12 34 56 C' or 'AB123456C'."""
    compact = s.replace(" ", "")
    m = re.fullmatch(r"([A-Z])([A-Z])(\d{6})([A-D])", compact)
    if not m:
        return False
    a, b = m.group(1), m.group(2)
    if a in "DFIQUV" or b in "DFIOQUV" or (a + b) in _NINO_BAD_PREFIX:
        return False
    return True


def mod11_10_check(digits):
    """ISO 7064 MOD 11,10 check digit over a digit string (German Steuer-ID, German VAT)."""
    product = 10
    for ch in digits:
        s = (int(ch) + product) % 10
        if s == 0:
            s = 10
        product = (s * 2) % 11
    check = 11 - product
    return 0 if check == 10 else check


def steuerid_structure_ok(first10):
    """The BZSt digit-distribution rule for the first ten digits of a Steuer-ID: first digit
    not 0; exactly one digit occurs twice or three times, every other digit at most once;
    a digit occurring three times must not occupy three adjacent positions."""
    if len(first10) != 10 or not first10.isdigit() or first10[0] == "0":
        return False
    counts = {}
    for ch in first10:
        counts[ch] = counts.get(ch, 0) + 1
    multi = [d for d, c in counts.items() if c > 1]
    if len(multi) != 1 or counts[multi[0]] not in (2, 3):
        return False
    if counts[multi[0]] == 3 and (multi[0] * 3) in first10:
        return False
    return True


def steuerid_ok(s):
    """German tax identification number (11 digits, optionally grouped 'XX XXX XXX XXX')."""
    digits = s.replace(" ", "")
    if len(digits) != 11 or not digits.isdigit():
        return False
    return steuerid_structure_ok(digits[:10]) and mod11_10_check(digits[:10]) == int(digits[10])


def nir_ok(s):
    """French NIR (numéro de sécurité sociale), 13 digits + 2-digit key, spaces allowed;
    Corsican departments 2A/2B are handled."""
    compact = s.replace(" ", "")
    m = re.fullmatch(r"([12])(\d{2})(\d{2})(\d{2}|2A|2B)(\d{3})(\d{3})(\d{2})", compact)
    if not m:
        return False
    month = int(m.group(3))
    if not (1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99):
        return False
    body = compact[:13].replace("2A", "19").replace("2B", "18")
    return 97 - int(body) % 97 == int(compact[13:])


DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_ok(s):
    """Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter); an optional dash
    or space before the letter."""
    compact = s.replace("-", "").replace(" ", "")
    m = re.fullmatch(r"([XYZ]?)(\d{7,8})([A-Z])", compact)
    if not m:
        return False
    prefix, num, letter = m.groups()
    if prefix:
        if len(num) != 7:
            return False
        num = str("XYZ".index(prefix)) + num
    elif len(num) != 8:
        return False
    return DNI_LETTERS[int(num) % 23] == letter


_CF_ODD = {
    **dict(zip("0123456789", [1, 0, 5, 7, 9, 13, 15, 17, 19, 21])),
    **dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ",
               [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10,
                22, 25, 24, 23])),
}


def _cf_even(ch):
    return int(ch) if ch.isdigit() else ord(ch) - 65


def cf_check_char(first15):
    """Codice fiscale check character of the first 15 characters (also the CIN of an
    Italian BBAN, which uses the same odd/even tables)."""
    total = 0
    for i, ch in enumerate(first15):
        total += _CF_ODD[ch] if i % 2 == 0 else _cf_even(ch)
    return chr(65 + total % 26)


CF_MONTHS = "ABCDEHLMPRST"


def cf_ok(s):
    """Italian codice fiscale of a person (16 characters, no omocodia substitutions)."""
    m = re.fullmatch(r"[A-Z]{6}\d{2}[ABCDEHLMPRST]\d{2}[A-Z]\d{3}[A-Z]", s)
    if not m:
        return False
    day = int(s[9:11])
    if not (1 <= day <= 31 or 41 <= day <= 71):
        return False
    return cf_check_char(s[:15]) == s[15]


def bsn_ok(s):
    """Dutch burgerservicenummer: 9 digits (dots allowed as 'dddd.dd.ddd'), 11-test with the
    last weight -1, not all zero."""
    digits = s.replace(".", "").replace(" ", "")
    if len(digits) != 9 or not digits.isdigit() or digits == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1))) - int(digits[8])
    return total % 11 == 0


def national_id_kind(s):
    """Which national ID format s is valid as (ssn, nino, steuerid, nir, dni, cf, bsn), or
    None. Several may fit a bare digit string; the first match is returned."""
    for name, fn in (("nino", nino_ok), ("cf", cf_ok), ("dni", dni_ok), ("nir", nir_ok),
                     ("steuerid", steuerid_ok), ("bsn", bsn_ok)):
        if fn(s):
            return name
    # A bare 9-digit string is structurally a valid SSN almost always; the corpus prints
    # SSNs with separators only, so only separated forms count as SSNs here.
    if ssn_ok(s) and not s.isdigit():
        return "ssn"
    return None


# --------------------------------------------------------------------------- VAT


def _vat_de(n):
    return re.fullmatch(r"[1-9]\d{8}", n) is not None and mod11_10_check(n[:8]) == int(n[8])


def _vat_at(n):
    m = re.fullmatch(r"U(\d{8})", n)
    if not m:
        return False
    d = m.group(1)
    total = 0
    for i, ch in enumerate(d[:7]):
        v = int(ch) * (1 if i % 2 == 0 else 2)
        total += v // 10 + v % 10
    return (10 - (total + 4) % 10) % 10 == int(d[7])


def _vat_fr(n):
    m = re.fullmatch(r"(\d{2})(\d{9})", n)
    if not m:
        return False
    key, siren = m.groups()
    return luhn_ok(siren) and int(key) == (12 + 3 * (int(siren) % 97)) % 97


def _vat_nl(n):
    m = re.fullmatch(r"(\d{9})B(\d{2})", n)
    if not m:
        return False
    d = m.group(1)
    r = sum(int(x) * w for x, w in zip(d[:8], range(9, 1, -1))) % 11
    return r != 10 and r == int(d[8]) and m.group(2) != "00"


def _vat_be(n):
    if not re.fullmatch(r"[01]\d{9}", n):
        return False
    return 97 - int(n[:8]) % 97 == int(n[8:])


_CIF_LETTERS = "JABCDEFGHI"


def cif_control(seven):
    """The control value (0..9) of a Spanish CIF over its 7 digits."""
    even = sum(int(seven[i]) for i in (1, 3, 5))
    odd = 0
    for i in (0, 2, 4, 6):
        v = int(seven[i]) * 2
        odd += v // 10 + v % 10
    return (10 - (even + odd) % 10) % 10


def _vat_es(n):
    if dni_ok(n):  # natural persons: NIF = DNI/NIE
        return True
    m = re.fullmatch(r"([ABCDEFGHJNPQRSUVW])(\d{7})([0-9A-J])", n)
    if not m:
        return False
    letter, seven, ctrl = m.groups()
    c = cif_control(seven)
    if letter in "ABEH":
        return ctrl == str(c)
    if letter in "KPQS":
        return ctrl == _CIF_LETTERS[c]
    return ctrl in (str(c), _CIF_LETTERS[c])


def _vat_it(n):
    if not re.fullmatch(r"\d{11}", n):
        return False
    office = int(n[7:10])
    if not (1 <= office <= 100 or office in (120, 121, 888, 999)):
        return False
    return luhn_ok(n)


def _vat_pl(n):
    if not re.fullmatch(r"\d{10}", n):
        return False
    r = sum(int(x) * w for x, w in zip(n[:9], (6, 5, 7, 2, 3, 4, 5, 6, 7))) % 11
    return r != 10 and r == int(n[9])


def _vat_lu(n):
    return re.fullmatch(r"\d{8}", n) is not None and int(n[:6]) % 89 == int(n[6:])


def _vat_dk(n):
    if not re.fullmatch(r"[1-9]\d{7}", n):
        return False
    return sum(int(x) * w for x, w in zip(n, (2, 7, 6, 5, 4, 3, 2, 1))) % 11 == 0


def _vat_fi(n):
    if not re.fullmatch(r"\d{8}", n):
        return False
    r = sum(int(x) * w for x, w in zip(n[:7], (7, 9, 10, 5, 8, 4, 2))) % 11
    if r == 1:
        return False
    return (0 if r == 0 else 11 - r) == int(n[7])


def _vat_se(n):
    return re.fullmatch(r"\d{10}01", n) is not None and luhn_ok(n[:10])


def _vat_pt(n):
    if not re.fullmatch(r"[1-9]\d{8}", n):
        return False
    c = 11 - sum(int(x) * w for x, w in zip(n[:8], range(9, 1, -1))) % 11
    return (0 if c > 9 else c) == int(n[8])


VAT_CHECKS = {"DE": _vat_de, "AT": _vat_at, "FR": _vat_fr, "NL": _vat_nl, "BE": _vat_be,
              "ES": _vat_es, "IT": _vat_it, "PL": _vat_pl, "LU": _vat_lu, "DK": _vat_dk,
              "FI": _vat_fi, "SE": _vat_se, "PT": _vat_pt}


def vat_ok(s):
    """EU VAT identification number with its country prefix; a single space after the prefix
    and spaces between digit groups are tolerated."""
    compact = s.replace(" ", "").replace(".", "")
    cc, rest = compact[:2], compact[2:]
    fn = VAT_CHECKS.get(cc)
    return bool(fn and fn(rest))


# --------------------------------------------------------------------------- misc


def ean_ok(digits):
    """GTIN-8/12/13/14 (EAN/UPC) check digit."""
    if not digits.isdigit() or len(digits) not in (8, 12, 13, 14):
        return False
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def ascii_fold(s):
    """Letters without accents (é -> e, ß -> ss, ø -> o); used for e-mail local parts and
    codice fiscale name codes."""
    s = s.replace("ß", "ss").replace("ẞ", "SS").replace("Æ", "AE").replace("æ", "ae")
    s = s.replace("Ø", "O").replace("ø", "o").replace("Œ", "OE").replace("œ", "oe")
    s = s.replace("Ł", "L").replace("ł", "l")
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


# A candidate scanner: substrings of free text that are VALID entities of a checksum type,
# found the way a boundary-anchored detector would find them (the longest run of the type's
# characters between word boundaries, for IBANs every length the country allows). check.py
# uses it to prove that every such substring is labelled, and generate.py to reject hard
# negatives that would be valid by accident.
_RX_CARD = re.compile(r"(?<![\w.,/-])\d(?:[ -]?\d){11,18}(?![\w/-]|[.,]\d)")
_RX_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}")
_RX_VAT = re.compile(r"(?<![\w-])(DE|AT|FR|NL|BE|ES|IT|PL|LU|DK|FI|SE|PT) ?([0-9A-Z]{8,12})(?![\w-])")
_RX_NATID = re.compile(
    r"(?<![\w./-])(?:\d{3}[- ]\d{2}[- ]\d{4}"  # SSN (separated)
    r"|[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]"  # NINO
    r"|\d{2} ?\d{3} ?\d{3} ?\d{3}"  # Steuer-ID
    r"|[12] ?\d{2} ?\d{2} ?(?:\d{2}|2A|2B) ?\d{3} ?\d{3} ?\d{2}"  # NIR
    r"|[XYZ]?\d{7,8}[- ]?[A-Z]"  # DNI / NIE
    r"|[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]"  # codice fiscale
    r"|\d{9}|\d{4}\.\d{2}\.\d{3})(?![\w/-]|[.,]\d)"  # BSN
)


def valid_candidates(text):
    """Yield (type, start, end, substring) for substrings of text (str offsets) that are
    valid card numbers, IBANs, VAT IDs or national IDs."""
    for m in _RX_CARD.finditer(text):
        if card_ok(m.group(0)):
            yield "CARD", m.start(), m.end(), m.group(0)
    for m in _RX_IBAN_START.finditer(text):
        length = IBAN_LENGTHS.get(m.group(0)[:2])
        if not length:
            continue
        i = m.start()
        compact = text[i:i + length]
        after = text[i + length:i + length + 1]
        if len(compact) == length and not after.isalnum() and iban_ok(compact):
            yield "IBAN", i, i + length, compact
            continue
        glen = length + (length - 1) // 4
        grouped = text[i:i + glen]
        after = text[i + glen:i + glen + 1]
        if (len(grouped) == glen and not after.isalnum() and
                re.fullmatch(r"[A-Z0-9]{4}(?: [A-Z0-9]{1,4})+", grouped) and iban_ok(grouped)):
            yield "IBAN", i, i + glen, grouped
    for m in _RX_VAT.finditer(text):
        if vat_ok(m.group(0)):
            yield "VAT_ID", m.start(), m.end(), m.group(0)
    for m in _RX_NATID.finditer(text):
        if national_id_kind(m.group(0)):
            yield "NATIONAL_ID", m.start(), m.end(), m.group(0)


def is_valid_entity_string(s):
    """True if the string s, its separator-free form, or a substring a detector would
    consider, validates as a card, IBAN, VAT ID or national ID. generate.py rejects hard
    negatives and phone numbers for which this is True."""
    bare = re.sub(r"[ .\-/+]", "", s)
    for cand in (s, bare):
        if card_ok(cand) or iban_ok(cand) or vat_ok(cand) or national_id_kind(cand):
            return True
    for run in re.findall(r"\d+", bare) + re.findall(r"\d+", s):
        if card_ok(run) or national_id_kind(run):
            return True
    for _ in valid_candidates(s):
        return True
    return False
