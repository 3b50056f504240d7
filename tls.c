/*
 * TLS with BearSSL.  The only file that works the TLS engine.
 *
 * tls_new() loads what every session needs: the trust anchors (cafile,
 * capath) or the key pins, and the client certificate with its key.
 * tls_handshake() runs a TLS 1.2 client handshake on a connected socket
 * with the host name for SNI and the certificate check; tls_io() then
 * gives smtp.c a struct io over the encrypted stream.  The engine is
 * driven by hand (not br_sslio) so that every socket wait honours the
 * caller's deadline and each failure can be named.
 *
 * The server's chain goes through check_*(), a br_x509_class of ours
 * around BearSSL's minimal engine: it keeps a copy of each certificate
 * to name what failed (expired or not yet valid, for which name) and
 * for -bC, matches a host given as an address against the iPAddress
 * names, which BearSSL does not, and replaces the whole CA check with a
 * comparison of key hashes when pins are configured.  For opportunistic
 * STARTTLS (host mx, RFC 7435) it checks nothing and takes the key the
 * certificate holds: encryption against a passive listener, no more.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>

#include "outbox.h"

/* One certificate of the server's chain, as it came. */
struct rawcert {
	unsigned char	*der;
	size_t		 len, cap;	/* cap 0: too large to keep */
};

struct tls {
	br_x509_trust_anchor	*ta;
	unsigned char		(*tahash)[32];	/* SHA-256 of each anchor */
	size_t			 nta;

	br_x509_certificate	*mychain;	/* client certificate chain */
	size_t			 nmychain;
	br_skey_decoder_context	 mykey;		/* and its private key */
	unsigned		 myissuer;	/* key type of its issuer */

	br_ssl_client_context	 cc;
	br_x509_minimal_context	 xc;
	const br_x509_class	*checker;	/* the engine's X.509 class */
	const br_ssl_client_certificate_class *nocert;	/* without tls_cert */
	int			 asked;		/* for a client certificate */
	br_x509_decoder_context	 ee;		/* the server's key (pins) */
	struct rawcert		 chain[CHAIN_MAX];
	size_t			 ncert;		/* certificates received */
	int			 isip;		/* the host is an address */
	unsigned char		 ip[16];
	size_t			 iplen;
	const char		*host;
	int			 verify;	/* V_CA, V_PIN or V_NONE */
	int			 verr;		/* vwhy says why the chain failed */
	char			 vwhy[ERR_MAX];

	unsigned char		 iobuf[BR_SSL_BUFSIZE_MONO];
	int			 fd;
	int			 ioerr;		/* errno of the socket, or 0 */
	int			 eof;		/* peer closed the socket */
	unsigned char		 first[48];	/* the server's first bytes */
	size_t			 nfirst;
};

/* What a handshake checks of the server's certificate. */
#define V_CA	0	/* chain to an anchor, dates, name */
#define V_PIN	1	/* the key against the pins, nothing else */
#define V_NONE	2	/* nothing: opportunistic TLS */

#define TLS_OF(ctx) \
	((struct tls *)(void *)((char *)(ctx) - offsetof(struct tls, checker)))
#define TLS_OF_NOCERT(ctx) \
	((struct tls *)(void *)((char *)(ctx) - offsetof(struct tls, nocert)))

/* A growing byte buffer for DER objects and DNs. */
struct bytes {
	unsigned char	*p;
	size_t		 len, cap;
};

/* What pem_load() calls for each object: name, DER, length, argument. */
typedef int (*pem_fn)(struct tls *, const char *, const unsigned char *,
    size_t, void *);

static void	bytes_add(void *, const void *, size_t);
static int	add_anchor(struct tls *, const char *, const unsigned char *,
		    size_t, void *);
static int	add_mycert(struct tls *, const char *, const unsigned char *,
		    size_t, void *);
static int	add_mykey(struct tls *, const char *, const unsigned char *,
		    size_t, void *);
static int	pem_load(struct tls *, int, const char *, pem_fn, void *, char *,
		    size_t);
