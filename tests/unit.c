/*
 * Unit tests of outbox's header and address parser (msg.c, aliases.c)
 * and of the SASL mechanisms (auth.c):
 *
 *	tests/unit [-q]
 *
 * Table-driven: every case is one line of a table below, with its input
 * and what is expected of it.  Each case prints "ok N - area: what" or
 * "not ok N - area: what: got ..., want ..." (TAP), and the run ends with
 * the plan "1..N" and a summary line.  Exits with the number of failures
 * (at most 125, so that it never wraps to 0).  -q prints only what is
 * not ok, and the summary.
 *
 * A "NOTE:" comment marks a case that pins questionable behaviour which
 * is kept on purpose.
 *
 * Linked with every object of outbox but sendmail.o and smtpin.o.  It
 * works in a temporary spool under $TMPDIR and sets the global conf
 * itself; nothing outside that directory is read or written.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bearssl.h>

#include "../outbox.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* In an expected message: one or more bytes other than LF. */
#define ANY	"\001"

/* Runs of one letter, for length limits. */
#define C10	"cccccccccc"
#define C50	C10 C10 C10 C10 C10
#define C64	C50 C10 "cccc"
#define C65	C64 "c"
#define C100	C50 C50
#define C250	C100 C100 C50
#define C300	C100 C100 C100
#define C1000	C250 C250 C250 C250
/* An address of exactly 254 bytes (64 + 1 + 189), and one of 255. */
#define A254	C64 "@" C100 C50 C10 C10 C10 "ccccc" ".org"
#define A255	C64 "@" C100 C50 C10 C10 C10 "cccccc" ".org"

static int	quiet;
static int	ntest, nfail;
static char	spool[4096];
static char	whybuf[8192];

/* ------------------------------------------------------------------ */
/* Reporting */

/* s as one short printable line in quotes; rotating static buffers. */
static const char *
vis(const char *s, size_t len)
{
	static char bufs[8][1024];
	static int k;
	char *b = bufs[k++ % 8];
	size_t i, o = 0;
	unsigned char c;

	if (s == NULL)
		return "(none)";
	b[o++] = '"';
	for (i = 0; i < len && i < 200; i++) {
		/* cppcheck-suppress arrayIndexOutOfBounds ; len bounds i */
		c = (unsigned char)s[i];
		if (c == '\n')
			o += (size_t)snprintf(b + o, 3, "\\n");
		else if (c == '\r')
			o += (size_t)snprintf(b + o, 3, "\\r");
		else if (c == '\t')
			o += (size_t)snprintf(b + o, 3, "\\t");
		else if (c == '"' || c == '\\') {
			b[o++] = '\\';
			b[o++] = (char)c;
		} else if (c >= 0x20 && c < 0x7f)
			b[o++] = (char)c;
		else
			o += (size_t)snprintf(b + o, 5, "\\x%02x", c);
	}
	b[o++] = '"';
	if (i < len)
		o += (size_t)snprintf(b + o, 32, "...(%zu bytes)", len);
	b[o] = '\0';
	return b;
}

static const char *
visz(const char *s)
{
	return s ? vis(s, strlen(s)) : "(none)";
}

static const char *why(const char *, ...) PRINTF(1, 2);

/* A reason for "not ok", in a static buffer. */
static const char *
why(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(whybuf, sizeof(whybuf), fmt, ap);
	va_end(ap);
	return whybuf;
}

/* One result: reason is NULL when the case passed. */
static void
report(const char *area, const char *desc, const char *reason)
{
	ntest++;
	if (reason == NULL) {
		if (!quiet)
			printf("ok %d - %s: %s\n", ntest, area, desc);
		return;
	}
	nfail++;
	printf("not ok %d - %s: %s: %s\n", ntest, area, desc, reason);
}

/* The addresses of l as "a|b|c", the empty address as "<>". */
static const char *
join(const struct addrlist *l)
{
	static char buf[65536];
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < l->n; i++) {
		if (i > 0)
			strlcat(buf, "|", sizeof(buf));
		strlcat(buf, l->v[i][0] ? l->v[i] : "<>", sizeof(buf));
	}
	return buf;
}

/*
 * Compare the result of a call that returns 0 or -1 with err set:
 * want is the expected joined result on success, or NULL when the call
 * must fail with an err holding errsub.
 */
static const char *
outcome(int rc, const char *got, const char *err, const char *want,
    const char *errsub)
{
	if (want != NULL && rc != 0)
		return why("got failure %s, want %s", visz(err), visz(want));
	if (want != NULL && strcmp(got, want) != 0)
		return why("got %s, want %s", visz(got), visz(want));
	if (want == NULL && rc == 0)
		return why("got success %s, want a failure with %s", visz(got),
		    visz(errsub));
	if (want == NULL && strstr(err, errsub) == NULL)
		return why("got error %s, want one with %s", visz(err),
		    visz(errsub));
	return NULL;
}

/* Table macros: success with a result, or failure with an error part. */
#define OK(w)		(w), NULL
#define FAIL(e)		NULL, (e)
#define ACCEPT		OK("")
#define REFUSE(e)	FAIL(e)

/* ------------------------------------------------------------------ */
/* utf8_len() */

static const struct {
	const char	*desc, *in;
	int		 want;
} utf8_cases[] = {
	{ "ASCII", "a", 1 },
	{ "two bytes (U+00E9)", "\xc3\xa9", 2 },
	{ "three bytes (U+20AC)", "\xe2\x82\xac", 3 },
	{ "four bytes (U+1F600)", "\xf0\x9f\x98\x80", 4 },
	{ "U+FFFF is a valid sequence", "\xef\xbf\xbf", 3 },
	{ "U+10000, the first four-byte", "\xf0\x90\x80\x80", 4 },
	{ "U+10FFFF, the last", "\xf4\x8f\xbf\xbf", 4 },
	{ "overlong NUL C0 80", "\xc0\x80", 0 },
	{ "overlong C1 BF", "\xc1\xbf", 0 },
	{ "overlong three-byte E0 80 AF", "\xe0\x80\xaf", 0 },
	{ "overlong four-byte F0 8F BF BF", "\xf0\x8f\xbf\xbf", 0 },
	{ "surrogate U+D800", "\xed\xa0\x80", 0 },
	{ "surrogate U+DFFF", "\xed\xbf\xbf", 0 },
	{ "above U+10FFFF", "\xf4\x90\x80\x80", 0 },
	{ "F5 lead byte", "\xf5\x80\x80\x80", 0 },
	{ "FF byte", "\xff", 0 },
	{ "lone continuation byte", "\x80", 0 },
	{ "truncated at the end", "\xc3", 0 },
	{ "truncated by ASCII", "\xe2\x82(", 0 },
	{ "Latin-1 e-acute", "\xe9t\xe9", 0 },
};

static void
test_utf8(void)
{
	size_t i;
	int got;

	for (i = 0; i < nitems(utf8_cases); i++) {
		got = utf8_len(utf8_cases[i].in);
		report("utf8_len", utf8_cases[i].desc,
		    got == utf8_cases[i].want ? NULL : why("got %d, want %d "
		    "for %s", got, utf8_cases[i].want, visz(utf8_cases[i].in)));
	}
}

/* ------------------------------------------------------------------ */
/* addr_check() */

static const struct ccase {
	const char	*desc, *in, *want, *err;
} check_cases[] = {
	{ "plain address", "user@example.com", ACCEPT },
	{ "local name", "root", ACCEPT },
	{ "empty address (null sender)", "", ACCEPT },
	{ "dots, plus and subdomains", "first.last+tag@mail.example.co.uk", ACCEPT },
	{ "specials allowed in a local part", "a!b%c&d'e*f=g?h^i`j{k}l~m@x.org", ACCEPT },
	{ "upper case domain", "User@EXAMPLE.COM", ACCEPT },
	{ "hyphen in the domain", "a@mail-1.x-y.org", ACCEPT },
	{ "quoted local part with a blank", "\"a b\"@example.com", ACCEPT },
	{ "quoted local part with an escaped quote", "\"a\\\"b\"@example.com", ACCEPT },
	{ "quoted local part with , ; < > ( )", "\"a,b;c<d>e(f)\"@x.org", ACCEPT },
	{ "quoted local part with @", "\"a@b\"@x.org", ACCEPT },
	{ "empty quoted local part", "\"\"@x.org", ACCEPT },
	{ "quoted local part ending in an escaped backslash", "\"a\\\\\"@x.org", OK("") },
	{ "IPv4 address literal", "user@[192.0.2.1]", ACCEPT },
	{ "IPv6 address literal", "user@[IPv6:2001:db8::1]", ACCEPT },
	/* NOTE: the contents of an address literal are not checked. */
	{ "empty address literal is accepted (NOTE)", "user@[]", ACCEPT },
	{ "UTF-8 local part and domain (RFC 6531)", "j\xc3\xb6rg@b\xc3\xbc" "cher.example", ACCEPT },
	{ "CJK address", "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\x85\xac\xe5\x8f\xb8", ACCEPT },
	{ "four-byte UTF-8 in the local part", "\xf0\x9f\x98\x80@x.org", ACCEPT },
	{ "UTF-8 local name", "j\xc3\xb6rg", ACCEPT },
	{ "local part of 64 bytes", C64 "@x.org", ACCEPT },
	{ "address of 254 bytes", A254, ACCEPT },
	{ "local part of 65 bytes", C65 "@x.org", REFUSE("longer than 64") },
	{ "local name of 65 bytes", C65, FAIL("longer than 64") },
	{ "address of 255 bytes", A255, REFUSE("longer than 254") },
	{ "domain over 255 bytes", "a@" C250 "ccccccc", REFUSE("longer than 254") },
	{ "leading '-' (an option)", "-oQ/tmp/x@x.org", REFUSE("starts with '-'") },
	{ "a lone '-'", "-", REFUSE("starts with '-'") },
	{ "leading '-' in a local name", "-bs", REFUSE("starts with '-'") },
	{ "empty local part", "@x.org", REFUSE("local part is empty") },
	{ "empty domain", "user@", REFUSE("domain is empty") },
	{ "empty label", "a@x..y", REFUSE("empty label") },
	{ "leading dot in the domain", "a@.x.org", REFUSE("empty label") },
	{ "trailing dot in the domain", "a@x.org.", REFUSE("empty label") },
	{ "domain that is a dot", "a@.", REFUSE("empty label") },
	{ "'_' in the domain", "a@my_host.org", REFUSE("'_' in the domain") },
	{ "'/' in the domain", "a@x.org/y", REFUSE("'/' in the domain") },
	{ "']' in the domain", "a@x.org]", REFUSE("']' in the domain") },
	{ "'\"' in the domain", "a@x\"y\".org", REFUSE("in the domain") },
	{ "unterminated address literal", "a@[192.0.2.1", REFUSE("bad address literal") },
	{ "text after an address literal", "a@[192.0.2.1]x", REFUSE("bad address literal") },
	{ "nested address literal", "a@[[192.0.2.1]]", REFUSE("bad address literal") },
	{ "blank", "a b@x.org", REFUSE("' ' is not allowed") },
	{ "'<'", "a<b@x.org", REFUSE("'<' is not allowed") },
	{ "'>'", "a@x.org>", REFUSE("'>' is not allowed") },
	{ "'('", "a(b@x.org", REFUSE("'(' is not allowed") },
	{ "')'", "a)b@x.org", REFUSE("')' is not allowed") },
	{ "','", "a,b@x.org", REFUSE("',' is not allowed") },
	{ "';'", "a;b@x.org", REFUSE("';' is not allowed") },
	{ "backslash outside quotes", "a\\b@x.org", REFUSE("'\\' is not allowed") },
	{ "unbalanced quote", "\"ab@x.org", REFUSE("unbalanced quotes") },
	{ "quote closed by an escaped quote only", "\"a\\\"@x.org", REFUSE("unbalanced quotes") },
	{ "control character", "a\001b@x.org", REFUSE("control character") },
	{ "tab", "a\tb@x.org", REFUSE("control character") },
	{ "tab inside quotes", "\"a\tb\"@x.org", REFUSE("control character") },
	{ "LF", "a@x.org\n", REFUSE("control character") },
	{ "CR", "a\r@x.org", REFUSE("control character") },
	{ "DEL", "a\177@x.org", REFUSE("control character") },
	{ "invalid UTF-8 FF", "\xff@x.org", REFUSE("bad UTF-8") },
	{ "Latin-1 byte", "caf\xe9@x.org", REFUSE("bad UTF-8") },
	{ "overlong UTF-8", "\xc0\xaf@x.org", REFUSE("bad UTF-8") },
	{ "UTF-8 surrogate", "\xed\xa0\x80@x.org", REFUSE("bad UTF-8") },
	{ "UTF-8 cut at the end of the domain", "a@x.org\xc3", REFUSE("bad UTF-8") },
	/* NOTE: C1 controls (U+0080-U+009F) are valid UTF-8 and let through. */
	{ "UTF-8 C1 control U+0085 (NOTE: accepted)", "a\xc2\x85@x.org", ACCEPT },
	{ "unquoted '@' in the local part", "a@b@x.org", REFUSE("more than one '@'") },
	{ "two '@' in a row", "a@@x.org", REFUSE("more than one '@'") },
};

static void
test_check(void)
{
	const struct ccase *c;
	char err[ERR_MAX];
	size_t i;
	int rc;

	for (i = 0; i < nitems(check_cases); i++) {
		c = &check_cases[i];
		err[0] = '\0';
		rc = addr_check(c->in, err, sizeof(err));
		report("addr_check", c->desc, outcome(rc, c->in, err,
		    c->want ? c->in : NULL, c->err));
	}
}

/* ------------------------------------------------------------------ */
/* addr_parse_list() */

static const struct pcase {
	const char	*desc, *in, *want, *err;
} parse_cases[] = {
	{ "one address", "a@x.org", OK("a@x.org") },
	{ "two addresses", "a@x.org, b@y.org", OK("a@x.org|b@y.org") },
	{ "no blank after the comma", "a@x.org,b@y.org", OK("a@x.org|b@y.org") },
	{ "blanks and tabs around", "  a@x.org \t,\t b@y.org  ", OK("a@x.org|b@y.org") },
	{ "unfolded list (LF made a blank)", "a@x.org,  b@y.org,\t c@z.org", OK("a@x.org|b@y.org|c@z.org") },
	{ "folded list is refused: the caller unfolds", "a@x.org,\r\n b@y.org", FAIL("control character") },
	{ "LF alone is refused too", "a@x.org,\n b@y.org", FAIL("control character") },
	{ "semicolon separates too", "a@x.org; b@y.org", OK("a@x.org|b@y.org") },
	{ "empty list", "", OK("") },
	{ "blanks only", " \t ", OK("") },
	{ "empty elements only", ",,", OK("") },
	{ "empty elements between", "a@x.org,,, b@y.org", OK("a@x.org|b@y.org") },
	{ "leading and trailing commas", ",a@x.org,", OK("a@x.org") },
	{ "local name", "root", OK("root") },
	{ "trailing comment", "a@x.org (Alice)", OK("a@x.org") },
	{ "leading comment", "(Alice) a@x.org", OK("a@x.org") },
	{ "comment in the middle", "a@x.org(Alice), b@y.org", OK("a@x.org|b@y.org") },
	{ "nested comment", "a@x.org (Alice (the) Admin)", OK("a@x.org") },
	{ "deeply nested comment", "a@x.org (1 (2 (3 (4) 3) 2) 1)", OK("a@x.org") },
	{ "escaped ')' in a comment", "a@x.org (Alice \\) smile)", OK("a@x.org") },
	{ "escaped '(' in a comment", "a@x.org (Alice \\( x)", OK("a@x.org") },
	{ "comma, semicolon and <> in a comment", "a@x.org (x, y; <z@w.org>)", OK("a@x.org") },
	{ "quote in a comment", "a@x.org (\"), b@y.org", OK("a@x.org|b@y.org") },
	{ "comment of 300 bytes", "a@x.org (" C300 ")", OK("a@x.org") },
	{ "comment then comma", "a@x.org (c) , b@y.org", OK("a@x.org|b@y.org") },
	{ "Name <addr>", "Alice <a@x.org>", OK("a@x.org") },
	{ "two names", "Alice Smith <a@x.org>, Bob <b@y.org>", OK("a@x.org|b@y.org") },
	{ "tab before <", "Alice\t<a@x.org>", OK("a@x.org") },
	{ "no blank before <", "Alice<a@x.org>", OK("a@x.org") },
	{ "quoted name with a comma", "\"Last, First\" <a@x.org>", OK("a@x.org") },
	{ "quoted names with , and ;", "\"Last, First\" <a@x.org>, \"x;y\" <b@y.org>", OK("a@x.org|b@y.org") },
	{ "quoted name holding an address", "\"<fake@evil.org>\" <real@x.org>", OK("real@x.org") },
	{ "quoted name with an escaped quote", "\"a \\\"b\\\" c\" <a@x.org>", OK("a@x.org") },
	{ "name that looks like an address", "a@x.org <b@y.org>", OK("b@y.org") },
	{ "RFC 2047 name", "=?UTF-8?B?w6k=?= <a@x.org>", OK("a@x.org") },
	{ "UTF-8 name", "J\xc3\xb6rg <j@x.org>", OK("j@x.org") },
	{ "quoted name of 300 bytes", "\"" C300 "\" <a@x.org>", OK("a@x.org") },
	{ "<addr> alone", "<a@x.org>", OK("a@x.org") },
	{ "blanks inside <>", "< a@x.org >", OK("a@x.org") },
	{ "null address <>", "<>", OK("<>") },
	{ "Name <>", "Nobody <>", OK("<>") },
	{ "comment after <addr>", "<a@x.org> (Alice)", OK("a@x.org") },
	{ "quoted local part with a blank", "\"a b\"@x.org", OK("\"a b\"@x.org") },
	{ "quoted local part with an escaped quote", "\"a\\\"b\"@x.org", OK("\"a\\\"b\"@x.org") },
	{ "quoted local part with a comma", "\"a,b\"@x.org, c@y.org", OK("\"a,b\"@x.org|c@y.org") },
	{ "quoted local part with <>", "\"a<b>\"@x.org", OK("\"a<b>\"@x.org") },
	{ "quoted local part with a colon", "\"a:b\"@x.org", OK("\"a:b\"@x.org") },
	{ "quoted local part with ( )", "\"a(b)\"@x.org", OK("\"a(b)\"@x.org") },
	{ "empty quoted local part", "\"\"@x.org", OK("\"\"@x.org") },
	{ "quoted local part in <>", "<\"a b\"@x.org>", OK("\"a b\"@x.org") },
	{ "quoted '>' in <>", "<\"a>b\"@x.org>", OK("\"a>b\"@x.org") },
	{ "quoted ',' in <> then another", "Name <\"a,b\"@x.org>, c@y.org", OK("\"a,b\"@x.org|c@y.org") },
	{ "group with no members", "undisclosed-recipients:;", OK("") },
	{ "group with no members and blanks", "undisclosed-recipients: ;", OK("") },
	{ "group with members", "friends: a@x.org, b@y.org;", OK("a@x.org|b@y.org") },
	{ "group then an address", "friends: a@x.org, b@y.org;, c@z.org", OK("a@x.org|b@y.org|c@z.org") },
	{ "group with a Name <addr>", "friends: Alice <a@x.org>;", OK("a@x.org") },
	{ "two groups", "g1: a@x.org; g2: b@y.org;", OK("a@x.org|b@y.org") },
	{ "quoted group name with ':'", "\"Group: name\": a@x.org;", OK("a@x.org") },
	/* NOTE: lenient: a group without its ';' is taken as it is. */
	{ "group without ';' (NOTE: accepted)", "friends: a@x.org, b@y.org", OK("a@x.org|b@y.org") },
	{ "group name of 300 bytes", C300 ": a@x.org;", OK("a@x.org") },
	{ "source route", "<@r1.org,@r2.org:u@d.org>", OK("u@d.org") },
	{ "source route with a name", "Name <@r1.org:u@d.org>", OK("u@d.org") },
	{ "source route without ':'", "<@r1.org>", FAIL("local part is empty") },
	{ "exact duplicate", "a@x.org, a@x.org", OK("a@x.org") },
	{ "duplicate but for domain case", "a@x.org, a@X.ORG", OK("a@x.org") },
	{ "duplicate in <> with a name", "Alice <a@x.org>, a@X.org", OK("a@x.org") },
	{ "local parts differing in case are two", "A@x.org, a@x.org", OK("A@x.org|a@x.org") },
	{ "duplicate local name", "root, root", OK("root") },
	{ "local names differing in case", "root, ROOT", OK("root|ROOT") },
	{ "local name and qualified are two", "root, root@x.org", OK("root|root@x.org") },
	{ "UTF-8 address", "j\xc3\xb6rg@b\xc3\xbc" "cher.example", OK("j\xc3\xb6rg@b\xc3\xbc" "cher.example") },
	{ "UTF-8 address in <>", "J <j\xc3\xb6rg@x.org>", OK("j\xc3\xb6rg@x.org") },
	{ "IPv4 literal", "a@[192.0.2.1]", OK("a@[192.0.2.1]") },
	{ "IPv6 literal in <>", "<a@[IPv6:2001:db8::1]>", OK("a@[IPv6:2001:db8::1]") },
	{ "IPv6 literal, bare", "a@[IPv6:2001:db8::1]", OK("a@[IPv6:2001:db8::1]") },
	{ "254-byte address", A254, OK(A254) },
	{ "254-byte address in <>", "<" A254 ">", OK(A254) },
	{ "control character", "a@x.org\001", FAIL("control character") },
	{ "control character in a comment", "a@x.org (\002)", FAIL("control character") },
	{ "control character in quotes", "\"a\033b\"@x.org", FAIL("control character") },
	{ "DEL", "a@x.org\177", FAIL("control character") },
	{ "unbalanced <", "<a@x.org", FAIL("unbalanced <>") },
	/* unit-asan: the address before the bad one must not leak. */
	{ "bad address after a good one", "a@x.org, <b@y.org", FAIL("unbalanced <>") },
	{ "unbalanced < after a name", "Alice <a@x.org", FAIL("unbalanced <>") },
	{ "unbalanced < in the second", "a@x.org, <b@y.org", FAIL("unbalanced <>") },
	{ "unbalanced >", "a@x.org>", FAIL("'>' is not allowed") },
	{ "<< >>", "<<a@x.org>>", FAIL("text after <address>") },
	{ "unbalanced (", "a@x.org (Alice", FAIL("unbalanced parenthesis") },
	{ "unbalanced nested (", "a@x.org (Alice (x)", FAIL("unbalanced parenthesis") },
	{ "( closed only by an escaped )", "a@x.org (Alice \\)", FAIL("unbalanced parenthesis") },
	{ "unbalanced )", "a@x.org)", FAIL("')' is not allowed") },
	{ "unbalanced quote", "\"a b@x.org", FAIL("unbalanced quotes") },
	{ "quote closed only by an escaped quote", "\"a\\\"@x.org", FAIL("unbalanced quotes") },
	{ "unbalanced quote in a name", "\"Alice <a@x.org>", FAIL("unbalanced quotes") },
	{ "two <> in one mailbox", "<a@x.org> <b@y.org>", FAIL("two <addresses>") },
	{ "two names with <> without a comma", "Alice <a@x.org> Bob <b@y.org>", FAIL("text after <address>") },
	{ "address after <addr> without a comma", "<a@x.org> b@y.org", FAIL("") },
	{ "name without an address", "Alice Smith", FAIL("a name needs <address>") },
	{ "two addresses without a comma", "a@x.org b@y.org", FAIL("a name needs <address>") },
	{ "comment between two addresses", "a@x.org (c) b@y.org", FAIL("a name needs <address>") },
	{ "control character in <>", "<a\001@x.org>", FAIL("control character") },
	{ "leading '-' in <>", "<-oQ@x.org>", FAIL("starts with '-'") },
	{ "leading '-' bare", "a@x.org, -f@x.org", FAIL("starts with '-'") },
	{ "local part over 64", C65 "@x.org", FAIL("longer than 64") },
	{ "255-byte address in <>", "<" A255 ">", FAIL("longer than 254") },
	{ "over-long address in <>", "<" C300 "@x.org>", FAIL("longer than 254") },
	{ "over-long bare address", C300 "@x.org", FAIL("longer than 254") },
	{ "empty label", "a@x..org", FAIL("empty label") },
	{ "leading dot in the domain", "a@.x.org", FAIL("empty label") },
	{ "trailing dot", "a@x.org.", FAIL("empty label") },
	{ "empty domain", "a@x.org, b@", FAIL("domain is empty") },
	{ "empty local part", "@x.org", FAIL("local part is empty") },
	{ "invalid UTF-8", "\xff@x.org", FAIL("bad UTF-8") },
	{ "invalid UTF-8 in the second", "a@x.org, \xc3\x41@y.org", FAIL("bad UTF-8") },
	{ "two '@'", "a@b@x.org", FAIL("more than one '@'") },
	{ "unterminated address literal", "a@[192.0.2.1", FAIL("unbalanced [") },
};

