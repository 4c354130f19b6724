/* Structural detectors: e-mail addresses, URL credentials, numbers (cards, phones, IP
 * addresses, national IDs, dates of birth), letter-led identifiers (IBAN, VAT IDs, NINO,
 * codice fiscale, NIE), secrets and IPv6 addresses; case-insensitive word sets; the
 * normalization with an offset map; overlap resolution. Names and addresses are in
 * detect_names.c, custom detectors in detect_custom.c.
 *
 * Speed: every scanner is one forward pass that only stops at cheap trigger bytes ('@',
 * "://", a digit at the start of a token, an upper-case letter at the start of a token,
 * ':' and '=' after a key, a byte that can start a provider key). One classification pass
 * (classify) lists the token starts and writes bitmaps of the trigger bytes (digits, ':',
 * ':' and '=', the secret scanner's bytes, the marks of PEM blocks and JWTs), which the
 * scanners jump along instead of each searching the text for its own bytes. Context words are
 * looked up in hashed word sets (sg_wordset), never by comparing a window with every word, and
 * every look-back or look-ahead is bounded by a constant, so the time is linear in the text's
 * length whatever the text holds. */
#include "redact/detect.h"
#include "core/utf8.h"
#include "redact/detect_int.h"
#include "redact/validate.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h> /* baseline on x86-64; the scalar loops below serve elsewhere */
#endif
#if defined(__SSE2__) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h> /* AVX-512BW, compiled per function and chosen at run time */
#define SG_DETECT_AVX512 1
#else
#define SG_DETECT_AVX512 0
#endif
#include <stdatomic.h>

/* ---- character classes ---- */

#define L C_LOWER
#define U C_UPPER
#define D C_DIGIT
#define S C_SPACE
#define E C_EMAILC
#define H C_HIGH
#define H16 H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H
const unsigned char sg_ccls[256] = {
    0,   0,   0,   0,   0,   0,   0,   0,
    0,   S,   S,   0,   0,   S,   0,   0, /* 0x00 */
    0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0, /* 0x10 */
    S,   0,   0,   0,   0,   E,   0,   0,
    0,   0,   0,   E,   0,   E,   E,   0, /* space ! " # $ % & ' ( ) * + , - . / */
    D,   D,   D,   D,   D,   D,   D,   D,
    D,   D,   0,   0,   0,   0,   0,   0, /* 0-9 : ; < = > ? */
    0,   U,   U,   U,   U,   U,   U,   U,
    U,   U,   U,   U,   U,   U,   U,   U, /* @ A-O */
    U,   U,   U,   U,   U,   U,   U,   U,
    U,   U,   U,   0,   0,   0,   0,   E, /* P-Z [ \ ] ^ _ */
    0,   L,   L,   L,   L,   L,   L,   L,
    L,   L,   L,   L,   L,   L,   L,   L, /* ` a-o */
    L,   L,   L,   L,   L,   L,   L,   L,
    L,   L,   L,   0,   0,   0,   0,   0, /* p-z { | } ~ */
    H16, H16, H16, H16, H16, H16, H16, H16};
#undef L
#undef U
#undef D
#undef S
#undef E
#undef H
#undef H16

#define G16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
const unsigned char sg_glue[256] = {
    ['&'] = 1,    ['\''] = 1,   ['-'] = 1,    ['.'] = 1,    ['/'] = 1,    ['0'] = 1,
    ['1'] = 1,    ['2'] = 1,    ['3'] = 1,    ['4'] = 1,    ['5'] = 1,    ['6'] = 1,
    ['7'] = 1,    ['8'] = 1,    ['9'] = 1,    ['@'] = 1,    ['A'] = 1,    ['B'] = 1,
    ['C'] = 1,    ['D'] = 1,    ['E'] = 1,    ['F'] = 1,    ['G'] = 1,    ['H'] = 1,
    ['I'] = 1,    ['J'] = 1,    ['K'] = 1,    ['L'] = 1,    ['M'] = 1,    ['N'] = 1,
    ['O'] = 1,    ['P'] = 1,    ['Q'] = 1,    ['R'] = 1,    ['S'] = 1,    ['T'] = 1,
    ['U'] = 1,    ['V'] = 1,    ['W'] = 1,    ['X'] = 1,    ['Y'] = 1,    ['Z'] = 1,
    ['_'] = 1,    ['a'] = 1,    ['b'] = 1,    ['c'] = 1,    ['d'] = 1,    ['e'] = 1,
    ['f'] = 1,    ['g'] = 1,    ['h'] = 1,    ['i'] = 1,    ['j'] = 1,    ['k'] = 1,
    ['l'] = 1,    ['m'] = 1,    ['n'] = 1,    ['o'] = 1,    ['p'] = 1,    ['q'] = 1,
    ['r'] = 1,    ['s'] = 1,    ['t'] = 1,    ['u'] = 1,    ['v'] = 1,    ['w'] = 1,
    ['x'] = 1,    ['y'] = 1,    ['z'] = 1,    [0x80] = G16, [0x90] = G16, [0xA0] = G16,
    [0xB0] = G16, [0xC0] = G16, [0xD0] = G16, [0xE0] = G16, [0xF0] = G16};
#undef G16

#if !defined(__SSE2__) /* the tables of classify's scalar code; its SSE2 code tests ranges */
/* Bytes that start a token (see struct scan): capitals, digits, Latin-1 and Latin
 * Extended-A lead bytes. */
static const unsigned char start_tab[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,  ['5'] = 1,  ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1,  ['D'] = 1,  ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1,  ['L'] = 1,  ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1,  ['T'] = 1,  ['U'] = 1, ['V'] = 1,
    ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, [0xC3] = 1, [0xC4] = 1, [0xC5] = 1};
#endif

#if defined(__SSE2__)
/* 16 lanes: 0xFF where a <= x <= b (unsigned). */
static inline __m128i in_range(__m128i x, unsigned char a, unsigned char b)
{
    __m128i d = _mm_sub_epi8(x, _mm_set1_epi8((char)a));
    __m128i lim = _mm_set1_epi8((char)(b - a));
    return _mm_cmpeq_epi8(_mm_max_epu8(d, lim), lim);
}
#endif

#if !defined(__SSE2__)
/* Bytes after a token start that make it a pair start (struct scan.pairs). */
static const unsigned char pair_second[256] = {
    [' '] = 1, ['-'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
    ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1};
#endif

/* The bitmaps of struct scan, one word of each per 64 bytes of text (see classify). */
enum { BM_DIGITS, BM_COLONS, BM_KV, BM_STRIG, BM_MARKS, BM_COUNT };

/* The classification pass: one pass over the text, 64 bytes per step, that lists the token
 * starts the scanners look at and sets the bits of the class bitmaps (struct scan), so that
 * each scanner only touches its own bytes without searching for them. Lists the token
 * starts that are not digits (caps, room for n entries; returns their count), the pair
 * starts (pairs, room for n; their count in *npairs) and among those the ones that hold
 * A-Z (upairs, room for n; their count in *nupairs); writes the BM_COUNT bitmaps of nw =
 * (n + 63) / 64 words each to bm (BM_* x nw). A [0x80..0xFF] glue entry: inside a UTF-8
 * word no token starts. Each 64-byte step is four SSE2 steps of 16 bytes, or without SSE2
 * one branch-free table test per byte; both compute the same bits. */
/* The class bits of one 64-byte step, bit i for byte i of the step. */
struct cls_step {
    uint64_t cap, pair, upair, dig, col, kv, trig, mark;
};

#if defined(__SSE2__)
/* The 64 bytes at q with SSE2, 16 at a time; q[-1] and q[64] must be readable. (Each class
 * once per byte, its mask shifted by a bit for the neighbours, was tried: twice the
 * movemasks, 1 % slower.) */
static void step_sse2(const unsigned char *q0, struct cls_step *o)
{
    memset(o, 0, sizeof(*o));
    for (unsigned j = 0; j < 4; j++) {
        const unsigned char *q = q0 + 16 * j;
        __m128i x = _mm_loadu_si128((const __m128i *)q);
        __m128i p = _mm_loadu_si128((const __m128i *)(q - 1));
        __m128i y = _mm_loadu_si128((const __m128i *)(q + 1));
        __m128i digit = in_range(x, '0', '9');
        __m128i upper = in_range(x, 'A', 'Z');
        __m128i capl = _mm_or_si128(upper, in_range(x, 0xC3, 0xC5));
        __m128i glue = _mm_or_si128(
            _mm_or_si128(_mm_or_si128(in_range(p, '&', '\''), in_range(p, '-', '9')),
                         _mm_or_si128(in_range(p, '@', 'Z'), in_range(p, 'a', 'z'))),
            _mm_or_si128(_mm_cmpeq_epi8(p, _mm_set1_epi8('_')), in_range(p, 0x80, 0xFF)));
        __m128i second = _mm_or_si128(_mm_or_si128(in_range(y, '0', '9'), in_range(y, 'A', 'Z')),
                                      _mm_or_si128(_mm_cmpeq_epi8(y, _mm_set1_epi8(' ')),
                                                   _mm_cmpeq_epi8(y, _mm_set1_epi8('-'))));
        __m128i colon = _mm_cmpeq_epi8(x, _mm_set1_epi8(':'));
        __m128i keq = _mm_or_si128(colon, _mm_cmpeq_epi8(x, _mm_set1_epi8('=')));
        /* the secret triggers: '-', '_', ':', '=', a ',' after a quote, a 'w' after an
         * 's' (either case: | 0x20 makes ASCII letters small) */
        __m128i pl = _mm_or_si128(p, _mm_set1_epi8(0x20));
        __m128i xl = _mm_or_si128(x, _mm_set1_epi8(0x20));
        __m128i tr = _mm_or_si128(keq, _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('-')),
                                                    _mm_cmpeq_epi8(x, _mm_set1_epi8('_'))));
        __m128i quote = _mm_or_si128(_mm_cmpeq_epi8(p, _mm_set1_epi8('\'')),
                                     _mm_cmpeq_epi8(p, _mm_set1_epi8('"')));
        tr = _mm_or_si128(tr, _mm_and_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(',')), quote));
        tr = _mm_or_si128(tr, _mm_and_si128(_mm_cmpeq_epi8(xl, _mm_set1_epi8('w')),
                                            _mm_cmpeq_epi8(pl, _mm_set1_epi8('s'))));
        /* the key bytes of scan_marked's marks: the 'B' of "-B", the 'J' of "yJ" */
        __m128i mk = _mm_or_si128(_mm_and_si128(_mm_cmpeq_epi8(p, _mm_set1_epi8('-')),
                                                _mm_cmpeq_epi8(x, _mm_set1_epi8('B'))),
                                  _mm_and_si128(_mm_cmpeq_epi8(p, _mm_set1_epi8('y')),
                                                _mm_cmpeq_epi8(x, _mm_set1_epi8('J'))));
        unsigned sh = 16 * j;
        unsigned pbits = (unsigned)_mm_movemask_epi8(
            _mm_andnot_si128(glue, _mm_and_si128(_mm_or_si128(digit, upper), second)));
        o->cap |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_andnot_si128(glue, capl)) << sh;
        o->pair |= (uint64_t)pbits << sh;
        o->upair |= (uint64_t)(pbits & (unsigned)_mm_movemask_epi8(upper)) << sh;
        o->dig |= (uint64_t)(unsigned)_mm_movemask_epi8(digit) << sh;
        o->col |= (uint64_t)(unsigned)_mm_movemask_epi8(colon) << sh;
        o->kv |= (uint64_t)(unsigned)_mm_movemask_epi8(keq) << sh;
        o->trig |= (uint64_t)(unsigned)_mm_movemask_epi8(tr) << sh;
        o->mark |= (uint64_t)(unsigned)_mm_movemask_epi8(mk) << sh;
    }
}
#endif

#if SG_DETECT_AVX512
/* The same bits as step_sse2, the 64 bytes in one step: AVX-512BW compares straight into
 * 64-bit masks, so there are no movemasks and no shifts (about 3 times as fast). Used only
 * where the CPU has AVX-512BW (sg_detect_simd). */
#define R512(v, a, b)                                                                              \
    _mm512_cmple_epu8_mask(_mm512_sub_epi8(v, _mm512_set1_epi8((char)(a))),                        \
                           _mm512_set1_epi8((char)((b) - (a))))
#define E512(v, c) _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8((char)(c)))
__attribute__((target("avx512f,avx512bw"))) static void step_avx512(const unsigned char *q,
                                                                    struct cls_step *o)
{
    __m512i x = _mm512_loadu_si512((const void *)q);
    __m512i p = _mm512_loadu_si512((const void *)(q - 1));
    __m512i y = _mm512_loadu_si512((const void *)(q + 1));
    uint64_t digit = R512(x, '0', '9'), upper = R512(x, 'A', 'Z');
    uint64_t glue = R512(p, '&', '\'') | R512(p, '-', '9') | R512(p, '@', 'Z') | R512(p, 'a', 'z') |
                    E512(p, '_') | R512(p, 0x80, 0xFF);
    uint64_t second = R512(y, '0', '9') | R512(y, 'A', 'Z') | E512(y, ' ') | E512(y, '-');
    __m512i pl = _mm512_or_si512(p, _mm512_set1_epi8(0x20));
    __m512i xl = _mm512_or_si512(x, _mm512_set1_epi8(0x20));
    uint64_t pbits = ~glue & (digit | upper) & second;
    o->cap = ~glue & (upper | R512(x, 0xC3, 0xC5));
    o->pair = pbits;
    o->upair = pbits & upper;
    o->dig = digit;
    o->col = E512(x, ':');
    o->kv = o->col | E512(x, '=');
    o->trig = o->kv | E512(x, '-') | E512(x, '_') |
              (E512(x, ',') & (E512(p, '\'') | E512(p, '"'))) | (E512(xl, 'w') & E512(pl, 's'));
    o->mark = (E512(p, '-') & E512(x, 'B')) | (E512(p, 'y') & E512(x, 'J'));
}
#undef R512
#undef E512
#endif

