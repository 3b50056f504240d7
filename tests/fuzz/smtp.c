/*
 * Fuzz target for the SMTP client's reply parser: the input is what a
 * server says, read through an in-memory struct io by smtp_open_io()
 * (greeting, EHLO and its capabilities, HELO when EHLO is refused) and
 * then by smtp_send() for up to three transactions of one message, so
 * that multi-line replies, changing codes, line and reply bounds,
 * trailing data, PIPELINING groups and the EHLO keywords (SIZE, AUTH,
 * 8BITMIME, SMTPUTF8, DSN) are all reached.
 *
 * The first byte chooses how the session runs; the rest is what the
 * server sends, in turns separated by the two bytes NUL LF: the first
 * turn can be read at once, each later one once the client has written
 * once more (a command, a pipelined group or the message), as a server
 * answers.  Reading past what is there times out, or ends the stream
 * after the last turn.  (A lone NUL is still a NUL from the server.)
 *
 *	bits 0-1	bytes per read: all, 1, 7 or 512
 *	bit 2		the message is 8bit (BODY=8BITMIME)
 *	bit 3		it needs SMTPUTF8
 *	bit 4		it has DSN requests (NOTIFY, RET, ENVID)
 *	bits 5-6	1 to 4 recipients
 *	bit 7		the first recipient was settled already (host mx)
 *
 * Everything written to the "server" is checked to be CRLF-only
 * (REQUIREMENTS S-5); a bare CR or LF aborts.  For libFuzzer (make
 * fuzz) and for tests/fuzz/replay.c, which make check runs on the
 * corpus in tests/data/fuzz-smtp.
 */
#include <errno.h>
#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../outbox.h"
#include "fuzz.h"


#define TURNS_MAX	64

/* The server's side of the stream. */
struct peer {
	uint8_t		*data;		/* the turns, without separators */
	size_t		 len, off, chunk;
	size_t		 end[TURNS_MAX];	/* where each turn ends */
	size_t		 nturns, writes;
	int		 cr;	/* the last byte written was a CR */
};

/* A message body with what send_body() must take care of. */
static const char body_head[] =
    "Subject: fuzz\n\n.a line that starts with a dot\n.\n..\n"
    "a bare CR \r in a line, and a NUL \0 byte\n";
static int body_fd = -1, nullfd = -1, errfd = -1;
static long long body_len, body_lines;

static char	helo[] = "client.example.org";
static char	domain[] = "example.org";
static char	spool[] = "/nonexistent/outbox-fuzz-smtp";

static ssize_t
peer_read(void *ctx, void *buf, size_t cap, int64_t deadline)
{
	struct peer *p = ctx;
	size_t n, end;

	(void)deadline;
	end = p->end[p->writes < p->nturns ? p->writes : p->nturns - 1];
	if (p->off == end && end < p->len) {
		errno = ETIMEDOUT;	/* the server waits for us */
		return -1;
	}
	n = end - p->off;
	if (n > cap)
		n = cap;
	if (n > p->chunk)
		n = p->chunk;
	memcpy(buf, p->data + p->off, n);
	p->off += n;
	return (ssize_t)n;
}

static int
peer_write(void *ctx, const void *buf, size_t len, int64_t deadline)
{
	struct peer *p = ctx;
	const unsigned char *b = buf;
	size_t i;

	(void)deadline;
	for (i = 0; i < len; i++) {
		if ((b[i] == '\n') != p->cr) {
			dprintf(errfd, "fuzz-smtp: bare %s written\n",
			    p->cr ? "CR" : "LF");
			abort();
		}
		p->cr = b[i] == '\r';
	}
	p->writes++;
	return 0;
}

/* Split the input into turns. */
static void
peer_init(struct peer *p, const uint8_t *data, size_t size, size_t chunk)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	p->data = xmalloc(size + 1);
	p->chunk = chunk;
	for (i = 0; i < size; i++) {
		if (data[i] == '\0' && i + 1 < size && data[i + 1] == '\n' &&
		    p->nturns + 1 < TURNS_MAX) {
			p->end[p->nturns++] = p->len;
			i++;
			continue;
		}
		p->data[p->len++] = data[i];
	}
	p->end[p->nturns++] = p->len;
}

