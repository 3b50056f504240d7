/*
 * -bs: an SMTP dialogue on standard input and output (RFC 5321), for
 * mail user agents that submit that way.  Each message accepted with
 * 250 after DATA went through the same intake as any other submission
 * and is on disk; when the dialogue ends, the messages are delivered as
 * the delivery mode says.  Nothing here listens on a socket.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "outbox.h"

#define CMD_MAX		(ADDR_MAX + 512)	/* a command line (RFC 5321 4.5.3.1.4 and extensions) */
#define ERRORS_MAX	50		/* bad commands before the end */
#define NOTIFY_MAX	32		/* "SUCCESS,FAILURE,DELAY" and its NUL */

/* One transaction's state. */
struct txn {
	int		 mail;		/* MAIL was accepted */
	char		 sender[ADDR_MAX], errors_to[ADDR_MAX];
	struct addrlist	 rcpts;
	int		 body8;
	char		 notify[NOTIFY_MAX], ret[8], envid[101];
	int		 notified;	/* notify holds the message's NOTIFY */
};

static void	respond(const char *, ...) PRINTF(1, 2);
static int	verb(const char *, const char *);
static char	*path_arg(char *, const char *, char *, size_t);
static int	hexval(char);
static int	xtext_decode(const char *, char *, size_t);
static int	mail_params(struct txn *, char *, char *, size_t);
static int	rcpt_params(char *, char *, char *, size_t);
static void	reset(struct txn *);

static void
respond(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputs("\r\n", stdout);
	fflush(stdout);
}

/* Is line the command v, alone or followed by a blank? */
static int
verb(const char *line, const char *v)
{
	size_t n = strlen(v);

	return strncasecmp(line, v, n) == 0 &&
	    (line[n] == '\0' || line[n] == ' ');
}

/*
 * The path after "MAIL FROM:" or "RCPT TO:" (prefix) in line: the text
 * inside <...> (or a bare address, as old clients send) into out.
 * Returns where the parameters start, or NULL when there is no path.
 */
static char *
path_arg(char *line, const char *prefix, char *out, size_t cap)
{
	char *p = line + strlen(prefix), *e;
	size_t n;

	while (*p == ' ')
		p++;
	if (*p == '<') {
		/* The first ">" not inside a quoted local part. */
		for (e = p + 1; *e && *e != '>'; e++)
			if (*e == '"')
				while (*++e && *e != '"')
					if (*e == '\\' && e[1])
						e++;
		if (*e != '>')
			return NULL;
		p++;
	} else
		e = p + strcspn(p, " ");
	n = (size_t)(e - p);
	if (n >= cap)
		return NULL;
	memcpy(out, p, n);
	out[n] = '\0';
	return *e == '>' ? e + 1 : e;
}

/* xtext (RFC 3461 4) to printable ASCII.  Returns 0, or -1 if bad. */
/* The value of a hex digit, either case. */
static int
hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int
xtext_decode(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	unsigned v;

	for (; *s; s++) {
		if (o + 1 >= cap)
			return -1;
		if (*s != '+') {
			if (*s <= ' ' || *s > '~' || *s == '=')
				return -1;
			out[o++] = *s;
			continue;
		}
		if (!isxdigit((unsigned char)s[1]) ||
		    !isxdigit((unsigned char)s[2]))
			return -1;
		v = (unsigned)hexval(s[1]) << 4 | (unsigned)hexval(s[2]);
		if (v <= ' ' || v > '~')
			return -1;
		out[o++] = (char)v;
		s += 2;
	}
	out[o] = '\0';
	return 0;
}

/* MAIL parameters (RFC 1652, 1870, 3461, 6531).  Returns 0 or -1. */
static int
mail_params(struct txn *t, char *p, char *why, size_t cap)
{
	char *w;

	for (w = strtok(p, " "); w != NULL; w = strtok(NULL, " ")) {
		if (strcasecmp(w, "BODY=8BITMIME") == 0)
			t->body8 = 1;
		else if (strcasecmp(w, "BODY=7BIT") == 0 ||
		    strcasecmp(w, "SMTPUTF8") == 0 ||
		    strncasecmp(w, "SIZE=", 5) == 0 ||
		    strncasecmp(w, "AUTH=", 5) == 0)
			;	/* what outbox works out for itself */
		else if (strcasecmp(w, "RET=FULL") == 0 ||
		    strcasecmp(w, "RET=HDRS") == 0)
			snprintf(t->ret, sizeof(t->ret), "%s", w[4] == 'F' ||
			    w[4] == 'f' ? "FULL" : "HDRS");
		else if (strncasecmp(w, "ENVID=", 6) == 0) {
			if (xtext_decode(w + 6, t->envid, sizeof(t->envid)) == -1 ||
			    t->envid[0] == '\0') {
				snprintf(why, cap, "501 5.5.4 bad ENVID");
				return -1;
			}
		} else {
			snprintf(why, cap, "555 5.5.4 unsupported parameter "
			    "%.64s", w);
			return -1;
		}
	}
	return 0;
}

