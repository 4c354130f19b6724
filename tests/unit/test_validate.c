/* Unit tests for src/redact/validate.c: every validator is run against official or widely
 * published test vectors (each table names its source) and against invalid variants: a
 * wrong check digit, transposed digits, wrong length, bad characters, misplaced separators,
 * empty and NULL input, all zeros, an embedded NUL byte and a 100 KB candidate, which must
 * be rejected after reading only a short prefix (checked with a guard page). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "redact/validate.h"

typedef bool (*validator_fn)(const char *s, size_t n);

struct vec {
    const char *s;
    bool ok;
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void run_vecs(const char *name, validator_fn fn, const struct vec *v, size_t nv)
{
    for (size_t i = 0; i < nv; i++) {
        bool got = fn(v[i].s, strlen(v[i].s));
        if (got != v[i].ok)
            fail_msg("%s(\"%s\") returned %d, expected %d", name, v[i].s, got, v[i].ok);
    }
}

#define RUN(fn, vecs) run_vecs(#fn, fn, vecs, COUNT(vecs))

/* Replaces each significant digit of a valid candidate by every other digit in turn and
 * requires every variant to be rejected: the check-digit schemes under test (Luhn, MOD 97-10,
 * MOD 11,10, elfproef, mod 23) detect every single-digit substitution. */
static void every_digit_substitution_fails(const char *name, validator_fn fn, const char *valid)
{
    char buf[128];
    size_t n = strlen(valid);
    assert_true(n < sizeof buf);
    assert_true(fn(valid, n));
    for (size_t i = 0; i < n; i++) {
        if (valid[i] < '0' || valid[i] > '9')
            continue;
        for (char d = '0'; d <= '9'; d++) {
            if (d == valid[i])
                continue;
            memcpy(buf, valid, n);
            buf[i] = d;
            if (fn(buf, n))
                fail_msg("%s accepted \"%.*s\" (digit %zu of \"%s\" changed)", name, (int)n, buf, i,
                         valid);
        }
    }
}

/* ---- Luhn and cards ---- */

static void test_luhn(void **state)
{
    (void)state;
    static const struct vec v[] = {
        /* the worked example of the Luhn algorithm in ISO/IEC 7812-1 annex B and Wikipedia */
        {"79927398713", true},
        {"79927398710", false},
        {"79927398731", false}, /* last two digits transposed */
        /* IMEI example from 3GPP TS 23.003 annex B as reproduced on Wikipedia */
        {"490154203237518", true},
        {"490154203237519", false},
        /* Stripe test card, with the separators a person types */
        {"4242424242424242", true},
        {"4242 4242 4242 4242", true},
        {"4242-4242-4242-4242", true},
        {"4242 4242-4242 4242", false},  /* mixed separator styles */
        {"4242  4242 4242 4242", false}, /* doubled separator */
        {" 4242424242424242", false},    /* leading separator */
        {"4242424242424242-", false},    /* trailing separator */
        {"4242.4242.4242.4242", false},  /* dots are not separators here */
        {"4242\t4242\t4242\t4242", false},
        {"42424242424242a2", false},
        {"00", false},
        {"0000000000000000", false}, /* passes the arithmetic, never a real number */
        {"0", false},
        {"18", true},                                 /* shortest accepted: two digits */
        {"000000000000000000000000000000018", false}, /* 33 digits: too long */
        {"00000000000000000000000000000018", true},   /* 32 digits */
        {"", false},
    };
    RUN(sg_validate_luhn, v);
}

static void test_card_published(void **state)
{
    (void)state;
    static const struct vec v[] = {
        /* Stripe test card numbers (docs.stripe.com/testing) */
        {"4242424242424242", true},    /* Visa */
        {"4000056655665556", true},    /* Visa debit */
        {"5555555555554444", true},    /* Mastercard */
        {"2223003122003222", true},    /* Mastercard 2-series */
        {"5200828282828210", true},    /* Mastercard debit */
        {"5105105105105100", true},    /* Mastercard prepaid */
        {"378282246310005", true},     /* American Express */
        {"371449635398431", true},     /* American Express */
        {"6011111111111117", true},    /* Discover */
        {"6011000990139424", true},    /* Discover */
        {"6011981111111113", true},    /* Discover debit */
        {"3056930009020004", true},    /* Diners Club */
        {"36227206271667", true},      /* Diners Club, 14 digits */
        {"3566002020360505", true},    /* JCB */
        {"6200000000000005", true},    /* UnionPay */
        {"6200000000000047", true},    /* UnionPay debit */
        {"6205500000000000004", true}, /* UnionPay, 19 digits */
        /* PayPal Payflow / Braintree published test numbers */
        {"4111111111111111", true},
        {"4222222222222", true},    /* Visa, 13 digits */
        {"3530111333300000", true}, /* JCB */
        {"30569309025904", true},   /* Diners Club, 14 digits */
        /* constructed Luhn-valid numbers in the remaining ranges */
        {"6759649826438453", true}, /* Maestro 67 */
        {"2200000000000004", true}, /* Mir */
    };
    RUN(sg_validate_card, v);
}

