/*
 * Names to addresses, by a stub resolver of our own: the static binary
 * resolves the same way on musl, glibc, a router or a FROM scratch
 * image, with no NSS module and no libc resolver in the way.
 *
 * It reads /etc/resolv.conf (nameserver, search, domain, and the
 * options ndots, timeout, attempts, rotate and trust-ad) and /etc/hosts,
 * asks over UDP from a fresh socket (a random port) with a random id,
 * and asks again over TCP when the answer is truncated.  An answer counts
 * only when its id, question and shape are right (RFC 1035, RFC 9267):
 * names at most 255 bytes, labels at most 63, compression pointers only
 * backwards, counts within the message.  Everything is bounded: the
 * tries, the time, the CNAME links followed.
 *
 * dns_host() gives a host's addresses; dns_mx() the hosts that take
 * mail for a domain (RFC 5321 5.1, RFC 7505) and dns_srv() the servers
 * an SRV name offers (RFC 2782), each in the order to try them.
 *
 * dns_answer() and dns_query() are pure functions of their input, for
 * the unit tests and the fuzz harness.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "outbox.h"

#define HDR		12	/* the fixed header of a message */
#define F_QR		0x8000
#define F_TC		0x0200
#define F_RD		0x0100
#define F_AD		0x0020

/* What lookup() found out besides the records. */
#define LK_NX		0x01	/* no such name, whichever of the search list */
#define LK_AD		0x02	/* every answer on the way was authenticated */

static int	name_read(const unsigned char *, size_t, size_t, char *,
		    size_t *);
static int	name_write(unsigned char *, size_t, size_t *, const char *);
static int	ask(const struct resolvconf *, const char *, int,
		    struct dnsrr *, size_t, unsigned *, char *, size_t);
static int	ask_one(const struct sockaddr_storage *, socklen_t,
		    const unsigned char *, size_t, uint16_t, const char *, int,
		    int64_t, struct dnsrr *, size_t, unsigned *);
static ssize_t	ask_tcp(const struct sockaddr_storage *, socklen_t,
		    const unsigned char *, size_t, unsigned char *, size_t,
		    int64_t);
static int	lookup(const struct resolvconf *, const char *, int,
		    struct dnsrr *, size_t, unsigned *, char *, size_t);
static int	from_hosts(const char *, struct dnsrr *, int *, struct dnsrr *,
		    int *);
static void	set_addr(struct hostaddr *, const unsigned char *, size_t, int);
static void	order(struct dnsrr *, size_t, int);
static void	load_conf(struct resolvconf *);

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Read the name at off of msg into out (dotted, no final dot; "" for
 * the root).  *next is where the name ends in the message, before any
 * pointer was followed.  A pointer must go back, to before the label
 * that holds it, so every chain ends; the name, dots and length bytes
 * counted as on the wire, is at most DNS_NAME_MAX bytes.  Label bytes
 * must be printable and not a dot or a backslash: nothing else names a
 * mail host, and such bytes would be ambiguous in text.  Returns 0 or
 * -1.
 */
static int
name_read(const unsigned char *msg, size_t len, size_t off, char *out,
    size_t *next)
{
	size_t o = 0, wire = 1, lim = off, n, i;
	int jumped = 0;

	for (;;) {
		if (off >= len)
			return -1;
		n = msg[off];
		if ((n & 0xc0) == 0xc0) {
			if (off + 1 >= len)
				return -1;
			if (!jumped)
				*next = off + 2;
			jumped = 1;
			off = (size_t)(n & 0x3f) << 8 | msg[off + 1];
			/* Strictly backwards, so a chain always ends. */
			if (off >= lim)
				return -1;
			lim = off;
			continue;
		}
		if (n & 0xc0)
			return -1;	/* the reserved label types */
		if (n == 0)
			break;
		if (off + 1 + n > len || (wire += n + 1) > DNS_NAME_MAX)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (i = 0; i < n; i++) {
			unsigned char c = msg[off + 1 + i];

			if (c <= ' ' || c > '~' || c == '.' || c == '\\')
				return -1;
			out[o++] = (char)c;
		}
		off += 1 + n;
	}
	out[o] = '\0';
	if (!jumped)
		*next = off + 1;
	return 0;
}