#if !defined(__SSE2__)
/* The 64 bytes at t[b..], one branch-free table test per byte (where there is no SSE2). */
static void step_scalar(const unsigned char *t, size_t n, size_t b, struct cls_step *o)
{
    memset(o, 0, sizeof(*o));
    size_t e = b + 64 < n ? b + 64 : n;
    for (size_t i = b; i < e; i++) {
        unsigned char c = t[i], pc = i > 0 ? t[i - 1] : 0; /* 0: no glue */
        uint64_t st = start_tab[c] & (sg_glue[pc] ^ 1);
        uint64_t second = i + 1 < n && pair_second[t[i + 1]];
        uint64_t digit = sg_is_digit(c), upper = sg_is_upper(c);
        unsigned sh = (unsigned)(i - b);
        o->cap |= (st & !digit) << sh;
        o->pair |= (st & (digit | upper) & second) << sh;
        o->upair |= (st & upper & second) << sh;
        o->dig |= digit << sh;
        o->col |= (uint64_t)(c == ':') << sh;
        o->kv |= (uint64_t)(c == ':' || c == '=') << sh;
        o->trig |= (uint64_t)(i > 0 && (c == '-' || c == '_' || c == ':' || c == '=' ||
                                        (c == ',' && (pc == '\'' || pc == '"')) ||
                                        ((c | 0x20) == 'w' && (pc | 0x20) == 's')))
                   << sh;
        o->mark |= (uint64_t)((pc == '-' && c == 'B') || (pc == 'y' && c == 'J')) << sh;
    }
}
#endif

static atomic_int simd_level = SG_DETECT_SIMD_BASE; /* set by init_all, sg_detect_simd */

static size_t classify(const unsigned char *t, size_t n, uint32_t *caps, uint32_t *pairs,
                       size_t *npairs, uint32_t *upairs, size_t *nupairs, uint64_t *bm, size_t nw)
{
    size_t kc = 0, kp = 0, ku = 0;
#if SG_DETECT_AVX512
    bool avx512 = atomic_load_explicit(&simd_level, memory_order_relaxed) == SG_DETECT_SIMD_AVX512;
#endif
    for (size_t w = 0; w < nw; w++) {
        size_t b = w * 64;
        struct cls_step o;
#if defined(__SSE2__)
        /* A step reads the 66 bytes t[b - 1 .. b + 64]: the byte before each (glue, the 's'
         * of "sw", a quote before ',') and the byte after each (a pair's second). They are
         * read in place where the text holds them (every step but the first and the last),
         * else copied with zeros for what lies before the text or at or past its end: a
         * zero byte is in no class, is no glue and no pair's second, which is what the
         * scalar code makes of the text's edges. */
        unsigned char edge[80];
        const unsigned char *base = t + b;
        if (b == 0 || b + 65 > n) {
            memset(edge, 0, sizeof(edge));
            if (b > 0)
                edge[0] = t[b - 1];
            memcpy(edge + 1, t + b, n - b < 65 ? n - b : 65);
            base = edge + 1;
        }
#if SG_DETECT_AVX512
        if (avx512)
            step_avx512(base, &o);
        else
#endif
            step_sse2(base, &o);
        if (b == 0)
            o.trig &= ~1ull; /* scan_secrets starts at 1: no byte before the first */
#else
        step_scalar(t, n, b, &o);
#endif
        bm[BM_DIGITS * nw + w] = o.dig;
        bm[BM_COLONS * nw + w] = o.col;
        bm[BM_KV * nw + w] = o.kv;
        bm[BM_STRIG * nw + w] = o.trig;
        bm[BM_MARKS * nw + w] = o.mark;
        for (uint64_t m = o.cap; m; m &= m - 1)
            caps[kc++] = (uint32_t)(b + (size_t)__builtin_ctzll(m));
        for (uint64_t m = o.pair; m; m &= m - 1)
            pairs[kp++] = (uint32_t)(b + (size_t)__builtin_ctzll(m));
        for (uint64_t m = o.upair; m; m &= m - 1)
            upairs[ku++] = (uint32_t)(b + (size_t)__builtin_ctzll(m));
    }
    *npairs = kp;
    *nupairs = ku;
    return kc;
}

/* The UTF-8 lead bytes of every character fold() changes: C2 (U+00A0, U+00AD), CE..D4
 * (Greek and Cyrillic, U+0391..U+0501), E1 (U+180E), E2 (U+2002..U+2212), E3 (U+3000), EF
 * (U+FEFF, U+FF01..U+FF5E). Keep in step with fold(). Lead bytes are never continuation
 * bytes, so every other character, valid or not, stays as it is. */
static const unsigned char fold_lead[256] = {
    [0xC2] = 1, [0xCE] = 1, [0xCF] = 1, [0xD0] = 1, [0xD1] = 1, [0xD2] = 1,
    [0xD3] = 1, [0xD4] = 1, [0xE1] = 1, [0xE2] = 1, [0xE3] = 1, [0xEF] = 1};

/* The first position at or after i holding a byte of fold_lead, or n: accented Latin
 * letters (C3 xx, C4 xx, C5 xx), the commonest non-ASCII bytes of shop text, and other
 * symbols are passed over 16 bytes at a time instead of one stop each. */
static inline size_t find_fold_lead(const unsigned char *t, size_t n, size_t i)
{
#if defined(__SSE2__)
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(t + i));
        if (!_mm_movemask_epi8(x))
            continue; /* ASCII only: the common case, one test */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8((char)0xC2)),
                                              _mm_cmpeq_epi8(x, _mm_set1_epi8((char)0xEF))),
                                 _mm_or_si128(in_range(x, 0xCE, 0xD4), in_range(x, 0xE1, 0xE3)));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits)
            return i + (size_t)__builtin_ctz(bits);
    }
#endif
    while (i < n && !fold_lead[t[i]])
        i++;
    return i;
}

/* The end of the run of digits from k: the first position at or after k that holds no
 * digit, or min(n, lim) when there is none before (k itself when k is past that). Read
 * from the digit bitmap (struct scan.digits, the text's n bytes): the first zero bit from
 * k on, a word at a time (numbers are read for every digit group). */
static inline size_t digits_end(const uint64_t *dig, size_t n, size_t k, size_t lim)
{
    size_t end = lim < n ? lim : n;
    if (k >= end)
        return k;
    size_t w = k >> 6;
    uint64_t bits = ~dig[w] & (~0ull << (k & 63));
    while (!bits) {
        if ((++w << 6) >= end)
            return end; /* digits up to the limit */
        bits = ~dig[w];
    }
    size_t e = (w << 6) + (size_t)__builtin_ctzll(bits);
    return e < end ? e : end;
}

/* The end of the token from i: the first position at or after i whose byte is no letter,
 * digit, '_' or byte >= 0x80 (sg_is_alnum or '_'), nor, with `seps`, '.', '-' or '/';
 * n when there is none. 16 bytes at a time where 16 are left. */
static inline size_t ident_end(const unsigned char *t, size_t n, size_t i, bool seps)
{
#if defined(__SSE2__)
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(t + i));
        /* '-', '.', '/' are 0x2D..0x2F, just before the digits */
        __m128i m = _mm_or_si128(seps ? in_range(x, '-', '9') : in_range(x, '0', '9'),
                                 _mm_or_si128(in_range(x, 'A', 'Z'), in_range(x, 'a', 'z')));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('_')));
        unsigned bits = ~((unsigned)_mm_movemask_epi8(m) | (unsigned)_mm_movemask_epi8(x)) &
                        0xFFFFu; /* movemask(x): the bytes >= 0x80 */
        if (bits)
            return i + (size_t)__builtin_ctz(bits);
    }
#endif
    while (i < n && (sg_is_alnum(t[i]) || t[i] == '_' ||
                     (seps && (t[i] == '.' || t[i] == '-' || t[i] == '/'))))
        i++;
    return i;
}

/* The first position p at or after i where t[p] == a and t[p + 1] == b, or n. Where the
 * first byte alone is frequent (':' before "//", 'J' of "eyJ", 'B' of "-----BEGIN"),
 * both bytes are compared 16 positions at a time, so the scanners stop only where the pair
 * is. Reads nothing at or past n. */
static inline size_t find_pair(const unsigned char *t, size_t n, size_t i, unsigned char a,
                               unsigned char b)
{
#if defined(__SSE2__)
    for (; i + 17 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(t + i));
        __m128i y = _mm_loadu_si128((const __m128i *)(t + i + 1));
        unsigned bits = (unsigned)_mm_movemask_epi8(_mm_and_si128(
            _mm_cmpeq_epi8(x, _mm_set1_epi8((char)a)), _mm_cmpeq_epi8(y, _mm_set1_epi8((char)b))));
        if (bits)
            return i + (size_t)__builtin_ctz(bits);
    }
#endif
    for (; i + 1 < n; i++)
        if (t[i] == a && t[i + 1] == b)
            return i;
    return n;
}

/* ---- findings ---- */

void sg_findings_init(struct sg_findings *f, size_t max)
{
    memset(f, 0, sizeof(*f));
    f->max = max;
}

void sg_findings_reset(struct sg_findings *f)
{
    f->n = 0;
    f->truncated = false;
}

void sg_findings_free(struct sg_findings *f)
{
    free(f->v);
    f->v = NULL;
    f->n = f->cap = 0;
}

static int findings_push(struct sg_findings *f, uint32_t start, uint32_t end, unsigned type,
                         unsigned escaped)
{
    if (f->n >= f->max) {
        f->truncated = true;
        return 0;
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 32;
        if (cap > f->max)
            cap = f->max;
        struct sg_finding *v = realloc(f->v, cap * sizeof(*v));
        if (!v)
            return SG_ENOMEM;
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = (struct sg_finding){start, end, (uint16_t)type, (uint8_t)escaped};
    return 0;
}

int sg_scan_add(struct scan *s, size_t start, size_t end, unsigned type)
{
    return sg_scan_add_escaped(s, start, end, type, 0);
}

int sg_scan_add_escaped(struct scan *s, size_t start, size_t end, unsigned type, unsigned escaped)
{
    if (end <= start || end > s->n)
        return 0;
    return findings_push(s->raw, (uint32_t)start, (uint32_t)end, type, escaped);
}

/* ---- word sets ---- */

#define WS_BASIS 2166136261u
#define WS_PRIME 16777619u

static inline uint32_t ws_step(uint32_t h, unsigned char c)
{
    return (h ^ c) * WS_PRIME;
}

static inline unsigned ws_tail(unsigned char a, unsigned char b)
{
    return ((unsigned)a * 31u + b) & 4095u;
}

static inline void bit_set(uint64_t *f, unsigned b)
{
    f[b >> 6] |= 1ull << (b & 63);
}

static inline bool bit_test(const uint64_t *f, unsigned b)
{
    return (f[b >> 6] >> (b & 63)) & 1u;
}

/* The head filter's bit for the n bytes at w (n > 0). */
static inline unsigned ws_head(const unsigned char *w, size_t n)
{
    return ws_tail(sg_fold_at(w, 0), n >= 2 ? sg_fold_at(w, 1) : 0);
}

void sg_wordset_build(struct sg_wordset *ws)
{
    size_t n = ws->count;
    if (!n)
        while (ws->words[n])
            n++;
    ws->count = n;
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    ws->slot = calloc(cap, sizeof(*ws->slot));
    if (!ws->slot || n >= (1u << 24) - 1)
        abort(); /* start-up, a few hundred KB: nothing sensible to fall back to */
    ws->mask = (uint32_t)(cap - 1);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *w = (const unsigned char *)ws->words[i];
        size_t l = strlen((const char *)w);
        bool pre = l > 1 && w[l - 1] == '*';
        if (pre)
            l--;
        if (l == 0 || l >= 64)
            continue;
        /* hashed backwards, as sg_ws_ends_at meets the bytes */
        uint32_t h = WS_BASIS;
        for (size_t k = l; k-- > 0;)
            h = ws_step(h, sg_fold_at(w, k));
        bit_set(ws->head, ws_head(w, l));
        if (pre) {
            ws->plens |= 1ull << l;
            ws->nohead |= l == 1;
        } else {
            ws->lens |= 1ull << l;
            if (l >= 2)
                bit_set(ws->tail, ws_tail(w[l - 2], w[l - 1]));
        }
        uint32_t j = h & ws->mask;
        while (ws->slot[j].e1)
            j = (j + 1) & ws->mask;
        ws->slot[j] = (struct sg_ws_slot){(unsigned)i + 1, (unsigned)l, pre, h};
    }
}

/* Whether entry e is the l bytes at t + s, folded. */
static inline bool ws_entry_is(const struct sg_wordset *ws, uint32_t e, const unsigned char *t,
                               size_t s, size_t l)
{
    const unsigned char *w = (const unsigned char *)ws->words[e];
    size_t k = 0;
    while (k < l && sg_fold_at(t, s + k) == w[k])
        k++;
    return k == l;
}

static bool ws_probe(const struct sg_wordset *ws, uint32_t h, size_t l, bool pre,
                     const unsigned char *t, size_t s)
{
    for (uint32_t j = h & ws->mask; ws->slot[j].e1; j = (j + 1) & ws->mask) {
        const struct sg_ws_slot *sl = &ws->slot[j];
        if (sl->hash == h && sl->len == l && sl->prefix == pre &&
            ws_entry_is(ws, sl->e1 - 1, t, s, l))
            return true;
    }
    return false;
}

unsigned sg_ws_tags(const struct sg_wordset *ws, uint32_t h, const unsigned char *w, size_t n)
{
    if (n == 0 || n >= 64 || !((ws->lens >> n) & 1) || !bit_test(ws->head, ws_head(w, n)))
        return 0;
    unsigned tags = 0;
    for (uint32_t j = h & ws->mask; ws->slot[j].e1; j = (j + 1) & ws->mask) {
        const struct sg_ws_slot *sl = &ws->slot[j];
        if (sl->hash == h && sl->len == n && !sl->prefix && ws_entry_is(ws, sl->e1 - 1, w, 0, n))
            tags |= ws->tags[sl->e1 - 1];
    }
    return tags;
}

size_t sg_ws_ends_at(const struct sg_wordset *ws, const unsigned char *t, size_t lo, size_t at)
{
    /* most positions end no entry: two bytes and one bit tell (entries of one byte aside) */
    if (at - lo >= 2 && !(ws->lens & 2)) {
        if (!bit_test(ws->tail, ws_tail(sg_fold_at(t, at - 2), sg_fold_at(t, at - 1))))
            return 0;
    }
    uint32_t h = WS_BASIS;
    size_t best = 0;
    for (size_t l = 1; l < 64 && l <= at - lo; l++) {
        size_t s = at - l;
        h = ws_step(h, sg_fold_at(t, s));
        if (!((ws->lens >> l) & 1)) {
            if (!(ws->lens >> l))
                break;
            continue;
        }
        /* an entry starts at a word boundary: probe only there */
        if (s > 0 && sg_is_alnum(t[s]) && sg_is_alnum(t[s - 1]))
            continue;
        if (ws_probe(ws, h, l, false, t, s))
            best = l;
    }
    return best;
}

