/* Names (PERSON) and postal addresses (ADDRESS).
 *
 * Addresses are anchored on what is hard to fake: a locality, that is a postcode in one of
 * the national formats next to a city (DE/FR/ES/IT "12345 City", AT/CH/BE "1234 City", NL
 * "1234 AB City", IT "00184 Roma RM", UK "Town SW1A 1AA" on one or two lines, US "City, ST
 * 12345-6789"), and a street part right before it: on the same line after ", " (with
 * the house number and unit parts "12", "3º B", "Suite 5" as their own comma parts), or on
 * the line above (with at most one c/o, Postfach, BP, floor or building line between). The
 * span runs from the street to the end of the locality.
 *
 * Names need evidence: a salutation, title, greeting, introduction or label right before
 * ("Sehr geehrte Frau", "Dear", "my name is", "Kontoinhaber", "Nom :"), a first name the
 * gazetteer knows followed by a family name, a line of its own above an address or below a
 * closing, a chat speaker label ("Anna Schmidt: …"), or a "…name" field. A name found once
 * is a name wherever it occurs again in the text. Names are two words or more (given and
 * family name, particles and initials between); salutations and titles are not part of
 * the span. */
#include "redact/detect_int.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h> /* baseline on x86-64; the scalar loops below serve elsewhere */
#endif

/* ---- word sets ---- */

/* Salutations, titles, greetings, introductions and labels after which a name follows
 * (compared case-insensitively, the name after one space, ", " or ": "). */
static const char *const cue_words[] = {
    /* salutations and titles */
    "herr", "herrn", "frau", "hr.", "fr.", "dr.", "dr", "prof.", "prof", "mr", "mr.", "mrs", "mrs.",
    "ms", "ms.", "miss", "mx", "mx.", "sir", "madam", "m.", "mme", "mme.", "mlle", "mlle.",
    "monsieur", "madame", "mademoiselle", "sr.", "sra.", "srta.", "señor", "señora", "señorita",
    "don", "doña", "sig.", "sig.ra", "sig.na", "signor", "signora", "signorina", "dott.",
    "dott.ssa", "ing.", "avv.", "dhr.", "mevr.", "mw.", "de heer", "mevrouw", "meneer", "ir.",
    "drs.", "mag.", "dipl.-ing.",
    /* greetings */
    "dear", "hello", "hi", "hey", "good morning", "good afternoon", "good evening", "hallo",
    "liebe", "lieber", "sehr geehrte", "sehr geehrter", "guten tag", "guten morgen", "moin",
    "servus", "grüezi", "grüß gott", "cher", "chère", "bonjour", "bonsoir", "salut", "estimado",
    "estimada", "hola", "buenos días", "buenas tardes", "querido", "querida", "gentile",
    "gentilissimo", "gentilissima", "egregio", "caro", "cara", "ciao", "salve", "buongiorno",
    "buonasera", "beste", "geachte", "hoi", "goedemorgen", "goedemiddag", "goedendag", "dag",
    "beste heer", "beste mevrouw",
    /* introductions */
    "my name is", "name is", "i am", "i'm", "this is", "mein name ist", "ich heiße", "ich bin",
    "hier ist", "hier spricht", "je m'appelle", "je suis", "moi c'est", "je soussigné",
    "je soussignée", "je soussigné(e)", "me llamo", "mi nombre es", "soy", "mi chiamo", "sono",
    "il mio nome è", "mijn naam is", "ik ben", "ik heet", "hiermit", "i, the undersigned",
    "undersigned",
    /* labels */
    "name", "full name", "customer name", "client name", "contact", "contact person", "recipient",
    "addressee", "ship to", "bill to", "attn", "attn.", "attention", "account holder",
    "account name", "cardholder", "card holder", "beneficiary", "kontoinhaber", "kontoinhaberin",
    "inhaber", "empfänger", "ansprechpartner", "ansprechpartnerin", "vorname", "nachname",
    "vor- und nachname", "nom", "nom complet", "prénom", "destinataire", "titulaire",
    "titulaire du compte", "bénéficiaire", "nombre", "nombre completo", "destinatario", "titular",
    "titular de la cuenta", "beneficiario", "nome", "nome completo", "intestatario", "intestato a",
    "beneficiario", "naam", "volledige naam", "ontvanger", "rekeninghouder", "tenaamstelling",
    "ten name van", "t.n.v.", "a nombre de", "au nom de", "in the name of", "auf den namen",
    "director", "managing director", "ceo", "owner", "geschäftsführer", "geschäftsführerin",
    "geschäftsführung", "inhaberin", "gérant", "gérante", "directeur", "directrice", "président",
    "administrador", "administradora", "gerente", "amministratore", "amministratrice", "titolare",
    "directeur-eigenaar", "eigenaar", "bestuurder", "note by", "notiz von", "note de", "nota di",
    "nota de", "notitie van", "review by", "reviewed by", "bewertung von", "bewertet von",
    "avis de", "reseña de", "opinión de", "recensione di", "beoordeling van", "recensie van",
    "signed", "gez.", "firmado", "firmato", "signé", "getekend", "my wife", "my husband",
    "meine frau", "mein mann", "ma femme", "mon mari", "mi mujer", "mi esposa", "mi marido",
    "mia moglie", "mio marito", "mijn vrouw", "mijn man", NULL};

/* Particles inside family names. */
/* (Not "des", "zum", "op": far more often the article or preposition of a sentence that
 * runs on after a capitalized word: "Link zum Zurücksetzen des Passworts".) */
static const char *const particle_words[] = {
    "van", "von", "de",  "der", "den", "del", "della", "delle", "dei", "degli", "di",
    "da",  "du",  "le",  "la",  "los", "las", "dos",   "das",   "do",  "zu",    "y",
    "e",   "'t",  "ten", "ter", "d'",  "l'",  "bin",   "ibn",   NULL};

/* Capitalized words that are not parts of names: articles, pronouns, greetings, common
 * nouns of shop text in the six languages, days, months, company forms. */
