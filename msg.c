/*
 * Intake of one message from standard input, and addresses.
 *
 * The message is streamed into the queue writer: CRLF and lone CR
 * become LF, the header section is read as logical fields (folded
 * lines stay with their field), Bcc is dropped, To/Cc/Bcc give the
 * recipients with -t, and Date, Message-ID and From are added at the
 * end of the header section when missing.  Memory does not grow with
 * the message: only one header field is held at a time.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "outbox.h"

/* stdin, with line ends made LF. */
struct input {
	int		 fd;
	unsigned char	 buf[65536];
	size_t		 off, len;
	int		 pending;	/* byte read after a CR, or -1 */
	int		 err;		/* errno of a failed read */
	int		 nul;		/* a NUL byte was seen */
	int		 eightbit;
	long long	 lineno;
};

/* What the header section held. */
struct hdrs {
	int	 seen_date, seen_msgid, seen_from;
	int	 count;
};

struct work;

static int	read_message(struct work *, struct qw *, const struct intake *,
		    struct addrlist *, char *, size_t);
static int	in_raw(struct input *);
static int	in_byte(struct input *);
static int	in_line(struct input *, char *, size_t, size_t *, int *);
static int	is_field_start(const char *, size_t);
static int	field_is(const char *, const char *);
static int	field_done(struct qw *, const struct intake *, char *, size_t,
		    struct hdrs *, struct addrlist *, char *, size_t);
static int	add_headers(struct qw *, const struct intake *,
		    const struct hdrs *);
static int	is_local_domain(const char *);

/* The next byte of stdin, -1 at the end or on error (see in->err). */
static int
in_raw(struct input *in)
{
	ssize_t r;

	if (in->off == in->len) {
		if (in->err)
			return -1;
		do
			r = read(in->fd, in->buf, sizeof(in->buf));
		while (r == -1 && errno == EINTR);
		if (r <= 0) {
			if (r == -1)
				in->err = errno;
			return -1;
		}
		in->off = 0;
		in->len = (size_t)r;
	}
	return in->buf[in->off++];
}

/* The next byte with CRLF and a lone CR made LF. */
static int
in_byte(struct input *in)
{
	int c;

	if (in->pending != -1) {
		c = in->pending;
		in->pending = -1;
	} else
		c = in_raw(in);
	if (c == '\r') {
		c = in_raw(in);
		if (c != '\n' && c != -1)
			in->pending = c;
		c = '\n';
	}
	if (c == 0)
		in->nul = 1;
	else if (c >= 0x80)
		in->eightbit = 1;
	return c;
}

/*
 * Read up to and including LF, storing at most cap - 1 bytes without
 * the LF.  *complete says whether the line ended (LF, or the end of
 * input after some bytes) rather than filled the buffer.  Returns 1, or
 * 0 at the end of input with nothing read.
 */
static int
in_line(struct input *in, char *dst, size_t cap, size_t *lenp, int *complete)
{
	size_t n = 0;
	int c;

	*complete = 0;
	while (n + 1 < cap) {
		if ((c = in_byte(in)) == -1) {
			*complete = n > 0;	/* a last line without LF */
			break;
		}
		if (c == '\n') {
			*complete = 1;
			in->lineno++;
			break;
		}
		dst[n++] = (char)c;
	}
	dst[n] = '\0';
	*lenp = n;
	return n > 0 || *complete;
}

/* "Name:" with a name of printable ASCII other than the colon. */
static int
is_field_start(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == ':')
			return i > 0;
		if (s[i] <= ' ' || s[i] > '~')
			return 0;
	}
	return 0;
}

/* Does the field in s have the name (case-insensitive)? */
static int
field_is(const char *s, const char *name)
{
	size_t n = strlen(name);

	return strncasecmp(s, name, n) == 0 && s[n] == ':';
}

/* msg_read()'s buffers: too big for a small stack, freed at the end. */
struct work {
	struct input	in;
	char		field[HEADER_MAX + 1];	/* the logical header field */
	char		line[HEADER_MAX + 1];	/* the physical line */
};

