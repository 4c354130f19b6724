/* Names (PERSON) and postal addresses (ADDRESS).
 *
 * Addresses are anchored on what is hard to fake: a postcode in one of the national formats
 * (DE 5 digits, AT/CH/BE 4, FR/ES/IT 5, NL "1234 AB", UK outward+inward codes, US ZIP after a
 * state code) next to a city, and a street line with a house number before it, within the
 * same block of lines. The span runs from the street to the city (or the postcode where it
 * comes last, as in the UK and the US).
 *
 * Names need evidence: a salutation or title (Herr, Mme, Sr., Dhr. …), a greeting (Dear,
 * Liebe, Cher, Estimado, Gentile, Beste …), an introduction ("my name is", "ich heiße",
 * "je m'appelle" …), a label (Name:, Kunde:, Nom : …), a signature after a closing line,
 * the line before an address, or a first name known to the gazetteer followed by a
 * capitalized surname. Salutations and titles are not part of the span. */
#include "redact/detect_int.h"

#include <string.h>
#include <strings.h>

/* ---- words ---- */

/* An upper-case letter at t[i] (ASCII, or a Latin-1 capital in UTF-8: C3 80..9E). */
static size_t upper_at(const unsigned char *t, size_t n, size_t i)
{
    if (i < n && sg_is_upper(t[i]))
        return 1;
    if (i + 1 < n && t[i] == 0xC3 && t[i + 1] >= 0x80 && t[i + 1] <= 0x9E && t[i + 1] != 0x97)
        return 2;
    if (i + 1 < n && t[i] == 0xC5 && (t[i + 1] == 0xA0 || t[i + 1] == 0xBD || t[i + 1] == 0x81))
        return 2; /* Š Ž Ł */
    return 0;
}

static bool lower_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || c >= 0x80 || c == '\'';
}

/* A capitalized word at i: a capital then at least one lower-case letter, hyphenated parts
 * allowed (Marie-Claire, Müller-Lüdenscheidt). Returns its length or 0. */
static size_t cap_word(const unsigned char *t, size_t n, size_t i)
{
    size_t u = upper_at(t, n, i);
    if (!u)
        return 0;
    size_t k = i + u;
    size_t lows = 0;
    while (k < n && lower_byte(t[k]) && k - i < 40) {
        k++;
        lows++;
    }
    if (lows == 0)
        return 0;
    if (k + 1 < n && t[k] == '-' && upper_at(t, n, k + 1)) {
        size_t more = cap_word(t, n, k + 1);
        if (more)
            k += 1 + more;
    }
    if (k < n && (sg_is_digit(t[k]) || sg_is_upper(t[k]) || t[k] == '_' || t[k] == '@'))
        return 0; /* glued to digits or capitals: a code, not a name */
    return k - i;
}

static const char *const particles[] = {"van der", "van den", "von der", "van de", "de la", "van",
                                        "von",     "de",      "der",     "den",    "da",    "di",
                                        "del",     "della",   "du",      "le",     "la",    "ter",
                                        "ten",     "dos",     "das",     "zu",     "y",     NULL};

static size_t particle_at(const unsigned char *t, size_t n, size_t i)
{
    for (const char *const *p = particles; *p; p++) {
        size_t l = strlen(*p);
        if (i + l + 1 < n && memcmp(t + i, *p, l) == 0 && t[i + l] == ' ' &&
            upper_at(t, n, i + l + 1))
            return l + 1;
    }
    return 0;
}