static void
test_parse(void)
{
	const struct pcase *c;
	struct addrlist l;
	char err[ERR_MAX];
	size_t i;
	int rc;

	for (i = 0; i < nitems(parse_cases); i++) {
		c = &parse_cases[i];
		memset(&l, 0, sizeof(l));
		err[0] = '\0';
		rc = addr_parse_list(c->in, &l, err, sizeof(err));
		report("addr_parse_list", c->desc, outcome(rc,
		    join(&l), err, c->want, c->err));
		addrlist_free(&l);
	}
}

/* ------------------------------------------------------------------ */
/* addr_sender() */

static const struct scase {
	const char	*desc, *in, *want, *err;
} sender_cases[] = {
	{ "empty is the null sender", "", OK("") },
	{ "<> is the null sender", "<>", OK("") },
	{ "<> with blanks", "  <>  ", OK("") },
	{ "address", "a@x.org", OK("a@x.org") },
	{ "address in <>", "<a@x.org>", OK("a@x.org") },
	{ "Name <addr>", "Alice Example <a@x.org>", OK("a@x.org") },
	{ "addr (Comment)", "a@x.org (Alice)", OK("a@x.org") },
	{ "local name is qualified", "user", OK("user@example.org") },
	{ "local name in <> is qualified", "<user>", OK("user@example.org") },
	{ "UTF-8 local name is qualified", "j\xc3\xb6rg", OK("j\xc3\xb6rg@example.org") },
	{ "user@localhost is kept", "user@localhost", OK("user@localhost") },
	{ "quoted local part", "\"a b\"@x.org", OK("\"a b\"@x.org") },
	{ "source route", "<@r.org:a@x.org>", OK("a@x.org") },
	{ "the same address twice is one", "a@x.org, a@X.org", OK("a@x.org") },
	{ "two addresses", "a@x.org, b@y.org", FAIL("more than one sender") },
	{ "two in a group", "g: a@x.org, b@y.org;", FAIL("more than one sender") },
	{ "unbalanced <", "<a@x.org", FAIL("unbalanced <>") },
	/* unit-asan: the address before the bad one must not leak. */
	{ "bad address after a good one", "a@x.org, <b@y.org", FAIL("unbalanced <>") },
	{ "leading '-'", "-oQ", FAIL("starts with '-'") },
	{ "control character", "a\n@x.org", FAIL("control character") },
	{ "name without an address", "Alice Smith", FAIL("a name needs <address>") },
	{ "local name too long once qualified", C250, FAIL("longer than 64") },
	{ "local name of 65 bytes", C65, FAIL("longer than 64") },
};

static void
test_sender(void)
{
	const struct scase *c;
	char err[ERR_MAX], out[ADDR_MAX + 64];
	size_t i;
	int rc;

	for (i = 0; i < nitems(sender_cases); i++) {
		c = &sender_cases[i];
		err[0] = '\0';
		strlcpy(out, "(unset)", sizeof(out));
		rc = addr_sender(c->in, out, sizeof(out), err, sizeof(err));
		report("addr_sender", c->desc, outcome(rc, out, err,
		    c->want, c->err));
	}
}

/* ------------------------------------------------------------------ */
/* addr_errors_to() */

static const struct {
	const char	*desc, *admin, *raw, *sender, *want;
} errors_to_cases[] = {
	{ "no admin: bounces go to the sender", NULL, "root", "root@example.org", "" },
	{ "local sender with admin", "ops@example.com", "root", "root@example.org", "postmaster" },
	{ "sender at localhost with admin", "ops@example.com", "root@localhost", "root@localhost", "postmaster" },
	{ "sender at this host with admin", "ops@example.com", "a@mybox.example.net", "a@mybox.example.net", "postmaster" },
	{ "remote sender with admin", "ops@example.com", "a@x.org", "a@x.org", "" },
	{ "null sender with admin", "ops@example.com", "", "", "" },
};

static void
test_errors_to(void)
{
	char out[ADDR_MAX];
	size_t i;

	for (i = 0; i < nitems(errors_to_cases); i++) {
		conf.admin = (char *)errors_to_cases[i].admin;
		strlcpy(out, "(unset)", sizeof(out));
		addr_errors_to(errors_to_cases[i].raw, errors_to_cases[i].sender,
		    out, sizeof(out));
		report("addr_errors_to", errors_to_cases[i].desc,
		    strcmp(out, errors_to_cases[i].want) == 0 ? NULL :
		    why("got %s, want %s", visz(out),
		    visz(errors_to_cases[i].want)));
	}
	conf.admin = NULL;
}

/* ------------------------------------------------------------------ */
/* addr_rcpt(), without and with aliases */

#define ADMIN_ADDR	"ops@example.com"
#define ADMIN_NAME	"sysadmin"

/* in is one address or several separated by '|', added in turn. */
static const struct rcase {
	const char	*desc, *admin, *in, *want, *err;
} rcpt_cases[] = {
	{ "local name qualified with domain", NULL, "root", OK("root@example.org") },
	{ "local name case kept", NULL, "Root", OK("Root@example.org") },
	{ "the same local name twice", NULL, "root|root", OK("root@example.org") },
	{ "user@localhost is local", NULL, "root@localhost", OK("root@example.org") },
	{ "user@LOCALHOST is local", NULL, "root@LOCALHOST", OK("root@example.org") },
	{ "user@localhost.localdomain is local", NULL, "root@localhost.localdomain", OK("root@example.org") },
	{ "user@hostname is local", NULL, "root@mybox.example.net", OK("root@example.org") },
	{ "user@HOSTNAME in another case is local", NULL, "root@MyBox.Example.NET", OK("root@example.org") },
	{ "name and name@localhost are one", NULL, "root|root@localhost", OK("root@example.org") },
	/* NOTE: only the full host name is this host. */
	{ "short host name is remote (NOTE)", NULL, "root@mybox", OK("root@mybox") },
	{ "the mail domain itself is remote", NULL, "root@example.org", OK("root@example.org") },
	{ "remote address kept", NULL, "a@remote.org", OK("a@remote.org") },
	{ "remote address case kept", NULL, "A@Remote.ORG", OK("A@Remote.ORG") },
	{ "remote duplicate but for domain case", NULL, "a@remote.org|a@REMOTE.org", OK("a@remote.org") },
	{ "remote local parts differing in case", NULL, "a@remote.org|A@remote.org", OK("a@remote.org|A@remote.org") },
	{ "IPv4 literal kept", NULL, "a@[192.0.2.1]", OK("a@[192.0.2.1]") },
	{ "UTF-8 local name qualified", NULL, "j\xc3\xb6rg", OK("j\xc3\xb6rg@example.org") },
	{ "quoted local name qualified", NULL, "\"a b\"", OK("\"a b\"@example.org") },
	{ "quoted local name with '@' qualified", NULL, "\"a@b\"", OK("\"a@b\"@example.org") },
	{ "local name of 64 bytes", NULL, C64, OK(C64 "@example.org") },
	{ "local name too long once qualified", NULL, C250, FAIL("is too long") },
	{ "empty address", NULL, "", FAIL("empty recipient address") },
	{ "admin address takes local names", ADMIN_ADDR, "root", OK(ADMIN_ADDR) },
	{ "admin address takes every local name once", ADMIN_ADDR, "root|daemon|www-data@localhost|x@mybox.example.net", OK(ADMIN_ADDR) },
	{ "admin address leaves remote alone", ADMIN_ADDR, "a@remote.org", OK("a@remote.org") },
	{ "admin address and a remote", ADMIN_ADDR, "root|a@remote.org", OK(ADMIN_ADDR "|a@remote.org") },
	{ "admin name is qualified", ADMIN_NAME, "root", OK(ADMIN_NAME "@example.org") },
	{ "admin name for user@hostname", ADMIN_NAME, "nobody@mybox.example.net", OK(ADMIN_NAME "@example.org") },
	{ "admin name and local name given", ADMIN_NAME, ADMIN_NAME, OK(ADMIN_NAME "@example.org") },
};

/*
 * The aliases file for rcpt_alias_cases, in /etc/aliases syntax: m0..m7
 * nest 8 deep (ALIAS_DEPTH), n0..n8 one deeper.
 */
static const char aliases_fixture[] =
	"# aliases for tests/unit\n"
	"root: root, ops@example.org\n"
	"postmaster:\troot\n"
	"Staff: alice, bob@example.net,\n"
	"  carol,\n"
	"\tdave@localhost\n"
	"\n"
	"team: staff, eve@example.com\n"
	"# a comment between entries\n"
	"loopa: loopb\n"
	"loopb: loopa, x@example.com\n"
	"self: self\n"
	"m0: m1\nm1: m2\nm2: m3\nm3: m4\nm4: m5\nm5: m6\nm6: m7\n"
	"m7: last@example.com\n"
	"n0: n1\nn1: n2\nn2: n3\nn3: n4\nn4: n5\nn5: n6\nn6: n7\nn7: n8\n"
	"n8: deep@example.com\n"
	"hostalias: info@mybox.example.net\n"
	"info: help@example.com\n"
	"quoted: \"a b\"@example.com, Name <named@example.com>\n"
	"grouped: friends: g1@example.com, g2@example.com;\n"
	"local: lcl@localhost\n"
	"commented: c1@example.com (one),\n"
	"# a comment inside a continued entry\n"
	"  c2@example.com\n";

static const struct rcase rcpt_alias_cases[] = {
	{ "self-reference goes to the name itself", NULL, "root", OK("root@example.org|ops@example.org") },
	{ "self-reference with admin address", ADMIN_ADDR, "root", OK(ADMIN_ADDR "|ops@example.org") },
	{ "self-reference with admin name", ADMIN_NAME, "root", OK(ADMIN_NAME "@example.org|ops@example.org") },
	{ "alias names match in any case", NULL, "ROOT", OK("root@example.org|ops@example.org") },
	{ "nested alias", NULL, "postmaster", OK("root@example.org|ops@example.org") },
	{ "alias@localhost", NULL, "postmaster@localhost", OK("root@example.org|ops@example.org") },
	{ "alias@hostname", NULL, "Postmaster@mybox.example.net", OK("root@example.org|ops@example.org") },
	{ "alias@domain is remote, not expanded", NULL, "root@example.org", OK("root@example.org") },
	{ "continuation lines", NULL, "staff", OK("alice@example.org|bob@example.net|carol@example.org|dave@example.org") },
	{ "name defined in another case", NULL, "STAFF@LOCALHOST", OK("alice@example.org|bob@example.net|carol@example.org|dave@example.org") },
	{ "continuation with admin name", ADMIN_NAME, "staff", OK(ADMIN_NAME "@example.org|bob@example.net") },
	{ "alias of an alias", NULL, "team", OK("alice@example.org|bob@example.net|carol@example.org|dave@example.org|eve@example.com") },
	{ "loop a->b->a", NULL, "loopa", OK("loopa@example.org|x@example.com") },
	{ "loop b->a->b", NULL, "loopb", OK("loopb@example.org|x@example.com") },
	{ "loop with admin address", ADMIN_ADDR, "loopa", OK(ADMIN_ADDR "|x@example.com") },
	{ "alias to itself only", NULL, "self", OK("self@example.org") },
	{ "nested ALIAS_DEPTH deep", NULL, "m0", OK("last@example.com") },
	{ "nested one deeper than ALIAS_DEPTH", NULL, "n0", FAIL("nested more than 8 deep") },
	{ "nested ALIAS_DEPTH deep from the middle", NULL, "n1", OK("deep@example.com") },
	{ "target at this host is expanded again", NULL, "hostalias", OK("help@example.com") },
	{ "quoted and named targets", NULL, "quoted", OK("\"a b\"@example.com|named@example.com") },
	{ "group target", NULL, "grouped", OK("g1@example.com|g2@example.com") },
	{ "target at localhost qualified", NULL, "local", OK("lcl@example.org") },
	{ "comments in and between continuation lines", NULL, "commented", OK("c1@example.com|c2@example.com") },
	{ "a name that is no alias", NULL, "nobody", OK("nobody@example.org") },
	{ "duplicates across aliases are merged", NULL, "root|postmaster|ops@EXAMPLE.org", OK("root@example.org|ops@example.org") },
};

static void
run_rcpt(const char *area, const struct rcase *c)
{
	struct addrlist l = { 0 };
	char err[ERR_MAX], *s, *p, *next;
	int rc = 0;

	conf.admin = (char *)c->admin;
	err[0] = '\0';
	s = xstrdup(c->in);
	for (p = s; p != NULL && rc == 0; p = next) {
		if ((next = strchr(p, '|')) != NULL)
			*next++ = '\0';
		rc = addr_rcpt(p, &l, err, sizeof(err));
	}
	free(s);
	report(area, c->desc, outcome(rc, join(&l), err, c->want,
	    c->err));
	addrlist_free(&l);
	conf.admin = NULL;
}

static void
test_rcpt(void)
{
	size_t i;

	for (i = 0; i < nitems(rcpt_cases); i++)
		run_rcpt("addr_rcpt", &rcpt_cases[i]);
}

/* ------------------------------------------------------------------ */
/* aliases_load(), then addr_rcpt() with aliases */

/*
 * Files aliases_load() must refuse, with "FILE:LINE: " and a reason.
 * Every file names its own aliases: the table keeps the entries read
 * before the bad line.
 */
static const struct {
	const char	*desc, *text;
	int		 line;
	const char	*err;
} alias_bad_cases[] = {
	{ "pipe", "pipe1: |/bin/cmd\n", 1, "pipes, files and :include:" },
	{ "pipe with arguments, quoted", "ok2: ok2@x.org\npipe2: \"|/usr/bin/cmd -x\"\n", 2, "pipe2: \"|/usr/bin/cmd -x\": pipes, files and :include:" },
	{ "pipe after an address", "pipe3: a@x.org, |cmd\n", 1, "pipes, files and :include:" },
	{ "file", "file4: /var/mail/x\n", 1, "pipes, files and :include:" },
	{ "quoted file", "file5: \"/var/mail/x\"\n", 1, "pipes, files and :include:" },
	{ ":include: absolute", "inc6: :include:/etc/mail/list\n", 1, "pipes, files and :include:" },
	{ ":include: relative", "inc7: :include:lists/staff\n", 1, ":include:" },
	{ ":include: in a continuation line", "inc8: a@x.org,\n  :include:/x\n", 1, "pipes, files and :include:" },
	{ "line without ':'", "# c\nnocolon9 a@x.org\n", 2, "no ':' after the alias name" },
	{ "duplicate name", "dup10: a@x.org\n# c\ndup10: b@x.org\n", 3, "alias dup10 is defined twice" },
	{ "duplicate name in another case", "DUP11: a@x.org\ndup11: b@x.org\n", 2, "defined twice" },
	{ "continuation line first", "  orphan12@x.org\n", 1, "continuation line without an alias above" },
	{ "continuation after a blank line", "ok13: a@x.org\n\n\torphan13@x.org\n", 3, "continuation line without an alias above" },
	{ "continuation after a comment only", "# c\n  orphan14@x.org\n", 2, "continuation line without an alias above" },
	{ "no address", "empty15:\n", 1, "has no address" },
	{ "only <>", "null16: <>\n", 1, "has no address" },
	{ "bad address", "bad17: <a@x.org\n", 1, "bad17: unbalanced <>" },
	{ "name with '@'", "bad18@x.org: a@x.org\n", 1, "bad alias name" },
	{ "name with a blank", "bad 19: a@x.org\n", 1, "bad alias name" },
	{ "empty name", ": a@x.org\n", 1, "bad alias name" },
	{ "name over 64 bytes", C65 ": a@x.org\n", 1, "bad alias name" },
	{ "line over 1024 bytes", "long22: " C1000 C50 "\n", 1, "longer than 1024" },
	{ "bad entry over lines names its first", "multi23: a@x.org,\n  b@y.org,\n  |cmd\n", 1, "pipes, files" },
	{ "bad entry after a good one", "ok24: a@x.org\nok24b: b@x.org\nbad24: a b\n", 3, "a name needs <address>" },
	/* NOTE: a CRLF file is refused, not misread. */
	{ "CRLF line end (NOTE: refused)", "crlf25: a@x.org\r\n", 1, "control character" },
	{ "inline '#' is not a comment", "hash26: a@x.org # c\n", 1, "a name needs <address>" },
};

static int
write_file(const char *path, const char *data, size_t len)
{
	int fd;
	ssize_t w;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return -1;
	w = write(fd, data, len);
	close(fd);
	return w == (ssize_t)len ? 0 : -1;
}

static void
test_aliases(void)
{
	char path[4200], err[ERR_MAX], prefix[4300];
	const char *reason;
	size_t i;
	int rc;

	/* The good file first: its names must not be taken by the bad ones. */
	snprintf(path, sizeof(path), "%s/aliases", spool);
	err[0] = '\0';
	if (write_file(path, aliases_fixture, strlen(aliases_fixture)) == -1)
		rc = -1, snprintf(err, sizeof(err), "%s: %s", path,
		    strerror(errno));
	else
		rc = aliases_load(path, err, sizeof(err));
	report("aliases_load", "the test file loads", rc == 0 ? NULL :
	    why("got %s", visz(err)));
	report("aliases_load", "alias_find matches in any case",
	    alias_find("sTaFf") != NULL && alias_find("staf") == NULL &&
	    alias_find("nobody") == NULL ? NULL : why("got a wrong match"));

	for (i = 0; i < nitems(rcpt_alias_cases); i++)
		run_rcpt("addr_rcpt+aliases", &rcpt_alias_cases[i]);

	for (i = 0; i < nitems(alias_bad_cases); i++) {
		snprintf(path, sizeof(path), "%s/aliases.%zu", spool, i);
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path,
		    alias_bad_cases[i].line);
		err[0] = '\0';
		if (write_file(path, alias_bad_cases[i].text,
		    strlen(alias_bad_cases[i].text)) == -1) {
			report("aliases_load", alias_bad_cases[i].desc,
			    why("cannot write %s", path));
			continue;
		}
		rc = aliases_load(path, err, sizeof(err));
		if (rc == 0)
			reason = why("got success, want %s...%s", visz(prefix),
			    visz(alias_bad_cases[i].err));
		else if (strncmp(err, prefix, strlen(prefix)) != 0 ||
		    strstr(err, alias_bad_cases[i].err) == NULL)
			reason = why("got %s, want %s...%s", visz(err),
			    visz(prefix), visz(alias_bad_cases[i].err));
		else
			reason = NULL;
		report("aliases_load", alias_bad_cases[i].desc, reason);
		unlink(path);
	}

	snprintf(path, sizeof(path), "%s/no-such-file", spool);
	err[0] = '\0';
	rc = aliases_load(path, err, sizeof(err));
	report("aliases_load", "missing file", rc == -1 &&
	    strstr(err, "unable to open aliases file") != NULL &&
	    strstr(err, path) != NULL ? NULL : why("got rc %d, %s", rc,
	    visz(err)));
}

/* ------------------------------------------------------------------ */
/* msg_read() */