static void test_card_invalid(void **state)
{
    (void)state;
    static const struct vec v[] = {
        {"4242424242424241", false},     /* wrong check digit */
        {"4242424242424224", false},     /* last two digits transposed */
        {"3782822463100003", false},     /* Amex prefix with 16 digits (Luhn-valid) */
        {"3400000000000000", false},     /* Amex prefix with 16 digits (Luhn-valid) */
        {"1234567812345670", false},     /* Luhn-valid but no issuer starts with 1 */
        {"7000000000000005", false},     /* Luhn-valid but no issuer starts with 7 */
        {"2721000000000004", false},     /* just past Mastercard's 2-series (Luhn-valid) */
        {"3527000000000008", false},     /* just before JCB's range (Luhn-valid) */
        {"42424242424", false},          /* 11 digits */
        {"424242424242424", false},      /* Visa with 15 digits */
        {"42424242424242424242", false}, /* 20 digits */
        {"0000000000000000", false},     /* all zeros */
        {"", false},
        {"4242 4242 4242 4242", true},
        {"4242-4242-4242-4242", true},
        {"3782 822463 10005", true},  /* Amex 4-6-5 */
        {"3782 8224 6310 005", true}, /* 4-4-4-3 */
        {"3622 720627 1667", true},   /* Diners 4-6-4 */
        {"4222 2222 2222 2", true},   /* 13 digits as 4-4-4-1 */
        {"6205 5000 0000 0000 004", true},
        {"4242 4242-4242 4242", false},  /* mixed separators */
        {"42424 24242 42424 2", false},  /* groups in the wrong places */
        {"424 2424 2424 24242", false},  /* groups in the wrong places */
        {"4242  4242 4242 4242", false}, /* doubled separator */
        {"4242 4242 4242 4242 ", false}, /* trailing separator */
        {"4242/4242/4242/4242", false},  /* slash is no card separator */
        {"4242.4242.4242.4242", false},
        {"4242\t4242\t4242\t4242", false},
        {"4242 4242 4242 424x", false},
    };
    RUN(sg_validate_card, v);
    every_digit_substitution_fails("sg_validate_card", sg_validate_card, "4242424242424242");
    every_digit_substitution_fails("sg_validate_card", sg_validate_card, "378282246310005");
}

/* ---- IBAN ---- */

/* One example per country from the SWIFT IBAN registry (the "IBAN electronic format
 * example" of each entry), 89 countries. */
static const char *const iban_registry_examples[] = {
    "AD1200012030200359100100",
    "AE070331234567890123456",
    "AL47212110090000000235698741",
    "AT611904300234573201",
    "AZ21NABZ00000000137010001944",
    "BA391290079401028494",
    "BE68539007547034",
    "BG80BNBG96611020345678",
    "BH67BMAG00001299123456",
    "BI4210000100010000332045181",
    "BR1800360305000010009795493C1",
    "BY13NBRB3600900000002Z00AB00",
    "CH9300762011623852957",
    "CR05015202001026284066",
    "CY17002001280000001200527600",
    "CZ6508000000192000145399",
    "DE89370400440532013000",
    "DJ2100010000000154000100186",
    "DK5000400440116243",
    "DO28BAGR00000001212453611324",
    "EE382200221020145685",
    "EG380019000500000000263180002",
    "ES9121000418450200051332",
    "FI2112345600000785",
    "FK88SC123456789012",
    "FO6264600001631634",
    "FR1420041010050500013M02606",
    "GB29NWBK60161331926819",
    "GE29NB0000000101904917",
    "GI75NWBK000000007099453",
    "GL8964710001000206",
    "GR1601101250000000012300695",
    "GT82TRAJ01020000001210029690",
    "HN88CABF00000000000250005469",
    "HR1210010051863000160",
    "HU42117730161111101800000000",
    "IE29AIBK93115212345678",
    "IL620108000000099999999",
    "IQ98NBIQ850123456789012",
    "IS140159260076545510730339",
    "IT60X0542811101000000123456",
    "JO94CBJO0010000000000131000302",
    "KW81CBKU0000000000001234560101",
    "KZ86125KZT5004100100",
    "LB62099900000001001901229114",
    "LC55HEMM000100010012001200023015",
    "LI21088100002324013AA",
    "LT121000011101001000",
    "LU280019400644750000",
    "LV80BANK0000435195001",
    "LY83002048000020100120361",
    "MC5811222000010123456789030",
    "MD24AG000225100013104168",
    "ME25505000012345678951",
    "MK07250120000058984",
    "MN121234123456789123",
    "MR1300020001010000123456753",
    "MT84MALT011000012345MTLCAST001S",
    "MU17BOMM0101101030300200000MUR",
    "NI45BAPR00000013000003558124",
    "NL91ABNA0417164300",
    "NO9386011117947",
    "OM810180000001299123456",
    "PK36SCBL0000001123456702",
    "PL61109010140000071219812874",
    "PS92PALS000000000400123456702",
    "PT50000201231234567890154",
    "QA58DOHB00001234567890ABCDEFG",
    "RO49AAAA1B31007593840000",
    "RS35260005601001611379",
    "RU0204452560040702810412345678901",
    "SA0380000000608010167519",
    "SC18SSCB11010000000000001497USD",
    "SD2129010501234001",
    "SE4550000000058398257466",
    "SI56263300012039086",
    "SK3112000000198742637541",
    "SM86U0322509800000000270100",
    "SO211000001001000100141",
    "ST68000100010051845310112",
    "SV62CENR00000000000000700025",
    "TL380080012345678910157",
    "TN5910006035183598478831",
    "TR330006100519786457841326",
    "UA213223130000026007233566001",
    "VA59001123000012345678",
    "VG96VPVG0000012345678901",
    "XK051212012345678906",
    "YE15CBYE0001018861234567891234",
};