static const char *const stop_words[] = {
    /* en */
    "the", "a", "an", "this", "that", "these", "those", "your", "our", "my", "his", "her", "their",
    "we", "you", "they", "it", "he", "she", "i", "me", "us", "thank", "thanks", "please", "order",
    "orders", "invoice", "customer", "customers", "shop", "store", "team", "support", "service",
    "best", "kind", "regards", "dear", "hello", "hi", "and", "or", "of", "for", "from", "to",
    "with", "in", "on", "at", "by", "new", "all", "any", "some", "no", "yes", "not", "if", "when",
    "as", "so", "but", "there", "here", "care", "customer care", "agent", "visitor", "guest",
    "system", "admin", "private", "note", "notes", "billing", "shipping", "delivery", "address",
    "email", "e-mail", "mail", "phone", "mobile", "fax", "date", "total", "subtotal", "payment",
    "account", "holder", "bank", "card", "credit", "tax", "vat", "number", "item", "items", "price",
    "qty", "quantity", "product", "products", "return", "returns", "refund", "tracking", "parcel",
    "package", "director", "company", "street", "road", "lane", "avenue", "drive", "court", "place",
    "square", "park", "way", "close", "gardens", "hill", "view", "grove", "terrace", "crescent",
    "united", "kingdom", "states", "america", "many", "cheers", "yours", "sincerely", "warehouse",
    "agency", "web", "online", "status", "version", "update", "free", "sale", "gift", "voucher",
    "coupon", "discount", "welcome", "dashboard", "settings", "log", "test", "debug", "error",
    "warning", "info", "chat", "live", "transcript", "subject", "re", "fw", "fwd", "age",
    "verification", "check", "id", "ip", "api", "key", "token", "password", "login", "user",
    "username", "agency", "access", "staging", "backup", "plugin", "theme", "checkout", "cart",
    "basket", "wishlist", "reviews", "review", "verified", "purchase", "rating", "stars", "great",
    "good", "quality", "exactly", "described", "would", "buy", "again", "disappointed", "pricey",
    /* de */
    "der", "die", "das", "dem", "den", "des", "ein", "eine", "einen", "einem", "einer", "ihr",
    "ihre", "ihren", "ihrem", "ihrer", "ihres", "wir", "sie", "es", "er", "ich", "du", "mein",
    "meine", "unser", "unsere", "bitte", "danke", "vielen", "dank", "viele", "grüße", "gruß",
    "freundlichen", "freundliche", "herzliche", "beste", "liebe", "mit", "und", "oder", "von",
    "bei", "für", "auf", "aus", "nach", "zum", "zur", "im", "am", "an", "bestellung",
    "bestellungen", "rechnung", "kunde", "kundin", "kunden", "kundenservice", "kundendienst",
    "lieferung", "lieferadresse", "rechnungsadresse", "adresse", "anschrift", "versand",
    "versandkosten", "artikel", "produkt", "produkte", "kategorie", "preis", "menge", "gesamt",
    "summe", "zwischensumme", "gesamtsumme", "zahlung", "zahlungsart", "datum", "telefon", "mobil",
    "nummer", "konto", "kontoinhaber", "bankverbindung", "lager", "notiz", "interne", "besucher",
    "mitarbeiter", "geschäftsführer", "geschäftsführung", "agentur", "zugang", "passwort", "paket",
    "sendung", "sendungsnummer", "gutschein", "rabatt", "widerruf", "rücksendung", "retoure",
    "erstattung", "hinweis", "hallo", "guten", "tag", "morgen", "sehr", "geehrte", "geehrter",
    "frau", "herr", "firma", "shop", "team", "manufaktur", "versandhandel", "neu", "alle", "jetzt",
    "nur", "noch", "schweiz", "deutschland", "österreich", "straße", "strasse", "platz", "weg",
    "gasse", "allee", "ring", "markt", "altersprüfung", "altersverifikation", "steuer-id",
    "ausfuhrbescheinigung", "testkonto", "kennwort", "benutzer", "schrieb", "bewertung",
    "verifizierter", "kauf", "stammkundin", "stammkunde", "qualität", "super", "genau", "leider",
    "würde", "wieder", "kaufen", "enttäuscht", "teuer", "gut", "aber", "zu",
    /* fr */
    "le", "la", "les", "un", "une", "des", "du", "de", "votre", "vos", "notre", "nos", "nous",
    "vous", "je", "il", "elle", "ils", "merci", "bonjour", "bonsoir", "cher", "chère", "madame",
    "monsieur", "commande", "facture", "client", "cliente", "service", "livraison", "adresse",
    "facturation", "paiement", "total", "sous-total", "article", "prix", "quantité", "date",
    "téléphone", "portable", "numéro", "compte", "titulaire", "banque", "entrepôt", "note",
    "privée", "système", "visiteur", "conseiller", "agence", "accès", "colis", "suivi", "retour",
    "remboursement", "avis", "achat", "vérifié", "cordialement", "bien", "salutations", "équipe",
    "boutique", "france", "belgique", "suisse", "rue", "avenue", "boulevard", "place", "impasse",
    "allée", "chemin", "quai", "passage", "voie", "gérant", "identifiant", "mot", "passe",
    "vérification", "âge", "déçu", "parfait",
    /* es */
    "el", "los", "las", "su", "sus", "nuestro", "nuestra", "usted", "gracias", "hola", "estimado",
    "estimada", "pedido", "factura", "cliente", "atención", "servicio", "envío", "dirección",
    "facturación", "pago", "forma", "importe", "artículo", "precio", "cantidad", "fecha",
    "teléfono", "móvil", "número", "cuenta", "titular", "almacén", "nota", "privada", "sistema",
    "visitante", "agente", "soporte", "agencia", "acceso", "paquete", "seguimiento", "devolución",
    "reembolso", "reseña", "compra", "verificada", "saludos", "atentamente", "equipo", "tienda",
    "españa", "calle", "avenida", "avda", "plaza", "paseo", "camino", "ronda", "travesía",
    "administrador", "contraseña", "clave", "verificación", "edad", "dni", "nie", "nif",
    "cordiales",
    /* it */
    "il", "lo", "gli", "i", "una", "uno", "suo", "sua", "vostro", "vostra", "nostro", "nostra",
    "grazie", "buongiorno", "gentile", "ordine", "fattura", "cliente", "assistenza", "servizio",
    "clienti", "spedizione", "indirizzo", "fatturazione", "pagamento", "metodo", "totale",
    "articolo", "prezzo", "quantità", "data", "telefono", "cellulare", "numero", "conto",
    "intestatario", "magazzino", "nota", "privata", "sistema", "operatore", "agenzia", "accesso",
    "pacco", "tracciamento", "reso", "rimborso", "recensione", "acquisto", "verificato", "distinti",
    "saluti", "cordiali", "squadra", "negozio", "italia", "via", "viale", "piazza", "corso",
    "largo", "vicolo", "strada", "piazzale", "contrada", "amministratore", "verifica", "età",
    "codice", "fiscale", "partita",
    /* nl */
    "het", "een", "uw", "jouw", "je", "onze", "ons", "wij", "we", "jij", "bedankt", "dank", "beste",
    "geachte", "bestelling", "factuur", "klant", "klantenservice", "levering", "verzending",
    "adres", "afleveradres", "factuuradres", "betaling", "betaalmethode", "totaal", "subtotaal",
    "artikel", "prijs", "aantal", "datum", "telefoon", "mobiel", "nummer", "rekening",
    "rekeninghouder", "magazijn", "notitie", "privénotitie", "systeem", "bezoeker", "medewerker",
    "bureau", "toegang", "pakket", "retour", "terugbetaling", "beoordeling", "aankoop",
    "geverifieerd", "groeten", "vriendelijke", "met", "team", "winkel", "webshop", "nederland",
    "belgië", "straat", "laan", "plein", "gracht", "kade", "directeur", "wachtwoord",
    "leeftijdscontrole", "leeftijdscheck", "hartelijke", "groet",
    /* days and months of English and German, which capitalize them (French, Spanish,
     * Italian and Dutch write them in small letters: "Julio", "Mercedes" are names) */
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "montag",
    "dienstag", "mittwoch", "donnerstag", "freitag", "samstag", "sonntag", "january", "february",
    "march", "april", "may", "june", "july", "august", "september", "october", "november",
    "december", "januar", "februar", "märz", "mai", "juni", "juli", "oktober",
    "dezember", /* company forms and shop words */
    "gmbh", "ag", "kg", "ug", "ohg", "gbr", "e.k.", "ltd", "ltd.", "limited", "llc", "inc", "inc.",
    "plc", "co", "co.", "corp", "sarl", "sas", "sa", "eurl", "sl", "s.l.", "s.a.", "srl", "s.r.l.",
    "spa", "s.p.a.", "bv", "b.v.", "nv", "n.v.", "vof", "v.o.f.", "cie", "goods", "supply",
    "outfitters", "trading", "market", "distribution", "distribuciones", "tienda", "store",
    "boutique", "webshop", "winkel", "shop", "manufaktur", "versand", "atelier", "studio", "praxis",
    "kantoor", "bureau", "design", "nord", "sud", "zuid", "ouest", "est", "west", "east", "north",
    "south", "acht", "holzwerk",
    /* currencies and units */
    "eur", "euro", "euros", "chf", "usd", "gbp", "dkk", "sek", "nok", "pln", "czk", "huf", "ab",
    "inkl", "zzgl", "ca", "min", "max", "cm", "mm", "kg", NULL};

/* Company forms after a run of capitalized words: the run is a company. */
static const char *const company_words[] = {"gmbh",
                                            "ag",
                                            "kg",
                                            "ug",
                                            "ohg",
                                            "e.k.",
                                            "ltd",
                                            "ltd.",
                                            "limited",
                                            "llc",
                                            "inc",
                                            "inc.",
                                            "plc",
                                            "co.",
                                            "corp",
                                            "sarl",
                                            "sas",
                                            "sa",
                                            "eurl",
                                            "sl",
                                            "s.l.",
                                            "s.a.",
                                            "srl",
                                            "s.r.l.",
                                            "spa",
                                            "s.p.a.",
                                            "bv",
                                            "b.v.",
                                            "nv",
                                            "n.v.",
                                            "vof",
                                            "v.o.f.",
                                            "&",
                                            "goods",
                                            "supply",
                                            "outfitters",
                                            "trading",
                                            "market",
                                            "distribution",
                                            "distribuciones",
                                            "tienda",
                                            "store",
                                            "boutique",
                                            "webshop",
                                            "winkel",
                                            "shop",
                                            "manufaktur",
                                            "team",
                                            "customer",
                                            "kundenservice",
                                            "klantenservice",
                                            NULL};

/* Closing lines before a signature. */
static const char *const closing_words[] = {"regards",
                                            "best regards",
                                            "kind regards",
                                            "warm regards",
                                            "best wishes",
                                            "best",
                                            "cheers",
                                            "thanks",
                                            "many thanks",
                                            "thank you",
                                            "sincerely",
                                            "yours sincerely",
                                            "yours faithfully",
                                            "yours",
                                            "grüße",
                                            "gruß",
                                            "grüßen",
                                            "grüsse",
                                            "viele grüße",
                                            "beste grüße",
                                            "herzliche grüße",
                                            "liebe grüße",
                                            "freundliche grüße",
                                            "mit freundlichen grüßen",
                                            "mit freundlichen grüssen",
                                            "danke und viele grüße",
                                            "lg",
                                            "vg",
                                            "mfg",
                                            "cordialement",
                                            "bien cordialement",
                                            "bien à vous",
                                            "amicalement",
                                            "salutations",
                                            "sincères salutations",
                                            "meilleures salutations",
                                            "à bientôt",
                                            "merci",
                                            "saludos",
                                            "un saludo",
                                            "saludos cordiales",
                                            "atentamente",
                                            "un abrazo",
                                            "gracias",
                                            "cordiali saluti",
                                            "distinti saluti",
                                            "saluti",
                                            "un saluto",
                                            "grazie",
                                            "a presto",
                                            "groeten",
                                            "met vriendelijke groet",
                                            "vriendelijke groeten",
                                            "hartelijke groet",
                                            "hartelijke groeten",
                                            "mvg",
                                            "groet",
                                            "bedankt",
                                            "dank je",
                                            "dank u",
                                            NULL};

/* Unit, floor and delivery lines or parts between a street and its locality. */
static const char *const unit_words[] = {
    "c/o",        "co",          "bp",           "b.p.",    "postfach",   "pf",        "cs",
    "cedex",      "bâtiment",    "bât.",         "bat.",    "résidence",  "residence", "escalier",
    "esc.",       "appartement", "appt",         "appt.",   "apt",        "apt.",      "apartment",
    "suite",      "ste",         "ste.",         "flat",    "unit",       "floor",     "fl.",
    "etage",      "étage",       "stock",        "og",      "ug",         "eg",        "dg",
    "hinterhaus", "vorderhaus",  "seitenflügel", "gebäude", "haus",       "building",  "bldg",
    "bloc",       "block",       "porte",        "piso",    "planta",     "puerta",    "portal",
    "escalera",   "bajo",        "scala",        "interno", "int.",       "piano",     "bus",
    "postbus",    "room",        "rm",           "dept",    "department", "abteilung", "lieu-dit",
    "pmb",        "po box",      "p.o. box",     "box",     NULL};

/* Words that introduce an address and are never part of it. */
static const char *const address_labels[] = {"address",      "adresse",       "anschrift",
                                             "indirizzo",    "dirección",     "direccion",
                                             "adres",        "lieferadresse", "rechnungsadresse",
                                             "afleveradres", "factuuradres",  "verzendadres",
                                             "shipping",     "billing",       "delivery",
                                             "lieferung",    "livraison",     "facturation",
                                             "envío",        "entrega",       "consegna",
                                             "spedizione",   "sede",          "siège",
                                             "sitz",         "domicile",      "domicilio",
                                             "woonadres",    "postadres",     "wohnort",
                                             "bezorgadres",  "levering",      NULL};

