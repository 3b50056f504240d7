/*
 * The SMTP client: connect, greeting, EHLO, STARTTLS, AUTH, then one
 * transaction per queued message, pipelined when the server offers
 * PIPELINING and in lock-step otherwise.
 *
 * It reaches the network only through a struct io (util.c for plain
 * TCP, tls.c after STARTTLS or for implicit TLS), and reads every reply
 * with reply(), which enforces the grammar and bounds of RFC 5321 4.2
 * and REQUIREMENTS S-2/S-3.  Each recipient gets its verdict from the
 * replies: 2xx sent, 4xx pending, 5xx failed (RFC 5321 4.2.1, 4.4).
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "outbox.h"

/* EHLO keywords we act on. */
#define CAP_STARTTLS	0x01
#define CAP_AUTH	0x02
#define CAP_8BITMIME	0x04
#define CAP_SIZE	0x08
#define CAP_PIPELINING	0x10
#define CAP_SMTPUTF8	0x20
#define CAP_DSN		0x40
#define MECH_PLAIN	0x01
#define MECH_LOGIN	0x02

/* command() and reply() flags. */
#define C_SECRET	0x01	/* a credential: trace the verb only */
#define C_CAPS		0x02	/* EHLO's reply: read capabilities */
#define C_MORE		0x04	/* more replies follow (PIPELINING) */

/* The commands of one transaction, for send_commands(). */
enum cmdkind { K_RSET, K_MAIL, K_RCPT, K_DATA };

struct smtp {
	int		 fd;
	struct io	 io;
	struct linebuf	 lb;
	struct tls	*tls;		/* NULL until TLS is on */
	char		 relay[320];	/* host[addr]:port, for logs */
	int		 ehlo;		/* EHLO (not HELO) was accepted */
	unsigned	 caps, mechs;
	long long	 sizemax;	/* SIZE limit announced; 0: none */
	int		 sent;		/* transactions so far */
	int		 dead;		/* the connection failed: no QUIT */
	int64_t		 end;		/* the whole session's deadline (S-1) */
	int		 code;		/* last reply */
	char		 text[REPLY_TEXT_MAX];
	char		 out[16384 + 8];	/* DATA output buffer */
	size_t		 olen;
};

static int	connect_host(struct smtp *, char *, size_t);
static int	reply(struct smtp *, int, int, char *, size_t);
static size_t	xtext(char *, size_t, const char *);
static void	fail_all(struct qmsg *, const char *, ...) PRINTF(2, 3);
static size_t	command_text(struct smtp *, struct qmsg *, enum cmdkind, size_t,
		    long long, char *, size_t);
static int	command(struct smtp *, int, int, char *, size_t, const char *,
		    ...) PRINTF(6, 7);
static int	handshake(struct smtp *, struct tls *, char *, size_t);
static void	capability(struct smtp *, const char *);
static int	hello(struct smtp *, char *, size_t);
static int	starttls(struct smtp *, struct tls *, char *, size_t);
static int	authenticate(struct smtp *, enum smtp_fail *, char *, size_t);
static int	send_body(struct smtp *, struct qmsg *, char *, size_t);
static int	out_flush(struct smtp *, char *, size_t);
static size_t	base64(char *, size_t, const void *, size_t);
static void	io_failed(struct smtp *, const char *, char *, size_t);

/* The deadline of a stage: its own time, within the session's. */
static int64_t
stage(struct smtp *s, int seconds)
{
	int64_t d = deadline_in(seconds);

	return d < s->end ? d : s->end;
}

static size_t
base64(char *dst, size_t cap, const void *src, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = src;
	size_t o = 0, i;
	uint32_t v;

	if (cap < (len + 2) / 3 * 4 + 1)
		return 0;
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		dst[o++] = tab[v >> 18];
		dst[o++] = tab[v >> 12 & 63];
		dst[o++] = tab[v >> 6 & 63];
		dst[o++] = tab[v & 63];
	}
	if (i < len) {
		v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
		dst[o++] = tab[v >> 18];
		dst[o++] = tab[v >> 12 & 63];
		dst[o++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
		dst[o++] = '=';
	}
	dst[o] = '\0';
	return o;
}