/*
 * The body file, made once: pread() by send_body(), never changed.  And
 * stderr: the session logs some failures there ("possible duplicate"),
 * so it is turned off while one runs; the sanitizers report on a copy.
 */
static int
setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char path[4096], line[2500];
	size_t i;

	if ((nullfd = open("/dev/null", O_WRONLY)) == -1 ||
	    (errfd = dup(STDERR_FILENO)) == -1)
		return -1;
	__sanitizer_set_report_fd((void *)(intptr_t)errfd);

	snprintf(path, sizeof(path), "%s/outbox-fuzz-smtp.XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	if ((body_fd = mkstemp(path)) == -1)
		return -1;
	unlink(path);
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	if (write(body_fd, body_head, sizeof(body_head) - 1) !=
	    (ssize_t)sizeof(body_head) - 1 ||
	    write(body_fd, line, sizeof(line)) != (ssize_t)sizeof(line) ||
	    write(body_fd, "no line end", 11) != 11)
		return -1;
	body_len = (long long)(sizeof(body_head) - 1 + sizeof(line) + 11);
	for (i = 0; i < sizeof(body_head) - 1; i++)
		body_lines += body_head[i] == '\n';
	body_lines++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char addrs[4][32] = { "a@example.org", "b@example.net",
	    "c@[192.0.2.1]", "d\xc3\xa9@example.org" };
	static const size_t chunks[] = { SIZE_MAX, 1, 7, 512 };
	char err[ERR_MAX], notify[] = "SUCCESS,FAILURE", ret[] = "HDRS";
	char envid[] = "id+=\x01", sender[] = "sender@example.org";
	struct rcpt rcpt[4];
	struct qmsg m;
	struct smtp *s;
	struct peer p;
	struct io io;
	size_t i, pending;
	int t, f;

	if (size < 1)
		return 0;
	if (body_fd == -1 && setup() == -1) {
		perror("fuzz-smtp: setup");
		abort();
	}
	conf.helo = helo;
	conf.domain = domain;
	conf.spool = spool;	/* queue_sending() finds no state/ */
	conf.timeout = 60;
	f = data[0];

	peer_init(&p, data + 1, size - 1, chunks[f & 3]);
	io.read = peer_read;
	io.write = peer_write;
	io.ctx = &p;

	memset(&m, 0, sizeof(m));
	memset(rcpt, 0, sizeof(rcpt));
	strlcpy(m.id, "0123456789abcdef", sizeof(m.id));
	m.fd = body_fd;
	m.body_len = body_len;
	m.lines = body_lines;
	m.sender = sender;
	m.eightbit = (f & 0x04) != 0;
	m.smtputf8 = (f & 0x08) != 0;
	if (f & 0x10) {
		m.notify = notify;
		m.ret = ret;
		m.envid = envid;
	}
	m.nrcpt = 1 + (size_t)(f >> 5 & 3);
	for (i = 0; i < m.nrcpt; i++)
		rcpt[i].addr = addrs[i];
	rcpt[0].skip = m.nrcpt > 1 && (f & 0x80);
	m.rcpt = rcpt;

	dup2(nullfd, STDERR_FILENO);
	if ((s = smtp_open_io(&io, err, sizeof(err))) != NULL) {
		/* As a queue run goes: again while recipients are pending. */
		for (t = 0; t < 3; t++) {
			for (i = pending = 0; i < m.nrcpt; i++)
				pending += rcpt[i].state == R_PENDING &&
				    !rcpt[i].skip;
			if (pending == 0 ||
			    smtp_send(s, &m, err, sizeof(err)) == -1)
				break;
		}
		smtp_close(s);
	}
	dup2(errfd, STDERR_FILENO);
	free(p.data);
	return 0;
}