/* Append name as labels at *off of buf.  Returns 0, or -1 if invalid. */
static int
name_write(unsigned char *buf, size_t cap, size_t *off, const char *name)
{
	size_t n, total = 1;
	const char *dot;

	if (strcmp(name, ".") == 0)
		name = "";
	while (*name) {
		dot = strchr(name, '.');
		n = dot ? (size_t)(dot - name) : strlen(name);
		if (n == 0 || n > 63 || (total += n + 1) > DNS_NAME_MAX ||
		    *off + 1 + n >= cap)
			return -1;
		buf[(*off)++] = (unsigned char)n;
		memcpy(buf + *off, name, n);
		*off += n;
		name += n + (dot != NULL);
	}
	if (*off >= cap)
		return -1;
	buf[(*off)++] = 0;
	return 0;
}

/*
 * A query for name (without the final dot) and type, with recursion
 * desired and no EDNS: an answer of more than 512 bytes comes back
 * truncated and is asked for again over TCP.  Returns its length, or 0
 * when the name cannot be asked for.
 */
size_t
dns_query(unsigned char *buf, size_t cap, uint16_t id, const char *name,
    int type)
{
	size_t off = HDR;

	if (cap < HDR + 5)
		return 0;
	memset(buf, 0, HDR);
	buf[0] = id >> 8;
	buf[1] = id & 0xff;
	buf[2] = F_RD >> 8;
	buf[5] = 1;			/* QDCOUNT */
	if (name_write(buf, cap - 4, &off, name) == -1)
		return 0;
	buf[off++] = 0;
	buf[off++] = (unsigned char)type;
	buf[off++] = 0;
	buf[off++] = 1;			/* class IN */
	return off;
}

/*
 * Read an answer to the query (id, name, type): the records of the
 * answer section whose type is type or CNAME, at most max of them, into
 * rr.  *rcode gets the response code, *flags the header's flags (the
 * bits TC, truncated, and AD, authenticated, among them).  Returns
 * the number of records kept, or -1 when the message is not an answer
 * to that query or breaks the format.
 */
int
dns_answer(const unsigned char *msg, size_t len, uint16_t id,
    const char *name, int type, struct dnsrr *rr, size_t max, int *rcode,
    unsigned *flagsp)
{
	char owner[DNS_NAME_MAX + 1];
	size_t off, next, rdlen, i, n = 0;
	uint16_t flags, qd, an, t, cls;

	if (len < HDR || get16(msg) != id)
		return -1;
	flags = get16(msg + 2);
	qd = get16(msg + 4);
	an = get16(msg + 6);
	/* A response, a standard query, to one question. */
	if (!(flags & F_QR) || (flags >> 11 & 15) != 0 || qd != 1)
		return -1;
	*rcode = flags & 15;
	*flagsp = flags;
	/* Each record takes at least 11 bytes: a bound before reading. */
	if ((size_t)an * 11 > len - HDR)
		return -1;
	if (name_read(msg, len, HDR, owner, &next) == -1 ||
	    strcasecmp(owner, name) != 0 || next + 4 > len ||
	    get16(msg + next) != type || get16(msg + next + 2) != 1)
		return -1;
	off = next + 4;
	for (i = 0; i < an; i++) {
		if (name_read(msg, len, off, owner, &next) == -1 ||
		    next + 10 > len)
			return -1;
		t = get16(msg + next);
		cls = get16(msg + next + 2);
		rdlen = get16(msg + next + 8);
		off = next + 10;
		if (off + rdlen > len)
			return -1;
		if (cls != 1 || (t != type && t != DNS_CNAME) || n == max) {
			off += rdlen;
			continue;
		}
		memset(&rr[n], 0, sizeof(rr[n]));
		rr[n].type = t;
		strlcpy(rr[n].name, owner, sizeof(rr[n].name));
		rr[n].ttl = (uint32_t)get16(msg + next + 4) << 16 |
		    get16(msg + next + 6);
		switch (t) {
		case DNS_A:
		case DNS_AAAA:
			if (rdlen != (t == DNS_A ? 4u : 16u))
				return -1;
			memcpy(rr[n].addr, msg + off, rdlen);
			break;
		case DNS_CNAME:
			if (name_read(msg, off + rdlen, off, rr[n].target,
			    &next) == -1 || next != off + rdlen)
				return -1;
			break;
		case DNS_MX:
			if (rdlen < 3 || name_read(msg, off + rdlen, off + 2,
			    rr[n].target, &next) == -1 || next != off + rdlen)
				return -1;
			rr[n].pref = get16(msg + off);
			break;
		case DNS_SRV:
			if (rdlen < 7 || name_read(msg, off + rdlen, off + 6,
			    rr[n].target, &next) == -1 || next != off + rdlen)
				return -1;
			rr[n].pref = get16(msg + off);
			rr[n].weight = get16(msg + off + 2);
			rr[n].port = get16(msg + off + 4);
			break;
		default:
			off += rdlen;
			continue;
		}
		off += rdlen;
		n++;
	}
	return (int)n;
}

