/*
 * Intake of one message, and addresses.
 *
 * The message is streamed into the queue writer: CRLF and lone CR
 * become LF, the header section is read as logical fields (folded
 * lines stay with their field), Bcc and Resent-Bcc are dropped,
 * To/Cc/Bcc (or Resent-To/Cc/Bcc when the message has Resent- fields)
 * give the recipients with -t, over-long header lines are folded, and
 * Date, Message-ID and From are added at the end of the header section
 * when missing.  Memory does not grow with the message: only one header
 * field is held at a time.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "outbox.h"

/* A byte stream (stdin) with line ends made LF. */
struct input {
	int		 fd;
	unsigned char	 buf[65536];
	size_t		 off, len;
	int		 pending;	/* byte read after a CR, or -1 */
	int		 err;		/* errno of a failed read */
	int		 nul;		/* a NUL byte was seen */
	int		 eightbit;	/* a byte over 0x7f was seen */
	long long	 lineno;
};

/* What the header section held. */
struct hdrs {
	int		 seen_date, seen_msgid, seen_from;
	int		 resent;	/* a Resent- field was seen */
	int		 mime_other;	/* Content-Type not text, or an encoding */
	int		 ctype;		/* a Content-Type field was seen */
	int		 utf8;		/* UTF-8 in a field (RFC 6532) */
	long long	 hdr_end;	/* message bytes before the empty line */
	int		 count;
	long long	 lineno;	/* where the current field started */
	struct addrlist	 to, resent_to;	/* -t recipients of each kind */
};

struct work;

static int	read_message(struct work *, struct qw *, const struct intake *,
		    struct msginfo *, char *, size_t);
static int	in_raw(struct input *);
static int	in_byte(struct input *);
static int	in_line(struct input *, char *, size_t, size_t *, int *);
static int	is_field_start(const char *, size_t);
static int	field_is(const char *, const char *);
static int	field_done(struct work *, struct qw *, const struct intake *,
		    char *, size_t, int *, char *, size_t);
static int	field_write(struct qw *, const char *, size_t);
static int	qualify(const char *, char *, size_t);
static const char *comment_end(const char *);
static int	take_rcpts(struct addrlist *, const char *, char *, size_t);
static int	add_headers(struct qw *, const struct intake *,
		    const struct hdrs *);
static int	requote(struct work *, struct qw *, const struct msginfo *,
		    char *, size_t);
static int	qp_line(struct qw *, const unsigned char *, size_t, int,
		    size_t *);
static int	from_line(char *, size_t, const char *, const char *);
static void	display_name(const char *, char *, size_t);
static int	is_local_domain(const char *);
static const char *domain_at(const char *);
static int	expand(const char *, struct addrlist *, char (*)[LOCAL_MAX + 1],
		    int, char *, size_t);

struct input *
in_new(int fd)
{
	struct input *in = xcalloc(1, sizeof(*in));

	in->fd = fd;
	in->pending = -1;
	return in;
}

void
in_free(struct input *in)
{
	free(in);
}


/* The next byte of the stream, -1 at the end or on error (see in->err). */
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

/*
 * One command line for -bs.  Returns 1 with the line in dst, 2 when it
 * was longer than cap - 1 (the rest is skipped), 0 at the end of input,
 * -1 on a read error.
 */
int
in_command(struct input *in, char *dst, size_t cap)
{
	size_t n;
	int complete, r = 1;

	if (!in_line(in, dst, cap, &n, &complete))
		return in->err ? -1 : 0;
	while (!complete) {	/* skip the excess of a long line */
		char skip[512];

		r = 2;
		if (!in_line(in, skip, sizeof(skip), &n, &complete))
			break;
	}
	if (in->nul) {
		in->nul = 0;
		return 2;
	}
	return r;
}

/*
 * "Name:" with a name of printable ASCII other than the colon, and
 * blanks before the colon allowed, as the obsolete syntax does
 * (RFC 5322 4.5): "Bcc : x" is a Bcc field and must be dropped as one.
 */
static int
is_field_start(const char *s, size_t len)
{
	size_t i, k;

	for (i = 0; i < len; i++) {
		if (s[i] == ':')
			return i > 0;
		if (s[i] == ' ' || s[i] == '\t') {
			k = i + strspn(s + i, " \t");
			return i > 0 && k < len && s[k] == ':';
		}
		if (s[i] < ' ' || s[i] > '~')
			return 0;
	}
	return 0;
}

/* Does the field in s have the name (case-insensitive)? */
static int
field_is(const char *s, const char *name)
{
	size_t n = strlen(name);

	return strncasecmp(s, name, n) == 0 && s[n + strspn(s + n, " \t")] == ':';
}