/* Words that are capitalized but never part of a name here. */
static const char *const not_names[] = {"The",        "This",
                                        "That",       "These",
                                        "Your",       "Our",
                                        "We",         "You",
                                        "They",       "Thank",
                                        "Thanks",     "Please",
                                        "Order",      "Invoice",
                                        "Customer",   "Shop",
                                        "Team",       "Support",
                                        "Service",    "Best",
                                        "Kind",       "Regards",
                                        "Dear",       "Hello",
                                        "Hi",         "Der",
                                        "Die",        "Das",
                                        "Ihr",        "Ihre",
                                        "Wir",        "Sie",
                                        "Bitte",      "Danke",
                                        "Vielen",     "Bestellung",
                                        "Rechnung",   "Kundenservice",
                                        "Le",         "La",
                                        "Les",        "Votre",
                                        "Nous",       "Merci",
                                        "Commande",   "El",
                                        "Los",        "Las",
                                        "Su",         "Gracias",
                                        "Pedido",     "Il",
                                        "Lo",         "Gli",
                                        "Grazie",     "Ordine",
                                        "De",         "Het",
                                        "Uw",         "Wij",
                                        "Bedankt",    "Bestelling",
                                        "Street",     "Road",
                                        "Straße",     "Strasse",
                                        "Rue",        "Calle",
                                        "Via",        "Avenue",
                                        "Mit",        "Und",
                                        "Monday",     "Tuesday",
                                        "Wednesday",  "Thursday",
                                        "Friday",     "Saturday",
                                        "Sunday",     "Montag",
                                        "Dienstag",   "Mittwoch",
                                        "Donnerstag", "Freitag",
                                        "Samstag",    "Sonntag",
                                        "January",    "February",
                                        "March",      "April",
                                        "May",        "June",
                                        "July",       "August",
                                        "September",  "October",
                                        "November",   "December",
                                        "Januar",     "Februar",
                                        "März",       "Juni",
                                        "Juli",       "Oktober",
                                        "Dezember",   "GmbH",
                                        "Ltd",        "Inc",
                                        "SARL",       "BV",
                                        "SpA",        "SL",
                                        "AG",         "Email",
                                        "Mail",       "Phone",
                                        "Tel",        NULL};

static bool is_not_name(const unsigned char *t, size_t len)
{
    for (const char *const *w = not_names; *w; w++)
        if (strlen(*w) == len && memcmp(t, *w, len) == 0)
            return true;
    return false;
}

/* A name from i: up to `max` capitalized words (with particles between) on one line.
 * Returns the end, or i when there is no name. */
static size_t name_run(const unsigned char *t, size_t n, size_t i, int max)
{
    size_t k = i, end = i;
    int words = 0;
    while (words < max) {
        size_t p = particle_at(t, n, k);
        size_t w = cap_word(t, n, k + p);
        if (!w || is_not_name(t + k + p, w))
            break;
        k += p + w;
        end = k;
        words++;
        if (k + 1 < n && t[k] == ' ' && (upper_at(t, n, k + 1) || particle_at(t, n, k + 1)))
            k++;
        else
            break;
    }
    return end;
}

/* ---- addresses ---- */

static size_t digits_at(const unsigned char *t, size_t n, size_t i)
{
    size_t k = i;
    while (k < n && sg_is_digit(t[k]))
        k++;
    return k - i;
}

/* A city after a postcode: capitalized words, with small connecting words ("am Main",
 * "sur Mer", "an der", "(Oder)"), ending at a comma, a line end or punctuation. */
static size_t city_run(const unsigned char *t, size_t n, size_t i)
{
    static const char *const links[] = {
        "am ", "an der ", "im ",  "bei ",     "ob der ", "sur ",  "sous ", "en ", "de ", "del ",
        "la ", "le ",     "les ", "aan den ", "aan de ", "upon ", "on ",   "di ", NULL};
    size_t k = i, end = i;
    for (int words = 0; words < 5; words++) {
        size_t w = cap_word(t, n, k);
        if (!w && k < n && t[k] == '(') {
            size_t inner = cap_word(t, n, k + 1);
            if (inner && k + 1 + inner < n && t[k + 1 + inner] == ')')
                w = inner + 2;
        }
        if (!w && k + 2 < n && sg_is_upper(t[k]) && sg_is_upper(t[k + 1]) &&
            (k + 2 >= n || !sg_is_alnum(t[k + 2])))
            w = 2; /* a province code (MI) */
        if (!w)
            break;
        k += w;
        end = k;
        if (k < n && t[k] == ' ') {
            bool linked = false;
            for (const char *const *l = links; *l && !linked; l++) {
                size_t ll = strlen(*l);
                if (k + 1 + ll < n && memcmp(t + k + 1, *l, ll) == 0 &&
                    (upper_at(t, n, k + 1 + ll) || t[k + 1 + ll] == '('))
                    k += 1 + ll, linked = true;
            }
            if (!linked) {
                if (k + 1 < n && (upper_at(t, n, k + 1) || t[k + 1] == '('))
                    k++;
                else
                    break;
            }
        } else if (k < n && t[k] == '-' && upper_at(t, n, k + 1)) {
            k++;
        } else {
            break;
        }
    }
    return end;
}