/* Particles inside street names ("Calle Ramón y Cajal", "van der Meulenlaan"). */
static const char *const street_particle_words[] = {
    "van", "von", "der", "den", "de",  "del", "della", "delle", "dei", "degli", "di",
    "da",  "du",  "des", "la",  "le",  "les", "los",   "las",   "dos", "das",   "do",
    "y",   "'t",  "ter", "ten", "aan", "sur", "sous",  "en",    NULL};
static struct sg_wordset ws_street_particle = SG_WORDSET(street_particle_words);

/* Street types of the streets written house number first (UK, US, FR). */
static const char *const street_type_words[] = {
    "street",     "st",       "st.",      "road",     "rd",        "rd.",         "lane",
    "ln",         "avenue",   "ave",      "ave.",     "av",        "av.",         "drive",
    "dr",         "dr.",      "close",    "way",      "court",     "ct",          "place",
    "pl",         "crescent", "cres",     "gardens",  "gdns",      "terrace",     "grove",
    "hill",       "park",     "square",   "sq",       "boulevard", "blvd",        "row",
    "mews",       "walk",     "view",     "rise",     "parade",    "green",       "gate",
    "yard",       "wharf",    "circle",   "cir",      "highway",   "hwy",         "parkway",
    "pkwy",       "trail",    "path",     "pike",     "plaza",     "heights",     "meadow",
    "meadows",    "fields",   "field",    "end",      "side",      "approach",    "lawn",
    "drove",      "vale",     "ridge",    "cottages", "orchard",   "wood",        "woods",
    "broadway",   "market",   "bridge",   "hall",     "manor",     "quay",        "crossing",
    "loop",       "run",      "rue",      "allée",    "boulevard", "bd",          "impasse",
    "quai",       "chemin",   "passage",  "voie",     "cours",     "route",       "sentier",
    "rond-point", "villa",    "cité",     "hameau",   "faubourg",  "promenade",   "esplanade",
    "parvis",     "montée",   "traverse", "ruelle",   "résidence", "lotissement", "strada",
    "via",        "calle",    NULL};
static struct sg_wordset ws_street_type = SG_WORDSET(street_type_words);

static struct sg_wordset ws_cue = SG_WORDSET(cue_words);
/* The last word of each cue phrase: a phrase is only looked for where one of these ends. */
static const char *cue_last_words[sizeof(cue_words) / sizeof(cue_words[0])];
static struct sg_wordset ws_cue_last = SG_WORDSET(cue_last_words);
static struct sg_wordset ws_particle = SG_WORDSET(particle_words);
static struct sg_wordset ws_stop = SG_WORDSET(stop_words);
static struct sg_wordset ws_company = SG_WORDSET(company_words);
static struct sg_wordset ws_closing = SG_WORDSET(closing_words);
static struct sg_wordset ws_unit = SG_WORDSET(unit_words);
static struct sg_wordset ws_addr_label = SG_WORDSET(address_labels);

/* cue_last_words, particle_words, stop_words and company_words merged, tagged with the
 * lists each word is in: the words of a run are looked up in all four at once. */
enum { TAG_CUE_LAST = 1, TAG_PARTICLE = 2, TAG_STOP = 4, TAG_COMPANY = 8 };
#define NWORDS(a) (sizeof(a) / sizeof((a)[0]) - 1)
static const char *run_words[NWORDS(cue_words) + NWORDS(particle_words) + NWORDS(stop_words) +
                             NWORDS(company_words)];
static uint8_t run_tags[sizeof(run_words) / sizeof(run_words[0])];
static struct sg_wordset ws_run = {.words = run_words, .tags = run_tags};

static size_t run_words_add(size_t k, const char *const *list, uint8_t tag)
{
    for (; *list; list++, k++) {
        run_words[k] = *list;
        run_tags[k] = tag;
    }
    return k;
}

/* The first-name gazetteer (generated, scripts/gen-gazetteer.py): `count` names in one
 * string, each followed by a NUL. */
extern const size_t sg_gazetteer_count;
extern const char sg_gazetteer_blob[];
static struct sg_wordset ws_gazetteer = SG_WORDSET(NULL);

void sg_names_init(void)
{
    size_t nc = 0;
    for (; cue_words[nc]; nc++) {
        const char *w = strrchr(cue_words[nc], ' ');
        cue_last_words[nc] = w ? w + 1 : cue_words[nc];
    }
    cue_last_words[nc] = NULL;
    sg_wordset_build(&ws_cue_last);
    size_t nr = run_words_add(0, cue_last_words, TAG_CUE_LAST);
    nr = run_words_add(nr, particle_words, TAG_PARTICLE);
    nr = run_words_add(nr, stop_words, TAG_STOP);
    ws_run.count = run_words_add(nr, company_words, TAG_COMPANY);
    sg_wordset_build(&ws_run);
    /* the word table points into the blob; made once per process and never freed */
    const char **gz = malloc((sg_gazetteer_count + 1) * sizeof(*gz));
    if (!gz)
        abort(); /* start-up: nothing sensible to fall back to */
    const char *g = sg_gazetteer_blob;
    for (size_t i = 0; i < sg_gazetteer_count; i++, g += strlen(g) + 1)
        gz[i] = g;
    gz[sg_gazetteer_count] = NULL;
    ws_gazetteer.words = (const char *const *)gz;
    ws_gazetteer.count = sg_gazetteer_count;
    sg_wordset_build(&ws_street_particle);
    sg_wordset_build(&ws_street_type);
    struct sg_wordset *sets[] = {&ws_cue,     &ws_particle, &ws_stop,       &ws_company,
                                 &ws_closing, &ws_unit,     &ws_addr_label, &ws_gazetteer};
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        sg_wordset_build(sets[i]);
}

/* ---- letters and words ---- */

/* Which bytes letters_end() goes over: a-z, and with these bits also A-Z and bytes >= 0x80
 * (sg_is_alpha). */
enum { LE_UPPER = 1, LE_HIGH = 2 };

/* The end of the run of letters (of `what`) from k: the first position at or after k that
 * holds another byte, or min(n, lim) when there is none before (k itself when k is past
 * that). The byte loops it replaces were the hottest lines of the name scanner (a branch
 * per letter, mispredicted at every word's end); words are read 16 bytes at a time here,
 * where 16 bytes are left in the text. */
static inline size_t letters_end(const unsigned char *t, size_t n, size_t k, size_t lim,
                                 unsigned what)
{
    size_t end = lim < n ? lim : n;
    if (k >= end)
        return k;
#if defined(__SSE2__)
    for (; k + 16 <= n; k += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(t + k));
        /* x - 'a' <= 25, unsigned: the maximum of the two is 25 */
        __m128i d = _mm_sub_epi8(x, _mm_set1_epi8('a'));
        __m128i m = _mm_cmpeq_epi8(_mm_max_epu8(d, _mm_set1_epi8(25)), _mm_set1_epi8(25));
        if (what & LE_UPPER) {
            __m128i u = _mm_sub_epi8(x, _mm_set1_epi8('A'));
            m = _mm_or_si128(m,
                             _mm_cmpeq_epi8(_mm_max_epu8(u, _mm_set1_epi8(25)), _mm_set1_epi8(25)));
        }
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (what & LE_HIGH)
            bits |= (unsigned)_mm_movemask_epi8(x); /* the bytes >= 0x80 */
        bits = ~bits & 0xFFFFu;                     /* the bytes that end the run */
        if (bits) {
            k += (size_t)__builtin_ctz(bits);
            return k < end ? k : end;
        }
        if (k + 16 >= end)
            return end; /* letters up to the limit */
    }
#endif
    unsigned cls = C_LOWER | ((what & LE_UPPER) ? C_UPPER : 0) | ((what & LE_HIGH) ? C_HIGH : 0);
    while (k < end && (sg_ccls[t[k]] & cls))
        k++;
    return k;
}

/* The letter at t[i]: its length in bytes (0 when it is not a letter) and whether it is a
 * capital. ASCII, Latin-1 (C3 xx) and Latin Extended-A (C4, C5: capitals at even code
 * points) are told apart; other two-byte letters count as small letters. */
static inline size_t letter_at(const unsigned char *t, size_t n, size_t i, bool *cap)
{
    *cap = false;
    if (i >= n)
        return 0;
    unsigned char c = t[i];
    if (c < 0x80) {
        unsigned k = sg_ccls[c];
        *cap = k & C_UPPER;
        return (k & (C_UPPER | C_LOWER)) != 0;
    }
    *cap = false;
    if (i + 1 >= n || (t[i + 1] & 0xC0) != 0x80)
        return 0;
    unsigned char d = t[i + 1];
    if (c == 0xC3) {
        if (d == 0x97 || d == 0xB7)
            return 0; /* × ÷ */
        *cap = d < 0x9F;
        return 2;
    }
    if (c == 0xC4 || c == 0xC5) {
        unsigned cp = ((unsigned)(c & 0x1F) << 6) | (d & 0x3F);
        *cap = (cp & 1) == 0 && cp != 0x138 && cp != 0x149;
        return 2;
    }
    if (c >= 0xC6 && c <= 0xD4)
        return 2;
    return 0;
}

/* Bytes that can start a capital: A-Z and the lead bytes of Latin-1 and Latin
 * Extended-A. */
static const unsigned char cap_lead_tab[256] = {
    ['A'] = 1, ['B'] = 1, ['C'] = 1,  ['D'] = 1,  ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1,  ['L'] = 1,  ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1,  ['T'] = 1,  ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1, [0xC3] = 1, [0xC4] = 1, [0xC5] = 1};

static bool cap_lead(unsigned char c)
{
    return cap_lead_tab[c];
}

static bool cap_at(const unsigned char *t, size_t n, size_t i)
{
    if (i >= n || !cap_lead(t[i]))
        return false;
    bool cap;
    return letter_at(t, n, i, &cap) && cap;
}

enum { W_NONE = 0, W_CAP, W_UPPER, W_INIT, W_PART };

struct word {
    size_t s, e;
    int kind;
};

