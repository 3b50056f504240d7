/*
 * SASL client mechanisms for SMTP AUTH (RFC 4954), as pure functions of
 * their arguments: base64 (RFC 4648), CRAM-MD5 (RFC 2195), XOAUTH2
 * (Google's), OAUTHBEARER (RFC 7628) and SCRAM-SHA-256 (RFC 5802,
 * RFC 7677).  There is no I/O here: smtp.c sends what these build,
 * base64-encoded, and hands back what the server answers.
 *
 * Responses are built raw; smtp.c encodes them.  A result that does not
 * fit is an error, never a truncated response, and the output buffer is
 * then wiped, since a partial response may hold part of a secret.  So is
 * every local that held a password, a key or something derived from one,
 * on every path: a later stack frame or a core dump must not show it.
 */
#include <sys/types.h>

#include <bearssl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "outbox.h"

/* RFC 7677 section 4: fewer iterations than this must be refused. */
#define SCRAM_ITER_MIN	4096

/* SCRAM states (struct scram), in the order an exchange goes through. */
#define SCRAM_IDLE	0	/* nothing under way, or a step failed */
#define SCRAM_STARTED	1
#define SCRAM_PROVED	2
#define SCRAM_VERIFIED	3	/* the server proved it knows the password */

/* Everything secret scram_prove() computes, so one call wipes it all. */
struct scram_keys {
	unsigned char	salted[br_sha256_SIZE];		/* SaltedPassword */
	unsigned char	client[br_sha256_SIZE];		/* ClientKey */
	unsigned char	stored[br_sha256_SIZE];		/* StoredKey */
	unsigned char	sig[br_sha256_SIZE];		/* ClientSignature */
	unsigned char	server[br_sha256_SIZE];		/* ServerKey */
	char		proof[2 * br_sha256_SIZE];	/* base64 ClientProof */
	br_sha256_context sha;
};

static int	b64_value(int);
static int	put(char *, size_t, size_t *, const char *, size_t);
static int	put_str(char *, size_t, size_t *, const char *);
static int	put_saslname(char *, size_t, size_t *, const char *);
static int	put_bearer(char *, size_t, size_t *, const char *);
static int	kv_safe(const char *);
static int	nonce_ok(const char *, size_t);
static const char *printable(char *, size_t, const char *, size_t);
static int	fail(char *, size_t, const char *, ...) PRINTF(3, 4);
static void	hmac(void *, const br_hash_class *, const void *, size_t,
		    const void *, size_t);
static void	scram_hi(unsigned char *, const char *, const unsigned char *,
		    size_t, unsigned long);
static void	scram_sign(unsigned char *, const unsigned char *,
		    const struct scram *, const char *, size_t, const char *,
		    size_t);
static int	scram_attr(const char **, const char *, int, const char **,
		    size_t *);
static int	scram_iter(const char *, size_t, unsigned long *, char *,
		    size_t);

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
b64_encode(char *dst, size_t cap, const void *src, size_t len)
{
	const unsigned char *s = src;
	size_t i, n, o = 0;
	uint32_t v;

	if (cap == 0)
		return 0;
	dst[0] = '\0';
	/* Four characters for each three bytes or part of three, and a NUL. */
	if (len / 3 + (len % 3 != 0) > (cap - 1) / 4)
		return 0;
	for (i = 0; i < len; i += 3) {
		n = len - i;	/* bytes left: 3 or more make a whole group */
		v = (uint32_t)s[i] << 16;
		if (n > 1)
			v |= (uint32_t)s[i + 1] << 8;
		if (n > 2)
			v |= s[i + 2];
		dst[o++] = b64_alphabet[v >> 18];
		dst[o++] = b64_alphabet[v >> 12 & 63];
		dst[o++] = n > 1 ? b64_alphabet[v >> 6 & 63] : '=';
		dst[o++] = n > 2 ? b64_alphabet[v & 63] : '=';
	}
	dst[o] = '\0';
	return o;
}

static int
b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Padding may only end the last quantum, and the bits it leaves over must
 * be zero (RFC 4648 section 3.5 lets a decoder insist): then every byte
 * string has exactly one encoding, and a server's sloppy encoder shows.
 */