static const char *const street_words[] = {
    /* de/at/ch */ "straße",
    "strasse",
    "str.",
    "weg",
    "gasse",
    "platz",
    "allee",
    "ring",
    "damm",
    "ufer",
    "chaussee",
    "pfad",
    "steig",
    "markt",
    "graben",
    "zeile",
    "kai",
    /* nl/be */ "straat",
    "laan",
    "plein",
    "gracht",
    "kade",
    "singel",
    "dijk",
    "steeg",
    "hof",
    /* uk/us */ " street",
    " st",
    " road",
    " rd",
    " lane",
    " ln",
    " avenue",
    " ave",
    " close",
    " drive",
    " dr",
    " way",
    " place",
    " pl",
    " court",
    " ct",
    " crescent",
    " gardens",
    " terrace",
    " grove",
    " hill",
    " park",
    " square",
    " boulevard",
    " blvd",
    " parkway",
    " pkwy",
    " circle",
    " cir",
    " highway",
    " hwy",
    NULL};
static const char *const street_prefixes[] = {
    "rue ",      "avenue ",  "av. ",      "boulevard ", "bd ",     "place ",    "chemin ",
    "allée ",    "impasse ", "quai ",     "route ",     "cours ",  "chaussée ", "calle ",
    "c/ ",       "avda. ",   "avenida ",  "plaza ",     "paseo ",  "camino ",   "ronda ",
    "travesía ", "carrer ",  "via ",      "viale ",     "piazza ", "corso ",    "largo ",
    "vicolo ",   "strada ",  "piazzale ", "contrada ",  NULL};

static bool has_street_word(const unsigned char *t, size_t a, size_t b)
{
    for (const char *const *w = street_words; *w; w++) {
        size_t wl = strlen(*w);
        for (size_t i = a; i + wl <= b; i++)
            if (strncasecmp((const char *)t + i, *w, wl) == 0 &&
                (i + wl == b || !sg_is_alpha(t[i + wl]) || (*w)[0] != ' '))
                return true;
    }
    for (const char *const *w = street_prefixes; *w; w++) {
        size_t wl = strlen(*w);
        for (size_t i = a; i + wl <= b; i++)
            if (strncasecmp((const char *)t + i, *w, wl) == 0 && (i == a || !sg_is_alpha(t[i - 1])))
                return true;
    }
    return false;
}

/* The street line that ends just before `at` (after a comma or line break): it must hold
 * a house number and a street word. Returns its start, or (size_t)-1. */
static size_t street_before(const unsigned char *t, size_t at)
{
    size_t k = at;
    /* skip the separator: ", " or a line break (and spaces) */
    while (k > 0 && (t[k - 1] == ' ' || t[k - 1] == '\t'))
        k--;
    if (k > 0 && (t[k - 1] == ',' || t[k - 1] == '\n')) {
        k--;
        if (k > 0 && t[k] == '\n' && t[k - 1] == '\r')
            k--;
    } else {
        return (size_t)-1;
    }
    while (k > 0 && t[k - 1] == ' ')
        k--;
    size_t end = k;
    /* the line (or the comma-separated part) */
    size_t s = end;
    while (s > 0 && t[s - 1] != '\n' && end - s < 80) {
        if (t[s - 1] == ',' && s < end) {
            /* "Via Roma, 12" keeps the comma; a comma after a name stops */
            size_t q = s;
            while (q < end && t[q] == ' ')
                q++;
            if (!(q < end && sg_is_digit(t[q])))
                break;
        }
        s--;
    }
    while (s < end && (t[s] == ' ' || t[s] == '\t'))
        s++;
    if (end - s < 5)
        return (size_t)-1;
    bool number = false;
    for (size_t i = s; i < end && !number; i++)
        number = sg_is_digit(t[i]);
    if (!number || !has_street_word(t, s, end))
        return (size_t)-1;
    /* it starts at a number (UK, US, FR) or a capitalized word */
    if (!sg_is_digit(t[s]) && !upper_at(t, end, s))
        return (size_t)-1;
    return s;
}