static void test_iban_registry_examples(void **state)
{
    (void)state;
    char paper[64], lower[64];
    assert_int_equal(COUNT(iban_registry_examples), 89);
    for (size_t i = 0; i < COUNT(iban_registry_examples); i++) {
        const char *e = iban_registry_examples[i];
        size_t n = strlen(e), m = 0;
        if (!sg_validate_iban(e, n))
            fail_msg("registry example %s rejected", e);
        /* the same IBAN in the ISO 13616 paper format and in lower case */
        for (size_t k = 0; k < n; k++) {
            if (k > 0 && k % 4 == 0)
                paper[m++] = ' ';
            paper[m++] = e[k];
            lower[k] = (e[k] >= 'A' && e[k] <= 'Z') ? (char)(e[k] - 'A' + 'a') : e[k];
        }
        if (!sg_validate_iban(paper, m))
            fail_msg("paper format %.*s rejected", (int)m, paper);
        if (!sg_validate_iban(lower, n))
            fail_msg("lower case %.*s rejected", (int)n, lower);
        /* one character short and one too many: the registry length is exact */
        if (sg_validate_iban(e, n - 1))
            fail_msg("%s accepted without its last character", e);
        memcpy(lower, e, n);
        lower[n] = '0';
        if (sg_validate_iban(lower, n + 1))
            fail_msg("%s accepted with an extra character", e);
    }
}

static void test_iban_invalid(void **state)
{
    (void)state;
    static const struct vec v[] = {
        {"DE89370400440532013000", true},
        {"DE89 3704 0044 0532 0130 00", true},
        {"de89 3704 0044 0532 0130 00", true},
        {"GB82WEST12345698765432", true}, /* the registry's former GB example */
        {"GB82 WEST 1234 5698 7654 32", true},
        {"DE88370400440532013000", false},       /* wrong check digits */
        {"DE89370400440532013001", false},       /* wrong account digit */
        {"DE89370400440523013000", false},       /* two digits transposed */
        {"DE9837040044053201300", false},        /* 21 characters, DE needs 22 */
        {"DE893704004405320130000", false},      /* 23 characters */
        {"DE89 37040044 0532 0130 00", false},   /* group of eight */
        {"DE893 7040 0440 5320 1300 0", false},  /* groups shifted */
        {"DE89  3704 0044 0532 0130 00", false}, /* doubled space */
        {"DE89-3704-0044-0532-0130-00", false},  /* dashes are not IBAN separators */
        {" DE89370400440532013000", false},
        {"DE89370400440532013000 ", false},
        {"DE8937040044053201300A", false},     /* letter where the German BBAN has digits */
        {"GB82WEST1234569876543A", false},     /* letter in the account part */
        {"GB8212345612345698765432", false},   /* digits where GB has the bank code letters */
        {"XX89370400440532013000", false},     /* no such registry country */
        {"DZ580002100001113000000570", false}, /* Algeria is not in the registry */
        {"US64SVBKUS6S3300958879", false},
        {"1289370400440532013000", false},
        {"DE00370400440532013000", false}, /* check digits 00, 01 and 99 are never valid */
        {"DE01370400440532013000", false},
        {"DE99370400440532013000", false},
        {"0000000000000000000000", false},
        {"DE", false},
        {"", false},
        /* the longest IBANs: the MOD 97-10 over 60+ digits must be computed without
         * overflow (a 64-bit conversion of the whole number would wrap) */
        {"RU0204452560040702810412345678901", true},
        {"RU0304452560040702810412345678901", false},
        {"LC55HEMM000100010012001200023015", true},
        {"LC56HEMM000100010012001200023015", false},
        {"LC12ZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", true}, /* constructed: every letter expands */
        {"LC13ZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", false},
        {"MT84MALT011000012345MTLCAST001S", true},
        {"MT84MALT011000012345MTLCAST001T", false},
        {"LC55HEMM0001000100120012000230150000", false}, /* 36 characters */
    };
    RUN(sg_validate_iban, v);
    every_digit_substitution_fails("sg_validate_iban", sg_validate_iban, "DE89370400440532013000");
    every_digit_substitution_fails("sg_validate_iban", sg_validate_iban,
                                   "RU0204452560040702810412345678901");
}

/* ---- national identifiers ---- */

static void test_us_ssn(void **state)
{
    (void)state;
    /* The SSA publishes no sample numbers; these follow its rules for assignable numbers
     * (SSA POMS RM 10201.035; randomization since 2011 removed the old area ranges). */
    static const struct vec v[] = {
        {"536-90-4399", true},
        {"536904399", true},
        {"536 90 4399", true},
        {"772-01-0001", true},
        {"000-12-3456", false}, /* area 000 */
        {"666-12-3456", false}, /* area 666 */
        {"900-12-3456", false}, /* 900-999: ITINs and never-assigned */
        {"987-65-4320", false}, /* SSA's advertising range */
        {"999-99-9999", false},
        {"123-00-4567", false}, /* group 00 */
        {"123-45-0000", false}, /* serial 0000 */
        {"000-00-0000", false},
        {"000000000", false},
        {"536-904-399", false}, /* separators in the wrong places */
        {"5369-04399", false},
        {"536-90 4399", false}, /* mixed separators */
        {"536--90-4399", false},
        {"536-90-439", false}, /* wrong length */
        {"536-90-43990", false},
        {"53690439", false},
        {"5369043990", false},
        {"536-9O-4399", false}, /* letter O instead of zero */
        {"", false},
    };
    RUN(sg_validate_us_ssn, v);
}