/* msg_read()'s buffers: too big for a small stack, freed at the end. */
struct work {
	struct input	*in;
	struct hdrs	 h;
	char		 field[HEADER_MAX + 1];	/* the logical header field */
	char		 line[HEADER_MAX + 2];	/* the physical line, and its LF */
	char		 from[HEADER_MAX + 64];	/* a rewritten From field */
};

/*
 * Read one message from in into the queue writer w.  Recipients found
 * with -t are added to rcpts.  Returns 0, or an exit code with err set:
 * EX_TEMPFAIL when reading or writing failed (w is then incomplete);
 * EX_DATAERR, EX_NOUSER for a message that cannot be queued as it is,
 * in which case the whole message has still been read into w, so that
 * it can be returned to its sender (-oem).
 */
int
msg_read(struct input *in, struct qw *w, const struct intake *opt,
    struct addrlist *rcpts, struct msginfo *info, char *err, size_t errlen)
{
	struct work *wk = xcalloc(1, sizeof(*wk));
	struct addrlist *found;
	size_t i;
	int code;

	wk->in = in;
	in->eightbit = in->nul = 0;
	memset(info, 0, sizeof(*info));
	code = read_message(wk, w, opt, info, err, errlen);
	info->eightbit = in->eightbit;
	if (code == 0 && info->longlines && !wk->h.mime_other) {
		code = requote(wk, w, info, err, errlen);
		if (code == 0)
			info->eightbit = info->utf8hdr;
	}
	/* Resent- fields name the recipients of a resend (RFC 5322 3.6.6). */
	found = wk->h.resent ? &wk->h.resent_to : &wk->h.to;
	for (i = 0; code == 0 && i < found->n; i++)
		if (addrlist_add(rcpts, found->v[i]) == -1) {
			snprintf(err, errlen, "more than %d recipients",
			    RCPT_MAX);
			code = EX_DATAERR;
		}
	addrlist_free(&wk->h.to);
	addrlist_free(&wk->h.resent_to);
	free(wk);
	return code;
}

static int
read_message(struct work *wk, struct qw *w, const struct intake *opt,
    struct msginfo *info, char *err, size_t errlen)
{
	struct input *in = wk->in;
	char *field = wk->field, *line = wk->line;
	struct hdrs *h = &wk->h;
	size_t flen = 0, n;
	int complete, in_body = 0, at_start = 1, first = 1, code = 0;
	int ended = 0;

	/*
	 * The header section: field holds the logical field being read.
	 * It ends at an empty line, at a line that cannot be part of a
	 * header, or at the end of input.  A bad field is noted in code
	 * and the message still read to its end.
	 */
	for (;;) {
		if (!in_line(in, line, HEADER_MAX + 2, &n, &complete))
			break;		/* end of input */
		if ((opt->dot_ends || opt->smtp) && complete && n == 1 &&
		    line[0] == '.') {
			ended = 1;
			break;		/* the end, before any body */
		}
		if (opt->smtp && line[0] == '.') {	/* RFC 5321 4.5.2 */
			memmove(line, line + 1, n--);
		}
		if (first && complete && strncmp(line, "From ", 5) == 0) {
			first = 0;
			continue;	/* an mbox separator, not a header */
		}
		first = 0;
		if (complete && (line[0] == ' ' || line[0] == '\t') && flen > 0) {
			if (flen + 1 + n > HEADER_MAX) {
				if (code == 0) {
					snprintf(err, errlen, "line %lld: header "
					    "field longer than %d bytes",
					    h->lineno, HEADER_MAX);
					code = EX_DATAERR;
				}
				continue;
			}
			field[flen++] = '\n';
			memcpy(field + flen, line, n);
			flen += n;
			field[flen] = '\0';
			continue;
		}
		if (flen > 0 && field_done(wk, w, opt, field, flen, &code, err,
		    errlen) == -1)
			return EX_TEMPFAIL;
		flen = 0;
		if (complete && n == 0) {
			in_body = 1;	/* the empty line */
			break;
		}
		if (complete && is_field_start(line, n)) {
			if (++h->count > HEADERS_MAX && code == 0) {
				snprintf(err, errlen, "line %lld: more than %d "
				    "header fields", in->lineno, HEADERS_MAX);
				code = EX_DATAERR;
			}
			memcpy(field, line, n + 1);
			flen = n;
			h->lineno = in->lineno;
			continue;
		}
		if (!complete && (is_field_start(line, n) || line[0] == ' ' ||
		    line[0] == '\t')) {
			if (code == 0) {
				snprintf(err, errlen, "line %lld: header line "
				    "longer than %d bytes", in->lineno + 1,
				    HEADER_MAX);
				code = EX_DATAERR;
			}
		}
		/* Not a header: the body starts here, without an empty line. */
		if (add_headers(w, opt, h) == -1 ||
		    (h->hdr_end = w->len, queue_write(w, "\n", 1) == -1) ||
		    queue_write(w, line, n) == -1 ||
		    (complete && queue_write(w, "\n", 1) == -1))
			goto werr;
		if (n > TEXT_LINE_MAX || !complete)
			info->longlines = 1;
		at_start = complete;
		in_body = 2;
		break;
	}
	if (flen > 0 && field_done(wk, w, opt, field, flen, &code, err,
	    errlen) == -1)
		return EX_TEMPFAIL;
	if (!h->seen_from && opt->fullname != NULL && has8bit(opt->fullname))
		h->utf8 = in->eightbit = 1;	/* the From added with it */
	info->utf8hdr = h->utf8;
	if (in_body != 2 && (add_headers(w, opt, h) == -1 ||
	    (h->hdr_end = w->len, queue_write(w, "\n", 1) == -1)))
		goto werr;