/* A word at i: letters with apostrophes ("D'Avino", "O'Brien") and hyphens between parts
 * ("Jean-Pierre", "Müller-Schmidt"; with `lower_parts` also "Issy-les-Moulineaux").
 * Capitalized (W_CAP), all capitals (W_UPPER, two letters or more) or an initial (W_INIT,
 * "W."). */
static void read_word(const unsigned char *t, size_t n, size_t i, bool lower_parts, struct word *w)
{
    w->s = i;
    w->e = i;
    w->kind = W_NONE;
    bool cap;
    size_t l = letter_at(t, n, i, &cap);
    if (!l || !cap)
        return;
    size_t k = i + l, ups = 1, lows = 0;
    for (;;) {
        /* the common case first: a run of ASCII small letters */
        size_t k0 = k;
        k = letters_end(t, n, k, i + 48, 0);
        lows += k - k0;
        l = k < n ? letter_at(t, n, k, &cap) : 0;
        if (l) {
            if (cap)
                ups++;
            else
                lows++;
            k += l;
            if (k - i > 48)
                return;
            continue;
        }
        /* an apostrophe or a hyphen between letters */
        if (k + 1 < n && (t[k] == '\'' || t[k] == '-') && letter_at(t, n, k + 1, &cap) &&
            (cap || lower_parts || t[k] == '\'')) {
            k++;
            continue;
        }
        break;
    }
    if (k < n && (sg_is_digit(t[k]) || t[k] == '_' || t[k] == '@'))
        return; /* glued to digits: a code, not a word */
    w->e = k;
    if (lows == 0 && ups >= 2)
        w->kind = W_UPPER;
    else if (lows == 0 && ups == 1 && k < n && t[k] == '.') {
        w->kind = W_INIT;
        w->e = k + 1;
    } else if (lows > 0)
        w->kind = W_CAP;
}

/* A particle at i ("van", "de", "'t") followed by one space: its length, or 0. */
static size_t particle_at(const unsigned char *t, size_t n, size_t i)
{
    size_t k = i;
    while (k < n && k - i < 6 && (sg_is_lower(t[k]) || t[k] == '\''))
        k++;
    if (k == i || k >= n || t[k] != ' ' || !sg_ws_has(&ws_particle, t + i, k - i))
        return 0;
    return k - i;
}

/* ---- addresses ---- */

static size_t digits_at(const unsigned char *t, size_t n, size_t i)
{
    size_t k = i;
    while (k < n && sg_is_digit(t[k]) && k - i < 8)
        k++;
    return k - i;
}

/* A city after a postcode: capitalized or all-capital words, with small linking words
 * ("am Main", "sur Mer", "de Barrameda", "aan den Rijn"), parentheses ("(Oder)"), a slash
 * ("Biel/Bienne") and an Italian province code ("Roma RM"). Returns its end or i. */
static size_t city_run(const unsigned char *t, size_t n, size_t i)
{
#define LK(s)                                                                                      \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
    static const struct {
        const char *s;
        size_t l;
    } links[] = {
        LK("am "),     LK("an der "), LK("an "),    LK("im "),      LK("in "),      LK("bei "),
        LK("ob der "), LK("ob "),     LK("sur "),   LK("sous "),    LK("en "),      LK("lès "),
        LK("les "),    LK("lez "),    LK("de la "), LK("de los "),  LK("de las "),  LK("de "),
        LK("del "),    LK("la "),     LK("le "),    LK("aan den "), LK("aan de "),  LK("aan "),
        LK("op "),     LK("upon "),   LK("on "),    LK("di "),      LK("d'"),       LK("l'"),
        LK("a "),      LK("y "),      LK("e "),     LK("zu "),      LK("vor der "), {NULL, 0}};
#undef LK
    size_t k = i, end = i;
    struct word w;
    for (int words = 0; words < 6; words++) {
        size_t we = 0;
        read_word(t, n, k, true, &w);
        if (w.kind == W_CAP || w.kind == W_UPPER)
            we = w.e;
        else if (k < n && t[k] == '(') {
            read_word(t, n, k + 1, true, &w);
            if (w.kind && w.e < n && t[w.e] == ')')
                we = w.e + 1;
        } else if (k + 2 < n && t[k] == '\'' && t[k + 1] == 's' && t[k + 2] == '-') {
            read_word(t, n, k + 3, true, &w);
            if (w.kind == W_CAP)
                we = w.e; /* 's-Hertogenbosch */
        }
        if (!we)
            break;
        /* "Frantschach-St. Gertraud", "St. Gallen": a short abbreviation's dot */
        size_t seg = we; /* the last part of a hyphenated word */
        while (seg > w.s && t[seg - 1] != '-')
            seg--;
        if (we < n && t[we] == '.' && we + 2 < n && t[we + 1] == ' ' && cap_at(t, n, we + 2) &&
            we - seg <= 3 && w.kind == W_CAP)
            we++;
        k = we;
        end = k;
        if (k < n && t[k] == '/' && cap_at(t, n, k + 1)) {
            k++;
            continue;
        }
        if (k >= n || t[k] != ' ')
            break;
        /* a province code ends the city: "Roma RM" */
        if (k + 3 <= n && sg_is_upper(t[k + 1]) && k + 2 < n && sg_is_upper(t[k + 2]) &&
            (k + 3 == n || !sg_is_alnum(t[k + 3]))) {
            end = k + 3;
            break;
        }
        bool linked = false;
        for (size_t li = 0; links[li].s && !linked && k + 1 < n && sg_is_lower(t[k + 1]); li++) {
            size_t ll = links[li].l;
            if (k + 1 + ll < n && memcmp(t + k + 1, links[li].s, ll) == 0 &&
                (cap_at(t, n, k + 1 + ll) || t[k + 1 + ll] == '(')) {
                k += 1 + ll;
                linked = true;
            }
        }
        if (!linked) {
            if (k + 1 < n && (cap_at(t, n, k + 1) || t[k + 1] == '('))
                k++;
            else
                break;
        }
    }
    return end;
}

/* A house number token at i: digits with a letter ("12a", "31B"), a range or fraction
 * ("12-14", "5/3/12", "122/A", "48-II"), an ordinal ("4th" is not one: it is a street
 * word). Returns its length or 0. */
static size_t house_number(const unsigned char *t, size_t n, size_t i)
{
    size_t k = i;
    if (k < n && t[k] == '#')
        k++;
    size_t d = digits_at(t, n, k);
    if (d == 0 || d > 5)
        return 0;
    k += d;
    if (k < n && sg_is_alpha(t[k]) && t[k] < 0x80 && !(k + 1 < n && sg_is_alpha(t[k + 1])))
        k++; /* 12a */
    while (k + 1 < n && (t[k] == '-' || t[k] == '/') && sg_is_alnum(t[k + 1])) {
        size_t q = k + 1;
        while (q < n && q - k < 5 && (sg_is_digit(t[q]) || sg_is_upper(t[q])))
            q++;
        if (q == k + 1 || (q < n && sg_is_alpha(t[q])))
            break;
        k = q;
    }
    if (k < n && (sg_is_alnum(t[k]) || t[k] == '_'))
        return 0;
    return k - i;
}

/* Trims spaces from both ends of [*a, *b). */
static void trim(const unsigned char *t, size_t *a, size_t *b)
{
    while (*a < *b && (t[*a] == ' ' || t[*a] == '\t'))
        (*a)++;
    while (*b > *a && (t[*b - 1] == ' ' || t[*b - 1] == '\t' || t[*b - 1] == '\r'))
        (*b)--;
}

/* The first word of [a, b) (letters, dots, slashes) is a unit word, or the part is a floor
 * and door ("3º B", "1° A", "4. I", "2. OG", "Apt 4B", "#12"). */
static bool unit_part(const unsigned char *t, size_t a, size_t b)
{
    if (a >= b)
        return false;
    size_t k = a;
    while (k < b && (sg_is_alpha(t[k]) || t[k] == '.' || t[k] == '/'))
        k++;
    if (k > a && sg_ws_has(&ws_unit, t + a, k - a))
        return true;
    if (t[a] == '#')
        return true;
    size_t d = a;
    while (d < b && sg_is_digit(t[d]))
        d++;
    if (d == a || d - a > 3 || d >= b)
        return false;
    /* 3º, 1°, 4ª (UTF-8 C2 BA / C2 B0 / C2 AA), "4. I", "2. OG" */
    if (d + 1 < b && t[d] == 0xC2 && (t[d + 1] == 0xBA || t[d + 1] == 0xB0 || t[d + 1] == 0xAA))
        return true;
    if (t[d] == '.' && d + 2 < b + 1 && b - d <= 5)
        return true;
    return false;
}

/* The bytes that end the search for a street on the same line. */
static bool hard_delim(const unsigned char *t, size_t k)
{
    unsigned char c = t[k];
    if (c == '\n' || c == ';' || c == '\t' || c == '"' || c == '|' || c == ':' || c == '(' ||
        c == ')' || c == '[' || c == ']' || c == '{' || c == '}' || c == '=' || c == '>' ||
        c == '<')
        return true;
    if (c == 0xB7 && k > 0 && t[k - 1] == 0xC2)
        return true; /* · */
    if (c == ',' && t[k + 1] != ' ')
        return true; /* CSV */
    return false;
}

/* Where the street name before `e` starts when its house number comes after it ("Am Hohen
 * Ufer", "Calle de Medina", "van der Meulenlaan", "C/ Alberto Magaña"): capitalized words
 * and particles, going back until a lower-case word, a label or the part's start `a`.
 * Returns the start or (size_t)-1. */