static void test_uk_nino(void **state)
{
    (void)state;
    /* HMRC National Insurance Manual NIM39110 prefix rules */
    static const struct vec v[] = {
        {"AB123456C", true},
        {"AB 12 34 56 C", true},
        {"AB 123456 C", true},
        {"ab123456c", true},
        {"JG103759A", true},
        {"ZY987654D", true},
        {"QQ123456C", false}, /* HMRC's documentation example: Q is never a prefix letter */
        {"DA123456A", false}, /* first letter D */
        {"FA123456A", false}, /* first letter F */
        {"IA123456A", false}, /* first letter I */
        {"UA123456A", false}, /* first letter U */
        {"VA123456A", false}, /* first letter V */
        {"AO123456A", false}, /* second letter O */
        {"AD123456A", false}, /* second letter D */
        {"AQ123456A", false}, /* second letter Q */
        {"OA123456A", true},  /* O is allowed as the first letter */
        {"BG123456A", false}, /* unallocated prefixes */
        {"GB123456A", false},
        {"KN123456A", false},
        {"NK123456A", false},
        {"NT123456A", false},
        {"TN123456A", false},
        {"ZZ123456A", false},
        {"AB123456E", false}, /* suffix beyond D */
        {"AB1234567", false}, /* digit as suffix */
        {"AB12345C", false},  /* five digits */
        {"AB1234567C", false},
        {"AB 1234 56 C", false}, /* spaces in the wrong places */
        {"AB12 34 56C", false},
        {"AB  123456 C", false},
        {"A8123456C", false},
        {"000000000", false},
        {"", false},
    };
    RUN(sg_validate_uk_nino, v);
}

static void test_de_steuerid(void **state)
{
    (void)state;
    static const struct vec v[] = {
        /* examples from the ELSTER specification "Pruefung der Steuer- und
         * Steueridentifikationsnummer", chapter 2 */
        {"86095742719", true},
        {"47036892816", true},
        {"65929970489", true}, /* 9 three times, two of them adjacent */
        {"57549285017", true}, /* 5 three times, none adjacent */
        {"25768131411", true},
        {"02476291358", false}, /* ELSTER test number: leading 0 is never issued */
        /* python-stdnum documentation example */
        {"36574261809", true},
        {"36 574 261 809", true},
        {"365 742 618 09", true},
        {"36574261890", false}, /* check digit and previous digit transposed */
        {"36574261808", false}, /* wrong check digit */
        {"63574261809", false}, /* first two digits transposed */
        {"36554266806", false}, /* two different digits repeated */
        /* constructed with correct MOD 11,10 check digits, violating the digit rule */
        {"11123456786", false}, /* a digit three times in a row */
        {"12113456784", true},  /* a digit three times, not all adjacent */
        {"11234567890", true},  /* a digit twice, adjacent */
        {"11223456785", false}, /* two digits twice */
        {"11112345678", false}, /* a digit four times */
        {"12345678903", false}, /* no repeated digit */
        {"3657426180", false},  /* 10 digits */
        {"365742618090", false},
        {"36 5742 61809", false}, /* spaces in the wrong places */
        {"36-574-261-809", false},
        {"365742618O9", false},
        {"00000000000", false},
        {"", false},
    };
    RUN(sg_validate_de_steuerid, v);
    every_digit_substitution_fails("sg_validate_de_steuerid", sg_validate_de_steuerid,
                                   "86095742719");
}

static void test_fr_nir(void **state)
{
    (void)state;
    static const struct vec v[] = {
        /* python-stdnum examples (after INSEE's definition of the NIR) */
        {"295109912611193", true},
        {"2 95 10 99 126 111 93", true},
        {"2.95.10.99.126.111.93", true},
        {"253072B07300470", true}, /* Corsica, Haute-Corse: 2B counts as 18 */
        {"253072A07300443", true}, /* Corsica, Corse-du-Sud: 2A counts as 19 */
        {"253072a07300443", true},
        {"253072A07300470", false}, /* the 2B key with 2A */
        {"253072C07300443", false},
        {"295109912611199", false}, /* wrong key */
        {"295109912611139", false}, /* key digits transposed */
        {"259109912611193", false}, /* year digits transposed */
        /* constructed with correct keys: the sex/status digit must be 1-4, 7 or 8 */
        {"595109912611140", false},
        {"095109912611196", false},
        {"195109912611146", true},
        {"395109912611143", true},
        {"795109912611137", true},
        {"29510991261119", false}, /* 14 characters */
        {"2951099126111930", false},
        {"2 95 10 99 126 11193", false},  /* separators missing */
        {"2 95 10 99 126 111.93", false}, /* mixed separators */
        {"29 5 10 99 126 111 93", false}, /* separators misplaced */
        {"2 95 10 99 126 111  93", false},
        {"000000000000000", false},
        {"", false},
    };
    RUN(sg_validate_fr_nir, v);
    every_digit_substitution_fails("sg_validate_fr_nir", sg_validate_fr_nir, "295109912611193");
}

static void test_es_dni_nie(void **state)
{
    (void)state;
    static const struct vec dni[] = {
        /* the example of the Spanish Ministerio del Interior's control-letter page */
        {"12345678Z", true},
        {"12345678-Z", true},
        {"12345678 z", true},
        /* python-stdnum examples */
        {"54362315K", true},
        {"54362315-K", true},
        {"54362315Z", false}, /* wrong letter */
        {"54363215K", false}, /* digits transposed */
        {"5436231K", false},  /* seven digits */
        {"543623155K", false},
        {"54362315", false},
        {"54362315KK", false},
        {"543-62315K", false}, /* separator in the wrong place */
        {"54362315--K", false},
        {"00000000T", false}, /* all zeros (passes mod 23) */
        {"X1234567L", false}, /* a NIE is not a DNI */
        {"", false},
    };
    static const struct vec nie[] = {
        {"X1234567L", true},
        {"X-1234567-L", true},
        {"x 1234567 l", true},
        {"X1234567-L", true},
        /* python-stdnum examples */
        {"X2482300W", true},
        {"X2482300A", false},
        {"X5253868R", true},
        {"Y5277343F", true},
        {"Z5277343K", true},
        {"Z5277343F", false},
        {"X-1234567L", false},  /* only one of the two dashes */
        {"X-1234567 L", false}, /* mixed separators */
        {"W1234567L", false},
        {"X123456L", false},
        {"X12345678L", false},
        {"12345678Z", false},
        {"", false},
    };
    RUN(sg_validate_es_dni, dni);
    RUN(sg_validate_es_nie, nie);
    every_digit_substitution_fails("sg_validate_es_dni", sg_validate_es_dni, "12345678Z");
    every_digit_substitution_fails("sg_validate_es_nie", sg_validate_es_nie, "X2482300W");
}