ssize_t
b64_decode(void *dst, size_t cap, const char *src, size_t len)
{
	unsigned char *d = dst;
	size_t i, k, n, o = 0, pad = 0;
	uint32_t v = 0;
	int c;

	if (len % 4 != 0)
		return -1;
	if (len > 0 && src[len - 1] == '=')
		pad = src[len - 2] == '=' ? 2 : 1;
	n = len / 4 * 3 - pad;
	if (n > cap || n > SSIZE_MAX)
		return -1;
	for (i = 0; i < len; i += 4) {
		v = 0;
		for (k = i; k < i + 4; k++) {
			if (k >= len - pad)
				c = 0;
			else if ((c = b64_value((unsigned char)src[k])) == -1)
				return -1;
			v = v << 6 | (uint32_t)c;
		}
		for (k = 0; k < 3 && o < n; k++)
			d[o++] = (unsigned char)(v >> (16 - 8 * k));
	}
	if (pad > 0 && (v & ((1U << 8 * pad) - 1)) != 0)
		return -1;
	return (ssize_t)n;
}

/* Append n bytes at *off in out (cap bytes), leaving room for a NUL. */
static int
put(char *out, size_t cap, size_t *off, const char *s, size_t n)
{
	if (*off >= cap || n >= cap - *off)
		return -1;
	memcpy(out + *off, s, n);
	*off += n;
	out[*off] = '\0';
	return 0;
}

static int
put_str(char *out, size_t cap, size_t *off, const char *s)
{
	return put(out, cap, off, s, strlen(s));
}

/*
 * Append a user name as a saslname (RFC 5802 section 5.1, RFC 5801
 * section 4): a ',' would end the attribute and '=' starts the escapes,
 * so they travel as "=2C" and "=3D".
 */
static int
put_saslname(char *out, size_t cap, size_t *off, const char *user)
{
	const char *s;
	int rc;

	for (s = user; *s != '\0'; s++) {
		if (*s == ',')
			rc = put_str(out, cap, off, "=2C");
		else if (*s == '=')
			rc = put_str(out, cap, off, "=3D");
		else
			rc = put(out, cap, off, s, 1);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/*
 * The OAuth responses separate their fields with ^A (RFC 7628 kvsep):
 * one inside a user name or token would forge a field, so refuse it.
 */
static int
kv_safe(const char *s)
{
	return strchr(s, '\001') == NULL;
}

/* A SCRAM nonce: printable ASCII except ',' (RFC 5802 section 7). */
static int
nonce_ok(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e ||
		    s[i] == ',')
			return 0;
	return len > 0;
}

/* The server's text, made fit for an error line: controls become '?'. */
static const char *
printable(char *buf, size_t cap, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && i + 1 < cap; i++)
		buf[i] = (unsigned char)s[i] >= 0x20 &&
		    (unsigned char)s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* out = HMAC-H(key, data). */
static void
hmac(void *out, const br_hash_class *h, const void *key, size_t keylen,
    const void *data, size_t len)
{
	br_hmac_key_context kc;
	br_hmac_context hc;

	br_hmac_key_init(&kc, h, key, keylen);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, data, len);
	br_hmac_out(&hc, out);
	explicit_bzero(&kc, sizeof(kc));
	explicit_bzero(&hc, sizeof(hc));
}

int
sasl_cram_md5(char *out, size_t cap, const char *user, const char *pw,
    const void *challenge, size_t clen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[br_md5_SIZE];
	char digest[2 * br_md5_SIZE + 1];
	size_t i, off = 0;
	int rc = -1;

	hmac(mac, &br_md5_vtable, pw, strlen(pw), challenge, clen);
	for (i = 0; i < sizeof(mac); i++) {
		digest[2 * i] = hex[mac[i] >> 4];
		digest[2 * i + 1] = hex[mac[i] & 15];
	}
	digest[2 * i] = '\0';
	if (put_str(out, cap, &off, user) == 0 &&
	    put_str(out, cap, &off, " ") == 0 &&
	    put_str(out, cap, &off, digest) == 0)
		rc = 0;
	else
		explicit_bzero(out, cap);
	/* The digest allows an offline guess at the password: wipe it too. */
	explicit_bzero(mac, sizeof(mac));
	explicit_bzero(digest, sizeof(digest));
	return rc;
}

/* The end both OAuth mechanisms share: the token and two ^A. */
static int
put_bearer(char *out, size_t cap, size_t *off, const char *token)
{
	if (put_str(out, cap, off, "\001auth=Bearer ") == -1 ||
	    put_str(out, cap, off, token) == -1)
		return -1;
	return put_str(out, cap, off, "\001\001");
}

size_t
sasl_xoauth2(char *out, size_t cap, const char *user, const char *token)
{
	size_t off = 0;

	if (kv_safe(user) && kv_safe(token) &&
	    put_str(out, cap, &off, "user=") == 0 &&
	    put_str(out, cap, &off, user) == 0 &&
	    put_bearer(out, cap, &off, token) == 0)
		return off;
	explicit_bzero(out, cap);
	return 0;
}