static size_t name_first_start(const unsigned char *t, size_t a, size_t e)
{
    size_t k = e, start = (size_t)-1;
    int words = 0;
    while (k > a && words < 8) {
        size_t we = k;
        while (we > a && t[we - 1] == ' ')
            we--;
        size_t ws = we;
        while (ws > a && t[ws - 1] != ' ')
            ws--;
        if (ws == we)
            break;
        struct word w;
        read_word(t, we, ws, true, &w);
        bool ok = false;
        if ((w.kind == W_CAP || w.kind == W_UPPER || w.kind == W_INIT) &&
            (w.e == we || (w.e + 1 == we && t[w.e] == '.'))) {
            if (sg_ws_has(&ws_addr_label, t + ws, w.e - ws))
                break;
            ok = true;
        } else if (we - ws <= 4 && (t[ws] == 'C' || t[ws] == 'c') && ws + 1 < we &&
                   t[ws + 1] == '/') {
            ok = true; /* "C/ Mayor" */
        } else if (sg_ws_has(&ws_street_particle, t + ws, we - ws) ||
                   (we - ws >= 2 && (t[ws] == 'd' || t[ws] == 'l') && t[ws + 1] == '\'')) {
            ok = true;
        } else if (sg_is_digit(t[ws]) && words > 0) {
            ok = true; /* "Avenue du 8 Mai" */
        }
        if (!ok)
            break;
        words++;
        start = ws;
        k = ws;
    }
    /* a leading particle is only part of the name when nothing is before it on the line */
    while (start != (size_t)-1 && start < e && sg_is_lower(t[start])) {
        size_t q = start;
        while (q > a && t[q - 1] == ' ')
            q--;
        if (q == a)
            break;
        while (start < e && t[start] != ' ')
            start++;
        while (start < e && t[start] == ' ')
            start++;
    }
    return start != (size_t)-1 && start < e ? start : (size_t)-1;
}

/* Words of a street name after its house number ("Sandringham Road", "place de
 * Montmorency", "N 4th Street", "The Maltings", "bis place de Vaugirard"). */
static bool street_tail_word(const unsigned char *t, size_t ws, size_t we)
{
    struct word w;
    read_word(t, we, ws, true, &w);
    if (w.kind && w.e >= we - (t[we - 1] == '.' ? 1 : 0))
        return true;
    size_t k = ws;
    while (k < we && sg_is_digit(t[k]))
        k++;
    if (k > ws && we - k == 2)
        return true; /* 4th, 1st, 2nd, 3rd */
    /* lower-case words of French, Italian and Spanish street names */
    for (k = ws; k < we; k++)
        if (!sg_is_alpha(t[k]) && t[k] != '\'' && t[k] != '-')
            return false;
    return we - ws <= 12;
}

/* Where a street that starts with its house number starts in [a, e): "to 170B Sandringham
 * Road" starts at "170B". In running text (`typed`) one of its words must be a street
 * type ("Road", "rue") or it must start with "The" ("41 The Maltings"): "2 Tagen" is no
 * street. Returns the start or (size_t)-1. */
static size_t number_first_start(const unsigned char *t, size_t n, size_t a, size_t e, bool typed)
{
    size_t k = e, last = e;
    int words = 0;
    bool type = false;
    while (k > a && words < 10) {
        size_t we = k;
        while (we > a && t[we - 1] == ' ')
            we--;
        size_t ws = we;
        while (ws > a && t[ws - 1] != ' ')
            ws--;
        if (ws == we)
            return (size_t)-1;
        size_t hn = house_number(t, n, ws);
        if (hn && ws + hn == we && words > 0) {
            bool the = e - last >= 3 && (t[last] == 'T' || t[last] == 't') && t[last + 1] == 'h' &&
                       t[last + 2] == 'e' && t[last + 3] == ' ';
            return !typed || type || the ? ws : (size_t)-1;
        }
        /* "57 bis place", "12 ter rue"; "48 bis" alone is a number, not a street */
        if (we - ws == 3 && (memcmp(t + ws, "bis", 3) == 0 || memcmp(t + ws, "ter", 3) == 0)) {
            if (words == 0)
                return (size_t)-1;
            k = ws;
            continue;
        }
        if (!street_tail_word(t, ws, we))
            return (size_t)-1;
        type |= sg_ws_has(&ws_street_type, t + ws, we - ws);
        words++;
        last = ws;
        k = ws;
    }
    return (size_t)-1;
}

/* Whether [a, e) ends with a house number (and unit words after it: "167 bus 10",
 * "124 bis", "12 ter"): the position where the name before the number ends, or
 * (size_t)-1. */
static size_t number_last(const unsigned char *t, size_t n, size_t a, size_t e)
{
    size_t k = e;
    /* "bus 10", "bis", "ter" after the number */
    for (int round = 0; round < 2; round++) {
        size_t we = k, ws = we;
        while (ws > a && t[ws - 1] != ' ')
            ws--;
        if (ws <= a)
            break;
        size_t hn = house_number(t, n, ws);
        if (hn && ws + hn == we) {
            size_t p = ws;
            while (p > a && t[p - 1] == ' ')
                p--;
            /* "bus 10", "Apt 4": the number belongs to the unit word */
            size_t q = p;
            while (q > a && t[q - 1] != ' ')
                q--;
            if (q < p && sg_ws_has(&ws_unit, t + q, p - q) && q > a) {
                k = q;
                while (k > a && t[k - 1] == ' ')
                    k--;
                continue;
            }
            return p > a ? p : (size_t)-1;
        }
        if (we - ws == 3 && (memcmp(t + ws, "bis", 3) == 0 || memcmp(t + ws, "ter", 3) == 0)) {
            k = ws;
            while (k > a && t[k - 1] == ' ')
                k--;
            continue;
        }
        break;
    }
    return (size_t)-1;
}

/* The start of the street in the part [a, e) (a comma part, or a whole line), or
 * (size_t)-1 when the part holds no street with a house number. */
static size_t street_in(const unsigned char *t, size_t n, size_t a, size_t e, bool typed)
{
    trim(t, &a, &e);
    if (e <= a || e - a < 3)
        return (size_t)-1;
    size_t ne = number_last(t, n, a, e);
    if (ne != (size_t)-1) {
        size_t st = name_first_start(t, a, ne);
        if (st != (size_t)-1)
            return st;
    }
    /* a unit at the end: "1431 State Road #14" */
    size_t e2 = e;
    size_t ws = e;
    while (ws > a && t[ws - 1] != ' ')
        ws--;
    if (ws > a && t[ws] == '#')
        e2 = ws;
    while (e2 > a && t[e2 - 1] == ' ')
        e2--;
    return number_first_start(t, n, a, e2, typed);
}

/* A comma part [a, e) that is only a house number ("12", "122/A", "89"). */
static bool number_part(const unsigned char *t, size_t n, size_t a, size_t e)
{
    trim(t, &a, &e);
    size_t hn = house_number(t, n, a);
    if (hn && a + hn == e)
        return true;
    /* "57 bis", "25 bus 3" */
    return hn && e - (a + hn) <= 8 && t[a + hn] == ' ' &&
           (memcmp(t + a + hn + 1, "bis", 3) == 0 || memcmp(t + a + hn + 1, "ter", 3) == 0 ||
            memcmp(t + a + hn + 1, "bus", 3) == 0);
}

/* A street name part without a number ("Calle Mayor", "Via Roma"), before a number part. */
static size_t name_part(const unsigned char *t, size_t a, size_t e)
{
    trim(t, &a, &e);
    if (e <= a)
        return (size_t)-1;
    return name_first_start(t, a, e);
}

/* A part that is a French street name without its number ("avenue Joubert", "Place du
 * Havre", "impasse d'Assas"): a street type first, no digits. */
static bool typed_name_part(const unsigned char *t, size_t a, size_t e)
{
    size_t k = a;
    while (k < e && (sg_is_alpha(t[k]) || t[k] == '-'))
        k++;
    if (k == a || !sg_ws_has(&ws_street_type, t + a, k - a))
        return false;
    for (size_t q = a; q < e; q++)
        if (sg_is_digit(t[q]))
            return false;
    return e - a < 60;
}

/* The comma parts that end at `pe`, going left (not past `lo`; in running text not past a
 * delimiter either): units skipped ("Postfach 470", "Apt 21", "3º B"), then a street with
 * its number, a number and the street name before it ("Calle Mayor, 12"), or a street
 * name and the number before it ("12, rue de la Paix"). On a line of its own (`line`) the
 * street must start the line. In running text after a weak anchor (`typed`) a street
 * written number first needs a street type. Returns the start or (size_t)-1. */
static size_t street_parts(const unsigned char *t, size_t n, size_t lo, size_t pe, bool typed,
                           bool line)
{
    bool have_number = false, have_name = false;
    for (int parts = 0; parts < 6; parts++) {
        size_t ps = pe;
        while (ps > lo && (line || !hard_delim(t, ps - 1)) && !(t[ps - 1] == ',' && t[ps] == ' '))
            ps--;
        size_t a = ps, b = pe;
        trim(t, &a, &b);
        if (b <= a)
            return (size_t)-1;
        bool at_start = !line || a == lo;
        if (have_number) {
            size_t st = name_part(t, a, b);
            return st != (size_t)-1 && (!line || st == lo) ? st : (size_t)-1;
        }
        if (have_name)
            return number_part(t, n, a, b) && at_start ? a : (size_t)-1;
        if (!unit_part(t, a, b)) {
            size_t st = street_in(t, n, a, b, typed && !line);
            if (st != (size_t)-1) {
                if (ps > lo && t[ps - 1] == ',') {
                    /* "Flat 3, 12 High Street" */
                    size_t qs = ps - 1;
                    while (qs > lo && (line || !hard_delim(t, qs - 1)) &&
                           !(t[qs - 1] == ',' && t[qs] == ' '))
                        qs--;
                    size_t a2 = qs, b2 = ps - 1;
                    trim(t, &a2, &b2);
                    if (b2 > a2 && b2 - a2 < 16 && unit_part(t, a2, b2) && sg_is_upper(t[a2]) &&
                        (!line || a2 == lo))
                        return a2;
                }
                return !line || st == lo ? st : (size_t)-1;
            }
            if (number_part(t, n, a, b))
                have_number = true;
            else if (typed_name_part(t, a, b))
                have_name = true;
            else
                return (size_t)-1;
        }
        if (ps <= lo || t[ps - 1] != ',')
            return (size_t)-1;
        pe = ps - 1;
    }
    return (size_t)-1;
}

