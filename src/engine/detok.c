/* Token pieces to client text: UTF-8 completion, U+FFFD for invalid bytes, and stop strings
 * held back across token boundaries (see detok.h). The held-back text is short: at most the
 * longest stop string less one byte, plus the newest piece. */
#include "engine/detok.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/utf8.h"

#define SG_DETOK_PEND_MAX 65536

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

int sg_detok_init(struct sg_detok *d, const char *const *stop, size_t nstop, struct sg_error *err)
{
    memset(d, 0, sizeof *d);
    sg_buf_init(&d->pend, SG_DETOK_PEND_MAX);
    if (nstop > SG_DETOK_MAX_STOP)
        return sg_error_set(err, SG_EINVAL, "stop: at most %d stop strings are allowed",
                            SG_DETOK_MAX_STOP);
    if (nstop > 0 && !stop)
        return sg_error_set(err, SG_EINVAL, "stop: the list is missing");
    for (size_t i = 0; i < nstop; i++) {
        if (!stop[i]) {
            sg_detok_free(d);
            return sg_error_set(err, SG_EINVAL, "stop: string %zu is missing", i);
        }
        size_t n = strnlen(stop[i], SG_DETOK_MAX_STOP_LEN + 1);
        if (n == 0 || n > SG_DETOK_MAX_STOP_LEN) {
            sg_detok_free(d);
            return sg_error_set(err, SG_EINVAL, "stop: each stop string must have 1 to %d bytes",
                                SG_DETOK_MAX_STOP_LEN);
        }
        if (!sg_utf8_valid(stop[i], n)) {
            sg_detok_free(d);
            return sg_error_set(err, SG_EINVAL, "stop: string %zu is not valid UTF-8", i);
        }
        d->stop[i] = malloc(n + 1);
        if (!d->stop[i]) {
            sg_detok_free(d);
            return sg_error_set(err, SG_ENOMEM, "out of memory");
        }
        memcpy(d->stop[i], stop[i], n);
        d->stop[i][n] = '\0';
        d->stop_len[i] = n;
        d->nstop = i + 1;
        if (n > d->max_stop)
            d->max_stop = n;
    }
    return 0;
}

void sg_detok_free(struct sg_detok *d)
{
    for (size_t i = 0; i < SG_DETOK_MAX_STOP; i++) {
        free(d->stop[i]);
        d->stop[i] = NULL;
    }
    d->nstop = 0;
    sg_buf_free(&d->pend);
}

/* Length of the UTF-8 sequence that the lead byte c starts (2-4), 0 if c cannot lead one. */
static size_t lead_len(unsigned char c)
{
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF)
        return 3;
    if (c >= 0xF0 && c <= 0xF4)
        return 4;
    return 0;
}

/* True when s[0..n) (n shorter than its lead byte asks for) can still become a valid
 * sequence: the second byte within the lead's range, later bytes continuation bytes. */
static bool valid_prefix(const unsigned char *s, size_t n)
{
    unsigned char lo = 0x80, hi = 0xBF;
    if (s[0] == 0xE0)
        lo = 0xA0;
    else if (s[0] == 0xED)
        hi = 0x9F;
    else if (s[0] == 0xF0)
        lo = 0x90;
    else if (s[0] == 0xF4)
        hi = 0x8F;
    if (n >= 2 && (s[1] < lo || s[1] > hi))
        return false;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return false;
    return true;
}

/* Appends the valid text of s[0..n) to pend, U+FFFD for each invalid lead, and keeps an
 * incomplete tail in raw. */
static int sanitize(struct sg_detok *d, const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && s[run] < 0x80)
            run++;
        if (run > i) {
            int rc = sg_buf_append(&d->pend, s + i, run - i);
            if (rc)
                return rc;
            i = run;
            continue;
        }
        size_t need = lead_len(s[i]);
        if (need && n - i < need && valid_prefix(s + i, n - i)) {
            memcpy(d->raw, s + i, n - i);
            d->nraw = n - i;
            return 0;
        }
        size_t l = need ? sg_utf8_char_len(s + i, n - i) : 0;
        int rc = l ? sg_buf_append(&d->pend, s + i, l)
                   : sg_buf_append(&d->pend, replacement, sizeof replacement - 1);
        if (rc)
            return rc;
        i += l ? l : 1;
    }
    return 0;
}

/* Earliest position of any stop string in pend, or -1. */
static long find_stop(const struct sg_detok *d)
{
    long best = -1;
    if (d->pend.len == 0)
        return -1;
    for (size_t k = 0; k < d->nstop; k++) {
        const char *hit = memmem(d->pend.data, d->pend.len, d->stop[k], d->stop_len[k]);
        if (hit && (best < 0 || hit - d->pend.data < best))
            best = hit - d->pend.data;
    }
    return best;
}

/* Length of the longest suffix of pend that is a proper prefix of some stop string. */
static size_t held_suffix(const struct sg_detok *d)
{
    size_t most = d->max_stop ? d->max_stop - 1 : 0;
    if (most > d->pend.len)
        most = d->pend.len;
    for (size_t k = most; k > 0; k--) {
        const char *tail = d->pend.data + d->pend.len - k;
        for (size_t s = 0; s < d->nstop; s++)
            if (d->stop_len[s] > k && memcmp(d->stop[s], tail, k) == 0)
                return k;
    }
    return 0;
}

/* Releases pend[0..n) and drops it. */
static void release(struct sg_detok *d, size_t n, sg_detok_emit_fn emit, void *arg)
{
    if (n == 0)
        return;
    emit(arg, d->pend.data, n);
    sg_buf_consume(&d->pend, n);
}

/* Stop check and release of what is decided; `final` releases everything. */
static int settle(struct sg_detok *d, bool final, sg_detok_emit_fn emit, void *arg)
{
    long at = find_stop(d);
    if (at >= 0) {
        release(d, (size_t)at, emit, arg);
        sg_buf_reset(&d->pend);
        d->stopped = true;
        return 1;
    }
    size_t keep = final ? 0 : held_suffix(d);
    release(d, d->pend.len - keep, emit, arg);
    return 0;
}

int sg_detok_push(struct sg_detok *d, const char *piece, size_t len, sg_detok_emit_fn emit,
                  void *arg)
{
    if (d->stopped)
        return 1;
    if (len == 0)
        return 0;
    if (len > SG_DETOK_PEND_MAX)
        return SG_ETOOBIG;
    /* the held incomplete sequence and the new bytes, scanned as one */
    unsigned char small[512];
    size_t n = d->nraw + len;
    unsigned char *joined = n <= sizeof small ? small : malloc(n);
    if (!joined)
        return SG_ENOMEM;
    memcpy(joined, d->raw, d->nraw);
    memcpy(joined + d->nraw, piece, len);
    d->nraw = 0;
    int rc = sanitize(d, joined, n);
    if (joined != small)
        free(joined);
    if (rc)
        return rc;
    return settle(d, false, emit, arg);
}

int sg_detok_finish(struct sg_detok *d, sg_detok_emit_fn emit, void *arg)
{
    if (d->stopped)
        return 1;
    if (d->nraw) {
        d->nraw = 0;
        if (sg_buf_append(&d->pend, replacement, sizeof replacement - 1))
            return 0;
    }
    return settle(d, true, emit, arg);
}