static void test_it_cf(void **state)
{
    (void)state;
    static const struct vec v[] = {
        /* the Agenzia delle Entrate / Wikipedia "Mario Rossi" example */
        {"RSSMRA85T10A562S", true},
        {"rssmra85t10a562s", true},
        /* python-stdnum examples (a man and a woman, day + 40) */
        {"RCCMNL83S18D969H", true},
        {"CNTCHR83T41D969D", true},
        /* omocodia: the last digit of the place code, then every digit, replaced by its
         * letter (0-9 -> LMNPQRSTUV), with the recomputed check letter */
        {"RSSMRA85T10A56NH", true},
        {"RSSMRAURTMLARSNL", true},
        {"RSSMRA85T10A562T", false}, /* wrong check letter */
        {"RSSMRA58T10A562S", false}, /* year digits transposed */
        {"RSSMRA85T01A562S", false}, /* day digits transposed */
        {"RSSMRA85T10A56NS", false}, /* omocodia letter without recomputed check */
        /* constructed with correct check letters, each breaking one date rule */
        {"RSSMRA85F10A562R", false}, /* F is not a month letter */
        {"RSSMRA85T32A562Y", false}, /* day 32 */
        {"RSSMRA85T00A562R", false}, /* day 0 */
        {"RSSMRA85T40A562V", false}, /* day 40 (0 for a woman) */
        {"RSSMRA85T71A562X", true},  /* day 31 for a woman */
        {"RSSMRA85T72A562C", false}, /* day 32 for a woman */
        {"RSSMRA85B30A562G", false}, /* 30 February */
        {"RSSMRA85B29A562Z", false}, /* 29 February 1985 */
        {"RSSMRA84B29A562Y", true},  /* 29 February 1984 */
        {"RSSMRA85T10A56WS", false}, /* W is no omocodia letter */
        {"RSSMR485T10A562S", false}, /* digit in the name part */
        {"RSSMRA85T10A562", false},  /* 15 characters */
        {"RSSMRA85T10A562SS", false},
        {"RSS MRA 85T10 A562S", false}, /* no separators */
        {"0000000000000000", false},
        {"", false},
    };
    RUN(sg_validate_it_cf, v);
}

static void test_nl_bsn(void **state)
{
    (void)state;
    static const struct vec v[] = {
        /* test numbers from the Dutch government's BSN documentation and python-stdnum */
        {"111222333", true},     {"123456782", true},
        {"1112.22.333", true},   {"111.222.333", true},
        {"111 222 333", true},   {"111-222-333", true},
        {"111222334", false}, /* wrong check digit */
        {"111223233", false}, /* transposed digits */
        {"11122233", false},     {"1112223333", false},
        {"111.222 333", false}, /* mixed separators */
        {"11.1222.333", false}, /* separators in the wrong places */
        {"111..222.333", false}, {"111222.333", false},
        {"000000000", false}, /* all zeros pass the elfproef but are no BSN */
        {"11122233a", false},    {"", false},
    };
    RUN(sg_validate_nl_bsn, v);
    every_digit_substitution_fails("sg_validate_nl_bsn", sg_validate_nl_bsn, "123456782");
}

/* ---- VAT ---- */