/* The street before a locality that starts at `ls` on the same line, after ", ". */
static size_t street_inline(const unsigned char *t, size_t n, size_t ls, bool typed)
{
    size_t k = ls;
    while (k > 0 && t[k - 1] == ' ')
        k--;
    if (k == 0 || t[k - 1] != ',')
        return (size_t)-1;
    return street_parts(t, n, ls > 200 ? ls - 200 : 0, k - 1, typed, false);
}

/* The line [*a, *b) that ends before line start `ls` (ls > 0 and t[ls - 1] == '\n'). */
static bool line_above(const unsigned char *t, size_t ls, size_t *a, size_t *b)
{
    if (ls == 0 || t[ls - 1] != '\n')
        return false;
    size_t e = ls - 1, s = e;
    while (s > 0 && t[s - 1] != '\n' && e - s < 120)
        s--;
    if (s > 0 && t[s - 1] != '\n')
        return false;
    *a = s;
    *b = e;
    trim(t, a, b);
    return *b > *a;
}

/* A street line: a street with its number making up the whole line (a comma and a unit
 * after it allowed: "6392 Clinton Street, Suite 899", "Calle Mayor, 12, 3º B", "158,
 * avenue Joubert"). */
static size_t street_line(const unsigned char *t, size_t n, size_t a, size_t e)
{
    if (e - a > 90 || memchr(t + a, '@', e - a) || memchr(t + a, ':', e - a))
        return (size_t)-1;
    return street_parts(t, n, a, e, false, true);
}

/* A line between a street and its locality: c/o, Postfach, BP, floor, building. */
static bool middle_line(const unsigned char *t, size_t a, size_t e)
{
    if (e - a > 60)
        return false;
    return unit_part(t, a, e) || (e - a > 4 && (t[a] == 'c' || t[a] == 'C') && t[a + 1] == '/');
}

/* The street above a locality that starts line `ls`: the line above, or the line above a
 * c/o, Postfach, floor or building line. */
static size_t street_above(const unsigned char *t, size_t n, size_t ls)
{
    size_t a, b;
    if (!line_above(t, ls, &a, &b))
        return (size_t)-1;
    size_t st = street_line(t, n, a, b);
    if (st != (size_t)-1 && !middle_line(t, a, b))
        return st;
    if (!middle_line(t, a, b))
        return (size_t)-1;
    size_t a2, b2;
    if (!line_above(t, a, &a2, &b2))
        return st;
    size_t st2 = street_line(t, n, a2, b2);
    return st2 != (size_t)-1 ? st2 : st;
}

/* The street for a locality at `ls`: inline after ", ", or above when it starts a line.
 * A UK or US locality (`strong`) vouches for a street written number first without a
 * street type ("38 Westgate, Morarwick HW2 8RB"). */
static size_t street_for(const unsigned char *t, size_t n, size_t ls, bool strong)
{
    size_t k = ls;
    while (k > 0 && (t[k - 1] == ' ' || t[k - 1] == '\t'))
        k--;
    if (k == 0)
        return (size_t)-1;
    if (t[k - 1] == '\n')
        return street_above(t, n, k);
    return street_inline(t, n, ls, !strong);
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

static bool us_state(const unsigned char *t, size_t i)
{
    static const char states[] = "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA "
                                 "MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN "
                                 "TX UT VT VA WA WV WI WY DC PR";
    for (size_t k = 0; k + 1 < sizeof(states); k += 3)
        if (t[i] == (unsigned char)states[k] && t[i + 1] == (unsigned char)states[k + 1])
            return true;
    return false;
}

/* The town before a UK postcode at p: capitalized words on the same line (after ", " or
 * at the line start), or the whole line above when the postcode starts a line. */
static size_t uk_town_start(const unsigned char *t, size_t n, size_t p)
{
    size_t k = p;
    if (k > 0 && t[k - 1] == '\n') {
        size_t a, b;
        if (!line_above(t, k, &a, &b) || city_run(t, n, a) != b)
            return (size_t)-1;
        return a;
    }
    if (k == 0 || t[k - 1] != ' ')
        return (size_t)-1;
    size_t e = k - 1;
    while (e > 0 && t[e - 1] == ',')
        e--;
    /* up to four capitalized words before */
    size_t s = e, best = (size_t)-1;
    for (int words = 0; words < 4; words++) {
        size_t ws = s;
        while (ws > 0 && t[ws - 1] != ' ' && t[ws - 1] != '\n' && s - ws < 40)
            ws--;
        if (ws == s || city_run(t, n, ws) < e)
            break;
        best = ws;
        if (ws == 0 || t[ws - 1] != ' ')
            break;
        if (ws >= 2 && t[ws - 2] == ',')
            break;
        s = ws - 1;
    }
    return best;
}

/* A US locality ending in the ZIP code at z: "City, ST 12345". Returns the city start. */
static size_t us_city_start(const unsigned char *t, size_t n, size_t z)
{
    if (z < 6 || t[z - 1] != ' ' || !sg_is_upper(t[z - 2]) || !sg_is_upper(t[z - 3]) ||
        t[z - 4] != ' ' || t[z - 5] != ',' || !us_state(t, z - 3))
        return (size_t)-1;
    size_t e = z - 5;
    size_t s = e;
    for (int words = 0; words < 4; words++) {
        size_t ws = s;
        while (ws > 0 && t[ws - 1] != ' ' && t[ws - 1] != '\n' && s - ws < 30)
            ws--;
        if (ws == s || city_run(t, n, ws) < e)
            break;
        if (ws == 0 || t[ws - 1] != ' ' || (ws >= 2 && t[ws - 2] == ','))
            return ws;
        s = ws - 1;
    }
    return s < e ? s + 1 : (size_t)-1;
}

int sg_detect_addresses(struct scan *s)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    size_t done = 0;
    for (size_t q = 0; q < s->npairs; q++) { /* the others fail the two tests below */
        size_t i = s->pairs[q];
        if (i + 4 >= n)
            break;
        unsigned char c = t[i];
        /* a postcode, a UK postcode or a country prefix starts a token */
        if (i < done || !(sg_ccls[c] & (C_DIGIT | C_UPPER)))
            continue;
        if (!(sg_ccls[t[i + 1]] & (C_DIGIT | C_UPPER)) && t[i + 1] != '-')
            continue;
        size_t ls = (size_t)-1, le = 0;
        bool strong = false; /* a UK or US locality */
        if (sg_is_digit(c) || (c <= 'Z' && i + 2 < n && (t[i + 1] == '-' || t[i + 2] == '-'))) {
            /* "12345 City", "1234 AB City", "D-10115 Berlin", "CH-8001 Zürich" */
            size_t p = i;
            if (!sg_is_digit(c)) {
                p = t[i + 1] == '-' ? i + 2 : (sg_is_upper(t[i + 1]) ? i + 3 : n);
                if (p >= n || t[p - 1] != '-')
                    p = n;
            }
            size_t d = p < n ? digits_at(t, n, p) : 0;
            if (d == 4 || d == 5) {
                size_t k = p + d;
                if (d == 5 && k + 5 <= n && t[k] == '-' && digits_at(t, n, k + 1) == 4) {
                    /* a US ZIP+4 */
                    size_t cs = us_city_start(t, n, p);
                    if (cs != (size_t)-1) {
                        ls = cs;
                        le = k + 5;
                        strong = true;
                    }
                } else {
                    size_t cs = us_city_start(t, n, p);
                    if (d == 5 && cs != (size_t)-1 && (k >= n || !sg_is_alnum(t[k]))) {
                        ls = cs;
                        le = k;
                        strong = true;
                    } else {
                        if (d == 4 && k + 3 < n && sg_is_upper(t[k + 1]) && sg_is_upper(t[k + 2]) &&
                            t[k] == ' ' && t[k + 3] == ' ')
                            k += 3; /* NL 1234 AB */
                        else if (d == 4 && k + 2 < n && sg_is_upper(t[k]) &&
                                 sg_is_upper(t[k + 1]) && t[k + 2] == ' ')
                            k += 2; /* NL 1234AB */
                        if (k + 1 < n && t[k] == ' ') {
                            size_t ce = city_run(t, n, k + 1);
                            if (ce > k + 1) {
                                ls = i;
                                le = ce;
                            }
                        }
                    }
                }
            }
        }
        if (ls == (size_t)-1 && sg_is_upper(c)) {
            size_t pl = uk_postcode(t, n, i);
            if (pl) {
                size_t ts = uk_town_start(t, n, i);
                if (ts != (size_t)-1) {
                    ls = ts;
                    le = i + pl;
                    strong = true;
                }
            }
        }
        if (ls == (size_t)-1)
            continue;
        size_t st = street_for(t, n, ls, strong);
        if (st == (size_t)-1)
            continue;
        int rc = sg_scan_add(s, st, le, SG_ENT_ADDRESS);
        if (rc)
            return rc;
        done = le;
    }
    return 0;
}

/* ---- names ---- */

#define MAX_WORDS 10

/* A run of words and what each one is; the main loop moves along a run rather than
 * reading it again from each of its words, so a long run of capitalized words costs
 * linear time. */
struct run {
    struct word w[MAX_WORDS];
    bool cue[MAX_WORDS];     /* a cue phrase ends with this word */
    bool stop[MAX_WORDS];    /* never part of a name */
    bool company[MAX_WORDS]; /* a company form */
    int nw;
};

/* Capitalized words, initials and particles from i on one line, single spaces between. */
static void read_run(const unsigned char *t, size_t n, size_t i, struct run *r)
{
    r->nw = 0;
    size_t k = i;
    while (r->nw < MAX_WORDS) {
        struct word w;
        read_word(t, n, k, false, &w);
        if (w.kind == W_NONE && r->nw > 0) {
            size_t pl = particle_at(t, n, k);
            if (!pl)
                break;
            w.s = k;
            w.e = k + pl;
            w.kind = W_PART;
        }
        if (w.kind == W_NONE)
            break;
        /* "Sig.ra", "Dott.ssa", "Dr.", "Mr.": a title's dot */
        if (w.kind == W_CAP && w.e < n && t[w.e] == '.') {
            size_t q = w.e + 1;
            while (q < n && sg_is_lower(t[q]) && q - w.e < 5)
                q++;
            size_t cand = q > w.e + 1 ? q : w.e + 1;
            if (sg_ws_has(&ws_cue, t + w.s, cand - w.s))
                w.e = cand;
        }
        r->w[r->nw++] = w;
        k = w.e;
        if (k + 1 < n && t[k] == ' ' &&
            (cap_at(t, n, k + 1) || sg_is_lower(t[k + 1]) || t[k + 1] == '\''))
            k++;
        else
            break;
    }
    while (r->nw > 0 && r->w[r->nw - 1].kind == W_PART)
        r->nw--;
}