/*
 * The GS2 header names the user only when there is one: RFC 5801 does
 * not allow an empty saslname after "a=".
 */
size_t
sasl_oauthbearer(char *out, size_t cap, const char *user, const char *host,
    int port, const char *token)
{
	char num[16];
	size_t off = 0;

	snprintf(num, sizeof(num), "%d", port);
	if (kv_safe(user) && kv_safe(host) && kv_safe(token) &&
	    put_str(out, cap, &off, *user != '\0' ? "n,a=" : "n,") == 0 &&
	    put_saslname(out, cap, &off, user) == 0 &&
	    put_str(out, cap, &off, ",\001host=") == 0 &&
	    put_str(out, cap, &off, host) == 0 &&
	    put_str(out, cap, &off, "\001port=") == 0 &&
	    put_str(out, cap, &off, num) == 0 &&
	    put_bearer(out, cap, &off, token) == 0)
		return off;
	explicit_bzero(out, cap);
	return 0;
}

/*
 * The GS2 header "n,," says we do not do channel binding, which is true:
 * we offer SCRAM-SHA-256, never SCRAM-SHA-256-PLUS.
 */
int
scram_start(struct scram *sc, const char *user, const char *nonce, char *out,
    size_t cap)
{
	size_t off = 0;

	scram_wipe(sc);		/* whatever an earlier exchange left */
	if (*user == '\0' || !nonce_ok(nonce, strlen(nonce)) ||
	    put_str(sc->bare, sizeof(sc->bare), &off, "n=") == -1 ||
	    put_saslname(sc->bare, sizeof(sc->bare), &off, user) == -1 ||
	    put_str(sc->bare, sizeof(sc->bare), &off, ",r=") == -1 ||
	    put_str(sc->bare, sizeof(sc->bare), &off, nonce) == -1)
		goto bad;
	sc->barelen = off;
	off = 0;
	if (put_str(out, cap, &off, "n,,") == -1 ||
	    put(out, cap, &off, sc->bare, sc->barelen) == -1)
		goto bad;
	sc->state = SCRAM_STARTED;
	return 0;
bad:
	scram_wipe(sc);
	explicit_bzero(out, cap);
	return -1;
}

/*
 * Hi() of RFC 5802 section 2.2, which is PBKDF2 (RFC 8018) with
 * HMAC-SHA-256 and one block of output: U1 = HMAC(pw, salt + INT(1)),
 * Uk = HMAC(pw, Uk-1), and the result is the XOR of every Uk.  The key
 * context is made once: it keeps the hashed pads, so that each round
 * costs two compressions instead of four.
 */
static void
scram_hi(unsigned char *out, const char *pw, const unsigned char *salt,
    size_t saltlen, unsigned long iter)
{
	static const unsigned char one[4] = { 0, 0, 0, 1 };
	br_hmac_key_context kc;
	br_hmac_context hc;
	unsigned char u[br_sha256_SIZE];
	unsigned long k;
	size_t i;

	br_hmac_key_init(&kc, &br_sha256_vtable, pw, strlen(pw));
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, salt, saltlen);
	br_hmac_update(&hc, one, sizeof(one));
	br_hmac_out(&hc, u);
	memcpy(out, u, sizeof(u));
	for (k = 1; k < iter; k++) {
		br_hmac_init(&hc, &kc, 0);
		br_hmac_update(&hc, u, sizeof(u));
		br_hmac_out(&hc, u);
		for (i = 0; i < sizeof(u); i++)
			out[i] ^= u[i];
	}
	explicit_bzero(&kc, sizeof(kc));
	explicit_bzero(&hc, sizeof(hc));
	explicit_bzero(u, sizeof(u));
}

/*
 * mac = HMAC-SHA-256(key, AuthMessage), where AuthMessage is
 * client-first-message-bare "," server-first-message ","
 * client-final-message-without-proof.  It is fed in pieces, so it needs
 * no buffer of its own.
 */
static void
scram_sign(unsigned char *mac, const unsigned char *key,
    const struct scram *sc, const char *first, size_t firstlen,
    const char *final, size_t finallen)
{
	br_hmac_key_context kc;
	br_hmac_context hc;

	br_hmac_key_init(&kc, &br_sha256_vtable, key, br_sha256_SIZE);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, sc->bare, sc->barelen);
	br_hmac_update(&hc, ",", 1);
	br_hmac_update(&hc, first, firstlen);
	br_hmac_update(&hc, ",", 1);
	br_hmac_update(&hc, final, finallen);
	br_hmac_out(&hc, mac);
	explicit_bzero(&kc, sizeof(kc));
	explicit_bzero(&hc, sizeof(hc));
}