/*
 * Read resolv.conf text into rc, with the defaults of glibc and musl
 * for what it does not say: name server 127.0.0.1, ndots 1, timeout 5,
 * attempts 2.  Unknown lines and options are ignored, as they do.
 */
void
dns_conf(const char *text, struct resolvconf *rc)
{
	char line[512], *w, *v, *save;
	const char *e;
	size_t n;
	long long x;

	memset(rc, 0, sizeof(*rc));
	rc->ndots = 1;
	rc->timeout = 5;
	rc->attempts = 2;
	for (; text && *text; text = *e ? e + 1 : e) {
		e = text + strcspn(text, "\n");
		n = (size_t)(e - text) < sizeof(line) ? (size_t)(e - text) :
		    sizeof(line) - 1;
		memcpy(line, text, n);
		line[n] = '\0';
		line[strcspn(line, "#;")] = '\0';
		if ((w = strtok_r(line, " \t\r", &save)) == NULL)
			continue;
		if (strcmp(w, "nameserver") == 0 &&
		    (v = strtok_r(NULL, " \t\r", &save)) != NULL &&
		    rc->nns < DNS_SERVERS_MAX) {
			struct sockaddr_in *s4 = (void *)&rc->ns[rc->nns];
			struct sockaddr_in6 *s6 = (void *)&rc->ns[rc->nns];

			memset(&rc->ns[rc->nns], 0, sizeof(rc->ns[0]));
			if (inet_pton(AF_INET, v, &s4->sin_addr) == 1) {
				s4->sin_family = AF_INET;
				s4->sin_port = htons(53);
				rc->nslen[rc->nns++] = sizeof(*s4);
			} else if (inet_pton(AF_INET6, v, &s6->sin6_addr) == 1) {
				s6->sin6_family = AF_INET6;
				s6->sin6_port = htons(53);
				rc->nslen[rc->nns++] = sizeof(*s6);
			}
		} else if (strcmp(w, "search") == 0 || strcmp(w, "domain") == 0) {
			/* The last of these lines counts, as in glibc. */
			rc->nsearch = 0;
			while ((v = strtok_r(NULL, " \t\r", &save)) != NULL &&
			    rc->nsearch < DNS_SEARCH_MAX &&
			    strlen(v) <= DNS_NAME_MAX - 2) {
				n = strlen(v);
				if (n > 1 && v[n - 1] == '.')
					v[n - 1] = '\0';
				strlcpy(rc->search[rc->nsearch++], v,
				    sizeof(rc->search[0]));
				if (w[0] == 'd')
					break;
			}
		} else if (strcmp(w, "options") == 0) {
			while ((v = strtok_r(NULL, " \t\r", &save)) != NULL) {
				if (strncmp(v, "ndots:", 6) == 0 &&
				    parse_number(v + 6, 0, 15, &x) == 0)
					rc->ndots = (int)x;
				else if (strncmp(v, "timeout:", 8) == 0 &&
				    parse_number(v + 8, 1, 30, &x) == 0)
					rc->timeout = (int)x;
				else if (strncmp(v, "attempts:", 9) == 0 &&
				    parse_number(v + 9, 1, 5, &x) == 0)
					rc->attempts = (int)x;
				else if (strcmp(v, "rotate") == 0)
					rc->rotate = 1;
				else if (strcmp(v, "trust-ad") == 0)
					rc->trust_ad = 1;
			}
		}
	}
	if (rc->nns == 0) {
		struct sockaddr_in *s4 = (void *)&rc->ns[0];

		memset(&rc->ns[0], 0, sizeof(rc->ns[0]));
		s4->sin_family = AF_INET;
		s4->sin_port = htons(53);
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rc->nslen[0] = sizeof(*s4);
		rc->nns = 1;
	}
}