/* Whether the capitalized word at i plainly stands alone, so that read_run would find no
 * run of two words there: ASCII letters, then the end of the text, or a byte that ends a
 * word and no run goes on over (not an apostrophe, hyphen, dot or non-ASCII byte), or a
 * space before neither a capital nor a particle. Most capitalized words start a sentence
 * ("Thank you", "The order") and are passed over here without being read twice; the
 * rest go to read_run. */
static bool lone_word(const unsigned char *t, size_t n, size_t i)
{
    if (t[i] >= 0x80)
        return false;
    size_t k = letters_end(t, n, i + 1, i + 48, LE_UPPER);
    if (k >= n)
        return true;
    unsigned char c = t[k];
    if (k - i >= 48 || c == '\'' || c == '-' || c == '.' || c >= 0x80)
        return false;
    if (c != ' ' || k + 1 >= n)
        return true;
    unsigned char d = t[k + 1];
    if (d == '\'' || d >= 0x80 || sg_is_upper(d))
        return false;
    return !sg_is_lower(d) || particle_at(t, n, k + 1) == 0;
}

static bool is_stop(const unsigned char *t, const struct word *w)
{
    size_t e = w->e;
    if (e > w->s && t[e - 1] == '.')
        e--;
    return sg_ws_has(&ws_stop, t + w->s, e - w->s);
}

/* Folds a word for the gazetteer: lower case, Latin-1 accents dropped ("María" ->
 * "maria"), the gazetteer being stored the same way. */
static bool gazetteer_has(const unsigned char *w, size_t n)
{
    unsigned char buf[48];
    size_t o = 0;
    for (size_t i = 0; i < n && o + 2 < sizeof(buf); i++) {
        unsigned char c = w[i];
        if (c >= 'A' && c <= 'Z') {
            buf[o++] = (unsigned char)(c + 32);
        } else if (c == 0xC3 && i + 1 < n) {
            static const char map[] = "aaaaaaaceeeeiiiidnooooo/ouuuuyts"; /* C3 80..9F */
            unsigned char d = w[++i];
            unsigned char base = d >= 0xA0 ? (unsigned char)(d - 0x20) : d;
            if (base < 0x80 || base > 0x9F)
                return false;
            char m = d == 0xBF ? 'y' : map[base - 0x80]; /* ÿ; 0x9F itself is ß */
            if (m == 's' && base == 0x9F) {
                buf[o++] = 's';
                buf[o++] = 's';
            } else if (m == '/') {
                return false;
            } else {
                buf[o++] = (unsigned char)m;
            }
        } else {
            buf[o++] = c;
        }
    }
    if (o == 0 || o + 2 >= sizeof(buf))
        return false;
    return sg_ws_has(&ws_gazetteer, buf, o);
}

bool sg_detect_is_first_name(const char *word, size_t n)
{
    sg_detect_init();
    const unsigned char *w = (const unsigned char *)word;
    /* the first part of a hyphenated name: "Jean-Pierre" */
    size_t k = 0;
    while (k < n && w[k] != '-')
        k++;
    return gazetteer_has(w, n) || (k < n && gazetteer_has(w, k));
}

/* A cue phrase ends at `at` (its last word first, in one lookup). When the caller has
 * looked the bytes [ws, at) up in cue_last_words already, it passes the start and the
 * answer. */
static bool cue_ends_at_t(const unsigned char *t, size_t at, size_t ws, bool last)
{
    /* The caller's word [ws, at) holds no white space: with white space (or the text's
     * start) right before it and 24 bytes at most, the loop below would stop at ws, where
     * `last` answers; most words of a run are no cue's last word. */
    if (ws != (size_t)-1 && !last && ws < at && at - ws <= 24 &&
        (ws == 0 || sg_is_space(t[ws - 1])))
        return false;
    size_t w = at;
    while (w > 0 && at - w < 24 && !sg_is_space(t[w - 1]))
        w--;
    if (w == at || !(w == ws ? last : sg_ws_has(&ws_cue_last, t + w, at - w)))
        return false;
    size_t lo = at > 40 ? at - 40 : 0;
    return sg_ws_ends_at(&ws_cue, t, lo, at) > 0;
}

static bool cue_ends_at(const unsigned char *t, size_t at)
{
    return cue_ends_at_t(t, at, (size_t)-1, false);
}

/* A cue phrase ends right before `a` (after one space, ", " or ": "). */
static bool cue_before(const unsigned char *t, size_t a)
{
    size_t k = a;
    while (k > 0 && a - k < 2 && t[k - 1] == ' ')
        k--;
    if (k > 0 && (t[k - 1] == ',' || t[k - 1] == ':')) {
        k--;
        while (k > 0 && a - k < 5 && t[k - 1] == ' ')
            k--;
    }
    if (k == a || k == 0)
        return false;
    return cue_ends_at(t, k);
}

/* A signature: "– Anna Schmidt" (a dash, the name, the end of the line). */
static bool signature_dash(const unsigned char *t, size_t n, size_t a, size_t b)
{
    size_t k = a;
    while (k > 0 && t[k - 1] == ' ')
        k--;
    bool dash = k > 0 && t[k - 1] == '-';
    if (dash) {
        k--;
    } else if (k >= 3 && t[k - 3] == 0xE2 && t[k - 2] == 0x80 &&
               (t[k - 1] == 0x93 || t[k - 1] == 0x94)) {
        k -= 3; /* – — */
        dash = true;
    }
    if (!dash || k == a || (k > 0 && t[k - 1] != '\n'))
        return false;
    size_t e = b;
    while (e < n && (t[e] == ' ' || t[e] == '\r'))
        e++;
    return e >= n || t[e] == '\n';
}

/* The line holding [a, b) holds nothing else (besides a signature dash before, and
 * punctuation after). */
static bool whole_line(const unsigned char *t, size_t n, size_t a, size_t b)
{
    size_t k = a;
    while (k > 0 && (t[k - 1] == ' ' || t[k - 1] == '\t'))
        k--;
    /* "– Anna Schmidt", "- Anna Schmidt" */
    if (k > 0 && (t[k - 1] == '-' || (k >= 3 && t[k - 1] == 0x94 && t[k - 3] == 0xE2) ||
                  (k >= 3 && t[k - 1] == 0x93 && t[k - 3] == 0xE2))) {
        k -= t[k - 1] == '-' ? 1 : 3;
        while (k > 0 && t[k - 1] == ' ')
            k--;
    }
    if (k > 0 && t[k - 1] != '\n')
        return false;
    size_t e = b;
    while (e < n && (t[e] == ' ' || t[e] == ',' || t[e] == '\r'))
        e++;
    return e >= n || t[e] == '\n';
}

/* The start of the line after the one holding `b`, or n. */
static size_t next_line(const unsigned char *t, size_t n, size_t b)
{
    const unsigned char *nl = memchr(t + b, '\n', n - b);
    return nl ? (size_t)(nl - t) + 1 : n;
}

/* An ADDRESS finding starts at `at` (a binary search: they were added in text order). */
static bool address_at(const struct scan *s, size_t at)
{
    size_t lo = s->addr_lo, hi = s->addr_hi;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->raw->v[mid].start < at)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->addr_hi && s->raw->v[lo].start == at;
}

/* An address starts on one of the next two lines (a company or c/o line between). */
static bool address_below(const struct scan *s, size_t b)
{
    size_t l1 = next_line(s->t, s->n, b);
    if (l1 >= s->n)
        return false;
    if (address_at(s, l1))
        return true;
    size_t l2 = next_line(s->t, s->n, l1);
    return l2 < s->n && address_at(s, l2);
}

/* The line before the one holding `a` is a closing ("Best regards,", "Viele Grüße"). */
static bool after_closing(const unsigned char *t, size_t a)
{
    size_t k = a;
    while (k > 0 && t[k - 1] != '\n' && a - k < 4)
        k--;
    if (k == 0 || t[k - 1] != '\n')
        return false;
    size_t e = k - 1;
    while (e > 0 && (t[e - 1] == ',' || t[e - 1] == '!' || t[e - 1] == '.' || t[e - 1] == ' ' ||
                     t[e - 1] == '\r'))
        e--;
    size_t s = e;
    while (s > 0 && t[s - 1] != '\n' && e - s < 48)
        s--;
    return e > s && sg_ws_ends_at(&ws_closing, t, s, e) > 0;
}

/* A chat speaker label: the run starts a line (or follows "[hh:mm] ") and ": " follows. */
static bool speaker_label(const unsigned char *t, size_t n, size_t a, size_t b)
{
    if (b + 1 >= n || t[b] != ':' || t[b + 1] != ' ')
        return false;
    if (a == 0 || t[a - 1] == '\n')
        return true;
    return a >= 2 && t[a - 1] == ' ' && t[a - 2] == ']';
}

/* A JSON or form field whose key ends in "name": "billing_name": "Anna Schmidt". */
static bool name_field(const unsigned char *t, size_t a)
{
    if (a < 8 || t[a - 1] != '"')
        return false;
    size_t k = a - 1;
    while (k > 0 && a - 1 - k < 3 && (t[k - 1] == ' ' || t[k - 1] == ':'))
        k--;
    if (k == 0 || t[k - 1] != '"')
        return false;
    k--;
    return k >= 4 && (t[k - 1] | 0x20) == 'e' && (t[k - 2] | 0x20) == 'm' &&
           (t[k - 3] | 0x20) == 'a' && (t[k - 4] | 0x20) == 'n';
}