	/* The body, streamed in pieces of at most one buffer. */
	while (in_body && !ended) {
		if (!in_line(in, line, HEADER_MAX + 1, &n, &complete))
			break;
		if (at_start && line[0] == '.') {
			if ((opt->dot_ends || opt->smtp) && complete && n == 1) {
				ended = 1;
				break;
			}
			if (opt->smtp)
				memmove(line, line + 1, n--);
		}
		if (queue_write(w, line, n) == -1)
			goto werr;
		if (complete && queue_write(w, "\n", 1) == -1)
			goto werr;
		if (n > TEXT_LINE_MAX || (!complete && !at_start))
			info->longlines = 1;
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
	if (opt->smtp && !ended) {
		snprintf(err, errlen, "the input ended before the \".\" that "
		    "ends the message");
		return EX_TEMPFAIL;
	}
	if (in->nul && code == 0) {
		snprintf(err, errlen, "the message contains a NUL byte");
		code = EX_DATAERR;
	}
	return code;
werr:
	snprintf(err, errlen, "unable to write %s: %s", w->tmppath,
	    strerror(w->err));
	return EX_TEMPFAIL;
}

/*
 * One complete header field: note what it is, take recipients from it
 * with -t, qualify its local names, rewrite From with rewrite_from, and
 * write it unless it is a Bcc.  A field that cannot be used sets *code
 * and err unless an earlier one did: the first error is the one told.
 * Returns 0, or -1 with err set when writing failed.
 */
static int
field_done(struct work *wk, struct qw *w, const struct intake *opt, char *f,
    size_t len, int *codep, char *err, size_t errlen)
{
	struct hdrs *h = &wk->h;
	char why[ERR_MAX], *v, *p;
	int bcc, resent = 0, code = 0, c;

	for (p = f; (size_t)(p - f) < len; p += c) {
		if ((c = utf8_len(p)) == 0) {
			c = 1;	/* 8-bit, but not UTF-8: sent as it is */
			continue;
		}
		if (c > 1)
			h->utf8 = 1;
	}
	if (field_is(f, "date"))
		h->seen_date = 1;
	else if (field_is(f, "message-id"))
		h->seen_msgid = 1;
	else if (field_is(f, "from"))
		h->seen_from = 1;
	else if (field_is(f, "content-type")) {
		/* Only text can be re-encoded line by line (see requote()). */
		h->ctype = 1;
		v = strchr(f, ':') + 1;
		v += strspn(v, " \t\n");
		if (strncasecmp(v, "text/", 5) != 0)
			h->mime_other = 1;
	} else if (field_is(f, "content-transfer-encoding")) {
		v = strchr(f, ':') + 1;
		v += strspn(v, " \t\n");
		if (strncasecmp(v, "7bit", 4) != 0 &&
		    strncasecmp(v, "8bit", 4) != 0 &&
		    strncasecmp(v, "binary", 6) != 0)
			h->mime_other = 1;
	}
	if (strncasecmp(f, "resent-", 7) == 0) {
		h->resent = resent = 1;
		f += 7;
		len -= 7;
	}
	bcc = field_is(f, "bcc");

	if (opt->extract && (bcc || field_is(f, "to") || field_is(f, "cc"))) {
		/* Unfold: the line breaks of a folded field are blanks. */
		v = xstrdup(strchr(f, ':') + 1);
		for (p = v; *p; p++)
			if (*p == '\n')
				*p = ' ';
		code = take_rcpts(resent ? &h->resent_to : &h->to, v, why,
		    sizeof(why));
		free(v);
		if (code && *codep == 0) {
			/* Still stored: a returned copy shows it. */
			snprintf(err, errlen, "line %lld: %s%.*s: %s", h->lineno,
			    resent ? "Resent-" : "", (int)strcspn(f, ":"), f, why);
			*codep = code;
		}
	}
	if (resent) {
		f -= 7;
		len += 7;
	}
	if (bcc)
		return 0;
	v = f + 7 * resent;	/* the name without "Resent-" */
	if (code == 0 && (field_is(v, "from") || field_is(v, "to") ||
	    field_is(v, "cc") || field_is(v, "sender") ||
	    field_is(v, "reply-to")) &&
	    qualify(f, wk->from, sizeof(wk->from)) == 1) {
		f = wk->from;
		len = strlen(f);
	}
	if (conf.rewrite_from && !resent && field_is(f, "from") &&
	    opt->sender != NULL && opt->sender[0] != '\0') {
		char name[TEXT_LINE_MAX];

		display_name(strchr(f, ':') + 1, name, sizeof(name));
		if (from_line(wk->from, sizeof(wk->from), name,
		    opt->sender) == 0) {
			f = wk->from;
			len = strlen(wk->from);
		}
	}
	if (field_write(w, f, len) == -1) {
		snprintf(err, errlen, "unable to write %s: %s", w->tmppath,
		    strerror(w->err));
		return -1;
	}
	return 0;
}

/*
 * The end of the comment (RFC 5322 3.2.2, nested, with quoted pairs)
 * that starts with the "(" at p: just past its ")", or NULL when it is
 * not closed.
 */
static const char *
comment_end(const char *p)
{
	int depth = 0;

	for (; *p; p++) {
		if (*p == '\\' && p[1])
			p++;
		else if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0)
			return p + 1;
	}
	return NULL;
}