/* intake and test flags */
#define F_T	0x01	/* -t: intake.extract */
#define F_DOT	0x02	/* no -i: intake.dot_ends */
#define F_SMTP	0x04	/* -bs DATA: intake.smtp */
#define F_RW	0x08	/* conf.rewrite_from */
#define F_PIPE	0x10	/* input through a pipe, a byte at a time */

/* msginfo as flags, to compare at once */
#define I_8BIT	0x01
#define I_UTF8	0x02
#define I_LONG	0x04
#define I_ANY	(-1)	/* do not compare */

#define HEADER_FROM	"me@example.org"
#define SENDER		"alerts@example.com"

/* What msg_read() adds when missing, in its order. */
#define A_FROM	"From: " HEADER_FROM "\n"
#define A_DATE	"Date: " ANY "\n"
#define A_MID	"Message-ID: " ANY "\n"
#define ADDED	A_FROM A_DATE A_MID
/* What requote() adds, with a Content-Type when there was none. */
#define QP_MIME	"MIME-Version: 1.0\n"
#define QP_CTE	"Content-Transfer-Encoding: quoted-printable\n"
#define QP_ASCII QP_MIME "Content-Type: text/plain; charset=us-ascii\n" QP_CTE
#define QP_UTF8	QP_MIME "Content-Type: text/plain; charset=utf-8\n" QP_CTE
/* Date and Message-ID given, so that nothing else is added. */
#define DM	"Date: d\nMessage-ID: <m@x.org>\n"

typedef const char *checkfn(const char *, size_t, const char *, size_t,
    const struct qw *);
typedef char *genfn(size_t *);

struct mcase {
	const char	*desc;
	int		 flags;
	const char	*in;		/* the input, or: */
	size_t		 inlen;		/* 0: strlen(in) */
	genfn		*gen;		/* input made by a function */
	const char	*fullname;	/* intake.fullname */
	const char	*sender;	/* intake.sender */
	int		 rc;		/* msg_read()'s result */
	const char	*err;		/* part of err when rc != 0 */
	const char	*rcpts;		/* "a|b"; NULL is none */
	int		 nrcpt;		/* or, when not 0, their number */
	int		 info;		/* I_ flags */
	const char	*out;		/* the stored message, with ANY */
	const char	*head;		/* or its header section and empty line */
	checkfn		*check;		/* more checks of the stored message */
	const char	*rest;		/* next line of the input (in_command) */
};

/* Generated inputs: repeated bytes, words, and whole messages. */

static char *
gen_alloc(size_t cap)
{
	return xmalloc(cap);
}

static size_t
put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return n;
}

static size_t
put_rep(char *p, int c, size_t n)
{
	memset(p, c, n);
	return n;
}

/* n bytes of words, "w0000001 w0000002 ...", not ending in a blank. */
static size_t
put_words(char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = i % 9 == 8 ? ' ' : (char)('a' + (i / 9) % 26);
	if (n > 0 && p[n - 1] == ' ')
		p[n - 1] = 'z';
	return n;
}

/* "From: ...\n" DM "Subject: " + words, so that the line is len bytes. */
static char *
gen_subject(size_t len, size_t *lenp)
{
	char *b = gen_alloc(len + 256), *p = b;

	p += put_str(p, "From: f@x.org\n" DM "Subject: ");
	p += put_words(p, len - 9);
	p += put_str(p, "\n\nbody\n");
	*lenp = (size_t)(p - b);
	return b;
}

static char *gen_subject998(size_t *l) { return gen_subject(998, l); }
static char *gen_subject999(size_t *l) { return gen_subject(999, l); }
static char *gen_subject5000(size_t *l) { return gen_subject(5000, l); }

/* One header line of len bytes without any blank. */
static char *
gen_noblank(size_t *lenp)
{
	char *b = gen_alloc(4096), *p = b;

	p += put_str(p, "From: f@x.org\n" DM "X-Token:");
	p += put_rep(p, 'a', 2500);
	p += put_str(p, "\n\nbody\n");
	*lenp = (size_t)(p - b);
	return b;
}

/* A folded field whose continuation line is long. */
static char *
gen_longcont(size_t *lenp)
{
	char *b = gen_alloc(4096), *p = b;

	p += put_str(p, "From: f@x.org\n" DM "Subject: short\n\t");
	p += put_words(p, 1500);
	p += put_str(p, "\nX-After: 1\n\nbody\n");
	*lenp = (size_t)(p - b);
	return b;
}

/* A folded Subject of total bytes: "Subject: x" and continuation lines. */
static char *
gen_field(size_t total, const char *tail, size_t *lenp)
{
	char *b = gen_alloc(total + 4096), *p = b;
	size_t flen = 10, n;

	p += put_str(p, "To: a@x.org\nSubject: x");
	while (flen < total) {
		n = total - flen - 1;	/* the LF of the fold */
		if (n > 1000)
			n = 1000;
		p += put_str(p, "\n ");
		p += put_rep(p, 'y', n - 1);
		flen += 1 + n;
	}
	p += put_str(p, tail);
	*lenp = (size_t)(p - b);
	return b;
}

static char *gen_field_max(size_t *l) { return gen_field(HEADER_MAX, "\nCc: b@y.org\n\nbody\n", l); }
static char *gen_field_max1(size_t *l) { return gen_field(HEADER_MAX + 1, "\nCc: b@y.org\n\nbody\n", l); }
static char *gen_field_badto(size_t *l) { return gen_field(HEADER_MAX + 1, "\nTo: <bad\n\nbody\n", l); }

/* One physical header line of len bytes. */
static char *
gen_line(size_t len, size_t *lenp)
{
	char *b = gen_alloc(len + 256), *p = b;

	p += put_str(p, "X: ");
	p += put_rep(p, 'a', len - 3);
	p += put_str(p, "\n\nbody\n");
	*lenp = (size_t)(p - b);
	return b;
}

static char *gen_line_max(size_t *l) { return gen_line(HEADER_MAX, l); }
static char *gen_line_max1(size_t *l) { return gen_line(HEADER_MAX + 1, l); }

/* A continuation line longer than HEADER_MAX, then a Bcc. */
static char *
gen_cont_over(size_t *lenp)
{
	char *b = gen_alloc(HEADER_MAX + 4096), *p = b;

	p += put_str(p, "To: a@x.org\nSubject: x\n ");
	p += put_rep(p, 'a', HEADER_MAX + 100);
	p += put_str(p, "\nBcc: secret@example.com\n\nbody\n");
	*lenp = (size_t)(p - b);
	return b;
}

/*
 * The input read() gives in pieces of 65536 bytes: put a CR as the last
 * byte of the first piece, and c (LF, or another byte) as the first of
 * the next.
 */
static char *
gen_split(int c, size_t *lenp)
{
	char *b = gen_alloc(65536 + 256), *p = b;
	const char *hdr = "Subject: x\r\n\r\n";

	p += put_str(p, hdr);
	while ((size_t)(p - b) + 80 <= 65535) {	/* short lines, up to... */
		p += put_rep(p, 'b', 78);
		p += put_str(p, "\r\n");
	}
	p += put_rep(p, 'b', 65535 - (size_t)(p - b));
	*p++ = '\r';			/* ...the CR at offset 65535 */
	*p++ = (char)c;
	p += put_str(p, "next\r\n");
	*lenp = (size_t)(p - b);
	return b;
}

static char *gen_split_crlf(size_t *l) { return gen_split('\n', l); }
static char *gen_split_cr(size_t *l) { return gen_split('x', l); }

/* A body line of len bytes, after headers or as the first line. */
static char *
gen_body(size_t len, int header, const char *eol, size_t *lenp)
{
	char *b = gen_alloc(len + 256), *p = b;

	if (header)
		p += put_str(p, "Subject: x\n\n");
	p += put_rep(p, 'b', len);
	p += put_str(p, eol);
	p += put_str(p, "end\n");
	*lenp = (size_t)(p - b);
	return b;
}

static char *gen_body998(size_t *l) { return gen_body(998, 1, "\n", l); }
static char *gen_body998crlf(size_t *l) { return gen_body(998, 1, "\r\n", l); }
static char *gen_body999(size_t *l) { return gen_body(999, 1, "\n", l); }

static char *
gen_fields(int n, size_t *lenp)
{
	char *b = gen_alloc((size_t)n * 16 + 64), *p = b;
	int i;

	for (i = 0; i < n; i++)
		p += sprintf(p, "X-%d: v\n", i);
	p += put_str(p, "\nbody\n");
	*lenp = (size_t)(p - b);
	return b;
}

static char *gen_fields1000(size_t *l) { return gen_fields(HEADERS_MAX, l); }
static char *gen_fields1001(size_t *l) { return gen_fields(HEADERS_MAX + 1, l); }

/* -t recipients: n in one To, or n in To and n more in Cc. */
static char *
gen_rcpts(int n, int cc, size_t *lenp)
{
	char *b = gen_alloc((size_t)n * 48 + 64), *p = b;
	int i;

	p += put_str(p, "To: ");
	for (i = 0; i < n; i++)
		p += sprintf(p, "%su%d@x.org", i ? ", " : "", i);
	if (cc) {
		p += put_str(p, "\nCc: ");
		for (i = 0; i < n; i++)
			p += sprintf(p, "%sc%d@x.org", i ? ",\n " : "", i);
	}
	p += put_str(p, "\n\nbody\n");
	*lenp = (size_t)(p - b);
	return b;
}

static char *gen_rcpt1000(size_t *l) { return gen_rcpts(RCPT_MAX, 0, l); }
static char *gen_rcpt1001(size_t *l) { return gen_rcpts(RCPT_MAX + 1, 0, l); }
static char *gen_rcpt600x2(size_t *l) { return gen_rcpts(600, 1, l); }

/* head, then unit n times, then tail: the inputs of requote(). */
static char *
gen_rep(const char *head, const char *unit, size_t n, const char *tail,
    size_t *lenp)
{
	char *b = gen_alloc(strlen(head) + strlen(unit) * n + strlen(tail) + 1);
	char *p = b;
	size_t i;

	p += put_str(p, head);
	for (i = 0; i < n; i++)
		p += put_str(p, unit);
	p += put_str(p, tail);
	*lenp = (size_t)(p - b);
	return b;
}

#define QP_HEAD(name, head, unit, n, tail) \
	static char *name(size_t *l) { return gen_rep(head, unit, n, tail, l); }
QP_HEAD(gen_qp_plain, "Subject: x\n\n", "b", 999, "\nend\n")
QP_HEAD(gen_qp_first, "", "b", 999, "\nend\n")
QP_HEAD(gen_qp_utf8body, "Subject: x\n\n", "caf\xc3\xa9 = ", 200, "\nend\n")
QP_HEAD(gen_qp_utf8hdr, "Subject: caf\xc3\xa9\n\n", "b", 1000, "\n")
QP_HEAD(gen_qp_mime, "Subject: x\nMIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n", "caf\xe9 ", 300, "\n")
QP_HEAD(gen_qp_folded, "mime-version:\n 1.0\nCONTENT-TRANSFER-ENCODING:\n\t7BIT\nContent-Type:\n text/html\n\n", "<p>", 400, "\n")
QP_HEAD(gen_qp_binary, "Content-Transfer-Encoding: binary\n\n", "b", 1200, "\n")
QP_HEAD(gen_qp_multipart, "Content-Type: multipart/mixed; boundary=b\n\n", "b", 999, "\n")
QP_HEAD(gen_qp_base64, "Content-Transfer-Encoding: base64\n\n", "QUJD", 300, "\n")
QP_HEAD(gen_qp_qp, "Content-Transfer-Encoding: quoted-printable\n\n", "b", 999, "\n")
QP_HEAD(gen_qp_octet, "Content-Type: application/octet-stream\n\n", "b", 999, "\n")
QP_HEAD(gen_qp_specials, "Subject: x\n\n", "a = b \t=", 200, " \nx\t\n=\n")
QP_HEAD(gen_qp_65536blank, "Subject: x\n\n", "bbbbbbbbbbbbbbb", 4369, " \nend\n")
QP_HEAD(gen_qp_huge, "Subject: x\n\n", "b", HEADER_MAX + 5000, "\nend\n")
QP_HEAD(gen_qp_rcpt, "To: a@x.org\n\n", "b", 999, "\n")
QP_HEAD(gen_qp_crlf, "Subject: x\r\n\r\n", "b", 999, "\r\nend\r\n")
QP_HEAD(gen_qp_noeol, "Subject: x\n\n", "b", 999, "")

static char *
gen_qp_nul(size_t *lenp)
{
	char *b = gen_rep("Subject: x\n\n", "b", 999, "\nx\ny\n", lenp);

	b[*lenp - 3] = '\0';	/* the x */
	return b;
}

/* Fields of every length from 995 to 1990 bytes, without blanks or with. */
static char *
gen_sweep(int blanks, size_t *lenp)
{
	char *b = gen_alloc(1600 * 1000), *p = b;
	size_t k;

	p += put_str(p, "From: f@x.org\n" DM);
	for (k = 995; k < 1992; k++) {
		p += sprintf(p, "X-%zu:", k);
		p += put_str(p, blanks ? " " : "");
		if (blanks)
			p += put_words(p, k - 8);
		else
			p += put_rep(p, 'a', k - 7);
		*p++ = '\n';
	}
	p += put_str(p, "\nbody\n");
	*lenp = (size_t)(p - b);
	return b;
}

static char *gen_sweep_noblank(size_t *l) { return gen_sweep(0, l); }
static char *gen_sweep_blank(size_t *l) { return gen_sweep(1, l); }

/* A From display name over a line, for rewrite_from. */
static char *
gen_longname(size_t *lenp)
{
	char *b = gen_alloc(4096), *p = b;

	p += put_str(p, "From: ");
	p += put_words(p, 1500);
	p += put_str(p, " <a@x.org>\n" DM "\nbody\n");
	*lenp = (size_t)(p - b);
	return b;
}

/* Checks of the stored message */

static size_t
header_len(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++)
		if (s[i] == '\n' && s[i + 1] == '\n')
			return i + 1;
	return len;
}

/*
 * s with its folds undone into d: a LF before a blank is dropped (RFC
 * 5322 unfolding), and, with blank set, the blank after it too (for a
 * fold that had to add one).
 */
static size_t
unfold(char *d, const char *s, size_t len, int blank)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\n' && i + 1 < len && (s[i + 1] == ' ' ||
		    s[i + 1] == '\t')) {
			if (blank)
				i++;
			continue;
		}
		d[o++] = s[i];
	}
	return o;
}

static const char *
same_unfolded(const char *in, size_t inlen, const char *out, size_t outlen,
    int blank)
{
	char *a = xmalloc(inlen + 1), *b = xmalloc(outlen + 1);
	size_t an, bn, i;
	const char *r = NULL;

	an = unfold(a, in, inlen, blank);
	bn = unfold(b, out, outlen, blank);
	if (an != bn || memcmp(a, b, an) != 0) {
		for (i = 0; i < an && i < bn && a[i] == b[i]; i++)
			;
		r = why("unfolded, the message differs from the input at "
		    "byte %zu: got %s, want %s", i, vis(b + i, bn - i),
		    vis(a + i, an - i));
	}
	free(a);
	free(b);
	return r;
}

static const char *
chk_identical(const char *in, size_t inlen, const char *out, size_t outlen,
    const struct qw *w)
{
	(void)w;
	if (inlen == outlen && memcmp(in, out, inlen) == 0)
		return NULL;
	return why("got %s, want it unchanged", vis(out, outlen));
}

/* Folded at blanks only: RFC 5322 unfolding gives the input back. */
static const char *
chk_folded(const char *in, size_t inlen, const char *out, size_t outlen,
    const struct qw *w)
{
	(void)w;
	if (inlen == outlen && memcmp(in, out, inlen) == 0)
		return why("the message was not folded");
	return same_unfolded(in, inlen, out, outlen, 0);
}

/* Folded with blanks added: the input once those are taken out. */
static const char *
chk_folded_added(const char *in, size_t inlen, const char *out,
    size_t outlen, const struct qw *w)
{
	(void)w;
	if (inlen == outlen && memcmp(in, out, inlen) == 0)
		return why("the message was not folded");
	return same_unfolded(in, inlen, out, outlen, 1);
}

/* The value of the first field named name (with ": "), or NULL. */
static const char *
field_value(const char *out, size_t outlen, const char *name, size_t *lenp)
{
	size_t h = header_len(out, outlen), n = strlen(name), i;
	const char *p;

	for (i = 0; i < h; i = (size_t)(p - out) + 1) {
		p = memchr(out + i, '\n', h - i);
		if (p == NULL)
			return NULL;
		if ((size_t)(p - out) - i > n + 1 &&
		    strncasecmp(out + i, name, n) == 0 && out[i + n] == ':' &&
		    out[i + n + 1] == ' ') {
			*lenp = (size_t)(p - out) - i - n - 2;
			return out + i + n + 2;
		}
	}
	return NULL;
}

/* in with CRLF and lone CR made LF, and a final LF, into a new buffer. */
static char *
normalize(const char *in, size_t len, size_t *outlen)
{
	char *d = xmalloc(len + 2);
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (in[i] == '\r') {
			d[o++] = '\n';
			if (i + 1 < len && in[i + 1] == '\n')
				i++;
		} else
			d[o++] = in[i];
	}
	if (o > 0 && d[o - 1] != '\n')
		d[o++] = '\n';
	*outlen = o;
	return d;
}

/* The body of the input (whole, or after its empty line) as stored. */
static char *
input_body(const char *in, size_t inlen, int whole, size_t *blen)
{
	size_t n, h;
	char *d = normalize(in, inlen, &n);

	h = whole ? 0 : header_len(d, n) + 1;
	memmove(d, d + h, n - h);
	*blen = n - h;
	return d;
}