int
msg_read(int fd, struct qw *w, const struct intake *opt,
    struct addrlist *rcpts, int *eightbit, char *err, size_t errlen)
{
	struct work *wk = xcalloc(1, sizeof(*wk));
	int code;

	wk->in.fd = fd;
	wk->in.pending = -1;
	code = read_message(wk, w, opt, rcpts, err, errlen);
	*eightbit = wk->in.eightbit;
	free(wk);
	return code;
}

static int
read_message(struct work *wk, struct qw *w, const struct intake *opt,
    struct addrlist *rcpts, char *err, size_t errlen)
{
	struct input *in = &wk->in;
	char *field = wk->field, *line = wk->line;
	struct hdrs h;
	size_t flen = 0, n;
	int complete, in_body = 0, at_start = 1, code = 0;

	memset(&h, 0, sizeof(h));

	/*
	 * The header section: field holds the logical field being read.
	 * It ends at an empty line, at a line that cannot be part of a
	 * header, or at the end of input.
	 */
	for (;;) {
		if (!in_line(in, line, HEADER_MAX + 1, &n, &complete))
			break;		/* end of input */
		if (opt->dot_ends && complete && n == 1 && line[0] == '.')
			break;		/* the end, before any body */
		if (in->lineno <= 1 && complete && strncmp(line, "From ", 5) == 0)
			continue;	/* an mbox separator, not a header */
		if (complete && (line[0] == ' ' || line[0] == '\t') && flen > 0) {
			if (flen + 1 + n > HEADER_MAX) {
				snprintf(err, errlen, "header field at line %lld is "
				    "longer than %d bytes", in->lineno, HEADER_MAX);
				return EX_DATAERR;
			}
			field[flen++] = '\n';
			memcpy(field + flen, line, n);
			flen += n;
			field[flen] = '\0';
			continue;
		}
		if (flen > 0 && (code = field_done(w, opt, field, flen, &h,
		    rcpts, err, errlen)) != 0)
			return code;
		flen = 0;
		if (complete && n == 0) {
			in_body = 1;	/* the empty line */
			break;
		}
		if (complete && is_field_start(line, n)) {
			if (++h.count > HEADERS_MAX) {
				snprintf(err, errlen, "more than %d header fields",
				    HEADERS_MAX);
				return EX_DATAERR;
			}
			memcpy(field, line, n + 1);
			flen = n;
			continue;
		}
		if (!complete && is_field_start(line, n)) {
			snprintf(err, errlen, "header line %lld is longer than %d "
			    "bytes", in->lineno + 1, HEADER_MAX);
			return EX_DATAERR;
		}
		/* Not a header: the body starts here, without an empty line. */
		if (add_headers(w, opt, &h) == -1 || queue_write(w, "\n", 1) == -1 ||
		    queue_write(w, line, n) == -1 ||
		    (complete && queue_write(w, "\n", 1) == -1))
			goto werr;
		at_start = complete;
		in_body = 2;
		break;
	}
	if (flen > 0 && (code = field_done(w, opt, field, flen, &h, rcpts,
	    err, errlen)) != 0)
		return code;
	if (in_body != 2 && (add_headers(w, opt, &h) == -1 ||
	    queue_write(w, "\n", 1) == -1))
		goto werr;

	/* The body, streamed in pieces of at most one buffer. */
	while (in_body) {
		if (!in_line(in, line, HEADER_MAX + 1, &n, &complete))
			break;
		if (opt->dot_ends && at_start && complete && n == 1 &&
		    line[0] == '.')
			break;
		if (queue_write(w, line, n) == -1)
			goto werr;
		if (complete && queue_write(w, "\n", 1) == -1)
			goto werr;
		at_start = complete;
	}
	/* The stored message always ends in a line end. */
	if (!at_start && queue_write(w, "\n", 1) == -1)
		goto werr;
	if (in->err) {
		snprintf(err, errlen, "unable to read the message: %s",
		    strerror(in->err));
		return EX_TEMPFAIL;
	}
	if (in->nul) {
		snprintf(err, errlen, "the message contains a NUL byte");
		return EX_DATAERR;
	}
	return 0;
werr:
	snprintf(err, errlen, "unable to write to the queue: %s",
	    strerror(w->err));
	return EX_TEMPFAIL;
}