/*
 * Qualify the local names in an address field (RFC 5322 3.4) with
 * domain, as an MTA does for mail submitted without one: "To: root"
 * becomes "To: root@example.org", "From: root (Cron Daemon)" becomes
 * "From: root@example.org (Cron Daemon)", "<ops>" becomes
 * "<ops@example.org>"; everything else is copied as it is.  Returns 1
 * with the new field in out, 0 when nothing changed or it would not fit.
 */
static int
qualify(const char *f, char *out, size_t cap)
{
	size_t o = 0, dl = strlen(conf.domain), bare_end = 0;
	int words = 0, inword = 0, at = 0, angle = 0, changed = 0;
	const char *p, *e;

	for (p = f; *p; p++) {
		if (o + dl + 4 >= cap)
			return 0;
		out[o++] = *p;
		if (*p == ':' && p > f && o == (size_t)(p - f) + 1)
			break;	/* the field name */
	}
	if (*p == '\0')
		return 0;
	for (p++;; p++) {
		if (o + dl + 4 >= cap)
			return 0;
		if (*p == '\0' || *p == ',' || *p == ';') {
			/* The end of a mailbox: one bare word without "@". */
			if (!angle && words == 1 && !at && bare_end > 0) {
				memmove(out + bare_end + dl + 1, out + bare_end,
				    o - bare_end);
				out[bare_end] = '@';
				memcpy(out + bare_end + 1, conf.domain, dl);
				o += dl + 1;
				changed = 1;
			}
			words = inword = at = angle = 0;
			bare_end = 0;
			if (*p == '\0')
				break;
			out[o++] = *p;
			continue;
		}
		switch (*p) {
		case '(':	/* a comment, copied */
			inword = 0;
			if ((e = comment_end(p)) == NULL ||
			    o + (size_t)(e - p) + dl + 4 >= cap)
				return 0;
			memcpy(out + o, p, (size_t)(e - p));
			o += (size_t)(e - p);
			p = e - 1;
			continue;
		case '"':	/* a quoted string, copied */
			if (!inword)
				words++;
			inword = 1;
			do {
				if (o + dl + 4 >= cap)
					return 0;
				out[o++] = *p;
				if (*p == '\\' && p[1])
					out[o++] = *++p;
				p++;
			} while (*p && *p != '"');
			if (*p == '\0')
				return 0;
			out[o++] = '"';
			bare_end = o;
			continue;
		case '<':
			angle = 1;
			out[o++] = '<';
			for (p++, at = 0; *p && *p != '>'; p++) {
				if (o + dl + 4 >= cap)
					return 0;
				at |= *p == '@';
				out[o++] = *p;
			}
			if (*p == '\0')
				return 0;
			if (!at && out[o - 1] != '<') {
				out[o++] = '@';
				memcpy(out + o, conf.domain, dl);
				o += dl;
				changed = 1;
			}
			out[o++] = '>';
			continue;
		case '[':	/* an address literal, copied */
			if (!inword)
				words++;
			inword = 1;
			for (; *p && *p != ']'; p++) {
				if (o + dl + 4 >= cap)
					return 0;
				out[o++] = *p;
			}
			if (*p == '\0')
				return 0;
			out[o++] = ']';
			bare_end = o;
			continue;
		case ':':	/* a group's name ends: addresses follow */
			words = inword = at = 0;
			bare_end = 0;
			out[o++] = *p;
			continue;
		case ' ': case '\t': case '\n':
			inword = 0;
			out[o++] = *p;
			continue;
		}
		if (!inword)
			words++;
		inword = 1;
		at |= *p == '@';
		out[o++] = *p;
		bare_end = o;
	}
	out[o] = '\0';
	return changed;
}

