/*
 * TLS with BearSSL.  The only file that includes bearssl.h.
 *
 * tls_new() loads the trust anchors from a PEM bundle; tls_handshake()
 * runs a TLS 1.2 client handshake on a connected socket with the host
 * name for SNI and the certificate check; tls_io() then gives smtp.c a
 * struct io over the encrypted stream.  The engine is driven by hand
 * (not br_sslio) so that every socket wait honours the caller's
 * deadline and each failure can be named.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>

#include "outbox.h"

struct tls {
	br_x509_trust_anchor	*ta;
	size_t			 nta;
	br_ssl_client_context	 cc;
	br_x509_minimal_context	 xc;
	unsigned char		 iobuf[BR_SSL_BUFSIZE_MONO];
	int			 fd;
	int			 ioerr;		/* errno of the socket, or 0 */
	int			 eof;		/* peer closed the socket */
	unsigned char		 first[48];	/* the server's first bytes */
	size_t			 nfirst;
};

/* A growing byte buffer for DER objects and DNs. */
struct bytes {
	unsigned char	*p;
	size_t		 len, cap;
};

static void	bytes_add(void *, const void *, size_t);
static int	add_anchor(struct tls *, const unsigned char *, size_t);
static int	run_until(struct tls *, unsigned, int64_t);
static void	describe(struct tls *, const char *, char *, size_t);
static void	profile(struct tls *);
static ssize_t	tls_read(void *, void *, size_t, int64_t);
static int	tls_write(void *, const void *, size_t, int64_t);

static void
bytes_add(void *ctx, const void *buf, size_t len)
{
	struct bytes *b = ctx;

	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	memcpy(b->p + b->len, buf, len);
	b->len += len;
}

static void *
dup_bytes(const void *p, size_t len)
{
	return memcpy(xmalloc(len), p, len);
}

/* Decode one DER certificate into a trust anchor.  0, or -1 if unusable. */
static int
add_anchor(struct tls *t, const unsigned char *der, size_t len)
{
	br_x509_decoder_context dc;
	struct bytes dn = { 0 };
	br_x509_trust_anchor *ta;
	br_x509_pkey *pk;

	br_x509_decoder_init(&dc, bytes_add, &dn);
	br_x509_decoder_push(&dc, der, len);
	if ((pk = br_x509_decoder_get_pkey(&dc)) == NULL) {
		free(dn.p);
		return -1;
	}
	t->ta = xreallocarray(t->ta, t->nta + 1, sizeof(*t->ta));
	ta = &t->ta[t->nta];
	memset(ta, 0, sizeof(*ta));
	ta->dn.data = dn.p;
	ta->dn.len = dn.len;
	ta->flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
	ta->pkey.key_type = pk->key_type;
	switch (pk->key_type) {
	case BR_KEYTYPE_RSA:
		ta->pkey.key.rsa.n = dup_bytes(pk->key.rsa.n, pk->key.rsa.nlen);
		ta->pkey.key.rsa.nlen = pk->key.rsa.nlen;
		ta->pkey.key.rsa.e = dup_bytes(pk->key.rsa.e, pk->key.rsa.elen);
		ta->pkey.key.rsa.elen = pk->key.rsa.elen;
		break;
	case BR_KEYTYPE_EC:
		ta->pkey.key.ec.curve = pk->key.ec.curve;
		ta->pkey.key.ec.q = dup_bytes(pk->key.ec.q, pk->key.ec.qlen);
		ta->pkey.key.ec.qlen = pk->key.ec.qlen;
		break;
	default:
		free(dn.p);
		return -1;
	}
	t->nta++;
	return 0;
}

/*
 * Load every certificate in the PEM file at path as a trust anchor.
 * Zero anchors is an error: there is no mode without verification.
 * Returns the new context, or NULL with err set.
 */