/*
 * One complete header field: note what it is, take recipients from it
 * with -t, and write it unless it is Bcc.  Returns 0 or an exit code.
 */
static int
field_done(struct qw *w, const struct intake *opt, char *f, size_t len,
    struct hdrs *h, struct addrlist *rcpts, char *err, size_t errlen)
{
	struct addrlist found = { 0 };
	char a[ADDR_MAX], *v, *p;
	size_t i;
	int bcc, code = 0;

	if (field_is(f, "date"))
		h->seen_date = 1;
	else if (field_is(f, "message-id"))
		h->seen_msgid = 1;
	else if (field_is(f, "from"))
		h->seen_from = 1;
	bcc = field_is(f, "bcc");

	if (opt->extract && (bcc || field_is(f, "to") || field_is(f, "cc"))) {
		/* Unfold: the line breaks of a folded field are blanks. */
		v = xstrdup(strchr(f, ':') + 1);
		for (p = v; *p; p++)
			if (*p == '\n')
				*p = ' ';
		if (addr_parse_list(v, &found, err, errlen) == -1)
			code = EX_NOUSER;
		for (i = 0; code == 0 && i < found.n; i++) {
			if (addr_rcpt(found.v[i], a, sizeof(a), err, errlen) == -1)
				code = EX_NOUSER;
			else if (addrlist_add(rcpts, a) == -1) {
				snprintf(err, errlen, "more than %d recipients",
				    RCPT_MAX);
				code = EX_DATAERR;
			}
		}
		free(v);
		addrlist_free(&found);
		if (code)
			return code;
	}
	if (bcc)
		return 0;
	if (queue_write(w, f, len) == -1 || queue_write(w, "\n", 1) == -1) {
		snprintf(err, errlen, "unable to write to the queue: %s",
		    strerror(w->err));
		return EX_TEMPFAIL;
	}
	return 0;
}

/*
 * Date, Message-ID and From, when the message lacks them.  Adding them
 * here, once, means every retry sends the same bytes.
 */
static int
add_headers(struct qw *w, const struct intake *opt, const struct hdrs *h)
{
	char buf[1024], rnd[8], name[256];
	const char *s;
	size_t o;
	int n = 0;

	if (!h->seen_from) {
		if (opt->fullname && *opt->fullname) {
			/* The display name as a quoted-string (RFC 5322 3.2.4). */
			o = 0;
			name[o++] = '"';
			for (s = opt->fullname; *s && o + 3 < sizeof(name); s++) {
				if ((unsigned char)*s < ' ' || *s == 0x7f)
					continue;
				if (*s == '"' || *s == '\\')
					name[o++] = '\\';
				name[o++] = *s;
			}
			name[o++] = '"';
			name[o] = '\0';
			n = snprintf(buf, sizeof(buf), "From: %s <%s>\n", name,
			    opt->header_from);
		} else
			n = snprintf(buf, sizeof(buf), "From: %s\n",
			    opt->header_from);
		if (n < 0 || (size_t)n >= sizeof(buf) ||
		    queue_write(w, buf, (size_t)n) == -1)
			return -1;
	}
	if (!h->seen_date) {
		msg_date(buf, sizeof(buf), time(NULL));
		if (queue_write(w, "Date: ", 6) == -1 ||
		    queue_write(w, buf, strlen(buf)) == -1 ||
		    queue_write(w, "\n", 1) == -1)
			return -1;
	}
	if (!h->seen_msgid) {
		rand_bytes(rnd, sizeof(rnd));
		n = snprintf(buf, sizeof(buf), "Message-ID: <%s.%02x%02x%02x%02x"
		    "%02x%02x@%s>\n", w->id, rnd[0] & 0xff, rnd[1] & 0xff,
		    rnd[2] & 0xff, rnd[3] & 0xff, rnd[4] & 0xff, rnd[5] & 0xff,
		    conf.domain);
		if (n < 0 || (size_t)n >= sizeof(buf) ||
		    queue_write(w, buf, (size_t)n) == -1)
			return -1;
	}
	return 0;
}