/*
 * RCPT parameters: NOTIFY into notify (NOTIFY_MAX bytes; "" without
 * one) and ORCPT (accepted; outbox names the recipient it relays to).
 * Returns 0, or -1 with the reply in why.
 */
static int
rcpt_params(char *p, char *notify, char *why, size_t cap)
{
	char n[NOTIFY_MAX], *w;
	size_t k;

	for (w = strtok(p, " "); w != NULL; w = strtok(NULL, " ")) {
		if (strncasecmp(w, "ORCPT=", 6) == 0)
			continue;
		if (strncasecmp(w, "NOTIFY=", 7) != 0 || strlen(w + 7) >= sizeof(n)) {
			snprintf(why, cap, "555 5.5.4 unsupported parameter "
			    "%.64s", w);
			return -1;
		}
		for (k = 0; w[7 + k]; k++)
			n[k] = (char)toupper((unsigned char)w[7 + k]);
		n[k] = '\0';
		if (dsn_notify(n, n, sizeof(n)) == -1) {
			snprintf(why, cap, "501 5.5.4 bad NOTIFY: want NEVER, or "
			    "a list of SUCCESS, FAILURE and DELAY");
			return -1;
		}
		strlcpy(notify, n, NOTIFY_MAX);
	}
	return 0;
}

static void
reset(struct txn *t)
{
	addrlist_free(&t->rcpts);
	memset(t, 0, sizeof(*t));
}

/*
 * The dialogue, until QUIT or the end of input; then delivery of what
 * was accepted.  fullname and self name the sender in an added From
 * (self for the null sender).  Returns the exit status: 0, or
 * EX_TEMPFAIL when stdin failed.
 */
