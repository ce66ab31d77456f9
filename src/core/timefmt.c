/* timefmt.c - RFC 3339 formatting and parsing without the C library's
 * locale- and timezone-dependent calls. */
#include "core/timefmt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t timefmt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Howard Hinnant's civil-date algorithms, restated. */
int64_t timefmt_days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const int64_t yoe = y - era * 400;
	const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void timefmt_civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const int64_t doe = z - era * 146097;
	const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

int timefmt_format(int64_t ms, char buf[TIMEFMT_SIZE])
{
	int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	int millis = (int)(ms - secs * 1000);
	int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
	int sod = (int)(secs - days * 86400);
	int y, m, d;

	timefmt_civil_from_days(days, &y, &m, &d);
	return snprintf(buf, TIMEFMT_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d,
	                sod / 3600, sod / 60 % 60, sod % 60, millis);
}

static int timefmt_digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int timefmt_days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 ? 28 + leap : days[m - 1];
}

/* Parses the "YYYY-MM-DD" at the start of s. */
static int timefmt_parse_date_prefix(const char *s, int *y, int *m, int *d)
{
	if (strnlen(s, 10) < 10 || s[4] != '-' || s[7] != '-')
		return -1;
	if (timefmt_digits(s, 4, y) || timefmt_digits(s + 5, 2, m) || timefmt_digits(s + 8, 2, d))
		return -1;
	if (*y < 1970 || *m < 1 || *m > 12 || *d < 1 || *d > timefmt_days_in_month(*y, *m))
		return -1;
	return 0;
}

int timefmt_parse_date(const char *s, int *y, int *m, int *d)
{
	if (strlen(s) != 10)
		return -1;
	return timefmt_parse_date_prefix(s, y, m, d);
}

int timefmt_parse(const char *s, int64_t *ms_out)
{
	int y, mo, d, h, mi, sec, millis = 0;
	size_t len = strlen(s);
	const char *p;

	if (len < 20 || timefmt_parse_date_prefix(s, &y, &mo, &d))
		return -1;
	if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
		return -1;
	if (s[13] != ':' || s[16] != ':' || timefmt_digits(s + 11, 2, &h) ||
	    timefmt_digits(s + 14, 2, &mi) || timefmt_digits(s + 17, 2, &sec))
		return -1;
	if (h > 23 || mi > 59 || sec > 59)
		return -1;
	p = s + 19;
	if (*p == '.') {
		int ndig = 0;
		p++;
		while (*p >= '0' && *p <= '9') {
			if (ndig < 3)
				millis = millis * 10 + (*p - '0');
			ndig++;
			p++;
		}
		if (ndig == 0 || ndig > 9)
			return -1;
		for (; ndig < 3; ndig++)
			millis *= 10;
	}
	int offset_min = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (strlen(p) != 6 || p[3] != ':' || timefmt_digits(p + 1, 2, &oh) ||
		    timefmt_digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return -1;
		offset_min = (oh * 60 + om) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	int64_t secs =
	    timefmt_days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec;
	*ms_out = (secs - (int64_t)offset_min * 60) * 1000 + millis;
	return 0;
}