/* An RFC 5322 date-time in local time: "Mon, 23 Nov 2026 01:17:09 +0100". */
void
msg_date(char *buf, size_t cap, time_t t)
{
	struct tm tm;
	long off;
	char sign = '+';
	size_t n;

	localtime_r(&t, &tm);
	off = tm.tm_gmtoff / 60;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	n = strftime(buf, cap, "%a, %d %b %Y %H:%M:%S", &tm);
	snprintf(buf + n, cap - n, " %c%02ld%02ld", sign, off / 60, off % 60);
}

/*
 * Split an address list (RFC 5322 3.4: mailboxes, "Name <addr>",
 * comments, quoted strings, groups) into bare addresses appended to
 * out.  Every address is checked with addr_check().  Returns 0 or -1
 * with err set.
 */
int
addr_parse_list(const char *s, struct addrlist *out, char *err,
    size_t errlen)
{
	char cur[ADDR_MAX + 1], ang[ADDR_MAX + 1];
	size_t cl = 0, al = 0;
	int depth, angle = 0, spaced = 0, gap = 0, over = 0;
	const char *p;
	char show[96];

	/*
	 * Control characters have no place in an address list (a folded
	 * header was unfolded into blanks already): refuse them before
	 * they can be read as separators (REQUIREMENTS S-6).
	 */
	for (p = s; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f) {
			escape(show, sizeof(show), s, strlen(s));
			snprintf(err, errlen, "bad address \"%s\": control "
			    "character", show);
			return -1;
		}
	for (p = s;; p++) {
		if (*p == '\0' || *p == ',' || *p == ';') {
			const char *a = angle ? ang : cur;

			cur[cl] = '\0';
			ang[al] = '\0';
			if (over) {
				snprintf(err, errlen, "address longer than %d "
				    "bytes in \"%.64s\"", ADDR_MAX - 2, s);
				return -1;
			}
			if (!angle && spaced) {
				snprintf(err, errlen, "bad address \"%.64s\": a "
				    "name needs <address>", cur);
				return -1;
			}
			if (*a != '\0' || angle) {
				if (addr_check(a, err, errlen) == -1)
					return -1;
				if (addrlist_add(out, a) == -1) {
					snprintf(err, errlen, "more than %d "
					    "recipients", RCPT_MAX);
					return -1;
				}
			}
			cl = al = 0;
			angle = spaced = gap = 0;
			if (*p == '\0')
				return 0;
			continue;
		}
		switch (*p) {
		case '(':	/* comment, possibly nested */
			for (depth = 1, p++; *p && depth; p++) {
				if (*p == '\\' && p[1])
					p++;
				else if (*p == '(')
					depth++;
				else if (*p == ')')
					depth--;
			}
			p--;
			if (depth) {
				snprintf(err, errlen, "unbalanced parenthesis in "
				    "\"%.64s\"", s);
				return -1;
			}
			gap = cl > 0;
			break;
		case ' ': case '\t': case '\r': case '\n':
			gap = cl > 0;
			break;
		case ':':	/* a group's display name ends here */
			if (angle)
				goto plain;
			cl = 0;
			spaced = gap = 0;
			break;
		case '<':
			if (angle) {
				snprintf(err, errlen, "two <addresses> in one "
				    "mailbox in \"%.64s\"", s);
				return -1;
			}
			for (p++; *p && *p != '>'; p++) {
				if (*p == '"') {	/* quoted local part */
					do {
						if (al < ADDR_MAX)
							ang[al++] = *p;
						else
							over = 1;
						if (*p == '\\' && p[1] &&
						    al < ADDR_MAX)
							ang[al++] = *++p;
						p++;
					} while (*p && *p != '"');
					if (*p == '\0')
						break;
				}
				if (*p == ' ' || *p == '\t')
					continue;
				if (al < ADDR_MAX)
					ang[al++] = *p;
				else
					over = 1;
			}
			if (*p != '>') {
				snprintf(err, errlen, "unbalanced <> in \"%.64s\"",
				    s);
				return -1;
			}
			angle = 1;
			ang[al] = '\0';
			/* A source route "@a,@b:user@c" is obsolete: use user@c. */
			if (ang[0] == '@' && strchr(ang, ':') != NULL) {
				char *c = strchr(ang, ':') + 1;

				memmove(ang, c, strlen(c) + 1);
				al = strlen(ang);
			}
			break;
		case '"':	/* quoted local part of a bare address */
			if (gap)
				spaced = 1;
			gap = 0;
			do {
				if (cl < ADDR_MAX)
					cur[cl++] = *p;
				else
					over = 1;
				if (*p == '\\' && p[1]) {
					p++;
					if (cl < ADDR_MAX)
						cur[cl++] = *p;
				}
				p++;
			} while (*p && *p != '"');
			if (*p == '\0') {
				snprintf(err, errlen, "unbalanced quotes in "
				    "\"%.64s\"", s);
				return -1;
			}
			/* FALLTHROUGH */
		default:
		plain:
			if (gap)
				spaced = 1;
			gap = 0;
			if (cl < ADDR_MAX)
				cur[cl++] = *p;
			else
				over = 1;
			break;
		}
	}
}