/* A read or write failed: say what and why, naming the TLS cause. */
static void
io_failed(struct smtp *s, const char *what, char *err, size_t errlen)
{
	char why[ERR_MAX];

	s->dead = 1;
	if (s->tls && errno != ETIMEDOUT)
		tls_error(s->tls, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "%s", errno == ETIMEDOUT ?
		    "timed out" : errno == EPROTO ? "NUL byte from the server" :
		    errno == ECONNRESET ? "connection closed by the server" :
		    strerror(errno));
	snprintf(err, errlen, "%s: %s: %s", s->relay, what, why);
}

/*
 * Read one complete reply within tmo seconds.  Returns its code, or -1
 * with err set when the connection failed or the server broke the
 * grammar: a line that is not "DDD", "DDD-text" or "DDD text" with the
 * first digit 2-5, a code that changes between lines, more than
 * REPLY_LINES_MAX lines or REPLY_MAX bytes, or data after the last line
 * (nothing may follow a reply in lock-step, or the last reply to a
 * pipelined group: flags without C_MORE).  Each line's text is given to
 * capability() with C_CAPS in flags.
 */
static int
reply(struct smtp *s, int tmo, int flags, char *err, size_t errlen)
{
	char line[REPLY_LINE_MAX + 1], show[81];
	int64_t deadline = stage(s, tmo);
	size_t len, total = 0, tl = 0;
	int r, lines = 0, code = 0, c;

	s->text[0] = '\0';
	for (;;) {
		r = io_getline(&s->io, &s->lb, deadline, line, sizeof(line), &len);
		if (r == 0)
			errno = ECONNRESET;
		if (r <= 0) {
			io_failed(s, "reading the reply", err, errlen);
			return -1;
		}
		if (verbose)
			fprintf(stderr, "<<< %s%s\n", line, r == 2 ? "..." : "");
		total += len;
		if (++lines > REPLY_LINES_MAX || total > REPLY_MAX) {
			snprintf(err, errlen, "%s: reply longer than %d lines or "
			    "%d bytes", s->relay, REPLY_LINES_MAX, REPLY_MAX);
			s->dead = 1;
			return -1;
		}
		if (len < 3 || line[0] < '2' || line[0] > '5' ||
		    !isdigit((unsigned char)line[1]) ||
		    !isdigit((unsigned char)line[2]) ||
		    (len > 3 && line[3] != ' ' && line[3] != '-'))
			goto bad;
		c = (line[0] - '0') * 100 + (line[1] - '0') * 10 + line[2] - '0';
		if (code == 0)
			code = c;
		else if (c != code)
			goto bad;
		if ((flags & C_CAPS) && lines > 1)
			capability(s, len > 4 ? line + 4 : "");
		/* Keep "DDD text text ..." with the text of every line. */
		if (tl == 0)
			tl = escape(s->text, sizeof(s->text), line, 3);
		if (len > 4 && tl + 2 < sizeof(s->text)) {
			s->text[tl++] = ' ';
			tl += escape(s->text + tl, sizeof(s->text) - tl, line + 4,
			    len - 4);
		}
		if (len == 3 || line[3] == ' ')
			break;
	}
	if (!(flags & C_MORE) && linebuf_pending(&s->lb) > 0) {
		snprintf(err, errlen, "%s: protocol error: data after the reply "
		    "\"%.80s\"", s->relay, s->text);
		s->dead = 1;
		return -1;
	}
	s->code = code;
	return code;
bad:
	escape(show, sizeof(show), line, len);
	snprintf(err, errlen, "%s: protocol error: bad reply line \"%s\"",
	    s->relay, show);
	s->dead = 1;
	return -1;
}

/*
 * Send one command line and read its reply within tmo seconds.  flags:
 * C_SECRET shows only the verb in the trace (AUTH and its responses
 * carry the password), C_CAPS reads EHLO capabilities from the reply.
 */
