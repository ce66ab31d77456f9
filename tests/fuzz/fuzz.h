/* fuzz.h - what every libFuzzer target defines (tests/fuzz/README.md).
 * Each target checks properties of its parser, not only "no crash": a
 * broken property aborts, and libFuzzer keeps the input. */
#ifndef BOXOFFICE_TESTS_FUZZ_FUZZ_H
#define BOXOFFICE_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with a message when a property of the parser does not hold. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", #cond, __FILE__,     \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