struct tls *
tls_new(const char *path, char *err, size_t errlen)
{
	br_pem_decoder_context pc;
	struct bytes der = { 0 };
	struct tls *t;
	unsigned char buf[4096];
	size_t off = 0, len = 0, n;
	long long total = 0;
	ssize_t r;
	int fd, in_cert = 0, bad = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "unable to open cafile %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->fd = -1;
	br_pem_decoder_init(&pc);
	/* The file is decoded as it is read, a block at a time. */
	for (;;) {
		if (off == len) {
			r = read(fd, buf, sizeof(buf));
			if (r == -1 && errno == EINTR)
				continue;
			if (r == -1 || (total += r) > CAFILE_MAX) {
				snprintf(err, errlen, "unable to read cafile %s: %s",
				    path, r == -1 ? strerror(errno) :
				    "larger than 8 MB");
				goto fail;
			}
			if (r == 0)
				break;
			off = 0;
			len = (size_t)r;
		}
		n = br_pem_decoder_push(&pc, buf + off, len - off);
		off += n;
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ:
			in_cert = strcmp(br_pem_decoder_name(&pc),
			    "CERTIFICATE") == 0 || strcmp(br_pem_decoder_name(&pc),
			    "X509 CERTIFICATE") == 0;
			der.len = 0;
			br_pem_decoder_setdest(&pc, in_cert ? bytes_add : NULL,
			    &der);
			break;
		case BR_PEM_END_OBJ:
			if (in_cert && add_anchor(t, der.p, der.len) == -1)
				bad++;
			in_cert = 0;
			break;
		case BR_PEM_ERROR:
			snprintf(err, errlen, "cafile %s: PEM syntax error", path);
			goto fail;
		}
	}
	close(fd);
	free(der.p);
	if (t->nta == 0) {
		snprintf(err, errlen, "cafile %s: no usable certificate in it%s",
		    path, bad ? " (none could be decoded)" : "");
		tls_free(t);
		return NULL;
	}
	return t;
fail:
	close(fd);
	free(der.p);
	tls_free(t);
	return NULL;
}

void
tls_free(struct tls *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nta; i++) {
		free(t->ta[i].dn.data);
		if (t->ta[i].pkey.key_type == BR_KEYTYPE_RSA) {
			free(t->ta[i].pkey.key.rsa.n);
			free(t->ta[i].pkey.key.rsa.e);
		} else
			free(t->ta[i].pkey.key.ec.q);
	}
	free(t->ta);
	free(t);
}

/*
 * Drive the engine until its state has one of the bits in target.
 * Returns 0, or -1 when the engine closed (see describe()) or the
 * socket failed or timed out (t->ioerr).
 */
static int
run_until(struct tls *t, unsigned target, int64_t deadline)
{
	br_ssl_engine_context *eng = &t->cc.eng;
	unsigned st;
	unsigned char *buf;
	size_t len;
	ssize_t r;
	int flushed = 0;

	for (;;) {
		st = br_ssl_engine_current_state(eng);
		if (st & BR_SSL_CLOSED)
			return -1;
		if (st & BR_SSL_SENDREC) {
			buf = br_ssl_engine_sendrec_buf(eng, &len);
			if (fd_write(t->fd, buf, len, deadline) == -1) {
				t->ioerr = errno;
				br_ssl_engine_close(eng);
				return -1;
			}
			br_ssl_engine_sendrec_ack(eng, len);
			flushed = 0;
			continue;
		}
		if (st & target)
			return 0;
		if (st & BR_SSL_RECVREC) {
			buf = br_ssl_engine_recvrec_buf(eng, &len);
			r = fd_read(t->fd, buf, len, deadline);
			if (r <= 0) {
				/* EOF without close_notify is an error too (T-9). */
				if (r == 0)
					t->eof = 1;
				else
					t->ioerr = errno;
				br_ssl_engine_close(eng);
				return -1;
			}
			if (t->nfirst == 0) {
				t->nfirst = (size_t)r < sizeof(t->first) ?
				    (size_t)r : sizeof(t->first);
				memcpy(t->first, buf, t->nfirst);
			}
			br_ssl_engine_recvrec_ack(eng, (size_t)r);
			flushed = 0;
			continue;
		}
		/*
		 * Nothing to send or receive and not where we want to be:
		 * unread application data blocks sending in a mono buffer.
		 * A flush may unblock it once; after that it is a dead end.
		 */
		if (flushed) {
			t->ioerr = EPROTO;
			return -1;
		}
		br_ssl_engine_flush(eng, 0);
		flushed = 1;
	}
}