/* UK postcode at i: A9 9AA, A99 9AA, A9A 9AA, AA9 9AA, AA99 9AA, AA9A 9AA. */
static size_t uk_postcode(const unsigned char *t, size_t n, size_t i)
{
    size_t k = i;
    if (k >= n || !sg_is_upper(t[k]))
        return 0;
    k++;
    if (k < n && sg_is_upper(t[k]))
        k++;
    if (k >= n || !sg_is_digit(t[k]))
        return 0;
    k++;
    if (k < n && (sg_is_digit(t[k]) || sg_is_upper(t[k])))
        k++;
    if (k >= n || t[k] != ' ')
        return 0;
    k++;
    if (k + 3 > n || !sg_is_digit(t[k]) || !sg_is_upper(t[k + 1]) || !sg_is_upper(t[k + 2]))
        return 0;
    k += 3;
    if (k < n && sg_is_alnum(t[k]))
        return 0;
    return k - i;
}

static const char *const us_states[] = {
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL",
    "IN", "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT",
    "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI",
    "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "DC", NULL};

static bool us_state(const unsigned char *t, size_t i)
{
    for (const char *const *s = us_states; *s; s++)
        if (t[i] == (unsigned char)(*s)[0] && t[i + 1] == (unsigned char)(*s)[1])
            return true;
    return false;
}

int sg_detect_addresses(struct scan *s)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    for (size_t i = 0; i + 4 < n; i++) {
        if (i > 0 && (sg_is_alnum(t[i - 1]) || t[i - 1] == '-' || t[i - 1] == '.'))
            continue;
        size_t d = digits_at(t, n, i);
        size_t pc_end = 0, city_end = 0;
        /* "A-1010 Wien", "D-10115 Berlin", "CH-8001 Zürich" */
        size_t i2 = i;
        if (d == 0 && i + 2 < n && sg_is_upper(t[i]) && t[i + 1] == '-' && sg_is_digit(t[i + 2])) {
            i2 = i + 2;
            d = digits_at(t, n, i2);
        } else if (d == 0 && i + 3 < n && sg_is_upper(t[i]) && sg_is_upper(t[i + 1]) &&
                   t[i + 2] == '-' && sg_is_digit(t[i + 3])) {
            i2 = i + 3;
            d = digits_at(t, n, i2);
        }
        if (d == 4 || d == 5) {
            size_t k = i2 + d;
            /* NL: "1234 AB City" */
            if (d == 4 && k + 3 < n && t[k] == ' ' && sg_is_upper(t[k + 1]) &&
                sg_is_upper(t[k + 2]) && t[k + 3] == ' ')
                k += 3;
            if (k + 1 < n && t[k] == ' ') {
                size_t c = city_run(t, n, k + 1);
                if (c > k + 1) {
                    pc_end = k;
                    city_end = c;
                }
            }
            if (city_end) {
                size_t st = street_before(t, i);
                if (st != (size_t)-1) {
                    int rc = sg_scan_add(s, st, city_end, SG_ENT_ADDRESS);
                    if (rc)
                        return rc;
                    i = city_end;
                    continue;
                }
            }
        }
        (void)pc_end;
        /* UK: street, town, postcode — the postcode ends the span */
        size_t uk = uk_postcode(t, n, i);
        if (uk) {
            /* the town before it, then the street before the town */
            size_t k = i;
            while (k > 0 && (t[k - 1] == ' ' || t[k - 1] == ','))
                k--;
            size_t town_end = k;
            if (k > 0 && t[k - 1] == '\n')
                town_end = k - 1;
            size_t ts = town_end;
            while (ts > 0 && t[ts - 1] != '\n' && t[ts - 1] != ',' && town_end - ts < 40)
                ts--;
            while (ts < town_end && t[ts] == ' ')
                ts++;
            if (ts < town_end && upper_at(t, n, ts)) {
                size_t st = street_before(t, ts);
                if (st != (size_t)-1) {
                    int rc = sg_scan_add(s, st, i + uk, SG_ENT_ADDRESS);
                    if (rc)
                        return rc;
                    i += uk;
                    continue;
                }
            }
        }
        /* US: "City, ST 12345" after a street line */
        if (sg_is_upper(t[i]) && i + 8 < n) {
            size_t c = city_run(t, n, i);
            if (c > i && c + 9 <= n && t[c] == ',' && t[c + 1] == ' ' && sg_is_upper(t[c + 2]) &&
                sg_is_upper(t[c + 3]) && t[c + 4] == ' ' && us_state(t, c + 2) &&
                digits_at(t, n, c + 5) == 5) {
                size_t z = c + 10;
                if (z + 5 <= n && t[z] == '-' && digits_at(t, n, z + 1) == 4)
                    z += 5;
                size_t st = street_before(t, i);
                if (st != (size_t)-1 && (z >= n || !sg_is_alnum(t[z]))) {
                    int rc = sg_scan_add(s, st, z, SG_ENT_ADDRESS);
                    if (rc)
                        return rc;
                    i = z;
                    continue;
                }
            }
        }
    }
    return 0;
}