/* The addresses of one To/Cc/Bcc value into l.  Returns 0 or an exit code. */
static int
take_rcpts(struct addrlist *l, const char *v, char *err, size_t errlen)
{
	struct addrlist found = { 0 };
	size_t i;
	int code = 0;

	if (addr_parse_list(v, &found, err, errlen) == -1)
		code = EX_NOUSER;
	for (i = 0; code == 0 && i < found.n; i++)
		if (addr_rcpt(found.v[i], l, err, errlen) == -1)
			code = EX_NOUSER;
	addrlist_free(&found);
	return code;
}

/*
 * Write a header field and its line end, folding any line longer than
 * TEXT_LINE_MAX (RFC 5322 2.1.1, 2.2.3): before the last blank that
 * keeps it short enough, or, in a line without one, at the limit with a
 * blank added so that the break is a fold and not the end of the field.
 */
static int
field_write(struct qw *w, const char *f, size_t len)
{
	const char *line = f, *end = f + len, *nl, *cut;
	size_t n, lead;

	while (line < end) {
		nl = memchr(line, '\n', (size_t)(end - line));
		n = nl ? (size_t)(nl - line) : (size_t)(end - line);
		/* lead: a blank written before line, starting its output line. */
		for (lead = 0; lead + n > TEXT_LINE_MAX; ) {
			for (cut = line + TEXT_LINE_MAX - lead; cut > line + 1 &&
			    *cut != ' ' && *cut != '\t'; cut--)
				;
			if (cut > line + 1) {	/* fold before the blank */
				if (queue_write(w, line, (size_t)(cut - line)) == -1 ||
				    queue_write(w, "\n", 1) == -1)
					return -1;
				lead = 0;
			} else {
				cut = line + TEXT_LINE_MAX - lead;
				if (queue_write(w, line, (size_t)(cut - line)) == -1 ||
				    queue_write(w, "\n ", 2) == -1)
					return -1;
				lead = 1;
			}
			n -= (size_t)(cut - line);
			line = cut;
		}
		if (queue_write(w, line, n) == -1 || queue_write(w, "\n", 1) == -1)
			return -1;
		line += n + 1;
	}
	return 0;
}

/*
 * The display name of the first mailbox in a From value: the phrase
 * before "<addr>" or, for "addr (Comment)", the comment.  Quotes and
 * escapes are removed; folding blanks become one space.
 */
static void
display_name(const char *v, char *out, size_t cap)
{
	const char *p, *e, *comment = NULL;
	size_t o = 0;
	int depth;

	out[0] = '\0';
	for (p = v; *p && *p != '<' && *p != ','; p++) {
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				if (o + 1 < cap)
					out[o++] = *p == '\n' || *p == '\t' ?
					    ' ' : *p;
			}
			if (*p == '\0')
				break;
			continue;
		}
		if (*p == '(') {
			if (comment == NULL)
				comment = p + 1;
			if ((e = comment_end(p)) == NULL)
				break;
			p = e - 1;
			continue;
		}
		if (o + 1 < cap)
			out[o++] = *p == '\n' || *p == '\t' ? ' ' : *p;
	}
	if (*p != '<') {	/* no phrase: "addr (Comment)" or a bare addr */
		o = 0;
		for (p = comment, depth = 1; p && *p && o + 1 < cap; p++) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0)
				break;
			out[o++] = *p == '\n' || *p == '\t' ? ' ' : *p;
		}
	}
	out[o] = '\0';
	/* Trim and squeeze blanks. */
	for (p = out, o = 0; *p; p++)
		if (*p != ' ' || (o > 0 && out[o - 1] != ' '))
			out[o++] = *p;
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

