/* Validators that confirm candidate matches found by the redaction scanners. Each function
 * takes the bytes of one candidate exactly as they appeared in the text (`s`, `n`: not
 * NUL-terminated, possibly holding the separators the format allows) and returns true only
 * when the candidate is a well-formed identifier of its kind whose check digits (where the
 * format has any) are right. Every validator is pure and allocation-free: it reads only
 * bytes in [s, s + n), runs in time linear in `n` (a candidate longer than the longest valid
 * form is rejected after reading at most a short prefix of fixed size), uses no recursion
 * and no locale (only ASCII letters and digits count as such; any other byte, a NUL
 * included, is simply not a valid character). A NULL `s` is rejected. Separators, where
 * allowed, must stand between two significant characters: a leading, trailing or doubled
 * separator is rejected (sg_validate_eu_vat allows short runs, see there). The functions
 * borrow `s` for the duration of the call and keep nothing. */
#ifndef SG_REDACT_VALIDATE_H
#define SG_REDACT_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

/* Returns true when `s` holds 2 to 32 decimal digits whose Luhn check (ISO/IEC 7812-1 annex
 * B, the "mod 10" double-add-double scheme) sums to a multiple of 10. Single spaces or single
 * dashes may separate groups of digits, but only one of the two styles may be used within a
 * candidate. A candidate whose digits are all zero is rejected: it passes the arithmetic but
 * is never a real identifier. */
bool sg_validate_luhn(const char *s, size_t n);

/* Returns true when `s` is a payment card number (PAN): 13 to 19 digits with a valid Luhn
 * check digit, a prefix in a known issuer range and a length that issuer uses. The ranges
 * (from the networks' published BIN tables, as summarised in ISO/IEC 7812 registrations) are:
 * Visa 4 (13, 16 or 19 digits); Mastercard 51-55 and 2221-2720 (16); American Express 34 and
 * 37 (15); Discover 6011, 644-649 and 65 (16-19); JCB 3528-3589 (16-19); Diners Club 300-305,
 * 3095, 36 and 38-39 (14-19); UnionPay 62 (16-19); Mir 2200-2204 (16-19); Maestro 50 and
 * 56-69 (13-19). Separators are optional; when present they are all single spaces or all
 * single dashes and split the digits either into groups of four with a shorter last group
 * (4-4-4-4, 4-4-4-4-3, 4-4-4-1 ...) or in the 4-6-5 / 4-6-4 layout of Amex and Diners cards. */
bool sg_validate_card(const char *s, size_t n);

/* Returns true when `s` is an International Bank Account Number (ISO 13616). The country
 * code must be one of the 89 countries of the SWIFT IBAN registry, the length must be that
 * country's exact IBAN length, the BBAN must follow the registry's character structure for
 * the country (digits, letters or alphanumerics at each position), the check digits must lie
 * in 02-98 and the ISO 7064 MOD 97-10 remainder of the rearranged number must be 1 (it is
 * computed incrementally, one character at a time, so no intermediate value exceeds a few
 * thousand). Letters may be upper or lower case. The IBAN may be written compactly or in the
 * paper format of ISO 13616: groups of four characters separated by single spaces, the last
 * group possibly shorter. */
bool sg_validate_iban(const char *s, size_t n);

/* Returns true when `s` is a United States Social Security Number written as AAA-GG-SSSS,
 * AAA GG SSSS or as nine bare digits, following the Social Security Administration's rules
 * for numbers it can have issued: the area number AAA is not 000, 666 or 900-999, the group
 * number GG is not 00 and the serial number SSSS is not 0000. The SSN has no check digit. */
bool sg_validate_us_ssn(const char *s, size_t n);

/* Returns true when `s` is a United Kingdom National Insurance number as defined by HMRC
 * (National Insurance Manual NIM39110): two prefix letters, six digits and a suffix letter A,
 * B, C or D. The first prefix letter is not D, F, I, Q, U or V; the second is not D, F, I, O,
 * Q, U or V; the prefixes BG, GB, KN, NK, NT, TN and ZZ are never allocated (so HMRC's own
 * documentation example QQ123456C is rejected on purpose). Letters may be upper or lower
 * case. Accepted layouts are compact (AB123456C), the printed form with single spaces
 * (AB 12 34 56 C) and AB 123456 C. The number has no check digit. */
bool sg_validate_uk_nino(const char *s, size_t n);