static const struct {
	int		 code;
	const char	*text;
} errors[] = {
	{ BR_ERR_X509_NOT_TRUSTED, "certificate not trusted: its issuer is "
	    "not in cafile" },
	{ BR_ERR_X509_EXPIRED, "certificate expired or not yet valid" },
	{ BR_ERR_X509_BAD_SERVER_NAME, "certificate does not match the host "
	    "name" },
	{ BR_ERR_X509_TIME_UNKNOWN, "certificate validity cannot be checked: "
	    "no time" },
	{ BR_ERR_X509_NOT_CA, "certificate chain has a non-CA issuer" },
	{ BR_ERR_X509_BAD_SIGNATURE, "certificate signature does not verify" },
	{ BR_ERR_X509_WEAK_PUBLIC_KEY, "certificate key is too weak" },
	{ BR_ERR_X509_EMPTY_CHAIN, "server sent no certificate" },
	{ BR_ERR_X509_CRITICAL_EXTENSION, "certificate has an unsupported "
	    "critical extension" },
	{ BR_ERR_X509_FORBIDDEN_KEY_USAGE, "certificate key usage forbids "
	    "this use" },
	{ BR_ERR_BAD_VERSION, "server does not speak TLS 1.2 "
	    "(BR_ERR_BAD_VERSION)" },
	{ BR_ERR_UNSUPPORTED_VERSION, "server does not speak TLS 1.2 "
	    "(BR_ERR_UNSUPPORTED_VERSION)" },
	{ BR_ERR_BAD_CIPHER_SUITE, "no cipher suite in common "
	    "(BR_ERR_BAD_CIPHER_SUITE)" },
	{ BR_ERR_UNKNOWN_TYPE, "not TLS: the server sent something else, "
	    "plaintext perhaps (BR_ERR_UNKNOWN_TYPE)" },
	{ BR_ERR_BAD_LENGTH, "not TLS: bad record length, plaintext perhaps "
	    "(BR_ERR_BAD_LENGTH)" },
	{ BR_ERR_BAD_MAC, "record MAC check failed (BR_ERR_BAD_MAC)" },
	{ BR_ERR_BAD_HANDSHAKE, "handshake message malformed "
	    "(BR_ERR_BAD_HANDSHAKE)" },
	{ BR_ERR_BAD_SIGNATURE, "server key exchange signature does not "
	    "verify (BR_ERR_BAD_SIGNATURE)" },
	{ BR_ERR_NO_RANDOM, "no entropy (BR_ERR_NO_RANDOM)" },
	{ BR_ERR_UNEXPECTED, "unexpected message (BR_ERR_UNEXPECTED)" },
};