/* Read the system's resolv.conf ($OUTBOX_RESOLV_CONF for the tests). */
static void
load_conf(struct resolvconf *rc)
{
	const char *path = getenv("OUTBOX_RESOLV_CONF");
	char buf[8192];
	ssize_t n = -1;
	int fd;

	if (path == NULL || *path == '\0')
		path = PATH_RESOLV_CONF;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	dns_conf(buf, rc);
}

/*
 * One query to one server: UDP, then TCP if the answer was truncated.
 * Answers that do not match the query are dropped, and the wait goes
 * on: they may be forged.  Returns what dns_answer() does, with the
 * answer's header flags (RCODE in the low four bits) in *hdr, or -2 when
 * no answer came by the deadline.
 */
static int
ask_one(const struct sockaddr_storage *ns, socklen_t nslen,
    const unsigned char *q, size_t qlen, uint16_t id, const char *name,
    int type, int64_t deadline, struct dnsrr *rr, size_t max, unsigned *hdr)
{
	unsigned char buf[DNS_TCP_MAX];
	ssize_t r;
	int fd, n = -2, rcode;

	*hdr = 0;
	if ((fd = socket(ns->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -2;
	/* Connected: the kernel drops datagrams from other addresses. */
	if (connect(fd, (const struct sockaddr *)ns, nslen) == -1 ||
	    send(fd, q, qlen, 0) != (ssize_t)qlen) {
		close(fd);
		return -2;
	}
	/* Until the deadline, or an error (ICMP: no server there). */
	while ((r = fd_read(fd, buf, 512, deadline)) > 0) {
		n = dns_answer(buf, (size_t)r, id, name, type, rr, max, &rcode,
		    hdr);
		if (n != -1)
			break;
		n = -2;
	}
	close(fd);
	if (n >= 0 && (*hdr & F_TC)) {
		r = ask_tcp(ns, nslen, q, qlen, buf, sizeof(buf), deadline);
		n = r > 0 ? dns_answer(buf, (size_t)r, id, name, type, rr, max,
		    &rcode, hdr) : -2;
		if (n == -1)
			n = -2;
	}
	return n;
}

/* The query over TCP (RFC 1035 4.2.2, RFC 7766).  The answer's length. */
static ssize_t
ask_tcp(const struct sockaddr_storage *ns, socklen_t nslen,
    const unsigned char *q, size_t qlen, unsigned char *buf, size_t cap,
    int64_t deadline)
{
	unsigned char msg[2 + 512];
	size_t len, got = 0;
	ssize_t r = -1;
	int fd;

	if ((fd = socket(ns->ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		return -1;
	if ((connect(fd, (const struct sockaddr *)ns, nslen) == -1 &&
	    errno != EINPROGRESS) || fd_wait(fd, POLLOUT, deadline) == -1)
		goto out;
	msg[0] = (unsigned char)(qlen >> 8);
	msg[1] = (unsigned char)qlen;
	memcpy(msg + 2, q, qlen);
	if (fd_write(fd, msg, qlen + 2, deadline) == -1)
		goto out;
	/* Two bytes of length, then that many. */
	for (len = 2; got < len; got += (size_t)r) {
		if ((r = fd_read(fd, got < 2 ? msg + got : buf + got - 2,
		    got < 2 ? 2 - got : len - got, deadline)) <= 0) {
			r = -1;
			goto out;
		}
		if (got + (size_t)r == 2) {
			len = 2 + get16(msg);
			if (len - 2 > cap || len == 2) {
				r = -1;
				goto out;
			}
		}
	}
	r = (ssize_t)(len - 2);
out:
	close(fd);
	return r;
}

/*
 * Ask the servers of rc about name and type, as resolv.conf says: each
 * server in turn (from a rotating start with "rotate"), for "attempts"
 * rounds, each try waiting "timeout" seconds, within DNS_TIME_MAX in
 * all.  SERVFAIL and REFUSED send the question to the next server.
 * With "options trust-ad" the query asks for the AD bit (RFC 6840 5.7)
 * and the answer's is kept; without, it is cleared, since nothing says
 * the server validated anything or that the path to it is safe.
 * Returns the records kept (0 for no data or NXDOMAIN, told apart by
 * the RCODE in the low bits of *hdr, the answer's header flags), or -1
 * with err set.
 */
static int
ask(const struct resolvconf *rc, const char *name, int type, struct dnsrr *rr,
    size_t max, unsigned *hdr, char *err, size_t errlen)
{
	static unsigned turn;
	unsigned char q[DNS_NAME_MAX + HDR + 8];
	int64_t end = deadline_in(DNS_TIME_MAX), d;
	char addr[INET6_ADDRSTRLEN] = "";
	uint16_t id;
	size_t qlen;
	int a, k, s = 0, n, failed = 0, rcode;

	for (a = 0; a < rc->attempts && now_ms() < end; a++) {
		for (k = 0; k < rc->nns && now_ms() < end; k++) {
			s = (int)((k + (rc->rotate ? turn : 0)) % (unsigned)rc->nns);
			rand_bytes(&id, sizeof(id));
			if ((qlen = dns_query(q, sizeof(q), id, name,
			    type)) == 0) {
				snprintf(err, errlen, "unable to resolve %s: not "
				    "a valid name", name);
				return -1;
			}
			if (rc->trust_ad)
				q[3] |= F_AD;
			if ((d = deadline_in(rc->timeout)) > end)
				d = end;
			n = ask_one(&rc->ns[s], rc->nslen[s], q, qlen, id, name,
			    type, d, rr, max, hdr);
			if (!rc->trust_ad)
				*hdr &= ~(unsigned)F_AD;
			rcode = (int)(*hdr & 15);
			/* An answer, or "no such name": what the servers say. */
			if (n >= 0 && (rcode == 0 || rcode == 3)) {
				turn++;
				return n;
			}
			if (n >= 0)
				failed = rcode;	/* the next server may know */
		}
	}
	if (failed == 2)
		snprintf(err, errlen, "unable to resolve %s: the name server "
		    "failed (SERVFAIL)", name);
	else if (failed)
		snprintf(err, errlen, "unable to resolve %s: the name server "
		    "refused (rcode %d)", name, failed);
	else {
		/* The last server asked, which may be one of several. */
		if (rc->ns[s].ss_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)
			    (const void *)&rc->ns[s])->sin_addr, addr,
			    sizeof(addr));
		else
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
			    (const void *)&rc->ns[s])->sin6_addr, addr,
			    sizeof(addr));
		snprintf(err, errlen, "unable to resolve %s: no answer from %s%s "
		    "after %d tries", name, addr, rc->nns > 1 ? " and the "
		    "others" : "", rc->attempts * rc->nns);
	}
	return -1;
}

/*
 * Fill in a for addr (4 or 16 bytes) and port, with its text
 * "[addr]:port" for messages.
 */
static void
set_addr(struct hostaddr *a, const unsigned char *addr, size_t len, int port)
{
	struct sockaddr_in *s4 = (void *)&a->ss;
	struct sockaddr_in6 *s6 = (void *)&a->ss;
	char num[INET6_ADDRSTRLEN];

	memset(a, 0, sizeof(*a));
	if (len == 4) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		memcpy(&s4->sin_addr, addr, 4);
		a->len = sizeof(*s4);
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		memcpy(&s6->sin6_addr, addr, 16);
		a->len = sizeof(*s6);
	}
	inet_ntop(len == 4 ? AF_INET : AF_INET6, addr, num, sizeof(num));
	snprintf(a->text, sizeof(a->text), "[%s]:%d", num, port);
}

/*
 * The addresses /etc/hosts gives name, as AAAA and A records in rr6 and
 * rr4 (at most HOST_ADDRS_MAX each).  Returns how many there are.
 */
static int
from_hosts(const char *name, struct dnsrr *rr6, int *n6, struct dnsrr *rr4,
    int *n4)
{
	char line[1024], *w, *addr, *save;
	unsigned char a[16];
	FILE *fp;

	*n6 = *n4 = 0;
	if ((fp = fopen(PATH_HOSTS, "re")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "#\n")] = '\0';
		if ((addr = strtok_r(line, " \t\r", &save)) == NULL)
			continue;
		while ((w = strtok_r(NULL, " \t\r", &save)) != NULL) {
			if (strcasecmp(w, name) != 0)
				continue;
			if (inet_pton(AF_INET6, addr, a) == 1 &&
			    *n6 < HOST_ADDRS_MAX)
				memcpy(rr6[(*n6)++].addr, a, 16);
			else if (inet_pton(AF_INET, addr, a) == 1 &&
			    *n4 < HOST_ADDRS_MAX)
				memcpy(rr4[(*n4)++].addr, a, 4);
			break;
		}
	}
	fclose(fp);
	return *n6 + *n4;
}