static void test_eu_vat(void **state)
{
    (void)state;
    /* Valid numbers are python-stdnum's documentation examples and the numbers it collected
     * from published invoices and registers (tests/test_eu_vat.doctest); the invalid ones
     * are its "mangled check digit" variants or single edits of a valid number. */
    static const struct vec v[] = {
        {"ATU13585627", true},
        {"ATU 142 43 102", true},
        {"ATU13585626", false},
        {"ATU 143 43 102", false},
        {"AT13585627", false}, /* the U is part of the number */
        {"BE0428759497", true},
        {"BE 0202.239.951", true},
        {"BE413562567", true}, /* old 9-digit form */
        {"BE431150351", false},
        {"BE 0406.139.583", false},
        {"BE2428759442", false}, /* passes mod 97 but must start 0 or 1 */
        {"BG 175 074 752", true},
        {"BG7523169263", true}, /* EGN */
        {"BG7111042925", true}, /* PNF */
        {"BG175074751", false},
        {"BG 131 172 009", false},
        {"CY-10259033P", true},
        {"CY10259033Z", false},
        {"CY-12259033P", false}, /* numbers never start with 12 */
        {"CZ 25123891", true},
        {"CZ 640903926", true},  /* special 9-digit case */
        {"CZ 7103192745", true}, /* birth number */
        {"CZ 25123890", false},
        {"CZ 95123891", false},
        {"CZ 8058018314", false},
        {"DE136695976", true},
        {"DE 181 207 708", true},
        {"DE - 113866163", true},
        {"DE136695978", false},
        {"DE 011125448", false}, /* passes MOD 11,10 but starts with 0 */
        {"DK 13585628", true},
        {"DK 10 50 32 80", true},
        {"DK 13585627", false},
        {"EE 100 931 558", true},
        {"EE100594102", true},
        {"EE100594103", false},
        {"EL 094259216", true},
        {"EL 94051189", true}, /* old 8-digit form */
        {"GR094259216", true},
        {"EL 123456781", false},
        {"ES B-58378431", true},  /* CIF, numeric check */
        {"ES Q-2818015-F", true}, /* CIF, letter check */
        {"ESX5253868R", true},    /* NIE */
        {"ES 54362315K", true},   /* DNI */
        {"ESM1234567L", true},    /* NIF of a foreigner without NIE */
        {"ES B64717839", false},
        {"ES 54362415K", false},
        {"ESM1234567A", false},
        {"FI 20774740", true},
        {"FI 2094606-3", true},
        {"FI 20774741", false},
        {"FR 40 303 265 045", true},
        {"FR23334175221", true},
        {"FR K7399859412", true}, /* alphanumeric key */
        {"FR4Z123456782", true},  /* alphanumeric key starting with a digit */
        {"FR32000000330", true},  /* Monaco: no SIREN Luhn */
        {"FR84323140391", false},
        {"FR K 7399859312", false},
        {"FRL7399859412", false},
        {"FRIO334175221", false}, /* I and O are not key characters */
        {"HR33392005961", true},
        {"HR33392005962", false},
        {"HU12892312", true},
        {"HU12892313", false},
        {"IE6433435F", true},
        {"IE6433435OA", true}, /* 2013 format */
        {"IE8D79739I", true},  /* old format */
        {"IE 8223200u", true},
        {"IE6433435E", false},
        {"IE8D79729I", false},
        {"IT00743110157", true},
        {"IT 00 595 000 217", true},
        {"IT00743110158", false},
        {"IT00000000000", false},
        {"LT119511515", true},
        {"LT100001919017", true},
        {"LT100004801610", true}, /* second weighting step */
        {"LT100001919018", false},
        {"LT100001354", false},
        {"LU15027442", true},
        {"LU15027443", false},
        {"LV40003521600", true},
        {"LV16117519997", true}, /* personal code: format only */
        {"LV40003521601", false},
        {"MT11679112", true},
        {"MT11679113", false},
        {"NL004495445B01", true},
        {"NL002455799B11", true}, /* 2020 format, MOD 97-10 */
        {"NL000099998B57", true}, /* Belastingdienst's example of the 2020 format */
        {"NL 8225.69.759 b01", true},
        {"NL123456789B90", false},
        {"NL004495445B00", false},
        {"NL004495445C01", false},
        {"PL8567346215", true},
        {"PL 584-030-44-72", true},
        {"PL8567346216", false},
        {"PT501964843", true},
        {"PT501964842", false},
        {"RO18547290", true},
        {"RO 1822964", true},
        {"RO 573768", true},
        {"RO18547291", false},
        {"RO1630615123457", false}, /* CNP: not accepted as a VAT number here */
        {"SE123456789701", true},
        {"SE 556.383.740.901", true},
        {"SE123456789101", false},
        {"SE123456789702", false}, /* must end 01 */
        {"SI50223054", true},
        {"SI50223055", false},
        {"SK2022749619", true},
        {"SK2022749618", false},
        {"SK 302 274 96 19", false},
        {"GB980780684", true},
        {"GB 980 7806 84", true},
        {"GB340804329", true}, /* "9755" scheme */
        {"XI980780684", true},
        {"GB980780684001", true}, /* branch trader */
        {"GBGD001", true},
        {"GBHA500", true},
        {"GB802311781", false},
        {"GB340804328", false},
        {"GBGD500", false},
        {"GBHA499", false},
        /* prefix and separator handling */
        {"de136695976", true},
        {"DE--136695976", true},
        {"DE - - 136695976", false}, /* run of five separators */
        {"D E136695976", false},     /* separator inside the prefix */
        {"DE136695976.", false},
        {".DE136695976", false},
        {"DE:136695976", false},
        {"DE/136695976", false},
        {"DE000000000", false},
        {"XX123456789", false},
        {"US123456789", false},
        {"DE", false},
        {"", false},
    };
    RUN(sg_validate_eu_vat, v);
}

/* ---- network addresses and e-mail ---- */

static void test_ipv4(void **state)
{
    (void)state;
    static const struct vec v[] = {
        /* RFC 5737 documentation addresses */
        {"192.0.2.1", true},    {"198.51.100.7", true},    {"203.0.113.255", true},
        {"0.0.0.0", true},      {"255.255.255.255", true}, {"10.0.0.10", true},
        {"256.0.0.1", false},   {"192.0.2.256", false},    {"192.0.2.01", false}, /* leading zero */
        {"192.0.2.00", false},  {"010.0.0.1", false},      {"192.0.2", false},
        {"192.0.2.1.5", false}, {"192.0.2.", false},       {".192.0.2", false},
        {"192..2.1", false},    {"192.0.2.-1", false},     {"192.0.2.+1", false},
        {" 192.0.2.1", false},  {"192.0.2.1 ", false},     {"192.0.2.1000", false},
        {"0x7f.0.0.1", false},  {"1.2.3.4a", false},       {"", false},
    };
    RUN(sg_validate_ipv4, v);
}

