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
#include <netinet/in.h>
#include <netinet/tcp.h>

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
#define MECH(m)		(1u << (m))	/* an enum authmech in s->mechs */

/* A recipient this transaction is for: pending, and not left for another. */
#define WANTED(r)	((r)->state == R_PENDING && !(r)->skip)

/* command() and reply() flags. */
#define C_CAPS		0x02	/* EHLO's reply: read capabilities */
#define C_MORE		0x04	/* more replies follow (PIPELINING) */
#define C_STARTTLS	0x08	/* the reply to STARTTLS: nothing may follow */

/* The commands of one transaction, for send_commands(). */
enum cmdkind { K_RSET, K_MAIL, K_RCPT, K_DATA };

/* Where one session goes, and how it checks whom it reached. */
struct dest {
	char		 host[DNS_NAME_MAX + 1];	/* to connect to */
	int		 port;
	enum tlsmode	 tls;
	char		 name[DNS_NAME_MAX + 1];	/* SNI; the certificate's */
	int		 implicit;	/* a domain without MX: its own address */
};

struct smtp {
	struct dest	 rt;
	int		 fd;
	struct io	 io;
	struct linebuf	 lb;
	struct tls	*tls;		/* NULL until TLS is on */
	char		 relay[320];	/* host[addr]:port, for logs */
	int		 ehlo;		/* EHLO (not HELO) was accepted */
	unsigned	 caps, mechs;
	unsigned	 mechs_plain;	/* mechs offered before STARTTLS */
	int		 authing;	/* an AUTH exchange: hide its payloads */
	char		 ehlo_text[512];	/* the extensions, for -bC */
	long long	 sizemax;	/* SIZE limit announced; 0: none */
	int		 sent;		/* transactions so far */
	int		 dead;		/* the connection failed: no QUIT */
	int		 bye;		/* the server said 421: it is closing */
	int64_t		 end;		/* the whole session's deadline (S-1) */
	int		 code;		/* last reply */
	char		 text[REPLY_TEXT_MAX];
	char		 out[16384 + 8];	/* DATA output buffer */
	size_t		 olen;
};

static int	routes(const char *, struct dest *, size_t, enum smtp_fail *,
		    char *, size_t);
static struct smtp *session(struct tls *, const struct dest *,
		    enum smtp_fail *, char *, size_t);
static int	connect_host(struct smtp *, enum smtp_fail *, char *, size_t);
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
static void	io_failed(struct smtp *, const char *, char *, size_t);
static int	rfc_tmo(int);
static int	gone(struct smtp *, char *, size_t);
static int	auth_line(struct smtp *, const char *, const void *, size_t,
		    char *, size_t);
static int	auth_pick(struct smtp *, enum authmech *, char *, size_t);
static int	auth_challenge(struct smtp *, char *, size_t, size_t *);
static int	auth_scram(struct smtp *, const char *, char *, size_t);
static void	step(const char *, const char *, ...) PRINTF(2, 3);
static int	says(const char *, const char *);

/* SASL names of enum authmech, and the order "auto" tries them in. */
static const char *const sasl_names[] = { "", "PLAIN", "LOGIN", "CRAM-MD5",
    "SCRAM-SHA-256", "XOAUTH2", "OAUTHBEARER", "EXTERNAL" };
static const enum authmech ranked[] = { AUTH_EXTERNAL, AUTH_SCRAM_SHA_256,
    AUTH_CRAM_MD5, AUTH_PLAIN, AUTH_LOGIN };

/* -bC: where each stage is reported, and the stage a failure is in. */
static FILE		*report;
static const char	*stage_now;
static struct tls	*show_tls;

/* The deadline of a stage: its own time, within the session's. */
static int64_t
stage(struct smtp *s, int seconds)
{
	int64_t d = deadline_in(seconds);

	return d < s->end ? d : s->end;
}

/* A stage's RFC 5321 4.5.3.2 limit, unless stage_timeout replaces it. */
static int
rfc_tmo(int seconds)
{
	return conf.stage_timeout > 0 ? conf.stage_timeout : seconds;
}

/*
 * After a 421 (RFC 5321 3.8) the server closes the connection: nothing
 * more is sent or read, and what is left is a temporary failure with the
 * server's words.  Returns -1 with err set then, 0 otherwise.
 */