/* The names found so far in this text, for finding them again (by their first word). */
struct known {
    struct {
        uint32_t s, e, fe; /* the name and the end of its first word */
    } * v;
    size_t n, cap;
};

static void known_add(struct known *k, size_t s, size_t e, size_t fe)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        if (cap > 4096)
            return; /* enough to find the rest: a bound on the second pass */
        void *v = realloc(k->v, cap * sizeof(*k->v));
        if (!v)
            return;
        k->v = v;
        k->cap = cap;
    }
    k->v[k->n].s = (uint32_t)s;
    k->v[k->n].e = (uint32_t)e;
    k->v[k->n].fe = (uint32_t)fe;
    k->n++;
}

/* Each word is hashed and looked up once for the four lists (ws_run). */
static void run_flags(const unsigned char *t, struct run *r)
{
    for (int q = 0; q < r->nw; q++) {
        const struct word *w = &r->w[q];
        const unsigned char *p = t + w->s;
        size_t l = w->e - w->s;
        unsigned tags = sg_ws_tags(&ws_run, sg_ws_hash(p, l), p, l);
        r->cue[q] = w->kind != W_PART && cue_ends_at_t(t, w->e, w->s, tags & TAG_CUE_LAST);
        /* a capitalized particle inside a name is no stop word: "Ofelia De Bonis" */
        bool particle = q > 0 && (tags & TAG_PARTICLE);
        bool dot = l > 0 && p[l - 1] == '.'; /* is_stop looks the word up without it */
        r->stop[q] = w->kind != W_PART && !particle && (dot ? is_stop(t, w) : (tags & TAG_STOP));
        r->company[q] = tags & TAG_COMPANY;
    }
}

/* A word with an ending of abstract nouns and adjectives ("Zustellung", "Sicherheit",
 * "Voraussichtliche", "Information", "Qualität"), which family names hardly have: without
 * a salutation or label such a run is no name. Words of up to five letters are never
 * judged ("Jung", "Kind" are names too). */
static bool noun_like(const unsigned char *t, const struct word *w)
{
#define E(s)                                                                                       \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
    static const struct {
        const char *s;
        size_t l;
    } endings[] = {E("ung"),    E("ungen"),  E("heit"),  E("keit"),  E("schaft"),
                   E("tion"),   E("ität"),   E("ismus"), E("liche"), E("licher"),
                   E("lichen"), E("ierung"), E("ieren"), E("ische"), E("tions")};
#undef E
    size_t l = w->e - w->s;
    if (l <= 5 || w->kind != W_CAP)
        return false;
    unsigned char last = t[w->e - 1];
    for (size_t i = 0; i < sizeof(endings) / sizeof(endings[0]); i++) {
        size_t el = endings[i].l;
        if ((unsigned char)endings[i].s[el - 1] == last && el < l &&
            memcmp(t + w->e - el, endings[i].s, el) == 0)
            return true;
    }
    return false;
}

/* Judges the words r->w[off..] (a name starts at the first of them, or after the cues
 * there); returns the end of what was looked at (and adds a finding). */
static size_t judge_run(struct scan *s, const struct run *r, int off, struct known *known, int *rc)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    int nw = r->nw;
    if (nw - off < 2)
        return r->w[off].e; /* a name is two words at least */
    size_t run_end = r->w[nw - 1].e;
    /* leading salutations, titles and greetings are cues, not parts of the name */
    int j = off;
    while (j < nw && r->cue[j])
        j++;
    bool strong = j > off;
    while (j < nw && r->w[j].kind == W_PART)
        j++;
    if (j >= nw)
        return run_end;
    /* the name: up to the first word that is never part of one */
    int e = j;
    while (e < nw && !r->stop[e] && !(r->w[e].kind == W_CAP && e > j && r->company[e]))
        e++;
    bool company = e < nw && r->company[e];
    while (e > j && r->w[e - 1].kind == W_PART)
        e--;
    int names = 0;
    for (int q = j; q < e; q++)
        names += r->w[q].kind != W_PART;
    if (names < 2 || r->w[j].kind != W_CAP || company || r->w[e - 1].kind == W_INIT)
        return r->w[j].e;
    size_t a = r->w[j].s, b = r->w[e - 1].e;
    const struct word *first = &r->w[j];
    bool ok = strong || cue_before(t, a);
    if (!ok) {
        /* the weaker kinds of evidence below need words that look like names, and no
         * company form after them ("Brin de Jardin & Cie") */
        for (int q = j; q < e; q++)
            if (noun_like(t, &r->w[q]))
                return first->e;
        if (b + 2 < n && t[b] == ' ' && t[b + 1] == '&')
            return first->e;
    }
    /* a known first name (of three letters or more: "Ab", "Al" are words too often) */
    if (!ok && first->e - first->s >= 3)
        ok = sg_detect_is_first_name((const char *)t + first->s, first->e - first->s);
    if (!ok && e == nw)
        ok = name_field(t, a) || speaker_label(t, n, a, b) || signature_dash(t, n, a, b) ||
             (whole_line(t, n, a, b) && (address_below(s, b) || after_closing(t, a)));
    if (!ok)
        return first->e;
    *rc = sg_scan_add(s, a, b, SG_ENT_PERSON);
    known_add(known, a, b, first->e);
    return b;
}

static uint32_t word_hash(const unsigned char *w, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t k = 0; k < n; k++)
        h = (h ^ w[k]) * 16777619u;
    return h;
}

/* The first three bytes of a name, hashed into 12 bits. */
static inline unsigned head3(const unsigned char *w)
{
    return ((unsigned)w[0] * 961u + (unsigned)w[1] * 31u + w[2]) & 4095u;
}

/* Finds the names again: every occurrence of a name found once. The distinct names go
 * into a hash table keyed by their first word, so each capitalized word costs one hash
 * and (mostly) one probe. */
static int find_again(struct scan *s, const struct known *known)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    size_t cap = 64;
    while (cap < 2 * known->n)
        cap <<= 1;
    uint32_t *slot = calloc(cap, sizeof(*slot)); /* index + 1 into known->v */
    uint32_t *hash = calloc(known->n, sizeof(*hash));
    if (!slot || !hash) {
        free(slot);
        free(hash);
        return SG_ENOMEM;
    }
    size_t mask = cap - 1;
    uint64_t filter[64] = {0}; /* 4096 bits: first words known, before the table probe */
    uint64_t head[64] = {0};   /* 4096 bits: their first three bytes, before the word is read */
    for (size_t q = 0; q < known->n; q++) {
        const unsigned char *w = t + known->v[q].s;
        size_t l = known->v[q].e - known->v[q].s;
        uint32_t h = word_hash(w, known->v[q].fe - known->v[q].s);
        hash[q] = h;
        filter[(h >> 6) & 63] |= 1ull << (h & 63);
        unsigned hb = head3(w);
        head[hb >> 6] |= 1ull << (hb & 63);
        size_t j = h & mask;
        bool dup = false;
        for (; slot[j]; j = (j + 1) & mask) {
            size_t o = slot[j] - 1;
            if (known->v[o].e - known->v[o].s == l && memcmp(t + known->v[o].s, w, l) == 0) {
                dup = true;
                break;
            }
        }
        if (!dup)
            slot[j] = (uint32_t)q + 1;
    }
    int rc = 0;
    size_t done = 0;
    for (size_t qs = 0; qs < s->ncaps && !rc; qs++) {
        size_t i = s->caps[qs];
        /* a name is two words, so three bytes at least, all of them compared below: most
         * capitalized words are told apart by those before their word is read */
        if (i < done || i + 3 > n || !((head[head3(t + i) >> 6] >> (head3(t + i) & 63)) & 1))
            continue;
        if (t[i] >= 0x80 && !cap_at(t, n, i)) /* an ASCII entry of caps is A-Z */
            continue;
        size_t k = letters_end(t, n, i, i + 48, LE_UPPER | LE_HIGH);
        uint32_t h = word_hash(t + i, k - i);
        if (!(filter[(h >> 6) & 63] & (1ull << (h & 63)))) {
            done = k;
            continue;
        }
        for (size_t j = h & mask; slot[j]; j = (j + 1) & mask) {
            size_t q = slot[j] - 1;
            size_t l = known->v[q].e - known->v[q].s;
            if (hash[q] != h || known->v[q].fe - known->v[q].s != k - i || i + l > n ||
                memcmp(t + i, t + known->v[q].s, l) != 0 ||
                (i + l < n && (sg_is_alnum(t[i + l]) || t[i + l] == '-' || t[i + l] == '@')))
                continue;
            rc = sg_scan_add(s, i, i + l, SG_ENT_PERSON);
            k = i + l;
            break;
        }
        done = k;
    }
    free(slot);
    free(hash);
    return rc;
}

int sg_detect_names(struct scan *s)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    struct known known = {NULL, 0, 0};
    int rc = 0;
    size_t done = 0;
    struct run r;
    r.nw = 0;
    int off = 0;
    for (size_t q = 0; q < s->ncaps && !rc; q++) {
        size_t i = s->caps[q];
        if (i < done || (t[i] >= 0x80 && !cap_at(t, n, i))) /* an ASCII one is A-Z */
            continue;
        int k = off + 1;
        while (k < r.nw && r.w[k].s < i)
            k++;
        if (k < r.nw && r.w[k].s == i) {
            off = k; /* a later word of the run read before */
        } else if (lone_word(t, n, i)) {
            done = i + 1; /* no token starts inside the word */
            r.nw = 0;
            continue;
        } else {
            read_run(t, n, i, &r);
            off = 0;
            if (r.nw < 2) { /* no name: most capitalized words stand alone */
                done = r.nw ? r.w[0].e : i + 1;
                r.nw = 0;
                continue;
            }
            run_flags(t, &r);
        }
        done = judge_run(s, &r, off, &known, &rc);
    }
    if (!rc && known.n)
        rc = find_again(s, &known);
    free(known.v);
    return rc;
}
