/* fuzz_http.c - the HTTP adapter's own parsing (http/http_parse.c,
 * http/http_limits.c). The first byte picks the parser:
 *   0: percent-decoding of a path or query value: never longer than the
 *      input, never a NUL inside, idempotent on text without '%';
 *   1: header lines "Name: value\n": the framing verdict is refused
 *      exactly when a header repeats Content-Length/Transfer-Encoding,
 *      both appear, or a byte is a control byte other than tab;
 *   2: an X-Forwarded-For value: from a trusted proxy the client address
 *      is always a parsable address; from anyone else it is ignored;
 *   3: a --trusted-proxy list: parses or fails, never more than the cap. */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "http/http_limits.h"
#include "http/http_parse.h"

static void fuzz_unescape(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	memcpy(s, data, size);
	s[size] = '\0';
	size_t in = strlen(s);
	size_t out = http_parse_unescape(s);
	FUZZ_CHECK(out <= in && strlen(s) == out);
	if (memchr(data, '%', size) == NULL)
		FUZZ_CHECK(out == in && memcmp(s, data, out) == 0);
	free(s);
}

static void fuzz_headers(const uint8_t *data, size_t size)
{
	struct http_framing f = {0};
	unsigned cl = 0, te = 0;
	int ctl = 0;
	size_t pos = 0;

	while (pos < size) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t end = nl ? (size_t)(nl - data) : size;
		const uint8_t *colon = memchr(data + pos, ':', end - pos);
		size_t klen = colon ? (size_t)(colon - data) - pos : end - pos;
		const char *key = (const char *)data + pos;
		const char *val = colon ? (const char *)colon + 1 : NULL;
		size_t vlen = colon ? end - (size_t)(colon - data) - 1 : 0;
		http_framing_add(&f, key, klen, val, vlen);
		if (klen == 14 && strncasecmp(key, "Content-Length", 14) == 0)
			cl++;
		if (klen == 17 && strncasecmp(key, "Transfer-Encoding", 17) == 0)
			te++;
		for (size_t i = pos; i < end; i++)
			if ((data[i] < 0x20 && data[i] != '\t') || data[i] == 0x7f)
				ctl = 1;
		pos = end + 1;
	}
	int refused = cl > 1 || te > 1 || (cl && te) || ctl;
	FUZZ_CHECK((http_framing_verdict(&f) != NULL) == refused);
}

static struct http_limits *fuzz_limits(void)
{
	static struct http_limits *lim;

	if (lim == NULL) {
		struct http_limits_config cfg = {.conn_max = 16,
		                                 .trusted_proxy = "127.0.0.0/8,10.1.0.0/16"};
		FUZZ_CHECK(http_limits_start(&cfg, &lim) == 0);
	}
	return lim;
}

static void fuzz_xff(const uint8_t *data, size_t size)
{
	char *xff = malloc(size + 1);
	char out[HTTP_ADDR_TEXT];
	struct in_addr v4;
	struct in6_addr v6;

	memcpy(xff, data, size);
	xff[size] = '\0';
	http_limits_client_addr(fuzz_limits(), htonl(0x7f000001), xff, out);
	FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL);
	FUZZ_CHECK(inet_pton(AF_INET, out, &v4) == 1 || inet_pton(AF_INET6, out, &v6) == 1);
	/* Without the trusted peer nothing in the header counts. */
	http_limits_client_addr(fuzz_limits(), htonl(0xc0000201), xff, out);
	FUZZ_CHECK(strcmp(out, "192.0.2.1") == 0);
	free(xff);
}

static void fuzz_cidrs(const uint8_t *data, size_t size)
{
	char *list = malloc(size + 1);
	uint32_t nets[HTTP_LIMITS_PROXIES_MAX], masks[HTTP_LIMITS_PROXIES_MAX];
	size_t n = 0;

	memcpy(list, data, size);
	list[size] = '\0';
	if (http_limits_parse_cidrs(list, nets, masks, &n) == 0) {
		FUZZ_CHECK(n <= HTTP_LIMITS_PROXIES_MAX);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK((nets[i] & ~masks[i]) == 0);
	}
	free(list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fuzz_unescape(data + 1, size - 1);
		break;
	case 1:
		fuzz_headers(data + 1, size - 1);
		break;
	case 2:
		fuzz_xff(data + 1, size - 1);
		break;
	default:
		fuzz_cidrs(data + 1, size - 1);
		break;
	}
	return 0;
}