static int
gone(struct smtp *s, char *err, size_t errlen)
{
	if (!s->bye)
		return 0;
	snprintf(err, errlen, "%s: the server closed the session: %s",
	    s->relay, s->text);
	return -1;
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
	size_t len, tl = 0;
	int r, lines = 0, code = 0, c;

	if (gone(s, err, errlen) == -1)
		return -1;
	s->text[0] = '\0';
	s->lb.left = REPLY_MAX;		/* skipped bytes count too */
	for (;;) {
		r = io_getline(&s->io, &s->lb, deadline, line, sizeof(line), &len);
		if (r == 0)
			errno = ECONNRESET;
		if (r < 0 && errno == EMSGSIZE)
			goto toolong;
		if (r <= 0) {
			io_failed(s, "reading the reply", err, errlen);
			return -1;
		}
		if (verbose && s->authing && strncmp(line, "334", 3) == 0)
			fprintf(stderr, "<<< 334 <redacted>\n");
		else if (verbose)
			fprintf(stderr, "<<< %s%s\n", line, r == 2 ? "..." : "");
		if (++lines > REPLY_LINES_MAX)
			goto toolong;
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
	if ((flags & C_STARTTLS) && (linebuf_pending(&s->lb) > 0 ||
	    recv(s->fd, line, 1, MSG_PEEK | MSG_DONTWAIT) == 1)) {
		/* Plaintext that TLS would seem to vouch for (CVE-2011-0411). */
		snprintf(err, errlen, "%s: the server sent plaintext after the "
		    "reply to STARTTLS; session aborted, nothing was sent",
		    s->relay);
		s->dead = 1;
		return -1;
	}
	if (!(flags & C_MORE) && linebuf_pending(&s->lb) > 0) {
		snprintf(err, errlen, "%s: protocol error: data after the reply "
		    "\"%.80s\"", s->relay, s->text);
		s->dead = 1;
		return -1;
	}
	s->code = code;
	if (code == 421)
		s->bye = s->dead = 1;
	return code;
toolong:
	snprintf(err, errlen, "%s: reply longer than %d lines or %d bytes",
	    s->relay, REPLY_LINES_MAX, REPLY_MAX);
	s->dead = 1;
	return -1;
bad:
	escape(show, sizeof(show), line, len);
	snprintf(err, errlen, "%s: protocol error: bad reply line \"%s\"",
	    s->relay, show);
	s->dead = 1;
	return -1;
}

/*
 * Send one command line and read its reply within tmo seconds.  flags:
 * C_CAPS reads EHLO capabilities from the reply, C_STARTTLS refuses
 * anything after it.  Credentials go through auth_line() instead.
 */
static int
command(struct smtp *s, int tmo, int flags, char *err, size_t errlen,
    const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	if (gone(s, err, errlen) == -1)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf) - 2) {
		snprintf(err, errlen, "%s: command too long", s->relay);
		return -1;
	}
	if (verbose)
		fprintf(stderr, ">>> %s\n", buf);
	/* Sent by length, so no NUL: NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
	memcpy(buf + n, "\r\n", 2);
	if (s->io.write(s->io.ctx, buf, (size_t)n + 2, stage(s, conf.timeout)) == -1) {
		explicit_bzero(buf, sizeof(buf));
		io_failed(s, "sending a command", err, errlen);
		return -1;
	}
	explicit_bzero(buf, sizeof(buf));
	return reply(s, tmo, flags & (C_CAPS | C_STARTTLS), err, errlen);
}

/* One EHLO line: a keyword, then parameters (RFC 5321 4.1.1.1). */
static void
capability(struct smtp *s, const char *t)
{
	size_t k = strcspn(t, " ="), i, n = strlen(s->ehlo_text);
	const char *p;

	/* The list -bC shows; what does not fit is left out. */
	if (n > 0)
		n = strlcat(s->ehlo_text, ", ", sizeof(s->ehlo_text));
	if (n < sizeof(s->ehlo_text) - 1)
		escape(s->ehlo_text + n, sizeof(s->ehlo_text) - n, t, strlen(t));

	if (k == 8 && strncasecmp(t, "STARTTLS", 8) == 0)
		s->caps |= CAP_STARTTLS;
	else if (k == 8 && strncasecmp(t, "8BITMIME", 8) == 0)
		s->caps |= CAP_8BITMIME;
	else if (k == 4 && strncasecmp(t, "SIZE", 4) == 0) {
		s->caps |= CAP_SIZE;
		/* "SIZE 10240000"; no number or 0 means no fixed limit. */
		if (t[4] == ' ' && strspn(t + 5, "0123456789") == strlen(t + 5) &&
		    strlen(t + 5) < 16)
			s->sizemax = strtoll(t + 5, NULL, 10);
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
			for (i = 1; i < sizeof(sasl_names) / sizeof(sasl_names[0]);
			    i++)
				if (k == strlen(sasl_names[i]) &&
				    strncasecmp(p, sasl_names[i], k) == 0)
					s->mechs |= MECH(i);
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
	s->ehlo_text[0] = '\0';
	if ((code = command(s, conf.timeout, C_CAPS, err, errlen, "EHLO %s",
	    conf.helo)) == -1)
		return -1;
	if (code / 100 == 2) {
		s->ehlo = 1;
		step("ehlo", "%s%s", s->tls ? "(over TLS) " : "", s->ehlo_text);
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
	int r;

	stage_now = "tls";
	r = tls_handshake(tls, s->fd, s->rt.name, s->rt.tls != TLS_MAY,
	    stage(s, conf.timeout), why, sizeof(why));
	if (report != NULL)
		tls_show(tls, report);
	show_tls = tls;
	if (r == -1) {
		snprintf(err, errlen, "%s: %s", s->relay, why);
		s->dead = 1;
		return -1;
	}
	s->tls = tls;
	tls_io(tls, &s->io);
	if (s->rt.tls == TLS_MAY)
		step("trust", "none: opportunistic TLS, the certificate is not "
		    "checked");
	else if (conf.npins > 0)
		step("trust", "the server's key matches a pin");
	else
		step("trust", "the certificate is valid for %s and issued by a "
		    "CA of %s", s->rt.name, conf.capath && conf.cafile ?
		    "cafile or capath" : conf.capath ? "capath" : "cafile");
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

	stage_now = "starttls";
	if (!(s->caps & CAP_STARTTLS) && s->rt.tls == TLS_MAY) {
		step("tls", "none: %s does not offer STARTTLS (opportunistic)",
		    s->relay);
		return 0;
	}
	if (!(s->caps & CAP_STARTTLS)) {
		snprintf(err, errlen, "%s does not offer STARTTLS; nothing was "
		    "sent (tls starttls)", s->relay);
		return -1;
	}
	s->mechs_plain = s->mechs;
	if ((code = command(s, conf.timeout, C_STARTTLS, err, errlen,
	    "STARTTLS")) == -1)
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

/*
 * -bC: one line on stdout for a stage that went well.  Nothing when
 * not in -bC.
 */
static void
step(const char *what, const char *fmt, ...)
{
	va_list ap;

	if (report == NULL)
		return;
	fprintf(report, "%s: ", what);
	va_start(ap, fmt);
	vfprintf(report, fmt, ap);
	va_end(ap);
	fputc('\n', report);
}

/*
 * Send one line of an AUTH exchange and read the reply: verb (the
 * command, or NULL for a response) and raw as base64 ("=" for an empty
 * initial response; an empty line for an empty response), or raw as it
 * is when verb is NULL and raw is "*" (the cancel).  The trace shows the
 * verb and "<redacted>" for the rest.  Returns the code or -1.
 */
static int
auth_line(struct smtp *s, const char *verb, const void *raw, size_t len,
    char *err, size_t errlen)
{
	char line[AUTH_LINE_MAX + 2];
	size_t n = 0, b;
	int code;

	if (gone(s, err, errlen) == -1)
		return -1;
	if (verb != NULL)
		n = (size_t)snprintf(line, sizeof(line), "%s%s", verb,
		    raw != NULL ? " " : "");
	if (raw != NULL && len == 1 && verb == NULL &&
	    *(const char *)raw == '*')
		line[n++] = '*';
	else if (raw != NULL && len == 0 && verb != NULL)
		line[n++] = '=';
	else if (raw != NULL && len > 0) {
		if ((b = b64_encode(line + n, sizeof(line) - n - 2, raw,
		    len)) == 0) {
			snprintf(err, errlen, "%s: AUTH line too long", s->relay);
			s->dead = 1;
			return -1;
		}
		n += b;
	}
	if (verbose)
		fprintf(stderr, ">>> %s%s\n", verb ? verb : "",
		    raw == NULL ? "" : verb ? " <redacted>" : "<redacted>");
	memcpy(line + n, "\r\n", 2);
	s->authing = 1;
	if (s->io.write(s->io.ctx, line, n + 2, stage(s, conf.timeout)) == -1) {
		explicit_bzero(line, sizeof(line));
		io_failed(s, "sending AUTH", err, errlen);
		return -1;
	}
	explicit_bzero(line, sizeof(line));
	code = reply(s, conf.timeout, 0, err, errlen);
	s->authing = 0;
	return code;
}

/*
 * The server's 334 challenge, decoded into buf (NUL-terminated).
 * Returns 0, or -1 with err set when it is not base64.
 */
static int
auth_challenge(struct smtp *s, char *buf, size_t cap, size_t *lenp)
{
	const char *t = s->text + 3;
	ssize_t n;

	t += *t == ' ';
	if ((n = b64_decode(buf, cap - 1, t, strlen(t))) == -1)
		return -1;
	buf[n] = '\0';
	*lenp = (size_t)n;
	return 0;
}

/*
 * The mechanism to use: the configured one if the server offers it;
 * for "auto" the first of ranked[] that it offers and that has what it
 * needs (EXTERNAL a client certificate, the others a user).  AUTH_AUTO
 * in *m: no AUTH (a client certificate alone, no user).
 */
static int
auth_pick(struct smtp *s, enum authmech *m, char *err, size_t errlen)
{
	char offered[128] = "";
	size_t i;

	for (i = 1; i < sizeof(sasl_names) / sizeof(sasl_names[0]); i++)
		if (s->mechs & MECH(i))
			snprintf(offered + strlen(offered), sizeof(offered) -
			    strlen(offered), " %s", sasl_names[i]);
	*m = AUTH_AUTO;
	if (conf.auth != AUTH_AUTO && (s->mechs & MECH(conf.auth)))
		*m = conf.auth;
	for (i = 0; conf.auth == AUTH_AUTO && *m == AUTH_AUTO &&
	    i < sizeof(ranked) / sizeof(ranked[0]); i++)
		if ((s->mechs & MECH(ranked[i])) && (ranked[i] == AUTH_EXTERNAL ?
		    conf.tls_cert != NULL : conf.user != NULL))
			*m = ranked[i];
	if (*m != AUTH_AUTO || (conf.user == NULL && conf.auth == AUTH_AUTO))
		return 0;
	if (s->mechs == 0)
		snprintf(err, errlen, "%s does not offer AUTH%s; nothing was "
		    "sent", s->relay, !s->ehlo ? " (it refused EHLO)" :
		    s->mechs_plain ? " after STARTTLS, though it did before" :
		    "");
	else
		snprintf(err, errlen, "%s does not offer AUTH %s (it offers%s)",
		    s->relay, conf.auth == AUTH_AUTO ? "with a password" :
		    sasl_names[conf.auth], offered);
	return -1;
}

/*
 * SCRAM-SHA-256 (RFC 5802, RFC 7677): the server must prove that it
 * knows the password too, or nothing is sent.  Returns the code of the
 * last reply, or -1 with err set.
 */
static int
auth_scram(struct smtp *s, const char *pw, char *err, size_t errlen)
{
	char msg[SCRAM_MSG_MAX], nonce[32], why[ERR_MAX];
	unsigned char rnd[18];
	struct scram sc;
	ssize_t d;
	size_t n;
	int code;

	why[0] = '\0';
	memset(&sc, 0, sizeof(sc));
	rand_bytes(rnd, sizeof(rnd));
	b64_encode(nonce, sizeof(nonce), rnd, sizeof(rnd));
	if (scram_start(&sc, conf.user, nonce, msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "SCRAM: the user name is too long");
		return -1;
	}
	code = auth_line(s, "AUTH SCRAM-SHA-256", msg, strlen(msg), err,
	    errlen);
	if (code == 334 && (auth_challenge(s, msg, sizeof(msg), &n) == -1 ||
	    scram_prove(&sc, pw, msg, n, msg, sizeof(msg), why,
	    sizeof(why)) == -1))
		goto refuse;
	if (code == 334)
		code = auth_line(s, NULL, msg, strlen(msg), err, errlen);
	if (code == 334) {
		/* server-final-message; the empty response finishes. */
		if (auth_challenge(s, msg, sizeof(msg), &n) == -1 ||
		    scram_verify(&sc, msg, n, why, sizeof(why)) == -1)
			goto refuse;
		code = auth_line(s, NULL, "", 0, err, errlen);
	}
	if (code == 235 && sc.state != 3) {
		/* The proof came with 235 (RFC 4954 4), or not at all. */
		d = strlen(s->text) > 4 ? b64_decode(msg, sizeof(msg) - 1,
		    s->text + 4, strcspn(s->text + 4, " ")) : -1;
		if (d <= 0 || scram_verify(&sc, msg, (size_t)d, why,
		    sizeof(why)) == -1) {
			snprintf(err, errlen, "%s: SCRAM: the server accepted "
			    "without proving that it knows the password; "
			    "nothing was sent", s->relay);
			code = -1;
		}
	}
	scram_wipe(&sc);
	explicit_bzero(msg, sizeof(msg));
	return code;
refuse:
	scram_wipe(&sc);
	explicit_bzero(msg, sizeof(msg));
	if (code == 334 && why[0] == '\0')
		snprintf(why, sizeof(why), "SCRAM: the server's challenge is "
		    "not base64");
	/* Cancel (RFC 4954 4): the server answers 501. */
	auth_line(s, NULL, "*", 1, err, errlen);
	snprintf(err, errlen, "%s: %s; nothing was sent", s->relay, why);
	return -1;
}

/*
 * AUTH with the mechanism auth_pick() chose and the secret read just
 * now; every buffer that held it is wiped.  A 5xx refusal is SMTP_AUTH
 * in *cls, so that the queue does not try again at once.
 */
static int
authenticate(struct smtp *s, enum smtp_fail *cls, char *err, size_t errlen)
{
	char pw[SECRET_MAX], raw[2 * SECRET_MAX + 512], chal[REPLY_TEXT_MAX];
	enum authmech m;
	size_t n = 0, ul;
	int code = -1;

	stage_now = "auth";
	if (auth_pick(s, &m, err, errlen) == -1)
		return -1;
	if (m == AUTH_AUTO) {
		step("auth", "none: %s offers no AUTH EXTERNAL and no user is "
		    "set", s->rt.host);
		return 0;
	}
	if (m != AUTH_EXTERNAL && conf_secret(pw, sizeof(pw), err,
	    errlen) == -1) {
		*cls = conf.passwordeval ? SMTP_TEMP : SMTP_CONFIG;
		return -1;
	}
	ul = conf.user ? strlen(conf.user) : 0;
	switch (m) {
	case AUTH_PLAIN:	/* RFC 4616: authzid NUL authcid NUL passwd */
		n = (size_t)snprintf(raw, sizeof(raw), "%c%s%c%s", 0, conf.user,
		    0, pw);
		code = auth_line(s, "AUTH PLAIN", raw, n, err, errlen);
		break;
	case AUTH_LOGIN:
		code = auth_line(s, "AUTH LOGIN", NULL, 0, err, errlen);
		if (code == 334)
			code = auth_line(s, NULL, conf.user, ul, err, errlen);
		if (code == 334)
			code = auth_line(s, NULL, pw, strlen(pw), err, errlen);
		break;
	case AUTH_CRAM_MD5:	/* RFC 2195 */
		code = auth_line(s, "AUTH CRAM-MD5", NULL, 0, err, errlen);
		if (code != 334)
			break;
		if (auth_challenge(s, chal, sizeof(chal), &n) == -1 ||
		    sasl_cram_md5(raw, sizeof(raw), conf.user, pw, chal,
		    n) == -1) {
			/* Cancelled (RFC 4954 4); the reply changes nothing. */
			(void)auth_line(s, NULL, "*", 1, err, errlen);
			snprintf(err, errlen, "%s: CRAM-MD5: bad challenge",
			    s->relay);
			code = -1;
			break;
		}
		code = auth_line(s, NULL, raw, strlen(raw), err, errlen);
		break;
	case AUTH_SCRAM_SHA_256:
		code = auth_scram(s, pw, err, errlen);
		break;
	case AUTH_XOAUTH2:
	case AUTH_OAUTHBEARER:
		n = m == AUTH_XOAUTH2 ? sasl_xoauth2(raw, sizeof(raw), conf.user,
		    pw) : sasl_oauthbearer(raw, sizeof(raw), conf.user,
		    s->rt.host, s->rt.port, pw);
		code = auth_line(s, m == AUTH_XOAUTH2 ? "AUTH XOAUTH2" :
		    "AUTH OAUTHBEARER", raw, n, err, errlen);
		/*
		 * 334 carries the error as JSON; the answer that ends the
		 * exchange is empty for XOAUTH2, 0x01 for OAUTHBEARER
		 * (RFC 7628 3.2.3).  The 5xx that follows says it all.
		 */
		if (code == 334)
			code = auth_line(s, NULL, "\001", m == AUTH_XOAUTH2 ? 0 : 1,
			    err, errlen);
		break;
	case AUTH_EXTERNAL:	/* RFC 4422 appendix A: the certificate's name */
		code = auth_line(s, "AUTH EXTERNAL", "", 0, err, errlen);
		break;
	case AUTH_AUTO:
		break;
	}
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(chal, sizeof(chal));
	if (code == -1)
		return -1;
	if (code != 235) {
		snprintf(err, errlen, "%s: AUTH %s as %s failed: %s", s->relay,
		    sasl_names[m], conf.user ? conf.user : "(certificate)",
		    s->text);
		if (code / 100 == 5)
			*cls = SMTP_AUTH;
		return -1;
	}
	step("auth", "%s as %s: ok (%s)", sasl_names[m], conf.user ? conf.user :
	    "the certificate", s->text);
	return 0;
}

/*
 * Connect to the first address of the route's host that answers.  When
 * the host is a domain without MX that has no address at all, there is
 * nowhere to deliver: SMTP_PERM in *cls.
 */
static int
connect_host(struct smtp *s, enum smtp_fail *cls, char *err, size_t errlen)
{
	struct hostaddr addrs[HOST_ADDRS_MAX];
	char tried[ERR_MAX] = "";
	const char *host = s->rt.host;
	socklen_t sl;
	int n, i, fd, e;

	if ((n = dns_host(host, s->rt.port, addrs, HOST_ADDRS_MAX, err,
	    errlen)) < 0) {
		if (n == DNS_NONE && s->rt.implicit)
			*cls = SMTP_PERM;
		return -1;
	}
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
			int64_t left = stage(s, conf.timeout < CONNECT_MAX ?
			    conf.timeout : CONNECT_MAX) - now_ms();

			e = ETIMEDOUT;
			if (left > 0 && poll(&pfd, 1, (int)left) == 1) {
				sl = sizeof(e);
				if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e,
				    &sl) == -1)
					e = errno;
			}
		}
		if (e == 0) {
			/*
			 * Every write is a whole command group, TLS flight or
			 * data block, and a reply is awaited after each: Nagle
			 * would hold the last segment for the server's delayed
			 * ACK, up to 40 ms a round.
			 */
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1},
			    sizeof(int));
			s->fd = fd;
			snprintf(s->relay, sizeof(s->relay), "%s%s", host,
			    addrs[i].text);
			return 0;
		}