static bool ws_prefix_at(const struct sg_wordset *ws, const unsigned char *w, size_t n)
{
    for (uint64_t m = ws->plens; m; m &= m - 1) {
        size_t l = (size_t)__builtin_ctzll(m);
        if (l > n)
            break;
        uint32_t h = WS_BASIS;
        for (size_t k = l; k-- > 0;)
            h = ws_step(h, sg_fold_at(w, k));
        if (ws_probe(ws, h, l, true, w, 0))
            return true;
    }
    return false;
}

uint32_t sg_ws_hash(const unsigned char *w, size_t n)
{
    uint32_t h = WS_BASIS;
    for (size_t k = n; k-- > 0;)
        h = ws_step(h, sg_fold_at(w, k));
    return h;
}

bool sg_ws_has_h(const struct sg_wordset *ws, uint32_t h, const unsigned char *w, size_t n)
{
    if (n == 0 || (!ws->nohead && !bit_test(ws->head, ws_head(w, n))))
        return false;
    if (n < 64 && ((ws->lens >> n) & 1) && ws_probe(ws, h, n, false, w, 0))
        return true;
    return ws->plens && ws_prefix_at(ws, w, n);
}

bool sg_ws_has(const struct sg_wordset *ws, const unsigned char *w, size_t n)
{
    /* most words looked up are in no set: the head filter answers before any hashing */
    if (n == 0 || (!ws->nohead && !bit_test(ws->head, ws_head(w, n))))
        return false;
    if (n < 64 && ((ws->lens >> n) & 1) && ws_probe(ws, sg_ws_hash(w, n), n, false, w, 0))
        return true;
    return ws->plens && ws_prefix_at(ws, w, n);
}

bool sg_ws_within(const struct sg_wordset *ws, const unsigned char *t, size_t at, size_t window)
{
    size_t lo = at > window ? at - window : 0;
    for (size_t e = at; e > lo; e--) {
        if (ws->lens && !sg_is_space(t[e - 1]) && (e == at || !sg_is_alnum(t[e])) &&
            sg_ws_ends_at(ws, t, lo, e))
            return true;
        size_t s = e - 1;
        if (ws->plens && sg_is_alnum(t[s]) && (s == 0 || !sg_is_alnum(t[s - 1])) &&
            ws_prefix_at(ws, t + s, at - s))
            return true;
    }
    return false;
}

/* The start of the line that holds `at`, looking back at most `window` bytes. */
static size_t line_lo(const unsigned char *t, size_t at, size_t window)
{
    size_t lo = at > window ? at - window : 0;
    const unsigned char *nl = NULL;
    for (size_t k = at; k > lo; k--)
        if (t[k - 1] == '\n') {
            nl = t + k;
            break;
        }
    return nl ? (size_t)(nl - t) : lo;
}

/* An entry of `ws` ends within `window` bytes before `at` on the same line, or on the line
 * before when `at` starts a line (a label above its value: "BSN:\n123456782"). */
static bool ctx_line(const struct sg_wordset *ws, const unsigned char *t, size_t at, size_t window)
{
    size_t lo = line_lo(t, at, window);
    if (lo == at && at > 0)
        lo = line_lo(t, at - 1, window);
    return sg_ws_within(ws, t, at, at - lo);
}

/* ---- context words ---- */

static const char *const birth_words[] = {
    "born",     "birth*",    "dob",           "d.o.b",      "d.o.b.",  "geboren",
    "geburts*", "geb.",      "geb",           "naissance",  "né",      "née",
    "nacido",   "nacida",    "nací",          "nacimiento", "nato",    "nata",
    "nascita",  "geboorte*", "age",           "âge",        "alters*", "edad",
    "età",      "leeftijd*", "date_of_birth", "birthdate",  NULL};
static const char *const birth_after_words[] = {"geboren", "born", "geb.", NULL};
static const char *const phone_words[] = {
    "tel",      "tel.",   "telefon",   "telephone", "téléphone",  "teléfono", "telefono",
    "telefoon", "phone",  "mobile",    "mobil",     "mobiel",     "handy",    "cell",
    "portable", "móvil",  "cellulare", "call",      "fax",        "whatsapp", "rufnummer",
    "tél",      "tél.",   "gsm",       "hotline",   "reach me",   "llamarme", "llámanos",
    "chiamaci", "bellen", "appelez",   "anrufen",   "erreichbar", "joindre",  NULL};
/* A number right after one of these (and at most a colon, "No." or "#") is a reference,
 * not a phone number. */
static const char *const ref_words[] = {"art",
                                        "art.",
                                        "art.-nr",
                                        "art.-nr.",
                                        "artikel",
                                        "artikelnummer",
                                        "artikelnr",
                                        "artikelnr.",
                                        "article",
                                        "articolo",
                                        "artículo",
                                        "artnr",
                                        "sku",
                                        "ean",
                                        "upc",
                                        "gtin",
                                        "isbn",
                                        "ref",
                                        "ref.",
                                        "réf",
                                        "réf.",
                                        "référence",
                                        "referencia",
                                        "riferimento",
                                        "referentie",
                                        "reference",
                                        "order",
                                        "bestellung",
                                        "bestellnummer",
                                        "bestellnr",
                                        "bestellnr.",
                                        "commande",
                                        "pedido",
                                        "ordine",
                                        "bestelling",
                                        "invoice",
                                        "rechnung",
                                        "rechnungsnummer",
                                        "facture",
                                        "factura",
                                        "fattura",
                                        "factuur",
                                        "rcs",
                                        "siren",
                                        "siret",
                                        "kvk",
                                        "hrb",
                                        "hra",
                                        "rea",
                                        "company",
                                        "registro",
                                        "tracking",
                                        "sendungsnummer",
                                        "suivi",
                                        "seguimiento",
                                        "ticket",
                                        "kundennummer",
                                        "kundennr",
                                        "kundennr.",
                                        "mandatsreferenz",
                                        "mandate",
                                        "lieferschein",
                                        "slip",
                                        "code",
                                        "código",
                                        "codice",
                                        "zolltarifnummer",
                                        "taric",
                                        "lot",
                                        "serial",
                                        "seriennummer",
                                        "nr",
                                        "nr.",
                                        "no",
                                        "no.",
                                        "n°",
                                        "nº",
                                        "#",
                                        "id",
                                        "steuernummer",
                                        "plz",
                                        "postleitzahl",
                                        "version",
                                        "versie",
                                        "versión",
                                        "versione",
                                        "number",
                                        "nummer",
                                        "numéro",
                                        "número",
                                        "numero",
                                        "packing slip",
                                        "track & trace",
                                        "track&trace",
                                        "verpackungseinheit",
                                        NULL};
static const char *const ssn_words[] = {
    "ssn", "social security", "social security number", "ss#", "ssn#", NULL};
static const char *const bsn_words[] = {"bsn",         "burgerservicenummer",    "sofinummer",
                                        "sofi-nummer", "citizen service number", NULL};
static const char *const steuer_words[] = {
    "steuer-id", "steuerid", "steuer-idnr", "steuer-idnr.", "steuerliche", "identifikationsnummer",
    "idnr",      "idnr.",    "tin",         "tax id",       "steuer",      "id-nr",
    NULL};
static const char *const version_words[] = {
    "version*",   "versie*",     "versión", "versiones", "versione",   "versioni",
    "firmware*",  "release*",    "build",   "changelog", "update",     "updated",
    "patch",      "ver",         "ver.",    "novedades", "nouveautés", "novità",
    "neuerungen", "rilascio",    "notes",   "app",       "software",   "plugin",
    "wordpress",  "woocommerce", "php",     "mysql",     "chrome",     "firefox",
    "safari",     "android",     "ios",     "windows",   "kernel",     NULL};
static const char *const month_words[] = {
    "january",   "february",  "march",    "april",      "may",       "june",    "july",
    "august",    "september", "october",  "november",   "december",  "jan",     "jan.",
    "feb",       "feb.",      "mar",      "mar.",       "apr",       "apr.",    "jun",
    "jun.",      "jul",       "jul.",     "aug",        "aug.",      "sep",     "sep.",
    "sept",      "sept.",     "oct",      "oct.",       "nov",       "nov.",    "dec",
    "dec.",      "januar",    "jänner",   "februar",    "märz",      "mai",     "juni",
    "juli",      "oktober",   "dezember", "dez",        "dez.",      "okt",     "okt.",
    "janvier",   "février",   "mars",     "avril",      "juin",      "juillet", "août",
    "septembre", "octobre",   "novembre", "décembre",   "janv.",     "févr.",   "avr.",
    "juil.",     "déc.",      "enero",    "febrero",    "marzo",     "abril",   "mayo",
    "junio",     "julio",     "agosto",   "septiembre", "setiembre", "octubre", "noviembre",
    "diciembre", "ene",       "ene.",     "abr",        "abr.",      "ago",     "ago.",
    "dic",       "dic.",      "gennaio",  "febbraio",   "aprile",    "maggio",  "giugno",
    "luglio",    "settembre", "ottobre",  "dicembre",   "gen",       "gen.",    "mag",
    "mag.",      "giu",       "giu.",     "lug",        "lug.",      "set",     "set.",
    "ott",       "ott.",      "januari",  "februari",   "maart",     "mei",     "augustus",
    "mrt",       "mrt.",      NULL};

static struct sg_wordset ws_birth = SG_WORDSET(birth_words);
static struct sg_wordset ws_birth_after = SG_WORDSET(birth_after_words);
static struct sg_wordset ws_phone = SG_WORDSET(phone_words);
static struct sg_wordset ws_ref = SG_WORDSET(ref_words);
static struct sg_wordset ws_ssn = SG_WORDSET(ssn_words);
static struct sg_wordset ws_bsn = SG_WORDSET(bsn_words);
static struct sg_wordset ws_steuer = SG_WORDSET(steuer_words);
static struct sg_wordset ws_version = SG_WORDSET(version_words);
static struct sg_wordset ws_month = SG_WORDSET(month_words);

static const char *const pw_keys[] = {"password",
                                      "passwort",
                                      "passwd",
                                      "pwd",
                                      "pw",
                                      "ww",
                                      "mdp",
                                      "kennwort",
                                      "wachtwoord",
                                      "contraseña",
                                      "clave",
                                      "mot de passe",
                                      "passe",
                                      "pass",
                                      "passphrase",
                                      "db_password",
                                      "aws_secret_access_key",
                                      "secretaccesskey",
                                      "secret_access_key",
                                      "client_secret",
                                      "secret_key",
                                      "api_secret",
                                      "app_password",
                                      "smtp_password",
                                      "user_pass",
                                      NULL};
static struct sg_wordset ws_pw = SG_WORDSET(pw_keys);

static void init_all(void)
{
    struct sg_wordset *sets[] = {&ws_birth, &ws_birth_after, &ws_phone,   &ws_ref,   &ws_ssn,
                                 &ws_bsn,   &ws_steuer,      &ws_version, &ws_month, &ws_pw};
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        sg_wordset_build(sets[i]);
    sg_names_init();
#if SG_DETECT_AVX512
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512bw"))
        atomic_store(&simd_level, SG_DETECT_SIMD_AVX512);
#endif
}

int sg_detect_simd(int level)
{
    sg_detect_init();
    if (level == SG_DETECT_SIMD_BASE)
        atomic_store(&simd_level, level);
#if SG_DETECT_AVX512
    if (level == SG_DETECT_SIMD_AVX512 && __builtin_cpu_supports("avx512bw"))
        atomic_store(&simd_level, level);
#endif
    return atomic_load(&simd_level);
}

void sg_detect_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_all);
}

/* ---- e-mail addresses and URL credentials ---- */

/* The local part of an address: letters, digits and . _ % + - (what mail providers hand
 * out; the rarer RFC 5322 characters are far more often the text around an address). */
static bool email_local(unsigned char c)
{
    return sg_ccls[c] & (C_LOWER | C_UPPER | C_DIGIT | C_EMAILC);
}

static bool domain_char(unsigned char c)
{
    return (sg_ccls[c] & (C_LOWER | C_UPPER | C_DIGIT)) || c == '-' || c == '.';
}

/* The URL scheme separators ("://") before the '@' seen so far. The '@' come in order, so
 * the text is searched forward only, whatever it holds. */
struct url_track {
    size_t from;   /* where to look for the next "://" */
    size_t next;   /* the next "://" at or after `from` (n: none), or (size_t)-1 unknown */
    size_t scheme; /* just after the last "://" before the current '@', 0 for none */
    size_t clean;  /* [scheme, clean) holds no white space, quote or angle bracket */
    bool broken;   /* a break follows the last "://" */
};

static size_t find_str(const unsigned char *t, size_t n, size_t from, const char *s, size_t sl);

/* Whether `a` lies in the authority of a URL ("://" earlier in the same token, and no '/',
 * '?' or '#' after it yet): then an '@' there ends the URL's user information, not an
 * e-mail address. An address in the path, query or fragment ("?email=anna@shop.de") is an
 * address. */
static bool in_url_userinfo(const unsigned char *t, size_t n, size_t a, struct url_track *u)
{
    for (;;) {
        if (u->next == (size_t)-1)
            u->next = find_str(t, n, u->from, "://", 3);
        if (u->next >= n || u->next + 3 > a)
            break;
        u->scheme = u->next + 3;
        u->clean = u->scheme;
        u->broken = false;
        u->from = u->next + 1;
        u->next = (size_t)-1;
    }
    if (!u->scheme || u->broken || a - u->scheme >= 300)
        return false;
    for (; u->clean < a; u->clean++) {
        unsigned char c = t[u->clean];
        if (sg_is_space(c) || c == '"' || c == '<' || c == '>' || c == '/' || c == '?' ||
            c == '#') {
            u->broken = true;
            return false;
        }
    }
    return true;
}

static int scan_emails(struct scan *s)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    const unsigned char *p = t;
    size_t done = 0; /* the end of the last address: a local part never reaches back over it */
    struct url_track url = {0, (size_t)-1, 0, 0, false};
    while ((p = memchr(p, '@', (size_t)(t + n - p)))) {
        size_t at = (size_t)(p - t);
        p++;
        size_t a = at;
        while (a > done && at - a < 64 && email_local(t[a - 1]))
            a--;
        while (a < at && (t[a] == '.' || t[a] == '-' || t[a] == '+'))
            a++; /* dots and dashes that start a local part belong to the text around */
        if (a == at)
            continue;
        /* a local part glued to characters no address holds is part of some other token
         * (a password, a URL's user information) */
        if (a > 0) {
            unsigned char pc = t[a - 1];
            if (pc == '*' || pc == '$' || pc == '!' || pc == '#' || pc == '&' || pc == '~' ||
                pc == '\\' || pc == '^' || pc == '|' || pc == '`' || pc == '@')
                continue;
        }
        if (in_url_userinfo(t, n, a, &url))
            continue;
        size_t b = at + 1;
        while (b < n && b - at < 254 && domain_char(t[b]))
            b++;
        while (b > at + 1 && (t[b - 1] == '.' || t[b - 1] == '-'))
            b--;
        if (sg_validate_email((const char *)t + a, b - a)) {
            int rc = sg_scan_add(s, a, b, SG_ENT_EMAIL);
            if (rc)
                return rc;
            done = b;
            p = t + b;
        }
    }
    return 0;
}