static int
command(struct smtp *s, int tmo, int flags, char *err, size_t errlen,
    const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf) - 2) {
		snprintf(err, errlen, "%s: command too long", s->relay);
		return -1;
	}
	if (verbose && !(flags & C_SECRET))
		fprintf(stderr, ">>> %s\n", buf);
	else if (verbose)	/* "AUTH PLAIN <redacted>", or just "<redacted>" */
		fprintf(stderr, ">>> %.*s<redacted>\n",
		    strncmp(buf, "AUTH ", 5) == 0 ?
		    (int)(5 + strcspn(buf + 5, " ") + 1) : 0, buf);
	memcpy(buf + n, "\r\n", 2);
	if (s->io.write(s->io.ctx, buf, (size_t)n + 2, stage(s, conf.timeout)) == -1) {
		explicit_bzero(buf, sizeof(buf));
		io_failed(s, "sending a command", err, errlen);
		return -1;
	}
	explicit_bzero(buf, sizeof(buf));
	return reply(s, tmo, flags & C_CAPS, err, errlen);
}

/* One EHLO line: a keyword, then parameters (RFC 5321 4.1.1.1). */
static void
capability(struct smtp *s, const char *t)
{
	size_t k = strcspn(t, " =");
	const char *p;

	if (k == 8 && strncasecmp(t, "STARTTLS", 8) == 0)
		s->caps |= CAP_STARTTLS;
	else if (k == 8 && strncasecmp(t, "8BITMIME", 8) == 0)
		s->caps |= CAP_8BITMIME;
	else if (k == 4 && strncasecmp(t, "SIZE", 4) == 0) {
		s->caps |= CAP_SIZE;
		/* "SIZE 10240000"; no number or 0 means no fixed limit. */
		if (t[4] == ' ' && strspn(t + 5, "0123456789") == strlen(t + 5) &&
		    strlen(t + 5) < 16)
			s->sizemax = atoll(t + 5);
	} else if (k == 10 && strncasecmp(t, "PIPELINING", 10) == 0)
		s->caps |= CAP_PIPELINING;
	else if (k == 8 && strncasecmp(t, "SMTPUTF8", 8) == 0)
		s->caps |= CAP_SMTPUTF8;
	else if (k == 3 && strncasecmp(t, "DSN", 3) == 0)
		s->caps |= CAP_DSN;
	else if (k == 4 && strncasecmp(t, "AUTH", 4) == 0) {
		s->caps |= CAP_AUTH;
		for (p = t + 4; *p; ) {
			p += strspn(p, " =");
			k = strcspn(p, " ");
			if (k == 5 && strncasecmp(p, "PLAIN", 5) == 0)
				s->mechs |= MECH_PLAIN;
			else if (k == 5 && strncasecmp(p, "LOGIN", 5) == 0)
				s->mechs |= MECH_LOGIN;
			p += k;
		}
	}
}

/*
 * EHLO, or HELO when EHLO is refused as unknown.  What the server said
 * before (capabilities) is forgotten first.  Returns 0 or -1.
 */
static int
hello(struct smtp *s, char *err, size_t errlen)
{
	int code;

	s->caps = s->mechs = 0;
	s->sizemax = 0;
	s->ehlo = 0;
	if ((code = command(s, conf.timeout, C_CAPS, err, errlen, "EHLO %s",
	    conf.helo)) == -1)
		return -1;
	if (code / 100 == 2) {
		s->ehlo = 1;
		return 0;
	}
	if (code / 100 != 5) {
		snprintf(err, errlen, "%s: EHLO refused: %s", s->relay, s->text);
		return -1;
	}
	/* Unknown command: an old server.  Its refusal said nothing useful. */
	s->caps = s->mechs = 0;
	if ((code = command(s, conf.timeout, 0, err, errlen, "HELO %s",
	    conf.helo)) == -1)
		return -1;
	if (code / 100 == 2)
		return 0;
	snprintf(err, errlen, "%s: EHLO and HELO refused: %s", s->relay,
	    s->text);
	return -1;
}