next:
		if (fd != -1)
			close(fd);
		snprintf(tried + strlen(tried), sizeof(tried) - strlen(tried),
		    "%s%s: %s", i ? "; " : "", addrs[i].text,
		    e == ETIMEDOUT ? "timed out" : strerror(e));
		/* Said as it happens: the next address may well answer. */
		if (i + 1 < n)
			logmsg(LOG_INFO, "%s%s: %s; trying the next address",
			    host, addrs[i].text, e == ETIMEDOUT ?
			    "timed out" : strerror(e));
	}
	snprintf(err, errlen, "unable to connect to %s: %s", host, tried);
	return -1;
}

/*
 * Where sessions go, in the order to try them, at most max.
 *
 * host NAME: that host.  host auto: the SRV records of the user's domain
 * (RFC 6186, RFC 8314), _submissions._tcp (implicit TLS) before
 * _submission._tcp (STARTTLS), or only the one tls names.  The
 * certificate must name the user's domain, since an SRV answer could
 * come from anyone; the SRV target instead only when the answer was
 * authenticated (AD, from a server trusted with "options trust-ad").
 * host mx: the MX hosts of domain; with tls starttls each certificate
 * must name its MX host, a name from a DNS answer nothing authenticated:
 * that stops a listener and a server without a valid certificate, not
 * whoever can forge the MX answer.
 *
 * Returns the count, or -1 with err and *cls set: SMTP_PERM when the
 * domain takes no mail, SMTP_CONFIG when no SRV record names a host.
 */