/* The stored body is the input's, with line ends made LF. */
static const char *
chk_body(const char *in, size_t inlen, const char *out, size_t outlen,
    const struct qw *w)
{
	size_t blen, h = header_len(out, outlen) + 1, i;
	char *body = input_body(in, inlen, 0, &blen);
	const char *r = NULL;

	(void)w;
	if (blen != outlen - h || memcmp(body, out + h, blen) != 0) {
		for (i = 0; i < blen && i < outlen - h && body[i] == out[h + i];
		    i++)
			;
		r = why("the body differs at byte %zu: got %s, want %s", i,
		    vis(out + h + i, outlen - h - i), vis(body + i, blen - i));
	}
	free(body);
	return r;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode quoted-printable b into d (as big), checking its form. */
static const char *
qp_decode(const char *b, size_t len, char *d, size_t *dlen)
{
	size_t i = 0, o = 0, e, k, end;
	const char *nl;
	int soft, hi, lo;
	unsigned char c;

	while (i < len) {
		if ((nl = memchr(b + i, '\n', len - i)) == NULL)
			return why("the body does not end in LF");
		e = (size_t)(nl - b);
		if (e - i > 76)
			return why("a quoted-printable line of %zu bytes: %s",
			    e - i, vis(b + i, e - i));
		if (e > i && (b[e - 1] == ' ' || b[e - 1] == '\t'))
			return why("a blank ends a quoted-printable line: %s",
			    vis(b + i, e - i));
		soft = e > i && b[e - 1] == '=' &&
		    (e - i < 3 || b[e - 3] != '=');
		end = soft ? e - 1 : e;
		for (k = i; k < end; k++) {
			c = (unsigned char)b[k];
			if (c == '=') {
				if (k + 2 >= end + 1 ||
				    (hi = hexval(b[k + 1])) < 0 ||
				    (lo = hexval(b[k + 2])) < 0)
					return why("a bad '=' in %s",
					    vis(b + i, e - i));
				d[o++] = (char)(hi << 4 | lo);
				k += 2;
			} else if ((c >= 33 && c <= 126) || c == ' ' || c == '\t')
				d[o++] = (char)c;
			else
				return why("an unencoded byte 0x%02x in %s", c,
				    vis(b + i, e - i));
		}
		if (!soft)
			d[o++] = '\n';
		i = e + 1;
	}
	*dlen = o;
	return NULL;
}

/* How many fields named name the header section holds. */
static int
count_fields(const char *out, size_t outlen, const char *name)
{
	size_t h = header_len(out, outlen), n = strlen(name), i;
	int k = 0;

	for (i = 0; i < h; i++)
		if ((i == 0 || out[i - 1] == '\n') && i + n < h &&
		    strncasecmp(out + i, name, n) == 0 && out[i + n] == ':')
			k++;
	return k;
}

/*
 * A body re-encoded as quoted-printable: one MIME-Version, one
 * Content-Transfer-Encoding, quoted-printable of the right form that
 * decodes to the input's body.
 */
static const char *
chk_qp_body(const char *in, size_t inlen, const char *out, size_t outlen,
    int whole)
{
	size_t blen, dlen = 0, h = header_len(out, outlen) + 1, i;
	char *body = input_body(in, inlen, whole, &blen);
	char *d = xmalloc(outlen + 1);
	const char *r;

	if (count_fields(out, outlen, "MIME-Version") != 1 ||
	    count_fields(out, outlen, "Content-Transfer-Encoding") != 1 ||
	    count_fields(out, outlen, "Content-Type") != 1)
		r = why("not one each of MIME-Version, Content-Type and "
		    "Content-Transfer-Encoding: %s", vis(out, h));
	else if ((r = qp_decode(out + h, outlen - h, d, &dlen)) != NULL)
		;
	else if (dlen != blen || memcmp(d, body, blen) != 0) {
		for (i = 0; i < blen && i < dlen && body[i] == d[i]; i++)
			;
		r = why("decoded, the body differs at byte %zu of %zu: got %s, "
		    "want %s", i, blen, vis(d + i, dlen - i),
		    vis(body + i, blen - i));
	}
	free(body);
	free(d);
	return r;
}

static const char *
chk_qp(const char *in, size_t inlen, const char *out, size_t outlen,
    const struct qw *w)
{
	(void)w;
	return chk_qp_body(in, inlen, out, outlen, 0);
}

static const char *
chk_qp_all(const char *in, size_t inlen, const char *out, size_t outlen,
    const struct qw *w)
{
	(void)w;
	return chk_qp_body(in, inlen, out, outlen, 1);
}

/* "Mon, 23 Nov 2026 01:17:09 +0100" */
static const char *
chk_date(const char *in, size_t inlen, const char *out, size_t outlen,
    const struct qw *w)
{
	static const char form[] = "Aaa, 99 Aaa 9999 99:99:99 +9999";
	static const char *days = "Mon Tue Wed Thu Fri Sat Sun";
	static const char *months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct "
	    "Nov Dec";
	const char *v;
	char day[4], mon[4];
	size_t n, i;
	int ok;

	(void)in;
	(void)inlen;
	(void)w;
	if ((v = field_value(out, outlen, "Date", &n)) == NULL)
		return why("no Date field");
	ok = n == sizeof(form) - 1;
	for (i = 0; ok && i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		switch (form[i]) {
		case '9': ok = c >= '0' && c <= '9'; break;
		case 'A': ok = c >= 'A' && c <= 'Z'; break;
		case 'a': ok = c >= 'a' && c <= 'z'; break;
		case '+': ok = c == '+' || c == '-'; break;
		default: ok = c == (unsigned char)form[i]; break;
		}
	}
	if (ok) {
		memcpy(day, v, 3);
		memcpy(mon, v + 8, 3);
		day[3] = mon[3] = '\0';
		ok = strstr(days, day) != NULL && strstr(months, mon) != NULL;
	}
	return ok ? NULL : why("got Date %s, want the form %s", vis(v, n),
	    visz(form));
}

/* "<ID.xxxxxxxxxxxx@example.org>" with the queue id. */
static const char *
chk_msgid(const char *in, size_t inlen, const char *out, size_t outlen,
    const struct qw *w)
{
	const char *v;
	size_t n, idl = strlen(w->id), i;
	int ok;

	(void)in;
	(void)inlen;
	if ((v = field_value(out, outlen, "Message-ID", &n)) == NULL)
		return why("no Message-ID field");
	ok = n == 1 + idl + 1 + 12 + strlen("@example.org>") && v[0] == '<' &&
	    memcmp(v + 1, w->id, idl) == 0 && v[1 + idl] == '.' &&
	    memcmp(v + 2 + idl + 12, "@example.org>", 13) == 0;
	for (i = 0; ok && i < 12; i++)
		ok = strchr("0123456789abcdef", v[2 + idl + i]) != NULL;
	return ok ? NULL : why("got Message-ID %s, want <%s.(12 hex)@example.org>",
	    vis(v, n), w->id);
}

/* The From field exists and names HEADER_FROM. */
static const char *
chk_from(const char *in, size_t inlen, const char *out, size_t outlen,
    const struct qw *w)
{
	char *u = xmalloc(outlen + 1);
	size_t n = unfold(u, out, outlen, 0);
	const char *r = NULL;

	(void)in;
	(void)inlen;
	(void)w;
	u[n] = '\0';
	if (strncmp(u, "From: ", 6) != 0 && strstr(u, "\nFrom: ") == NULL)
		r = why("no From field in %s", vis(out, outlen));
	else if (strstr(u, "<" HEADER_FROM ">\n") == NULL)
		r = why("the From field does not end in <" HEADER_FROM ">: %s",
		    vis(out, outlen));
	free(u);
	return r;
}

/*
 * What must hold of every stored message: it ends in LF, holds no CR,
 * and its header section (up to the first empty line, which it has) is
 * made of lines of at most TEXT_LINE_MAX bytes, each a "Name:" or a
 * fold, the first not a fold.
 */
static const char *
invariants(const char *out, size_t len)
{
	size_t i, start = 0, n, k;
	int hdr = 1;

	if (len == 0 || out[len - 1] != '\n')
		return why("the stored message does not end in LF: %s",
		    vis(out, len));
	if (memchr(out, '\r', len) != NULL)
		return why("the stored message holds a CR");
	for (i = 0; i < len && hdr; i++) {
		if (out[i] != '\n')
			continue;
		n = i - start;
		if (n == 0)
			hdr = 0;
		else if (n > TEXT_LINE_MAX)
			return why("a header line of %zu bytes: %s", n,
			    vis(out + start, n));
		else if (out[start] == ' ' || out[start] == '\t') {
			if (start == 0)
				return why("the header starts with a fold");
		} else {
			for (k = 0; k < n && out[start + k] > ' ' &&
			    (unsigned char)out[start + k] < 0x7f &&
			    out[start + k] != ':'; k++)
				;
			if (k == 0 || k == n || out[start + k] != ':')
				return why("a header line that is neither a "
				    "field nor a fold: %s", vis(out + start, n));
		}
		start = i + 1;
	}
	if (hdr)
		return why("no empty line after the header section");
	return NULL;
}

/*
 * Does out match pat, in which ANY stands for one or more bytes other
 * than LF?  Returns NULL, or where they part.
 */
static const char *
match(const char *pat, const char *out, size_t len)
{
	const char *p = pat;
	size_t o = 0, any;

	while (*p) {
		if (*p == ANY[0]) {
			for (any = 0; o < len && out[o] != '\n'; o++)
				any++;
			if (any == 0)
				break;
			p++;
			continue;
		}
		if (o >= len || out[o] != *p)
			break;
		p++;
		o++;
	}
	if (*p == '\0' && o == len)
		return NULL;
	return why("got %s, want %s (they part at byte %zu: %s vs %s)",
	    vis(out, len), visz(pat), o, vis(out + o, len - o), visz(p));
}

static const struct mcase msg_cases[] = {
	/* The header section and what is added to it. */
	{ .desc = "Date, Message-ID and From added at the end of the header", .in = "Subject: hi\n\nbody\n", .out = "Subject: hi\n" ADDED "\nbody\n" },
	{ .desc = "nothing added when all three are there", .in = "From: f@x.org\n" DM "Subject: hi\n\nbody\n", .out = "From: f@x.org\n" DM "Subject: hi\n\nbody\n" },
	{ .desc = "names of the three in any case", .in = "FROM: f@x.org\ndate: d\nMessage-Id: <m@x.org>\n\nb\n", .out = "FROM: f@x.org\ndate: d\nMessage-Id: <m@x.org>\n\nb\n" },
	{ .desc = "only Date and Message-ID missing", .in = "From: f@x.org\n\nb\n", .out = "From: f@x.org\n" A_DATE A_MID "\nb\n" },
	{ .desc = "only From and Date missing", .in = "message-ID: <m@x.org>\n\nb\n", .out = "message-ID: <m@x.org>\n" A_FROM A_DATE "\nb\n" },
	{ .desc = "only From and Message-ID missing", .in = "DATE: d\n\nb\n", .out = "DATE: d\n" A_FROM A_MID "\nb\n" },
	{ .desc = "Resent-From, Resent-Date, Resent-Message-ID do not count", .in = "Resent-From: r@x.org\nResent-Date: d\nResent-Message-ID: <r@x.org>\n\nb\n", .out = "Resent-From: r@x.org\nResent-Date: d\nResent-Message-ID: <r@x.org>\n" ADDED "\nb\n" },
	{ .desc = "X-From and From-X do not count", .in = "X-From: a@x.org\nFrom-X: b\nDatex: c\n\nb\n", .out = "X-From: a@x.org\nFrom-X: b\nDatex: c\n" ADDED "\nb\n" },
	{ .desc = "an empty From counts", .in = "From:\n" DM "\nb\n", .out = "From:\n" DM "\nb\n" },
	{ .desc = "added Date has the RFC 5322 form", .in = "Subject: s\n\n", .out = "Subject: s\n" ADDED "\n", .check = chk_date },
	{ .desc = "added Message-ID is <queue id.random@domain>", .in = "Subject: s\n\n", .out = "Subject: s\n" ADDED "\n", .check = chk_msgid },
	{ .desc = "folded fields kept as they are", .in = "Subject: a\n  b\n\tc\n" DM "From: f@x.org\n\nbody\n", .out = "Subject: a\n  b\n\tc\n" DM "From: f@x.org\n\nbody\n" },
	{ .desc = "empty field value", .in = "X-Empty:\n" DM "From: f@x.org\n\nb\n", .out = "X-Empty:\n" DM "From: f@x.org\n\nb\n" },
	{ .desc = "field name with every printable", .in = "X-!#$%&'*+-.^_`|~09AZaz: v\n\nb\n", .out = "X-!#$%&'*+-.^_`|~09AZaz: v\n" ADDED "\nb\n" },
	{ .desc = "no blank after the colon", .in = "Subject:hi\n\nb\n", .out = "Subject:hi\n" ADDED "\nb\n" },

	/* Where the header section ends. */
	{ .desc = "no body", .in = "Subject: x\n", .out = "Subject: x\n" ADDED "\n" },
	{ .desc = "no body, empty line", .in = "Subject: x\n\n", .out = "Subject: x\n" ADDED "\n" },
	{ .desc = "no body, no final newline", .in = "Subject: x", .out = "Subject: x\n" ADDED "\n" },
	{ .desc = "empty input", .in = "", .out = ADDED "\n" },
	{ .desc = "only an empty line", .in = "\n", .out = ADDED "\n" },
	{ .desc = "empty lines in the body kept", .in = "Subject: x\n\n\n\nb\n\n", .out = "Subject: x\n" ADDED "\n\n\nb\n\n" },
	{ .desc = "body line right after the header", .in = "Subject: x\nThis is the body.\nmore\n", .out = "Subject: x\n" ADDED "\nThis is the body.\nmore\n" },
	{ .desc = "body line after a folded field", .in = "Subject: x\n y\nbody text\n", .out = "Subject: x\n y\n" ADDED "\nbody text\n" },
	{ .desc = "first line not a header", .in = "Hello there\nSubject: x\n\nb\n", .out = ADDED "\nHello there\nSubject: x\n\nb\n" },
	{ .desc = "first line starting with ':'", .in = ": x\nSubject: y\n", .out = ADDED "\n: x\nSubject: y\n" },
	{ .desc = "first line without a colon", .in = "Subject x\n", .out = ADDED "\nSubject x\n" },
	{ .desc = "blank in a field name", .in = "Sub ject: x\n", .out = ADDED "\nSub ject: x\n" },
	{ .desc = "first line a fold", .in = " indented\nSubject: x\n", .out = ADDED "\n indented\nSubject: x\n" },
	{ .desc = "8-bit field name is not a field", .in = "Subject: x\nSubj\xc3\xa9" "ct: y\n", .info = I_8BIT, .out = "Subject: x\n" ADDED "\nSubj\xc3\xa9" "ct: y\n" },
	/* NOTE: a line of blanks in the header is taken as a fold. */
	{ .desc = "line of blanks is a fold (NOTE)", .in = "Subject: x\n \nbody\n", .out = "Subject: x\n \n" ADDED "\nbody\n" },
	{ .desc = "obsolete 'Bcc :' is a Bcc field", .flags = F_T, .in = "To: a@x.org\nBcc : s@y.org\n\nbody\n", .rcpts = "a@x.org|s@y.org", .out = "To: a@x.org\n" ADDED "\nbody\n" },

	/* Line ends. */
	{ .desc = "no final newline: one is added", .in = "Subject: x\n\nbody", .out = "Subject: x\n" ADDED "\nbody\n" },
	{ .desc = "no final newline after a body-first line", .in = "just text", .out = ADDED "\njust text\n" },
	{ .desc = "CRLF made LF", .flags = F_T, .in = "Subject: x\r\nTo: a@x.org\r\n\r\nline1\r\nline2\r\n", .rcpts = "a@x.org", .out = "Subject: x\nTo: a@x.org\n" ADDED "\nline1\nline2\n" },
	{ .desc = "lone CR made LF", .flags = F_T, .in = "Subject: x\rTo: a@x.org\r\rline1\rline2", .rcpts = "a@x.org", .out = "Subject: x\nTo: a@x.org\n" ADDED "\nline1\nline2\n" },
	{ .desc = "CR CR LF is two line ends", .in = "Subject: x\r\r\nbody\r\n", .out = "Subject: x\n" ADDED "\nbody\n" },
	{ .desc = "LF CR is two line ends", .in = "Subject: x\n\rbody\n", .out = "Subject: x\n" ADDED "\nbody\n" },
	{ .desc = "final CR", .in = "Subject: x\n\nbody\r", .out = "Subject: x\n" ADDED "\nbody\n" },
	{ .desc = "CRLF in a folded field", .in = "Subject: a\r\n b\r\n" DM "From: f@x.org\r\n\r\nc\r\n", .out = "Subject: a\n b\n" DM "From: f@x.org\n\nc\n" },
	{ .desc = "CRLF through a pipe, a byte at a time", .flags = F_T | F_PIPE, .in = "Subject: x\r\nTo: a@x.org,\r\n b@y.org\r\n\r\nl1\r\n\rl2\r", .rcpts = "a@x.org|b@y.org", .out = "Subject: x\nTo: a@x.org,\n b@y.org\n" ADDED "\nl1\n\nl2\n" },
	{ .desc = "CRLF split across two reads", .gen = gen_split_crlf, .check = chk_body },
	{ .desc = "lone CR at the end of a read", .gen = gen_split_cr, .check = chk_body },

	/* The mbox "From " line. */
	{ .desc = "mbox From line dropped", .in = "From alice@x.org Mon Jan  1 00:00:00 2026\nSubject: x\n\nb\n", .out = "Subject: x\n" ADDED "\nb\n" },
	{ .desc = "mbox From line with CRLF", .in = "From x\r\nSubject: y\r\n\r\nb\r\n", .out = "Subject: y\n" ADDED "\nb\n" },
	{ .desc = "mbox From line alone", .in = "From x\n", .out = ADDED "\n" },
	{ .desc = "From line not first is the body", .in = "Subject: x\nFrom bob\n\nb\n", .out = "Subject: x\n" ADDED "\nFrom bob\n\nb\n" },
	{ .desc = "second From line is the body", .in = "From a\nFrom b\nSubject: x\n", .out = ADDED "\nFrom b\nSubject: x\n" },
	{ .desc = "From: first is a field", .in = "From: f@x.org\n" DM "\nb\n", .out = "From: f@x.org\n" DM "\nb\n" },
	{ .desc = ">From first is the body", .in = ">From x\n", .out = ADDED "\n>From x\n" },
	{ .desc = "From line in the body kept", .in = "Subject: x\n\nFrom here\n", .out = "Subject: x\n" ADDED "\nFrom here\n" },

	/* -t: recipients from To, Cc, Bcc; Bcc dropped. */
	{ .desc = "-t: folded To", .flags = F_T, .in = "To: a@x.org,\n b@y.org,\n\tc@z.org\nSubject: s\n\nb\n", .rcpts = "a@x.org|b@y.org|c@z.org", .out = "To: a@x.org,\n b@y.org,\n\tc@z.org\nSubject: s\n" ADDED "\nb\n" },
	{ .desc = "-t: To, Cc, Bcc; Bcc dropped", .flags = F_T, .in = "To: a@x.org\nCc: b@y.org\nBcc: c@z.org\n\nb\n", .rcpts = "a@x.org|b@y.org|c@z.org", .out = "To: a@x.org\nCc: b@y.org\n" ADDED "\nb\n" },
	{ .desc = "Bcc dropped without -t too", .in = "To: a@x.org\nBcc: c@z.org\n\nb\n", .out = "To: a@x.org\n" ADDED "\nb\n" },
	{ .desc = "-t: folded Bcc dropped whole", .flags = F_T, .in = "Bcc: a@x.org,\n  b@y.org\nSubject: s\n\nb\n", .rcpts = "a@x.org|b@y.org", .out = "Subject: s\n" ADDED "\nb\n" },
	{ .desc = "-t: BCC and bcc dropped", .flags = F_T, .in = "BCC: a@x.org\nbcc: b@y.org\nSubject: s\n\nb\n", .rcpts = "a@x.org|b@y.org", .out = "Subject: s\n" ADDED "\nb\n" },
	{ .desc = "empty Bcc dropped", .flags = F_T, .in = "Bcc:\nSubject: s\n\nb\n", .out = "Subject: s\n" ADDED "\nb\n" },
	{ .desc = "Bcc as the last field dropped", .flags = F_T, .in = "Subject: s\nBcc: a@x.org", .rcpts = "a@x.org", .out = "Subject: s\n" ADDED "\n" },
	{ .desc = "Resent-Bcc dropped", .in = "Resent-Bcc: a@x.org\nSubject: s\n\nb\n", .out = "Subject: s\n" ADDED "\nb\n" },
	{ .desc = "X-Bcc, Bccx, Bcc-Copy kept", .flags = F_T, .in = "X-Bcc: a@x.org\nBccx: b\nBcc-Copy: c\n\nb\n", .out = "X-Bcc: a@x.org\nBccx: b\nBcc-Copy: c\n" ADDED "\nb\n" },
	{ .desc = "-t: field names in any case", .flags = F_T, .in = "tO: a@x.org\ncC: b@y.org\nbCC: c@z.org\n\nb\n", .rcpts = "a@x.org|b@y.org|c@z.org", .out = "tO: a@x.org\ncC: b@y.org\n" ADDED "\nb\n" },
	{ .desc = "-t: duplicates merged across fields", .flags = F_T, .in = "To: a@x.org, b@y.org\nCc: a@X.ORG, B@y.org\nBcc: a@x.org\n\nb\n", .rcpts = "a@x.org|b@y.org|B@y.org", .out = "To: a@x.org, b@y.org\nCc: a@X.ORG, B@y.org\n" ADDED "\nb\n" },
	{ .desc = "-t: names, quotes, comments", .flags = F_T, .in = "To: Alice <a@x.org>, \"Last, First\" <b@y.org>,\n c@z.org (Carol (C))\n\nb\n", .rcpts = "a@x.org|b@y.org|c@z.org", .out = "To: Alice <a@x.org>, \"Last, First\" <b@y.org>,\n c@z.org (Carol (C))\n" ADDED "\nb\n" },
	{ .desc = "-t: comment folded across lines", .flags = F_T, .in = "To: a@x.org (Alice\n (nested)),\n\tb@y.org\n\nb\n", .rcpts = "a@x.org|b@y.org", .out = "To: a@x.org (Alice\n (nested)),\n\tb@y.org\n" ADDED "\nb\n" },
	{ .desc = "-t: several To fields", .flags = F_T, .in = "To: a@x.org\nTo: b@y.org\n\nb\n", .rcpts = "a@x.org|b@y.org", .out = "To: a@x.org\nTo: b@y.org\n" ADDED "\nb\n" },
	{ .desc = "-t: undisclosed-recipients:; gives none", .flags = F_T, .in = "To: undisclosed-recipients:;\n\nb\n", .out = "To: undisclosed-recipients:;\n" ADDED "\nb\n" },
	{ .desc = "-t: empty To gives none", .flags = F_T, .in = "To:  \n\nb\n", .out = "To:  \n" ADDED "\nb\n" },
	{ .desc = "-t: local names qualified", .flags = F_T, .in = "To: root, admin@localhost\n\nb\n", .rcpts = "root@example.org|admin@example.org", .out = "To: root@example.org, admin@localhost\n" ADDED "\nb\n" },
	{ .desc = "-t: From, Reply-To, Sender give none", .flags = F_T, .in = "From: a@x.org\nReply-To: b@y.org\nSender: c@z.org\nX-To: d@w.org\n" DM "\nb\n", .out = "From: a@x.org\nReply-To: b@y.org\nSender: c@z.org\nX-To: d@w.org\n" DM "\nb\n" },
	{ .desc = "-t: To in the body gives none", .flags = F_T, .in = "Subject: s\n\nTo: a@x.org\n", .out = "Subject: s\n" ADDED "\nTo: a@x.org\n" },
	{ .desc = "-t: To after a body-first line gives none", .flags = F_T, .in = "hello\nTo: a@x.org\n", .out = ADDED "\nhello\nTo: a@x.org\n" },
	{ .desc = "-t: UTF-8 address", .flags = F_T, .in = "To: j\xc3\xb6rg@b\xc3\xbc" "cher.example\n\nb\n", .rcpts = "j\xc3\xb6rg@b\xc3\xbc" "cher.example", .info = I_8BIT | I_UTF8, .out = "To: j\xc3\xb6rg@b\xc3\xbc" "cher.example\n" ADDED "\nb\n" },

	/* -t with Resent- fields. */
	{ .desc = "-t: Resent- fields name the recipients", .flags = F_T, .in = "To: a@x.org\nResent-To: b@y.org\nResent-Cc: c@z.org\nResent-Bcc: d@w.org\nCc: e@v.org\n\nb\n", .rcpts = "b@y.org|c@z.org|d@w.org", .out = "To: a@x.org\nResent-To: b@y.org\nResent-Cc: c@z.org\nCc: e@v.org\n" ADDED "\nb\n" },
	{ .desc = "-t: Resent-Date alone means no recipients", .flags = F_T, .in = "To: a@x.org\nResent-Date: d\n\nb\n", .out = "To: a@x.org\nResent-Date: d\n" ADDED "\nb\n" },
	{ .desc = "-t: a Resent- field before To counts", .flags = F_T, .in = "Resent-From: r@x.org\nTo: a@x.org\n\nb\n", .out = "Resent-From: r@x.org\nTo: a@x.org\n" ADDED "\nb\n" },
	{ .desc = "-t: RESENT-TO in upper case", .flags = F_T, .in = "To: a@x.org\nRESENT-TO: b@y.org\n\nb\n", .rcpts = "b@y.org", .out = "To: a@x.org\nRESENT-TO: b@y.org\n" ADDED "\nb\n" },
	{ .desc = "-t: Resent-Bcc alone", .flags = F_T, .in = "To: a@x.org\nresent-bcc: d@w.org\n\nb\n", .rcpts = "d@w.org", .out = "To: a@x.org\n" ADDED "\nb\n" },
	{ .desc = "-t: Resent- duplicates merged", .flags = F_T, .in = "Resent-To: b@y.org\nResent-Cc: b@Y.org\n\nb\n", .rcpts = "b@y.org", .out = "Resent-To: b@y.org\nResent-Cc: b@Y.org\n" ADDED "\nb\n" },

	/* -t with bad addresses: EX_NOUSER, "line N: Field: why". */
	{ .desc = "-t: unbalanced < in To", .flags = F_T, .in = "Subject: s\nTo: <a@x.org\n\nbody\n", .rc = EX_NOUSER, .err = "line 2: To: unbalanced <>" },
	{ .desc = "-t: bad To is still stored", .flags = F_T, .in = "To: <a@x.org\n\nbody\n", .rc = EX_NOUSER, .err = "line 1: To:", .out = "To: <a@x.org\n" ADDED "\nbody\n" },
	{ .desc = "-t: a folded Cc is named by its first line", .flags = F_T, .in = "Subject: s\nCc: a@x.org,\n b@@y.org\n\nbody\n", .rc = EX_NOUSER, .err = "line 2: Cc: bad address" },
	{ .desc = "-t: Resent-To named in full", .flags = F_T, .in = "Resent-To: -oQ@x.org\n\n", .rc = EX_NOUSER, .err = "line 1: Resent-To: bad address \"-oQ@x.org\": it starts with '-'" },
	{ .desc = "-t: field name as written", .flags = F_T, .in = "bcc: a\001b@x.org\n\n", .rc = EX_NOUSER, .err = "line 1: bcc: bad address" },
	{ .desc = "-t: name without <address>", .flags = F_T, .in = "To: Alice Smith\n\n", .rc = EX_NOUSER, .err = "line 1: To: bad address" },
	{ .desc = "-t: the first bad field is reported", .flags = F_T, .in = "To: <a\nCc: <b\n\n", .rc = EX_NOUSER, .err = "line 1: To:" },
	{ .desc = "-t: err goes with the exit code", .flags = F_T, .gen = gen_field_badto, .rc = EX_DATAERR, .err = "header field longer than 65536 bytes" },
	{ .desc = "-t: line numbers count the mbox From line", .flags = F_T, .in = "From x\nTo: <a\n\n", .rc = EX_NOUSER, .err = "line 2: To:" },
	{ .desc = "-t: line numbers count CRLF lines", .flags = F_T, .in = "Subject: s\r\nX: y\r\n z\r\nTo: <a\r\n\r\n", .rc = EX_NOUSER, .err = "line 4: To:" },
	{ .desc = "-t: line numbers count lone CR lines", .flags = F_T, .in = "Subject: s\rX: y\rTo: <a\r\r", .rc = EX_NOUSER, .err = "line 3: To:" },
	{ .desc = "-t: invalid UTF-8 address", .flags = F_T, .in = "To: \xff@x.org\n\n", .rc = EX_NOUSER, .err = "bad UTF-8", .info = I_8BIT },
	{ .desc = "-t: <> in To", .flags = F_T, .in = "To: <>\n\n", .rc = EX_NOUSER, .err = "line 1: To: empty recipient address" },
	{ .desc = "-t: bad Bcc is dropped all the same", .flags = F_T, .in = "Bcc: <bad\nSubject: s\n\nb\n", .rc = EX_NOUSER, .err = "line 1: Bcc:", .out = "Subject: s\n" ADDED "\nb\n" },
	{ .desc = "-t: bad address and no recipients kept", .flags = F_T, .in = "To: a@x.org\nCc: <b\n\n", .rc = EX_NOUSER, .err = "line 2: Cc:" },
	{ .desc = "without -t a bad To is not parsed", .in = "To: <a@x.org\n\nbody\n", .out = "To: <a@x.org\n" ADDED "\nbody\n" },

	/* Long lines and fields. */
	{ .desc = "header line of 998 bytes kept", .gen = gen_subject998, .check = chk_identical },
	{ .desc = "header line of 999 bytes folded at a blank", .gen = gen_subject999, .check = chk_folded },
	{ .desc = "header line of 5000 bytes folded at blanks", .gen = gen_subject5000, .check = chk_folded },
	{ .desc = "long continuation line folded", .gen = gen_longcont, .check = chk_folded },
	{ .desc = "header line without blanks folded with blanks added", .gen = gen_noblank, .check = chk_folded_added },
	{ .desc = "header lines of 995 to 1991 bytes without blanks", .gen = gen_sweep_noblank, .check = chk_folded_added },
	{ .desc = "header lines of 995 to 1991 bytes with blanks", .gen = gen_sweep_blank, .check = chk_folded },
	{ .desc = "field of HEADER_MAX bytes", .flags = F_T, .gen = gen_field_max, .rcpts = "a@x.org|b@y.org" },
	{ .desc = "field over HEADER_MAX", .flags = F_T, .gen = gen_field_max1, .rc = EX_DATAERR, .err = "line 2: header field longer than 65536 bytes" },
	{ .desc = "header line of HEADER_MAX bytes", .gen = gen_line_max },
	{ .desc = "header line over HEADER_MAX", .gen = gen_line_max1, .rc = EX_DATAERR, .err = "line 1: header line longer than 65536 bytes", .info = I_LONG },
	{ .desc = "continuation line over HEADER_MAX", .flags = F_T, .gen = gen_cont_over, .rc = EX_DATAERR, .err = "longer than 65536 bytes", .info = I_ANY },
	{ .desc = "HEADERS_MAX fields", .gen = gen_fields1000 },
	{ .desc = "more than HEADERS_MAX fields", .gen = gen_fields1001, .rc = EX_DATAERR, .err = "line 1001: more than 1000 header fields" },
	{ .desc = "-t: RCPT_MAX recipients", .flags = F_T, .gen = gen_rcpt1000, .nrcpt = RCPT_MAX },
	{ .desc = "-t: RCPT_MAX + 1 recipients in one field", .flags = F_T, .gen = gen_rcpt1001, .rc = EX_NOUSER, .err = "line 1: To: more than 1000 recipients" },
	{ .desc = "-t: RCPT_MAX + 200 recipients over two fields", .flags = F_T, .gen = gen_rcpt600x2, .rc = EX_NOUSER, .err = "line 2: Cc: more than 1000 recipients" },
	{ .desc = "body line of 998 bytes", .gen = gen_body998 },
	{ .desc = "body line of 999 bytes sets longlines", .gen = gen_body999, .info = I_LONG, .check = chk_qp },
	{ .desc = "body line of 998 bytes with CRLF", .gen = gen_body998crlf },

	/* NUL bytes. */
	{ .desc = "NUL in the body", .in = "Subject: x\n\nbo\0dy\n", .inlen = 18, .rc = EX_DATAERR, .err = "NUL byte" },
	{ .desc = "NUL in a field value", .in = "Subject: a\0b\n\nbody\n", .inlen = 19, .rc = EX_DATAERR, .err = "NUL byte" },
	{ .desc = "NUL in a field name", .in = "Subj\0ect: x\n\nbody\n", .inlen = 18, .rc = EX_DATAERR, .err = "NUL byte" },
	{ .desc = "NUL alone", .in = "\0", .inlen = 1, .rc = EX_DATAERR, .err = "NUL byte" },
	{ .desc = "-t: NUL after a good To", .flags = F_T, .in = "To: a@x.org\0junk\n\nbody\n", .inlen = 23, .rc = EX_DATAERR, .err = "NUL byte" },

	/* 8-bit. */
	{ .desc = "8-bit header sets utf8hdr and eightbit", .in = "Subject: caf\xc3\xa9\n\nbody\n", .info = I_8BIT | I_UTF8, .out = "Subject: caf\xc3\xa9\n" ADDED "\nbody\n" },
	{ .desc = "8-bit in a fold sets utf8hdr", .in = "Subject: x\n caf\xc3\xa9\n\nbody\n", .info = I_8BIT | I_UTF8, .out = "Subject: x\n caf\xc3\xa9\n" ADDED "\nbody\n" },
	{ .desc = "8-bit body sets eightbit only", .in = "Subject: x\n\ncaf\xc3\xa9\n", .info = I_8BIT, .out = "Subject: x\n" ADDED "\ncaf\xc3\xa9\n" },
	{ .desc = "Latin-1 body sets eightbit", .in = "Subject: x\n\ncaf\xe9\n", .info = I_8BIT, .out = "Subject: x\n" ADDED "\ncaf\xe9\n" },
	{ .desc = "8-bit body-first line after headers is not the header", .in = "Subject: x\ncaf\xc3\xa9\n", .info = I_8BIT, .out = "Subject: x\n" ADDED "\ncaf\xc3\xa9\n" },
	{ .desc = "Latin-1 header is 8-bit but not UTF-8", .in = "Subject: caf\xe9\n\nb\n", .info = I_8BIT, .out = "Subject: caf\xe9\n" ADDED "\nb\n" },
	{ .desc = "overlong UTF-8 in the header is not UTF-8", .in = "Subject: \xc0\xaf\n\nb\n", .info = I_8BIT, .out = "Subject: \xc0\xaf\n" ADDED "\nb\n" },
	{ .desc = "four-byte UTF-8 in the header", .in = "Subject: \xf0\x9f\x98\x80\n\nb\n", .info = I_8BIT | I_UTF8, .out = "Subject: \xf0\x9f\x98\x80\n" ADDED "\nb\n" },
	{ .desc = "Latin-1 then UTF-8 in one field", .in = "Subject: \xe9 \xc3\xa9\n\nb\n", .info = I_8BIT | I_UTF8, .out = "Subject: \xe9 \xc3\xa9\n" ADDED "\nb\n" },
	{ .desc = "UTF-8 in a dropped mbox From line", .in = "From j\xc3\xb6rg Mon\nSubject: x\n\nb\n", .info = I_8BIT, .out = "Subject: x\n" ADDED "\nb\n" },
	{ .desc = "ASCII message sets nothing", .in = "Subject: x\n\n~\177\n", .out = "Subject: x\n" ADDED "\n~\177\n" },

	/* -i off: a lone "." ends the message (intake.dot_ends). */
	{ .desc = "dot_ends: lone dot ends the body", .flags = F_DOT, .in = "Subject: x\n\na\n.\nb\n", .out = "Subject: x\n" ADDED "\na\n", .rest = "b" },
	{ .desc = "dot_ends: lone dot in the header section", .flags = F_DOT, .in = "Subject: x\n.\nb\n", .out = "Subject: x\n" ADDED "\n", .rest = "b" },
	{ .desc = "dot_ends: lone dot after a fold", .flags = F_DOT, .in = "Subject: x\n y\n.\n", .out = "Subject: x\n y\n" ADDED "\n", .rest = "" },
	{ .desc = "dot_ends: lone dot first", .flags = F_DOT, .in = ".\nSubject: x\n", .out = ADDED "\n", .rest = "Subject: x" },
	{ .desc = "dot_ends: dot with CRLF", .flags = F_DOT, .in = "Subject: x\r\n\r\na\r\n.\r\nb\r\n", .out = "Subject: x\n" ADDED "\na\n", .rest = "b" },
	{ .desc = "dot_ends: dot without a newline at the end", .flags = F_DOT, .in = "Subject: x\n\na\n.", .out = "Subject: x\n" ADDED "\na\n", .rest = "" },
	{ .desc = "dot_ends: two dots kept", .flags = F_DOT, .in = "Subject: x\n\n..\n.x\n", .out = "Subject: x\n" ADDED "\n..\n.x\n" },
	{ .desc = "dot_ends: dot and blank kept", .flags = F_DOT, .in = "Subject: x\n\n. \n .\n", .out = "Subject: x\n" ADDED "\n. \n .\n" },
	{ .desc = "without dot_ends a lone dot is kept", .in = "Subject: x\n\na\n.\nb\n", .out = "Subject: x\n" ADDED "\na\n.\nb\n" },

	/* -bs DATA (intake.smtp): dot-stuffed, "." ends it. */
	{ .desc = "smtp: dot ends, the next command is left", .flags = F_SMTP, .in = "Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n", .out = "Subject: x\n" ADDED "\nbody\n", .rest = "QUIT" },
	{ .desc = "smtp: ..x unstuffed to .x", .flags = F_SMTP, .in = "Subject: x\r\n\r\n..x\r\n..\r\n...\r\n.\r\n", .out = "Subject: x\n" ADDED "\n.x\n.\n..\n", .rest = "" },
	{ .desc = "smtp: dot in the header section", .flags = F_SMTP, .in = "Subject: x\r\n.\r\nRSET\r\n", .out = "Subject: x\n" ADDED "\n", .rest = "RSET" },
	{ .desc = "smtp: dot at once", .flags = F_SMTP, .in = ".\r\nQUIT\r\n", .out = ADDED "\n", .rest = "QUIT" },
	{ .desc = "smtp: dot-stuffed header line", .flags = F_SMTP, .in = ".X-Dot: y\r\n\r\nb\r\n.\r\n", .out = "X-Dot: y\n" ADDED "\nb\n" },
	{ .desc = "smtp: dot in the middle of a line kept", .flags = F_SMTP, .in = "Subject: x\r\n\r\na.b\r\n .\r\n.\r\n", .out = "Subject: x\n" ADDED "\na.b\n .\n" },
	{ .desc = "smtp: missing dot", .flags = F_SMTP, .in = "Subject: x\r\n\r\nbody\r\n", .rc = EX_TEMPFAIL, .err = "ended before the \".\"" },
	{ .desc = "smtp: missing dot, no body", .flags = F_SMTP, .in = "Subject: x\r\n", .rc = EX_TEMPFAIL, .err = "ended before the \".\"" },
	{ .desc = "smtp: missing dot, empty", .flags = F_SMTP, .in = "", .rc = EX_TEMPFAIL, .err = "ended before the \".\"" },
	{ .desc = "smtp: -t with Bcc", .flags = F_SMTP | F_T, .in = "To: a@x.org\r\nBcc: b@y.org\r\n\r\nb\r\n.\r\n", .rcpts = "a@x.org|b@y.org", .out = "To: a@x.org\n" ADDED "\nb\n" },

	/* A text body with a line over TEXT_LINE_MAX: quoted-printable. */
	{ .desc = "qp: long line re-encoded", .gen = gen_qp_plain, .info = I_LONG, .head = "Subject: x\n" ADDED QP_ASCII "\n", .check = chk_qp },
	{ .desc = "qp: long body-first line re-encoded", .gen = gen_qp_first, .info = I_LONG, .head = ADDED QP_ASCII "\n", .check = chk_qp_all },
	{ .desc = "qp: 8-bit body: utf-8, and no longer 8-bit", .gen = gen_qp_utf8body, .info = I_LONG, .head = "Subject: x\n" ADDED QP_UTF8 "\n", .check = chk_qp },
	{ .desc = "qp: 8-bit header stays 8-bit", .gen = gen_qp_utf8hdr, .info = I_8BIT | I_UTF8 | I_LONG, .head = "Subject: caf\xc3\xa9\n" ADDED QP_UTF8 "\n", .check = chk_qp },
	{ .desc = "qp: MIME fields replaced, Content-Type kept", .gen = gen_qp_mime, .info = I_LONG, .head = "Subject: x\nContent-Type: text/plain; charset=iso-8859-1\n" ADDED "MIME-Version: 1.0\nContent-Transfer-Encoding: quoted-printable\n\n", .check = chk_qp },
	{ .desc = "qp: folded MIME fields in any case replaced", .gen = gen_qp_folded, .info = I_LONG, .head = "Content-Type:\n text/html\n" ADDED "MIME-Version: 1.0\nContent-Transfer-Encoding: quoted-printable\n\n", .check = chk_qp },
	{ .desc = "qp: binary encoding re-encoded", .gen = gen_qp_binary, .info = I_LONG, .head = ADDED QP_ASCII "\n", .check = chk_qp },
	{ .desc = "qp: blanks, tabs and '=' survive", .gen = gen_qp_specials, .info = I_LONG, .check = chk_qp },
	{ .desc = "qp: line of 65536 bytes ending in a blank", .gen = gen_qp_65536blank, .info = I_LONG, .check = chk_qp },
	{ .desc = "qp: line over HEADER_MAX", .gen = gen_qp_huge, .info = I_LONG, .check = chk_qp },
	{ .desc = "qp: CRLF input", .gen = gen_qp_crlf, .info = I_LONG, .check = chk_qp },
	{ .desc = "qp: no final newline", .gen = gen_qp_noeol, .info = I_LONG, .check = chk_qp },
	{ .desc = "qp: -t recipients kept", .flags = F_T, .gen = gen_qp_rcpt, .rcpts = "a@x.org", .info = I_LONG, .check = chk_qp },
	{ .desc = "qp: not for multipart", .gen = gen_qp_multipart, .info = I_LONG, .head = "Content-Type: multipart/mixed; boundary=b\n" ADDED "\n", .check = chk_body },
	{ .desc = "qp: not for base64", .gen = gen_qp_base64, .info = I_LONG, .head = "Content-Transfer-Encoding: base64\n" ADDED "\n", .check = chk_body },
	{ .desc = "qp: not twice", .gen = gen_qp_qp, .info = I_LONG, .head = "Content-Transfer-Encoding: quoted-printable\n" ADDED "\n", .check = chk_body },
	{ .desc = "qp: not for application/octet-stream", .gen = gen_qp_octet, .info = I_LONG, .head = "Content-Type: application/octet-stream\n" ADDED "\n", .check = chk_body },
	{ .desc = "qp: not for a message refused for a NUL", .gen = gen_qp_nul, .rc = EX_DATAERR, .err = "NUL byte", .info = I_LONG, .head = "Subject: x\n" ADDED "\n", .check = chk_body },

	/* Local names in address fields qualified with the domain. */
	{ .desc = "qualify: To", .in = "To: root\n\nb\n", .out = "To: root@example.org\n" ADDED "\nb\n" },
	{ .desc = "qualify: From with a comment", .in = "From: root (Cron Daemon)\n" DM "\nb\n", .out = "From: root@example.org (Cron Daemon)\n" DM "\nb\n" },
	{ .desc = "qualify: Cc with names, <>, bare and remote", .in = "Cc: Alice <alice>, bob, c@x.org\n\nb\n", .out = "Cc: Alice <alice@example.org>, bob@example.org, c@x.org\n" ADDED "\nb\n" },
	{ .desc = "qualify: Reply-To and Sender", .in = "Reply-To: ops\nSender: daemon\n\nb\n", .out = "Reply-To: ops@example.org\nSender: daemon@example.org\n" ADDED "\nb\n" },
	{ .desc = "qualify: Resent-To and Resent-From", .in = "Resent-To: root\nResent-From: <daemon>\n\nb\n", .out = "Resent-To: root@example.org\nResent-From: <daemon@example.org>\n" ADDED "\nb\n" },
	{ .desc = "qualify: field names in any case", .in = "to: root\nCC: ops\n\nb\n", .out = "to: root@example.org\nCC: ops@example.org\n" ADDED "\nb\n" },
	{ .desc = "qualify: no blank after the colon", .in = "To:root\n\nb\n", .out = "To:root@example.org\n" ADDED "\nb\n" },
	{ .desc = "qualify: other fields left alone", .in = "X-To: root\nSubject: root\nIn-Reply-To: <x>\nComments: ops\n\nb\n", .out = "X-To: root\nSubject: root\nIn-Reply-To: <x>\nComments: ops\n" ADDED "\nb\n" },
	{ .desc = "qualify: empty group left alone", .in = "To: undisclosed-recipients:;\n\nb\n", .out = "To: undisclosed-recipients:;\n" ADDED "\nb\n" },
	{ .desc = "qualify: group members", .in = "To: friends: root, a@x.org;\n\nb\n", .out = "To: friends: root@example.org, a@x.org;\n" ADDED "\nb\n" },
	{ .desc = "qualify: <> left alone", .in = "To: <>\n\nb\n", .out = "To: <>\n" ADDED "\nb\n" },
	{ .desc = "qualify: quoted local name", .in = "To: \"a b\"\n\nb\n", .out = "To: \"a b\"@example.org\n" ADDED "\nb\n" },
	{ .desc = "qualify: quoted name before <name>", .in = "To: \"Last, First\" <first>\n\nb\n", .out = "To: \"Last, First\" <first@example.org>\n" ADDED "\nb\n" },
	{ .desc = "qualify: a name without an address left alone", .in = "To: Alice Smith\n\nb\n", .out = "To: Alice Smith\n" ADDED "\nb\n" },
	{ .desc = "qualify: folded list", .in = "To: root,\n daemon\n\nb\n", .out = "To: root@example.org,\n daemon@example.org\n" ADDED "\nb\n" },
	{ .desc = "qualify: nested comment", .in = "To: root (a (b) c), x\n\nb\n", .out = "To: root@example.org (a (b) c), x@example.org\n" ADDED "\nb\n" },
	{ .desc = "qualify: comment with a comma", .in = "To: root (a, b), x@y.org\n\nb\n", .out = "To: root@example.org (a, b), x@y.org\n" ADDED "\nb\n" },
	{ .desc = "qualify: unterminated comment left alone", .in = "To: root (a\n\nb\n", .out = "To: root (a\n" ADDED "\nb\n" },
	{ .desc = "qualify: UTF-8 local name", .in = "To: j\xc3\xb6rg\n\nb\n", .info = I_8BIT | I_UTF8, .out = "To: j\xc3\xb6rg@example.org\n" ADDED "\nb\n" },
	{ .desc = "qualify: user@localhost left alone", .in = "To: postmaster@localhost\n\nb\n", .out = "To: postmaster@localhost\n" ADDED "\nb\n" },
	{ .desc = "qualify: IPv6 literal left alone", .in = "To: a@[IPv6:2001:db8::1]\n\nb\n", .out = "To: a@[IPv6:2001:db8::1]\n" ADDED "\nb\n" },
	{ .desc = "qualify: colon in a quoted string", .in = "To: \"a:b\" <c>\n\nb\n", .out = "To: \"a:b\" <c@example.org>\n" ADDED "\nb\n" },
	{ .desc = "qualify then rewrite_from", .flags = F_RW, .sender = SENDER, .in = "From: root\n" DM "\nb\n", .out = "From: " SENDER "\n" DM "\nb\n" },

	/* The added From: intake.fullname. */
	{ .desc = "fullname is a quoted-string", .in = "Subject: s\n\n", .fullname = "Jane Doe", .out = "Subject: s\nFrom: \"Jane Doe\" <" HEADER_FROM ">\n" A_DATE A_MID "\n" },
	{ .desc = "fullname with quotes escaped", .in = "Subject: s\n\n", .fullname = "Jane \"JJ\" Doe", .out = "Subject: s\nFrom: \"Jane \\\"JJ\\\" Doe\" <" HEADER_FROM ">\n" A_DATE A_MID "\n" },
	{ .desc = "fullname with a backslash escaped", .in = "Subject: s\n\n", .fullname = "C:\\dir\\", .out = "Subject: s\nFrom: \"C:\\\\dir\\\\\" <" HEADER_FROM ">\n" A_DATE A_MID "\n" },
	{ .desc = "fullname with specials", .in = "Subject: s\n\n", .fullname = "Doe, Jane (ops) <x@y>", .out = "Subject: s\nFrom: \"Doe, Jane (ops) <x@y>\" <" HEADER_FROM ">\n" A_DATE A_MID "\n" },
	{ .desc = "empty fullname", .in = "Subject: s\n\n", .fullname = "", .out = "Subject: s\n" ADDED "\n" },
	{ .desc = "RFC 2047 fullname not quoted", .in = "Subject: s\n\n", .fullname = "=?UTF-8?Q?Jos=C3=A9?=", .out = "Subject: s\nFrom: =?UTF-8?Q?Jos=C3=A9?= <" HEADER_FROM ">\n" A_DATE A_MID "\n" },
	{ .desc = "RFC 2047 fullname with specials quoted", .in = "Subject: s\n\n", .fullname = "=?UTF-8?Q?a?= <x>", .out = "Subject: s\nFrom: \"=?UTF-8?Q?a?= <x>\" <" HEADER_FROM ">\n" A_DATE A_MID "\n" },
	{ .desc = "control characters dropped from fullname", .in = "Subject: s\n\n", .fullname = "Jane\001 Doe\177", .out = "Subject: s\nFrom: \"Jane Doe\" <" HEADER_FROM ">\n" A_DATE A_MID "\n" },
	{ .desc = "fullname not used when From is there", .in = "From: f@x.org\n" DM "\n", .fullname = "Jane", .out = "From: f@x.org\n" DM "\n" },
	{ .desc = "UTF-8 fullname sets utf8hdr and eightbit", .in = "Subject: s\n\n", .fullname = "Jos\xc3\xa9", .info = I_8BIT | I_UTF8, .out = "Subject: s\nFrom: \"Jos\xc3\xa9\" <" HEADER_FROM ">\n" A_DATE A_MID "\n" },
	{ .desc = "fullname of 985 bytes with blanks is folded", .in = "Subject: s\n\n", .fullname = C50 " " C50 " " C100 " " C100 " " C100 " " C100 " " C250 " " C100 " " C100 " " C10 "cc" " " C10 "ccc", .check = chk_from },
	{ .desc = "fullname of 1100 bytes", .in = "Subject: s\n\n", .fullname = C1000 C100, .check = chk_from },

	/* conf.rewrite_from: From names the envelope sender. */
	{ .desc = "rewrite: addr (Comment)", .flags = F_RW, .sender = SENDER, .in = "From: root (Cron Daemon)\n" DM "\nbody\n", .out = "From: \"Cron Daemon\" <" SENDER ">\n" DM "\nbody\n" },
	{ .desc = "rewrite: Name <addr>", .flags = F_RW, .sender = SENDER, .in = "From: Jane Doe <jane@x.org>\n" DM "\nbody\n", .out = "From: \"Jane Doe\" <" SENDER ">\n" DM "\nbody\n" },
	{ .desc = "rewrite: bare address", .flags = F_RW, .sender = SENDER, .in = "From: plain@x.org\n" DM "\nbody\n", .out = "From: " SENDER "\n" DM "\nbody\n" },
	{ .desc = "rewrite: <addr>", .flags = F_RW, .sender = SENDER, .in = "From: <plain@x.org>\n" DM "\nbody\n", .out = "From: " SENDER "\n" DM "\nbody\n" },
	{ .desc = "rewrite: Resent-From left alone", .flags = F_RW, .sender = SENDER, .in = "Resent-From: Bob <r@x.org>\nFrom: a@x.org\n" DM "\nb\n", .out = "Resent-From: Bob <r@x.org>\nFrom: " SENDER "\n" DM "\nb\n" },
	{ .desc = "rewrite: quoted name with a comma", .flags = F_RW, .sender = SENDER, .in = "From: \"Doe, Jane\" <j@x.org>\n" DM "\nb\n", .out = "From: \"Doe, Jane\" <" SENDER ">\n" DM "\nb\n" },
	{ .desc = "rewrite: escaped quote in the name", .flags = F_RW, .sender = SENDER, .in = "From: \"a\\\"b\" <j@x.org>\n" DM "\nb\n", .out = "From: \"a\\\"b\" <" SENDER ">\n" DM "\nb\n" },
	{ .desc = "rewrite: RFC 2047 name kept unquoted", .flags = F_RW, .sender = SENDER, .in = "From: =?UTF-8?Q?Jos=C3=A9?= <j@x.org>\n" DM "\nb\n", .out = "From: =?UTF-8?Q?Jos=C3=A9?= <" SENDER ">\n" DM "\nb\n" },
	{ .desc = "rewrite: field name in lower case", .flags = F_RW, .sender = SENDER, .in = "from: a@x.org\n" DM "\nb\n", .out = "From: " SENDER "\n" DM "\nb\n" },
	{ .desc = "rewrite: folded name", .flags = F_RW, .sender = SENDER, .in = "From: Jane\n Doe <j@x.org>\n" DM "\nb\n", .out = "From: \"Jane Doe\" <" SENDER ">\n" DM "\nb\n" },
	{ .desc = "rewrite: tab in the name", .flags = F_RW, .sender = SENDER, .in = "From: Jane\tDoe <j@x.org>\n" DM "\nb\n", .out = "From: \"Jane Doe\" <" SENDER ">\n" DM "\nb\n" },
	{ .desc = "rewrite: comment inside the name dropped", .flags = F_RW, .sender = SENDER, .in = "From: Jane (x) Doe <j@x.org>\n" DM "\nb\n", .out = "From: \"Jane Doe\" <" SENDER ">\n" DM "\nb\n" },
	{ .desc = "rewrite: nested comment", .flags = F_RW, .sender = SENDER, .in = "From: root (Cron (daily) Daemon)\n" DM "\nb\n", .out = "From: \"Cron (daily) Daemon\" <" SENDER ">\n" DM "\nb\n" },
	{ .desc = "rewrite: comment before the address", .flags = F_RW, .sender = SENDER, .in = "From: (Cron Daemon) root\n" DM "\nb\n", .out = "From: \"Cron Daemon\" <" SENDER ">\n" DM "\nb\n" },
	{ .desc = "rewrite: UTF-8 name", .flags = F_RW, .sender = SENDER, .in = "From: Jos\xc3\xa9 <j@x.org>\n" DM "\nb\n", .info = I_8BIT | I_UTF8, .out = "From: \"Jos\xc3\xa9\" <" SENDER ">\n" DM "\nb\n" },
	{ .desc = "rewrite: two addresses, the first names it", .flags = F_RW, .sender = SENDER, .in = "From: a@x.org, Bob <b@y.org>\n" DM "\nb\n", .out = "From: " SENDER "\n" DM "\nb\n" },
	{ .desc = "rewrite: name of 1500 bytes is folded", .flags = F_RW, .sender = SENDER, .gen = gen_longname },
	{ .desc = "rewrite: null sender leaves From alone", .flags = F_RW, .sender = "", .in = "From: Jane <j@x.org>\n" DM "\nb\n", .out = "From: Jane <j@x.org>\n" DM "\nb\n" },
	{ .desc = "rewrite off: From left alone", .sender = SENDER, .in = "From: Jane <j@x.org>\n" DM "\nb\n", .out = "From: Jane <j@x.org>\n" DM "\nb\n" },
	{ .desc = "rewrite: added From uses header_from", .flags = F_RW, .sender = SENDER, .in = "Subject: s\n\n", .out = "Subject: s\n" ADDED "\n" },
};

/* An fd to read in from: a file, or a pipe a child writes a byte at a time. */
static int
input_fd(const char *in, size_t len, int pipe_it, pid_t *child)
{
	char path[4200];
	int fd, p[2];
	size_t i;

	*child = -1;
	if (pipe_it) {
		if (pipe(p) == -1)
			return -1;
		if ((*child = fork()) == -1)
			return -1;
		if (*child == 0) {
			close(p[0]);
			for (i = 0; i < len; i++) {
				if (write(p[1], in + i, 1) != 1)
					_exit(1);
				usleep(100);
			}
			_exit(0);
		}
		close(p[1]);
		return p[0];
	}
	snprintf(path, sizeof(path), "%s/input", spool);
	if (write_file(path, in, len) == -1 ||
	    (fd = open(path, O_RDONLY)) == -1)
		return -1;
	unlink(path);
	return fd;
}

/* How many files tmp/ holds; they are removed. */
static int
tmp_files(void)
{
	char path[4200], f[4400];
	struct dirent *d;
	DIR *dp;
	int n = 0;

	snprintf(path, sizeof(path), "%s/tmp", spool);
	if ((dp = opendir(path)) == NULL)
		return -1;
	while ((d = readdir(dp)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "%s/%s", path, d->d_name);
		unlink(f);
		n++;
	}
	closedir(dp);
	return n;
}

/* queue/ID's message bytes, after the magic: the first w->len. */
static char *
stored(const struct qw *w, size_t *lenp, const char **reason)
{
	char path[4200], *buf;
	struct stat st;
	ssize_t r;
	size_t off = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/queue/%s", spool, w->id);
	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) == -1) {
		*reason = why("cannot open %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size &&
	    (r = read(fd, buf + off, (size_t)st.st_size - off)) > 0)
		off += (size_t)r;
	close(fd);
	unlink(path);
	if (off < 9 + (size_t)w->len || memcmp(buf, "outbox 1\n", 9) != 0) {
		*reason = why("%s: %zu bytes, not the magic and %lld bytes",
		    path, off, w->len);
		free(buf);
		return NULL;
	}
	memmove(buf, buf + 9, (size_t)w->len);
	*lenp = (size_t)w->len;
	return buf;
}

