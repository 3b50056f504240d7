/*
 * Fuzz target for the resolver's parsers: dns_answer() on the input as
 * an answer to each type outbox asks for (its first two bytes are taken
 * as the id asked with, so that the rest gets looked at), and
 * dns_conf() on the input as resolv.conf text.  For libFuzzer (make
 * fuzz) and for tests/fuzz/replay.c, which make check runs on the
 * corpus in tests/data/fuzz-dns.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../outbox.h"
#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int types[] = { DNS_A, DNS_AAAA, DNS_MX, DNS_SRV };
	struct dnsrr rr[8];
	struct resolvconf rc;
	char *text;
	uint16_t id;
	int rcode;
	unsigned tc;
	size_t i;

	if (size >= 2) {
		id = (uint16_t)(data[0] << 8 | data[1]);
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			dns_answer(data, size, id, "mx.example.org", types[i],
			    rr, 8, &rcode, &tc);
	}
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	dns_conf(text, &rc);
	free(text);
	return 0;
}
