/*
 * Names to addresses.  For now this asks the C library (a static musl
 * binary resolves through /etc/hosts and /etc/resolv.conf by itself, no
 * NSS involved); the interface is kept narrow so that a stub resolver
 * can take its place without callers changing.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "outbox.h"

/*
 * Resolve host (a name or an address literal) for TCP port into at most
 * max addresses: in the order the resolver gives, but with IPv6 and IPv4
 * interleaved so that a broken family costs one attempt, not all.
 * Returns the count, or -1 with err set.
 */
int
dns_host(const char *host, int port, struct hostaddr *out, size_t max,
    char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	struct addrinfo *v6[HOST_ADDRS_MAX], *v4[HOST_ADDRS_MAX];
	char serv[16], num[INET6_ADDRSTRLEN];
	size_t n6 = 0, n4 = 0, n = 0, i;
	int r, v6first;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(serv, sizeof(serv), "%d", port);
	if ((r = getaddrinfo(host, serv, &hints, &res)) != 0) {
		snprintf(err, errlen, "unable to resolve %s: %s", host,
		    gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET6 && n6 < HOST_ADDRS_MAX)
			v6[n6++] = ai;
		else if (ai->ai_family == AF_INET && n4 < HOST_ADDRS_MAX)
			v4[n4++] = ai;
	}
	v6first = res->ai_family == AF_INET6;
	for (i = 0; n < max && (i < n6 || i < n4); i++) {
		struct addrinfo *a6 = i < n6 ? v6[i] : NULL;
		struct addrinfo *a4 = i < n4 ? v4[i] : NULL;
		struct addrinfo *pick[2] = { v6first ? a6 : a4,
		    v6first ? a4 : a6 };
		int k;

		for (k = 0; k < 2 && n < max; k++) {
			if ((ai = pick[k]) == NULL ||
			    ai->ai_addrlen > sizeof(out[n].ss))
				continue;
			memcpy(&out[n].ss, ai->ai_addr, ai->ai_addrlen);
			out[n].len = ai->ai_addrlen;
			if (ai->ai_family == AF_INET6)
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)
				    ai->ai_addr)->sin6_addr, num, sizeof(num));
			else
				inet_ntop(AF_INET, &((struct sockaddr_in *)
				    ai->ai_addr)->sin_addr, num, sizeof(num));
			snprintf(out[n].text, sizeof(out[n].text), "[%s]:%d",
			    num, port);
			n++;
		}
	}
	freeaddrinfo(res);
	if (n == 0) {
		snprintf(err, errlen, "unable to resolve %s: no address", host);
		return -1;
	}
	return (int)n;
}