static void
run_msg(const struct mcase *c)
{
	struct addrlist rcpts = { 0 };
	struct envelope e = { 0 };
	struct intake ik = { 0 };
	struct msginfo info;
	struct input *inp;
	struct qw w;
	const char *reason = NULL, *got;
	char err[ERR_MAX], err2[ERR_MAX], line[256], *in, *out = NULL;
	size_t inlen, outlen = 0;
	pid_t child;
	int fd, rc, r, flags;

	if (c->gen != NULL)
		in = c->gen(&inlen);
	else {
		in = (char *)c->in;
		inlen = c->inlen ? c->inlen : strlen(c->in);
	}
	if ((fd = input_fd(in, inlen, c->flags & F_PIPE, &child)) == -1) {
		report("msg_read", c->desc, why("no input: %s",
		    strerror(errno)));
		goto done;
	}
	if (queue_create(&w, 1, err, sizeof(err)) == -1) {
		report("msg_read", c->desc, why("queue_create: %s", err));
		close(fd);
		goto done;
	}
	inp = in_new(fd);
	ik.extract = (c->flags & F_T) != 0;
	ik.dot_ends = (c->flags & F_DOT) != 0;
	ik.smtp = (c->flags & F_SMTP) != 0;
	ik.fullname = c->fullname;
	ik.header_from = HEADER_FROM;
	ik.sender = c->sender;
	conf.rewrite_from = (c->flags & F_RW) != 0;
	err[0] = '\0';
	rc = msg_read(inp, &w, &ik, &rcpts, &info, err, sizeof(err));
	conf.rewrite_from = 0;

	got = NULL;
	if (c->rest != NULL) {
		r = in_command(inp, line, sizeof(line));
		got = r == 1 ? line : r == 0 ? "" : "(error or long line)";
	}
	in_free(inp);
	close(fd);
	if (child != -1)
		waitpid(child, NULL, 0);

	e.sender = "";
	e.rcpts = &rcpts;
	if (queue_commit(&w, &e, err2, sizeof(err2)) == -1)
		reason = why("queue_commit: %s", err2);
	else
		out = stored(&w, &outlen, &reason);
	if (reason == NULL && (r = tmp_files()) != 0)
		reason = why("%d files left in tmp/", r);

	flags = (info.eightbit ? I_8BIT : 0) | (info.utf8hdr ? I_UTF8 : 0) |
	    (info.longlines ? I_LONG : 0);
	if (reason != NULL)
		;
	else if (rc != c->rc)
		reason = why("got rc %d (%s), want %d", rc, visz(err), c->rc);
	else if (c->rc != 0 && strstr(err, c->err ? c->err : "") == NULL)
		reason = why("got err %s, want one with %s", visz(err),
		    visz(c->err));
	else if (c->nrcpt != 0 && rcpts.n != (size_t)c->nrcpt)
		reason = why("got %zu recipients, want %d", rcpts.n, c->nrcpt);
	else if (c->nrcpt == 0 && strcmp(join(&rcpts), c->rcpts ?
	    c->rcpts : "") != 0)
		reason = why("got recipients %s, want %s", visz(join(&rcpts)),
		    visz(c->rcpts ? c->rcpts : ""));
	else if (c->info != I_ANY && flags != c->info)
		reason = why("got info 8bit=%d utf8hdr=%d longlines=%d, want "
		    "8bit=%d utf8hdr=%d longlines=%d", info.eightbit,
		    info.utf8hdr, info.longlines, (c->info & I_8BIT) != 0,
		    (c->info & I_UTF8) != 0, (c->info & I_LONG) != 0);
	else if (c->rest != NULL && strcmp(got, c->rest) != 0)
		reason = why("got the next line %s, want %s", visz(got),
		    visz(c->rest));
	else if (c->out != NULL && (reason = match(c->out, out, outlen)) != NULL)
		;
	else if (c->head != NULL && (reason = match(c->head, out,
	    header_len(out, outlen) + 1)) != NULL)
		;
	else if (c->check != NULL &&
	    (reason = c->check(in, inlen, out, outlen, &w)) != NULL)
		;
	else
		reason = invariants(out, outlen);
	report("msg_read", c->desc, reason);
done:
	free(out);
	addrlist_free(&rcpts);
	if (c->gen != NULL)
		free(in);
}