/*
 * Read the attribute "name=value" at *p, whose value runs to the next ','
 * or to end, and step past that ','.  RFC 5802 fixes the order of the
 * attributes, so the caller names the one that must come next.
 */
static int
scram_attr(const char **p, const char *end, int name, const char **val,
    size_t *len)
{
	const char *s = *p, *e;

	if (end - s < 2 || s[0] != name || s[1] != '=')
		return -1;
	s += 2;
	if ((e = memchr(s, ',', (size_t)(end - s))) == NULL)
		e = end;
	*val = s;
	*len = (size_t)(e - s);
	*p = e < end ? e + 1 : e;
	return 0;
}

/*
 * The iteration count: a decimal number without a leading zero (RFC 5802
 * posit-number), from SCRAM_ITER_MIN to SCRAM_ITER_MAX.  Digits past the
 * maximum are not added up, so no count overflows.
 */
static int
scram_iter(const char *s, size_t len, unsigned long *iter, char *err,
    size_t errlen)
{
	char text[32];
	size_t i;

	printable(text, sizeof(text), s, len);
	*iter = 0;
	for (i = 0; i < len && *iter <= SCRAM_ITER_MAX; i++) {
		if (s[i] < '0' || s[i] > '9' || (i == 0 && s[i] == '0'))
			break;
		*iter = *iter * 10 + (unsigned long)(s[i] - '0');
	}
	if (len == 0 || (i < len && *iter <= SCRAM_ITER_MAX))
		return fail(err, errlen, "SCRAM: bad iteration count \"%s\"",
		    text);
	if (*iter < SCRAM_ITER_MIN)
		return fail(err, errlen, "SCRAM: iteration count %s below %d",
		    text, SCRAM_ITER_MIN);
	if (*iter > SCRAM_ITER_MAX)
		return fail(err, errlen, "SCRAM: iteration count %s above %d",
		    text, SCRAM_ITER_MAX);
	return 0;
}

/*
 * There is no SASLprep (RFC 4013): the password is used as its bytes.
 * For an ASCII password, the usual case, SASLprep changes nothing; a
 * password with non-ASCII characters works only if the server stored it
 * in the same normalization form as the configuration file holds it.
 *
 * The server-first-message is copied first, because out may be the very
 * buffer it arrived in: the answer is written while the AuthMessage,
 * which quotes the message, is still to be signed.
 */