/*
 * The TLS handshake on the session's socket, checked against the
 * configured host name; from then on the session speaks through TLS.
 * A failure leaves nothing to QUIT to: the stream is neither plain nor
 * TLS any more.
 */
static int
handshake(struct smtp *s, struct tls *tls, char *err, size_t errlen)
{
	char why[ERR_MAX];

	if (tls_handshake(tls, s->fd, conf.host, stage(s, conf.timeout), why,
	    sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s", s->relay, why);
		s->dead = 1;
		return -1;
	}
	s->tls = tls;
	tls_io(tls, &s->io);
	return 0;
}

/*
 * STARTTLS and the handshake.  The reply to STARTTLS must be the last
 * thing the server sent in plaintext: reply() refuses anything after it
 * (CVE-2011-0411), and the old capabilities are then forgotten.
 */
static int
starttls(struct smtp *s, struct tls *tls, char *err, size_t errlen)
{
	int code;

	if (!(s->caps & CAP_STARTTLS)) {
		snprintf(err, errlen, "%s does not offer STARTTLS; nothing was "
		    "sent (tls starttls)", s->relay);
		return -1;
	}
	if ((code = command(s, conf.timeout, 0, err, errlen, "STARTTLS")) == -1)
		return -1;
	if (code != 220) {
		snprintf(err, errlen, "%s: STARTTLS refused: %s; nothing was sent",
		    s->relay, s->text);
		return -1;
	}
	if (handshake(s, tls, err, errlen) == -1)
		return -1;
	return hello(s, err, errlen);
}

/* AUTH PLAIN (RFC 4616) or LOGIN, with the password read just now. */
static int
authenticate(struct smtp *s, enum smtp_fail *cls, char *err, size_t errlen)
{
	char pw[SECRET_MAX], raw[2 * SECRET_MAX + 4], b64[4 * SECRET_MAX + 16];
	const char *mech;
	size_t ul = strlen(conf.user), pl;
	int code = -1, m;

	m = conf.auth == AUTH_PLAIN ? MECH_PLAIN :
	    conf.auth == AUTH_LOGIN ? MECH_LOGIN :
	    s->mechs & MECH_PLAIN ? MECH_PLAIN : MECH_LOGIN;
	mech = m == MECH_PLAIN ? "PLAIN" : "LOGIN";
	if (!(s->caps & CAP_AUTH) || !(s->mechs & m)) {
		snprintf(err, errlen, "%s does not offer AUTH %s%s", s->relay,
		    conf.auth == AUTH_AUTO ? "PLAIN or LOGIN" : mech,
		    s->ehlo ? "" : " (it refused EHLO)");
		return -1;
	}
	if (conf_secret(pw, sizeof(pw), err, errlen) == -1) {
		*cls = SMTP_CONFIG;
		return -1;
	}
	pl = strlen(pw);
	if (m == MECH_PLAIN) {
		/* authzid NUL authcid NUL passwd */
		raw[0] = '\0';
		memcpy(raw + 1, conf.user, ul < SECRET_MAX ? ul : SECRET_MAX);
		ul = ul < SECRET_MAX ? ul : SECRET_MAX;
		raw[1 + ul] = '\0';
		memcpy(raw + 2 + ul, pw, pl);
		base64(b64, sizeof(b64), raw, 2 + ul + pl);
		code = command(s, conf.timeout, C_SECRET, err, errlen,
		    "AUTH PLAIN %s", b64);
	} else {
		base64(b64, sizeof(b64), conf.user, ul < SECRET_MAX ? ul :
		    SECRET_MAX);
		code = command(s, conf.timeout, 0, err, errlen, "AUTH LOGIN");
		if (code == 334)
			code = command(s, conf.timeout, C_SECRET, err, errlen,
			    "%s", b64);
		if (code == 334) {
			base64(b64, sizeof(b64), pw, pl);
			code = command(s, conf.timeout, C_SECRET, err, errlen,
			    "%s", b64);
		}
	}
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(b64, sizeof(b64));
	if (code == -1)
		return -1;
	if (code != 235) {
		snprintf(err, errlen, "%s: AUTH %s as %s failed: %s", s->relay,
		    mech, conf.user, s->text);
		return -1;
	}
	return 0;
}

/* Connect to the first address of the smart host that answers. */
static int
connect_host(struct smtp *s, char *err, size_t errlen)
{
	struct hostaddr addrs[HOST_ADDRS_MAX];
	char tried[ERR_MAX] = "";
	socklen_t sl;
	int n, i, fd, e;

	if ((n = dns_host(conf.host, conf.port, addrs, HOST_ADDRS_MAX, err,
	    errlen)) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		fd = socket(addrs[i].ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0);
		if (fd == -1) {
			e = errno;
			goto next;
		}
		if (connect(fd, (struct sockaddr *)&addrs[i].ss,
		    addrs[i].len) == -1 && errno != EINPROGRESS) {
			e = errno;
			goto next;
		}
		{
			struct pollfd pfd = { fd, POLLOUT, 0 };
			int64_t left = stage(s, conf.timeout) - now_ms();

			e = ETIMEDOUT;
			if (left > 0 && poll(&pfd, 1, (int)left) == 1) {
				sl = sizeof(e);
				if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e,
				    &sl) == -1)
					e = errno;
			}
		}
		if (e == 0) {
			s->fd = fd;
			snprintf(s->relay, sizeof(s->relay), "%s%s", conf.host,
			    addrs[i].text);
			return 0;
		}
next:
		if (fd != -1)
			close(fd);
		snprintf(tried + strlen(tried), sizeof(tried) - strlen(tried),
		    "%s%s: %s", i ? "; " : "", addrs[i].text,
		    e == ETIMEDOUT ? "timed out" : strerror(e));
	}
	snprintf(err, errlen, "unable to connect to %s: %s", conf.host, tried);
	return -1;
}