static int
routes(const char *domain, struct dest *rt, size_t max, enum smtp_fail *cls,
    char *err, size_t errlen)
{
	struct dnsrr rr[ROUTES_MAX];
	char name[DNS_NAME_MAX + 1], e[ERR_MAX];
	size_t n = 0, k, lim = max < ROUTES_MAX ? max : ROUTES_MAX;
	int i, got, secure, mode;

	memset(rt, 0, max * sizeof(*rt));
	*cls = SMTP_TEMP;
	if (conf.route == ROUTE_HOST) {
		if (conf.host == NULL) {
			snprintf(err, errlen, "%s: no host set: outbox needs a "
			    "smart host to relay to", conf.path);
			*cls = SMTP_CONFIG;
			return -1;
		}
		strlcpy(rt[0].host, conf.host, sizeof(rt[0].host));
		strlcpy(rt[0].name, conf.host, sizeof(rt[0].name));
		rt[0].port = conf.port;
		rt[0].tls = conf.tls;
		return 1;
	}
	if (conf.route == ROUTE_MX) {
		if (domain == NULL) {	/* not from a queue run: no recipient */
			snprintf(err, errlen, "host mx routes by the recipient's "
			    "domain, and there is none");
			return -1;
		}
		if (domain[0] == '[') {	/* an address literal: no MX */
			snprintf(name, sizeof(name), "%s", domain + 1 +
			    (strncasecmp(domain + 1, "IPv6:", 5) == 0 ? 5 : 0));
			name[strcspn(name, "]")] = '\0';
			got = 1;
			memset(&rr[0], 0, sizeof(rr[0]));
			rr[0].type = DNS_A;
			strlcpy(rr[0].target, name, sizeof(rr[0].target));
		} else
			got = dns_mx(domain, rr, lim, err, errlen);
		if (got < 0) {
			*cls = got == DNS_NONE ? SMTP_PERM : SMTP_TEMP;
			return -1;
		}
		for (i = 0; i < got; i++) {
			strlcpy(rt[n].host, rr[i].target, sizeof(rt[n].host));
			strlcpy(rt[n].name, rr[i].target, sizeof(rt[n].name));
			rt[n].port = conf.port;
			rt[n].tls = conf.tls;
			rt[n].implicit = rr[i].type == DNS_A;
			step("route", "MX %d of %s: %s", rr[i].pref, domain,
			    rr[i].target);
			n++;
		}
		return (int)n;
	}
	domain = strrchr(conf.user, '@') + 1;
	for (k = 0; k < 2; k++) {
		mode = k == 0 ? TLS_IMPLICIT : TLS_STARTTLS;
		if (conf.tls_set && conf.tls != (enum tlsmode)mode)
			continue;
		snprintf(name, sizeof(name), "_%s._tcp.%s", k == 0 ?
		    "submissions" : "submission", domain);
		if ((got = dns_srv(name, rr, lim - n, &secure, e,
		    sizeof(e))) == -1) {
			snprintf(err, errlen, "host auto: %s", e);
			return -1;
		}
		for (i = 0; i < got; i++, n++) {
			strlcpy(rt[n].host, rr[i].target, sizeof(rt[n].host));
			strlcpy(rt[n].name, secure ? rr[i].target : domain,
			    sizeof(rt[n].name));
			rt[n].port = rr[i].port;
			rt[n].tls = (enum tlsmode)mode;
			step("route", "%s: %s port %d, %s; the certificate must "
			    "name %s%s", name, rt[n].host, rt[n].port, k == 0 ?
			    "tls" : "starttls", rt[n].name, secure ?
			    " (the answer was authenticated)" : "");
		}
	}
	if (n == 0) {
		snprintf(err, errlen, "host auto: %s has no SRV record "
		    "_submissions._tcp or _submission._tcp%s%s; set host",
		    domain, conf.tls_set ? " for tls " : "", conf.tls_set ?
		    (conf.tls == TLS_IMPLICIT ? "tls" : "starttls") : "");
		*cls = SMTP_CONFIG;
		return -1;
	}
	return (int)n;
}