static void
test_msg(void)
{
	size_t i;

	for (i = 0; i < nitems(msg_cases); i++)
		run_msg(&msg_cases[i]);
}

/* ------------------------------------------------------------------ */
/* auth.c: base64, CRAM-MD5, XOAUTH2, OAUTHBEARER, SCRAM-SHA-256 */

/* NULL if got (glen bytes) is want (wlen bytes), else why not. */
static const char *
same(const char *got, size_t glen, const char *want, size_t wlen)
{
	if (glen != wlen || memcmp(got, want, glen) != 0)
		return why("got %s, want %s", vis(got, glen), vis(want, wlen));
	return NULL;
}

/* RFC 4648 section 10, and bytes that use the last two letters. */
static const struct {
	const char	*plain;
	size_t		 len;
	const char	*coded;
} b64_vectors[] = {
	{ "", 0, "" },
	{ "f", 1, "Zg==" },
	{ "fo", 2, "Zm8=" },
	{ "foo", 3, "Zm9v" },
	{ "foob", 4, "Zm9vYg==" },
	{ "fooba", 5, "Zm9vYmE=" },
	{ "foobar", 6, "Zm9vYmFy" },
	{ "\000\377\376", 3, "AP/+" },
};

/* Input b64_decode() must refuse. */
static const struct {
	const char	*desc, *coded;
} b64_bad[] = {
	{ "length not a multiple of 4", "Zg=" },
	{ "padding left out", "Zg" },
	{ "one character", "Z" },
	{ "three '='", "Z===" },
	{ "only padding", "====" },
	{ "'=' before the last quantum", "Zg==Zg==" },
	{ "'=' inside a quantum", "Z=g=" },
	{ "a letter after '='", "Zg=a" },
	{ "LF at the end", "Zm9v\n" },
	{ "blank inside", "Zm 9vYmFy" },
	{ "CR LF inside", "Zm9v\r\nYmFy" },
	{ "URL alphabet '-'", "Zm9-" },
	{ "URL alphabet '_'", "Zm9_" },
	{ "non-ASCII byte", "Zm9\xc3" },
	{ "leftover bits set before '=='", "Zh==" },
	{ "leftover bits set before '='", "Zm9=" },
};

static void
test_b64(void)
{
	unsigned char raw[300], back[300];
	char buf[512];
	const char *reason;
	size_t i, n, len;
	ssize_t r;

	for (i = 0; i < nitems(b64_vectors); i++) {
		n = b64_encode(buf, sizeof(buf), b64_vectors[i].plain,
		    b64_vectors[i].len);
		reason = same(buf, n, b64_vectors[i].coded,
		    strlen(b64_vectors[i].coded));
		report("b64_encode", visz(b64_vectors[i].coded), reason);
		memset(back, 0xaa, sizeof(back));
		r = b64_decode(back, sizeof(back), b64_vectors[i].coded,
		    strlen(b64_vectors[i].coded));
		reason = r < 0 ? why("refused") : same((char *)back, (size_t)r,
		    b64_vectors[i].plain, b64_vectors[i].len);
		report("b64_decode", visz(b64_vectors[i].coded), reason);
	}

	/* Every length to 300, every byte value: decode(encode(x)) is x. */
	reason = NULL;
	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 151 + 7);
	for (len = 0; len <= sizeof(raw) && reason == NULL; len++) {
		n = b64_encode(buf, sizeof(buf), raw, len);
		r = b64_decode(back, sizeof(back), buf, n);
		if (n != (len + 2) / 3 * 4 || strlen(buf) != n)
			reason = why("length %zu encodes to %zu", len, n);
		else if (r != (ssize_t)len || memcmp(raw, back, len) != 0)
			reason = why("length %zu comes back as %zd bytes", len,
			    r);
	}
	report("b64", "round trip of lengths 0 to 300", reason);

	for (i = 0; i < nitems(b64_bad); i++) {
		r = b64_decode(back, sizeof(back), b64_bad[i].coded,
		    strlen(b64_bad[i].coded));
		report("b64_decode", b64_bad[i].desc, r == -1 ? NULL :
		    why("got %zd bytes, want a refusal", r));
	}

	/* "foobar" needs 9 bytes encoded (with the NUL) and 6 decoded. */
	memset(buf, 'x', sizeof(buf));
	n = b64_encode(buf, 9, "foobar", 6);
	report("b64_encode", "exactly fits", same(buf, n, "Zm9vYmFy", 8));
	memset(buf, 'x', sizeof(buf));
	n = b64_encode(buf, 8, "foobar", 6);
	report("b64_encode", "one byte short gives 0 and \"\"",
	    n == 0 && buf[0] == '\0' ? NULL : why("got %zu, %s", n,
	    vis(buf, 9)));
	n = b64_encode(buf, 4, "f", 1);
	report("b64_encode", "no room for the NUL", n == 0 ? NULL :
	    why("got %zu", n));
	n = b64_encode(buf, 0, "f", 1);
	report("b64_encode", "no room at all", n == 0 ? NULL :
	    why("got %zu", n));
	r = b64_decode(back, 6, "Zm9vYmFy", 8);
	report("b64_decode", "exactly fits", r == 6 ? NULL :
	    why("got %zd, want 6", r));
	r = b64_decode(back, 5, "Zm9vYmFy", 8);
	report("b64_decode", "one byte short", r == -1 ? NULL :
	    why("got %zd, want -1", r));
	r = b64_decode(back, 4, "Zm9vYmE=", 8);
	report("b64_decode", "one byte short, padded", r == -1 ? NULL :
	    why("got %zd, want -1", r));
}

/*
 * The raw responses.  RFC 2195's secret is "tanstaaftanstaaf", without
 * the l's of the saying.  Vectors not from an RFC (the long CRAM-MD5
 * key) were checked with Python's hmac module.
 */
#define CHAL_2195	"<1896.697170952@postoffice.reston.mci.net>"
#define TOK_7628	"vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg=="
#define OB_7628		"n,a=user@example.com,\001host=server.example.com" \
			"\001port=143\001auth=Bearer " TOK_7628 "\001\001"
#define XO_USER		"someuser@example.com"
#define XO_TOKEN	"ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
#define XO_RAW		"user=" XO_USER "\001auth=Bearer " XO_TOKEN "\001\001"

enum { CRAM, XOAUTH2, OAUTHBEARER };

static const struct sasl_case {
	const char	*desc;
	int		 mech;
	const char	*user, *secret;
	const char	*extra;		/* challenge, or OAUTHBEARER host */
	int		 port;
	size_t		 cap;		/* 0: a large buffer */
	const char	*want;		/* NULL: refused, with "" in out */
} sasl_cases[] = {
	{ "RFC 2195 vector", CRAM, "tim", "tanstaaftanstaaf", CHAL_2195, 0,
	    0, "tim b913a602c7eda7a495b4e6e7334d3890" },
	{ "exactly fits", CRAM, "tim", "tanstaaftanstaaf", CHAL_2195, 0,
	    37, "tim b913a602c7eda7a495b4e6e7334d3890" },
	{ "one byte short", CRAM, "tim", "tanstaaftanstaaf", CHAL_2195, 0,
	    36, NULL },
	{ "password longer than the MD5 block", CRAM, "u", C100, "challenge",
	    0, 0, "u ab1831e7f3353dcb971918e53ba4b5e4" },
	{ "sample user and token", XOAUTH2, XO_USER, XO_TOKEN, NULL, 0, 0,
	    XO_RAW },
	{ "exactly fits", XOAUTH2, XO_USER, XO_TOKEN, NULL, 0,
	    sizeof(XO_RAW), XO_RAW },
	{ "one byte short", XOAUTH2, XO_USER, XO_TOKEN, NULL, 0,
	    sizeof(XO_RAW) - 1, NULL },
	{ "^A in the token", XOAUTH2, XO_USER, "a\001b", NULL, 0, 0, NULL },
	{ "^A in the user", XOAUTH2, "a\001auth=x", "t", NULL, 0, 0, NULL },
	{ "RFC 7628 section 4.1 vector", OAUTHBEARER, "user@example.com",
	    TOK_7628, "server.example.com", 143, 0, OB_7628 },
	{ "exactly fits", OAUTHBEARER, "user@example.com", TOK_7628,
	    "server.example.com", 143, sizeof(OB_7628), OB_7628 },
	{ "one byte short", OAUTHBEARER, "user@example.com", TOK_7628,
	    "server.example.com", 143, sizeof(OB_7628) - 1, NULL },
	{ "saslname escapes ',' and '='", OAUTHBEARER, "a,b=c", "t", "h", 587,
	    0, "n,a=a=2Cb=3Dc,\001host=h\001port=587\001auth=Bearer t"
	    "\001\001" },
	{ "no user, no a=", OAUTHBEARER, "", "t", "h", 465, 0,
	    "n,,\001host=h\001port=465\001auth=Bearer t\001\001" },
	{ "^A in the host", OAUTHBEARER, "u", "t", "h\001port=1", 25, 0,
	    NULL },
};

