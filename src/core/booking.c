/* booking.c - booking statuses, references and usernames. */
#include "core/booking.h"

#include <string.h>

static const char booking_ref_alphabet[] = "23456789ABCDEFGHJKMNPQRSTVWXYZ";

static const char *const booking_status_names[] = {
    [BOOKING_STAGED] = "STAGED",
    [BOOKING_CONFIRMED] = "CONFIRMED",
    [BOOKING_CANCELLED] = "CANCELLED",
    [BOOKING_EXPIRED] = "EXPIRED",
};

const char *booking_status_name(enum booking_status s)
{
	if ((unsigned)s >= sizeof(booking_status_names) / sizeof(booking_status_names[0]))
		return "UNKNOWN";
	return booking_status_names[s];
}

int booking_status_parse(const char *name, enum booking_status *out)
{
	for (size_t i = 0; i < sizeof(booking_status_names) / sizeof(booking_status_names[0]);
	     i++) {
		if (strcmp(name, booking_status_names[i]) == 0) {
			*out = (enum booking_status)i;
			return 0;
		}
	}
	return -1;
}

int booking_ref_new(booking_random_fn rnd, void *arg, char buf[BOOKING_REF_SIZE])
{
	const unsigned n = sizeof(booking_ref_alphabet) - 1;
	/* Rejection sampling keeps every symbol equally likely. */
	const unsigned limit = 256 - 256 % n;
	unsigned char bytes[32];
	int have = 0, pos = 0;

	memcpy(buf, "BX-", 3);
	while (have < BOOKING_REF_SYMBOLS) {
		if (pos == 0 || pos == (int)sizeof(bytes)) {
			if (rnd(arg, bytes, sizeof(bytes)) != 0)
				return -1;
			pos = 0;
		}
		unsigned b = bytes[pos++];
		if (b >= limit)
			continue;
		buf[3 + have++] = booking_ref_alphabet[b % n];
	}
	buf[3 + BOOKING_REF_SYMBOLS] = '\0';
	return 0;
}

int booking_ref_valid(const char *s)
{
	size_t len = strlen(s);

	if (len != 3 + BOOKING_REF_SYMBOLS)
		return 0;
	if ((s[0] != 'B' && s[0] != 'b') || (s[1] != 'X' && s[1] != 'x') || s[2] != '-')
		return 0;
	for (size_t i = 3; i < len; i++) {
		char c = s[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c == '\0' || strchr(booking_ref_alphabet, c) == NULL)
			return 0;
	}
	return 1;
}

int booking_username_valid(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > USERNAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' || c == '-';
		if (!ok)
			return 0;
	}
	return 1;
}