static int	load_capath(struct tls *, const char *, char *, size_t);
static int	load_client(struct tls *, char *, size_t);
static void	spki_pin(const struct certinfo *, unsigned char[32]);
static int	chain_cert(struct tls *, size_t, struct certinfo *);
static void	explain(struct tls *, unsigned);
static int	run_until(struct tls *, unsigned, int64_t);
static void	describe(struct tls *, const char *, char *, size_t);
static void	describe_engine(struct tls *, const char *, char *, size_t);
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
	void *d = xmalloc(len ? len : 1);

	if (len > 0)
		memcpy(d, p, len);
	return d;
}

static void
sha256(const void *p, size_t len, unsigned char out[32])
{
	br_sha256_context h;

	br_sha256_init(&h);
	br_sha256_update(&h, p, len);
	br_sha256_out(&h, out);
}

/*
 * Read the PEM file open on fd, giving fn each object's name and DER.
 * Returns the number of objects, or -1 with err set (a PEM syntax
 * error, or fn's refusal).  The buffers are wiped: a key passes here.
 */
static int
pem_load(struct tls *t, int fd, const char *path, pem_fn fn, void *arg,
    char *err, size_t errlen)
{
	br_pem_decoder_context pc;
	struct bytes der = { 0 };
	unsigned char buf[4096];
	size_t off = 0, len = 0, n;
	long long total = 0;
	char name[128];
	ssize_t r;
	int count = 0, rc = -1;

	br_pem_decoder_init(&pc);
	name[0] = '\0';
	/* The file is decoded as it is read, a block at a time. */
	for (;;) {
		if (off == len) {
			r = read(fd, buf, sizeof(buf));
			if (r == -1 && errno == EINTR)
				continue;
			if (r == -1 || (total += r) > CAFILE_MAX) {
				snprintf(err, errlen, "unable to read %s: %s", path,
				    r == -1 ? strerror(errno) : "larger than 8 MB");
				goto out;
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
			strlcpy(name, br_pem_decoder_name(&pc), sizeof(name));
			der.len = 0;
			br_pem_decoder_setdest(&pc, bytes_add, &der);
			break;
		case BR_PEM_END_OBJ:
			count++;
			if (fn(t, name, der.p, der.len, arg) == -1) {
				snprintf(err, errlen, "%s: the %s in it cannot be "
				    "used", path, name);
				goto out;
			}
			break;
		case BR_PEM_ERROR:
			snprintf(err, errlen, "%s: PEM syntax error", path);
			goto out;
		}
	}
	rc = count;
out:
	if (der.p != NULL)
		explicit_bzero(der.p, der.cap);
	explicit_bzero(buf, sizeof(buf));
	free(der.p);
	return rc;
}

/*
 * A CERTIFICATE object becomes a trust anchor, once: *(int *)arg counts
 * those that cannot be decoded.  Other objects are passed over.
 */
static int
add_anchor(struct tls *t, const char *name, const unsigned char *der,
    size_t len, void *arg)
{
	br_x509_decoder_context dc;
	struct bytes dn = { 0 };
	br_x509_trust_anchor *ta;
	br_x509_pkey *pk;
	unsigned char h[32];
	size_t i;

	if (strcmp(name, "CERTIFICATE") != 0 &&
	    strcmp(name, "X509 CERTIFICATE") != 0 &&
	    strcmp(name, "TRUSTED CERTIFICATE") != 0)
		return 0;
	sha256(der, len, h);
	for (i = 0; i < t->nta; i++)
		if (memcmp(t->tahash[i], h, sizeof(h)) == 0)
			return 0;	/* capath has links to the same file */
	br_x509_decoder_init(&dc, bytes_add, &dn);
	br_x509_decoder_push(&dc, der, len);
	if ((pk = br_x509_decoder_get_pkey(&dc)) == NULL || t->nta >= ANCHORS_MAX ||
	    (pk->key_type != BR_KEYTYPE_RSA && pk->key_type != BR_KEYTYPE_EC)) {
		free(dn.p);
		(*(int *)arg)++;
		return 0;
	}
	t->ta = xreallocarray(t->ta, t->nta + 1, sizeof(*t->ta));
	t->tahash = xreallocarray(t->tahash, t->nta + 1, sizeof(*t->tahash));
	memcpy(t->tahash[t->nta], h, sizeof(h));
	ta = &t->ta[t->nta];
	memset(ta, 0, sizeof(*ta));
	ta->dn.data = dn.p;
	ta->dn.len = dn.len;
	ta->flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
	ta->pkey.key_type = pk->key_type;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		ta->pkey.key.rsa.n = dup_bytes(pk->key.rsa.n, pk->key.rsa.nlen);
		ta->pkey.key.rsa.nlen = pk->key.rsa.nlen;
		ta->pkey.key.rsa.e = dup_bytes(pk->key.rsa.e, pk->key.rsa.elen);
		ta->pkey.key.rsa.elen = pk->key.rsa.elen;
	} else {
		ta->pkey.key.ec.curve = pk->key.ec.curve;
		ta->pkey.key.ec.q = dup_bytes(pk->key.ec.q, pk->key.ec.qlen);
		ta->pkey.key.ec.qlen = pk->key.ec.qlen;
	}
	t->nta++;
	return 0;
}