/* scheme://user:password@host: the span is user:password. */
static int scan_url_credentials(struct scan *s)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    size_t from = 0;
    while (n >= 3 && from < n) {
        /* the next ":/" (every ':' not followed by '/' fails the first test below), from
         * one ':' of the colon bitmap to the next */
        size_t i = sg_bm_next(s->colons, from, n);
        while (i + 1 < n && t[i + 1] != '/')
            i = sg_bm_next(s->colons, i + 1, n);
        if (i + 1 >= n)
            break;
        from = i + 1;
        if (i + 3 >= n || t[i + 1] != '/' || t[i + 2] != '/' || i == 0 || !sg_is_alpha(t[i - 1]))
            continue;
        size_t u = i + 3, k = u;
        while (k < n && k - u < 128 && t[k] != ':' && t[k] != '/' && t[k] != '@' &&
               !sg_is_space(t[k]))
            k++;
        if (k == u || k >= n || t[k] != ':')
            continue;
        size_t pw = k + 1, e = pw;
        while (e < n && e - pw < 256 && t[e] != '@' && t[e] != '/' && !sg_is_space(t[e]))
            e++;
        if (e == pw || e >= n || t[e] != '@')
            continue;
        int rc = sg_scan_add(s, u, e, SG_ENT_URL_CREDENTIALS);
        if (rc)
            return rc;
        from = e;
    }
    return 0;
}

/* ---- numbers ---- */

#define MAX_GROUPS 16

/* A run of digit groups with single separators between them: the candidate for every
 * numeric type. */
struct group {
    uint32_t s, e;     /* the digits [s, e) */
    unsigned char sep; /* the separator before the group (0 first, ')' after a paren) */
    bool paren;        /* written in parentheses: (0), (030), (212) */
};

struct chunk {
    size_t start, end; /* the span: from '+' or '(' or the first digit to the last digit
                          or ')' */
    unsigned ng, nd;
    struct group g[MAX_GROUPS];
    bool plus, trunk, toolong;
    unsigned seps; /* which separators occur: SEP_* bits */
    char dig[48];  /* the digits, NUL-terminated */
};

enum { SEP_SPACE = 1, SEP_DASH = 2, SEP_DOT = 4, SEP_SLASH = 8, SEP_PAREN = 16 };

static unsigned sep_bit(unsigned char c)
{
    switch (c) {
    case ' ':
        return SEP_SPACE;
    case '-':
        return SEP_DASH;
    case '.':
        return SEP_DOT;
    case '/':
        return SEP_SLASH;
    default:
        return 0;
    }
}

/* A dotted quad at i (digits 1-3, three dots) not followed by more digits or dots. */
static bool ipv4_at(const unsigned char *t, size_t n, size_t i)
{
    size_t k = i;
    for (int part = 0; part < 4; part++) {
        size_t d = k;
        while (k < n && sg_is_digit(t[k]) && k - d < 4)
            k++;
        if (k == d || k - d > 3)
            return false;
        if (part < 3) {
            if (k >= n || t[k] != '.')
                return false;
            k++;
        }
    }
    return !(k < n && (sg_is_digit(t[k]) || (t[k] == '.' && k + 1 < n && sg_is_digit(t[k + 1]))));
}

/* Whether read_chunk goes on after the digit group that ends at k: a separator, then a
 * digit or " (" and a digit. */
static inline bool group_follows(const unsigned char *t, size_t n, size_t k)
{
    return k + 1 < n && sep_bit(t[k]) &&
           (sg_is_digit(t[k + 1]) ||
            (t[k] == ' ' && t[k + 1] == '(' && k + 2 < n && sg_is_digit(t[k + 2])));
}

/* Reads the chunk at i; dig: the text's digit bitmap (struct scan.digits). */
static void read_chunk(const unsigned char *t, const uint64_t *dig, size_t n, size_t i,
                       struct chunk *c)
{
    c->start = i;
    c->end = i;
    c->ng = c->nd = 0;
    c->plus = c->trunk = c->toolong = false;
    c->seps = 0;
    size_t k = i;
    if (t[k] == '+') {
        c->plus = true;
        k++;
    }
    unsigned char sep = 0;
    for (;;) {
        size_t gs = k;
        bool paren = false;
        if (k < n && t[k] == '(') {
            paren = true;
            k++;
        }
        size_t ds = k;
        k = digits_end(dig, n, k, ds + 20);
        size_t de = k;
        if (de == ds)
            break;
        if (k < n && sg_is_digit(t[k])) {
            c->toolong = true; /* a run of more than 20 digits is no identifier we know */
            break;
        }
        if (paren) {
            if (k < n && t[k] == ')') {
                k++;
            } else if (c->ng == 0 && !c->plus) {
                paren = false; /* "(06 59 …)": the parenthesis encloses the number */
                c->start = ds;
            } else {
                break;
            }
        }
        if (c->ng == MAX_GROUPS || c->nd + (de - ds) >= sizeof(c->dig)) {
            c->toolong = true;
            break;
        }
        c->g[c->ng++] = (struct group){(uint32_t)ds, (uint32_t)de, sep, paren};
        memcpy(c->dig + c->nd, t + ds, de - ds);
        c->nd += (unsigned)(de - ds);
        if (paren) {
            c->seps |= SEP_PAREN;
            if (de - ds == 1 && t[ds] == '0')
                c->trunk = true;
        }
        c->end = k;
        (void)gs;
        if (paren && k < n && sg_is_digit(t[k])) {
            sep = ')'; /* "(0)30 123": the group after the parenthesis is glued to it */
            continue;
        }
        if (k + 1 >= n)
            break;
        unsigned bit = sep_bit(t[k]);
        size_t nx = k + 1;
        bool next = sg_is_digit(t[nx]) ||
                    (t[k] == ' ' && t[nx] == '(' && nx + 1 < n && sg_is_digit(t[nx + 1]));
        if (!bit || !next)
            break;
        /* an IPv4 address after a number (a status code, a port) starts a token of its own */
        if (t[k] != '.' && !(c->seps & SEP_DOT) && sg_is_digit(t[nx]) && ipv4_at(t, n, nx))
            break;
        sep = t[k];
        c->seps |= bit;
        k = nx;
    }
    c->dig[c->nd] = '\0';
    if (c->ng == 1 && c->g[0].paren) {
        /* "(976241255)": the parentheses enclose the number */
        c->start = c->g[0].s;
        c->end = c->g[0].e;
        c->g[0].paren = false;
        c->seps = 0;
        c->trunk = false;
    }
}

static bool valid_date(int d, int m, int y, int ymin, int ymax)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return y >= ymin && y <= ymax && m >= 1 && m <= 12 && d >= 1 && d <= mdays[m - 1];
}

static int group_val(const unsigned char *t, const struct group *g)
{
    int v = 0;
    for (uint32_t k = g->s; k < g->e && k - g->s < 9; k++)
        v = v * 10 + (t[k] - '0');
    return v;
}

/* dd.mm.yyyy, dd/mm/yyyy, dd-mm-yyyy, yyyy-mm-dd (also d.m.yyyy and the US mm/dd/yyyy) */
static bool chunk_is_date(const unsigned char *t, const struct chunk *c, bool *valid_dob)
{
    *valid_dob = false;
    if (c->ng != 3 || c->plus || (c->seps & (SEP_SPACE | SEP_PAREN)) || c->g[1].sep != c->g[2].sep)
        return false;
    unsigned l0 = c->g[0].e - c->g[0].s, l1 = c->g[1].e - c->g[1].s, l2 = c->g[2].e - c->g[2].s;
    int a = group_val(t, &c->g[0]), b = group_val(t, &c->g[1]), y = group_val(t, &c->g[2]);
    if (l0 <= 2 && l1 <= 2 && l2 == 4) {
        *valid_dob = valid_date(a, b, y, 1900, 2012) || valid_date(b, a, y, 1900, 2012);
        return true;
    }
    if (l0 == 4 && l1 <= 2 && l2 <= 2) {
        *valid_dob = valid_date(y, b, a, 1900, 2012);
        return true;
    }
    return false;
}

/* A birth context: a birth or age word shortly before the date, or "geboren"/"born" right
 * after it ("ich bin am 12.03.1985 geboren"). */
static bool birth_context(const unsigned char *t, size_t n, size_t a, size_t b)
{
    if (sg_ws_within(&ws_birth, t, a, 48))
        return true;
    size_t k = b;
    while (k < n && k - b < 3 && (t[k] == ' ' || t[k] == ','))
        k++;
    size_t e = k;
    while (e < n && e - k < 12 && (sg_is_alpha(t[e]) || t[e] == '.'))
        e++;
    return e > k && sg_ws_ends_at(&ws_birth_after, t, k, e) == e - k;
}

/* A textual date that ends with the year at [ys, ye): "12 mars 1985", "12. März 1985",
 * "12 de marzo de 1985", "March 12, 1985", "12 Mar 1985". Returns its start or ys. */
static size_t text_date_start(const unsigned char *t, size_t ys)
{
    size_t k = ys;
    if (k < 2 || t[k - 1] != ' ')
        return ys;
    k--;
    /* "March 12, 1985" */
    if (t[k - 1] == ',') {
        size_t d = k - 1;
        while (d > 0 && sg_is_digit(t[d - 1]) && k - 1 - d < 3)
            d--;
        if (d == k - 1 || k - 1 - d > 2 || d < 2 || t[d - 1] != ' ')
            return ys;
        size_t me = d - 1;
        size_t ml = sg_ws_ends_at(&ws_month, t, me > 12 ? me - 12 : 0, me);
        return ml ? me - ml : ys;
    }
    /* "... de 1985" */
    if (k >= 3 && t[k - 1] == 'e' && t[k - 2] == 'd' && t[k - 3] == ' ')
        k -= 3;
    size_t ml = sg_ws_ends_at(&ws_month, t, k > 12 ? k - 12 : 0, k);
    if (!ml)
        return ys;
    size_t ms = k - ml;
    if (ms < 2 || t[ms - 1] != ' ')
        return ys;
    k = ms - 1;
    if (k >= 3 && t[k - 1] == 'e' && t[k - 2] == 'd' && t[k - 3] == ' ')
        k -= 3;
    if (k > 0 && t[k - 1] == '.')
        k--;
    size_t d = k;
    while (d > 0 && sg_is_digit(t[d - 1]) && k - d < 3)
        d--;
    if (d == k || k - d > 2 || (d > 0 && sg_is_alnum(t[d - 1])))
        return ys;
    int day = 0;
    for (size_t q = d; q < k; q++)
        day = day * 10 + (t[q] - '0');
    return day >= 1 && day <= 31 ? d : ys;
}

static bool all_groups(const struct chunk *c, const unsigned *lens, unsigned n)
{
    if (c->ng != n)
        return false;
    for (unsigned i = 0; i < n; i++)
        if (c->g[i].e - c->g[i].s != lens[i])
            return false;
    return true;
}

static bool one_sep(const struct chunk *c)
{
    unsigned s = c->seps;
    return s && !(s & (s - 1));
}

/* The printed groups of a card: compact, or groups of four with a shorter or five-digit
 * last group (4-4-5 for 13 digits), or the 4-6-5 and 4-6-4 layouts of Amex and Diners;
 * spaces or dashes, one kind. */
static bool card_layout(const struct chunk *c)
{
    if (c->ng == 1)
        return true;
    if (c->plus || !(c->seps == SEP_SPACE || c->seps == SEP_DASH))
        return false;
    static const unsigned amex[] = {4, 6, 5}, diners[] = {4, 6, 4};
    if (all_groups(c, amex, 3) || all_groups(c, diners, 3))
        return true;
    for (unsigned i = 0; i + 1 < c->ng; i++)
        if (c->g[i].e - c->g[i].s != 4)
            return false;
    unsigned last = c->g[c->ng - 1].e - c->g[c->ng - 1].s;
    return last >= 1 && last <= 5;
}

/* The lengths each issuer uses (the networks' published ranges; the validator accepts the
 * wider ISO ranges, which would also take tracking and reference numbers). */
static bool card_issuer_length(const char *d, unsigned nd)
{
    int p2 = (d[0] - '0') * 10 + (d[1] - '0');
    int p4 = p2 * 100 + (d[2] - '0') * 10 + (d[3] - '0');
    if (d[0] == '4')
        return nd == 13 || nd == 16 || nd == 19;
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))
        return nd == 16;
    if (p2 == 34 || p2 == 37)
        return nd == 15;
    if ((p4 >= 3000 && p4 <= 3059) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39)
        return nd >= 14 && nd <= 19;
    if (p4 >= 3528 && p4 <= 3589)
        return nd >= 16 && nd <= 19;
    if (p4 == 6011 || (p4 >= 6440 && p4 <= 6499) || p2 == 65 || p2 == 62 ||
        (p4 >= 2200 && p4 <= 2204))
        return nd >= 16 && nd <= 19;
    return nd == 12 || nd == 13 || nd == 16 || nd == 18 || nd == 19; /* Maestro */
}

/* The head of an IBAN in groups right before ("DE50 ", "NL37 RABO "): the digits are the
 * rest of an IBAN (a wrong one, or the right one is found as a whole and wins). */
static bool after_iban_head(const unsigned char *t, size_t a)
{
    size_t k = a;
    for (int groups = 0; groups < 8; groups++) {
        if (k < 5 || t[k - 1] != ' ')
            return false;
        size_t g = k - 1;
        size_t s = g;
        while (s > 0 && g - s < 5 && (sg_is_upper(t[s - 1]) || sg_is_digit(t[s - 1])))
            s--;
        if (g - s != 4 || (s > 0 && sg_is_alnum(t[s - 1]) && t[s - 1] != ' '))
            return false;
        if (sg_is_upper(t[s]) && sg_is_upper(t[s + 1]) && sg_is_digit(t[s + 2]) &&
            sg_is_digit(t[s + 3]))
            return true;
        k = s;
    }
    return false;
}

/* Country calling codes (ITU-T E.164): the length of the code at the start of d, 0 when
 * none is assigned there. */
