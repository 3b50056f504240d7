/*
 * Fuzz target for intake's header and address parsers (msg.c): the
 * input is a message read by msg_read() as sendmail reads stdin (header
 * fields and their folding, -t recipients from To, Cc, Bcc and their
 * Resent- forms, local names qualified, From rewritten, long lines
 * re-encoded), and its first line is also an address list, given to
 * addr_parse_list(), addr_check(), addr_rcpt() (through a fixed aliases
 * table with loops and deep nesting), addr_sender() and
 * addr_errors_to().  Then the same bytes are read as -bs command lines
 * with in_command().
 *
 * The first byte chooses the options; the rest is the message:
 *
 *	bit 0		-t: recipients from the header
 *	bit 1		no -i: a lone "." ends the message
 *	bit 2		-bs DATA: dot-stuffed, "." ends it
 *	bit 3		rewrite_from yes, with an envelope sender
 *	bit 4		-F: a full name for an added From
 *	bits 5-6	admin: none, a local name, an address, "root"
 *	bit 7		the full name is long and 8bit
 *
 * The queue writer needs a spool: a private one under $TMPDIR (or /tmp),
 * made once and removed at exit; each input's file is removed after it.
 * For libFuzzer (make fuzz) and for tests/fuzz/replay.c, which make
 * check runs on the corpus in tests/data/fuzz-msg.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../outbox.h"
#include "fuzz.h"


#define L16	"llllllllllllllll"
#define D60	"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"

static const char aliases[] =
    "# every kind of entry addr_rcpt() expands\n"
    "root: admin, ops@example.org\n"
    "admin: root, \"Quoted Name\" <boss@example.net>\n"
    "postmaster: root\n"
    "loop1: loop2\n"
    "loop2: loop1, loop3\n"
    "loop3: loop1@localhost\n"
    "d1: d2\nd2: d3\nd3: d4\nd4: d5\nd5: d6\nd6: d7\nd7: d8\nd8: d9\n"
    "d9: d10\nd10: end@example.org\n"
    "staff: a@example.org,\n  b@example.org, group: c@example.org;\n"
    /* 64 + 1 + 189 bytes: the longest address, before qualifying. */
    "long: " L16 L16 L16 L16 "@" D60 "." D60 "." D60 "ddd.org\n";

static char	spool[4096];
static char	domain[] = "example.org";
static int	in_fd = -1;

/* Remove the spool: its files, then its directories. */
static void
spool_remove(void)
{
	static const char *const sub[] = { "tmp", "queue", "state", "failed",
	    "corrupt", "", NULL };
	char dir[4200], path[4500];
	struct dirent *d;
	DIR *dp;
	int i;

	for (i = 0; sub[i] != NULL; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", spool, sub[i]);
		if ((dp = opendir(dir)) != NULL) {
			while ((d = readdir(dp)) != NULL) {
				snprintf(path, sizeof(path), "%s/%s", dir,
				    d->d_name);
				unlink(path);
			}
			closedir(dp);
		}
		rmdir(dir);
	}
}

/* The spool, the aliases, and the file the message is read from. */
static void
setup(void)
{
	char err[ERR_MAX], path[4200];
	int fd;

	fuzz_dir(spool, sizeof(spool), "msg");
	atexit(spool_remove);
	conf.spool = spool;
	conf.domain = domain;
	strlcpy(conf.hostname, "mybox.example.net", sizeof(conf.hostname));
	snprintf(path, sizeof(path), "%s/aliases", spool);
	if (queue_init(err, sizeof(err)) == -1 ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    write(fd, aliases, sizeof(aliases) - 1) !=
	    (ssize_t)sizeof(aliases) - 1 || close(fd) == -1 ||
	    aliases_load(path, err, sizeof(err)) == -1) {
		fprintf(stderr, "fuzz-msg: setup: %s\n", err);
		abort();
	}
	snprintf(path, sizeof(path), "%s/input", spool);
	if ((in_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1) {
		perror(path);
		abort();
	}
}

/* The first line of the message as an address list, as argv gives one. */
static void
addresses(const uint8_t *data, size_t size)
{
	struct addrlist l = { 0 }, r = { 0 };
	char err[ERR_MAX], out[ADDR_MAX + 64], eto[ADDR_MAX];
	const uint8_t *nl;
	char *s;
	size_t n, i;

	nl = memchr(data, '\n', size);
	n = nl ? (size_t)(nl - data) : size;
	s = xmalloc(n + 1);
	memcpy(s, data, n);
	s[n] = '\0';
	addr_check(s, err, sizeof(err));
	if (addr_parse_list(s, &l, err, sizeof(err)) == 0)
		for (i = 0; i < l.n; i++)
			if (addr_rcpt(l.v[i], &r, err, sizeof(err)) == -1)
				break;
	if (addr_sender(s, out, sizeof(out), err, sizeof(err)) == 0)
		addr_errors_to(s, out, eto, sizeof(eto));
	addrlist_free(&l);
	addrlist_free(&r);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const admins[] = { NULL, "postmaster",
	    "ops@example.org", "root" };
	static char longname[FULLNAME_MAX + 64];
	struct addrlist rcpts = { 0 };
	struct intake ik;
	struct msginfo info;
	struct input *in;
	char err[ERR_MAX], line[ADDR_MAX + 512 + 1];	/* smtpin.c CMD_MAX */
	struct qw w;
	int f;

	if (size < 1)
		return 0;
	if (in_fd == -1)
		setup();
	f = data[0];
	data++;
	size--;

	conf.admin = (char *)admins[f >> 5 & 3];
	conf.rewrite_from = (f & 0x08) != 0;
	if (longname[0] == '\0') {
		memset(longname, 'n', sizeof(longname) - 1);
		memcpy(longname + FULLNAME_MAX - 1, "\xc3\xa9", 2);
	}
	memset(&ik, 0, sizeof(ik));
	ik.extract = (f & 0x01) != 0;
	ik.dot_ends = (f & 0x02) != 0;
	ik.smtp = (f & 0x04) != 0;
	ik.header_from = "me@example.org";
	ik.sender = f & 0x08 ? "alerts@example.com" : NULL;
	if (f & 0x10)
		ik.fullname = f & 0x80 ? longname : "Fuzz T\xc3\xa9st \"q\" (c)";

	addresses(data, size);

	/* Not truncated to nothing first, which has ext4 flush it. */
	if (pwrite(in_fd, data, size, 0) != (ssize_t)size ||
	    ftruncate(in_fd, (off_t)size) == -1 ||
	    lseek(in_fd, 0, SEEK_SET) == -1) {
		perror("fuzz-msg: input");
		abort();
	}
	if (queue_create(&w, 1, err, sizeof(err)) == -1) {
		fprintf(stderr, "fuzz-msg: %s\n", err);
		abort();
	}
	in = in_new(in_fd);
	msg_read(in, &w, &ik, &rcpts, &info, err, sizeof(err));
	in_free(in);
	queue_abort(&w);
	addrlist_free(&rcpts);

	if (lseek(in_fd, 0, SEEK_SET) == -1) {
		perror("fuzz-msg: input");
		abort();
	}
	in = in_new(in_fd);
	while (in_command(in, line, sizeof(line)) > 0)
		;
	in_free(in);
	return 0;
}