/*
 * Every regular file in dir (links followed, dot files skipped) as a
 * PEM bundle, as /etc/ssl/certs holds them.  Returns 0 or -1.
 */
static int
load_capath(struct tls *t, const char *dir, char *err, size_t errlen)
{
	char path[4096];
	struct dirent *de;
	struct stat st;
	size_t nfiles = 0;
	int fd, bad = 0, rc = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errlen, "unable to open capath %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (++nfiles > CAPATH_FILES_MAX) {
			snprintf(err, errlen, "capath %s: more than %d files",
			    dir, CAPATH_FILES_MAX);
			rc = -1;
			break;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    de->d_name) >= sizeof(path))
			continue;
		if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
			snprintf(err, errlen, "unable to open %s: %s", path,
			    strerror(errno));
			rc = -1;
			break;
		}
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    pem_load(t, fd, path, add_anchor, &bad, err, errlen) == -1)
			rc = -1;
		close(fd);
	}
	closedir(d);
	return rc;
}

/* The client's certificates, in the order of the file: the leaf first. */
static int
add_mycert(struct tls *t, const char *name, const unsigned char *der,
    size_t len, void *arg)
{
	br_x509_decoder_context dc;

	(void)arg;
	if (strcmp(name, "CERTIFICATE") != 0 || t->nmychain >= CHAIN_MAX)
		return strcmp(name, "CERTIFICATE") == 0 ? -1 : 0;
	if (t->nmychain == 0) {
		br_x509_decoder_init(&dc, NULL, NULL);
		br_x509_decoder_push(&dc, der, len);
		if (br_x509_decoder_get_pkey(&dc) == NULL)
			return -1;
		t->myissuer = br_x509_decoder_get_signer_key_type(&dc);
	}
	t->mychain = xreallocarray(t->mychain, t->nmychain + 1,
	    sizeof(*t->mychain));
	t->mychain[t->nmychain].data = dup_bytes(der, len);
	t->mychain[t->nmychain++].data_len = len;
	return 0;
}

/* The client's private key: PKCS#8, or the RSA or EC forms of OpenSSL. */
static int
add_mykey(struct tls *t, const char *name, const unsigned char *der,
    size_t len, void *arg)
{
	if (strcmp(name, "PRIVATE KEY") != 0 &&
	    strcmp(name, "RSA PRIVATE KEY") != 0 &&
	    strcmp(name, "EC PRIVATE KEY") != 0)
		return 0;
	if (*(int *)arg)
		return -1;	/* a second key: which one is meant? */
	br_skey_decoder_init(&t->mykey);
	br_skey_decoder_push(&t->mykey, der, len);
	if (br_skey_decoder_last_error(&t->mykey) != 0)
		return -1;
	*(int *)arg = 1;
	return 0;
}