static void test_ipv6(void **state)
{
    (void)state;
    static const struct vec v[] = {
        /* text forms from RFC 4291 section 2.2 */
        {"ABCD:EF01:2345:6789:ABCD:EF01:2345:6789", true},
        {"2001:DB8:0:0:8:800:200C:417A", true},
        {"2001:DB8::8:800:200C:417A", true},
        {"FF01:0:0:0:0:0:0:101", true},
        {"FF01::101", true},
        {"0:0:0:0:0:0:0:1", true},
        {"::1", true},
        {"0:0:0:0:0:0:0:0", true},
        {"::", true},
        {"0:0:0:0:0:0:13.1.68.3", true},
        {"0:0:0:0:0:FFFF:129.144.52.38", true},
        {"::13.1.68.3", true},
        {"::FFFF:129.144.52.38", true},
        /* RFC 3849 documentation prefix and RFC 5952 forms */
        {"2001:db8::1", true},
        {"2001:db8::", true},
        {"2001:db8:0:0:0:0:2:1", true},
        {"1:2:3:4:5:6:7::", true}, /* "::" standing for a single group */
        {"::2:3:4:5:6:7:8", true},
        {"2001:db8::1:2:3:4:5", true},
        {"2001:db8::1:2:3:4:5:6", false}, /* "::" must stand for at least one group */
        {"1:2:3:4:5:6:7:8:9", false},
        {"1:2:3:4:5:6:7", false},
        {"1:2:3:4:5:6:7:8::", false},
        {"::1:2:3:4:5:6:7:8", false},
        {"1::2::3", false},
        {"1:::2", false},
        {":::", false},
        {":1::2", false},
        {"1::2:", false},
        {"1:", false},
        {":", false},
        {"12345::1", false},
        {"2001:db8::g", false},
        {"fe80::1%eth0", false}, /* zone identifiers are not accepted */
        {"[2001:db8::1]", false},
        {"2001:db8::/32", false},
        {"::1.2.3", false},
        {"::1.2.3.256", false},
        {"::1.2.3.04", false},
        {"1:2:3:4:5:6:7:1.2.3.4", false}, /* embedded IPv4 makes nine groups */
        {"1.2.3.4::", false},
        {"::1.2.3.4:5", false},
        {"1.2.3.4", false},
        {"2001:db8:: 1", false},
        {"", false},
    };
    RUN(sg_validate_ipv6, v);
}

static void test_email(void **state)
{
    (void)state;
    static char long_local[80], long_label[90], long_domain[300], max_addr[300];
    /* 65-byte local part */
    memset(long_local, 'a', 65);
    memcpy(long_local + 65, "@example.com", 13);
    /* 64-byte label */
    memcpy(long_label, "a@", 2);
    memset(long_label + 2, 'b', 64);
    memcpy(long_label + 66, ".com", 5);
    /* 254-byte domain: 4 labels of 62 and ".de" */
    size_t m = 0;
    long_domain[m++] = 'a';
    long_domain[m++] = '@';
    for (int i = 0; i < 4; i++) {
        memset(long_domain + m, 'c', 62);
        m += 62;
        long_domain[m++] = '.';
    }
    memcpy(long_domain + m, "de", 3);
    /* the longest address accepted: 64 + 1 + 3 * 62 + 3 = 254 bytes */
    memset(max_addr, 'x', 64);
    m = 64;
    max_addr[m++] = '@';
    for (int i = 0; i < 3; i++) {
        memset(max_addr + m, 'd', 61);
        m += 61;
        max_addr[m++] = '.';
    }
    memcpy(max_addr + m, "dev", 4);
    assert_int_equal(strlen(max_addr), 254);
    struct vec v[] = {
        /* RFC 2606 example domains */
        {"jane.doe@example.com", true},
        {"o'reilly+tag@mail.example.co.uk", true},
        {"J.Doe_99@Example.ORG", true},
        {"!#$%&'*+-/=?^_`{|}~@example.com", true},
        {"user@sub-domain.example.travel", true},
        {"user@xn--bcher-kva.example", true},
        {"user@example.xn--p1ai", true}, /* IDNA A-label as top-level domain */
        {"a@b.cd", true},
        {max_addr, true},
        {"jane..doe@example.com", false},
        {".jane@example.com", false},
        {"jane.@example.com", false},
        {"jane@example", false}, /* no dot in the domain */
        {"jane@example.c", false},
        {"jane@example.c0m", false},
        {"jane@example.123", false},
        {"jane@192.0.2.1", false},
        {"jane@[192.0.2.1]", false}, /* address literal */
        {"jane@[IPv6:2001:db8::1]", false},
        {"jane@-example.com", false},
        {"jane@example-.com", false},
        {"jane@example..com", false},
        {"jane@.example.com", false},
        {"jane@example.com.", false},
        {"jane@exa_mple.com", false},
        {"jane doe@example.com", false},
        {"\"jane doe\"@example.com", false}, /* quoted local parts are not accepted */
        {"jane@doe@example.com", false},
        {"jane(comment)@example.com", false},
        {"j\xc3\xa4ne@example.com", false}, /* non-ASCII */
        {"@example.com", false},
        {"jane@", false},
        {"jane", false},
        {long_local, false},
        {long_label, false},
        {long_domain, false},
        {"", false},
    };
    RUN(sg_validate_email, v);
    /* 64-byte local part and 63-byte label are still fine */
    long_local[64] = '@';
    memcpy(long_local + 65, "example.com", 12);
    assert_true(sg_validate_email(long_local, strlen(long_local)));
    assert_true(sg_validate_email(long_label, 2 + 63) == false); /* cut inside the label */
    memmove(long_label + 65, long_label + 66, 5);
    assert_true(sg_validate_email(long_label, strlen(long_label)));
}

/* ---- properties shared by all validators ---- */

struct named {
    const char *name;
    validator_fn fn;
    const char *valid; /* one valid candidate, separators included where allowed */
};