/*
 * Resolve host (a name or an address literal) for TCP port into at most
 * max addresses: an address as it is; a name from /etc/hosts, or else
 * from its AAAA and A records, each in the order the server gave, IPv6
 * and IPv4 interleaved so that a broken family costs one attempt, not
 * all.  Returns the count; DNS_NONE with err set when the name servers
 * say the name has no address (no such name, or no A or AAAA record);
 * -1 with err set when they could not be asked.
 */
int
dns_host(const char *host, int port, struct hostaddr *out, size_t max,
    char *err, size_t errlen)
{
	struct resolvconf rc;
	struct dnsrr rr6[HOST_ADDRS_MAX], rr4[HOST_ADDRS_MAX];
	char e6[ERR_MAX], e4[ERR_MAX];
	unsigned char a[16];
	unsigned how;
	int n6, n4, i;
	size_t n = 0;

	if (inet_pton(AF_INET, host, a) == 1 && max > 0) {
		set_addr(&out[0], a, 4, port);
		return 1;
	}
	if (inet_pton(AF_INET6, host, a) == 1 && max > 0) {
		set_addr(&out[0], a, 16, port);
		return 1;
	}
	if (from_hosts(host, rr6, &n6, rr4, &n4) == 0) {
		load_conf(&rc);
		n6 = lookup(&rc, host, DNS_AAAA, rr6, HOST_ADDRS_MAX, &how, e6,
		    sizeof(e6));
		n4 = lookup(&rc, host, DNS_A, rr4, HOST_ADDRS_MAX, &how, e4,
		    sizeof(e4));
	}
	for (i = 0; n < max && (i < n6 || i < n4); i++) {
		if (i < n6)
			set_addr(&out[n++], rr6[i].addr, 16, port);
		if (i < n4 && n < max)
			set_addr(&out[n++], rr4[i].addr, 4, port);
	}
	if (n > 0)
		return (int)n;
	/* Say why the A lookup failed, or else the AAAA one. */
	snprintf(err, errlen, "%s", n4 == -1 || n6 != -1 ? e4 : e6);
	return n4 == 0 && n6 == 0 ? DNS_NONE : -1;
}