/* tls_cert and tls_key.  Returns 0 or -1 with err set. */
static int
load_client(struct tls *t, char *err, size_t errlen)
{
	int fd, have = 0, r;
	unsigned type;

	if ((fd = open(conf.tls_cert, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "unable to open tls_cert %s: %s",
		    conf.tls_cert, strerror(errno));
		return -1;
	}
	r = pem_load(t, fd, conf.tls_cert, add_mycert, NULL, err, errlen);
	close(fd);
	if (r == -1)
		return -1;
	if (t->nmychain == 0) {
		snprintf(err, errlen, "tls_cert %s: no certificate in it",
		    conf.tls_cert);
		return -1;
	}
	if ((fd = conf_keyfile_open(err, errlen)) == -1)
		return -1;
	r = pem_load(t, fd, conf.tls_key, add_mykey, &have, err, errlen);
	close(fd);
	if (r == -1)
		return -1;
	type = have ? br_skey_decoder_key_type(&t->mykey) : 0;
	if (type != BR_KEYTYPE_RSA && type != BR_KEYTYPE_EC) {
		snprintf(err, errlen, "tls_key %s: no RSA or EC private key in "
		    "it", conf.tls_key);
		return -1;
	}
	return 0;
}

/*
 * What every session needs, from the configuration: the key pins, or
 * else the trust anchors of cafile and capath; the client certificate.
 * Zero anchors is an error, but for the opportunistic TLS of host mx
 * without a tls line, which loads none: it verifies nothing.  Returns
 * the new context, or NULL with err set.
 */
struct tls *
tls_new(char *err, size_t errlen)
{
	struct tls *t;
	int fd, bad = 0;

	t = xcalloc(1, sizeof(*t));
	t->fd = -1;
	if (conf.tls == TLS_MAY)
		goto client;
	if (conf.npins == 0 && conf.cafile != NULL) {
		if ((fd = open(conf.cafile, O_RDONLY | O_CLOEXEC)) == -1) {
			snprintf(err, errlen, "unable to open cafile %s: %s",
			    conf.cafile, strerror(errno));
			goto fail;
		}
		if (pem_load(t, fd, conf.cafile, add_anchor, &bad, err,
		    errlen) == -1) {
			close(fd);
			goto fail;
		}
		close(fd);
	}
	if (conf.npins == 0 && conf.capath != NULL &&
	    load_capath(t, conf.capath, err, errlen) == -1)
		goto fail;
	if (conf.npins == 0 && t->nta == 0) {
		snprintf(err, errlen, "no usable CA certificate in %s%s%s%s%s",
		    conf.cafile ? "cafile " : "", conf.cafile ? conf.cafile : "",
		    conf.cafile && conf.capath ? " or " : "",
		    conf.capath ? "capath " : "", conf.capath ? conf.capath : "");
		if (bad)
			strlcat(err, " (there are certificates, but none could "
			    "be decoded)", errlen);
		goto fail;
	}
client:
	if (conf.tls_cert != NULL && load_client(t, err, errlen) == -1)
		goto fail;
	return t;
fail:
	tls_free(t);
	return NULL;
}

static void
chain_clear(struct tls *t)
{
	size_t i;

	for (i = 0; i < CHAIN_MAX; i++) {
		free(t->chain[i].der);
		memset(&t->chain[i], 0, sizeof(t->chain[i]));
	}
	t->ncert = 0;
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
	for (i = 0; i < t->nmychain; i++)
		free(t->mychain[i].data);
	free(t->mychain);
	free(t->ta);
	free(t->tahash);
	chain_clear(t);
	explicit_bzero(t, sizeof(*t));	/* the client's private key */
	free(t);
}

/*
 * Certificate i of the server's chain, when it came whole and was kept
 * (CHAIN_MAX, CERT_MAX) and reads as one.  Returns 0 or -1.
 */
static int
chain_cert(struct tls *t, size_t i, struct certinfo *ci)
{
	struct rawcert *c;

	if (i >= t->ncert || i >= CHAIN_MAX)
		return -1;
	c = &t->chain[i];
	if (c->cap == 0 || c->len != c->cap)
		return -1;
	return cert_parse(c->der, c->len, ci);
}

/*
 * The X.509 class the engine sees.  Each call goes on to the minimal
 * engine (but for pins, which replace it); the certificates are kept.
 */
static void
check_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct tls *t = TLS_OF(ctx);

	chain_clear(t);
	t->verr = 0;
	br_x509_decoder_init(&t->ee, NULL, NULL);
	if (t->verify == V_CA)
		t->xc.vtable->start_chain(&t->xc.vtable, server_name);
}

static void
check_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct tls *t = TLS_OF(ctx);
	struct rawcert *c;

	if (t->ncert < CHAIN_MAX && length <= CERT_MAX) {
		c = &t->chain[t->ncert];
		c->der = xmalloc(length ? length : 1);
		c->cap = length;
		c->len = 0;
	}
	if (t->verify == V_CA)
		t->xc.vtable->start_cert(&t->xc.vtable, length);
}