static unsigned calling_code_len(const char *d)
{
    if (d[0] == '1' || d[0] == '7')
        return 1;
    static const char two[] = "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 "
                              "54 55 56 57 58 60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 "
                              "95 98";
    static const char three[] = "21 22 23 24 25 26 29 35 37 38 42 50 59 67 68 69 80 85 87 88 96 "
                                "97 99";
    for (size_t i = 0; i + 1 < sizeof(two); i += 3)
        if (two[i] == d[0] && two[i + 1] == d[1])
            return 2;
    for (size_t i = 0; i + 1 < sizeof(three); i += 3)
        if (three[i] == d[0] && three[i + 1] == d[1])
            return sg_is_digit((unsigned char)d[2]) ? 3 : 0;
    return 0;
}

/* A reference word right before a number: "Art.-Nr. 4021-337-19", "SKU: 0815 4711 23",
 * "RCS Paris 123 456 789" (one capitalized word may stand between). */
static bool ref_before(const unsigned char *t, size_t a)
{
    size_t k = a;
    while (k > 0 && a - k < 4 && (t[k - 1] == ' ' || t[k - 1] == ':' || t[k - 1] == '#'))
        k--;
    size_t lo = k > 32 ? k - 32 : 0;
    if (k < a && sg_ws_ends_at(&ws_ref, t, lo, k))
        return true;
    /* "RCS Paris 123 …", "REA MI-…": skip one word */
    size_t w = k;
    while (w > 0 && k - w < 20 && sg_is_alpha(t[w - 1]))
        w--;
    if (w == k || w == 0 || t[w - 1] != ' ')
        return false;
    return sg_ws_ends_at(&ws_ref, t, lo, w - 1) > 0;
}

/* A phone word before the number on its line ("Tel. 030 …", "call me on …"), or on the
 * line above when that line is a label ("Phone:\n…"). */
static bool phone_label(const unsigned char *t, size_t a)
{
    size_t lo = line_lo(t, a, 28);
    if (lo == a && a >= 2 && t[a - 1] == '\n') {
        size_t e = a - 1;
        while (e > 0 && (t[e - 1] == ' ' || t[e - 1] == '\r'))
            e--;
        if (e == 0 || t[e - 1] != ':')
            return false;
        lo = line_lo(t, e, 28);
    }
    return sg_ws_within(&ws_phone, t, a, a - lo);
}

static bool phone_shape(const struct chunk *c, bool phone_ctx)
{
    const char *d = c->dig;
    unsigned nd = c->nd;
    if (nd < 7 || nd > 17)
        return false;
    bool intl = c->plus || (d[0] == '0' && d[1] == '0' && d[2] != '0');
    if (intl) {
        const char *cc = d + (c->plus ? 0 : 2);
        unsigned ccl = calling_code_len(cc);
        if (!ccl)
            return false;
        unsigned nsn = nd - (c->plus ? 0 : 2) - ccl - (c->trunk ? 1 : 0);
        if (cc[0] == '1')
            return nsn == 10;
        return nsn >= 6 && nsn <= 12;
    }
    if (c->trunk)
        return false;
    if (d[0] == '0')
        return (nd >= 9 && nd <= 12 && c->ng >= 2) || (nd >= 10 && nd <= 11);
    static const unsigned us[] = {3, 3, 4}, us1[] = {1, 3, 3, 4}, it[] = {3, 7}, it2[] = {3, 4, 3},
                          es3[] = {3, 3, 3}, es4[] = {3, 2, 2, 2};
    if (nd == 10 && d[0] >= '2' && all_groups(c, us, 3) &&
        (one_sep(c) || (c->seps == (SEP_PAREN | SEP_DASH) && c->g[0].paren) ||
         (c->seps == (SEP_PAREN | SEP_SPACE | SEP_DASH) && c->g[0].paren)))
        return true;
    if (nd == 11 && d[0] == '1' && all_groups(c, us1, 4) && one_sep(c))
        return true;
    if (nd == 10 && d[0] == '3' && (all_groups(c, it, 2) || all_groups(c, it2, 3)) &&
        c->seps == SEP_SPACE)
        return true;
    if (nd == 9 && d[0] >= '6' &&
        (c->ng == 1 || ((all_groups(c, es3, 3) || all_groups(c, es4, 4)) && c->seps == SEP_SPACE)))
        return true;
    return phone_ctx && nd >= 7 && nd <= 13 && c->ng >= 2;
}

static int add_dob(struct scan *s, size_t a, size_t b)
{
    return sg_scan_add(s, a, b, SG_ENT_DATE_OF_BIRTH);
}

static int classify_chunk(struct scan *s, const struct chunk *c)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    const char *p = (const char *)t + c->start;
    size_t len = c->end - c->start;
    const char *dig = c->dig;
    unsigned nd = c->nd;
    bool plain = !c->plus && !(c->seps & SEP_PAREN);

    /* Most numbers are quantities, prices and short references: fewer than seven digits in
     * one or two groups are none of the shapes below (dates have three groups, IPv4
     * addresses four, a year is four digits alone; the rest need seven digits or more). */
    if (nd < 7 && c->ng < 3 && !(c->ng == 1 && nd == 4))
        return 0;
    /* IPv4 addresses (not software versions) */
    if (c->ng == 4 && c->seps == SEP_DOT && !c->plus) {
        if (sg_validate_ipv4(p, len) && !ctx_line(&ws_version, t, c->start, 28))
            return sg_scan_add(s, c->start, c->end, SG_ENT_IP);
        return 0;
    }
    if (c->seps == SEP_DOT && c->ng > 4 && !(c->nd == 10 && dig[0] == '0'))
        return 0; /* a long version number; "04.19.69.40.92" is a French phone */
    /* dates: only in a birth context are they personal data */
    bool dob;
    if (chunk_is_date(t, c, &dob)) {
        if (dob && birth_context(t, n, c->start, c->end))
            return add_dob(s, c->start, c->end);
        return 0;
    }
    /* a year after a day and a month name: "12 mars 1985" */
    if (c->ng == 1 && nd == 4 && plain) {
        int y = atoi(dig);
        if (y >= 1900 && y <= 2012) {
            size_t ds = text_date_start(t, c->start);
            if (ds < c->start && birth_context(t, n, ds, c->end))
                return add_dob(s, ds, c->end);
        }
        return 0;
    }
    /* payment cards */
    if (nd >= 13 && nd <= 19 && plain && card_layout(c) && !after_iban_head(t, c->start) &&
        card_issuer_length(dig, nd) && sg_validate_card(dig, nd))
        return sg_scan_add(s, c->start, c->end, SG_ENT_CARD);
    /* national IDs with their own checksums or formats */
    if (nd == 9 && plain) {
        static const unsigned ssn[] = {3, 2, 4};
        bool shaped = all_groups(c, ssn, 3) && one_sep(c) && !(c->seps & (SEP_DOT | SEP_SLASH));
        if ((shaped || ctx_line(&ws_ssn, t, c->start, 40)) && sg_validate_us_ssn(p, len))
            return sg_scan_add(s, c->start, c->end, SG_ENT_NATIONAL_ID);
        if (c->ng == 1 && ctx_line(&ws_bsn, t, c->start, 48) && sg_validate_nl_bsn(p, len))
            return sg_scan_add(s, c->start, c->end, SG_ENT_NATIONAL_ID);
    }
    if (nd == 11 && plain && dig[0] != '0') {
        static const unsigned g2333[] = {2, 3, 3, 3}, g3332[] = {3, 3, 3, 2};
        bool spaced = (all_groups(c, g2333, 4) || all_groups(c, g3332, 4)) && c->seps == SEP_SPACE;
        if ((spaced || (c->ng == 1 && ctx_line(&ws_steuer, t, c->start, 64))) &&
            sg_validate_de_steuerid(p, len))
            return sg_scan_add(s, c->start, c->end, SG_ENT_NATIONAL_ID);
    }
    if (nd == 15 && plain && (c->ng == 1 || c->seps == SEP_SPACE) && sg_validate_fr_nir(p, len))
        return sg_scan_add(s, c->start, c->end, SG_ENT_NATIONAL_ID);
    /* phone numbers */
    if (c->start > 0 && t[c->start - 1] == '#')
        return 0; /* "#0123 456" is a reference */
    static const unsigned zip4[] = {5, 4};
    if (all_groups(c, zip4, 2) && c->seps == SEP_DASH)
        return 0; /* a US ZIP+4 code */
    /* the context is only needed for shapes no numbering plan vouches for */
    if (!phone_shape(c, false) && !(c->nd >= 7 && c->nd <= 13 && c->ng >= 2 &&
                                    phone_label(t, c->start) && phone_shape(c, true)))
        return 0;
    bool intl = c->plus || (dig[0] == '0' && dig[1] == '0');
    if (after_iban_head(t, c->start) || (!intl && ref_before(t, c->start)))
        return 0;
    return sg_scan_add(s, c->start, c->end, SG_ENT_PHONE);
}

/* A DNI: eight digits and the control letter (optionally after a space or dash). */
static int try_dni(struct scan *s, const struct chunk *c)
{
    const unsigned char *t = s->t;
    size_t e = c->end;
    if (c->nd != 8 || c->ng != 1 || c->plus || c->start != c->g[0].s)
        return 0;
    size_t k = e;
    if (k < s->n && (t[k] == '-' || t[k] == ' '))
        k++;
    if (k < s->n && sg_is_upper(t[k]) && (k + 1 >= s->n || !sg_is_alnum(t[k + 1])) &&
        sg_validate_es_dni((const char *)t + c->start, k + 1 - c->start))
        return sg_scan_add(s, c->start, k + 1, SG_ENT_NATIONAL_ID);
    return 0;
}

/* One to three digits at i that end a number: the decimals after a comma. A longer run, or
 * one that goes on with a dot, is the next field of a CSV line. */
static bool decimals_at(const unsigned char *t, size_t n, size_t i)
{
    size_t k = i;
    while (k < n && sg_is_digit(t[k]) && k - i < 4)
        k++;
    if (k == i || k - i > 3)
        return false;
    return !(k + 1 < n && (t[k] == '.' || t[k] == ',') && sg_is_digit(t[k + 1]));
}

/* Whether a chunk continues into a longer token: letters after it, or a separator and a
 * letter or digit ("12-II", "2024/0211a", "12,99", an e-mail's local part). */
static bool glued_after(const unsigned char *t, size_t n, size_t e)
{
    if (e >= n)
        return false;
    unsigned char c = t[e];
    if (sg_is_alpha(c) || c == '_' || c == '@')
        return true;
    if ((c == '-' || c == '/' || c == '.') && e + 1 < n && sg_is_alnum(t[e + 1]))
        return true;
    if (c == ',')
        return decimals_at(t, n, e + 1);                   /* "12,99"; a CSV comma is no glue */
    return c == ':' && e + 1 < n && sg_is_digit(t[e + 1]); /* "10:30" */
}

static bool number_start(const unsigned char *t, size_t n, size_t i)
{
    unsigned char ch = t[i];
    if (!(sg_is_digit(ch) || ((ch == '+' || ch == '(') && i + 1 < n && sg_is_digit(t[i + 1]))))
        return false;
    if (i == 0)
        return true;
    unsigned char pc = t[i - 1];
    if (pc == ':' && i >= 2 && sg_is_digit(t[i - 2]))
        return false; /* the minutes of a time */
    if (pc == ',' && i >= 2 && sg_is_digit(t[i - 2]) && decimals_at(t, n, i))
        return false; /* the decimals of a price: "12,99", "0,5" */
    return !(sg_is_alnum(pc) || pc == '.' || pc == '_' || pc == '/' || pc == '-' || pc == '+' ||
             pc == '@' || pc == '\\' || pc == '%');
}

static int scan_numbers(struct scan *s)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    size_t i = 0;
    struct chunk c;
    while (i < n) {
        /* jump to the next digit; a '+' or '(' before it is looked at from there */
        i = sg_bm_next(s->digits, i, n);
        if (i >= n)
            break;
        size_t st = i;
        if (st > 0 && (t[st - 1] == '+' || t[st - 1] == '(')) {
            st--;
            if (st > 0 && t[st] == '(' && t[st - 1] == '+')
                st = i; /* "+(" is nothing we read */
        }
        if (!number_start(t, n, st)) {
            if (st != i && number_start(t, n, i))
                st = i;
            else {
                i = ident_end(t, n, i, true); /* the rest of an identifier, a version, a price */
                continue;
            }
        }
        if (st == i) {
            /* Most numbers are short: quantities, prices, references ("2", "12,99", "4.5",
             * "10-12", "250 g"). A run of one or two digit groups with fewer than seven
             * digits in all, not a year of 1900-2012 alone, with no further group after
             * it, is a chunk that classify_chunk turns down at once (see its first test,
             * and the year case) and try_dni too (one group of eight digits), so the code
             * below would only move on to the chunk's end and over the token glued to it:
             * do that here without building the chunk. The groups are read as read_chunk
             * reads them (the same separators). Where read_chunk would end the chunk at
             * an IPv4 address after the first group, that address's dot is a group after
             * the second: passed to read_chunk too. */
            size_t de = digits_end(s->digits, n, i, i + 7);
            size_t nd = de - i;
            bool skip = false;
            if (nd < 7 && !group_follows(t, n, de)) {
                int y = nd == 4 ? (t[i] - '0') * 1000 + (t[i + 1] - '0') * 100 +
                                      (t[i + 2] - '0') * 10 + (t[i + 3] - '0')
                                : 0;
                skip = y < 1900 || y > 2012;
            } else if (nd < 6 && group_follows(t, n, de) && sg_is_digit(t[de + 1])) {
                size_t e2 = digits_end(s->digits, n, de + 1, de + 8);
                if (nd + (e2 - de - 1) < 7 && !group_follows(t, n, e2)) {
                    skip = true;
                    de = e2;
                }
            }
            if (skip) {
                i = ident_end(t, n, de, false);
                continue;
            }
        }
        read_chunk(t, s->digits, n, st, &c);
        if (c.nd == 0) {
            i++;
            continue;
        }
        int rc = 0;
        if (!c.toolong) {
            bool port = c.ng == 4 && c.seps == SEP_DOT && c.end < n && t[c.end] == ':';
            if (glued_after(t, n, c.end) && !port)
                rc = try_dni(s, &c);
            else {
                rc = classify_chunk(s, &c);
                if (!rc && c.nd == 8)
                    rc = try_dni(s, &c);
            }
        }
        if (rc)
            return rc;
        i = c.end > i ? c.end : i + 1;
        /* skip the rest of a token glued to the chunk */
        i = ident_end(t, n, i, false);
    }
    return 0;
}

/* ---- letter-led identifiers ---- */

static size_t try_prefix_key(const unsigned char *t, size_t n, size_t i); /* secrets */

static size_t alnum_run(const unsigned char *t, size_t n, size_t i, size_t max)
{
    size_t k = i;
    while (k < n && k - i < max && (sg_is_upper(t[k]) || sg_is_digit(t[k])))
        k++;
    return k - i;
}