int
scram_prove(struct scram *sc, const char *pw, const char *server_first,
    size_t len, char *out, size_t cap, char *err, size_t errlen)
{
	struct scram_keys k;
	unsigned char salt[SCRAM_MSG_MAX];
	char first[SCRAM_MSG_MAX];
	const char *p = first, *end = first + len, *nonce, *salt64, *iter64;
	const char *ours;
	size_t noncelen, salt64len, iterlen, ourlen, off = 0, i;
	unsigned long iter;
	ssize_t saltlen;
	int rc = -1, started = sc->state == SCRAM_STARTED;

	sc->state = SCRAM_IDLE;		/* until the proof is made */
	if (!started) {
		fail(err, errlen, "SCRAM: no exchange was started");
		goto done;
	}
	if (len > SCRAM_MSG_MAX) {
		fail(err, errlen, "SCRAM: server-first-message longer than %d "
		    "bytes", SCRAM_MSG_MAX);
		goto done;
	}
	memcpy(first, server_first, len);
	if (memchr(first, '\0', len) != NULL) {
		fail(err, errlen, "SCRAM: NUL byte in the server-first-message");
		goto done;
	}
	if (len >= 2 && first[0] == 'm' && first[1] == '=') {
		fail(err, errlen, "SCRAM: the server requires an extension "
		    "(m=) we do not know");
		goto done;
	}
	if (scram_attr(&p, end, 'r', &nonce, &noncelen) == -1) {
		fail(err, errlen, "SCRAM: no nonce (r=) from the server");
		goto done;
	}
	if (scram_attr(&p, end, 's', &salt64, &salt64len) == -1) {
		fail(err, errlen, "SCRAM: no salt (s=) from the server");
		goto done;
	}
	if (scram_attr(&p, end, 'i', &iter64, &iterlen) == -1) {
		fail(err, errlen, "SCRAM: no iteration count (i=) from the "
		    "server");
		goto done;
	}
	/* What follows is extensions, which RFC 5802 says to ignore. */

	/* The bare message is "n=" saslname ",r=" nonce; saslname has no ','. */
	ours = (const char *)memchr(sc->bare, ',', sc->barelen) + 3;
	ourlen = sc->barelen - (size_t)(ours - sc->bare);
	if (noncelen <= ourlen || memcmp(nonce, ours, ourlen) != 0) {
		fail(err, errlen, "SCRAM: server nonce does not extend ours");
		goto done;
	}
	if (!nonce_ok(nonce, noncelen)) {
		fail(err, errlen, "SCRAM: bad character in the server nonce");
		goto done;
	}
	if ((saltlen = b64_decode(salt, sizeof(salt), salt64, salt64len)) ==
	    -1) {
		fail(err, errlen, "SCRAM: the salt is not valid base64");
		goto done;
	}
	if (scram_iter(iter64, iterlen, &iter, err, errlen) == -1)
		goto done;

	/*
	 * client-final-message-without-proof, then the proof after it.
	 * "biws" is the GS2 header "n,," in base64.
	 */
	if (put_str(out, cap, &off, "c=biws,r=") == -1 ||
	    put(out, cap, &off, nonce, noncelen) == -1) {
		fail(err, errlen, "SCRAM: client-final-message does not fit");
		goto done;
	}
	scram_hi(k.salted, pw, salt, (size_t)saltlen, iter);
	hmac(k.client, &br_sha256_vtable, k.salted, sizeof(k.salted),
	    "Client Key", 10);
	br_sha256_init(&k.sha);
	br_sha256_update(&k.sha, k.client, sizeof(k.client));
	br_sha256_out(&k.sha, k.stored);
	scram_sign(k.sig, k.stored, sc, first, len, out, off);
	for (i = 0; i < sizeof(k.client); i++)
		k.client[i] ^= k.sig[i];	/* ClientProof */
	hmac(k.server, &br_sha256_vtable, k.salted, sizeof(k.salted),
	    "Server Key", 10);
	scram_sign(sc->server_sig, k.server, sc, first, len, out, off);

	b64_encode(k.proof, sizeof(k.proof), k.client, sizeof(k.client));
	if (put_str(out, cap, &off, ",p=") == -1 ||
	    put_str(out, cap, &off, k.proof) == -1) {
		fail(err, errlen, "SCRAM: client-final-message does not fit");
		goto done;
	}
	sc->state = SCRAM_PROVED;
	rc = 0;
done:
	explicit_bzero(&k, sizeof(k));
	if (rc == -1) {
		explicit_bzero(sc->server_sig, sizeof(sc->server_sig));
		explicit_bzero(out, cap);
	}
	return rc;
}

/*
 * The server proves it knows the password too (RFC 5802 section 3).  The
 * comparison takes the same time wherever the first difference is.
 * Either way the exchange is over, and the expected signature, which
 * would allow an offline guess at the password, is wiped.
 */
int
scram_verify(struct scram *sc, const char *final, size_t len, char *err,
    size_t errlen)
{
	unsigned char sig[br_sha256_SIZE];
	char text[256];
	const char *p = final, *end = final + len, *val;
	size_t vlen, i;
	unsigned int diff = 0;
	int rc = -1;

	if (sc->state != SCRAM_PROVED) {
		fail(err, errlen, "SCRAM: no proof was sent");
		goto done;
	}
	if (scram_attr(&p, end, 'e', &val, &vlen) == 0) {
		fail(err, errlen, "SCRAM: the server says: %s",
		    printable(text, sizeof(text), val, vlen));
		goto done;
	}
	if (scram_attr(&p, end, 'v', &val, &vlen) == -1) {
		fail(err, errlen, "SCRAM: no verifier (v=) from the server");
		goto done;
	}
	if (b64_decode(sig, sizeof(sig), val, vlen) != (ssize_t)sizeof(sig)) {
		fail(err, errlen, "SCRAM: the server signature is not %d bytes "
		    "of base64", br_sha256_SIZE);
		goto done;
	}
	for (i = 0; i < sizeof(sig); i++)
		diff |= sig[i] ^ sc->server_sig[i];
	if (diff != 0) {
		fail(err, errlen, "SCRAM: server signature does not verify: "
		    "the server does not know the password");
		goto done;
	}
	rc = 0;
done:
	sc->state = rc == 0 ? SCRAM_VERIFIED : SCRAM_IDLE;
	explicit_bzero(sc->server_sig, sizeof(sc->server_sig));
	return rc;
}

void
scram_wipe(struct scram *sc)
{
	explicit_bzero(sc, sizeof(*sc));
}