static void
check_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	struct tls *t = TLS_OF(ctx);
	struct rawcert *c = t->ncert < CHAIN_MAX ? &t->chain[t->ncert] : NULL;

	if (c != NULL && c->der != NULL && c->cap - c->len >= len) {
		memcpy(c->der + c->len, buf, len);
		c->len += len;
	}
	if (t->ncert == 0)
		br_x509_decoder_push(&t->ee, buf, len);
	if (t->verify == V_CA)
		t->xc.vtable->append(&t->xc.vtable, buf, len);
}

static void
check_end_cert(const br_x509_class **ctx)
{
	struct tls *t = TLS_OF(ctx);

	if (t->verify == V_CA)
		t->xc.vtable->end_cert(&t->xc.vtable);
	t->ncert++;
}

static unsigned
check_end_chain(const br_x509_class **ctx)
{
	struct tls *t = TLS_OF(ctx);
	struct certinfo ci;
	unsigned char h[32];
	char pin[64];
	unsigned r;
	size_t i;
	int ok;

	ok = chain_cert(t, 0, &ci) == 0;
	if (t->verify != V_CA) {
		/* The key is the trust: no CA, name or date to check. */
		if (!ok || br_x509_decoder_get_pkey(&t->ee) == NULL) {
			t->verr = 1;
			snprintf(t->vwhy, sizeof(t->vwhy), "the server's "
			    "certificate cannot be read%s", t->verify == V_PIN ?
			    ", so no pin can match" : "");
			return BR_ERR_X509_NOT_TRUSTED;
		}
		if (t->verify == V_NONE)
			return 0;
		spki_pin(&ci, h);
		for (i = 0; i < conf.npins; i++)
			if (memcmp(conf.pins[i], h, sizeof(h)) == 0)
				return 0;
		tls_pin_text(pin, sizeof(pin), h);
		t->verr = 1;
		snprintf(t->vwhy, sizeof(t->vwhy), "the server's key does not "
		    "match any pin: its pin is %s", pin);
		return BR_ERR_X509_NOT_TRUSTED;
	}
	r = t->xc.vtable->end_chain(&t->xc.vtable);
	if (r == 0 && t->isip && (!ok || !cert_match_ip(&ci, t->ip,
	    t->iplen)))
		r = BR_ERR_X509_BAD_SERVER_NAME;
	if (r != 0)
		explain(t, r);
	return r;
}

static const br_x509_pkey *
check_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	struct tls *t = TLS_OF(ctx);

	if (t->verify == V_CA)
		return t->xc.vtable->get_pkey(&t->xc.vtable, usages);
	if (usages != NULL)
		*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
	return t->verr ? NULL : br_x509_decoder_get_pkey(&t->ee);
}

static const br_x509_class check_class = {
	sizeof(struct tls),
	check_start_chain,
	check_start_cert,
	check_append,
	check_end_cert,
	check_end_chain,
	check_get_pkey,
};

/*
 * Without tls_cert, a server's request for a client certificate gets
 * an empty one, as BearSSL would send, but is noted: the server's
 * refusal that follows can then be explained.
 */
static void
nocert_none(const br_ssl_client_certificate_class **ctx)
{
	(void)ctx;
}

static void
nocert_name(const br_ssl_client_certificate_class **ctx, size_t len)
{
	(void)ctx;
	(void)len;
}

static void
nocert_append(const br_ssl_client_certificate_class **ctx,
    const unsigned char *p, size_t len)
{
	(void)ctx;
	(void)p;
	(void)len;
}

static void
nocert_choose(const br_ssl_client_certificate_class **ctx,
    const br_ssl_client_context *cc, uint32_t types,
    br_ssl_client_certificate *choice)
{
	(void)cc;
	(void)types;
	TLS_OF_NOCERT(ctx)->asked = 1;
	memset(choice, 0, sizeof(*choice));
}

static uint32_t
nocert_keyx(const br_ssl_client_certificate_class **ctx, unsigned char *p,
    size_t *len)
{
	(void)ctx;
	(void)p;
	(void)len;
	return 0;
}

static size_t
nocert_sign(const br_ssl_client_certificate_class **ctx, int id, size_t hl,
    unsigned char *p, size_t len)
{
	(void)ctx;
	(void)id;
	(void)hl;
	(void)p;
	(void)len;
	return 0;
}

