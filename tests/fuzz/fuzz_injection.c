/* Fuzz target: the prompt-injection scanner (src/guard/injection.h) on untrusted text, as
 * the gateway runs it on every text field of a request.
 *
 * The first byte picks the text's source (user, system, assistant, tool, context); the
 * rest is the text. Invariants: the scan succeeds; every strength is 0..95 and set exactly
 * for the signals that fired; the score is 0 exactly when nothing fired, and at most 100;
 * `flagged` is score >= threshold; the offset of the strongest evidence lies in the text;
 * scanning again gives the same result (no state left in the detector); a detector that
 * ignores every signal reports nothing. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "guard/injection.h"

#include "fuzz_util.h"

static struct sg_injection *det, *deaf;

static void init(void)
{
    struct sg_error err = {0};
    struct sg_injection_opts o = {0};
    FUZZ_CHECK(sg_injection_new(&o, &det, &err) == 0);
    struct sg_injection_opts none = {.ignore = (1u << SG_INJ_NSIGNALS) - 1};
    FUZZ_CHECK(sg_injection_new(&none, &deaf, &err) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!det)
        init();
    if (size == 0)
        return 0;
    enum sg_inj_source src = (enum sg_inj_source)(data[0] % SG_INJ_SRC_COUNT);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    struct sg_inj_result r, again, quiet;
    FUZZ_CHECK(sg_injection_scan(det, text, len, src, &r) == 0);
    FUZZ_CHECK(r.score >= 0 && r.score <= 100);
    for (int sig = 0; sig < SG_INJ_NSIGNALS; sig++) {
        bool fired = (r.signals & SG_INJ_BIT(sig)) != 0;
        FUZZ_CHECK(r.strength[sig] <= 95);
        FUZZ_CHECK(fired == (r.strength[sig] > 0));
    }
    FUZZ_CHECK(r.signals < SG_INJ_BIT(SG_INJ_NSIGNALS));
    FUZZ_CHECK((r.score == 0) == (r.signals == 0));
    FUZZ_CHECK(r.flagged == (r.score >= sg_injection_threshold(det)));
    FUZZ_CHECK(r.offset <= len);

    FUZZ_CHECK(sg_injection_scan(det, text, len, src, &again) == 0);
    FUZZ_CHECK(memcmp(&r, &again, sizeof(r)) == 0);

    FUZZ_CHECK(sg_injection_scan(deaf, text, len, src, &quiet) == 0);
    FUZZ_CHECK(quiet.signals == 0 && quiet.score == 0 && !quiet.flagged);
    return 0;
}
