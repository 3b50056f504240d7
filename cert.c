/*
 * Reading X.509 certificates (RFC 5280), DER only, for what BearSSL's
 * X.509 engine does not tell: the SubjectPublicKeyInfo that a pin
 * hashes, the validity dates that tell "expired" from "not yet valid",
 * the iPAddress names a host given as an address is matched against,
 * and the names and dates that the doctor mode (-bC) shows.
 *
 * The certificate is untrusted input from the network: every length is
 * checked against what encloses it, tags are single bytes, lengths take
 * at most four bytes, and nothing is copied.  Signatures are BearSSL's
 * business, not this file's.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "outbox.h"

/* A DER value: its contents, or the rest of an enclosing value. */
struct der {
	const unsigned char	*p;
	size_t			 len;
};

static int	der_next(struct der *, unsigned char *, struct der *);
static int	der_want(struct der *, unsigned char, struct der *);
static int	der_time(const struct der *, unsigned char, int64_t *);
static int64_t	days_from_civil(int, int, int);

/*
 * Take the next TLV from in: its tag in *tag and its contents in val.
 * Returns 0, or -1 when it is not there or not well-formed.
 */
static int
der_next(struct der *in, unsigned char *tag, struct der *val)
{
	size_t i = 0, len, n;

	if (in->len < 2)
		return -1;
	*tag = in->p[i++];
	if ((*tag & 0x1f) == 0x1f)
		return -1;		/* multi-byte tags: none in X.509 */
	len = in->p[i++];
	if (len & 0x80) {
		n = len & 0x7f;
		if (n == 0 || n > 4 || n > in->len - i)
			return -1;	/* indefinite, huge, or cut short */
		for (len = 0; n > 0; n--)
			len = len << 8 | in->p[i++];
	}
	if (len > in->len - i)
		return -1;
	val->p = in->p + i;
	val->len = len;
	in->p += i + len;
	in->len -= i + len;
	return 0;
}