/* IBAN: two letters, two check digits, then the BBAN, compact or in groups of four. The
 * span ends where a valid IBAN ends (the country's length). */
static size_t try_iban(const unsigned char *t, size_t n, size_t i)
{
    if (i + 15 > n || !sg_is_digit(t[i + 2]) || !sg_is_digit(t[i + 3]))
        return 0;
    size_t k = i, chars = 0, best = 0;
    bool spaced = false;
    while (k < n && chars < 34) {
        if (sg_is_upper(t[k]) || sg_is_digit(t[k]) || (sg_is_lower(t[k]) && chars >= 4)) {
            chars++;
            k++;
            if (chars >= 15 && (k >= n || !sg_is_alnum(t[k])) &&
                sg_validate_iban((const char *)t + i, k - i))
                best = k;
            continue;
        }
        if (t[k] == ' ' && k + 1 < n && sg_is_alnum(t[k + 1]) && chars % 4 == 0 &&
            (spaced || chars == 4)) {
            spaced = true;
            k++;
            continue;
        }
        break;
    }
    return best > i ? best - i : 0;
}

/* The VAT prefixes (EU, EL for Greece and its GR, XI, GB) as a 26 x 26 bitmap. */
static bool vat_prefix(unsigned char a, unsigned char b)
{
    static const uint32_t rows[26] = {
        /* one row per first letter */
        ['A' - 'A'] = 1u << ('T' - 'A'),
        ['B' - 'A'] = (1u << ('E' - 'A')) | (1u << ('G' - 'A')),
        ['C' - 'A'] = (1u << ('Y' - 'A')) | (1u << ('Z' - 'A')),
        ['D' - 'A'] = (1u << ('E' - 'A')) | (1u << ('K' - 'A')),
        ['E' - 'A'] = (1u << ('E' - 'A')) | (1u << ('L' - 'A')) | (1u << ('S' - 'A')),
        ['F' - 'A'] = (1u << ('I' - 'A')) | (1u << ('R' - 'A')),
        ['G' - 'A'] = (1u << ('R' - 'A')) | (1u << ('B' - 'A')),
        ['H' - 'A'] = (1u << ('R' - 'A')) | (1u << ('U' - 'A')),
        ['I' - 'A'] = (1u << ('E' - 'A')) | (1u << ('T' - 'A')),
        ['L' - 'A'] = (1u << ('T' - 'A')) | (1u << ('U' - 'A')) | (1u << ('V' - 'A')),
        ['M' - 'A'] = 1u << ('T' - 'A'),
        ['N' - 'A'] = 1u << ('L' - 'A'),
        ['P' - 'A'] = (1u << ('L' - 'A')) | (1u << ('T' - 'A')),
        ['R' - 'A'] = 1u << ('O' - 'A'),
        ['S' - 'A'] = (1u << ('E' - 'A')) | (1u << ('I' - 'A')) | (1u << ('K' - 'A')),
        ['X' - 'A'] = 1u << ('I' - 'A'),
    };
    return sg_is_upper(a) && sg_is_upper(b) && (rows[a - 'A'] >> (b - 'A') & 1u);
}

static size_t try_vat(const unsigned char *t, size_t n, size_t i)
{
    if (i + 10 > n || !vat_prefix(t[i], t[i + 1]))
        return 0;
    /* prefix, an optional space, then up to 14 characters with single separators */
    size_t k = i + 2;
    if (k < n && t[k] == ' ')
        k++;
    size_t best = 0, chars = 0;
    while (k < n && chars < 14) {
        if (sg_is_upper(t[k]) || sg_is_digit(t[k])) {
            k++;
            chars++;
            if (chars >= 8 && (k >= n || !sg_is_alnum(t[k])) &&
                sg_validate_eu_vat((const char *)t + i, k - i))
                best = k;
            continue;
        }
        if ((t[k] == ' ' || t[k] == '.' || t[k] == '-') && k + 1 < n && sg_is_alnum(t[k + 1])) {
            k++;
            continue;
        }
        break;
    }
    /* more digit groups after it: a longer number (an IBAN with a wrong check) */
    if (best && best + 1 < n && t[best] == ' ' && sg_is_digit(t[best + 1]))
        return 0;
    return best > i ? best - i : 0;
}

/* NINO: two letters, six digits (optionally in pairs), a suffix A-D. */
static size_t try_nino(const unsigned char *t, size_t n, size_t i)
{
    if (i + 9 > n || !sg_is_digit(t[i + 2] == ' ' ? t[i + 3] : t[i + 2]))
        return 0;
    size_t k = i, o = 0;
    while (k < n && o < 9 && k - i < 14) {
        if (sg_is_upper(t[k]) || sg_is_digit(t[k]))
            o++;
        else if (t[k] != ' ')
            break;
        k++;
    }
    while (k > i && t[k - 1] == ' ')
        k--;
    if (o != 9 || (k < n && sg_is_alnum(t[k])))
        return 0;
    return sg_validate_uk_nino((const char *)t + i, k - i) ? k - i : 0;
}

/* NIE: X, Y or Z, seven digits, the control letter (single dashes or spaces allowed). */
static size_t try_nie(const unsigned char *t, size_t n, size_t i)
{
    if (t[i] != 'X' && t[i] != 'Y' && t[i] != 'Z')
        return 0;
    size_t k = i + 1;
    if (k < n && (t[k] == '-' || t[k] == ' '))
        k++;
    size_t d = k;
    while (k < n && sg_is_digit(t[k]) && k - d < 8)
        k++;
    if (k - d != 7)
        return 0;
    if (k < n && (t[k] == '-' || t[k] == ' '))
        k++;
    if (k < n && sg_is_upper(t[k]) && (k + 1 >= n || !sg_is_alnum(t[k + 1])) &&
        sg_validate_es_nie((const char *)t + i, k + 1 - i))
        return k + 1 - i;
    return 0;
}

static int scan_letter_ids(struct scan *s)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    /* every form starts with a capital at a token start and a capital (IBAN, VAT, NINO,
     * codice fiscale) or a digit, dash or space (NIE) after it: one table test per byte
     * pair, so the loop only branches at those */
    static const unsigned char second[256] = {
        ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
        ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
        ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
        ['Y'] = 1, ['Z'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
        ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['-'] = 1, [' '] = 1};
    size_t done = 0;
    /* the pair starts that hold a capital: the token starts with such a second byte */
    for (size_t q = 0; q < s->nupairs; q++) {
        size_t i = s->upairs[q];
        if (i + 8 >= n)
            break;
        if (i < done || !((sg_ccls[t[i]] & C_UPPER) && second[t[i + 1]]))
            continue;
        size_t m = 0;
        unsigned type = SG_ENT_NATIONAL_ID;
        if (t[i] == 'A' && (t[i + 1] == 'K' || t[i + 1] == 'S' || t[i + 1] == 'I') &&
            (m = try_prefix_key(t, n, i))) {
            type = SG_ENT_SECRET; /* AWS access key ids, Google API keys */
        } else if (sg_is_upper(t[i + 1])) {
            if ((m = try_iban(t, n, i)))
                type = SG_ENT_IBAN;
            else if ((m = try_vat(t, n, i)))
                type = SG_ENT_VAT_ID;
            else if ((m = try_nino(t, n, i)))
                type = SG_ENT_NATIONAL_ID;
            else if (alnum_run(t, n, i, 17) == 16 && sg_validate_it_cf((const char *)t + i, 16))
                m = 16;
        } else {
            m = try_nie(t, n, i);
        }
        if (m) {
            int rc = sg_scan_add(s, i, i + m, type);
            if (rc)
                return rc;
            done = i + m;
        }
    }
    return 0;
}

/* ---- secrets ---- */

static bool tokc(unsigned char c)
{
    return sg_is_alnum(c) || c == '-' || c == '_';
}

static size_t token_len(const unsigned char *t, size_t n, size_t i, size_t max)
{
    size_t k = i;
    while (k < n && k - i < max && tokc(t[k]) && t[k] < 0x80)
        k++;
    return k - i;
}

struct secret_prefix {
    const char *prefix;
    size_t len;      /* of the prefix */
    size_t min, max; /* length of the whole token, prefix included */
};

/* Provider keys, as their issuers print them. */
#define P(s) s, sizeof(s) - 1
static const struct secret_prefix secret_prefixes[] = {
    {P("sk-ant-"), 40, 256},     {P("sk-proj-"), 40, 256}, {P("sk-"), 32, 256},
    {P("sk_live_"), 24, 256},    {P("rk_live_"), 24, 256}, {P("sk_test_"), 24, 256},
    {P("rk_test_"), 24, 256},    {P("ghp_"), 40, 40},      {P("gho_"), 40, 40},
    {P("ghu_"), 40, 40},         {P("ghs_"), 40, 40},      {P("ghr_"), 40, 40},
    {P("github_pat_"), 50, 120}, {P("glpat-"), 26, 64},    {P("xoxb-"), 30, 120},
    {P("xoxp-"), 30, 120},       {P("xoxa-"), 30, 120},    {P("xoxr-"), 30, 120},
    {P("hf_"), 34, 64},          {P("AKIA"), 20, 20},      {P("ASIA"), 20, 20},
    {P("AIza"), 39, 39},         {NULL, 0, 0, 0}};
#undef P

/* Bytes scan_secrets stops at: '-' and '_' inside a provider key's prefix, the ':', '='
 * and ',' after a key, the 'w' of "passwort"/"password". Letters that start keys would be
 * far too frequent. */
static const unsigned char secret_trigger[256] = {
    ['-'] = 1, ['_'] = 1, [':'] = 2, ['='] = 2, [','] = 2, ['w'] = 3, ['W'] = 3};

static bool value_stop(unsigned char c)
{
    return sg_is_space(c) || c == '"' || c == '\'' || c == '\\';
}

/* Where the token that ends at i starts, looking back at most 11 bytes: the k <= i with
 * tokc bytes in [k, i) and, unless k is i - 11 or 0, no tokc byte at k - 1. The 16 bytes
 * before i at once where there are 16 (every '-' and '_' of the text is looked back from). */
static inline size_t tok_back(const unsigned char *t, size_t i)
{
#if defined(__SSE2__)
    if (i >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(t + i - 16));
        __m128i m = _mm_or_si128(_mm_or_si128(in_range(x, '0', '9'), in_range(x, 'A', 'Z')),
                                 _mm_or_si128(in_range(x, 'a', 'z'),
                                              _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('-')),
                                                           _mm_cmpeq_epi8(x, _mm_set1_epi8('_')))));
        /* the bytes that are no tokc (movemask(x): the bytes >= 0x80 are), among the last
         * 11 (bits 5..15: t[i - 11] .. t[i - 1]) */
        unsigned stop =
            ~((unsigned)_mm_movemask_epi8(m) | (unsigned)_mm_movemask_epi8(x)) & 0xFFE0u;
        if (!stop)
            return i - 11;
        return i - 16 + (size_t)(31 - __builtin_clz(stop)) + 1;
    }
#endif
    size_t k = i;
    while (k > 0 && i - k < 11 && tokc(t[k - 1]))
        k--;
    return k;
}

/* The value after a key's ':' or '=' (or "', '" of a PHP define) at `i`: quoted, up to
 * its closing quote, or unquoted, up to the next white space or quote. */
static size_t keyed_value(const unsigned char *t, size_t n, size_t i, size_t *vstart)
{
    size_t k = i + 1;
    while (k < n && k - i < 4 && t[k] == ' ')
        k++;
    unsigned char quote = 0;
    if (k < n && (t[k] == '"' || t[k] == '\'')) {
        quote = t[k];
        k++;
    } else if (k + 1 < n && t[k] == '\\' && t[k + 1] == '"') {
        quote = '\\';
        k += 2;
    }
    size_t v = k;
    if (quote == '\\') {
        while (k < n && k - v < 256 && t[k] != '\\' && t[k] != '\n')
            k++;
    } else if (quote) {
        while (k < n && k - v < 256 && t[k] != quote && t[k] != '\n')
            k++;
        if (k >= n || t[k] != quote)
            return 0;
    } else {
        while (k < n && k - v < 256 && !value_stop(t[k]))
            k++;
    }
    size_t l = k - v;
    if (l < 4 || (l == 4 && memcmp(t + v, "null", 4) == 0))
        return 0;
    bool masked = true;
    for (size_t q = v; q < k && masked; q++)
        masked = t[q] == '*' || t[q] == 'x' || t[q] == '.';
    if (masked)
        return 0;
    *vstart = v;
    return l;
}

/* Whether a password-like key ends just before the separator at `i` ("password: ",
 * "DB_PASSWORD=", "\"password\": ", "mot de passe : ", "define( 'DB_PASSWORD', "). */
static bool key_before(const unsigned char *t, size_t i, unsigned char sep)
{
    size_t j = i;
    while (j > 0 && i - j < 3 && t[j - 1] == ' ')
        j--;
    if (j > 0 && (t[j - 1] == '"' || t[j - 1] == '\'')) {
        j--;
        if (j > 0 && t[j - 1] == '\\')
            j--;
    } else if (sep == ',') {
        return false;
    }
    if (j == 0 || !sg_is_alpha(t[j - 1]))
        return false;
    size_t lo = j > 40 ? j - 40 : 0;
    size_t l = sg_ws_ends_at(&ws_pw, t, lo, j);
    return l > 0;
}

/* "Passwort Soleil904$": the word and a value with a digit or symbol in it. */
static size_t bare_password(const unsigned char *t, size_t n, size_t i, size_t *vstart)
{
    static const char *const words[] = {"passwort ", "password ", NULL};
    for (const char *const *w = words; *w; w++) {
        if (n - i < 12)
            return 0;
        size_t k = 0;
        while (k < 9 && sg_fold_at(t, i + k) == (unsigned char)(*w)[k])
            k++;
        if (k < 9)
            continue;
        size_t v = i + 9, e = v;
        bool digit = false;
        while (e < n && e - v < 128 && !value_stop(t[e])) {
            digit |= sg_is_digit(t[e]);
            e++;
        }
        /* a word after it ("Passwort vergessen?") is prose: a password has a digit */
        if (e - v >= 6 && digit && sg_is_alnum(t[v])) {
            *vstart = v;
            return e - v;
        }
    }
    return 0;
}

/* The first occurrence of s (sl bytes) at or after `from`, or n: memchr on its first byte
 * (which reads only up to what it finds, also where a sanitizer checks the range). */
static size_t find_str(const unsigned char *t, size_t n, size_t from, const char *s, size_t sl)
{
    while (from + sl <= n) {
        /* the first two bytes (sl >= 2), then the rest: the same first match */
        size_t k = find_pair(t, n, from, (unsigned char)s[0], (unsigned char)s[1]);
        if (k + sl > n)
            return n;
        if (memcmp(t + k, s, sl) == 0)
            return k;
        from = k + 1;
    }
    return n;
}