static void
run_sasl(const struct sasl_case *c)
{
	static const char *names[] = { "CRAM-MD5", "XOAUTH2", "OAUTHBEARER" };
	char out[512];
	size_t cap = c->cap ? c->cap : sizeof(out), n = 0;
	const char *reason;
	int rc = 0;

	memset(out, 'x', sizeof(out));
	if (c->mech == CRAM) {
		rc = sasl_cram_md5(out, cap, c->user, c->secret, c->extra,
		    strlen(c->extra));
		n = rc == 0 ? strlen(out) : 0;
	} else if (c->mech == XOAUTH2)
		n = sasl_xoauth2(out, cap, c->user, c->secret);
	else
		n = sasl_oauthbearer(out, cap, c->user, c->extra, c->port,
		    c->secret);
	if (c->want == NULL)
		reason = rc == -1 || n == 0 ? (out[0] == '\0' ? NULL :
		    why("refused, but left %s", vis(out, cap))) :
		    why("got %s, want a refusal", vis(out, n));
	else if (rc == -1 || n == 0)
		reason = why("refused, want %s", visz(c->want));
	else if ((reason = same(out, n, c->want, strlen(c->want))) == NULL &&
	    strlen(out) != n)
		reason = why("length %zu, but the string has %zu", n,
		    strlen(out));
	report(names[c->mech], c->desc, reason);
}

/* RFC 7677 section 3. */
#define R7677_NONCE	"rOprNGfwEbeRWgbNEkqO"
#define R7677_SNONCE	R7677_NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define R7677_SALT	"s=W22ZaJ0SNY7soEsUEjb6gQ=="
#define R7677_FIRST	"r=" R7677_SNONCE "," R7677_SALT ",i=4096"
#define R7677_V		"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/*
 * Whole exchanges.  All but the first were computed with Python's
 * hashlib.pbkdf2_hmac and hmac: a saslname in the AuthMessage, an
 * extension after i=, and counts other than 4096 (the last one takes
 * most of a second).
 */
static const struct scram_case {
	const char	*desc, *user, *pw, *nonce, *first;
	const char	*cfirst, *cfinal, *final;
} scram_cases[] = {
	{ "RFC 7677 section 3 vector", "user", "pencil", R7677_NONCE,
	    R7677_FIRST, "n,,n=user,r=" R7677_NONCE,
	    "c=biws,r=" R7677_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmi"
	    "z7AndVQ=", "v=" R7677_V },
	{ "user a,b=c and an extension after i=", "a,b=c", "tr0ub4dor&3",
	    "fyko+d2lbbFgONRv9qkxdawL", "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1Z"
	    "VvWVs7j,s=QSXCR+Q6sek8bf92,i=4096,x=ext",
	    "n,,n=a=2Cb=3Dc,r=fyko+d2lbbFgONRv9qkxdawL",
	    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=LYFbnzIaBp"
	    "BBRQEuwn1A4sTPzzKhuf+NZYhIdkt9L3U=",
	    "v=/9LjQ0knZ14/UWAXwt7KCG7nMWCnO5SnhyVWF5HNn8o=" },
	{ "10000 iterations", "user", "pencil", "abc",
	    "r=abcdef,s=c2FsdA==,i=10000", "n,,n=user,r=abc",
	    "c=biws,r=abcdef,p=Ghie8flBD1b18u48plFY9Wmohj9gBfR+FeNjNo9zOVM=",
	    "v=eP70Q3Dk6efyqQShs8hveSlCC/AS/Ouiyo1FAy3QqYM=" },
	{ "SCRAM_ITER_MAX iterations, the most we spend", "user", "pencil",
	    "abc", "r=abcdef,s=c2FsdA==,i=1000000", "n,,n=user,r=abc",
	    "c=biws,r=abcdef,p=CoIMkWYvVcnTqLcq5EjxQDFOj7kbp/ce2EhkVM1dkJ8=",
	    "v=/r7RUaXDCYdVz/ibEpE16YfaLe1/8no/tleLsUYeE5s=" },
};

/* server-first-messages scram_prove() must refuse, after the RFC start. */
static const struct {
	const char	*desc, *first;
	size_t		 len;		/* 0: strlen */
	const char	*err;
} scram_bad_first[] = {
	{ "nonce that does not extend ours", "r=rOprNGfwEbeRWgbNEkqP%hvY,"
	    R7677_SALT ",i=4096", 0,
	    "SCRAM: server nonce does not extend ours" },
	{ "nonce that is ours alone", "r=" R7677_NONCE "," R7677_SALT
	    ",i=4096", 0, "SCRAM: server nonce does not extend ours" },
	{ "nonce shorter than ours", "r=rOpr," R7677_SALT ",i=4096", 0,
	    "SCRAM: server nonce does not extend ours" },
	{ "DEL in the server nonce", "r=" R7677_NONCE "x\177y," R7677_SALT
	    ",i=4096", 0, "bad character in the server nonce" },
	{ "i=1", "r=" R7677_SNONCE "," R7677_SALT ",i=1", 0,
	    "SCRAM: iteration count 1 below 4096" },
	{ "i=4095", "r=" R7677_SNONCE "," R7677_SALT ",i=4095", 0,
	    "SCRAM: iteration count 4095 below 4096" },
	{ "i=99999999", "r=" R7677_SNONCE "," R7677_SALT ",i=99999999", 0,
	    "SCRAM: iteration count 99999999 above 1000000" },
	{ "i=1000001", "r=" R7677_SNONCE "," R7677_SALT ",i=1000001", 0,
	    "SCRAM: iteration count 1000001 above 1000000" },
	{ "i= of 40 digits", "r=" R7677_SNONCE "," R7677_SALT
	    ",i=1234567890123456789012345678901234567890", 0, "above 1000000" },
	{ "i=04096", "r=" R7677_SNONCE "," R7677_SALT ",i=04096", 0,
	    "SCRAM: bad iteration count \"04096\"" },
	{ "i=-4096", "r=" R7677_SNONCE "," R7677_SALT ",i=-4096", 0,
	    "bad iteration count" },
	{ "i=4096x", "r=" R7677_SNONCE "," R7677_SALT ",i=4096x", 0,
	    "bad iteration count" },
	{ "empty i=", "r=" R7677_SNONCE "," R7677_SALT ",i=", 0,
	    "bad iteration count" },
	{ "salt not base64", "r=" R7677_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ=,"
	    "i=4096", 0, "SCRAM: the salt is not valid base64" },
	{ "salt with a blank", "r=" R7677_SNONCE ",s=W22ZaJ0SNY7 soEsUEjb6gQ==,"
	    "i=4096", 0, "SCRAM: the salt is not valid base64" },
	{ "no s=", "r=" R7677_SNONCE ",i=4096", 0, "SCRAM: no salt (s=)" },
	{ "no i=", "r=" R7677_SNONCE "," R7677_SALT, 0,
	    "SCRAM: no iteration count (i=)" },
	{ "attributes out of order", R7677_SALT ",r=" R7677_SNONCE ",i=4096",
	    0, "SCRAM: no nonce (r=)" },
	{ "mandatory extension m=", "m=x," R7677_FIRST, 0,
	    "SCRAM: the server requires an extension (m=)" },
	{ "e= instead of a challenge", "e=other-error", 0, "no nonce (r=)" },
	{ "empty message", "", 0, "no nonce (r=)" },
	{ "NUL byte", R7677_FIRST "\0x", sizeof(R7677_FIRST "\0x") - 1,
	    "NUL byte" },
	{ "longer than SCRAM_MSG_MAX", "r=" R7677_SNONCE C1000 "," R7677_SALT
	    ",i=4096", 0, "longer than 1024" },
};

/* server-final-messages scram_verify() must refuse, after the RFC proof. */
static const struct {
	const char	*desc, *final, *err;
} scram_bad_final[] = {
	{ "one bit different",
	    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G8=",
	    "SCRAM: server signature does not verify: the server does not "
	    "know the password" },
	{ "the client's proof sent back",
	    "v=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	    "does not verify" },
	{ "server error", "e=invalid-proof",
	    "SCRAM: the server says: invalid-proof" },
	{ "server error with a control character", "e=bad\033[2Jproof",
	    "SCRAM: the server says: bad?[2Jproof" },
	{ "signature cut short", "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl9",
	    "not 32 bytes" },
	{ "signature not base64",
	    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4",
	    "not 32 bytes" },
	{ "no v=", "x=" R7677_V, "SCRAM: no verifier (v=)" },
	{ "empty message", "", "SCRAM: no verifier (v=)" },
};

/* Start and prove the RFC 7677 exchange; NULL when both went as they should. */
static const char *
scram_rfc(struct scram *sc)
{
	char out[SCRAM_MSG_MAX + 64], err[ERR_MAX];

	if (scram_start(sc, "user", R7677_NONCE, out, sizeof(out)) == -1)
		return "scram_start failed";
	if (scram_prove(sc, "pencil", R7677_FIRST, strlen(R7677_FIRST), out,
	    sizeof(out), err, sizeof(err)) == -1)
		return why("scram_prove: %s", err);
	return NULL;
}

static void
run_scram(const struct scram_case *c)
{
	struct scram sc;
	char out[SCRAM_MSG_MAX + 64], err[ERR_MAX];
	const char *reason;

	err[0] = '\0';
	if (scram_start(&sc, c->user, c->nonce, out, sizeof(out)) == -1)
		reason = why("scram_start failed");
	else if ((reason = same(out, strlen(out), c->cfirst,
	    strlen(c->cfirst))) != NULL)
		;
	else if (scram_prove(&sc, c->pw, c->first, strlen(c->first), out,
	    sizeof(out), err, sizeof(err)) == -1)
		reason = why("scram_prove: %s", err);
	else if ((reason = same(out, strlen(out), c->cfinal,
	    strlen(c->cfinal))) != NULL)
		;
	else if (scram_verify(&sc, c->final, strlen(c->final), err,
	    sizeof(err)) == -1)
		reason = why("scram_verify: %s", err);
	else if (sc.state != 3)
		reason = why("verified, but state %d, want 3", sc.state);
	scram_wipe(&sc);
	report("SCRAM", c->desc, reason);
}

/* Each of the refusals and misuses, on a fresh exchange. */
static void
test_scram_refusals(void)
{
	struct scram sc;
	char out[SCRAM_MSG_MAX + 64], err[ERR_MAX];
	const char *reason, *first;
	size_t i, len;
	int rc;

	for (i = 0; i < nitems(scram_bad_first); i++) {
		first = scram_bad_first[i].first;
		len = scram_bad_first[i].len ? scram_bad_first[i].len :
		    strlen(first);
		scram_start(&sc, "user", R7677_NONCE, out, sizeof(out));
		err[0] = '\0';
		memset(out, 'x', sizeof(out));
		rc = scram_prove(&sc, "pencil", first, len, out, sizeof(out),
		    err, sizeof(err));
		reason = outcome(rc, out, err, NULL, scram_bad_first[i].err);
		if (reason == NULL && out[0] != '\0')
			reason = why("refused, but left %s", visz(out));
		if (reason == NULL && scram_verify(&sc, "v=" R7677_V,
		    strlen("v=" R7677_V), err, sizeof(err)) != -1)
			reason = why("scram_verify passed after a refusal");
		report("scram_prove", scram_bad_first[i].desc, reason);
	}

	for (i = 0; i < nitems(scram_bad_final); i++) {
		if ((reason = scram_rfc(&sc)) == NULL) {
			err[0] = '\0';
			rc = scram_verify(&sc, scram_bad_final[i].final,
			    strlen(scram_bad_final[i].final), err, sizeof(err));
			reason = outcome(rc, "", err, NULL,
			    scram_bad_final[i].err);
		}
		report("scram_verify", scram_bad_final[i].desc, reason);
	}

	/* The signature is good for one verification only. */
	if ((reason = scram_rfc(&sc)) == NULL &&
	    scram_verify(&sc, "v=" R7677_V, strlen("v=" R7677_V), err,
	    sizeof(err)) == -1)
		reason = why("first scram_verify: %s", err);
	if (reason == NULL) {
		rc = scram_verify(&sc, "v=" R7677_V, strlen("v=" R7677_V), err,
		    sizeof(err));
		reason = outcome(rc, "", err, NULL, "SCRAM: no proof was sent");
	}
	report("scram_verify", "a second time", reason);

	/* After a wrong signature, the right one no longer passes. */
	if ((reason = scram_rfc(&sc)) == NULL) {
		scram_verify(&sc, "e=x", 3, err, sizeof(err));
		rc = scram_verify(&sc, "v=" R7677_V, strlen("v=" R7677_V), err,
		    sizeof(err));
		reason = outcome(rc, "", err, NULL, "SCRAM: no proof was sent");
	}
	report("scram_verify", "after a refusal", reason);

	if ((reason = scram_rfc(&sc)) == NULL) {
		rc = scram_prove(&sc, "pencil", R7677_FIRST,
		    strlen(R7677_FIRST), out, sizeof(out), err, sizeof(err));
		reason = outcome(rc, out, err, NULL,
		    "SCRAM: no exchange was started");
	}
	report("scram_prove", "a second time", reason);

	scram_wipe(&sc);
	rc = scram_prove(&sc, "pencil", R7677_FIRST, strlen(R7677_FIRST), out,
	    sizeof(out), err, sizeof(err));
	report("scram_prove", "without scram_start", outcome(rc, out, err,
	    NULL, "SCRAM: no exchange was started"));

	/* smtp.c decodes the challenge into the buffer it answers from. */
	scram_start(&sc, "user", R7677_NONCE, out, sizeof(out));
	strlcpy(out, R7677_FIRST, sizeof(out));
	rc = scram_prove(&sc, "pencil", out, strlen(out), out, sizeof(out),
	    err, sizeof(err));
	report("scram_prove", "answer written over the challenge",
	    outcome(rc, out, err, "c=biws,r=" R7677_SNONCE ",p=dHzbZapWIk4jUh"
	    "N+Ute9ytag9zjfMHgsqmmiz7AndVQ=", NULL));

	/* The client-final-message is 106 bytes: 107 with the NUL fits. */
	scram_start(&sc, "user", R7677_NONCE, out, sizeof(out));
	rc = scram_prove(&sc, "pencil", R7677_FIRST, strlen(R7677_FIRST), out,
	    107, err, sizeof(err));
	report("scram_prove", "client-final-message exactly fits",
	    outcome(rc, out, err, "c=biws,r=" R7677_SNONCE ",p=dHzbZapWIk4jUh"
	    "N+Ute9ytag9zjfMHgsqmmiz7AndVQ=", NULL));
	scram_start(&sc, "user", R7677_NONCE, out, sizeof(out));
	rc = scram_prove(&sc, "pencil", R7677_FIRST, strlen(R7677_FIRST), out,
	    106, err, sizeof(err));
	reason = outcome(rc, out, err, NULL, "does not fit");
	report("scram_prove", "client-final-message one byte short",
	    reason == NULL && out[0] != '\0' ? why("left %s", visz(out)) :
	    reason);
}

/* What scram_start() refuses, and what it keeps. */
static const struct {
	const char	*desc, *user, *nonce;
	size_t		 cap;
	const char	*want;		/* NULL: refused */
} scram_starts[] = {
	{ "saslname escapes ',' and '='", "a,b=c", "n0nce", 64,
	    "n,,n=a=2Cb=3Dc,r=n0nce" },
	{ "escapes at both ends", "=,", "n", 64, "n,,n==3D=2C,r=n" },
	{ "exactly fits", "user", "abc", 16, "n,,n=user,r=abc" },
	{ "one byte short", "user", "abc", 15, NULL },
	{ "empty user", "", "abc", 64, NULL },
	{ "empty nonce", "user", "", 64, NULL },
	{ "',' in the nonce", "user", "ab,c", 64, NULL },
	{ "blank in the nonce", "user", "ab c", 64, NULL },
	{ "LF in the nonce", "user", "abc\n", 64, NULL },
	{ "non-ASCII nonce", "user", "ab\xc3\xa9", 64, NULL },
	{ "user whose saslname passes SCRAM_MSG_MAX", C1000 ",,,,,,,,", "n",
	    2048, NULL },
};

static void
test_scram(void)
{
	struct scram sc;
	char out[2048];
	const char *reason;
	size_t i;
	int rc;

	for (i = 0; i < nitems(scram_starts); i++) {
		memset(out, 'x', sizeof(out));
		rc = scram_start(&sc, scram_starts[i].user,
		    scram_starts[i].nonce, out, scram_starts[i].cap);
		if (scram_starts[i].want == NULL)
			reason = rc == 0 ? why("got %s, want a refusal",
			    visz(out)) : out[0] != '\0' ? why("refused, but "
			    "left %s", vis(out, scram_starts[i].cap)) : NULL;
		else if (rc == -1)
			reason = why("refused");
		else
			reason = same(out, strlen(out), scram_starts[i].want,
			    strlen(scram_starts[i].want));
		report("scram_start", scram_starts[i].desc, reason);
	}

	for (i = 0; i < nitems(scram_cases); i++)
		run_scram(&scram_cases[i]);
	test_scram_refusals();

	scram_rfc(&sc);
	scram_wipe(&sc);
	for (i = 0; i < sizeof(sc) && ((unsigned char *)&sc)[i] == 0; i++)
		;
	report("scram_wipe", "leaves only zeros", i == sizeof(sc) ? NULL :
	    why("byte %zu is not zero", i));
}

static void
test_auth(void)
{
	size_t i;

	test_b64();
	for (i = 0; i < nitems(sasl_cases); i++)
		run_sasl(&sasl_cases[i]);
	test_scram();
}

/* ------------------------------------------------------------------ */
/* queue_parse(): the envelope of a queue file */

#define QTEST_ID	"0123456789abcdef"
#define QTEST_BODY	"Subject: x\n\nhi\n"

static const struct {
	const char	*desc, *rcpts;
	int		 rc;		/* 0, or 2 for Q_CORRUPT */
	const char	*err;
} queue_cases[] = {
	{ "two recipients", "rcpt a@x.org\nrcpt b@y.org\n", 0, NULL },
	/* unit-asan: the copy of the good one must not leak. */
	{ "bad recipient after a good one", "rcpt a@x.org\nrcpt b c\n", 2,
	    "not allowed here" },
	{ "empty recipient", "rcpt a@x.org\nrcpt \n", 2, NULL },
};

static void
test_queue(void)
{
	char path[4200], file[1024], err[ERR_MAX];
	const char *reason;
	size_t i, bl = strlen(QTEST_BODY);
	int fd, n, rc;
	static const struct {
		long long secs;
		const char *want;
	} delays[] = {
		{ -5, "00:00:00" }, { 0, "00:00:00" }, { 59, "00:00:59" },
		{ 3661, "01:01:01" }, { 86399, "23:59:59" },
		{ 86400, "1+00:00:00" }, { 5 * 86400 + 7322, "5+02:02:02" },
	};
	char d[32];

	/* The delay= of the log lines. */
	for (i = 0; i < nitems(delays); i++) {
		duration(d, sizeof(d), delays[i].secs);
		report("duration", delays[i].want, strcmp(d, delays[i].want) == 0 ?
		    NULL : why("got %s", d));
	}

	snprintf(path, sizeof(path), "%s/queue-file", spool);
	for (i = 0; i < nitems(queue_cases); i++) {
		n = snprintf(file, sizeof(file), "outbox 1\n" QTEST_BODY
		    "id " QTEST_ID "\ntime 5\nsender s@x.org\n%send %zu %08x\n",
		    queue_cases[i].rcpts, bl,
		    (unsigned)crc32_update(0, QTEST_BODY, bl));
		err[0] = '\0';
		if (write_file(path, file, (size_t)n) == -1 ||
		    (fd = open(path, O_RDONLY)) == -1) {
			report("queue_parse", queue_cases[i].desc,
			    why("cannot write %s", path));
			continue;
		}
		rc = queue_parse(QTEST_ID, fd, -1, 1, err, sizeof(err));
		if (rc != queue_cases[i].rc)
			reason = why("got rc %d (%s), want %d", rc, visz(err),
			    queue_cases[i].rc);
		else if (queue_cases[i].err != NULL &&
		    strstr(err, queue_cases[i].err) == NULL)
			reason = why("got %s, want ...%s", visz(err),
			    visz(queue_cases[i].err));
		else
			reason = NULL;
		report("queue_parse", queue_cases[i].desc, reason);
		unlink(path);
	}
}

/* ------------------------------------------------------------------ */
/* cert.c */

/*
 * A self-signed P-256 certificate for CN=unit.example, O=outbox, valid
 * from 2020-02-29 12:34:56 UTC (UTCTime, a leap day) to 2051-01-01
 * (GeneralizedTime), with the names DNS:unit.example, DNS:*.unit.example,
 * IP:192.0.2.7 and IP:2001:db8::1.  Its pin, from openssl:
 * 9Z8HnLo3lpD2QYPNVFtlrNCa/9HE41PtPU8D+RwYICQ=
 */
static const unsigned char unit_cert[] = {
	0x30, 0x82, 0x01, 0xa5, 0x30, 0x82, 0x01, 0x4a, 0xa0, 0x03, 0x02, 0x01,
	0x02, 0x02, 0x02, 0x10, 0x00, 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48,
	0xce, 0x3d, 0x04, 0x03, 0x02, 0x30, 0x28, 0x31, 0x15, 0x30, 0x13, 0x06,
	0x03, 0x55, 0x04, 0x03, 0x0c, 0x0c, 0x75, 0x6e, 0x69, 0x74, 0x2e, 0x65,
	0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x31, 0x0f, 0x30, 0x0d, 0x06, 0x03,
	0x55, 0x04, 0x0a, 0x0c, 0x06, 0x6f, 0x75, 0x74, 0x62, 0x6f, 0x78, 0x30,
	0x20, 0x17, 0x0d, 0x32, 0x30, 0x30, 0x32, 0x32, 0x39, 0x31, 0x32, 0x33,
	0x34, 0x35, 0x36, 0x5a, 0x18, 0x0f, 0x32, 0x30, 0x35, 0x31, 0x30, 0x31,
	0x30, 0x31, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x5a, 0x30, 0x28, 0x31,
	0x15, 0x30, 0x13, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x0c, 0x75, 0x6e,
	0x69, 0x74, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x31, 0x0f,
	0x30, 0x0d, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x06, 0x6f, 0x75, 0x74,
	0x62, 0x6f, 0x78, 0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
	0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03,
	0x01, 0x07, 0x03, 0x42, 0x00, 0x04, 0x13, 0xbb, 0xbd, 0x0e, 0x4c, 0x45,
	0x4f, 0x3f, 0x8a, 0x8c, 0x17, 0x8a, 0xd8, 0x22, 0xaf, 0x3c, 0x77, 0x6c,
	0x3e, 0x56, 0x09, 0x20, 0xfe, 0xb4, 0x25, 0xe9, 0xd6, 0x5a, 0x03, 0x4e,
	0xda, 0xf5, 0xd4, 0x81, 0x9d, 0x67, 0x63, 0x0f, 0x62, 0xf6, 0x06, 0x76,
	0x0f, 0xca, 0xe7, 0xa5, 0x74, 0x66, 0x6e, 0x60, 0x5e, 0x76, 0x68, 0xea,
	0x8e, 0xa4, 0xb0, 0x93, 0x3d, 0xac, 0xd8, 0x10, 0x87, 0x18, 0xa3, 0x62,
	0x30, 0x60, 0x30, 0x3f, 0x06, 0x03, 0x55, 0x1d, 0x11, 0x04, 0x38, 0x30,
	0x36, 0x82, 0x0c, 0x75, 0x6e, 0x69, 0x74, 0x2e, 0x65, 0x78, 0x61, 0x6d,
	0x70, 0x6c, 0x65, 0x82, 0x0e, 0x2a, 0x2e, 0x75, 0x6e, 0x69, 0x74, 0x2e,
	0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x87, 0x04, 0xc0, 0x00, 0x02,
	0x07, 0x87, 0x10, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x30, 0x1d, 0x06, 0x03, 0x55,
	0x1d, 0x0e, 0x04, 0x16, 0x04, 0x14, 0xb4, 0x1d, 0x8f, 0x94, 0x02, 0x07,
	0x2e, 0xd8, 0x4d, 0x54, 0xc9, 0xfd, 0x51, 0x61, 0x56, 0x8a, 0x46, 0xf7,
	0x4f, 0xd5, 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04,
	0x03, 0x02, 0x03, 0x49, 0x00, 0x30, 0x46, 0x02, 0x21, 0x00, 0xdd, 0x36,
	0x50, 0xab, 0x93, 0x9a, 0x38, 0x80, 0x27, 0x98, 0xb1, 0x60, 0x57, 0xa2,
	0xf3, 0x38, 0xce, 0x28, 0xd9, 0xcb, 0x62, 0x7c, 0xad, 0xde, 0xd1, 0x7c,
	0x20, 0x76, 0x47, 0x34, 0x46, 0x75, 0x02, 0x21, 0x00, 0xfa, 0xca, 0xb5,
	0xa2, 0xd3, 0xb6, 0x59, 0x02, 0xde, 0xba, 0x88, 0xc3, 0x3b, 0xb5, 0x81,
	0xe9, 0x25, 0x0e, 0xa2, 0xf7, 0xc5, 0xc1, 0x3c, 0x25, 0xc5, 0x95, 0x1f,
	0xd7, 0xa4, 0xae, 0x98, 0x2a,
};

static void
test_cert(void)
{
	static const unsigned char v4[] = { 192, 0, 2, 7 }, v4no[] = {
	    192, 0, 2, 8 }, v6[] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 1 };
	unsigned char der[sizeof(unit_cert)], h[32];
	struct certinfo ci;
	br_sha256_context sc;
	char buf[512];
	size_t i, n;
	int bad;

	report("cert_parse", "a certificate", cert_parse(unit_cert,
	    sizeof(unit_cert), &ci) == 0 ? NULL : why("refused"));
	report("cert_parse", "UTCTime on a leap day", ci.notbefore ==
	    1582979696 ? NULL : why("%lld", (long long)ci.notbefore));
	report("cert_parse", "GeneralizedTime", ci.notafter == 2556144000LL ?
	    NULL : why("%lld", (long long)ci.notafter));
	n = cert_name(buf, sizeof(buf), ci.subject, ci.subjectlen);
	report("cert_name", "subject", same(buf, n, "CN=unit.example, O=outbox",
	    25));
	n = cert_name(buf, sizeof(buf), ci.issuer, ci.issuerlen);
	report("cert_name", "issuer", same(buf, n, "CN=unit.example, O=outbox",
	    25));
	n = cert_name(buf, 8, ci.subject, ci.subjectlen);
	report("cert_name", "truncated", n < 8 && buf[n] == '\0' ? NULL :
	    why("%zu", n));
	n = cert_altnames(buf, sizeof(buf), &ci);
	report("cert_altnames", "DNS and IP", same(buf, n, "DNS:unit.example, "
	    "DNS:*.unit.example, IP:192.0.2.7, IP:2001:db8::1", 66));
	n = cert_altnames(buf, 20, &ci);
	report("cert_altnames", "truncated", n < 20 && buf[n] == '\0' ? NULL :
	    why("%zu", n));
	report("cert_match_ip", "IPv4 named", cert_match_ip(&ci, v4, 4) ? NULL :
	    why("no match"));
	report("cert_match_ip", "IPv4 not named", !cert_match_ip(&ci, v4no,
	    4) ? NULL : why("matched"));
	report("cert_match_ip", "IPv6 named", cert_match_ip(&ci, v6, 16) ?
	    NULL : why("no match"));
	report("cert_match_ip", "IPv4 as 16 bytes", !cert_match_ip(&ci, v4,
	    3) ? NULL : why("matched"));

	/* The pin: SHA-256 of the SubjectPublicKeyInfo, as openssl says. */
	br_sha256_init(&sc);
	br_sha256_update(&sc, ci.spki, ci.spkilen);
	br_sha256_out(&sc, h);
	tls_pin_text(buf, sizeof(buf), h);
	report("cert_parse", "pin of the key", same(buf, strlen(buf),
	    "sha256//9Z8HnLo3lpD2QYPNVFtlrNCa/9HE41PtPU8D+RwYICQ=", 52));

	n = cert_time(buf, sizeof(buf), 0);
	report("cert_time", "the epoch", same(buf, n,
	    "1970-01-01 00:00:00 UTC", 23));
	n = cert_time(buf, sizeof(buf), 1582979696);
	report("cert_time", "a leap day", same(buf, n,
	    "2020-02-29 12:34:56 UTC", 23));

	/* Cut short anywhere: refused, and nothing read past the end. */
	for (bad = 0, i = 0; i < sizeof(unit_cert); i++) {
		memcpy(der, unit_cert, i);
		if (cert_parse(der, i, &ci) != -1)
			bad++;
	}
	report("cert_parse", "every truncation refused", bad == 0 ? NULL :
	    why("%d accepted", bad));
	/* Any one byte changed: no crash, and the names stay in bounds. */
	for (i = 0; i < sizeof(unit_cert); i++) {
		memcpy(der, unit_cert, sizeof(der));
		der[i] ^= 0xff;
		if (cert_parse(der, sizeof(der), &ci) == 0) {
			cert_name(buf, sizeof(buf), ci.subject, ci.subjectlen);
			cert_altnames(buf, sizeof(buf), &ci);
		}
	}
	report("cert_parse", "every byte flipped", NULL);

	/* A clock that was never set is named as such (T-8). */
	report("tls_clock", "1970", tls_clock(0, buf, sizeof(buf)) == -1 &&
	    strstr(buf, "system clock not set (it says 1970-01-01") ? NULL :
	    why("%s", buf));
	report("tls_clock", "2019", tls_clock(1577836799, buf, sizeof(buf)) ==
	    -1 ? NULL : why("accepted"));
	report("tls_clock", "the floor", tls_clock(CLOCK_FLOOR, buf,
	    sizeof(buf)) == 0 ? NULL : why("%s", buf));
}