/* ---- names ---- */

static const char *const salutations[] = {
    "herr ",     "frau ",     "hr. ",          "fr. ",       "mr. ",     "mr ",     "mrs. ",
    "mrs ",      "ms. ",      "ms ",           "miss ",      "mx. ",     "dr. ",    "prof. ",
    "monsieur ", "madame ",   "mademoiselle ", "m. ",        "mme ",     "mme. ",   "mlle ",
    "señor ",    "señora ",   "señorita ",     "sr. ",       "sra. ",    "srta. ",  "don ",
    "doña ",     "signor ",   "signora ",      "signorina ", "sig. ",    "sig.ra ", "sig.ra. ",
    "dott. ",    "dott.ssa ", "dhr. ",         "mevr. ",     "mevrouw ", "meneer ", "de heer ",
    NULL};
static const char *const greetings[] = {
    "dear ",     "hello ",    "hi ",           "hey ",           "hallo ",
    "liebe ",    "lieber ",   "sehr geehrte ", "sehr geehrter ", "guten tag ",
    "moin ",     "cher ",     "chère ",        "bonjour ",       "salut ",
    "estimado ", "estimada ", "hola ",         "buenos días ",   "gentile ",
    "caro ",     "cara ",     "ciao ",         "salve ",         "buongiorno ",
    "beste ",    "geachte ",  "hoi ",          "goedendag ",     NULL};
static const char *const intros[] = {
    "my name is ",   "name is ",      "i am ",     "i'm ",          "this is ", "mein name ist ",
    "ich heiße ",    "ich bin ",      "hier ist ", "je m'appelle ", "je suis ", "moi c'est ",
    "me llamo ",     "mi nombre es ", "soy ",      "mi chiamo ",    "sono ",    "il mio nome è ",
    "mijn naam is ", "ik ben ",       "ik heet ",  "met ",          NULL};
static const char *const labels[] = {"name:",           "full name:",
                                     "customer:",       "customer name:",
                                     "recipient:",      "ship to:",
                                     "bill to:",        "contact:",
                                     "kunde:",          "kundin:",
                                     "empfänger:",      "ansprechpartner:",
                                     "vorname:",        "nachname:",
                                     "nom :",           "nom:",
                                     "prénom :",        "prénom:",
                                     "client :",        "client:",
                                     "destinataire :",  "nombre:",
                                     "cliente:",        "destinatario:",
                                     "nome:",           "naam:",
                                     "klant:",          "ontvanger:",
                                     "name :",          "billing name:",
                                     "shipping name:",  "account holder:",
                                     "kontoinhaber:",   "titulaire :",
                                     "titular:",        "intestatario:",
                                     "rekeninghouder:", NULL};
static const char *const closings[] = {"regards",
                                       "best regards",
                                       "kind regards",
                                       "best wishes",
                                       "best",
                                       "cheers",
                                       "thanks",
                                       "thank you",
                                       "sincerely",
                                       "yours",
                                       "grüße",
                                       "gruß",
                                       "grüßen",
                                       "grüsse",
                                       "lg",
                                       "vg",
                                       "cordialement",
                                       "bien à vous",
                                       "amicalement",
                                       "salutations",
                                       "saludos",
                                       "un saludo",
                                       "atentamente",
                                       "cordiali saluti",
                                       "distinti saluti",
                                       "saluti",
                                       "un saluto",
                                       "groeten",
                                       "met vriendelijke groet",
                                       "vriendelijke groeten",
                                       "mvg",
                                       "hartelijke groet",
                                       NULL};