/*
 * Is a a sane address: no control characters, no brackets, no leading
 * "-", a local part of at most 64 bytes and a domain of at most 255
 * (RFC 5321 4.5.3.1), a domain of letters, digits, "-" and "." or an
 * address literal?  An address without "@" is a local name.  The empty
 * address is the null sender.  Returns 0 or -1 with err set.
 */
int
addr_check(const char *a, char *err, size_t errlen)
{
	const char *at = NULL, *p;
	char show[96];
	int quoted = 0;

	escape(show, sizeof(show), a, strlen(a));
	if (strlen(a) > ADDR_MAX - 2) {
		snprintf(err, errlen, "address \"%.64s...\" is longer than %d "
		    "bytes", show, ADDR_MAX - 2);
		return -1;
	}
	if (a[0] == '-') {
		snprintf(err, errlen, "bad address \"%s\": it starts with '-'",
		    show);
		return -1;
	}
	for (p = a; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c >= 0x7f) {
			snprintf(err, errlen, "bad address \"%s\": control or "
			    "8-bit character", show);
			return -1;
		}
		if (c == '"' && (p == a || p[-1] != '\\'))
			quoted = !quoted;
		else if (!quoted && (c == '<' || c == '>' || c == ' ' ||
		    c == '(' || c == ')' || c == ',' || c == ';' || c == '\\')) {
			snprintf(err, errlen, "bad address \"%s\": '%c' is not "
			    "allowed here", show, c);
			return -1;
		} else if (!quoted && c == '@')
			at = p;
	}
	if (quoted) {
		snprintf(err, errlen, "bad address \"%s\": unbalanced quotes",
		    show);
		return -1;
	}
	if (at == NULL)
		return 0;
	if (at == a || (size_t)(at - a) > LOCAL_MAX) {
		snprintf(err, errlen, "bad address \"%s\": the local part is "
		    "empty or longer than %d bytes", show, LOCAL_MAX);
		return -1;
	}
	p = at + 1;
	if (*p == '\0' || strlen(p) > DOMAIN_MAX) {
		snprintf(err, errlen, "bad address \"%s\": the domain is empty "
		    "or too long", show);
		return -1;
	}
	if (*p == '[') {
		if (p[strlen(p) - 1] != ']' || strchr(p + 1, '[') != NULL) {
			snprintf(err, errlen, "bad address \"%s\": bad address "
			    "literal", show);
			return -1;
		}
		return 0;
	}
	for (; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.') {
			snprintf(err, errlen, "bad address \"%s\": '%c' in the "
			    "domain", show, *p);
			return -1;
		}
		if (*p == '.' && (p[1] == '.' || p[1] == '\0' || p == at + 1)) {
			snprintf(err, errlen, "bad address \"%s\": empty label "
			    "in the domain", show);
			return -1;
		}
	}
	return 0;
}