static const br_ssl_client_certificate_class nocert_class = {
	sizeof(struct tls),
	nocert_none,
	nocert_name,
	nocert_append,
	nocert_none,
	nocert_none,
	nocert_choose,
	nocert_keyx,
	nocert_sign,
};

/* The SHA-256 of a certificate's SubjectPublicKeyInfo: what a pin is. */
static void
spki_pin(const struct certinfo *ci, unsigned char h[32])
{
	sha256(ci->spki, ci->spkilen, h);
}

/* A pin as the configuration writes it: "sha256//" and base64. */
void
tls_pin_text(char *buf, size_t cap, const unsigned char h[32])
{
	char b64[48];

	b64_encode(b64, sizeof(b64), h, 32);
	snprintf(buf, cap, "sha256//%s", b64);
}

/*
 * Say in t->vwhy which certificate made the minimal engine give up
 * with code r, when the kept chain can tell.
 */
static void
explain(struct tls *t, unsigned r)
{
	struct certinfo ci;
	char subj[160], iss[160], when[40], names[200];
	const char *src;
	int64_t now = (int64_t)time(NULL);
	size_t i;

	src = conf.cafile && conf.capath ? "cafile or capath" :
	    conf.capath ? "capath" : "cafile";
	for (i = 0; i < t->ncert && i < CHAIN_MAX; i++) {
		if (chain_cert(t, i, &ci) == -1)
			return;
		cert_name(subj, sizeof(subj), ci.subject, ci.subjectlen);
		if (r == BR_ERR_X509_EXPIRED && now > ci.notafter) {
			cert_time(when, sizeof(when), ci.notafter);
			snprintf(t->vwhy, sizeof(t->vwhy), "certificate expired "
			    "on %s (%s)", when, subj);
		} else if (r == BR_ERR_X509_EXPIRED && now < ci.notbefore) {
			cert_time(when, sizeof(when), ci.notbefore);
			snprintf(t->vwhy, sizeof(t->vwhy), "certificate not yet "
			    "valid: valid from %s (%s)", when, subj);
		} else if (r == BR_ERR_X509_BAD_SERVER_NAME && i == 0) {
			if (cert_altnames(names, sizeof(names), &ci) == 0)
				snprintf(names, sizeof(names), "%s", subj);
			snprintf(t->vwhy, sizeof(t->vwhy), "certificate does not "
			    "match the host name %s: it is for %s", t->host,
			    names);
		} else if (r == BR_ERR_X509_NOT_TRUSTED &&
		    i + 1 == t->ncert) {
			cert_name(iss, sizeof(iss), ci.issuer, ci.issuerlen);
			snprintf(t->vwhy, sizeof(t->vwhy), "certificate not "
			    "trusted: \"%s\" is issued by \"%s\", which is not "
			    "in %s", subj, iss, src);
		} else
			continue;
		t->verr = 1;
		return;
	}
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
	    "not in cafile or capath" },
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

/* TLS alerts (RFC 5246 7.2, RFC 8446 6) that a server may send. */
static const struct {
	int		 code;
	const char	*text;
} alerts[] = {
	{ 10, "unexpected_message" }, { 20, "bad_record_mac" },
	{ 40, "handshake_failure" }, { 42, "bad_certificate" },
	{ 43, "unsupported_certificate" }, { 44, "certificate_revoked" },
	{ 45, "certificate_expired" }, { 46, "certificate_unknown" },
	{ 47, "illegal_parameter" }, { 48, "unknown_ca" },
	{ 49, "access_denied" }, { 50, "decode_error" },
	{ 51, "decrypt_error" }, { 70, "protocol_version" },
	{ 71, "insufficient_security" }, { 80, "internal_error" },
	{ 86, "inappropriate_fallback" }, { 112, "unrecognized_name" },
	{ 116, "certificate_required" },
};

/* Why the engine stopped, as one line for the queue and the log. */
static void
describe(struct tls *t, const char *what, char *err, size_t errlen)
{
	describe_engine(t, what, err, errlen);
	if (t->asked)
		strlcat(err, " (the server asked for a client certificate; "
		    "none is set: tls_cert, tls_key)", errlen);
}