/* Returns true when `s` is a German tax identification number (steuerliche
 * Identifikationsnummer, IdNr) following the rules the BZSt publishes for ELSTER
 * ("Pruefung der Steuer- und Steueridentifikationsnummer", chapter 2): 11 digits, the first
 * not 0 (numbers starting with 0 are test numbers and are rejected); among the first ten
 * digits exactly one digit occurs more than once, and it occurs exactly twice or exactly
 * three times (the latter allowed since 2016), and if three times the three occurrences are
 * not all directly adjacent (two of them may be); the eleventh digit is the ISO 7064
 * MOD 11,10 check digit of the first ten. The number may be written compactly or in the
 * groups 2-3-3-3 or 3-3-3-2 separated by single spaces. */
bool sg_validate_de_steuerid(const char *s, size_t n);

/* Returns true when `s` is a French social security number (NIR, numero d'inscription au
 * repertoire, per INSEE): 15 characters, a sex/status digit (1 or 2, or 3, 4, 7 or 8 for
 * provisional and foreign-born registrations), year, month, a two-character department that
 * is two digits or 2A/2B for Corsica, commune, order number, and a two-digit key equal to
 * 97 minus the first 13 characters read as a number modulo 97, where 2A counts as 19 and 2B
 * as 18. The month and commune are not checked further (INSEE uses pseudo-months for
 * unknown birth dates). Letters may be upper or lower case. The number may be written
 * compactly or as S YY MM DD CCC OOO KK with single spaces (or single dots) throughout. */
bool sg_validate_fr_nir(const char *s, size_t n);

/* Returns true when `s` is a Spanish national identity document number (DNI): eight digits
 * followed by the control letter "TRWAGMYFPDXBNJZSQVHLCKE"[number mod 23] (Real Decreto
 * 1553/2005, Ministerio del Interior). The letter may be upper or lower case and may be
 * separated from the digits by one space or dash. The all-zero number is rejected. */
bool sg_validate_es_dni(const char *s, size_t n);

/* Returns true when `s` is a Spanish foreigner identity number (NIE): X, Y or Z, seven
 * digits and a control letter computed as for the DNI after replacing X, Y, Z by 0, 1, 2.
 * Letters may be upper or lower case. Accepted layouts are X1234567L, X1234567-L and
 * X-1234567-L (single spaces instead of the dashes are accepted as well). */
bool sg_validate_es_nie(const char *s, size_t n);

/* Returns true when `s` is a 16-character Italian codice fiscale for a natural person
 * (Decreto ministeriale 23 dicembre 1976, Agenzia delle Entrate): six letters from the
 * names, two year characters, a month letter from ABCDEHLMPRST, two day characters (01-31,
 * or 41-71 for women, valid for the month), a place code of one letter and three digit
 * characters, and a check letter computed with the official odd/even position tables
 * modulo 26. Every digit position except the month may carry the omocodia substitute
 * letters LMNPQRSTUV for 0-9. Letters may be upper or lower case; no separators are
 * accepted. */
bool sg_validate_it_cf(const char *s, size_t n);

/* Returns true when `s` is a Dutch citizen service number (burgerservicenummer, BSN):
 * nine digits passing the "elfproef" that the Rijksdienst voor Identiteitsgegevens applies
 * to every BSN: 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 is divisible by 11. The all-zero
 * number is rejected. The number may be written compactly or in the groups 3-3-3 or 4-2-3,
 * separated by single dots, spaces or dashes (one style only). */
bool sg_validate_nl_bsn(const char *s, size_t n);