/* Whether a case-insensitive phrase from `list` ends exactly at `at`. */
static bool phrase_before(const unsigned char *t, size_t at, const char *const *list)
{
    for (const char *const *w = list; *w; w++) {
        size_t l = strlen(*w);
        if (l > at)
            continue;
        size_t st = at - l;
        if (strncasecmp((const char *)t + st, *w, l) == 0 && (st == 0 || !sg_is_alpha(t[st - 1])))
            return true;
    }
    return false;
}

/* A closing line ("Best regards," …) right before the line that starts at `ls`. */
static bool after_closing(const unsigned char *t, size_t ls)
{
    if (ls < 2 || t[ls - 1] != '\n')
        return false;
    size_t e = ls - 1;
    if (e > 0 && t[e - 1] == '\r')
        e--;
    while (e > 0 && (t[e - 1] == ',' || t[e - 1] == '!' || t[e - 1] == '.' || t[e - 1] == ' '))
        e--;
    size_t s = e;
    while (s > 0 && t[s - 1] != '\n' && e - s < 40)
        s--;
    /* the whole line is a closing phrase (possibly preceded by words like "Mit freundlichen") */
    return phrase_before(t, e, closings);
}

static bool is_address_start(const struct scan *s, size_t at)
{
    const struct sg_findings *f = s->raw;
    for (size_t i = f->n; i-- > 0;) {
        if (f->v[i].type == SG_ENT_ADDRESS && f->v[i].start == at)
            return true;
    }
    return false;
}

int sg_detect_names(struct scan *s)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    for (size_t i = 0; i < n; i++) {
        size_t u = upper_at(t, n, i);
        if (!u || (i > 0 && (sg_is_alnum(t[i - 1]) || t[i - 1] == '-' || t[i - 1] == '_' ||
                             t[i - 1] == '@' || t[i - 1] == '.' || t[i - 1] == '/')))
            continue;
        size_t w = cap_word(t, n, i);
        if (!w)
            continue;
        size_t end = 0;
        int max = 3;
        bool strong = phrase_before(t, i, salutations) || phrase_before(t, i, greetings) ||
                      phrase_before(t, i, intros);
        if (!strong) {
            /* a label: "Name: Anna Schmidt" */
            size_t k = i;
            while (k > 0 && t[k - 1] == ' ')
                k--;
            strong = phrase_before(t, k, labels);
        }
        /* the line before an address, or the line after a closing */
        bool line_start = i == 0 || t[i - 1] == '\n';
        if (!strong && line_start) {
            size_t e = name_run(t, n, i, 4);
            size_t le = e;
            while (le < n && (t[le] == ' ' || t[le] == ','))
                le++;
            if (e > i && le < n && (t[le] == '\n' || (t[le] == '\r' && le + 1 < n))) {
                size_t next = le + (t[le] == '\r' ? 2 : 1);
                if (is_address_start(s, next))
                    strong = true;
            }
            if (e > i && (le >= n || t[le] == '\n' || t[le] == '\r') && after_closing(t, i))
                strong = true;
        }
        if (strong) {
            end = name_run(t, n, i, max);
            /* one word after a greeting is a name only when the gazetteer knows it or it
             * is followed by a comma ("Dear Anna," / "Hallo Herr Meier,") */
        } else if (sg_detect_is_first_name((const char *)t + i, w) && !is_not_name(t + i, w)) {
            /* a known first name followed by a capitalized surname */
            size_t e = name_run(t, n, i, 3);
            if (e > i + w)
                end = e;
        }
        if (end > i) {
            int rc = sg_scan_add(s, i, end, SG_ENT_PERSON);
            if (rc)
                return rc;
            i = end;
        } else {
            i += w - 1;
        }
    }
    return 0;
}

/* ---- gazetteer ---- */

extern const size_t sg_gazetteer_count;
extern const char *const sg_gazetteer[];

static int gz_cmp(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

bool sg_detect_is_first_name(const char *word, size_t n)
{
    char low[48];
    if (n == 0 || n >= sizeof(low))
        return false;
    const unsigned char *w = (const unsigned char *)word;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = w[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        else if (i > 0 && w[i - 1] == 0xC3 && c >= 0x80 && c <= 0x9E && c != 0x97)
            c = (unsigned char)(c + 0x20); /* Latin-1 capitals: Ä -> ä */
        low[i] = (char)c;
    }
    low[n] = '\0';
    return bsearch(low, sg_gazetteer, sg_gazetteer_count, sizeof(sg_gazetteer[0]), gz_cmp) != NULL;
}