/*
 * Put rr[0..n) in the order to try them: by pref (MX preference, SRV
 * priority), lowest first; within one pref, MX hosts at random (RFC 5321
 * 5.1) and SRV targets by weight (RFC 2782): the records of weight 0
 * first, then a number drawn from 0 to the sum of the weights picks the
 * first whose running sum reaches it, and so on for the rest.
 */
static void
order(struct dnsrr *rr, size_t n, int weighted)
{
	struct dnsrr t;
	size_t i, j, k, end;
	uint32_t sum, pick;

	for (i = 1; i < n; i++)		/* insertion sort: n is small */
		for (j = i; j > 0 && rr[j - 1].pref > rr[j].pref; j--) {
			t = rr[j];
			rr[j] = rr[j - 1];
			rr[j - 1] = t;
		}
	for (i = 0; i < n; i = end) {
		for (end = i + 1; end < n && rr[end].pref == rr[i].pref; end++)
			;
		for (k = i; k + 1 < end; k++) {
			rand_bytes(&pick, sizeof(pick));
			for (sum = 0, j = k; j < end; j++)
				sum += weighted ? rr[j].weight : 1;
			if (!weighted || sum == 0)
				j = k + pick % (end - k);
			else {
				/* The zero weights are first in line. */
				for (j = k + 1; j < end; j++)
					if (rr[j].weight == 0) {
						t = rr[j];
						memmove(&rr[k + 1], &rr[k],
						    (j - k) * sizeof(*rr));
						rr[k] = t;
					}
				pick %= sum + 1;
				for (sum = 0, j = k; j + 1 < end; j++)
					if ((sum += rr[j].weight) >= pick)
						break;
			}
			t = rr[j];
			memmove(&rr[k + 1], &rr[k], (j - k) * sizeof(*rr));
			rr[k] = t;
		}
	}
}