int
smtp_stdin(enum deliver mode, const char *fullname, const char *self)
{
	struct addrlist ids = { 0 }, found = { 0 };
	struct intake ik = { 0 };
	struct envelope e;
	struct txn t;
	struct input *in;
	char line[CMD_MAX + 1], addr[ADDR_MAX + 2], why[ERR_MAX];
	char notify[NOTIFY_MAX];
	char id[QID_LEN + 1], *params;
	int r, hello = 0, errors = 0, code, returned, rc = EX_OK;
	size_t before;

	memset(&t, 0, sizeof(t));
	if (queue_init(why, sizeof(why)) == -1) {
		respond("421 4.3.0 %s", why);
		return EX_TEMPFAIL;
	}
	in = in_new(STDIN_FILENO);
	respond("220 %s ESMTP outbox", conf.hostname);
	while (errors < ERRORS_MAX) {
		if ((r = in_command(in, line, sizeof(line))) <= 0) {
			rc = r == 0 ? EX_OK : EX_TEMPFAIL;
			break;
		}
		if (r == 2) {
			respond("500 5.5.2 line too long or not text");
			errors++;
			continue;
		}
		if (verb(line, "EHLO") || verb(line, "HELO")) {
			reset(&t);
			hello = 1;
			if (toupper((unsigned char)line[0]) == 'H')
				respond("250 %s", conf.hostname);
			else
				respond("250-%s\r\n250-8BITMIME\r\n250-PIPELINING"
				    "\r\n250-SMTPUTF8\r\n250-DSN\r\n"
				    "250-ENHANCEDSTATUSCODES\r\n250 HELP",
				    conf.hostname);
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			if (!hello || t.mail) {
				respond("503 5.5.1 %s", hello ? "MAIL already "
				    "given; RSET first" : "EHLO or HELO first");
				errors++;
				continue;
			}
			if ((params = path_arg(line, "MAIL FROM:", addr,
			    sizeof(addr))) == NULL) {
				respond("501 5.1.7 bad sender path");
				errors++;
				continue;
			}
			if (mail_params(&t, params, why, sizeof(why)) == -1) {
				respond("%s", why);
				reset(&t);
				errors++;
				continue;
			}
			if (sender_of(addr, t.sender, t.errors_to,
			    sizeof(t.sender), why, sizeof(why)) == -1) {
				respond("553 5.1.7 %s", why);
				reset(&t);
				errors++;
				continue;
			}
			t.mail = 1;
			respond("250 2.1.0 sender <%s> ok", t.sender);
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
			if (!t.mail) {
				respond("503 5.5.1 MAIL first");
				errors++;
				continue;
			}
			if ((params = path_arg(line, "RCPT TO:", addr,
			    sizeof(addr))) == NULL) {
				respond("501 5.1.3 bad recipient path");
				errors++;
				continue;
			}
			notify[0] = '\0';
			if (rcpt_params(params, notify, why, sizeof(why)) == -1) {
				respond("%s", why);
				errors++;
				continue;
			}
			/* The queue keeps one NOTIFY for the whole message. */
			if (t.notified && strcmp(t.notify, notify) != 0) {
				respond("504 5.5.4 NOTIFY must be the same for "
				    "every recipient of a message");
				errors++;
				continue;
			}
			before = t.rcpts.n;
			if (addr_parse_list(addr, &found, why, sizeof(why)) == -1 ||
			    found.n != 1)
				code = found.n > 1 ? -2 : -1;
			else
				code = addr_rcpt(found.v[0], &t.rcpts, why,
				    sizeof(why));
			addrlist_free(&found);
			if (code == -2)
				snprintf(why, sizeof(why), "one address only");
			if (code != 0) {
				/* Take back what a partial expansion added. */
				while (t.rcpts.n > before)
					free(t.rcpts.v[--t.rcpts.n]);
				respond("%s %s", strstr(why, "recipients") ?
				    "452 4.5.3" : "553 5.1.3", why);
				errors++;
				continue;
			}
			strlcpy(t.notify, notify, sizeof(t.notify));
			t.notified = 1;
			respond("250 2.1.5 recipient <%s> ok", addr);
		} else if (verb(line, "DATA")) {
			if (!t.mail || t.rcpts.n == 0) {
				respond("%s", !t.mail ? "503 5.5.1 MAIL first" :
				    "554 5.5.1 no valid recipients");
				errors++;
				continue;
			}
			respond("354 end data with <CR><LF>.<CR><LF>");
			memset(&e, 0, sizeof(e));
			e.sender = t.sender;
			e.errors_to = t.errors_to;
			e.rcpts = &t.rcpts;
			e.eightbit = t.body8;
			e.notify = t.notify[0] ? t.notify : NULL;
			e.ret = t.ret[0] ? t.ret : NULL;
			e.envid = t.envid[0] ? t.envid : NULL;
			ik.smtp = 1;
			ik.sender = t.sender;
			ik.header_from = t.sender[0] ? t.sender : self;
			ik.fullname = fullname;
			returned = 0;
			code = submit_one(in, &ik, &e, 'p', &returned, id, why,
			    sizeof(why));
			reset(&t);
			if (code == 0) {
				addrlist_push(&ids, id);
				respond("250 2.0.0 queued as %s", id);
			} else if (code == EX_TEMPFAIL) {
				respond("451 4.3.0 %s", why);
				if (strstr(why, "input ended") != NULL)
					break;
			} else
				respond("554 5.6.0 %s", why);
		} else if (verb(line, "RSET")) {
			reset(&t);
			respond("250 2.0.0 ok");
		} else if (verb(line, "NOOP")) {
			respond("250 2.0.0 ok");
		} else if (verb(line, "VRFY")) {
			respond("252 2.5.2 cannot verify, but will relay the "
			    "message");
		} else if (verb(line, "HELP")) {
			respond("214-outbox: a relay-only mail submission client"
			    "\r\n214 commands: EHLO HELO MAIL RCPT DATA RSET NOOP "
			    "VRFY HELP QUIT");
		} else if (verb(line, "QUIT")) {
			respond("221 2.0.0 bye");
			break;
		} else {
			respond("500 5.5.2 command not recognized");
			errors++;
		}
	}
	if (errors >= ERRORS_MAX)
		respond("421 4.7.0 too many errors");
	reset(&t);
	in_free(in);
	deliver(&ids, mode);
	addrlist_free(&ids);
	return rc;
}