/*
 * Open a session ready for MAIL, with the smart host or, for host mx,
 * with an MX host of domain: the routes are tried in turn until one
 * gets as far: connected, TLS on as its route says, authenticated when
 * a user is set.  With opportunistic TLS a failed handshake is tried
 * once more without TLS (RFC 7435), as the route allowed it all along.
 * tls holds the trust anchors (NULL only with tls off).  Returns the
 * session, or NULL with err and *cls set.
 */
struct smtp *
smtp_open(struct tls *tls, const char *domain, enum smtp_fail *cls, char *err,
    size_t errlen)
{
	struct dest rt[ROUTES_MAX];
	struct smtp *s = NULL;
	char e[ERR_MAX];
	size_t used = 0;
	int n, i;

	stage_now = "host";
	if ((n = routes(domain, rt, ROUTES_MAX, cls, err, errlen)) == -1)
		return NULL;
	for (i = 0; i < n; i++) {
		if ((s = session(tls, &rt[i], cls, e, sizeof(e))) != NULL)
			return s;
		/* The credentials, the configuration: no other host helps. */
		if (*cls != SMTP_TEMP) {
			snprintf(err, errlen, "%s", e);
			return NULL;
		}
		snprintf(err + used, errlen - used, "%s%s", used ? "; " : "", e);
		used = strlen(err);
		if (rt[i].tls == TLS_MAY && strcmp(stage_now, "tls") == 0) {
			logmsg(LOG_NOTICE, "%s; trying it again without TLS", e);
			rt[i].tls = TLS_OFF;
			i--;
			continue;
		}
		if (i + 1 < n)
			logmsg(LOG_INFO, "%s; trying the next host", e);
	}
	return NULL;
}