/* The next "-----END " at or after a position, remembered: the PEM blocks come in order,
 * so the text is searched once however many "-----BEGIN" lines it holds. */
struct pem_track {
    size_t end; /* the last "-----END " found, n for none after `from` */
    size_t from;
};

static size_t try_pem_at(const unsigned char *t, size_t n, size_t i, struct pem_track *pt)
{
    if (n - i <= 30 || memcmp(t + i, "-----BEGIN ", 11) != 0)
        return 0;
    /* the header line ends at a line break, or at the backslash of a "\n" escape (a key
     * inside a JSON string, as in tool-call arguments) */
    size_t hl = 0;
    for (size_t k = i + 11, e = n - i - 11 < 80 ? n : i + 91; k < e && !hl; k++)
        if (t[k] == '\n' || t[k] == '\\')
            hl = k - i;
    static const char kw[] = "PRIVATE KEY-----";
    if (!hl || !memmem(t + i, hl, kw, sizeof(kw) - 1))
        return 0;
    size_t from = i + hl;
    if (pt->end < from || pt->end == (size_t)-1) {
        if (pt->end == n && pt->from <= from)
            return 0; /* none after an earlier position, so none after this one */
        pt->end = find_str(t, n, from, "-----END ", 9);
        pt->from = from;
    }
    /* the key body is at most a few KB */
    if (pt->end >= n || pt->end - from > 16384)
        return 0;
    size_t rest = n - pt->end - 9;
    const unsigned char *close = memmem(t + pt->end + 9, rest < 80 ? rest : 80, "-----", 5);
    return close ? (size_t)(close + 5 - (t + i)) : 0;
}

static size_t try_jwt(const unsigned char *t, size_t n, size_t i)
{
    if (n - i <= 20 || t[i + 1] != 'y' || t[i + 2] != 'J')
        return 0;
    size_t a = token_len(t, n, i, 4096);
    if (a < 10 || i + a >= n || t[i + a] != '.')
        return 0;
    size_t b = token_len(t, n, i + a + 1, 8192);
    if (b < 4 || i + a + 1 + b >= n || t[i + a + 1 + b] != '.')
        return 0;
    size_t c3 = token_len(t, n, i + a + b + 2, 4096);
    return c3 >= 10 ? a + b + c3 + 2 : 0;
}

/* Whether two bytes start one of secret_prefixes (keep the two in step). */
static bool prefix_head(unsigned char a, unsigned char b)
{
    switch (a) {
    case 's':
    case 'r':
        return b == 'k';
    case 'g':
        return b == 'h' || b == 'i' || b == 'l';
    case 'x':
        return b == 'o';
    case 'h':
        return b == 'f';
    case 'A':
        return b == 'K' || b == 'S' || b == 'I';
    default:
        return false;
    }
}

static size_t try_prefix_key(const unsigned char *t, size_t n, size_t i)
{
    if (n - i < 20 || !prefix_head(t[i], t[i + 1]))
        return 0;
    for (const struct secret_prefix *p = secret_prefixes; p->prefix; p++) {
        if (t[i] != (unsigned char)p->prefix[0] || t[i + 1] != (unsigned char)p->prefix[1] ||
            n - i < p->min || memcmp(t + i, p->prefix, p->len) != 0)
            continue;
        size_t len = token_len(t, n, i, 512);
        return len >= p->min && len <= p->max ? len : 0;
    }
    return 0;
}

/* Tokens found by a distinctive substring: PEM blocks ("-----BEGIN ", found by its "-B")
 * and JWTs ("eyJ", found by its "yJ"), the pairs classify marks (keep the two in step). */
static int scan_marked(struct scan *s, const char *mark, size_t ml, size_t key)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    struct pem_track pt = {(size_t)-1, 0};
    size_t i = key;
    while (i < n) {
        /* the next key byte after the byte before it (key >= 1), from the bitmap of both
         * marks' (struct scan.marks: the 'B' of "-B", the 'J' of "yJ"), passing over the
         * other mark's: a key byte after another byte fails the memcmp below */
        size_t k = sg_bm_next(s->marks, i, n);
        while (k < n && t[k] != (unsigned char)mark[key])
            k = sg_bm_next(s->marks, k + 1, n);
        if (k >= n)
            break;
        i = k + 1;
        size_t st = k - key;
        if (k < key || st + ml > n || memcmp(t + st, mark, ml) != 0 || (st > 0 && tokc(t[st - 1])))
            continue;
        size_t m = mark[0] == '-' ? try_pem_at(t, n, st, &pt) : try_jwt(t, n, st);
        if (m) {
            int rc = sg_scan_add(s, st, st + m, SG_ENT_SECRET);
            if (rc)
                return rc;
            i = st + m;
        }
    }
    return 0;
}

static int scan_secrets(struct scan *s)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    int rc = scan_marked(s, "-----BEGIN ", 11, 5);
    rc = rc ? rc : scan_marked(s, "eyJ", 3, 2);
    size_t last_tok = (size_t)-1; /* the token start last tried as a key */
    for (size_t i = 1; i < n && !rc; i++) {
        /* the next byte scan_secrets looks at (classify: '-', '_', ':', '=', a ',' after a
         * quote, a 'w' or 'W' after an 's' or 'S', the "sw" of "passwort"; the many commas
         * and w's of prose are not stopped at) */
        i = sg_bm_next(s->strig, i, n);
        if (i >= n)
            break;
        unsigned char c = t[i];
        unsigned kind = secret_trigger[c];
        size_t m = 0, ms = 0, vs = 0, vl = 0;
        if (kind == 1) {
            /* "sk-", "ghp_", "xoxb-": the token's start is a few bytes back */
            size_t k = tok_back(t, i);
            if (k == i || i - k >= 11 || k == last_tok || (k > 0 && tokc(t[k - 1])))
                continue;
            last_tok = k;
            if ((m = try_prefix_key(t, n, k)))
                ms = k;
        } else if (kind == 2) {
            /* a value after a password-like key */
            if (c == ',' && t[i - 1] != '\'' && t[i - 1] != '"')
                continue;
            if (key_before(t, i, c))
                vl = keyed_value(t, n, i, &vs);
        } else if (i >= 4 && (i == 4 || !tokc(t[i - 5]))) {
            vl = bare_password(t, n, i - 4, &vs); /* the 'w' of "passwort " */
        }
        if (m) {
            rc = sg_scan_add(s, ms, ms + m, SG_ENT_SECRET);
            i = ms + m - 1;
        } else if (vl) {
            rc = sg_scan_add(s, vs, vs + vl, SG_ENT_SECRET);
            i = vs + vl - 1;
        }
    }
    return rc;
}

/* ---- IPv6 ---- */

static bool ip6c(unsigned char c)
{
    return sg_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
           c == '.';
}