static void
describe_engine(struct tls *t, const char *what, char *err, size_t errlen)
{
	int e = br_ssl_engine_last_error(&t->cc.eng);
	char text[sizeof(t->first) * 4 + 1];
	ssize_t r;
	size_t i;

	/*
	 * A TLS record starts with a content type of 20-23; an SMTP
	 * greeting with a digit.  Name the mistake rather than the
	 * puzzling version or type error it makes in the engine.
	 */
	if (t->nfirst >= 3 && t->first[0] >= '2' && t->first[0] <= '5' &&
	    t->first[1] >= '0' && t->first[1] <= '9') {
		/* The engine read a record header; the line goes on. */
		r = recv(t->fd, t->first + t->nfirst, sizeof(t->first) -
		    t->nfirst, MSG_DONTWAIT);
		if (r > 0)
			t->nfirst += (size_t)r;
		for (i = 0; i < t->nfirst && t->first[i] != '\r' &&
		    t->first[i] != '\n'; i++)
			;
		escape(text, sizeof(text), (const char *)t->first, i);
		snprintf(err, errlen, "TLS %s: not TLS: the server sent "
		    "plaintext \"%s\"; is the port for STARTTLS (tls starttls)?",
		    what, text);
		return;
	}

	if (t->verr) {
		snprintf(err, errlen, "TLS %s: %s", what, t->vwhy);
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
	for (i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++)
		if (alerts[i].code == (e & 0xff))
			break;
	if (e & (BR_ERR_RECV_FATAL_ALERT | BR_ERR_SEND_FATAL_ALERT))
		snprintf(err, errlen, "TLS %s: %s fatal alert %s (%s+%d)", what,
		    e & BR_ERR_RECV_FATAL_ALERT ? "the server sent" : "sent",
		    i < sizeof(alerts) / sizeof(alerts[0]) ? alerts[i].text :
		    "unknown", e & BR_ERR_RECV_FATAL_ALERT ?
		    "BR_ERR_RECV_FATAL_ALERT" : "BR_ERR_SEND_FATAL_ALERT",
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
	t->checker = &check_class;
	br_ssl_engine_set_x509(eng, &t->checker);
	br_ssl_engine_set_ec(eng, br_ec_get_default());
	br_ssl_engine_set_default_rsavrfy(eng);
	br_ssl_engine_set_default_ecdsa(eng);
	br_ssl_engine_set_prf_sha256(eng, br_tls12_sha256_prf);
	br_ssl_engine_set_prf_sha384(eng, br_tls12_sha384_prf);
	br_ssl_engine_set_default_aes_gcm(eng);
	br_ssl_engine_set_default_chapol(eng);
	if (t->nmychain == 0) {
		t->nocert = &nocert_class;
		br_ssl_client_set_client_certificate(&t->cc, &t->nocert);
		return;
	}
	if (br_skey_decoder_key_type(&t->mykey) == BR_KEYTYPE_RSA)
		br_ssl_client_set_single_rsa(&t->cc, t->mychain, t->nmychain,
		    br_skey_decoder_get_rsa(&t->mykey),
		    br_rsa_pkcs1_sign_get_default());
	else
		br_ssl_client_set_single_ec(&t->cc, t->mychain, t->nmychain,
		    br_skey_decoder_get_ec(&t->mykey), BR_KEYTYPE_SIGN,
		    t->myissuer, br_ec_get_default(),
		    br_ecdsa_sign_asn1_get_default());
}

/*
 * A clock before CLOCK_FLOOR has not been set: say so, rather than let
 * every certificate look "not yet valid" (REQUIREMENTS T-8).
 */
int
tls_clock(time_t now, char *err, size_t errlen)
{
	char when[40];

	if ((long long)now >= CLOCK_FLOOR)
		return 0;
	cert_time(when, sizeof(when), (int64_t)now);
	snprintf(err, errlen, "system clock not set (it says %s): "
	    "certificates cannot be checked; set the clock", when);
	return -1;
}

/*
 * Handshake on the connected socket fd as a client of host, which is
 * sent as SNI and, when verify is set, checked against the certificate's
 * names (or the pins replace the check); a host that is an address is
 * not sent (RFC 6066 3) and is matched against the iPAddress names
 * instead.  Without verify the certificate is not checked at all.
 * Returns 0, or -1 with err set.
 */
int
tls_handshake(struct tls *t, int fd, const char *host, int verify,
    int64_t deadline, char *err, size_t errlen)
{
	unsigned char seed[32];

	t->verify = !verify ? V_NONE : conf.npins > 0 ? V_PIN : V_CA;
	if (t->verify != V_NONE && tls_clock(time(NULL), err, errlen) == -1)
		return -1;
	t->fd = fd;
	t->ioerr = t->eof = t->verr = t->asked = 0;
	t->nfirst = 0;
	t->host = host;
	t->isip = 0;
	if (inet_pton(AF_INET, host, t->ip) == 1) {
		t->isip = 1;
		t->iplen = 4;
	} else if (inet_pton(AF_INET6, host, t->ip) == 1) {
		t->isip = 1;
		t->iplen = 16;
	}
	profile(t);
	br_ssl_engine_set_buffer(&t->cc.eng, t->iobuf, sizeof(t->iobuf), 0);
	br_ssl_engine_add_flags(&t->cc.eng, BR_OPT_NO_RENEGOTIATION);
	rand_bytes(seed, sizeof(seed));
	br_ssl_engine_inject_entropy(&t->cc.eng, seed, sizeof(seed));
	explicit_bzero(seed, sizeof(seed));
	if (!br_ssl_client_reset(&t->cc, t->isip ? NULL : host, 0)) {
		describe(t, "setup", err, errlen);
		return -1;
	}
	if (run_until(t, BR_SSL_SENDAPP | BR_SSL_RECVAPP, deadline) == -1) {
		describe(t, "handshake", err, errlen);
		return -1;
	}
	return 0;
}

/*
 * For -bC: the session's protocol and cipher suite, then each
 * certificate the server sent with its names, dates and pin.
 */
void
tls_show(struct tls *t, FILE *fp)
{
	static const struct {
		uint16_t	 id;
		const char	*name;
	} suites[] = {
		{ BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		    "ECDHE-ECDSA-AES128-GCM-SHA256" },
		{ BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		    "ECDHE-RSA-AES128-GCM-SHA256" },
		{ BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		    "ECDHE-ECDSA-CHACHA20-POLY1305" },
		{ BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		    "ECDHE-RSA-CHACHA20-POLY1305" },
		{ BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		    "ECDHE-ECDSA-AES256-GCM-SHA384" },
		{ BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		    "ECDHE-RSA-AES256-GCM-SHA384" },
	};
	struct certinfo ci;
	char text[ERR_MAX], from[40], to[40];
	unsigned char h[32];
	uint16_t id = t->cc.eng.session.cipher_suite;
	size_t i;

	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (suites[i].id == id && br_ssl_engine_current_state(
		    &t->cc.eng) != BR_SSL_CLOSED)
			fprintf(fp, "tls: TLS 1.2, %s\n", suites[i].name);
	for (i = 0; i < t->ncert && i < CHAIN_MAX; i++) {
		if (chain_cert(t, i, &ci) == -1) {
			fprintf(fp, "certificate %zu: (cannot be read)\n", i);
			continue;
		}
		cert_name(text, sizeof(text), ci.subject, ci.subjectlen);
		fprintf(fp, "certificate %zu: %s\n", i, text);
		cert_name(text, sizeof(text), ci.issuer, ci.issuerlen);
		fprintf(fp, "  issuer: %s\n", text);
		cert_time(from, sizeof(from), ci.notbefore);
		cert_time(to, sizeof(to), ci.notafter);
		fprintf(fp, "  valid: %s to %s\n", from, to);
		if (cert_altnames(text, sizeof(text), &ci) > 0)
			fprintf(fp, "  names: %s\n", text);
		spki_pin(&ci, h);
		tls_pin_text(text, sizeof(text), h);
		fprintf(fp, "  pin: %s\n", text);
	}
}

/* The pin of the server's own certificate in buf, or "" if none came. */
void
tls_server_pin(struct tls *t, char *buf, size_t cap)
{
	struct certinfo ci;
	unsigned char h[32];

	buf[0] = '\0';
	if (chain_cert(t, 0, &ci) == 0) {
		spki_pin(&ci, h);
		tls_pin_text(buf, cap, h);
	}
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