/* One session along one route: see smtp_open(). */
static struct smtp *
session(struct tls *tls, const struct dest *rt, enum smtp_fail *cls,
    char *err, size_t errlen)
{
	struct smtp *s;
	int code;

	*cls = SMTP_TEMP;
	stage_now = "host";
	s = xcalloc(1, sizeof(*s));
	s->rt = *rt;
	s->fd = -1;
	s->end = deadline_in(SESSION_MAX);
	if (connect_host(s, cls, err, errlen) == -1)
		goto fail;
	step("connect", "%s: ok", s->relay);
	io_plain(&s->io, &s->fd);
	if (rt->tls == TLS_IMPLICIT && handshake(s, tls, err, errlen) == -1)
		goto fail;
	stage_now = "greeting";
	if ((code = reply(s, rfc_tmo(TMO_GREETING), 0, err, errlen)) == -1)
		goto fail;
	if (code != 220) {
		snprintf(err, errlen, "%s: server refused the session: %s",
		    s->relay, s->text);
		goto quit;
	}
	step("greeting", "%s", s->text);
	stage_now = "ehlo";
	if (hello(s, err, errlen) == -1)
		goto quit;
	if ((rt->tls == TLS_STARTTLS || rt->tls == TLS_MAY) &&
	    starttls(s, tls, err, errlen) == -1)
		goto quit;
	if ((conf.user != NULL || conf.tls_cert != NULL) &&
	    conf.route != ROUTE_MX && authenticate(s, cls, err, errlen) == -1)
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

/*
 * What to do about a failure in -bC, by the stage it happened in and
 * the words of the error.
 */
static const struct {
	const char	*stage, *words, *hint;
} hints[] = {
	{ "trust", "", "cafile and capath must hold PEM CA certificates "
	    "(or set pin), and tls_cert and tls_key a PEM certificate and its "
	    "key" },
	{ "host", "no host", "add a line \"host smtp.example.com\"" },
	{ "host", "no SRV record", "set host to the provider's submission "
	    "server, or publish _submissions._tcp or _submission._tcp SRV "
	    "records for the domain (RFC 6186)" },
	{ "host", "unable to connect", "check host and port: 587 is for tls "
	    "starttls, 465 for tls tls; a firewall may block the port" },
	{ "host", "", "check host in the configuration, and that this machine "
	    "resolves names (/etc/resolv.conf)" },
	{ "tls", "clock", "set the system clock (NTP, or date -s), then try "
	    "again" },
	{ "tls", "plaintext", "this port speaks plaintext first: use tls "
	    "starttls (usually port 587), or port 465 for tls tls" },
	{ "tls", "any pin", "if the server's key changed on purpose, put its "
	    "new pin (above) in place of the old one" },
	{ "tls", "not trusted", "add the CA that issued it to cafile or "
	    "capath, or trust this server's key alone with a pin line: %s" },
	{ "tls", "does not match", "set host to a name the certificate "
	    "lists, or trust this server's key alone with a pin line: %s" },
	{ "tls", "expired|not yet valid", "the server's certificate is out "
	    "of date: check this machine's clock (date -u), and tell the "
	    "server's admin" },
	{ "tls", "client certificate", "set tls_cert and tls_key to a "
	    "certificate the server trusts, and its key" },
	{ "tls", "closed|Broken pipe", "the server ended the handshake: it "
	    "may not trust the client certificate, or wants a TLS version "
	    "other than 1.2" },
	{ "tls", "", "the server and outbox have no TLS 1.2 cipher suite in "
	    "common (outbox needs ECDHE with AES-GCM or ChaCha20), or the "
	    "port does not speak TLS" },
	{ "starttls", "after the reply", "something on the way to the "
	    "server injects plaintext: do not use this network path" },
	{ "starttls", "", "this port does not offer STARTTLS; for port 465 "
	    "set tls tls" },
	{ "auth", "failed", "check user and the password; some providers "
	    "want an app password, and passwordeval must print a fresh "
	    "token for xoauth2 and oauthbearer" },
	{ "auth", "SCRAM:", "the server could not prove that it knows the "
	    "password: it is not the server configured, or its SCRAM data is "
	    "broken; send no mail through it" },
	{ "auth", " holds a", "make the file mode 0600, owned by root or the "
	    "spool's owner" },
	{ "auth", "passwordeval", "run the passwordeval command by hand: it "
	    "must print the password on its first line and exit 0" },
	{ "auth", "", "set auth to a mechanism the server offers (see ehlo "
	    "above); AUTH is offered only after STARTTLS by most servers" },
	{ "", "", "see outbox(8) and outbox.conf(5)" },
};

/* Does err hold one of the '|'-separated words ("" always matches)? */
static int
says(const char *err, const char *words)
{
	char w[64];
	size_t n;

	do {
		n = strcspn(words, "|");
		snprintf(w, sizeof(w), "%.*s", (int)n, words);
		if (strstr(err, w) != NULL)
			return 1;
		words += n;
	} while (*words++ != '\0');
	return 0;
}

/*
 * -bC: one session that goes as far as AUTH and ends with QUIT, each
 * stage reported on stdout, the failure with a hint.  Nothing is sent.
 * Returns an exit status.
 */
int
smtp_check(void)
{
	char err[ERR_MAX], pin[64] = "", hint[ERR_MAX];
	enum smtp_fail cls = SMTP_TEMP;
	struct smtp *s = NULL;
	struct tls *tls = NULL;
	size_t i;

	report = stdout;
	stage_now = "trust";
	if (conf.tls != TLS_OFF && (tls = tls_new(err, sizeof(err))) == NULL)
		cls = SMTP_CONFIG;
	else {
		if (conf.tls == TLS_OFF)
			step("trust", "none: tls off");
		else if (conf.tls == TLS_MAY)
			step("trust", "none: STARTTLS when offered, and the "
			    "certificate is not checked");
		else if (conf.npins > 0)
			step("trust", "%zu pin%s; no CA is consulted", conf.npins,
			    conf.npins == 1 ? "" : "s");
		else
			step("trust", "CA certificates from %s%s%s%s%s",
			    conf.cafile ? "cafile " : "", conf.cafile ?
			    conf.cafile : "", conf.cafile && conf.capath ?
			    " and " : "", conf.capath ? "capath " : "",
			    conf.capath ? conf.capath : "");
		if (conf.route == ROUTE_MX) {
			step("host", "mx: each recipient domain's MX hosts, "
			    "port %d, %s", conf.port, conf.tls == TLS_MAY ?
			    "STARTTLS when offered, unverified" : conf.tls ==
			    TLS_STARTTLS ? "starttls" : "plaintext");
			tls_free(tls);
			report = NULL;
			printf("ok: nothing more to check before there is a "
			    "recipient; nothing was sent\n");
			return EX_OK;
		}
		if (conf.route == ROUTE_AUTO)
			step("host", "auto: the SRV records of %s",
			    strrchr(conf.user, '@') + 1);
		else
			step("host", "%s port %d, %s", conf.host ? conf.host :
			    "(none)", conf.port, conf.tls == TLS_IMPLICIT ?
			    "tls (implicit)" : conf.tls == TLS_STARTTLS ?
			    "starttls" : "plaintext");
		s = smtp_open(tls, NULL, &cls, err, sizeof(err));
	}
	if (s != NULL) {
		printf("ok: %s accepts this configuration; nothing was sent\n",
		    s->rt.host);
		smtp_close(s);
		tls_free(tls);
		report = NULL;
		show_tls = NULL;
		return EX_OK;
	}
	if (show_tls != NULL)
		tls_server_pin(show_tls, pin, sizeof(pin));
	printf("error: %s\n", err);
	/* The last hint, for any stage and any words, is the fallback. */
	for (i = 0; i + 1 < sizeof(hints) / sizeof(hints[0]); i++)
		if ((hints[i].stage[0] == '\0' ||
		    strcmp(hints[i].stage, stage_now) == 0) &&
		    says(err, hints[i].words))
			break;
	snprintf(hint, sizeof(hint), hints[i].hint, pin[0] ? pin :
	    "(the server sent no certificate)");
	printf("hint: %s\n", hint);
	tls_free(tls);
	report = NULL;
	show_tls = NULL;
	return cls == SMTP_CONFIG ? EX_CONFIG : EX_TEMPFAIL;
}

const char *
smtp_relay(struct smtp *s)
{
	return s->relay;
}

/* Mark the recipients WANTED here and flagged in acc. */
static void
verdict(struct qmsg *m, const char *acc, int code, const char *text)
{
	size_t i;

	for (i = 0; i < m->nrcpt; i++) {
		if (!WANTED(&m->rcpt[i]) || (acc && !acc[i]))
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
		nrcpt += WANTED(&m->rcpt[i]);
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
				for (r = rnext; !WANTED(&m->rcpt[r]); r++)
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
			tmo = batch[i].kind == K_MAIL ? rfc_tmo(TMO_MAIL) :
			    batch[i].kind == K_RCPT ? rfc_tmo(TMO_RCPT) :
			    batch[i].kind == K_DATA ? rfc_tmo(TMO_DATA) :
			    conf.timeout;
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
		    reply(s, rfc_tmo(TMO_DOT), 0, err, errlen) != -1)
			rc = 0;
		goto out;
	}
	queue_sending(m);
	if (send_body(s, m, err, errlen) == -1)
		goto out;
	if ((code = reply(s, rfc_tmo(TMO_DOT), 0, err, errlen)) == -1) {
		/* The server may have taken it: RFC 5321 6.1 accepts the risk. */
		logmsg(LOG_WARNING, "%s: connection lost after the final dot; "
		    "will retry, possible duplicate: %s", m->id, err);
		goto out;
	}
	verdict(m, acc, code, s->text);
	rc = 0;
out:
	free(acc);
	/* A 421 anywhere ends the session, whatever the recipients got. */
	if (rc == 0 && gone(s, err, errlen) == -1)
		rc = -1;
	return rc;
}