/*
 * The hosts that take mail for domain (RFC 5321 5.1): its MX targets in
 * the order to try them, at most max; with no MX record, the domain
 * itself, as a record of type DNS_A (the implicit MX).  The domain is
 * taken as it is, without the search list.  Returns the count;
 * DNS_NONE with err set when the domain takes no mail: it does not
 * exist, or its MX is null (RFC 7505); -1 with err set when the name
 * servers could not tell.
 */
int
dns_mx(const char *domain, struct dnsrr *rr, size_t max, char *err,
    size_t errlen)
{
	struct resolvconf rc;
	char name[DNS_NAME_MAX + 2];
	unsigned how;
	size_t i, k;
	int n, null = 0;

	if (max == 0 || (size_t)snprintf(name, sizeof(name), "%s.", domain) >=
	    sizeof(name) - 1 || domain[0] == '\0' || domain[0] == '.') {
		snprintf(err, errlen, "\"%.64s\" is not a domain name", domain);
		return DNS_NONE;
	}
	load_conf(&rc);
	if ((n = lookup(&rc, name, DNS_MX, rr, max, &how, err, errlen)) == -1)
		return -1;
	if (n == 0 && (how & LK_NX)) {
		snprintf(err, errlen, "domain %s does not exist (NXDOMAIN)",
		    domain);
		return DNS_NONE;
	}
	for (i = k = 0; i < (size_t)n; i++) {
		if (rr[i].target[0] == '\0')
			null++;
		else
			rr[k++] = rr[i];
	}
	if (k == 0 && null) {
		snprintf(err, errlen, "domain %s accepts no mail: its MX is "
		    "null (RFC 7505)", domain);
		return DNS_NONE;
	}
	if (k == 0) {
		memset(&rr[0], 0, sizeof(rr[0]));
		rr[0].type = DNS_A;
		strlcpy(rr[0].name, domain, sizeof(rr[0].name));
		strlcpy(rr[0].target, domain, sizeof(rr[0].target));
		return 1;
	}
	order(rr, k, 0);
	return (int)k;
}

/*
 * The SRV records of name (RFC 2782), in the order to try them, at most
 * max, without the search list.  *secure says whether every answer on
 * the way came with the AD bit from a server resolv.conf trusts with
 * "options trust-ad".  Returns the count (0 when there is none, or when
 * the only target is ".": the service is not offered), or -1 with err
 * set.
 */