/*
 * Open a session with the smart host, ready for MAIL: connected, TLS on
 * as configured, authenticated when a user is set.  tls holds the trust
 * anchors (NULL only with tls off).  Returns the session, or NULL with
 * err and *cls set.
 */
struct smtp *
smtp_open(struct tls *tls, enum smtp_fail *cls, char *err, size_t errlen)
{
	struct smtp *s;
	int code;

	*cls = SMTP_TEMP;
	if (conf.host == NULL) {
		snprintf(err, errlen, "%s: no host set: outbox needs a smart "
		    "host to relay to", conf.path);
		*cls = SMTP_CONFIG;
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->fd = -1;
	s->end = deadline_in(SESSION_MAX);
	if (connect_host(s, err, errlen) == -1)
		goto fail;
	io_plain(&s->io, &s->fd);
	if (conf.tls == TLS_IMPLICIT && handshake(s, tls, err, errlen) == -1)
		goto fail;
	if ((code = reply(s, TMO_GREETING, 0, err, errlen)) == -1)
		goto fail;
	if (code != 220) {
		snprintf(err, errlen, "%s: server refused the session: %s",
		    s->relay, s->text);
		goto quit;
	}
	if (hello(s, err, errlen) == -1)
		goto quit;
	if (conf.tls == TLS_STARTTLS && starttls(s, tls, err, errlen) == -1)
		goto quit;
	if (conf.user != NULL && authenticate(s, cls, err, errlen) == -1)
		goto quit;
	return s;
quit:
	/* Nothing but QUIT after a refusal (REQUIREMENTS T-2). */
	smtp_close(s);
	return NULL;
fail:
	if (s->fd != -1)
		close(s->fd);
	free(s);
	return NULL;
}

const char *
smtp_relay(struct smtp *s)
{
	return s->relay;
}

/* Mark the recipients in state R_PENDING and flagged in acc. */
static void
verdict(struct qmsg *m, const char *acc, int code, const char *text)
{
	size_t i;

	for (i = 0; i < m->nrcpt; i++) {
		if (m->rcpt[i].state != R_PENDING || (acc && !acc[i]))
			continue;
		strlcpy(m->rcpt[i].text, text, sizeof(m->rcpt[i].text));
		if (code / 100 == 2)
			m->rcpt[i].state = R_SENT;
		else if (code / 100 == 5)
			m->rcpt[i].state = R_FAILED;
	}
}

/* Every pending recipient of m fails with the text (a local verdict). */
static void
fail_all(struct qmsg *m, const char *fmt, ...)
{
	char text[REPLY_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	verdict(m, NULL, 550, text);
}

/*
 * s as xtext (RFC 3461 4): printable ASCII but "+" and "=" as is, any
 * other byte as "+HH".  Returns the length, 0 when it does not fit.
 */
static size_t
xtext(char *dst, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	unsigned char c;

	for (; *s; s++) {
		c = (unsigned char)*s;
		if (o + 4 >= cap)
			return 0;
		if (c > ' ' && c <= '~' && c != '+' && c != '=')
			dst[o++] = (char)c;
		else {
			dst[o++] = '+';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
	return o;
}

/*
 * The text of one command of m's transaction (for RCPT, of recipient
 * r), with the parameters the server's extensions call for.  Returns its
 * length, cap or more when it does not fit.
 */
static size_t
command_text(struct smtp *s, struct qmsg *m, enum cmdkind kind, size_t r,
    long long size, char *cmd, size_t cap)
{
	char x[ADDR_MAX * 3 + 16];
	size_t cl;

	switch (kind) {
	case K_RSET:
		return (size_t)snprintf(cmd, cap, "RSET");
	case K_DATA:
		return (size_t)snprintf(cmd, cap, "DATA");
	case K_RCPT:
		cl = (size_t)snprintf(cmd, cap, "RCPT TO:<%s>", m->rcpt[r].addr);
		if ((s->caps & CAP_DSN) && m->notify && cl < cap)
			cl += (size_t)snprintf(cmd + cl, cap - cl, " NOTIFY=%s",
			    m->notify);
		if ((s->caps & CAP_DSN) && !has8bit(m->rcpt[r].addr) &&
		    xtext(x, sizeof(x), m->rcpt[r].addr) > 0 && cl < cap)
			cl += (size_t)snprintf(cmd + cl, cap - cl,
			    " ORCPT=rfc822;%s", x);
		return cl;
	case K_MAIL:
		break;
	}
	cl = (size_t)snprintf(cmd, cap, "MAIL FROM:<%s>", m->sender);
	if (m->eightbit && (s->caps & CAP_8BITMIME) && cl < cap)
		cl += (size_t)snprintf(cmd + cl, cap - cl, " BODY=8BITMIME");
	if ((s->caps & CAP_SIZE) && cl < cap)
		cl += (size_t)snprintf(cmd + cl, cap - cl, " SIZE=%lld", size);
	if ((s->caps & CAP_SMTPUTF8) && (m->smtputf8 || m->utf8hdr) && cl < cap)
		cl += (size_t)snprintf(cmd + cl, cap - cl, " SMTPUTF8");
	if ((s->caps & CAP_DSN) && m->ret && cl < cap)
		cl += (size_t)snprintf(cmd + cl, cap - cl, " RET=%s", m->ret);
	if ((s->caps & CAP_DSN) && m->envid &&
	    xtext(x, sizeof(x), m->envid) > 0 && cl < cap)
		cl += (size_t)snprintf(cmd + cl, cap - cl, " ENVID=%s", x);
	return cl;
}

/*
 * One transaction for the pending recipients of m.  Sets each one's
 * state and text.  Returns 0 when the session can go on, -1 with err set
 * when it broke (recipients without a verdict stay pending).
 *
 * With PIPELINING (RFC 2920) RSET, MAIL, the RCPTs and DATA go out in
 * groups that fit the output buffer, DATA last, and the replies are then
 * read in order; without it each command waits for its reply, and the
 * transaction stops at the first refusal that ends it.
 */
int
smtp_send(struct smtp *s, struct qmsg *m, char *err, size_t errlen)
{
	char cmd[ADDR_MAX * 4 + 256], *acc = NULL;
	long long size = m->body_len + m->lines;	/* CRLF on the wire */
	size_t i, k, next = 0, naccepted = 0, nrcpt = 0, cl, rnext = 0;
	int pipe = (s->caps & CAP_PIPELINING) != 0, code, mail = 0, data = 0;
	int flags, tmo, rc = -1;
	struct { enum cmdkind kind; size_t rcpt; } batch[RCPT_MAX + 3];
	size_t nb;

	/* What cannot be sent to this server fails before anything is sent. */
	if (m->smtputf8 && !(s->caps & CAP_SMTPUTF8)) {
		fail_all(m, "5.6.7 %s does not offer SMTPUTF8, which the "
		    "non-ASCII addresses of this message need (RFC 6531)",
		    s->relay);
		return 0;
	}
	if (s->sizemax > 0 && size > s->sizemax) {
		fail_all(m, "5.3.4 the message is %lld bytes, more than the "
		    "%lld that %s accepts (SIZE)", size, s->sizemax, s->relay);
		return 0;
	}

	acc = xcalloc(m->nrcpt, 1);
	for (i = 0; i < m->nrcpt; i++)
		nrcpt += m->rcpt[i].state == R_PENDING;
	/* Commands in order: [RSET] MAIL RCPT... DATA, numbered 0.. */
	k = (s->sent++ > 0 ? 1 : 0);
	while (next < k + 2 + nrcpt) {
		s->olen = 0;
		nb = 0;
		/* Build a group: one command, or as many as fit when pipelining. */
		for (;;) {
			enum cmdkind kind;
			size_t r = 0;

			if (next < k)
				kind = K_RSET;
			else if (next == k)
				kind = K_MAIL;
			else if (next < k + 1 + nrcpt)
				kind = K_RCPT;
			else
				kind = K_DATA;
			if (kind == K_RCPT) {
				/* The next pending recipient. */
				for (r = rnext; m->rcpt[r].state != R_PENDING; r++)
					;
				rnext = r + 1;
			}
			cl = command_text(s, m, kind, r, size, cmd, sizeof(cmd));
			if (cl >= sizeof(cmd) - 2) {
				snprintf(err, errlen, "%s: command too long",
				    s->relay);
				goto out;
			}
			if (nb > 0 && s->olen + cl + 2 > sizeof(s->out) - 8)
				break;	/* the next group takes it */
			if (verbose)
				fprintf(stderr, ">>> %s\n", cmd);
			memcpy(s->out + s->olen, cmd, cl);
			memcpy(s->out + s->olen + cl, "\r\n", 2);
			s->olen += cl + 2;
			batch[nb].kind = kind;
			batch[nb++].rcpt = r;
			next++;
			if (!pipe || kind == K_DATA)
				break;
		}
		if (out_flush(s, err, errlen) == -1)
			goto out;
		/* The replies, in order. */
		for (i = 0; i < nb; i++) {
			flags = i + 1 < nb ? C_MORE : 0;
			tmo = batch[i].kind == K_MAIL ? TMO_MAIL :
			    batch[i].kind == K_RCPT ? TMO_RCPT :
			    batch[i].kind == K_DATA ? TMO_DATA : conf.timeout;
			if ((code = reply(s, tmo, flags, err, errlen)) == -1)
				goto out;
			switch (batch[i].kind) {
			case K_RSET:
				break;
			case K_MAIL:
				if ((mail = code) / 100 != 2)
					verdict(m, NULL, code, s->text);
				break;
			case K_RCPT:
				if (mail / 100 != 2)
					break;	/* 503 after a refused MAIL */
				if (code / 100 == 2) {
					acc[batch[i].rcpt] = 1;
					naccepted++;
					break;
				}
				strlcpy(m->rcpt[batch[i].rcpt].text, s->text,
				    sizeof(m->rcpt[batch[i].rcpt].text));
				if (code / 100 == 5)
					m->rcpt[batch[i].rcpt].state = R_FAILED;
				break;
			case K_DATA:
				data = code;
				break;
			}
		}
		/* Lock-step: stop where the transaction cannot go on. */
		if (!pipe && next > k && (mail / 100 != 2 ||
		    (next == k + 1 + nrcpt && naccepted == 0))) {
			rc = 0;
			goto out;
		}
	}
	if (data != 354) {
		if (naccepted > 0)
			verdict(m, acc, data, s->text);
		rc = 0;
		goto out;
	}
	if (mail / 100 != 2 || naccepted == 0) {
		/* 354 with nobody to send to: end an empty message. */
		memcpy(s->out, ".\r\n", 3);
		s->olen = 3;
		if (out_flush(s, err, errlen) == 0 &&
		    reply(s, TMO_DOT, 0, err, errlen) != -1)
			rc = 0;
		goto out;
	}
	queue_sending(m);
	if (send_body(s, m, err, errlen) == -1)
		goto out;
	if ((code = reply(s, TMO_DOT, 0, err, errlen)) == -1) {
		/* The server may have taken it: RFC 5321 6.1 accepts the risk. */
		logmsg(LOG_WARNING, "%s: connection lost after the final dot; "
		    "will retry, possible duplicate: %s", m->id, err);
		goto out;
	}
	verdict(m, acc, code, s->text);
	rc = 0;
out:
	free(acc);
	return rc;
}

static int
out_flush(struct smtp *s, char *err, size_t errlen)
{
	if (s->olen && s->io.write(s->io.ctx, s->out, s->olen,
	    stage(s, TMO_BLOCK)) == -1) {
		io_failed(s, "sending the message", err, errlen);
		return -1;
	}
	s->olen = 0;
	return 0;
}

/*
 * The message as DATA (RFC 5321 4.5.2): LF becomes CRLF, a line that
 * starts with "." gets another, lines longer than 998 octets are broken,
 * and the stuffing state carries across buffers.  The spool holds no CR
 * or NUL; should a damaged file have one, it is dropped rather than
 * sent bare.
 */
static int
send_body(struct smtp *s, struct qmsg *m, char *err, size_t errlen)
{
	unsigned char buf[16384];
	long long off = m->body_off, left = m->body_len;
	size_t i, col = 0;
	ssize_t r;
	unsigned char c;

	s->olen = 0;
	while (left > 0) {
		r = pread(m->fd, buf, left < (long long)sizeof(buf) ?
		    (size_t)left : sizeof(buf), off);
		if (r <= 0) {
			snprintf(err, errlen, "%s: unable to read the queue file: "
			    "%s", m->id, r == 0 ? "short" : strerror(errno));
			return -1;
		}
		off += r;
		left -= r;
		for (i = 0; i < (size_t)r; i++) {
			if (s->olen + 4 > sizeof(s->out) - 8 &&
			    out_flush(s, err, errlen) == -1)
				return -1;
			c = buf[i];
			if (c == '\n') {
				s->out[s->olen++] = '\r';
				s->out[s->olen++] = '\n';
				col = 0;
				continue;
			}
			if (c == '\r' || c == '\0')
				continue;
			if (col >= TEXT_LINE_MAX) {
				s->out[s->olen++] = '\r';
				s->out[s->olen++] = '\n';
				col = 0;
			}
			if (col == 0 && c == '.') {
				s->out[s->olen++] = '.';
				col++;
			}
			s->out[s->olen++] = (char)c;
			col++;
		}
	}
	if (col > 0) {
		s->out[s->olen++] = '\r';
		s->out[s->olen++] = '\n';
	}
	if (verbose)
		fprintf(stderr, ">>> (%lld bytes of message)\n>>> .\n",
		    m->body_len);
	memcpy(s->out + s->olen, ".\r\n", 3);
	s->olen += 3;
	return out_flush(s, err, errlen);
}

/* QUIT, close TLS and the socket, free the session. */
void
smtp_close(struct smtp *s)
{
	char err[ERR_MAX];

	if (s == NULL)
		return;
	if (s->fd != -1) {
		if (!s->dead) {
			command(s, conf.timeout < 10 ? conf.timeout : 10, 0, err,
			    sizeof(err), "QUIT");
			if (s->tls)
				tls_close(s->tls, deadline_in(2));
		}
		close(s->fd);
	}
	free(s);
}