/* Why the engine stopped, as one line for the queue and the log. */
static void
describe(struct tls *t, const char *what, char *err, size_t errlen)
{
	int e = br_ssl_engine_last_error(&t->cc.eng);
	char text[sizeof(t->first) * 4 + 1];
	size_t i;

	/*
	 * A TLS record starts with a content type of 20-23; an SMTP
	 * greeting with a digit.  Name the mistake rather than the
	 * puzzling version or type error it makes in the engine.
	 */
	if (t->nfirst >= 3 && t->first[0] >= '2' && t->first[0] <= '5' &&
	    t->first[1] >= '0' && t->first[1] <= '9') {
		for (i = 0; i < t->nfirst && t->first[i] != '\r' &&
		    t->first[i] != '\n'; i++)
			;
		escape(text, sizeof(text), (const char *)t->first, i);
		snprintf(err, errlen, "TLS %s: not TLS: the server sent "
		    "plaintext \"%s\"; is the port for STARTTLS (tls starttls)?",
		    what, text);
		return;
	}

	if (t->ioerr) {
		snprintf(err, errlen, "TLS %s: %s", what,
		    t->ioerr == ETIMEDOUT ? "timed out" : strerror(t->ioerr));
		return;
	}
	if (e == BR_ERR_OK || (e == BR_ERR_IO && t->eof)) {
		snprintf(err, errlen, "TLS %s: connection closed by the server",
		    what);
		return;
	}
	for (i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (errors[i].code == e) {
			snprintf(err, errlen, "TLS %s: %s", what, errors[i].text);
			return;
		}
	if (e & BR_ERR_RECV_FATAL_ALERT)
		snprintf(err, errlen, "TLS %s: the server sent fatal alert %d",
		    what, e & 0xff);
	else if (e & BR_ERR_SEND_FATAL_ALERT)
		snprintf(err, errlen, "TLS %s: sent fatal alert %d", what,
		    e & 0xff);
	else
		snprintf(err, errlen, "TLS %s: BearSSL error %d", what, e);
}

/*
 * The client profile: TLS 1.2 only (T-6), ECDHE key exchange with RSA or
 * ECDSA signatures, AES-GCM and ChaCha20-Poly1305, SHA-256/384/512.
 * Every mail provider offers these; leaving out RSA key exchange, CBC,
 * 3DES, MD5 and SHA-1 keeps them, and their code, out of the binary.
 */
static void
profile(struct tls *t)
{
	static const uint16_t suites[] = {
		BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	};
	static const struct {
		int			 id;
		const br_hash_class	*impl;
	} hashes[] = {
		{ br_sha256_ID, &br_sha256_vtable },
		{ br_sha384_ID, &br_sha384_vtable },
		{ br_sha512_ID, &br_sha512_vtable },
	};
	br_ssl_engine_context *eng = &t->cc.eng;
	size_t i;

	br_ssl_client_zero(&t->cc);
	br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(eng, suites, sizeof(suites) / sizeof(suites[0]));
	br_x509_minimal_init(&t->xc, &br_sha256_vtable, t->ta, t->nta);
	for (i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
		br_ssl_engine_set_hash(eng, hashes[i].id, hashes[i].impl);
		br_x509_minimal_set_hash(&t->xc, hashes[i].id, hashes[i].impl);
	}
	br_x509_minimal_set_rsa(&t->xc, br_rsa_pkcs1_vrfy_get_default());
	br_x509_minimal_set_ecdsa(&t->xc, br_ec_get_default(),
	    br_ecdsa_vrfy_asn1_get_default());
	br_ssl_engine_set_x509(eng, &t->xc.vtable);
	br_ssl_engine_set_ec(eng, br_ec_get_default());
	br_ssl_engine_set_default_rsavrfy(eng);
	br_ssl_engine_set_default_ecdsa(eng);
	br_ssl_engine_set_prf_sha256(eng, br_tls12_sha256_prf);
	br_ssl_engine_set_prf_sha384(eng, br_tls12_sha384_prf);
	br_ssl_engine_set_default_aes_gcm(eng);
	br_ssl_engine_set_default_chapol(eng);
}

/*
 * Handshake on the connected socket fd as a client of servername,
 * which drives SNI and the certificate's name check.  Returns 0, or -1
 * with err set.
 */
int
tls_handshake(struct tls *t, int fd, const char *servername,
    int64_t deadline, char *err, size_t errlen)
{
	unsigned char seed[32];
	time_t now = time(NULL);

	if ((long long)now < CLOCK_FLOOR) {
		snprintf(err, errlen, "system clock not set (it says %lld): "
		    "certificates cannot be checked", (long long)now);
		return -1;
	}
	t->fd = fd;
	t->ioerr = t->eof = 0;
	t->nfirst = 0;
	profile(t);
	br_ssl_engine_set_buffer(&t->cc.eng, t->iobuf, sizeof(t->iobuf), 0);
	br_ssl_engine_add_flags(&t->cc.eng, BR_OPT_NO_RENEGOTIATION);
	rand_bytes(seed, sizeof(seed));
	br_ssl_engine_inject_entropy(&t->cc.eng, seed, sizeof(seed));
	explicit_bzero(seed, sizeof(seed));
	if (!br_ssl_client_reset(&t->cc, servername, 0)) {
		describe(t, "setup", err, errlen);
		return -1;
	}
	if (run_until(t, BR_SSL_SENDAPP | BR_SSL_RECVAPP, deadline) == -1) {
		describe(t, "handshake", err, errlen);
		return -1;
	}
	return 0;
}

static ssize_t
tls_read(void *ctx, void *buf, size_t len, int64_t deadline)
{
	struct tls *t = ctx;
	unsigned char *p;
	size_t n;

	if (run_until(t, BR_SSL_RECVAPP, deadline) == -1) {
		errno = t->ioerr ? t->ioerr : ECONNRESET;
		/* A clean close_notify is the only end of stream. */
		if (!t->ioerr && !t->eof &&
		    br_ssl_engine_last_error(&t->cc.eng) == BR_ERR_OK)
			return 0;
		return -1;
	}
	p = br_ssl_engine_recvapp_buf(&t->cc.eng, &n);
	if (n > len)
		n = len;
	memcpy(buf, p, n);
	br_ssl_engine_recvapp_ack(&t->cc.eng, n);
	return (ssize_t)n;
}

static int
tls_write(void *ctx, const void *buf, size_t len, int64_t deadline)
{
	struct tls *t = ctx;
	const unsigned char *src = buf;
	unsigned char *p;
	size_t n;

	while (len > 0) {
		if (run_until(t, BR_SSL_SENDAPP, deadline) == -1)
			goto fail;
		p = br_ssl_engine_sendapp_buf(&t->cc.eng, &n);
		if (n > len)
			n = len;
		memcpy(p, src, n);
		br_ssl_engine_sendapp_ack(&t->cc.eng, n);
		src += n;
		len -= n;
	}
	/* Push the record out now: SMTP waits for the reply. */
	br_ssl_engine_flush(&t->cc.eng, 0);
	if (run_until(t, BR_SSL_SENDAPP | BR_SSL_RECVAPP, deadline) == -1)
		goto fail;
	return 0;
fail:
	errno = t->ioerr ? t->ioerr : ECONNRESET;
	return -1;
}

/* The reason the last read or write on the TLS stream failed. */
void
tls_error(struct tls *t, char *err, size_t errlen)
{
	describe(t, "session", err, errlen);
}

void
tls_io(struct tls *t, struct io *io)
{
	io->read = tls_read;
	io->write = tls_write;
	io->ctx = t;
}

/* Send close_notify and wait briefly for the server's. */
void
tls_close(struct tls *t, int64_t deadline)
{
	br_ssl_engine_close(&t->cc.eng);
	run_until(t, BR_SSL_CLOSED, deadline);
}