/* Is d this host: localhost, localhost.localdomain or our own name? */
static int
is_local_domain(const char *d)
{
	return strcasecmp(d, "localhost") == 0 ||
	    strcasecmp(d, "localhost.localdomain") == 0 ||
	    strcasecmp(d, conf.hostname) == 0;
}

/*
 * Where mail for recipient a goes: a local name (no domain, or a domain
 * naming this host) goes to admin when it is set and is qualified with
 * domain otherwise; any other address is kept.
 */
int
addr_rcpt(const char *a, char *out, size_t cap, char *err, size_t errlen)
{
	const char *at = strrchr(a, '@');
	size_t n;

	if (*a == '\0') {
		snprintf(err, errlen, "empty recipient address");
		return -1;
	}
	if (at != NULL && !is_local_domain(at + 1))
		n = strlcpy(out, a, cap);
	else if (conf.admin != NULL) {
		if (strchr(conf.admin, '@') != NULL)
			n = strlcpy(out, conf.admin, cap);
		else
			n = (size_t)snprintf(out, cap, "%s@%s", conf.admin,
			    conf.domain);
	} else
		n = (size_t)snprintf(out, cap, "%.*s@%s",
		    (int)(at ? at - a : (ptrdiff_t)strlen(a)), a, conf.domain);
	if (n >= cap || n > ADDR_MAX - 2) {
		snprintf(err, errlen, "address %.64s@%.64s is too long", a,
		    conf.domain);
		return -1;
	}
	return 0;
}

/*
 * Where bounces for a message from sender go when that is not the sender
 * itself: a local sender (raw, as given, had no domain or named this
 * host) has its bounces sent to admin, when admin is set.  out is "" when
 * bounces go to the sender.
 */
void
addr_errors_to(const char *raw, const char *sender, char *out, size_t cap)
{
	const char *at = strrchr(sender, '@');
	char err[ERR_MAX];

	out[0] = '\0';
	if (conf.admin == NULL || *sender == '\0')
		return;
	if (strchr(raw, '@') != NULL && at != NULL && !is_local_domain(at + 1))
		return;
	if (addr_rcpt("postmaster", out, cap, err, sizeof(err)) == -1)
		out[0] = '\0';
}

/* The envelope sender: "" or "<>" is the null sender; a name is qualified. */
int
addr_sender(const char *a, char *out, size_t cap, char *err, size_t errlen)
{
	struct addrlist l = { 0 };
	int r = 0;

	if (addr_parse_list(a, &l, err, errlen) == -1)
		return -1;
	if (l.n > 1) {
		snprintf(err, errlen, "more than one sender in \"%.64s\"", a);
		r = -1;
	} else if (l.n == 0 || l.v[0][0] == '\0')
		out[0] = '\0';
	else if (strchr(l.v[0], '@') != NULL)
		strlcpy(out, l.v[0], cap);
	else if ((size_t)snprintf(out, cap, "%s@%s", l.v[0], conf.domain) >=
	    cap || strlen(out) > ADDR_MAX - 2) {
		snprintf(err, errlen, "sender %.64s@%.64s is too long", l.v[0],
		    conf.domain);
		r = -1;
	}
	addrlist_free(&l);
	return r;
}
