/* UTF-8 validation per RFC 3629 (no overlong forms, no surrogates, at most U+10FFFF). */
#ifndef SG_CORE_UTF8_H
#define SG_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1-4) of the valid UTF-8 sequence at s[0..n), or 0 when it is not valid. n > 0. */
size_t sg_utf8_char_len(const unsigned char *s, size_t n);
/* True when all n bytes at s are valid UTF-8. */
bool sg_utf8_valid(const char *s, size_t n);

#endif
