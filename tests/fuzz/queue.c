/*
 * Fuzz target for the spool reader (REQUIREMENTS P-8: queue files are
 * untrusted input): queue_parse() on a message file, as mailq reads it
 * and then as a queue run does (length and CRC checked), each time with
 * its state file.  The input holds both: the state file starts at the
 * last line "outbox-state 1"; without one, the message has no state.
 * The id the file must be named by is taken from its "id" line when
 * that holds one, so that files written by outbox can be the seeds.
 *
 * queue_parse() checks that the file is a plain file with one link, so
 * the input is written to files in a private directory under $TMPDIR
 * (or /tmp), made once and removed at exit.  For libFuzzer (make fuzz)
 * and for tests/fuzz/replay.c, which make check runs on the corpus in
 * tests/data/fuzz-queue.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../outbox.h"
#include "fuzz.h"

#define STATE_MAGIC	"outbox-state 1\n"


static char	dir[4096], qpath[4200], spath[4200], spool[4200];
static int	qfd = -1, sfd = -1, nullfd = -1, errfd = -1;

static void
remove_dir(void)
{
	close(nullfd);
	close(qfd);
	close(sfd);
	unlink(qpath);
	unlink(spath);
	rmdir(dir);
}

static int
make(char *p, size_t cap, const char *name)
{
	int fd;

	snprintf(p, cap, "%s/%s", dir, name);
	if ((fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1) {
		perror(p);
		abort();
	}
	return fd;
}

static void
setup(void)
{
	fuzz_dir(dir, sizeof(dir), "queue");
	/*
	 * A state file that does not parse is logged on stderr, which is
	 * turned off while queue_parse() runs; the sanitizers report on a
	 * copy of it.
	 */
	if ((nullfd = open("/dev/null", O_WRONLY)) == -1 ||
	    (errfd = dup(STDERR_FILENO)) == -1) {
		perror("fuzz-queue: stderr");
		abort();
	}
	__sanitizer_set_report_fd((void *)(intptr_t)errfd);
	qfd = make(qpath, sizeof(qpath), "message");
	sfd = make(spath, sizeof(spath), "state");
	atexit(remove_dir);
	/* With no state file given, state_read() finds none here. */
	snprintf(spool, sizeof(spool), "%s/spool", dir);
	conf.spool = spool;
	conf.domain = "example.org";
}

/*
 * The file holds the input.  Written over, then cut to size: truncating
 * it to nothing first would have ext4 flush it at each close.
 */
static void
store(int fd, const char *p, const uint8_t *data, size_t size)
{
	if (pwrite(fd, data, size, 0) != (ssize_t)size ||
	    ftruncate(fd, (off_t)size) == -1) {
		perror(p);
		abort();
	}
}

static int
reopen(const char *p)
{
	int fd;

	if ((fd = open(p, O_RDONLY)) == -1) {
		perror(p);
		abort();
	}
	return fd;
}

/* The value of the last "id" line, when it is a queue id. */
static void
find_id(const uint8_t *data, size_t size, char *id)
{
	const uint8_t *p, *v = NULL;
	size_t i;

	for (p = data; p + 4 <= data + size; p++)
		if ((p == data || p[-1] == '\n') && memcmp(p, "id ", 3) == 0)
			v = p + 3;
	if (v == NULL || v + QID_LEN > data + size)
		return;
	for (i = 0; i < QID_LEN; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' &&
		    v[i] <= 'f')))
			return;
	memcpy(id, v, QID_LEN);
	id[QID_LEN] = '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[QID_LEN + 1] = "0123456789abcdef", err[ERR_MAX];
	size_t qlen = size, k = sizeof(STATE_MAGIC) - 1, i;
	int running, state = 0;

	if (qfd == -1)
		setup();
	for (i = size >= k ? size - k + 1 : 0; i-- > 0; )
		if ((i == 0 || data[i - 1] == '\n') &&
		    memcmp(data + i, STATE_MAGIC, k) == 0) {
			qlen = i;
			state = 1;
			break;
		}
	find_id(data, qlen, id);
	store(qfd, qpath, data, qlen);
	if (state)
		store(sfd, spath, data + qlen, size - qlen);
	for (running = 0; running <= 1; running++) {
		dup2(nullfd, STDERR_FILENO);
		queue_parse(id, reopen(qpath), state ? reopen(spath) : -1,
		    running, err, sizeof(err));
		dup2(errfd, STDERR_FILENO);
	}
	return 0;
}
