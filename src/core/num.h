/* num.h - checked number parsing; never atoi. */
#ifndef BOXOFFICE_CORE_NUM_H
#define BOXOFFICE_CORE_NUM_H

#include <stddef.h>
#include <stdint.h>

/* Parses len bytes of decimal digits (no sign, no spaces, no leading
 * zero) into a positive int64. Returns 0, or -1 when the text is not such
 * a number or does not fit. */
int num_parse_id(const char *s, size_t len, int64_t *out);

/* Parses a whole C string as an int in [min, max]; returns 0 or -1. */
int num_parse_int(const char *s, long min, long max, long *out);

#endif