/* ------------------------------------------------------------------ */
/* dns.c */

/* The header of an answer to id 0x1234, one question, an answers. */
#define DNS_HDR(an)	0x12, 0x34, 0x81, 0x80, 0, 1, 0, (an), 0, 0, 0, 0
/* The question "mx.example.org" type A, class IN. */
#define DNS_Q		2, 'm', 'x', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', \
			3, 'o', 'r', 'g', 0, 0, 1, 0, 1
/* An A record for the name at offset 12, TTL 60, address 192.0.2.7. */
#define DNS_A_RR	0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7

static const struct {
	const char		*desc;
	unsigned char		 msg[96];
	size_t			 len;
	int			 want;	/* records, or -1 */
} dns_cases[] = {
	{ "one A record", { DNS_HDR(1), DNS_Q, DNS_A_RR }, 48, 1 },
	{ "NXDOMAIN, no records", { 0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 0,
	    0, 0, DNS_Q }, 32, 0 },
	{ "wrong id", { 0x12, 0x35, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
	    DNS_Q, DNS_A_RR }, 48, -1 },
	{ "a query, not a response", { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0,
	    0, 0, 0, DNS_Q }, 32, -1 },
	{ "another question", { DNS_HDR(0), 2, 'm', 'y', 7, 'e', 'x', 'a',
	    'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0, 1, 0, 1 }, 32, -1 },
	{ "another type asked", { DNS_HDR(0), 2, 'm', 'x', 7, 'e', 'x', 'a',
	    'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0, 28, 0, 1 }, 32, -1 },
	{ "cut in the record", { DNS_HDR(1), DNS_Q, DNS_A_RR }, 47, -1 },
	{ "more records than bytes", { DNS_HDR(200), DNS_Q, DNS_A_RR }, 48,
	    -1 },
	{ "A with 5 bytes", { DNS_HDR(1), DNS_Q, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0,
	    60, 0, 5, 192, 0, 2, 7, 1 }, 49, -1 },
	{ "pointer to itself", { DNS_HDR(1), DNS_Q, 0xc0, 32, 0, 1, 0, 1, 0,
	    0, 0, 60, 0, 4, 192, 0, 2, 7 }, 48, -1 },
	{ "pointer forward", { DNS_HDR(1), DNS_Q, 0xc0, 40, 0, 1, 0, 1, 0, 0,
	    0, 60, 0, 4, 192, 0, 2, 7 }, 48, -1 },
	{ "pointer past the end", { DNS_HDR(1), DNS_Q, 0xc0, 200, 0, 1, 0, 1,
	    0, 0, 0, 60, 0, 4, 192, 0, 2, 7 }, 48, -1 },
	{ "reserved label type", { DNS_HDR(1), DNS_Q, 0x80, 12, 0, 1, 0, 1, 0,
	    0, 0, 60, 0, 4, 192, 0, 2, 7 }, 48, -1 },
	{ "a dot in a label", { DNS_HDR(0), 2, 'm', '.', 7, 'e', 'x', 'a',
	    'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0, 1, 0, 1 }, 32, -1 },
	{ "label runs past the end", { DNS_HDR(0), 60, 'm', 'x' }, 15, -1 },
	{ "CNAME then A", { DNS_HDR(2), DNS_Q, 0xc0, 12, 0, 5, 0, 1, 0, 0, 0,
	    60, 0, 4, 1, 'a', 0xc0, 15, 0xc0, 44, 0, 1, 0, 1, 0, 0, 0, 60, 0,
	    4, 192, 0, 2, 8 }, 64, 2 },
	{ "CNAME rdata longer than its name", { DNS_HDR(1), DNS_Q, 0xc0, 12,
	    0, 5, 0, 1, 0, 0, 0, 60, 0, 5, 1, 'a', 0xc0, 15, 0 }, 49, -1 },
};

static void
test_dns(void)
{
	unsigned char q[600];
	struct dnsrr rr[4];
	struct resolvconf rc;
	char name[300];
	size_t i, n;
	int r, rcode;
	unsigned tc;

	for (i = 0; i < nitems(dns_cases); i++) {
		r = dns_answer(dns_cases[i].msg, dns_cases[i].len, 0x1234,
		    "mx.example.org", DNS_A, rr, nitems(rr), &rcode, &tc);
		report("dns_answer", dns_cases[i].desc, r == dns_cases[i].want ?
		    NULL : why("got %d, want %d", r, dns_cases[i].want));
	}
	r = dns_answer(dns_cases[0].msg, dns_cases[0].len, 0x1234,
	    "MX.Example.ORG", DNS_A, rr, nitems(rr), &rcode, &tc);
	report("dns_answer", "the A record's fields", r == 1 && rr[0].type ==
	    DNS_A && rr[0].ttl == 60 && memcmp(rr[0].addr, "\300\000\002\007",
	    4) == 0 && strcmp(rr[0].name, "mx.example.org") == 0 && rcode == 0 &&
	    !(tc & 0x0200) ? NULL : why("r %d", r));
	r = dns_answer(dns_cases[15].msg, dns_cases[15].len, 0x1234,
	    "mx.example.org", DNS_A, rr, nitems(rr), &rcode, &tc);
	report("dns_answer", "the CNAME's target", r == 2 &&
	    strcmp(rr[0].target, "a.example.org") == 0 &&
	    strcmp(rr[1].name, "a.example.org") == 0 ? NULL :
	    why("%s", rr[0].target));

	/* Every truncation of every case: refused or fewer, never a crash. */
	for (i = 0; i < nitems(dns_cases); i++)
		for (n = 0; n < dns_cases[i].len; n++)
			dns_answer(dns_cases[i].msg, n, 0x1234, "mx.example.org",
			    DNS_A, rr, nitems(rr), &rcode, &tc);
	report("dns_answer", "every truncation", NULL);

	/* MX: preference and target, a compressed one and a null MX. */
	{
		static const unsigned char mx[] = { DNS_HDR(2), 2, 'm', 'x', 7,
		    'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0,
		    15, 0, 1, 0xc0, 12, 0, 15, 0, 1, 0, 0, 0, 60, 0, 6, 0, 10,
		    1, 'a', 0xc0, 15, 0xc0, 12, 0, 15, 0, 1, 0, 0, 0, 60, 0, 3,
		    0, 0, 0 };
		static const unsigned char srv[] = { DNS_HDR(1), 2, 'm', 'x',
		    7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0,
		    0, 33, 0, 1, 0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 60, 0, 10, 0,
		    5, 0, 7, 2, 0x4b, 1, 's', 0xc0, 15 };

		r = dns_answer(mx, sizeof(mx), 0x1234, "mx.example.org",
		    DNS_MX, rr, nitems(rr), &rcode, &tc);
		report("dns_answer", "MX records", r == 2 && rr[0].pref == 10 &&
		    strcmp(rr[0].target, "a.example.org") == 0 &&
		    rr[1].pref == 0 && rr[1].target[0] == '\0' ? NULL :
		    why("r %d", r));
		r = dns_answer(srv, sizeof(srv), 0x1234, "mx.example.org",
		    DNS_SRV, rr, nitems(rr), &rcode, &tc);
		report("dns_answer", "an SRV record", r == 1 &&
		    rr[0].pref == 5 && rr[0].weight == 7 && rr[0].port == 587 &&
		    strcmp(rr[0].target, "s.example.org") == 0 ? NULL :
		    why("r %d", r));
		r = dns_answer(srv, sizeof(srv) - 1, 0x1234, "mx.example.org",
		    DNS_SRV, rr, nitems(rr), &rcode, &tc);
		report("dns_answer", "an SRV target cut short", r == -1 ? NULL :
		    why("r %d", r));
	}

	/* The query: labels, type, class, and what is not a name. */
	n = dns_query(q, sizeof(q), 0xbeef, "mx.example.org", DNS_AAAA);
	report("dns_query", "mx.example.org AAAA", n == 32 && q[0] == 0xbe &&
	    q[1] == 0xef && q[2] == 1 && q[5] == 1 && memcmp(q + 12,
	    "\002mx\007example\003org\000\000\034\000\001", 20) == 0 ? NULL :
	    why("%zu bytes", n));
	report("dns_query", "an empty label", dns_query(q, sizeof(q), 1,
	    "a..b", DNS_A) == 0 ? NULL : why("accepted"));
	memset(name, 'a', 64);
	name[64] = '\0';
	report("dns_query", "a label of 64", dns_query(q, sizeof(q), 1, name,
	    DNS_A) == 0 ? NULL : why("accepted"));
	for (i = 0; i < 128; i++) {
		name[2 * i] = 'a';
		name[2 * i + 1] = '.';
	}
	name[253] = '\0';	/* 127 labels of 1: 255 bytes on the wire */
	report("dns_query", "255 bytes", dns_query(q, sizeof(q), 1, name,
	    DNS_A) != 0 ? NULL : why("refused"));
	name[253] = 'a';
	name[254] = 'a';
	name[255] = '\0';
	report("dns_query", "256 bytes", dns_query(q, sizeof(q), 1, name,
	    DNS_A) == 0 ? NULL : why("accepted"));

	/* A bound below 10 (resolv.conf's attempts:5) holds too. */
	{
		long long x;

		report("parse_number", "9 above 5", parse_number("9", 1, 5,
		    &x) == -1 ? NULL : why("accepted"));
		report("parse_number", "5 of 5", parse_number("5", 1, 5,
		    &x) == 0 && x == 5 ? NULL : why("refused"));
		report("parse_number", "65536 above 65535", parse_number(
		    "65536", 1, 65535, &x) == -1 ? NULL : why("accepted"));
	}

	/* resolv.conf, with the defaults of glibc and musl. */
	dns_conf("", &rc);
	report("dns_conf", "empty: 127.0.0.1", rc.nns == 1 &&
	    rc.ns[0].ss_family == AF_INET && rc.ndots == 1 && rc.timeout == 5 &&
	    rc.attempts == 2 && rc.nsearch == 0 ? NULL : why("nns %d", rc.nns));
	dns_conf("# comment\nnameserver 192.0.2.1\nnameserver ::1\n"
	    "nameserver 192.0.2.3\nnameserver 192.0.2.4\nsearch a.example "
	    "b.example.\noptions ndots:2 timeout:1 attempts:9 rotate\n", &rc);
	report("dns_conf", "servers, search, options", rc.nns == 3 &&
	    rc.ns[1].ss_family == AF_INET6 && rc.nsearch == 2 &&
	    strcmp(rc.search[1], "b.example") == 0 && rc.ndots == 2 &&
	    rc.timeout == 1 && rc.attempts == 2 && rc.rotate ? NULL :
	    why("nns %d nsearch %d attempts %d", rc.nns, rc.nsearch,
	    rc.attempts));
	dns_conf("search a.example\ndomain c.example\nnameserver bogus\n", &rc);
	report("dns_conf", "the last of search and domain", rc.nsearch == 1 &&
	    strcmp(rc.search[0], "c.example") == 0 && rc.nns == 1 ? NULL :
	    why("nsearch %d", rc.nsearch));
}

/* ------------------------------------------------------------------ */

/* Remove what the tests left in dir, and dir: two levels at most. */
static void
rm_tree(const char *dir, int depth)
{
	char path[4400];
	struct dirent *d;
	struct stat st;
	DIR *dp;

	if ((dp = opendir(dir)) != NULL) {
		while ((d = readdir(dp)) != NULL) {
			if (strcmp(d->d_name, ".") == 0 ||
			    strcmp(d->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
			if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
			    depth > 0)
				rm_tree(path, depth - 1);
			else
				unlink(path);
		}
		closedir(dp);
	}
	rmdir(dir);
}

int
main(int argc, char *argv[])
{
	static char domain[] = "example.org";
	const char *tmp = getenv("TMPDIR");
	char err[ERR_MAX];

	if (argc > 1 && strcmp(argv[1], "-q") == 0)
		quiet = 1;
	else if (argc > 1) {
		fprintf(stderr, "usage: tests/unit [-q]\n");
		return EX_USAGE;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	snprintf(spool, sizeof(spool), "%s/outbox-unit.XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(spool) == NULL) {
		fprintf(stderr, "tests/unit: mkdtemp %s: %s\n", spool,
		    strerror(errno));
		return EX_OSERR;
	}
	conf.spool = spool;
	conf.domain = domain;
	conf.admin = NULL;
	conf.rewrite_from = 0;
	strlcpy(conf.hostname, "mybox.example.net", sizeof(conf.hostname));
	if (queue_init(err, sizeof(err)) == -1) {
		fprintf(stderr, "tests/unit: %s\n", err);
		rm_tree(spool, 1);
		return EX_OSERR;
	}

	test_utf8();
	test_check();
	test_parse();
	test_sender();
	test_errors_to();
	test_rcpt();		/* before any aliases are loaded */
	test_msg();		/* -t expands local names: no aliases either */
	test_aliases();
	test_queue();
	test_auth();
	test_cert();
	test_dns();

	rm_tree(spool, 1);
	printf("1..%d\n", ntest);
	printf("# %d passed, %d failed\n", ntest - nfail, nfail);
	return nfail > 125 ? 125 : nfail;
}