int
dns_srv(const char *name, struct dnsrr *rr, size_t max, int *secure,
    char *err, size_t errlen)
{
	struct resolvconf rc;
	char abs[DNS_NAME_MAX + 2];
	unsigned how;
	size_t i, k;
	int n;

	*secure = 0;
	if ((size_t)snprintf(abs, sizeof(abs), "%s.", name) >= sizeof(abs) - 1) {
		snprintf(err, errlen, "\"%.64s\" is not a domain name", name);
		return -1;
	}
	load_conf(&rc);
	if ((n = lookup(&rc, abs, DNS_SRV, rr, max, &how, err, errlen)) <= 0)
		return n;
	*secure = (how & LK_AD) != 0;
	for (i = k = 0; i < (size_t)n; i++)
		if (rr[i].target[0] != '\0' && rr[i].port != 0)
			rr[k++] = rr[i];
	order(rr, k, 1);
	return (int)k;
}

/*
 * The records of type for name, with the search list of rc applied as
 * resolv.conf(5) says (a name with at least ndots dots is tried as it
 * is first), and CNAME links followed, at most DNS_CNAME_MAX of them.
 * Returns their number (0: none, with LK_NX in *how when no name
 * existed), or -1 with err set; err is set for 0 too.  NXDOMAIN and no
 * data go on to the next candidate; a failure of the servers ends the
 * lookup, lest a search domain answer for a name that only could not
 * be looked up.
 */
static int
lookup(const struct resolvconf *rc, const char *name, int type,
    struct dnsrr *rr, size_t max, unsigned *how, char *err, size_t errlen)
{
	char cand[DNS_SEARCH_MAX + 1][DNS_NAME_MAX + 1], cur[DNS_NAME_MAX + 1];
	size_t nc = 0, len = strlen(name), dots = 0, i, k;
	unsigned hdr = 0;
	int n, links, nx = 0, m;

	*how = 0;
	for (i = 0; i < len; i++)
		dots += name[i] == '.';
	if (len == 0 || len > DNS_NAME_MAX - 1) {
		snprintf(err, errlen, "unable to resolve \"%.64s\": not a valid "
		    "name", name);
		return -1;
	}
	if (name[len - 1] == '.')	/* absolute: no search */
		snprintf(cand[nc++], sizeof(cand[0]), "%.*s", (int)len - 1, name);
	else {
		if ((int)dots >= rc->ndots)
			strlcpy(cand[nc++], name, sizeof(cand[0]));
		for (i = 0; i < (size_t)rc->nsearch; i++)
			if ((size_t)snprintf(cand[nc], sizeof(cand[0]), "%s.%s",
			    name, rc->search[i]) < sizeof(cand[0]))
				nc++;
		if ((int)dots < rc->ndots)
			strlcpy(cand[nc++], name, sizeof(cand[0]));
	}
	for (i = 0; i < nc; i++) {
		strlcpy(cur, cand[i], sizeof(cur));
		*how = LK_AD;
		for (links = 0;;) {
			n = ask(rc, cur, type, rr, max, &hdr, err, errlen);
			if (n == -1)
				return -1;
			if (!(hdr & F_AD))
				*how = 0;
			if ((hdr & 15) == 3) {
				nx++;
				break;
			}
			/* Follow the chain through the answer itself. */
			for (k = 0; k < (size_t)n; k++) {
				if (rr[k].type != DNS_CNAME ||
				    strcasecmp(rr[k].name, cur) != 0)
					continue;
				if (++links > DNS_CNAME_MAX)
					goto toolong;
				strlcpy(cur, rr[k].target, sizeof(cur));
				k = (size_t)-1;	/* from the top again */
			}
			for (k = 0, m = 0; k < (size_t)n; k++)
				if (rr[k].type == type &&
				    strcasecmp(rr[k].name, cur) == 0)
					rr[m++] = rr[k];
			if (m > 0)
				return m;
			/* A CNAME whose target was not in the answer: ask. */
			for (k = 0; k < (size_t)n; k++)
				if (rr[k].type == DNS_CNAME)
					break;
			if (k == (size_t)n)
				break;		/* no data for this name */
		}
	}
	*how = nx == (int)nc ? LK_NX : 0;
	snprintf(err, errlen, "unable to resolve %s: %s", name, nx ?
	    "no such domain (NXDOMAIN)" : "no address");
	return 0;
toolong:
	snprintf(err, errlen, "unable to resolve %s: more than %d CNAME links",
	    name, DNS_CNAME_MAX);
	return -1;
}