/*
 * "From: NAME <addr>" (or "From: addr" without a name) into buf.  The
 * name is written as a quoted-string (RFC 5322 3.2.4), unless it holds
 * encoded-words (RFC 2047), which must stay outside quotes and are
 * written as they came.
 */
static int
from_line(char *buf, size_t cap, const char *name, const char *addr)
{
	size_t o;
	const char *s;
	int n;

	char cut[FULLNAME_MAX + 1];
	size_t k;

	/* A name longer than FULLNAME_MAX is cut, at a character's start. */
	if (strlen(name) > FULLNAME_MAX) {
		for (k = FULLNAME_MAX; k > 0 && ((unsigned char)name[k] & 0xc0) ==
		    0x80; k--)
			;
		memcpy(cut, name, k);
		cut[k] = '\0';
		name = cut;
	}
	if (*name == '\0')
		n = snprintf(buf, cap, "From: %s", addr);
	else if (strstr(name, "=?") != NULL &&
	    strpbrk(name, "\"\\()<>,;:@[]") == NULL)
		n = snprintf(buf, cap, "From: %s <%s>", name, addr);
	else {
		o = (size_t)snprintf(buf, cap, "From: \"");
		for (s = name; *s && o + 3 < cap; s++) {
			if ((unsigned char)*s < ' ' || *s == 0x7f)
				continue;
			if (*s == '"' || *s == '\\')
				buf[o++] = '\\';
			buf[o++] = *s;
		}
		buf[o] = '\0';
		n = (int)o;
		n += snprintf(buf + o, cap - o, "\" <%s>", addr);
	}
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/*
 * A text message with a body line longer than TEXT_LINE_MAX cannot be
 * sent as it is (RFC 5322 2.1.1).  Rather than breaking the line, which
 * would change the text, re-encode the body as quoted-printable (RFC
 * 2045 6.7), whose soft line breaks keep every line short and decode to
 * the original bytes: the header section is copied without its
 * MIME-Version and Content-Transfer-Encoding fields, which are added
 * anew (with a Content-Type when there was none), and the new file
 * replaces w.  Multipart and already encoded messages are left to the
 * line breaking of smtp.c.  Returns 0 or an exit code.
 */
static int
requote(struct work *wk, struct qw *w, const struct msginfo *info, char *err,
    size_t errlen)
{
	struct input *in;
	struct qw *n;
	char *line = wk->line;
	long long done = 0;
	size_t len, col = 0;
	int fd = -1, complete, skip = 0, code = EX_TEMPFAIL;

	if ((fd = queue_reread(w)) == -1) {
		snprintf(err, errlen, "unable to reread %s: %s", w->tmppath,
		    strerror(errno));
		return EX_TEMPFAIL;
	}
	in = in_new(fd);
	n = xmalloc(sizeof(*n));
	if (queue_create(n, 1, err, errlen) == -1) {
		free(n);
		in_free(in);
		close(fd);
		return EX_TEMPFAIL;
	}
	/* The header section, field by field. */
	while (done < wk->h.hdr_end) {
		if (!in_line(in, line, HEADER_MAX + 1, &len, &complete) ||
		    !complete)
			goto rerr;
		done += (long long)len + 1;
		if (line[0] != ' ' && line[0] != '\t')
			skip = field_is(line, "mime-version") ||
			    field_is(line, "content-transfer-encoding");
		if (!skip && (queue_write(n, line, len) == -1 ||
		    queue_write(n, "\n", 1) == -1))
			goto werr;
	}
	if (!in_line(in, line, HEADER_MAX + 1, &len, &complete) || len != 0)
		goto rerr;	/* the empty line */
	if (queue_write(n, "MIME-Version: 1.0\n", 18) == -1 ||
	    (!wk->h.ctype && (queue_write(n, "Content-Type: text/plain; "
	    "charset=", 34) == -1 || (info->eightbit ?
	    queue_write(n, "utf-8\n", 6) : queue_write(n, "us-ascii\n", 9)) ==
	    -1)) ||
	    queue_write(n, "Content-Transfer-Encoding: quoted-printable\n\n",
	    45) == -1)
		goto werr;
	/* The body, line by line; a long line comes in pieces. */
	while (in_line(in, line, HEADER_MAX + 1, &len, &complete))
		if (qp_line(n, (unsigned char *)line, len, complete, &col) == -1)
			goto werr;
	if (in->err)
		goto rerr;
	in_free(in);
	close(fd);
	queue_replace(w, n);
	free(n);
	return 0;
rerr:
	snprintf(err, errlen, "unable to reread %s", w->tmppath);
	goto fail;
werr:
	snprintf(err, errlen, "unable to write %s: %s", n->tmppath,
	    strerror(n->err));
fail:
	in_free(in);
	close(fd);
	queue_abort(n);
	free(n);
	return code;
}

/*
 * One piece of a body line as quoted-printable: "=" and bytes that are
 * not printable ASCII as =XX, a blank before the line end too, a soft
 * break ("=" at the end of a line) before column 76; end is set when
 * the piece ends the line.  *col carries the column across pieces.
 */
static int
qp_line(struct qw *w, const unsigned char *p, size_t len, int end, size_t *col)
{
	static const char hex[] = "0123456789ABCDEF";
	char out[8];
	size_t i, k;

	for (i = 0; i < len; i++) {
		/*
		 * A blank is encoded when the line ends after it, as seen in
		 * this piece or, for a piece's last byte, always: the next
		 * piece may be the line end alone.
		 */
		if ((p[i] >= 33 && p[i] <= 126 && p[i] != '=') ||
		    ((p[i] == ' ' || p[i] == '\t') && i + 1 < len)) {
			out[0] = (char)p[i];
			k = 1;
		} else {
			out[0] = '=';
			out[1] = hex[p[i] >> 4];
			out[2] = hex[p[i] & 15];
			k = 3;
		}
		if (*col + k > 75) {
			if (queue_write(w, "=\n", 2) == -1)
				return -1;
			*col = 0;
		}
		if (queue_write(w, out, k) == -1)
			return -1;
		*col += k;
	}
	if (end) {
		*col = 0;
		return queue_write(w, "\n", 1);
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
	char buf[1024], rnd[8];
	int n;

	if (!h->seen_from) {
		if (from_line(buf, sizeof(buf) - 1, opt->fullname ?
		    opt->fullname : "", opt->header_from) == -1)
			return -1;
		strlcat(buf, "\n", sizeof(buf));
		if (queue_write(w, buf, strlen(buf)) == -1)
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
	int angle = 0, spaced = 0, gap = 0, over = 0;
	const char *p, *e;
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
			if ((e = comment_end(p)) != NULL)
				p = e - 1;
			else {
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
			spaced = gap = over = 0;
			break;
		case '[':	/* an address literal: its ':' are its own */
			if (angle)
				goto after;
			if (gap)
				spaced = 1;
			gap = 0;
			for (; *p && *p != ']'; p++) {
				if (cl < ADDR_MAX)
					cur[cl++] = *p;
				else
					over = 1;
			}
			if (*p == '\0') {
				snprintf(err, errlen, "unbalanced [ in \"%.64s\"", s);
				return -1;
			}
			goto plain;
		case '<':
			/* What came before was a display name, of any length. */
			over = 0;
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
			if (angle)
				goto after;
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
			if (angle) {
		after:
				snprintf(err, errlen, "text after <address> in "
				    "\"%.64s\"", s);
				return -1;
			}
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
	int quoted = 0, k;

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

		if (c >= 0x80 && (k = utf8_len(p)) > 0) {
			p += k - 1;	/* UTF-8 (RFC 6531) */
			continue;
		}
		if (c < 0x20 || c >= 0x7f) {
			snprintf(err, errlen, "bad address \"%s\": control "
			    "character or bad UTF-8", show);
			return -1;
		}
		if (quoted && c == '\\' && p[1] != '\0') {
			p++;	/* a quoted pair */
			continue;
		}
		if (c == '"')
			quoted = !quoted;
		else if (!quoted && (c == '<' || c == '>' || c == ' ' ||
		    c == '(' || c == ')' || c == ',' || c == ';' || c == '\\')) {
			snprintf(err, errlen, "bad address \"%s\": '%c' is not "
			    "allowed here", show, c);
			return -1;
		} else if (!quoted && c == '@') {
			if (at != NULL) {
				snprintf(err, errlen, "bad address \"%s\": more "
				    "than one '@'", show);
				return -1;
			}
			at = p;
		}
	}
	if (quoted) {
		snprintf(err, errlen, "bad address \"%s\": unbalanced quotes",
		    show);
		return -1;
	}
	if (at == NULL && strlen(a) > LOCAL_MAX) {
		snprintf(err, errlen, "bad address \"%s\": a local name longer "
		    "than %d bytes", show, LOCAL_MAX);
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
		if ((unsigned char)*p >= 0x80) {	/* checked above */
			p += utf8_len(p) - 1;
			continue;
		}
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

/*
 * The length of the UTF-8 sequence at s (RFC 3629: shortest form, no
 * surrogates, at most U+10FFFF), or 0 when it is not one.
 */
int
utf8_len(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int n, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
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
 * Where mail for recipient a goes, appended to out: a local name (no
 * domain, or a domain naming this host) that is an alias is replaced by
 * its targets, in turn; any other local name goes to admin when it is set
 * and is qualified with domain otherwise; any other address is kept.  A
 * name met again while expanding itself is not expanded again (as with
 * "root: root, ops@example.org").  Returns 0 or -1 with err set.
 */
int
addr_rcpt(const char *a, struct addrlist *out, char *err, size_t errlen)
{
	char chain[ALIAS_DEPTH][LOCAL_MAX + 1];

	return expand(a, out, chain, 0, err, errlen);
}

/* The "@" before the domain of a: the last one outside quotes, or NULL. */
static const char *
domain_at(const char *a)
{
	const char *p, *at = NULL;
	int quoted = 0;

	for (p = a; *p; p++) {
		if (quoted && *p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == '@' && !quoted)
			at = p;
	}
	return at;
}

/* Recursive, at most ALIAS_DEPTH deep. */
static int
/* NOLINTNEXTLINE(misc-no-recursion) */
expand(const char *a, struct addrlist *out, char (*chain)[LOCAL_MAX + 1],
    int depth, char *err, size_t errlen)
{
	const struct addrlist *to;
	const char *at = domain_at(a);
	char name[LOCAL_MAX + 1], buf[ADDR_MAX + 64];
	size_t n, i;
	int k;

	if (*a == '\0') {
		snprintf(err, errlen, "empty recipient address");
		return -1;
	}
	if (at != NULL && !is_local_domain(at + 1)) {
		strlcpy(buf, a, sizeof(buf));
		goto add;
	}
	n = at ? (size_t)(at - a) : strlen(a);
	if (n <= LOCAL_MAX) {
		memcpy(name, a, n);
		name[n] = '\0';
		for (k = 0; k < depth && strcasecmp(chain[k], name) != 0; k++)
			;
		if (k == depth && (to = alias_find(name)) != NULL) {
			if (depth == ALIAS_DEPTH) {
				snprintf(err, errlen, "aliases nested more than %d "
				    "deep at %s", ALIAS_DEPTH, name);
				return -1;
			}
			memcpy(chain[depth], name, n + 1);
			for (i = 0; i < to->n; i++)
				if (expand(to->v[i], out, chain, depth + 1, err,
				    errlen) == -1)
					return -1;
			return 0;
		}
	}
	if (conf.admin != NULL && strchr(conf.admin, '@') != NULL)
		strlcpy(buf, conf.admin, sizeof(buf));
	else if (conf.admin != NULL)
		snprintf(buf, sizeof(buf), "%s@%s", conf.admin, conf.domain);
	else
		snprintf(buf, sizeof(buf), "%.*s@%s", (int)n, a, conf.domain);
add:
	if (strlen(buf) > ADDR_MAX - 2) {
		snprintf(err, errlen, "address %.64s@%.64s is too long", a,
		    conf.domain);
		return -1;
	}
	if (addrlist_add(out, buf) == -1) {
		snprintf(err, errlen, "more than %d recipients", RCPT_MAX);
		return -1;
	}
	return 0;
}

/*
 * Where bounces for a message from sender go when that is not the sender
 * itself: a local sender (raw, as given, had no domain or named this
 * host) has its bounces sent to postmaster, which is admin unless an
 * alias says otherwise, when admin is set.  out is "" when bounces go to
 * the sender.
 */
void
addr_errors_to(const char *raw, const char *sender, char *out, size_t cap)
{
	const char *at = strrchr(sender, '@');

	out[0] = '\0';
	if (conf.admin == NULL || *sender == '\0')
		return;
	if (strchr(raw, '@') != NULL && at != NULL && !is_local_domain(at + 1))
		return;
	strlcpy(out, "postmaster", cap);
}

/* The envelope sender: "" or "<>" is the null sender; a name is qualified. */
int
addr_sender(const char *a, char *out, size_t cap, char *err, size_t errlen)
{
	struct addrlist l = { 0 };
	int r = 0;

	if (addr_parse_list(a, &l, err, errlen) == -1) {
		addrlist_free(&l);	/* the addresses before the bad one */
		return -1;
	}
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