static int scan_ipv6(struct scan *s)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    for (size_t i = 0; (i = sg_bm_next(s->colons, i, n)) < n;) {
        size_t a = i, b = i;
        while (a > 0 && ip6c(t[a - 1]) && i - a < 45)
            a--;
        while (b < n && ip6c(t[b]) && b - i < 45)
            b++;
        while (b > a && (t[b - 1] == '.' || (t[b - 1] == ':' && !(b >= 2 && t[b - 2] == ':'))))
            b--;
        while (a < i && t[a] == '.')
            a++;
        i = b > i ? b : i + 1; /* where the next ':' is looked for */
        if ((a > 0 && (sg_is_alnum(t[a - 1]) || t[a - 1] == '_')) ||
            (b < n && (sg_is_alnum(t[b]) || t[b] == '_')))
            continue;
        unsigned colons = 0;
        for (size_t k = a; k < b; k++)
            colons += t[k] == ':';
        if (colons >= 2 && b - a >= 3 && sg_validate_ipv6((const char *)t + a, b - a)) {
            int rc = sg_scan_add(s, a, b, SG_ENT_IP);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- normalization ---- */

/* Where normalization changed the text: one event per folded or dropped character (a
 * few per text), so the offset map costs nothing for the bytes copied as they are. */
struct fold_event {
    uint32_t npos;         /* its position in the normalized text */
    uint32_t nlen;         /* bytes it became there: 1 (folded) or 0 (dropped) */
    uint32_t ostart, oend; /* the original character */
};

struct sg_detect_scratch {
    unsigned char *nt; /* normalized text */
    size_t cap;
    uint32_t *caps;  /* token starts that are not digits (see token_starts) */
    uint32_t *pairs; /* the pair starts */
    uint32_t *upairs;
    size_t scap;
    uint64_t *bm; /* the class bitmaps (classify): BM_COUNT x bmw words */
    size_t bmcap; /* words */
    struct fold_event *ev;
    size_t nev, evcap;
    struct sg_findings raw;
    struct sg_finding *tmp; /* room for raw.cap findings: the merge sort's other half */
    size_t tmpcap;
    hs_scratch_t *hs;
    uint64_t prepared; /* serial of the detector `hs` was last grown for */
};

/* Maps a code point to an ASCII look-alike, 0 to drop it, or -1 to keep it as it is. */
static int fold(uint32_t cp)
{
    if (cp >= 0xFF01 && cp <= 0xFF5E)
        return (int)(cp - 0xFEE0); /* full-width forms */
    switch (cp) {
    case 0x200B:
    case 0x200C:
    case 0x200D:
    case 0x2060:
    case 0xFEFF:
    case 0x00AD:
    case 0x180E:
        return 0; /* zero-width and soft hyphen */
    case 0x00A0:
    case 0x202F:
    case 0x2007:
    case 0x2009:
    case 0x2002:
    case 0x2003:
    case 0x2004:
    case 0x2005:
    case 0x2006:
    case 0x2008:
    case 0x200A:
    case 0x3000:
        return ' ';
    case 0x2010:
    case 0x2011:
    case 0x2012:
    case 0x2013:
    case 0x2014:
    case 0x2212:
        return '-';
    /* Cyrillic look-alikes */
    case 0x0430:
        return 'a';
    case 0x0435:
        return 'e';
    case 0x043E:
        return 'o';
    case 0x0440:
        return 'p';
    case 0x0441:
        return 'c';
    case 0x0443:
        return 'y';
    case 0x0445:
        return 'x';
    case 0x0456:
        return 'i';
    case 0x0458:
        return 'j';
    case 0x0455:
        return 's';
    case 0x0501:
        return 'd';
    case 0x04BB:
        return 'h';
    case 0x0410:
        return 'A';
    case 0x0412:
        return 'B';
    case 0x0415:
        return 'E';
    case 0x041A:
        return 'K';
    case 0x041C:
        return 'M';
    case 0x041D:
        return 'H';
    case 0x041E:
        return 'O';
    case 0x0420:
        return 'P';
    case 0x0421:
        return 'C';
    case 0x0422:
        return 'T';
    case 0x0425:
        return 'X';
    case 0x0406:
        return 'I';
    case 0x0408:
        return 'J';
    case 0x0405:
        return 'S';
    /* Greek look-alikes */
    case 0x03BF:
        return 'o';
    case 0x03B1:
        return 'a';
    case 0x03BD:
        return 'v';
    case 0x0391:
        return 'A';
    case 0x0392:
        return 'B';
    case 0x0395:
        return 'E';
    case 0x0396:
        return 'Z';
    case 0x0397:
        return 'H';
    case 0x0399:
        return 'I';
    case 0x039A:
        return 'K';
    case 0x039C:
        return 'M';
    case 0x039D:
        return 'N';
    case 0x039F:
        return 'O';
    case 0x03A1:
        return 'P';
    case 0x03A4:
        return 'T';
    case 0x03A5:
        return 'Y';
    case 0x03A7:
        return 'X';
    default:
        return -1;
    }
}

static uint32_t decode(const unsigned char *p, size_t l)
{
    if (l == 2)
        return (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
    if (l == 3)
        return (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    return (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
           (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
}

static int grow(struct sg_detect_scratch *s, size_t n)
{
    if (n <= s->cap)
        return 0;
    unsigned char *nt = realloc(s->nt, n);
    if (!nt)
        return SG_ENOMEM;
    s->nt = nt;
    s->cap = n;
    return 0;
}

static int add_event(struct sg_detect_scratch *s, size_t npos, size_t nlen, size_t os, size_t oe)
{
    if (s->nev == s->evcap) {
        size_t cap = s->evcap ? s->evcap * 2 : 64;
        struct fold_event *v = realloc(s->ev, cap * sizeof(*v));
        if (!v)
            return SG_ENOMEM;
        s->ev = v;
        s->evcap = cap;
    }
    s->ev[s->nev++] =
        (struct fold_event){(uint32_t)npos, (uint32_t)nlen, (uint32_t)os, (uint32_t)oe};
    return 0;
}

/* Maps the normalized byte p to the original character that holds it: [*a, *b). */
static void map_back(const struct sg_detect_scratch *s, size_t p, uint32_t *a, uint32_t *b)
{
    size_t lo = 0, hi = s->nev; /* the last event at or before p */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->ev[mid].npos <= p)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) {
        *a = (uint32_t)p;
        *b = (uint32_t)p + 1;
        return;
    }
    const struct fold_event *e = &s->ev[lo - 1];
    if (p < e->npos + e->nlen) {
        *a = e->ostart;
        *b = e->oend;
        return;
    }
    *a = (uint32_t)(e->oend + (p - e->npos - e->nlen));
    *b = *a + 1;
}

/* Whether the text holds a character that fold() changes: a lead byte of the Greek or
 * Cyrillic blocks, C2 A0/AD (no-break space, soft hyphen), E2 80/81/88 (the spaces,
 * dashes and zero-width characters of General Punctuation, the minus sign), E1 A0 (the
 * Mongolian vowel separator), E3 80 (the ideographic space), EF BB/BC/BD (BOM, full-width
 * forms). */
static bool needs_fold(const unsigned char *t, size_t n)
{
    for (size_t i = 0; (i = find_fold_lead(t, n, i)) < n; i++) {
        unsigned char c = t[i];
        unsigned char d = i + 1 < n ? t[i + 1] : 0;
        switch (c) {
        case 0xC2:
            if (d == 0xA0 || d == 0xAD)
                return true;
            break;
        case 0xCE:
        case 0xCF:
        case 0xD0:
        case 0xD1:
        case 0xD2: /* U+0480..U+04BF: Cyrillic shha (U+04BB) folds to 'h' */
        case 0xD3:
        case 0xD4:
            return true;
        case 0xE1:
            if (d == 0xA0)
                return true;
            break;
        case 0xE2:
            if (d == 0x80 || d == 0x81 || d == 0x88)
                return true;
            break;
        case 0xE3:
            if (d == 0x80)
                return true;
            break;
        case 0xEF:
            if (d == 0xBB || d == 0xBC || d == 0xBD)
                return true;
            break;
        default:
            break;
        }
    }
    return false;
}

/* Normalizes `text` into the scratch; returns the normalized length, or (size_t)-1. */
static size_t normalize(struct sg_detect_scratch *s, const unsigned char *t, size_t n)
{
    if (grow(s, n + 1) != 0)
        return (size_t)-1;
    s->nev = 0;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        /* a run of bytes that stay as they are is copied: up to a lead byte of a
         * character fold() may change (the bytes before it are ASCII or characters it
         * leaves as they are) */
        size_t r = fold_lead[t[i]] ? i : find_fold_lead(t, n, i);
        if (r > i) {
            memcpy(s->nt + o, t + i, r - i);
            o += r - i;
            i = r;
            continue;
        }
        size_t l = sg_utf8_char_len(t + i, n - i);
        int f = l ? fold(decode(t + i, l)) : -1;
        if (!l)
            l = 1;
        if (f >= 0) {
            if (add_event(s, o, f > 0, i, i + l))
                return (size_t)-1;
            if (f > 0)
                s->nt[o++] = (unsigned char)f;
        } else {
            memcpy(s->nt + o, t + i, l);
            o += l;
        }
        i += l;
    }
    return o;
}

/* ---- detector objects, resolution and the entry point ---- */

static const char *const builtin_names[SG_ENT_BUILTIN] = {
    "EMAIL",           "PHONE",         "CARD",   "IBAN",   "IP",
    "URL_CREDENTIALS", "NATIONAL_ID",   "VAT_ID", "SECRET", "PERSON",
    "ADDRESS",         "DATE_OF_BIRTH", "FIELD"};

const char *sg_entity_name(const struct sg_detector *d, unsigned type)
{
    if (type < SG_ENT_BUILTIN)
        return builtin_names[type];
    if (d && type >= SG_ENT_CUSTOM && type - SG_ENT_CUSTOM < d->ncustom)
        return d->names[type - SG_ENT_CUSTOM];
    return "UNKNOWN";
}

int sg_entity_lookup(const struct sg_detector *d, const char *name)
{
    for (unsigned i = 0; i < SG_ENT_BUILTIN; i++)
        if (strcmp(builtin_names[i], name) == 0)
            return (int)i;
    for (unsigned i = 0; d && i < d->ncustom; i++)
        if (strcmp(d->names[i], name) == 0)
            return (int)(SG_ENT_CUSTOM + i);
    return -1;
}

unsigned sg_detector_ntypes(const struct sg_detector *d)
{
    return SG_ENT_CUSTOM + (d ? d->ncustom : 0);
}

/* Which of two overlapping types is more specific (lower wins). */
static int rank(unsigned type)
{
    static const int r[SG_ENT_BUILTIN] = {[SG_ENT_SECRET] = 0,      [SG_ENT_URL_CREDENTIALS] = 1,
                                          [SG_ENT_CARD] = 2,        [SG_ENT_IBAN] = 3,
                                          [SG_ENT_NATIONAL_ID] = 4, [SG_ENT_VAT_ID] = 5,
                                          [SG_ENT_EMAIL] = 6,       [SG_ENT_IP] = 7,
                                          [SG_ENT_PHONE] = 8,       [SG_ENT_DATE_OF_BIRTH] = 9,
                                          [SG_ENT_ADDRESS] = 10,    [SG_ENT_PERSON] = 11,
                                          [SG_ENT_FIELD] = 12};
    return type < SG_ENT_BUILTIN ? r[type] : 13;
}

/* The order findings are resolved in: by start, the longer first, then the more specific
 * first. Whether a goes before b or ties with it. */
static inline bool finding_le(const struct sg_finding *a, const struct sg_finding *b)
{
    if (a->start != b->start)
        return a->start < b->start;
    if (a->end != b->end)
        return a->end > b->end;
    return rank(a->type) <= rank(b->type);
}

/* Sorts v[0..n) by finding_le, stably, with tmp (room for n) as the other buffer. Each
 * scanner adds its findings in start order, so the list is a few sorted runs one after
 * the other (often one): a natural merge sort finds those runs and merges neighbours
 * until one is left, O(n log runs), no allocation. Stable (ties keep their order: the
 * left run's finding goes first), so the result is exactly that of the stable qsort
 * (glibc's merge sort) this replaces, equal custom findings of one span included.
 * Returns the buffer that holds the sorted list (v or tmp). */
static struct sg_finding *sort_findings(struct sg_finding *v, struct sg_finding *tmp, size_t n)
{
    for (;;) {
        /* one pass: merge runs two by two from v into tmp (`merged`: the runs made) */
        size_t i = 0, merged = 0;
        while (i < n) {
            size_t a = i, m = i + 1;
            while (m < n && finding_le(&v[m - 1], &v[m]))
                m++;
            merged++;
            if (m == n && a == 0)
                return v; /* one run: sorted */
            size_t e = m;
            while (e < n && (e == m || finding_le(&v[e - 1], &v[e])))
                e++;
            size_t x = a, y = m, o = a;
            while (x < m && y < e)
                tmp[o++] = finding_le(&v[x], &v[y]) ? v[x++] : v[y++];
            while (x < m)
                tmp[o++] = v[x++];
            while (y < e)
                tmp[o++] = v[y++];
            i = e;
        }
        struct sg_finding *sw = v;
        v = tmp;
        tmp = sw;
        if (merged == 1)
            return v;
    }
}

/* Better of two overlapping findings: the longer, then the more specific. */
static bool better(const struct sg_finding *a, const struct sg_finding *b)
{
    uint32_t la = a->end - a->start, lb = b->end - b->start;
    if (la != lb)
        return la > lb;
    return rank(a->type) < rank(b->type);
}

struct sg_detect_scratch *sg_detect_scratch_new(const struct sg_detector *d)
{
    struct sg_detect_scratch *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    sg_findings_init(&s->raw, 1u << 20);
    if (d && d->db) {
        if (hs_alloc_scratch(d->db, &s->hs) != HS_SUCCESS) {
            free(s);
            return NULL;
        }
        s->prepared = d->serial;
    }
    return s;
}

void sg_detect_scratch_free(struct sg_detect_scratch *s)
{
    if (!s)
        return;
    free(s->nt);
    free(s->ev);
    free(s->caps);
    free(s->pairs);
    free(s->upairs);
    free(s->bm);
    sg_findings_free(&s->raw);
    free(s->tmp);
    if (s->hs)
        hs_free_scratch(s->hs);
    free(s);
}

/* The length a UTF-8 lead byte announces (1 for anything else). */
static uint32_t utf8_lead_len(unsigned char c)
{
    return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

/* The start of the character byte `p` of `t` belongs to: p, unless p is a continuation
 * byte that a lead byte at most 3 bytes before it still reaches. */
static uint32_t utf8_char_start(const unsigned char *t, uint32_t p)
{
    for (uint32_t k = 1; k <= 3 && k <= p && (t[p - k + 1] & 0xC0) == 0x80; k++) {
        unsigned char c = t[p - k];
        if ((c & 0xC0) != 0x80)
            return utf8_lead_len(c) > k ? p - k : p;
    }
    return p;
}

/* The end of the character that ends before `e` (> 0): e, moved over the continuation
 * bytes that the character's lead byte still asks for. */
static uint32_t utf8_char_end(const unsigned char *t, size_t len, uint32_t e)
{
    uint32_t l = e - 1;
    for (int k = 0; k < 3 && l > 0 && (t[l] & 0xC0) == 0x80; k++)
        l--;
    size_t want = (size_t)l + utf8_lead_len(t[l]);
    while (e < want && e < len && (t[e] & 0xC0) == 0x80)
        e++;
    return e;
}

/* want: NULL, or the types looked for (the scanners that find none of them are skipped) */
static int detect(const struct sg_detector *d, struct sg_detect_scratch *sc,
                  const struct sg_fieldset *fields, const bool *want, const char *text, size_t len,
                  struct sg_findings *out)
{
    const unsigned char *t = (const unsigned char *)text;
    if (len > UINT32_MAX)
        return SG_ETOOBIG;
    sg_detect_init();
    /* Only a text with a character that folds is copied into the normalized form: accents,
     * the euro sign and other symbols are scanned where they are. */
    bool ascii = !needs_fold(t, len);
    struct scan s = {.t = t, .n = len, .raw = &sc->raw};
    if (!ascii) {
        size_t nl = normalize(sc, t, len);
        if (nl == (size_t)-1)
            return SG_ENOMEM;
        s.t = sc->nt;
        s.n = nl;
    }
    if (sc->scap < s.n + 1) {
        uint32_t *c = realloc(sc->caps, (s.n + 1) * sizeof(*c));
        if (c)
            sc->caps = c;
        uint32_t *pv = c ? realloc(sc->pairs, (s.n + 1) * sizeof(*pv)) : NULL;
        if (pv)
            sc->pairs = pv;
        uint32_t *uv = pv ? realloc(sc->upairs, (s.n + 1) * sizeof(*uv)) : NULL;
        if (!uv)
            return SG_ENOMEM;
        sc->upairs = uv;
        sc->scap = s.n + 1;
    }
    s.caps = sc->caps;
    s.pairs = sc->pairs;
    s.upairs = sc->upairs;
    size_t nw = (s.n + 63) / 64;
    /* at least one word each, so that the bitmaps are never NULL (an empty text: NULL + 0
     * is undefined) */
    size_t bmwant = BM_COUNT * (nw ? nw : 1);
    if (sc->bmcap < bmwant) {
        uint64_t *bm = realloc(sc->bm, bmwant * sizeof(*bm));
        if (!bm)
            return SG_ENOMEM;
        sc->bm = bm;
        sc->bmcap = bmwant;
    }
    s.ncaps =
        classify(s.t, s.n, sc->caps, sc->pairs, &s.npairs, sc->upairs, &s.nupairs, sc->bm, nw);
    s.digits = sc->bm + BM_DIGITS * nw;
    s.colons = sc->bm + BM_COLONS * nw;
    s.kv = sc->bm + BM_KV * nw;
    s.strig = sc->bm + BM_STRIG * nw;
    s.marks = sc->bm + BM_MARKS * nw;
    sg_findings_reset(&sc->raw);
    int rc = scan_secrets(&s);
    rc = rc ? rc : scan_url_credentials(&s);
    if (!want || want[SG_ENT_EMAIL])
        rc = rc ? rc : scan_emails(&s);
    rc = rc ? rc : scan_numbers(&s);
    rc = rc ? rc : scan_letter_ids(&s);
    if (!want || want[SG_ENT_IP])
        rc = rc ? rc : scan_ipv6(&s);
    s.addr_lo = sc->raw.n;
    if (!want || want[SG_ENT_ADDRESS])
        rc = rc ? rc : sg_detect_addresses(&s);
    s.addr_hi = sc->raw.n;
    if (!want || want[SG_ENT_PERSON])
        rc = rc ? rc : sg_detect_names(&s);
    rc = rc ? rc : sg_detect_fields(d, fields, &s);
    if (!rc && d && d->db) {
        /* A scratch serves every detector (a reload makes a new one): grow it when this
         * detector has not been seen since. */
        if (sc->prepared != d->serial) {
            if (hs_alloc_scratch(d->db, &sc->hs) != HS_SUCCESS)
                return SG_ENOMEM;
            sc->prepared = d->serial;
        }
        rc = sg_detect_custom(d, &s, sc->hs);
    }
    if (rc)
        return rc;
    /* Resolve overlaps: sweep in start order keeping the better of overlapping ones. */
    struct sg_findings *raw = &sc->raw;
    struct sg_finding *sorted = raw->v;
    if (raw->n > 1) {
        if (sc->tmpcap < raw->n) {
            struct sg_finding *v = realloc(sc->tmp, raw->cap * sizeof(*v));
            if (!v)
                return SG_ENOMEM;
            sc->tmp = v;
            sc->tmpcap = raw->cap;
        }
        sorted = sort_findings(raw->v, sc->tmp, raw->n);
    }
    size_t kept = 0;
    for (size_t i = 0; i < raw->n; i++) {
        struct sg_finding *f = &sorted[i];
        if (kept && f->start < sorted[kept - 1].end) {
            struct sg_finding *k = &sorted[kept - 1];
            /* A restricted value (secret, URL credentials, card, IBAN, national ID) inside a
             * longer finding of a less sensitive type (a field rule's value, a custom
             * match, an address) must not go out under that type: its class could allow it
             * in clear. The span kept takes the most sensitive type (and is masked whole). */
            unsigned type = rank(f->type) < rank(k->type) ? f->type : k->type;
            if (better(f, k))
                *k = *f;
            if (rank(type) <= rank(SG_ENT_NATIONAL_ID) && rank(k->type) > rank(SG_ENT_NATIONAL_ID))
                k->type = type; /* (between restricted types, the usual choice stands) */
            continue;
        }
        sorted[kept++] = *f;
    }
    for (size_t i = 0; i < kept; i++) {
        struct sg_finding f = sorted[i];
        if (!ascii) {
            uint32_t a, b, c, e;
            map_back(sc, f.start, &a, &b);
            map_back(sc, f.end - 1, &c, &e);
            /* whole characters of the original text: widened only into a character whose
             * lead byte says it goes on. Stray continuation bytes next to a finding (not
             * valid UTF-8) are not taken in: the finding would then end on one, and its
             * surrogate touch the letter after it, which restore refuses to read (found
             * by fuzzing: tests/fuzz/regressions/redact/stray-continuation-*). */
            a = utf8_char_start(t, a);
            e = utf8_char_end(t, len, e);
            f.start = a;
            f.end = e;
        }
        if ((rc = findings_push(out, f.start, f.end, f.type, f.escaped)))
            return rc;
    }
    out->truncated |= raw->truncated;
    return 0;
}

int sg_detect(const struct sg_detector *d, struct sg_detect_scratch *sc, const char *text,
              size_t len, struct sg_findings *out)
{
    return detect(d, sc, NULL, NULL, text, len, out);
}

int sg_detect_ex(const struct sg_detector *d, struct sg_detect_scratch *sc,
                 const struct sg_fieldset *fields, const char *text, size_t len,
                 struct sg_findings *out)
{
    return detect(d, sc, fields, NULL, text, len, out);
}

int sg_detect_types(const struct sg_detector *d, struct sg_detect_scratch *sc, const bool *want,
                    const char *text, size_t len, struct sg_findings *out)
{
    return detect(d, sc, NULL, want, text, len, out);
}