static const struct named all_validators[] = {
    {"luhn", sg_validate_luhn, "4242 4242 4242 4242"},
    {"card", sg_validate_card, "3782-822463-10005"},
    {"iban", sg_validate_iban, "FR14 2004 1010 0505 0001 3M02 606"},
    {"us_ssn", sg_validate_us_ssn, "536-90-4399"},
    {"uk_nino", sg_validate_uk_nino, "AB 12 34 56 C"},
    {"de_steuerid", sg_validate_de_steuerid, "86 095 742 719"},
    {"fr_nir", sg_validate_fr_nir, "2 53 07 2B 073 004 70"},
    {"es_dni", sg_validate_es_dni, "12345678-Z"},
    {"es_nie", sg_validate_es_nie, "X-1234567-L"},
    {"it_cf", sg_validate_it_cf, "RSSMRA85T10A562S"},
    {"nl_bsn", sg_validate_nl_bsn, "1112.22.333"},
    {"eu_vat", sg_validate_eu_vat, "NL 8225.69.759 b01"},
    {"ipv4", sg_validate_ipv4, "198.51.100.7"},
    {"ipv6", sg_validate_ipv6, "::FFFF:129.144.52.38"},
    {"email", sg_validate_email, "o'reilly+tag@mail.example.co.uk"},
};

static void test_all_empty_and_null(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(all_validators); i++) {
        const struct named *v = &all_validators[i];
        if (!v->fn(v->valid, strlen(v->valid)))
            fail_msg("%s rejected its sample \"%s\"", v->name, v->valid);
        if (v->fn("", 0) || v->fn(v->valid, 0) || v->fn(NULL, 0) || v->fn(NULL, 16))
            fail_msg("%s accepted empty or NULL input", v->name);
    }
}

/* An embedded NUL byte anywhere in a valid candidate makes it invalid. */
static void test_all_embedded_nul(void **state)
{
    (void)state;
    char buf[128];
    for (size_t i = 0; i < COUNT(all_validators); i++) {
        const struct named *v = &all_validators[i];
        size_t n = strlen(v->valid);
        assert_true(n < sizeof buf);
        for (size_t k = 0; k < n; k++) {
            memcpy(buf, v->valid, n);
            buf[k] = '\0';
            if (v->fn(buf, n))
                fail_msg("%s accepted \"%s\" with a NUL at offset %zu", v->name, v->valid, k);
        }
        /* and a NUL appended after the valid candidate */
        memcpy(buf, v->valid, n);
        buf[n] = '\0';
        if (v->fn(buf, n + 1))
            fail_msg("%s accepted \"%s\" followed by a NUL", v->name, v->valid);
    }
}

/* 100 KB of digits (and of other plausible filler) is rejected by every validator. */
static void test_all_huge_input(void **state)
{
    (void)state;
    static const char fillers[] = "04a:. -@";
    const size_t n = 100 * 1024;
    char *buf = malloc(n);
    assert_non_null(buf);
    for (size_t f = 0; f < sizeof fillers - 1; f++) {
        memset(buf, fillers[f], n);
        for (size_t i = 0; i < COUNT(all_validators); i++) {
            if (all_validators[i].fn(buf, n))
                fail_msg("%s accepted 100 KB of '%c'", all_validators[i].name, fillers[f]);
        }
    }
    /* a valid candidate followed by 100 KB of digits is no longer valid */
    for (size_t i = 0; i < COUNT(all_validators); i++) {
        const char *valid = all_validators[i].valid;
        memset(buf, '1', n);
        memcpy(buf, valid, strlen(valid));
        if (all_validators[i].fn(buf, n))
            fail_msg("%s accepted \"%s\" + 100 KB", all_validators[i].name, valid);
    }
    free(buf);
}

/* The rejection of an over-long candidate is quick because only a short prefix is read:
 * the candidate claims 100 KB but everything after its first page is unreadable, so a
 * validator that scanned further would crash this test. */
static void test_all_huge_input_reads_prefix_only(void **state)
{
    (void)state;
    long pg = sysconf(_SC_PAGESIZE);
    assert_true(pg > 0);
    size_t page = (size_t)pg, n = 100 * 1024;
    size_t total = page + ((n + page - 1) / page) * page;
    char *map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(map != MAP_FAILED);
    assert_int_equal(mprotect(map + page, total - page, PROT_NONE), 0);
    static const char *const prefixes[] = {"4", "4 ", "DE89 ", "DE - ", "a", "1.", "1:", "x@y."};
    for (size_t p = 0; p < COUNT(prefixes); p++) {
        size_t plen = strlen(prefixes[p]);
        for (size_t k = 0; k < page; k++)
            map[k] = prefixes[p][k % plen];
        for (size_t i = 0; i < COUNT(all_validators); i++)
            assert_false(all_validators[i].fn(map, n));
    }
    munmap(map, total);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_luhn),
        cmocka_unit_test(test_card_published),
        cmocka_unit_test(test_card_invalid),
        cmocka_unit_test(test_iban_registry_examples),
        cmocka_unit_test(test_iban_invalid),
        cmocka_unit_test(test_us_ssn),
        cmocka_unit_test(test_uk_nino),
        cmocka_unit_test(test_de_steuerid),
        cmocka_unit_test(test_fr_nir),
        cmocka_unit_test(test_es_dni_nie),
        cmocka_unit_test(test_it_cf),
        cmocka_unit_test(test_nl_bsn),
        cmocka_unit_test(test_eu_vat),
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_all_empty_and_null),
        cmocka_unit_test(test_all_embedded_nul),
        cmocka_unit_test(test_all_huge_input),
        cmocka_unit_test(test_all_huge_input_reads_prefix_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