/* The next TLV must have this tag. */
static int
der_want(struct der *in, unsigned char want, struct der *val)
{
	unsigned char tag;

	if (der_next(in, &tag, val) == -1 || tag != want)
		return -1;
	return 0;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t
days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	/* Count years from March, so that the leap day ends a year. */
	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/*
 * UTCTime YYMMDDHHMMSSZ (years 1950-2049, RFC 5280 4.1.2.5.1) or
 * GeneralizedTime YYYYMMDDHHMMSSZ, as Unix time.
 */
static int
der_time(const struct der *v, unsigned char tag, int64_t *out)
{
	int f[6], i, n, y;
	size_t want = tag == 0x17 ? 13 : 15, k = 0;

	if ((tag != 0x17 && tag != 0x18) || v->len != want ||
	    v->p[want - 1] != 'Z')
		return -1;
	/* Year (two or four digits), month, day, hour, minute, second. */
	for (i = 0; i < 6; i++) {
		f[i] = 0;
		for (n = (i == 0 && tag == 0x18) ? 4 : 2; n > 0; n--, k++) {
			if (v->p[k] < '0' || v->p[k] > '9')
				return -1;
			f[i] = f[i] * 10 + (v->p[k] - '0');
		}
	}
	y = tag == 0x17 ? (f[0] < 50 ? 2000 + f[0] : 1900 + f[0]) : f[0];
	if (f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 ||
	    f[4] > 59 || f[5] > 60)
		return -1;
	*out = days_from_civil(y, f[1], f[2]) * 86400 + f[3] * 3600 +
	    f[4] * 60 + f[5];
	return 0;
}

/*
 * Find the parts of the certificate der that outbox reads.  Returns 0,
 * or -1 when it is not a certificate as RFC 5280 4.1 shapes it.
 */
int
cert_parse(const unsigned char *der, size_t len, struct certinfo *ci)
{
	static const unsigned char san_oid[] = { 0x55, 0x1d, 0x11 };
	struct der in = { der, len }, cert, tbs, v, ext, e, id;
	unsigned char tag;

	memset(ci, 0, sizeof(*ci));
	if (der_want(&in, 0x30, &cert) == -1 ||
	    der_want(&cert, 0x30, &tbs) == -1)
		return -1;
	if (tbs.len > 0 && tbs.p[0] == 0xa0 && der_next(&tbs, &tag, &v) == -1)
		return -1;	/* [0] version */
	if (der_want(&tbs, 0x02, &v) == -1 ||	/* serialNumber */
	    der_want(&tbs, 0x30, &v) == -1 ||	/* signature */
	    der_want(&tbs, 0x30, &v) == -1)	/* issuer */
		return -1;
	ci->issuer = v.p;
	ci->issuerlen = v.len;
	if (der_want(&tbs, 0x30, &v) == -1)	/* validity */
		return -1;
	if (der_next(&v, &tag, &e) == -1 || der_time(&e, tag, &ci->notbefore) ||
	    der_next(&v, &tag, &e) == -1 || der_time(&e, tag, &ci->notafter))
		return -1;
	if (der_want(&tbs, 0x30, &v) == -1)	/* subject */
		return -1;
	ci->subject = v.p;
	ci->subjectlen = v.len;
	/* The whole SubjectPublicKeyInfo, header included: pins hash it. */
	ci->spki = tbs.p;
	if (der_want(&tbs, 0x30, &v) == -1)
		return -1;
	ci->spkilen = (size_t)(v.p + v.len - ci->spki);
	while (tbs.len > 0) {
		if (der_next(&tbs, &tag, &v) == -1)
			return -1;
		if (tag != 0xa3)	/* [1], [2]: unique identifiers */
			continue;
		if (der_want(&v, 0x30, &ext) == -1)
			return -1;
		while (ext.len > 0) {
			if (der_want(&ext, 0x30, &e) == -1 ||
			    der_want(&e, 0x06, &id) == -1)
				return -1;
			if (e.len > 0 && e.p[0] == 0x01 &&
			    der_next(&e, &tag, &v) == -1)
				return -1;	/* critical */
			if (der_want(&e, 0x04, &v) == -1)
				return -1;
			if (id.len == sizeof(san_oid) &&
			    memcmp(id.p, san_oid, sizeof(san_oid)) == 0) {
				if (der_want(&v, 0x30, &e) == -1)
					return -1;
				ci->san = e.p;
				ci->sanlen = e.len;
			}
		}
	}
	return 0;
}

/*
 * A Name as "CN=..., O=...", in the order of the certificate; bytes
 * outside printable ASCII are escaped.  Returns the length written.
 */
size_t
cert_name(char *buf, size_t cap, const unsigned char *p, size_t len)
{
	static const struct {
		unsigned char	 oid[9];
		size_t		 len;
		const char	*label;
	} attrs[] = {
		{ { 0x55, 0x04, 0x03 }, 3, "CN" },
		{ { 0x55, 0x04, 0x0a }, 3, "O" },
		{ { 0x55, 0x04, 0x0b }, 3, "OU" },
		{ { 0x55, 0x04, 0x06 }, 3, "C" },
		{ { 0x55, 0x04, 0x08 }, 3, "ST" },
		{ { 0x55, 0x04, 0x07 }, 3, "L" },
		{ { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01 }, 9,
		    "emailAddress" },
	};
	struct der in = { p, len }, set, atv, id, v;
	const char *label;
	unsigned char tag;
	size_t o = 0, i;

	if (cap == 0)
		return 0;
	buf[0] = '\0';
	while (in.len > 0 && der_want(&in, 0x31, &set) == 0) {
		while (set.len > 0 && der_want(&set, 0x30, &atv) == 0) {
			if (der_want(&atv, 0x06, &id) == -1 ||
			    der_next(&atv, &tag, &v) == -1)
				return o;
			label = "?";
			for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
				if (id.len == attrs[i].len &&
				    memcmp(id.p, attrs[i].oid, id.len) == 0)
					label = attrs[i].label;
			if (o + 2 < cap && o > 0) {
				memcpy(buf + o, ", ", 3);
				o += 2;
			}
			if (o + strlen(label) + 2 < cap)
				o += (size_t)snprintf(buf + o, cap - o, "%s=", label);
			o += escape(buf + o, cap - o, (const char *)v.p, v.len);
		}
	}
	return o;
}

/*
 * The subjectAltName entries as "DNS:a, IP:192.0.2.1, ..."; other kinds
 * of name are left out.  Returns the length written.
 */
size_t
cert_altnames(char *buf, size_t cap, const struct certinfo *ci)
{
	struct der in = { ci->san, ci->sanlen }, v;
	char addr[INET6_ADDRSTRLEN];
	unsigned char tag;
	size_t o = 0;

	if (cap == 0)
		return 0;
	buf[0] = '\0';
	while (in.len > 0 && der_next(&in, &tag, &v) == 0 && o + 8 < cap) {
		if (tag == 0x82) {		/* dNSName */
			o += (size_t)snprintf(buf + o, cap - o, "%sDNS:",
			    o ? ", " : "");
			if (o < cap)
				o += escape(buf + o, cap - o,
				    (const char *)v.p, v.len);
		} else if (tag == 0x87 && (v.len == 4 || v.len == 16) &&
		    inet_ntop(v.len == 4 ? AF_INET : AF_INET6, v.p, addr,
		    sizeof(addr)) != NULL)	/* iPAddress */
			o += (size_t)snprintf(buf + o, cap - o, "%sIP:%s",
			    o ? ", " : "", addr);
		if (o >= cap)
			o = cap - 1;
	}
	return o;
}

/* Does the certificate name the address (4 or 16 bytes) in its SAN? */
int
cert_match_ip(const struct certinfo *ci, const unsigned char *addr,
    size_t len)
{
	struct der in = { ci->san, ci->sanlen }, v;
	unsigned char tag;

	while (in.len > 0 && der_next(&in, &tag, &v) == 0)
		if (tag == 0x87 && v.len == len && memcmp(v.p, addr, len) == 0)
			return 1;
	return 0;
}

/* Unix time t as "2026-11-23 10:00:00 UTC". */
size_t
cert_time(char *buf, size_t cap, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (cap == 0)
		return 0;
	if (gmtime_r(&tt, &tm) == NULL)
		return (size_t)snprintf(buf, cap, "(time %lld)", (long long)t);
	return strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}