/* Returns true when `s` is a VAT identification number of an EU member state, or of the
 * United Kingdom (GB) or Northern Ireland (XI), written with its two-letter prefix (EL for
 * Greece; GR is accepted too). Letters may be upper or lower case. Spaces, dots and dashes,
 * in runs of at most three (as in "DE - 123456789"), may appear between any two characters
 * except inside the prefix; other punctuation (colons, slashes, brackets) is rejected. A
 * number whose digits are all zero is rejected. The format is checked for every country and
 * the check digits wherever the country defines them, following the EU VIES validation
 * routines as implemented by python-stdnum:
 *   AT  U + 8 digits, weighted Luhn-like check digit.
 *   BE  10 digits starting 0 or 1, mod 97 (the old 9-digit form is read with a leading 0).
 *   BG  9 digits (legal entities, weighted mod 11) or 10 digits (valid as an EGN with a real
 *       birth date, as a foreigner's PNF, or by the weights for other persons).
 *   CY  8 digits + check letter, not starting 12.
 *   CZ  8 digits (legal entities, weighted mod 11, not starting 9), 9 digits starting 6
 *       (special mod 11) or 9/10 digits (birth number: real date, 10-digit ones mod 11).
 *   DE  9 digits not starting 0, ISO 7064 MOD 11,10.
 *   DK  8 digits not starting 0, weighted mod 11.
 *   EE  9 digits, weights 3-7-1 mod 10.
 *   EL  9 digits (the old 8-digit form is read with a leading 0), powers of two mod 11.
 *   ES  DNI (8 digits + letter), NIE (X/Y/Z), K/L/M NIF (mod 23 letter) or CIF (entity
 *       letter + 7 digits + check digit or check letter).
 *   FI  8 digits, weighted mod 11.
 *   FR  2-character key + 9-digit SIREN (Luhn, except Monaco's numbers starting 000); a
 *       numeric key equals (12 + 3 * (SIREN mod 97)) mod 97, an alphanumeric key follows
 *       the VIES mod 11 routine.
 *   HR  11 digits (OIB), ISO 7064 MOD 11,10.
 *   HU  8 digits, weights 9-7-3-1 mod 10.
 *   IE  7 digits + check letter (+ an optional second letter since 2013), or the old
 *       digit, a letter or "+" or "*", 5 digits, check letter form; weighted mod 23.
 *   IT  11 digits, the first seven not all zero, Luhn.
 *   LT  9 digits (8th is 1) or 12 digits (11th is 1), weighted mod 11.
 *   LU  8 digits, the first six mod 89 give the last two.
 *   LV  11 digits; legal entities (first digit above 3) weighted mod 11; personal codes
 *       FORMAT ONLY, because their check routine is not published by an authority.
 *   MT  8 digits not starting 0, weighted mod 37.
 *   NL  9 digits + B + 2 digits, elfproef (mod 11) or, for the numbers issued since 2020,
 *       ISO 7064 MOD 97-10 over "NL" + number.
 *   PL  10 digits, weighted mod 11.
 *   PT  9 digits not starting 0, weighted mod 11.
 *   RO  2 to 10 digits not starting 0 (CUI/CIF), weighted mod 11; the 13-digit CNP of
 *       natural persons is not accepted.
 *   SE  12 digits ending 01, Luhn over the first 10.
 *   SI  8 digits not starting 0, weighted mod 11.
 *   SK  10 digits not starting 0, third digit 2-4 or 7-9, divisible by 11.
 *   GB, XI  9 digits or 12 digits (9 + branch): weighted mod 97, or its "+55" variant for
 *       numbers from 100 0000 00 on; the GDnnn (government department, nnn < 500) and HAnnn
 *       (health authority, nnn >= 500) forms are FORMAT ONLY: they have no check digits. */
bool sg_validate_eu_vat(const char *s, size_t n);

/* Returns true when `s` is an IPv4 address in dotted-quad notation (RFC 791 text form as
 * used by inet_pton): four decimal numbers 0-255 separated by dots, with no leading zeros
 * except for the number 0 itself, no signs, no spaces and nothing else. */
bool sg_validate_ipv4(const char *s, size_t n);

/* Returns true when `s` is an IPv6 address in one of the text forms of RFC 4291 section
 * 2.2: eight groups of one to four hexadecimal digits separated by colons, optionally with
 * one "::" standing for one or more groups of zeros, and optionally with the last two groups
 * written as a dotted-quad IPv4 address (as validated by sg_validate_ipv4). Zone identifiers
 * ("%eth0"), brackets, prefix lengths and surrounding text are not accepted. */
bool sg_validate_ipv6(const char *s, size_t n);

/* Returns true when `s` is an e-mail address of the form local@domain within the limits of
 * RFC 5321 section 4.5.3.1: the local part is a dot-atom (RFC 5322 atext: ASCII letters,
 * digits and !#$%&'*+-/=?^_`{|}~, with dots only between atoms) of 1-64 bytes; the domain is
 * 1-253 bytes of at least two dot-separated labels of 1-63 letters, digits and hyphens, no
 * label starting or ending with a hyphen; the top-level label is alphabetic with at least
 * two letters, or an IDNA A-label ("xn--..."); the whole address is at most 254 bytes.
 * Quoted local parts, address literals such as user@[192.0.2.1] and non-ASCII bytes are
 * rejected. */
bool sg_validate_email(const char *s, size_t n);

#endif