static int
out_flush(struct smtp *s, char *err, size_t errlen)
{
	if (gone(s, err, errlen) == -1)
		return -1;
	if (s->olen && s->io.write(s->io.ctx, s->out, s->olen,
	    stage(s, rfc_tmo(TMO_BLOCK))) == -1) {
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
	/*
	 * A server says nothing between 354 and the final dot.  Whatever
	 * it sent is a reply out of turn, to something else or to data not
	 * yet seen, and the dot would have it taken as the message's: the
	 * dot is not sent, and the message stays queued.
	 */
	if (linebuf_pending(&s->lb) > 0 ||
	    recv(s->fd, buf, 1, MSG_PEEK | MSG_DONTWAIT) == 1) {
		s->dead = 1;
		if (reply(s, conf.timeout, 0, err, errlen) == -1)
			return -1;
		snprintf(err, errlen, "%s: protocol error: reply \"%.80s\" "
		    "before the end of the message; the final dot was not sent",
		    s->relay, s->text);
		return -1;
	}
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

/*
 * For tests and fuzzing: a session over io, which need not be a
 * connection: the greeting and EHLO (or HELO) are read as session()
 * reads them; there is no STARTTLS and no AUTH.  Returns the session,
 * for smtp_send() and smtp_close() (which sends no QUIT: there is no
 * socket), or NULL with err set.
 */
struct smtp *
smtp_open_io(const struct io *io, char *err, size_t errlen)
{
	struct smtp *s = xcalloc(1, sizeof(*s));
	int code;

	s->fd = -1;
	s->io = *io;
	s->end = deadline_in(SESSION_MAX);
	strlcpy(s->relay, "test", sizeof(s->relay));
	if ((code = reply(s, TMO_GREETING, 0, err, errlen)) == -1)
		goto fail;
	if (code != 220) {
		snprintf(err, errlen, "%s: server refused the session: %s",
		    s->relay, s->text);
		goto fail;
	}
	if (hello(s, err, errlen) == -1)
		goto fail;
	return s;
fail:
	free(s);
	return NULL;
}
