/*
 * The spool, and the queue run.  No other file knows a spool path.
 *
 * Layout, under the "spool" directory:
 *
 *	tmp/		files being written; never read by a queue run, and
 *			removed by one when older than TMP_MAXAGE
 *	queue/ID	committed messages, never changed once here
 *	state/ID	delivery state of queue/ID, replaced atomically
 *	state/ID.sending  exists while the message may be at the server
 *			without its reply recorded (see queue_sending())
 *	failed/		messages given up on (bounced), with their state
 *	corrupt/	files that failed validation; never sent
 *	lock		a whole-queue run holds flock() on it
 *
 * The queue runs as the spool's owner.  Where everything runs as root
 * (a router, a container) the program makes the spool, mode 0700.  On
 * a multi-user host "make install-setgid" makes it: owner root (or a
 * dedicated user), group OUTBOX_GROUP, which the binary is setgid to:
 *
 *	spool	0710	the group may pass, not list
 *	tmp	3730	the group may create files, not list; setgid, so
 *			that every file there gets the spool's group;
 *			sticky, so that no user removes another's file
 *	queue	3770	the group may rename files in, list them (for a
 *			user's mailq) and sync the directory
 *	state	2750	the group may read a state (for a user's mailq)
 *	failed, corrupt	0700
 *
 * Files are made mode 0640.  An ordinary user's intake never holds the
 * group itself: see queue_drop().
 *
 * A message file, format version 1:
 *
 *	outbox 1\n			magic and version
 *	<N bytes>			the message, LF line ends, ending in LF
 *	id ID\n				envelope, one field a line:
 *	time SECONDS\n			  intake time
 *	sender ADDR\n			  empty ADDR for the null sender
 *	errors-to ADDR\n		  optional: bounces go here, not to
 *					  the sender (a local sender's admin)
 *	rcpt ADDR\n			  one line each, in order
 *	8bit\n				  only when BODY=8BITMIME is due
 *	8bit-headers\n			  optional: UTF-8 in the header
 *	smtputf8\n			  optional: an address needs SMTPUTF8
 *	dsn-notify LIST\n		  optional DSN requests (RFC 3461):
 *	dsn-ret FULL|HDRS\n		  NOTIFY, RET and ENVID as given
 *	dsn-envid TEXT\n		  with -N, -R and -V
 *	end N CRC\n			trailer: N in decimal, CRC-32 of the N
 *					bytes as 8 lowercase hex digits
 *
 * The envelope follows the message so that intake can stream it (with
 * -t the recipients are known only after the header).  A reader finds
 * the trailer at the end, checks that magic, message, envelope and
 * trailer add up to the file size and that the CRC matches; a file that
 * fails is moved to corrupt/.  Addresses were checked at intake and hold
 * no control characters, so one field a line needs no quoting.
 *
 * A state file:
 *
 *	outbox-state 1\n
 *	attempts N\n
 *	last SECONDS\n
 *	error TEXT\n			last failure, escaped (util.c escape())
 *	sent I\n			recipient I (0-based) was accepted
 *	failed I TEXT\n			recipient I was refused; its bounce
 *					is queued (none for the null sender)
 *	end\n
 *
 * Both formats are stable: later versions read what this one wrote.
 */
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "outbox.h"

#define MAGIC		"outbox 1\n"
#define MAGIC_LEN	(sizeof(MAGIC) - 1)

/* msg_open() results besides 0 and -1. */
#define Q_BUSY		1	/* locked by another run, or already gone */
#define Q_CORRUPT	2	/* failed validation */

static const char *const dirs[] = {
	"tmp", "queue", "state", "failed", "corrupt", NULL
};

/* The socket to the drop helper (setgid installs), or -1. */
static int helper = -1;

/* The file being written, for queue_sigabort(). */
static char sig_tmppath[4096];
static volatile sig_atomic_t sig_active;

static int	spath(char *, size_t, const char *, const char *);
static int	tmp_create(char *);
static int	tmp_commit(const char *, char *, size_t);
static int	room(int, char *, size_t);
static int	fd_send(int, const void *, size_t, int);
static int	fd_recv(int, void *, size_t, int *);
static __dead void helper_main(int);
static int	helper_call(char, const char *, char *, char *, size_t);
static int	fsync_dir(const char *, char *, size_t);
static int	write_full(int, const void *, size_t);
static int	flush(struct qw *);
static int	append(struct qw *, const void *, size_t);
static int	env_line(struct qw *, const char *, const char *);
static int	msg_open(const char *, struct qmsg *, int, char *, size_t);
static int	msg_load(const char *, int, const struct stat *, struct qmsg *,
		    int, char *, size_t);
static int	parse_trailer(const char *, long long *, uint32_t *);
static void	dsn_status(const char *, char *, size_t);
static int	parse_envelope(struct qmsg *, char *, char *, size_t);
static int	dsn_line(struct qmsg *, const char *, const char *);
static void	msg_close(struct qmsg *);
static void	state_read(struct qmsg *, int);
static int	state_write(struct qmsg *, char *, size_t);
static void	put(struct qw *, const char *, ...) PRINTF(2, 3);
static void	notice_start(struct qw *, const char *, const char *, int,
		    char *, size_t);
static void	notice_end(struct qw *, int, long long, long long, int,
		    const char *);
static int	bounce(struct qmsg *, const char *, int, char *, char *,
		    size_t);
static int	double_bounce(struct qmsg *, struct addrlist *);
static int	mark_path(char *, size_t, const char *);
static int	settle(struct qmsg *, struct addrlist *);
static void	move_to(const char *, const char *, const char *);
static void	clean_spool(void);
static int	list_ids(struct addrlist *, char *, size_t);
static size_t	count(const struct qmsg *, enum rcptstate);
static void	fail_pending(struct qmsg *, const char *);
static void	attempt(struct qmsg *, const char *);
static int	selected(const struct qmsg *, const struct qsel *);
static int	match_any(const struct addrlist *, const char *);
static int	contains(const char *, const char *);
static void	cred_stamp(char *, size_t);
static int	auth_held(char *, size_t);
static void	auth_hold(const char *);
static void	auth_unhold(void);
static void	outcome(const struct qmsg *, const struct rcpt *, const char *,
		    int, const char *);
static void	verdicts(struct qmsg *, const char *, const char *);
static int	send_mx(struct qmsg *, struct tls *, struct smtp **, char *,
		    size_t, struct addrlist *, struct addrlist *);

static int
spath(char *buf, size_t cap, const char *dir, const char *name)
{
	int n;

	if (name)
		n = snprintf(buf, cap, "%s/%s/%s", conf.spool, dir, name);
	else if (dir)
		n = snprintf(buf, cap, "%s/%s", conf.spool, dir);
	else
		n = snprintf(buf, cap, "%s", conf.spool);
	if (n < 0 || (size_t)n >= cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * Make a directory entry durable.  EINVAL means the file system cannot
 * sync directories at all, which is accepted (REQUIREMENTS Q-4).
 */
static int
fsync_dir(const char *dir, char *err, size_t errlen)
{
	char path[4096];
	int fd, r;

	if (spath(path, sizeof(path), dir, NULL) == -1 ||
	    (fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "unable to open %s/%s: %s", conf.spool,
		    dir, strerror(errno));
		return -1;
	}
	r = fsync(fd);
	if (r == -1 && errno == EINVAL)
		r = 0;
	if (r == -1)
		snprintf(err, errlen, "unable to sync %s/%s: %s", conf.spool,
		    dir, strerror(errno));
	close(fd);
	return r;
}

static int
write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t w;

	while (len > 0) {
		w = write(fd, p, len);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * Create the spool and its directories where missing.  A setgid
 * install's spool is made by "make install-setgid" and only checked.
 */
int
queue_init(char *err, size_t errlen)
{
	char path[4096];
	struct stat st;
	int i;

	if (setgid_mode) {
		if (stat(conf.spool, &st) == -1 || !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "unable to use the spool %s: %s; "
			    "make install-setgid creates it", conf.spool,
			    errno ? strerror(errno) : "not a directory");
			return -1;
		}
		return 0;
	}
	for (i = -1; i == -1 || dirs[i] != NULL; i++) {
		if (spath(path, sizeof(path), i < 0 ? NULL : dirs[i], NULL) == -1 ||
		    (mkdir(path, 0700) == -1 && errno != EEXIST)) {
			snprintf(err, errlen, "unable to create %s: %s", path,
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

/*
 * Make tmp/ID for a fresh id, copied to id: the time in hex, then
 * random bits, so ids sort by age and cannot be guessed.  Returns the
 * descriptor, or -1 with errno set.
 */
static int
tmp_create(char *id)
{
	char path[4096];
	unsigned char r[4];
	int fd = -1, tries;

	/* Two intakes in one second draw the same 32 bits rarely; retry. */
	for (tries = 0; fd == -1 && tries < 3; tries++) {
		rand_bytes(r, sizeof(r));
		snprintf(id, QID_LEN + 1, "%08llx%02x%02x%02x%02x",
		    (unsigned long long)time(NULL) & 0xffffffffULL, r[0], r[1],
		    r[2], r[3]);
		if (spath(path, sizeof(path), "tmp", id) == -1)
			return -1;
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0640);
		if (fd == -1 && errno != EEXIST)
			break;
	}
	return fd;
}

/*
 * Move tmp/ID, written and synced, into queue/ and make that durable.
 * Returns 0, or -1 with err and errno set and tmp/ID removed.
 */
static int
tmp_commit(const char *id, char *err, size_t errlen)
{
	char from[4096], to[4096];

	int save;

	if (spath(from, sizeof(from), "tmp", id) == -1 ||
	    spath(to, sizeof(to), "queue", id) == -1 || rename(from, to) == -1) {
		save = errno;
		snprintf(err, errlen, "unable to move %s/tmp/%s into the queue: "
		    "%s", conf.spool, id, strerror(save));
		unlink(from);
		errno = save;
		return -1;
	}
	if (fsync_dir("queue", err, errlen) == -1) {
		/* Not durable, so not accepted: take it back. */
		save = errno;
		unlink(to);
		errno = save;
		return -1;
	}
	return 0;
}

/*
 * The drop helper.  When outbox is setgid and an ordinary user submits,
 * the process that reads and parses the message must not hold the
 * spool group (REQUIREMENTS P-1, P-2), yet tmp/ and queue/ are writable
 * only with it.  queue_drop() forks a helper that keeps the group and
 * gives it up in the parent for good.  The helper does three things on
 * request, over a socket: make a file in tmp/ and pass its descriptor
 * back ('c'), move one it made into queue/ and sync the directory
 * ('r'), remove one it made ('u').  It reads fixed-size requests and
 * acts only on ids it made itself, so it parses nothing a caller
 * controls; it never touches the network, the configuration's secret
 * or a file's contents.  When the socket closes (the parent ended,
 * even by SIGKILL) it removes what was not committed, and exits.
 */
struct hreq {
	char	op;
	char	id[QID_LEN + 1];
};

struct hrep {
	int	err;			/* errno, or 0 */
	char	id[QID_LEN + 1];
};

#define HELPER_FILES	8	/* files one intake writes at once */

/* Send len bytes on sock as one message, with descriptor fd unless -1. */
static int
fd_send(int sock, const void *buf, size_t len, int fd)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh;
	struct iovec iov;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd != -1) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		CMSG_FIRSTHDR(&mh)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&mh)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&mh)->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&mh)), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/*
 * Receive one message of exactly len bytes from sock; *fd is the
 * descriptor that came with it, or -1.  Returns 0 or -1.
 */
static int
fd_recv(int sock, void *buf, size_t len, int *fd)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *c;

	*fd = -1;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != (ssize_t)len)
		return -1;
	c = CMSG_FIRSTHDR(&mh);
	if (c != NULL && c->cmsg_level == SOL_SOCKET &&
	    c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	return 0;
}

static __dead void
helper_main(int sock)
{
	char made[HELPER_FILES][QID_LEN + 1], path[4096];
	struct hreq q;
	struct hrep p;
	size_t i, nmade = 0;
	char why[ERR_MAX];
	int fd;

	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	while (recv(sock, &q, sizeof(q), 0) == (ssize_t)sizeof(q)) {
		memset(&p, 0, sizeof(p));
		q.id[QID_LEN] = '\0';
		for (i = 0; i < nmade && strcmp(made[i], q.id) != 0; i++)
			;
		fd = -1;
		if (q.op == 'c') {
			if (nmade == HELPER_FILES)
				p.err = EMFILE;
			else if ((fd = tmp_create(p.id)) == -1)
				p.err = errno;
			else
				memcpy(made[nmade++], p.id, sizeof(p.id));
		} else if ((q.op == 'r' || q.op == 'u') && i < nmade) {
			if (q.op == 'u' && spath(path, sizeof(path), "tmp",
			    q.id) == 0)
				unlink(path);
			if (q.op == 'r' && tmp_commit(q.id, why, sizeof(why)) == -1)
				p.err = errno ? errno : EIO;
			memcpy(made[i], made[--nmade], sizeof(made[i]));
		} else
			break;		/* not a request of ours */
		if (fd_send(sock, &p, sizeof(p), fd) == -1)
			break;
		if (fd != -1)
			close(fd);
	}
	for (i = 0; i < nmade; i++)
		if (spath(path, sizeof(path), "tmp", made[i]) == 0)
			unlink(path);
	_exit(0);
}

/*
 * Ask the helper: op 'c' copies the new file's id to id_out and returns
 * its descriptor; 'r' and 'u' act on id and return 0.  Returns -1 with
 * err set (when err is not NULL) on failure.
 */
static int
helper_call(char op, const char *id, char *id_out, char *err, size_t errlen)
{
	struct hreq q;
	struct hrep p;
	int fd;

	memset(&q, 0, sizeof(q));
	q.op = op;
	if (id)
		strlcpy(q.id, id, sizeof(q.id));
	if (send(helper, &q, sizeof(q), MSG_NOSIGNAL) != (ssize_t)sizeof(q) ||
	    fd_recv(helper, &p, sizeof(p), &fd) == -1) {
		if (err)
			snprintf(err, errlen, "unable to write to the spool %s: "
			    "the helper is gone", conf.spool);
		return -1;
	}
	if (p.err != 0) {
		if (fd != -1)
			close(fd);
		if (err)
			snprintf(err, errlen, "unable to %s a file in %s: %s",
			    op == 'c' ? "create" : op == 'r' ? "commit" : "remove",
			    conf.spool, strerror(p.err));
		errno = p.err;
		return -1;
	}
	if (op != 'c') {
		if (fd != -1)
			close(fd);	/* not asked for */
		return 0;
	}
	if (fd == -1) {
		if (err)
			snprintf(err, errlen, "unable to create a file in %s: no "
			    "descriptor from the helper", conf.spool);
		return -1;
	}
	p.id[QID_LEN] = '\0';
	strlcpy(id_out, p.id, QID_LEN + 1);
	return fd;
}

/*
 * In a setgid run for an ordinary user: start the drop helper, which
 * keeps the group, and give the group up here for good.  Returns 0, or
 * -1 with err set.
 */
int
queue_drop(char *err, size_t errlen)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		snprintf(err, errlen, "unable to start the spool helper: %s",
		    strerror(errno));
		return -1;
	}
	switch (fork()) {
	case -1:
		snprintf(err, errlen, "unable to start the spool helper: %s",
		    strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	case 0:
		close(sv[0]);
		helper_main(sv[1]);
	}
	close(sv[1]);
	helper = sv[0];
	priv_drop_group();
	return 0;
}

/*
 * Intake keeps SPOOL_RESERVE free (REQUIREMENTS Q-5), so that queue
 * runs can still record state and queue bounces.
 */
static int
room(int fd, char *err, size_t errlen)
{
	unsigned long long avail;
	struct statvfs sv;

	if (fstatvfs(fd, &sv) == -1)
		return 0;	/* cannot tell; the writes will */
	avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	if (avail >= SPOOL_RESERVE)
		return 0;
	snprintf(err, errlen, "unable to queue: %llu KB free in %s, less than "
	    "the reserve of %d KB", avail / 1024, conf.spool,
	    SPOOL_RESERVE / 1024);
	return -1;
}

/*
 * Start a new queue file in tmp/.  intake is set for a message taken
 * from a caller, which must leave the spool's reserve free; bounces and
 * notices may use it.
 */
int
queue_create(struct qw *w, int intake, char *err, size_t errlen)
{
	memset(w, 0, sizeof(*w));
	w->intake = intake;
	if (helper != -1)
		w->fd = helper_call('c', NULL, w->id, err, errlen);
	else {
		sig_active = 0;
		w->fd = tmp_create(w->id);
		if (w->fd == -1)
			snprintf(err, errlen, "unable to create a file in %s/tmp: "
			    "%s", conf.spool, strerror(errno));
	}
	if (w->fd == -1)
		return -1;
	spath(w->tmppath, sizeof(w->tmppath), "tmp", w->id);
	if (helper == -1) {
		strlcpy(sig_tmppath, w->tmppath, sizeof(sig_tmppath));
		sig_active = 1;
	}
	if (intake && room(w->fd, err, errlen) == -1) {
		queue_abort(w);
		return -1;
	}
	return append(w, MAGIC, MAGIC_LEN);	/* cannot fail: the buffer is empty */
}

/* Buffer bytes for the file, outside the message's length and CRC. */
static int
append(struct qw *w, const void *buf, size_t len)
{
	const char *p = buf;
	size_t n;

	while (len > 0) {
		if (w->used == sizeof(w->buf) && flush(w) == -1)
			return -1;
		n = sizeof(w->buf) - w->used;
		if (n > len)
			n = len;
		memcpy(w->buf + w->used, p, n);
		w->used += n;
		p += n;
		len -= n;
	}
	return 0;
}

/* One envelope or trailer line, "key value\n". */
static int
env_line(struct qw *w, const char *key, const char *value)
{
	return append(w, key, strlen(key)) == -1 || append(w, " ", 1) == -1 ||
	    append(w, value, strlen(value)) == -1 || append(w, "\n", 1) == -1 ?
	    -1 : 0;
}

static int
flush(struct qw *w)
{
	if (w->err)
		return -1;
	if (w->used && write_full(w->fd, w->buf, w->used) == -1) {
		w->err = errno ? errno : EIO;
		return -1;
	}
	w->used = 0;
	return 0;
}

/* Append message bytes.  The first error sticks in w->err. */
int
queue_write(struct qw *w, const void *buf, size_t len)
{
	if (w->err)
		return -1;
	w->crc = crc32_update(w->crc, buf, len);
	w->len += (long long)len;
	return append(w, buf, len);
}

/*
 * Finish the file and commit it: envelope, trailer, fsync, rename into
 * queue/, fsync of queue/.  Only after all of that is the message ours
 * (REQUIREMENTS Q-1).  On failure nothing is left behind.
 */
int
queue_commit(struct qw *w, const struct envelope *e, char *err, size_t errlen)
{
	char num[32], end[48];
	size_t i;
	int utf8 = 0;

	/* The envelope is not part of the message: keep it out of len and crc. */
	snprintf(num, sizeof(num), "%lld", (long long)time(NULL));
	snprintf(end, sizeof(end), "%lld %08x", w->len, (unsigned)w->crc);
	if (env_line(w, "id", w->id) == -1 || env_line(w, "time", num) == -1 ||
	    env_line(w, "sender", e->sender) == -1 ||
	    (e->errors_to && *e->errors_to &&
	    env_line(w, "errors-to", e->errors_to) == -1))
		goto werr;
	for (i = 0; i < e->rcpts->n; i++) {
		if (env_line(w, "rcpt", e->rcpts->v[i]) == -1)
			goto werr;
		utf8 |= has8bit(e->rcpts->v[i]);
	}
	if ((e->eightbit && append(w, "8bit\n", 5) == -1) ||
	    (e->utf8hdr && append(w, "8bit-headers\n", 13) == -1) ||
	    ((utf8 || has8bit(e->sender)) && append(w, "smtputf8\n", 9) == -1) ||
	    (e->notify && env_line(w, "dsn-notify", e->notify) == -1) ||
	    (e->ret && env_line(w, "dsn-ret", e->ret) == -1) ||
	    (e->envid && env_line(w, "dsn-envid", e->envid) == -1) ||
	    env_line(w, "end", end) == -1 || flush(w) == -1)
		goto werr;
	if (fsync(w->fd) == -1)
		goto werr;
	if (w->intake && room(w->fd, err, errlen) == -1) {
		queue_abort(w);
		return -1;
	}
	if (close(w->fd) == -1) {
		w->fd = -1;
		goto werr;
	}
	w->fd = -1;
	sig_active = 0;
	if (helper != -1)
		return helper_call('r', w->id, NULL, err, errlen) == -1 ? -1 : 0;
	return tmp_commit(w->id, err, errlen);
werr:
	snprintf(err, errlen, "unable to write %s: %s", w->tmppath,
	    strerror(w->err ? w->err : errno ? errno : EIO));
	queue_abort(w);
	return -1;
}

/*
 * A new descriptor on the file w is writing, positioned at the start of
 * the message, to read back what was written.  The caller closes it and
 * writes no more to w.  Returns -1 with errno set on failure.
 */
int
queue_reread(struct qw *w)
{
	int fd;

	if (flush(w) == -1) {
		errno = w->err;
		return -1;
	}
	if ((fd = fcntl(w->fd, F_DUPFD_CLOEXEC, 0)) == -1)
		return -1;
	if (lseek(fd, (off_t)MAGIC_LEN, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Remove the file being written by w and carry on with n's instead: w
 * takes over n's state, the file a signal removes included.
 */
void
queue_replace(struct qw *w, struct qw *n)
{
	queue_abort(w);
	memcpy(w, n, sizeof(*w));
	if (helper == -1) {
		strlcpy(sig_tmppath, w->tmppath, sizeof(sig_tmppath));
		sig_active = 1;
	}
}

/* Give up on a file being written and remove it. */
void
queue_abort(struct qw *w)
{
	int save = errno;

	if (w->fd != -1) {
		close(w->fd);
		w->fd = -1;
	}
	if (helper != -1)
		helper_call('u', w->id, NULL, NULL, 0);
	else
		unlink(w->tmppath);
	sig_active = 0;
	errno = save;
}

/*
 * From a signal handler: remove the file being written, if any.  (With
 * the drop helper, the helper removes it when this process is gone.)
 */
void
queue_sigabort(void)
{
	if (sig_active)
		unlink(sig_tmppath);
}

/*
 * Open queue/ID and read its envelope into m (msg_load()).  For
 * delivery, take an exclusive flock first and check that the locked
 * file is still queue/ID, so that a run never works on a message that
 * another run finished, moved or replaced while it waited (REQUIREMENTS
 * Q-7).  Returns 0, Q_BUSY, Q_CORRUPT (err says why) or -1 (err says
 * why).
 */
static int
msg_open(const char *id, struct qmsg *m, int deliver, char *err,
    size_t errlen)
{
	char path[4096];
	struct stat st, now;
	int fd;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (strlen(id) != QID_LEN || strspn(id, "0123456789abcdef") != QID_LEN) {
		snprintf(err, errlen, "%s: not a queue id", id);
		return -1;
	}
	if (spath(path, sizeof(path), "queue", id) == -1 ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return Q_BUSY;
		if (errno == ELOOP) {
			snprintf(err, errlen, "a symbolic link, not a message");
			return Q_CORRUPT;
		}
		snprintf(err, errlen, "unable to open %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (deliver && flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		if (errno == EWOULDBLOCK)
			return Q_BUSY;
		snprintf(err, errlen, "unable to lock %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "unable to stat %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (deliver && (st.st_nlink == 0 || lstat(path, &now) == -1 ||
	    now.st_ino != st.st_ino || now.st_dev != st.st_dev)) {
		close(fd);	/* another run finished it */
		return Q_BUSY;
	}
	return msg_load(id, fd, &st, m, deliver, err, errlen);
}

/*
 * Read the envelope of queue file fd (named id, with st from fstat) into
 * m, which then owns fd; with deliver, also check the message against
 * its length and CRC.  Returns as msg_open() does.
 */
static int
msg_load(const char *id, int fd, const struct stat *stp, struct qmsg *m,
    int deliver, char *err, size_t errlen)
{
	char tail[96], head[MAGIC_LEN], *env = NULL, *e;
	long long n;
	uint32_t crc;
	long long off, envlen, left;
	uint32_t c = 0;
	struct stat st = *stp;
	char buf[16384];
	ssize_t r;
	size_t tl;
	int rc = Q_CORRUPT;

	memset(m, 0, sizeof(*m));
	strlcpy(m->id, id, sizeof(m->id));
	m->fd = fd;
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		snprintf(err, errlen, "not a plain file");
		goto bad;
	}

	/* The trailer is the last line. */
	tl = st.st_size < (off_t)sizeof(tail) ? (size_t)st.st_size : sizeof(tail);
	if (pread(m->fd, head, MAGIC_LEN, 0) != (ssize_t)MAGIC_LEN ||
	    memcmp(head, MAGIC, MAGIC_LEN) != 0) {
		snprintf(err, errlen, "no \"outbox 1\" header");
		goto bad;
	}
	if (pread(m->fd, tail, tl, st.st_size - (off_t)tl) != (ssize_t)tl ||
	    tl < 2 || tail[tl - 1] != '\n') {
		snprintf(err, errlen, "no trailer: the file is incomplete");
		goto bad;
	}
	tail[tl - 1] = '\0';
	e = strrchr(tail, '\n');
	e = e ? e + 1 : tail;
	if (parse_trailer(e, &n, &crc) == -1 || n > (long long)st.st_size) {
		snprintf(err, errlen, "bad trailer");
		goto bad;
	}
	off = (long long)MAGIC_LEN + (long long)n;
	envlen = (long long)st.st_size - (long long)strlen(e) - 1 - off;
	if (envlen <= 0 || envlen > ENVELOPE_MAX) {
		snprintf(err, errlen, "message length %lld does not fit the "
		    "file size %lld", n, (long long)st.st_size);
		goto bad;
	}
	m->body_off = MAGIC_LEN;
	m->body_len = n;

	env = xmalloc((size_t)envlen + 1);
	if (pread(m->fd, env, (size_t)envlen, off) != envlen) {
		snprintf(err, errlen, "unable to read the envelope");
		goto bad;
	}
	env[envlen] = '\0';
	if (parse_envelope(m, env, err, errlen) == -1)
		goto bad;

	/* The message must be what was written. */
	for (off = m->body_off, left = deliver ? m->body_len : 0; left > 0; ) {
		r = pread(m->fd, buf, left < (long long)sizeof(buf) ?
		    (size_t)left : sizeof(buf), off);
		if (r <= 0) {
			snprintf(err, errlen, "unable to read the message: %s",
			    r == 0 ? "short file" : strerror(errno));
			rc = -1;
			goto bad;
		}
		c = crc32_update(c, buf, (size_t)r);
		for (e = buf; (e = memchr(e, '\n', (size_t)(buf + r - e))) != NULL;
		    e++)
			m->lines++;
		off += r;
		left -= r;
	}
	if (deliver && c != crc) {
		snprintf(err, errlen, "checksum mismatch: %08x, expected %08x",
		    (unsigned)c, (unsigned)crc);
		goto bad;
	}
	free(env);
	return 0;
bad:
	free(env);
	msg_close(m);
	return rc;
}

/* "end N CRC": N decimal, CRC eight lowercase hex digits, nothing else. */
static int
parse_trailer(const char *s, long long *n, uint32_t *crc)
{
	char num[24];
	const char *sp;
	size_t k;

	if (strncmp(s, "end ", 4) != 0 || (sp = strchr(s + 4, ' ')) == NULL ||
	    (k = (size_t)(sp - (s + 4))) >= sizeof(num))
		return -1;
	memcpy(num, s + 4, k);
	num[k] = '\0';
	if (parse_number(num, 0, 1LL << 50, n) == -1 || strlen(sp + 1) != 8)
		return -1;
	for (*crc = 0, sp++; *sp; sp++) {
		if (*sp >= '0' && *sp <= '9')
			*crc = *crc << 4 | (uint32_t)(*sp - '0');
		else if (*sp >= 'a' && *sp <= 'f')
			*crc = *crc << 4 | (uint32_t)(*sp - 'a' + 10);
		else
			return -1;
	}
	return 0;
}

/*
 * The DSN status of a failure (RFC 3464 2.3.4): the enhanced code of a
 * 5xx reply when it gives one of its class ("550 5.1.1 ..."), else
 * 5.0.0; a verdict of outbox itself (an expiry, a message too big)
 * starts with its own code.
 */
static void
dsn_status(const char *t, char *out, size_t cap)
{
	size_t k;

	/* A verdict of outbox itself starts with its status: "5.3.4 ...". */
	if ((t[0] == '4' || t[0] == '5') && t[1] == '.' &&
	    (k = strspn(t, "0123456789.")) < cap && k >= 5 && t[k] == ' ') {
		memcpy(out, t, k);
		out[k] = '\0';
		return;
	}
	if (strlen(t) > 6 && t[0] == '5' && t[3] == ' ' && t[4] == '5' &&
	    t[5] == '.') {
		k = strspn(t + 4, "0123456789.");
		if (k < cap && (t[4 + k] == ' ' || t[4 + k] == '\0')) {
			memcpy(out, t + 4, k);
			out[k] = '\0';
			return;
		}
	}
	strlcpy(out, "5.0.0", cap);
}

/*
 * "dsn-notify", "dsn-ret" or "dsn-envid" (key is past "dsn-"): values
 * of printable ASCII without blanks, as intake checked them.
 */
static int
dsn_line(struct qmsg *m, const char *key, const char *v)
{
	char **dst = strncmp(key, "notify ", 7) == 0 ? &m->notify :
	    strncmp(key, "ret ", 4) == 0 ? &m->ret :
	    strncmp(key, "envid ", 6) == 0 ? &m->envid : NULL;
	const char *p;

	if (dst == NULL || *v == '\0' || strlen(v) > 100)
		return -1;
	for (p = v; *p; p++)
		if (*p <= ' ' || *p > '~')
			return -1;
	free(*dst);
	*dst = xstrdup(v);
	return 0;
}

/* The envelope lines of a message file, NUL-terminated in env. */
static int
parse_envelope(struct qmsg *m, char *env, char *err, size_t errlen)
{
	char *line, *next, *v;
	long long t;
	size_t i, n = 0;

	for (line = env; *line; line = next) {
		if ((next = strchr(line, '\n')) == NULL) {
			snprintf(err, errlen, "envelope line without an end");
			return -1;
		}
		*next++ = '\0';
		v = strchr(line, ' ');
		v = v ? v + 1 : line + strlen(line);
		if (strncmp(line, "rcpt ", 5) == 0)
			n++;
		else if (strncmp(line, "id ", 3) == 0) {
			if (strcmp(v, m->id) != 0) {
				snprintf(err, errlen, "id %.32s in a file named "
				    "%s", v, m->id);
				return -1;
			}
		} else if (strncmp(line, "time ", 5) == 0) {
			if (parse_number(v, 0, 1LL << 40, &t) == -1) {
				snprintf(err, errlen, "bad time");
				return -1;
			}
			m->time = t;
		} else if (strncmp(line, "sender ", 7) == 0 ||
		    strcmp(line, "sender") == 0) {
			free(m->sender);
			m->sender = xstrdup(v);
		} else if (strncmp(line, "errors-to ", 10) == 0) {
			if (addr_check(v, err, errlen) == -1 || *v == '\0')
				return -1;
			free(m->errors_to);
			m->errors_to = xstrdup(v);
		} else if (strcmp(line, "8bit") == 0)
			m->eightbit = 1;
		else if (strcmp(line, "8bit-headers") == 0)
			m->utf8hdr = 1;
		else if (strcmp(line, "smtputf8") == 0)
			m->smtputf8 = 1;
		else if (strncmp(line, "dsn-", 4) == 0 && dsn_line(m, line + 4,
		    v) == 0)
			;
		else {
			snprintf(err, errlen, "unknown envelope line \"%.32s\"",
			    line);
			return -1;
		}
	}
	if (m->sender == NULL || n == 0 || n > RCPT_MAX || m->time == 0) {
		snprintf(err, errlen, "envelope lacks sender, time or "
		    "recipients");
		return -1;
	}
	/* Counted first, so that msg_close() frees what a bad one leaves. */
	m->rcpt = xcalloc(n, sizeof(*m->rcpt));
	m->nrcpt = n;
	for (line = env, i = 0; i < n; line += strlen(line) + 1) {
		if (strncmp(line, "rcpt ", 5) != 0)
			continue;
		if (addr_check(line + 5, err, errlen) == -1 || line[5] == '\0')
			return -1;
		m->rcpt[i++].addr = xstrdup(line + 5);
	}
	return 0;
}

static void
msg_close(struct qmsg *m)
{
	size_t i;

	if (m->fd != -1)
		close(m->fd);	/* releases the lock */
	m->fd = -1;
	for (i = 0; i < m->nrcpt; i++)
		free(m->rcpt[i].addr);
	free(m->rcpt);
	free(m->sender);
	free(m->errors_to);
	free(m->notify);
	free(m->ret);
	free(m->envid);
	m->rcpt = NULL;
	m->sender = NULL;
	m->errors_to = NULL;
	m->notify = m->ret = m->envid = NULL;
	m->nrcpt = 0;
}

/*
 * Load state/ID into m, from fd when it is not -1 (then closed).  No
 * file means no attempt yet.  A state file that does not parse is
 * ignored with a warning: the worst outcome is that recipients already
 * served are sent the message again.
 */
static void
state_read(struct qmsg *m, int fd)
{
	char path[4096], line[REPLY_TEXT_MAX + 64], *v;
	long long x;
	int ended = 0;
	size_t i;
	FILE *fp;

	if (spath(path, sizeof(path), "state", m->id) == -1)
		return;
	if (fd == -1)
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || (fp = fdopen(fd, "r")) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	if (fgets(line, sizeof(line), fp) == NULL ||
	    strcmp(line, "outbox-state 1\n") != 0)
		goto bad;
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		v = strchr(line, ' ');
		if (strcmp(line, "end") == 0) {
			ended = 1;
			break;
		}
		if (v == NULL)
			goto bad;
		*v++ = '\0';
		if (strcmp(line, "attempts") == 0 &&
		    parse_number(v, 0, 1 << 30, &x) == 0)
			m->attempts = (int)x;
		else if (strcmp(line, "last") == 0 &&
		    parse_number(v, 0, 1LL << 40, &x) == 0)
			m->last = x;
		else if (strcmp(line, "error") == 0)
			strlcpy(m->error, v, sizeof(m->error));
		else if (strcmp(line, "sent") == 0 || strcmp(line, "failed") == 0) {
			int failed = line[0] == 'f';
			char *t = strchr(v, ' ');

			if (t)
				*t++ = '\0';
			if (parse_number(v, 0, RCPT_MAX, &x) == -1 ||
			    (size_t)x >= m->nrcpt)
				goto bad;
			i = (size_t)x;
			m->rcpt[i].state = failed ? R_BOUNCED : R_SENT;
			if (t)
				strlcpy(m->rcpt[i].text, t, sizeof(m->rcpt[i].text));
		} else
			goto bad;
	}
	if (!ended)
		goto bad;
	fclose(fp);
	return;
bad:
	logmsg(LOG_WARNING, "%s: state file %s unreadable, ignored", m->id,
	    path);
	fclose(fp);
	for (i = 0; i < m->nrcpt; i++)
		m->rcpt[i].state = R_PENDING;
}

/* Replace state/ID: write in tmp/, fsync, rename, fsync state/ (Q-8). */
static int
state_write(struct qmsg *m, char *err, size_t errlen)
{
	char tmp[4096], path[4096], name[QID_LEN + 8];
	size_t i;
	FILE *fp;
	int fd;

	snprintf(name, sizeof(name), "%s.state", m->id);
	if (spath(tmp, sizeof(tmp), "tmp", name) == -1 ||
	    spath(path, sizeof(path), "state", m->id) == -1) {
		snprintf(err, errlen, "spool path too long");
		return -1;
	}
	unlink(tmp);	/* debris of a run that died */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0640);
	if (fd == -1 || (fp = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "unable to create %s: %s", tmp,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	fprintf(fp, "outbox-state 1\nattempts %d\nlast %lld\nerror %s\n",
	    m->attempts, m->last, m->error);
	for (i = 0; i < m->nrcpt; i++) {
		if (m->rcpt[i].state == R_SENT)
			fprintf(fp, "sent %zu\n", i);
		else if (m->rcpt[i].state == R_BOUNCED)
			fprintf(fp, "failed %zu %s\n", i, m->rcpt[i].text);
	}
	fputs("end\n", fp);
	if (fflush(fp) == EOF || ferror(fp) || fsync(fd) == -1) {
		snprintf(err, errlen, "unable to write %s: %s", tmp,
		    strerror(errno));
		fclose(fp);
		unlink(tmp);
		return -1;
	}
	if (fclose(fp) == EOF || rename(tmp, path) == -1) {
		snprintf(err, errlen, "unable to write %s: %s", path,
		    strerror(errno));
		unlink(tmp);
		return -1;
	}
	return fsync_dir("state", err, errlen);
}

/* Move queue/ID and state/ID into dir (failed/ or corrupt/). */
static void
move_to(const char *id, const char *dir, const char *why)
{
	char from[4096], to[4096], name[QID_LEN + 8], err[ERR_MAX];

	snprintf(name, sizeof(name), "%s.state", id);
	if (spath(from, sizeof(from), "queue", id) == -1 ||
	    spath(to, sizeof(to), dir, id) == -1 || rename(from, to) == -1) {
		logmsg(LOG_ERR, "%s: unable to move to %s/%s: %s", id,
		    conf.spool, dir, strerror(errno));
		return;
	}
	if (spath(from, sizeof(from), "state", id) == 0 &&
	    spath(to, sizeof(to), dir, name) == 0)
		rename(from, to);
	/* Both directory entries changed: make both durable. */
	if (fsync_dir(dir, err, sizeof(err)) == -1 ||
	    fsync_dir("queue", err, sizeof(err)) == -1)
		logmsg(LOG_ERR, "%s: %s", id, err);
	logmsg(LOG_WARNING, "%s: moved to %s/%s: %s", id, conf.spool, dir, why);
}

/*
 * A line of a notice being written; the writer's first error sticks
 * (queue_write()), so the caller checks once at the end.
 */
static void
put(struct qw *w, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		if (w->err == 0)
			w->err = ENAMETOOLONG;
		return;
	}
	queue_write(w, line, (size_t)n);
}

/*
 * Start a notice from MAILER-DAEMON to "to": the header of a multipart
 * message (report-type delivery-status, or mixed) and its first part's
 * header, with the boundary made from the notice's id.
 */
static void
notice_start(struct qw *w, const char *to, const char *subject, int report,
    char *boundary, size_t cap)
{
	char date[64];

	snprintf(boundary, cap, "%s/%s", w->id, conf.domain);
	msg_date(date, sizeof(date), time(NULL));
	put(w, "From: Mail Delivery System <MAILER-DAEMON@%s>\n", conf.domain);
	put(w, "To: <%s>\n", to);
	put(w, "Subject: %s\n", subject);
	put(w, "Date: %s\n", date);
	put(w, "Message-ID: <%s.notice@%s>\n", w->id, conf.domain);
	put(w, "Auto-Submitted: auto-replied\n");
	put(w, "MIME-Version: 1.0\n");
	put(w, "Content-Type: multipart/%s;\n\tboundary=\"%s\"\n\n",
	    report ? "report; report-type=delivery-status" : "mixed",
	    boundary);
	put(w, "This is a MIME-encapsulated message.\n\n--%s\n", boundary);
	put(w, "Content-Type: text/plain; charset=us-ascii\n\n");
	put(w, "This is outbox at %s.\n\n", conf.hostname);
}

/*
 * The last part of a notice: the original message (len bytes at off in
 * fd) as message/rfc822 when full is set, else its header section as
 * text/rfc822-headers; then the closing boundary.  NUL bytes, which a
 * refused message may hold, are left out.
 */
static void
notice_end(struct qw *w, int fd, long long off, long long len, int full,
    const char *boundary)
{
	char buf[16384], *p, *q, *eoh;
	long long left = full ? len : (len < BOUNCE_HEADERS_MAX ? len :
	    BOUNCE_HEADERS_MAX);
	int last = '\n';
	ssize_t r;

	put(w, "\n--%s\nContent-Type: %s\n\n", boundary, full ?
	    "message/rfc822" : "text/rfc822-headers");
	while (left > 0 && w->err == 0) {
		r = pread(fd, buf, left < (long long)sizeof(buf) ? (size_t)left :
		    sizeof(buf), off);
		if (r <= 0) {
			w->err = r == 0 ? EIO : errno;
			break;
		}
		off += r;
		left -= r;
		/* Without full, stop after the header section. */
		for (eoh = buf; !full && eoh + 1 < buf + r; eoh++)
			if (eoh[0] == '\n' && eoh[1] == '\n') {
				r = eoh - buf + 1;
				left = 0;
				break;
			}
		if (!full && last == '\n' && buf[0] == '\n')
			break;
		for (p = buf; p < buf + r; p = q + 1) {
			if ((q = memchr(p, '\0', (size_t)(buf + r - p))) == NULL)
				q = buf + r;
			queue_write(w, p, (size_t)(q - p));
		}
		last = (unsigned char)buf[r - 1];
	}
	if (last != '\n')
		queue_write(w, "\n", 1);
	put(w, "\n--%s--\n", boundary);
}

/*
 * Queue a delivery status notification (RFC 3464) for the recipients
 * of m in state R_FAILED, from MAILER-DAEMON with the null sender, to
 * rcpt; with RET=FULL, or full set, it holds the whole message, else
 * its header.  The new message's id is copied to bid_out.  Returns 0,
 * or -1 with err set.
 */
static int
bounce(struct qmsg *m, const char *rcpt, int full, char *bid_out, char *err,
    size_t errlen)
{
	struct addrlist to = { 0 };
	char arr[64], boundary[64], status[16];
	struct envelope e = { 0 };
	const char *t;
	struct qw *w;
	size_t i;
	int rc = -1;

	full |= m->ret && strcasecmp(m->ret, "FULL") == 0;
	if (addr_rcpt(rcpt, &to, err, errlen) == -1)
		return -1;
	w = xmalloc(sizeof(*w));
	if (queue_create(w, 0, err, errlen) == -1)
		goto out;
	msg_date(arr, sizeof(arr), (time_t)m->time);
	notice_start(w, to.v[0], "Undelivered Mail Returned to Sender", 1,
	    boundary, sizeof(boundary));
	put(w, "The message you sent on %s could not be delivered to\n"
	    "the recipients below.  The mail server's answer is given for "
	    "each.\n\n", arr);
	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == R_FAILED)
			put(w, "<%s>: %s\n", m->rcpt[i].addr, m->rcpt[i].text);
	put(w, "\n--%s\nContent-Type: message/delivery-status\n\n", boundary);
	put(w, "Reporting-MTA: dns; %s\nX-Outbox-Queue-ID: %s\n", conf.helo,
	    m->id);
	if (m->envid)
		put(w, "Original-Envelope-Id: %s\n", m->envid);
	put(w, "Arrival-Date: %s\n", arr);
	for (i = 0; i < m->nrcpt; i++) {
		if (m->rcpt[i].state != R_FAILED)
			continue;
		t = m->rcpt[i].text;
		dsn_status(t, status, sizeof(status));
		put(w, "\nFinal-Recipient: rfc822; %s\nAction: failed\n"
		    "Status: %s\n", m->rcpt[i].addr, status);
		if (t[0] == '5' && t[3] == ' ' && conf.host != NULL)
			put(w, "Remote-MTA: dns; %s\n", conf.host);
		if (t[0] == '5' && t[3] == ' ')	/* the server's reply */
			put(w, "Diagnostic-Code: smtp; %s\n", t);
	}
	notice_end(w, m->fd, m->body_off, m->body_len, full, boundary);
	if (w->err) {
		snprintf(err, errlen, "unable to write the bounce: %s",
		    strerror(w->err));
		queue_abort(w);
		goto out;
	}
	e.sender = "";
	e.rcpts = &to;
	e.eightbit = m->eightbit;	/* the attached header may be 8-bit */
	if (queue_commit(w, &e, err, errlen) == -1)
		goto out;
	strlcpy(bid_out, w->id, QID_LEN + 1);
	rc = 0;
out:
	free(w);
	addrlist_free(&to);
	return rc;
}

/*
 * Return a message that intake refused (why) to its sender, with the
 * message as it was read, instead of queuing it (-oem, -oee): the
 * notice is queued (its id copied to id), the refused message w
 * removed.  Returns 0, or -1 with err set (w is then untouched, for the
 * caller to abort).
 */
int
queue_return(struct qw *w, const struct envelope *orig, const char *why,
    char *id, char *err, size_t errlen)
{
	struct addrlist to = { 0 };
	struct envelope e = { 0 };
	char boundary[64];
	struct qw *n;
	int rc = -1;

	if (orig->sender[0] == '\0') {
		snprintf(err, errlen, "the null sender cannot be sent a notice");
		return -1;
	}
	if (addr_rcpt(orig->errors_to && *orig->errors_to ? orig->errors_to :
	    orig->sender, &to, err, errlen) == -1)
		return -1;
	if (flush(w) == -1) {
		snprintf(err, errlen, "unable to write %s: %s", w->tmppath,
		    strerror(w->err));
		goto out;
	}
	n = xmalloc(sizeof(*n));
	if (queue_create(n, 0, err, errlen) == -1) {
		free(n);
		goto out;
	}
	notice_start(n, to.v[0], "Returned mail: message not accepted", 0,
	    boundary, sizeof(boundary));
	put(n, "Your message, attached below, was not accepted for delivery "
	    "and was not\nsent to anyone:\n\n    %s\n", why);
	notice_end(n, w->fd, (long long)MAGIC_LEN, w->len, 1, boundary);
	e.sender = "";
	e.rcpts = &to;
	e.eightbit = orig->eightbit;
	if (n->err) {
		snprintf(err, errlen, "unable to write the notice: %s",
		    strerror(n->err));
		queue_abort(n);
	} else if (queue_commit(n, &e, err, errlen) == 0) {
		logmsg(LOG_INFO, "%s: message returned to <%s>: %s", n->id,
		    to.v[0], why);
		strlcpy(id, n->id, QID_LEN + 1);
		queue_abort(w);
		rc = 0;
	}
	free(n);
out:
	addrlist_free(&to);
	return rc;
}

/*
 * A refused bounce (m has the null sender) goes to admin, whole, as a
 * notice of its own, unless it was for admin already: then, as when
 * there is no admin, it stays in failed/ and the log says so.  Never a
 * bounce of a bounce to a sender.  Returns 0, or -1 to try again later.
 */
static int
double_bounce(struct qmsg *m, struct addrlist *more)
{
	char err[ERR_MAX], bid[QID_LEN + 1];
	size_t i;

	for (i = 0; conf.admin && i < m->nrcpt; i++)
		if (m->rcpt[i].state == R_FAILED &&
		    strcasecmp(m->rcpt[i].addr, conf.admin) == 0)
			break;
	if (conf.admin == NULL || i < m->nrcpt) {
		logmsg(LOG_ERR, "%s: undeliverable bounce kept in %s/failed",
		    m->id, conf.spool);
		return 0;
	}
	if (bounce(m, conf.admin, 1, bid, err, sizeof(err)) == -1) {
		logmsg(LOG_ERR, "%s: unable to pass the undeliverable bounce to "
		    "<%s>, will retry: %s", m->id, conf.admin, err);
		return -1;
	}
	logmsg(LOG_WARNING, "%s: undeliverable bounce passed to <%s>: %s",
	    m->id, conf.admin, bid);
	addrlist_push(more, bid);
	return 0;
}

/* The name of m's mark in state/ (queue_sending()). */
static int
mark_path(char *path, size_t cap, const char *id)
{
	char name[QID_LEN + 9];

	snprintf(name, sizeof(name), "%s.sending", id);
	return spath(path, cap, "state", name);
}

/*
 * Just before the final dot of m: mark it as maybe at the server.  When
 * this process dies before settle() records the server's answer, the
 * next run finds the mark and logs a possible duplicate (the one RFC
 * 5321 section 6.1 accepts).  The mark has to outlive a process, not a
 * crash of the host, so it is not synced.
 */
void
queue_sending(const struct qmsg *m)
{
	char path[4096];
	int fd;

	if (mark_path(path, sizeof(path), m->id) == 0 &&
	    (fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) != -1)
		close(fd);
}

/*
 * After an attempt: bounce newly failed recipients, then record the
 * state, then remove the message if nobody is left.  The order keeps
 * the promise: a recipient is marked done only when its bounce is on
 * disk, and the message goes only when every recipient is done.
 * A bounce's id is added to more.  Returns 1 if recipients remain, 0
 * if none, -1 if the state could not be recorded (the run must stop:
 * what it sends next might be sent again).
 */
static int
settle(struct qmsg *m, struct addrlist *more)
{
	char err[ERR_MAX], path[4096], bid[QID_LEN + 1] = "";
	const char *to = m->errors_to ? m->errors_to : m->sender;
	size_t i, failed = count(m, R_FAILED), pending;
	int again = 0, rc;

	if (failed && m->sender[0] == '\0')
		again = double_bounce(m, more) == -1;
	else if (failed && m->notify && !contains(m->notify, "FAILURE")) {
		/* The sender asked for no bounce (RFC 3461 4.1). */
		logmsg(LOG_WARNING, "%s: undeliverable, kept in %s/failed; no "
		    "bounce (NOTIFY=%s)", m->id, conf.spool, m->notify);
	} else if (failed) {
		if (bounce(m, to, 0, bid, err, sizeof(err)) == -1) {
			logmsg(LOG_ERR, "%s: unable to queue a bounce, will "
			    "retry: %s", m->id, err);
			again = 1;
		} else {
			logmsg(LOG_INFO, "%s: sender non-delivery notification: "
			    "%s", m->id, bid);
			addrlist_push(more, bid);
		}
	}
	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == R_FAILED)
			m->rcpt[i].state = again ? R_PENDING : R_BOUNCED;
	pending = count(m, R_PENDING);
	if (pending == 0 && count(m, R_BOUNCED) == 0) {
		/* All sent.  A stale state file alone is harmless. */
		if (spath(path, sizeof(path), "queue", m->id) == 0 &&
		    unlink(path) == 0) {
			fsync_dir("queue", err, sizeof(err));
			if (spath(path, sizeof(path), "state", m->id) == 0)
				unlink(path);
			logmsg(LOG_INFO, "%s: removed", m->id);
		}
		rc = 0;
	} else if (state_write(m, err, sizeof(err)) == -1) {
		logmsg(LOG_ERR, "%s: unable to record delivery state%s: %s",
		    m->id, count(m, R_SENT) ? "; recipients served may get it "
		    "again, possible duplicate" : "", err);
		rc = -1;
	} else {
		if (pending == 0)
			move_to(m->id, "failed", "undeliverable, bounced");
		rc = pending > 0;
	}
	if (mark_path(path, sizeof(path), m->id) == 0)
		unlink(path);
	return rc;
}

/*
 * Debris: tmp/ files older than TMP_MAXAGE, left by intakes that died,
 * and state files (and marks) whose message is gone, left by runs that
 * died between removing a message and its state.
 */
static void
clean_spool(void)
{
	char path[4096], id[QID_LEN + 1];
	struct dirent *d;
	struct stat st;
	time_t now = time(NULL);
	DIR *dp;

	if (spath(path, sizeof(path), "tmp", NULL) == 0 &&
	    (dp = opendir(path)) != NULL) {
		while ((d = readdir(dp)) != NULL) {
			if (d->d_name[0] == '.')
				continue;
			if (fstatat(dirfd(dp), d->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0 &&
			    now - st.st_mtime > TMP_MAXAGE &&
			    unlinkat(dirfd(dp), d->d_name, 0) == 0)
				logmsg(LOG_NOTICE, "removed stale %s/tmp/%s",
				    conf.spool, d->d_name);
		}
		closedir(dp);
	}
	if (spath(path, sizeof(path), "state", NULL) == 0 &&
	    (dp = opendir(path)) != NULL) {
		while ((d = readdir(dp)) != NULL) {
			if (strlen(d->d_name) < QID_LEN || d->d_name[0] == '.')
				continue;
			memcpy(id, d->d_name, QID_LEN);
			id[QID_LEN] = '\0';
			if (spath(path, sizeof(path), "queue", id) == 0 &&
			    access(path, F_OK) == -1 && errno == ENOENT &&
			    fstatat(dirfd(dp), d->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0 &&
			    now - st.st_mtime > STATE_ORPHAN_AGE)
				unlinkat(dirfd(dp), d->d_name, 0);
		}
		closedir(dp);
	}
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ids in queue/, oldest first. */
static int
list_ids(struct addrlist *ids, char *err, size_t errlen)
{
	char path[4096];
	struct dirent *d;
	DIR *dp;

	if (spath(path, sizeof(path), "queue", NULL) == -1 ||
	    (dp = opendir(path)) == NULL) {
		snprintf(err, errlen, "unable to open %s/queue: %s", conf.spool,
		    strerror(errno));
		return -1;
	}
	while ((d = readdir(dp)) != NULL) {
		if (strlen(d->d_name) == QID_LEN)
			addrlist_push(ids, d->d_name);
	}
	closedir(dp);
	if (ids->n > 1)
		qsort(ids->v, ids->n, sizeof(*ids->v), cmp_str);
	return 0;
}

static size_t
count(const struct qmsg *m, enum rcptstate state)
{
	size_t i, n = 0;

	for (i = 0; i < m->nrcpt; i++)
		n += m->rcpt[i].state == state;
	return n;
}

/* Every pending recipient fails with text (expiry). */
static void
fail_pending(struct qmsg *m, const char *text)
{
	size_t i;

	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == R_PENDING) {
			m->rcpt[i].state = R_FAILED;
			strlcpy(m->rcpt[i].text, text, sizeof(m->rcpt[i].text));
		}
}

/* Count an attempt now; why, when set, is why it failed as a whole. */
static void
attempt(struct qmsg *m, const char *why)
{
	m->attempts++;
	m->last = time(NULL);
	if (why != NULL)
		escape(m->error, sizeof(m->error), why, strlen(why));
}

/* Does m match the selection (see struct qsel)? */
static int
selected(const struct qmsg *m, const struct qsel *sel)
{
	size_t i;

	if (sel->id.n && !match_any(&sel->id, m->id))
		return 0;
	if (sel->sender.n && !match_any(&sel->sender, m->sender))
		return 0;
	if (sel->rcpt.n == 0)
		return 1;
	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == R_PENDING &&
		    match_any(&sel->rcpt, m->rcpt[i].addr))
			return 1;
	return 0;
}

/* Does s contain one of the patterns ("!pat": does not contain pat)? */
static int
match_any(const struct addrlist *pats, const char *s)
{
	size_t i;
	int neg;

	for (i = 0; i < pats->n; i++) {
		neg = pats->v[i][0] == '!';
		if (contains(s, pats->v[i] + neg) != neg)
			return 1;
	}
	return 0;
}

/* Does s contain pat, ignoring case? */
static int
contains(const char *s, const char *pat)
{
	size_t n = strlen(pat);

	for (; *s; s++)
		if (strncasecmp(s, pat, n) == 0)
			return 1;
	return n == 0;
}

/*
 * Seconds a message that has failed attempts times waits before the
 * next attempt, when runs back off.
 */
static long long
backoff_delay(int attempts)
{
	long long d = BACKOFF_MIN;

	while (--attempts > 0 && d < BACKOFF_MAX)
		d *= 2;
	return d < BACKOFF_MAX ? d : BACKOFF_MAX;
}

/* When m may be tried next in a run that backs off; 0: now. */
static long long
next_attempt(const struct qmsg *m)
{
	return m->attempts > 0 ? m->last + backoff_delay(m->attempts) : 0;
}

/*
 * Deliver queued messages: the one named by only, or those that sel
 * selects, or with neither every message in the queue (then under the
 * queue lock, so two whole runs never overlap; a second one returns 0 at
 * once).  A whole run with backoff set skips the messages whose backoff
 * has not passed; a message named or selected goes at once.  One SMTP
 * session serves all; when the smart host cannot be reached, the run
 * stops there.  Returns EX_OK when nothing it tried is left, EX_TEMPFAIL
 * when some is, EX_CONFIG when the configuration stops delivery.
 */
int
queue_run(const char *only, const struct qsel *sel, int backoff)
{
	struct addrlist ids = { 0 }, down = { 0 }, downwhy = { 0 };
	struct tls *tls = NULL;
	struct smtp *s = NULL;
	enum smtp_fail cls;
	char err[ERR_MAX], why[ERR_MAX + 64], path[4096];
	char cur[DNS_NAME_MAX + 1] = "";
	struct qmsg m;
	size_t i, nlisted = 0, waiting = 0;
	int lockfd = -1, rc = EX_OK, r, left;

	if (queue_init(err, sizeof(err)) == -1) {
		logmsg(LOG_ERR, "%s", err);
		return EX_TEMPFAIL;
	}
	if (only == NULL && sel == NULL) {
		if (spath(path, sizeof(path), "lock", NULL) == -1 ||
		    (lockfd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW |
		    O_CLOEXEC, 0600)) == -1) {
			logmsg(LOG_ERR, "unable to open %s/lock: %s", conf.spool,
			    strerror(errno));
			return EX_TEMPFAIL;
		}
		if (flock(lockfd, LOCK_EX | LOCK_NB) == -1) {
			logmsg(LOG_INFO, "another queue run is active");
			close(lockfd);
			return EX_OK;
		}
		clean_spool();
		if (list_ids(&ids, err, sizeof(err)) == -1) {
			logmsg(LOG_ERR, "%s", err);
			close(lockfd);
			return EX_TEMPFAIL;
		}
		nlisted = ids.n;
	} else if (only == NULL) {
		/* A selection: per-message locks keep runs apart. */
		if (list_ids(&ids, err, sizeof(err)) == -1) {
			logmsg(LOG_ERR, "%s", err);
			return EX_TEMPFAIL;
		}
		nlisted = ids.n;
		backoff = 0;
	} else {
		addrlist_push(&ids, only);
		backoff = 0;
	}

	/* ids grows while we go: bounces queued by this run come last. */
	for (i = 0; i < ids.n; i++) {
		r = msg_open(ids.v[i], &m, 1, err, sizeof(err));
		if (r == Q_BUSY)
			continue;
		if (r == Q_CORRUPT) {
			move_to(ids.v[i], "corrupt", err);
			continue;
		}
		if (r == -1) {
			logmsg(LOG_ERR, "%s", err);
			rc = EX_TEMPFAIL;
			continue;
		}
		state_read(&m, -1);
		if (mark_path(path, sizeof(path), m.id) == 0 &&
		    unlink(path) == 0)
			logmsg(LOG_WARNING, "%s: possible duplicate: an earlier "
			    "run ended after sending the message, before it "
			    "recorded the server's answer", m.id);
		/* Bounces queued by this run (after nlisted) always go. */
		if (sel != NULL && i < nlisted && !selected(&m, sel)) {
			msg_close(&m);
			continue;
		}

		if (time(NULL) - m.time > conf.maxage) {
			snprintf(why, sizeof(why), "4.4.7 message expired after "
			    "%lld days in the queue; last error: %s",
			    (long long)(time(NULL) - m.time) / 86400,
			    m.error[0] ? m.error : "none");
			fail_pending(&m, why);
			verdicts(&m, "none", NULL);
			r = settle(&m, &ids);
			msg_close(&m);
			if (r == -1)
				break;
			continue;
		}
		if (count(&m, R_PENDING) == 0) {	/* cleanup was interrupted */
			r = settle(&m, &ids);
			msg_close(&m);
			if (r == -1)
				break;
			continue;
		}
		if (backoff && i < nlisted && time(NULL) < next_attempt(&m)) {
			waiting++;
			rc = EX_TEMPFAIL;
			msg_close(&m);
			continue;
		}

		if (conf.tls != TLS_OFF && tls == NULL &&
		    (tls = tls_new(err, sizeof(err))) == NULL)
			cls = SMTP_CONFIG;
		else if (conf.route == ROUTE_MX) {
			attempt(&m, NULL);
			r = send_mx(&m, tls, &s, cur, sizeof(cur), &down, &downwhy);
			left = settle(&m, &ids);
			msg_close(&m);
			if (left != 0)
				rc = EX_TEMPFAIL;
			if (r == EX_CONFIG)
				rc = EX_CONFIG;
			if (r == EX_CONFIG || left == -1)
				break;
			continue;
		} else if (s == NULL && auth_held(err, sizeof(err)))
			cls = SMTP_TEMP;
		else if (s == NULL) {
			s = smtp_open(tls, NULL, &cls, err, sizeof(err));
			if (cls == SMTP_AUTH)
				auth_hold(err);
			else if (s != NULL)
				auth_unhold();
		}
		if (s == NULL) {
			attempt(&m, err);
			if (state_write(&m, why, sizeof(why)) == -1)
				logmsg(LOG_ERR, "%s: %s", m.id, why);
			/* A configuration error needs the admin: stderr too. */
			if (cls == SMTP_CONFIG)
				logmsg(LOG_ERR, "%s: %s", m.id, err);
			verdicts(&m, "none", err);
			msg_close(&m);
			rc = cls == SMTP_CONFIG ? EX_CONFIG : EX_TEMPFAIL;
			break;
		}

		attempt(&m, NULL);
		r = smtp_send(s, &m, err, sizeof(err));
		verdicts(&m, smtp_relay(s), r == -1 ? err : NULL);
		if (r == -1) {
			escape(m.error, sizeof(m.error), err, strlen(err));
			smtp_close(s);
			s = NULL;
		}
		left = settle(&m, &ids);
		msg_close(&m);
		if (left != 0)
			rc = EX_TEMPFAIL;
		if (r == -1 || left == -1)
			break;	/* try again next run */
	}
	if (waiting)
		logmsg(LOG_INFO, "%zu message%s waiting for their next attempt",
		    waiting, waiting == 1 ? "" : "s");
	if (s != NULL)
		smtp_close(s);
	tls_free(tls);
	addrlist_free(&ids);
	addrlist_free(&down);
	addrlist_free(&downwhy);
	if (lockfd != -1)
		close(lockfd);
	return rc;
}

/*
 * The log line of one recipient's outcome, in the shape admins grep
 * for: "id: to=<addr>, relay=host[addr]:port, delay=..., status=...
 * (why)"; relay is "none" when no server gave the verdict.
 */
static void
outcome(const struct qmsg *m, const struct rcpt *p, const char *relay,
    int prio, const char *why)
{
	char delay[32];

	duration(delay, sizeof(delay), (long long)time(NULL) - m->time);
	logmsg(prio, "%s: to=<%s>, relay=%s, delay=%s, status=%s (%s)", m->id,
	    p->addr, relay, delay, p->state == R_SENT ? "sent" :
	    p->state == R_FAILED ? "bounced" : "deferred", why);
}

/*
 * Log each outcome of the last transaction, one line per recipient it
 * was for: those with a reply, and when the session failed (err set)
 * those still pending without one.  A pending one's reply becomes the
 * message's error.  Recipients settled in an earlier run are not
 * logged again.
 */
static void
verdicts(struct qmsg *m, const char *relay, const char *err)
{
	struct rcpt *p;
	size_t k;

	for (k = 0; k < m->nrcpt; k++) {
		p = &m->rcpt[k];
		if (p->skip || p->state == R_BOUNCED)
			continue;
		if (p->text[0] != '\0')
			outcome(m, p, relay, p->state == R_SENT ? LOG_INFO :
			    LOG_WARNING, p->text);
		else if (p->state == R_PENDING && err != NULL)
			outcome(m, p, relay, LOG_WARNING, err);
		if (p->state == R_PENDING && p->text[0] != '\0')
			strlcpy(m->error, p->text, sizeof(m->error));
	}
}

/* The domain of an address: what follows its last "@", or NULL. */
static const char *
domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at != NULL && at[1] != '\0' ? at + 1 : NULL;
}

/*
 * host mx: the pending recipients of m, one domain at a time, each over
 * a session with an MX host of that domain (RFC 5321 5.1), the others
 * marked skip meanwhile.  *sp is the session the last domain left open,
 * whose domain is in cur: the next message to that domain uses it
 * again.  Domains that could not be reached in this run are in down,
 * with the reason at the same index of downwhy, and are not tried again
 * until the next run.  A domain that takes no mail (no such domain, a
 * null MX) fails its recipients for good.  Returns EX_CONFIG when the
 * configuration stops delivery, else EX_OK.
 */
static int
send_mx(struct qmsg *m, struct tls *tls, struct smtp **sp, char *cur,
    size_t curlen, struct addrlist *down, struct addrlist *downwhy)
{
	char err[ERR_MAX], text[REPLY_TEXT_MAX];
	const char *dom, *d, *why;
	enum smtp_fail cls;
	size_t i, k;
	int rc = EX_OK, r;

	/* skip: 1 waits for its domain's turn; 2 had it, or needs none. */
	for (i = 0; i < m->nrcpt; i++)
		m->rcpt[i].skip = m->rcpt[i].state == R_PENDING ? 1 : 2;
	for (i = 0; i < m->nrcpt; i++) {
		if (m->rcpt[i].skip != 1)
			continue;
		if ((dom = domain_of(m->rcpt[i].addr)) == NULL) {
			m->rcpt[i].state = R_FAILED;
			strlcpy(m->rcpt[i].text, "5.1.3 no domain to deliver to "
			    "(host mx)", sizeof(m->rcpt[i].text));
			m->rcpt[i].skip = 2;
			outcome(m, &m->rcpt[i], "none", LOG_WARNING,
			    m->rcpt[i].text);
			continue;
		}
		/* This domain's turn: its recipients alone. */
		for (k = i; k < m->nrcpt; k++)
			if (m->rcpt[k].skip == 1 &&
			    (d = domain_of(m->rcpt[k].addr)) != NULL &&
			    strcasecmp(d, dom) == 0)
				m->rcpt[k].skip = 0;
		/* Down earlier in this run: not tried again. */
		why = NULL;
		for (k = 0; k < down->n && why == NULL; k++)
			if (strcasecmp(down->v[k], dom) == 0)
				why = downwhy->v[k];
		if (why != NULL)
			verdicts(m, "none", why);
		else {
			if (*sp != NULL && strcasecmp(cur, dom) != 0) {
				smtp_close(*sp);
				*sp = NULL;
			}
			if (*sp == NULL &&
			    (*sp = smtp_open(tls, dom, &cls, err,
			    sizeof(err))) != NULL)
				strlcpy(cur, dom, curlen);
			if (*sp == NULL && cls == SMTP_PERM) {
				snprintf(text, sizeof(text), "%s %s",
				    strstr(err, "RFC 7505") ? "5.1.10" : "5.1.2",
				    err);
				for (k = i; k < m->nrcpt; k++)
					if (m->rcpt[k].skip == 0) {
						m->rcpt[k].state = R_FAILED;
						escape(m->rcpt[k].text,
						    sizeof(m->rcpt[k].text), text,
						    strlen(text));
					}
				verdicts(m, "none", NULL);
			} else if (*sp == NULL) {
				/* A configuration error needs the admin. */
				if (cls == SMTP_CONFIG) {
					logmsg(LOG_ERR, "%s: %s", m->id, err);
					rc = EX_CONFIG;
				}
				verdicts(m, "none", err);
				why = err;
			} else {
				r = smtp_send(*sp, m, err, sizeof(err));
				verdicts(m, smtp_relay(*sp), r == -1 ? err : NULL);
				if (r == -1) {
					smtp_close(*sp);
					*sp = NULL;
					why = err;
				}
			}
			if (why != NULL) {
				addrlist_push(down, dom);
				addrlist_push(downwhy, err);
			}
		}
		/* Unreachable, now or before in this run: say why. */
		if (why != NULL)
			escape(m->error, sizeof(m->error), why, strlen(why));
		for (k = i; k < m->nrcpt; k++)
			if (m->rcpt[k].skip == 0)
				m->rcpt[k].skip = 2;
	}
	for (i = 0; i < m->nrcpt; i++)
		m->rcpt[i].skip = 0;
	return rc;
}

/*
 * The AUTH hold: after the server refused the credentials with 5xx,
 * state/.authfail holds when, the error, and the modification times of
 * the files the credentials come from.  For AUTH_HOLD seconds no
 * session starts unless those files changed: a wrong password tried
 * by every cron run and every submission would lock the account at
 * most providers, or get this host banned.
 */
static void
cred_stamp(char *buf, size_t cap)
{
	struct stat a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	stat(conf.path, &a);
	if (conf.passwordfile != NULL)
		stat(conf.passwordfile, &b);
	snprintf(buf, cap, "%lld.%09ld %lld.%09ld", (long long)a.st_mtim.tv_sec,
	    a.st_mtim.tv_nsec, (long long)b.st_mtim.tv_sec, b.st_mtim.tv_nsec);
}

/* Is a session on hold?  Then err says why and until when. */
static int
auth_held(char *err, size_t errlen)
{
	char path[4096], buf[ERR_MAX + 128], stamp[64], when[40], *nl, *e;
	long long t;
	ssize_t n;
	size_t off;
	int fd;

	if (spath(path, sizeof(path), "state", ".authfail") == -1 ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	cred_stamp(stamp, sizeof(stamp));
	/* "TIME STAMP\nERROR\n", as auth_hold() writes it. */
	errno = 0;
	t = strtoll(buf, &e, 10);
	if (e == buf || *e != ' ' || errno != 0)
		return 0;
	off = (size_t)(e + 1 - buf);
	if (strncmp(buf + off, stamp, strlen(stamp)) != 0 ||
	    buf[off + strlen(stamp)] != '\n' ||
	    time(NULL) - t >= AUTH_HOLD || time(NULL) < t)
		return 0;
	nl = buf + off + strlen(stamp) + 1;
	nl[strcspn(nl, "\n")] = '\0';
	cert_time(when, sizeof(when), t + AUTH_HOLD);
	snprintf(err, errlen, "not connecting until %s, or until the password "
	    "changes: the last AUTH failed: %s", when, nl);
	return 1;
}

static void
auth_hold(const char *why)
{
	char path[4096], tmp[4096], stamp[64];
	int fd;

	if (spath(path, sizeof(path), "state", ".authfail") == -1 ||
	    spath(tmp, sizeof(tmp), "state", ".authfail.new") == -1)
		return;
	cred_stamp(stamp, sizeof(stamp));
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		return;
	if (dprintf(fd, "%lld %s\n%s\n", (long long)time(NULL), stamp,
	    why) < 0 || close(fd) == -1 || rename(tmp, path) == -1)
		unlink(tmp);
}

static void
auth_unhold(void)
{
	char path[4096];

	if (spath(path, sizeof(path), "state", ".authfail") == 0)
		unlink(path);
}

/*
 * Become the identity that runs the queue, the spool's owner
 * (REQUIREMENTS P-4): root switches to it when that is another user,
 * anyone else must be it.  The process is made non-dumpable first.
 * Returns 0, or an exit code with err set.
 */
int
queue_runner(char *err, size_t errlen)
{
	struct stat st;

	priv_nodump();		/* the password will be read */
	if (stat(conf.spool, &st) == -1) {
		if (errno == ENOENT && !setgid_mode)
			return 0;	/* queue_init() makes it ours */
		snprintf(err, errlen, "unable to use the spool %s: %s",
		    conf.spool, strerror(errno));
		return EX_TEMPFAIL;
	}
	if (geteuid() == 0 && st.st_uid != 0) {
		/* Root opens the secret, which may be root's, then goes. */
		if (conf_secret_open(err, errlen) == -1)
			return EX_CONFIG;
		priv_become(st.st_uid, st.st_gid);
		return 0;
	}
	if (geteuid() == 0)
		return 0;
	if (geteuid() == st.st_uid) {
		/* The owner reads users' 0640 files through the group. */
		if (setgid_mode && getegid() == st.st_gid)
			priv_take_group();
		else if (setgid_mode)
			priv_drop_group();
		return 0;
	}
	snprintf(err, errlen, "only root or the owner of %s (uid %u) runs the "
	    "queue; queued mail goes with the next queue run", conf.spool,
	    (unsigned)st.st_uid);
	return EX_NOPERM;
}

/* May the caller see and delete any message (not only its own)? */
static int
queue_admin(void)
{
	struct stat st;

	return geteuid() == 0 || (stat(conf.spool, &st) == 0 &&
	    st.st_uid == getuid());
}

/*
 * -qD: remove queued message id, without a bounce; root, the spool's
 * owner or the user who queued it may.  A message being delivered is
 * left alone.  With the spool group, this reads no file's contents.
 * Returns an exit code, with the reason said on stderr.
 */
int
queue_delete(const char *id)
{
	char path[4096], err[ERR_MAX];
	struct stat st, now;
	int fd, rc = EX_OK;

	if (strlen(id) != QID_LEN || strspn(id, "0123456789abcdef") != QID_LEN) {
		say("%s: not a queue id", id);
		return EX_USAGE;
	}
	if (spath(path, sizeof(path), "queue", id) == -1 ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		say("%s: %s", id, errno == ENOENT ? "no such message in the "
		    "queue" : strerror(errno));
		return errno == ENOENT ? EX_NOINPUT : EX_TEMPFAIL;
	}
	if (fstat(fd, &st) == -1 || (!queue_admin() && st.st_uid != getuid())) {
		say("%s: not your message", id);
		close(fd);
		return EX_NOPERM;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		say("%s: being delivered now; try again later", id);
		close(fd);
		return EX_TEMPFAIL;
	}
	if (lstat(path, &now) == -1 || now.st_ino != st.st_ino) {
		say("%s: no such message in the queue", id);
		rc = EX_NOINPUT;
	} else if (unlink(path) == -1) {
		say("unable to remove %s: %s", path, strerror(errno));
		rc = EX_TEMPFAIL;
	} else {
		if (fsync_dir("queue", err, sizeof(err)) == -1)
			say("%s", err);
		/* An ordinary user may not; a later run removes them then. */
		if (spath(path, sizeof(path), "state", id) == 0)
			unlink(path);
		if (mark_path(path, sizeof(path), id) == 0)
			unlink(path);
		logmsg(LOG_NOTICE, "%s: deleted by uid %u", id,
		    (unsigned)getuid());
	}
	close(fd);
	return rc;
}

/* One message of a listing: its files, opened before the group goes. */
struct entry {
	char	id[QID_LEN + 1];
	int	qfd, sfd;		/* -1: open when shown */
	struct stat st;
};

/*
 * -bp, mailq: every queued message with its envelope and delivery state;
 * an ordinary user sees only their own.  In a setgid run the files are
 * opened with the group, which is then given up before any is read.
 */
int
queue_list(void)
{
	struct addrlist ids = { 0 };
	char err[ERR_MAX], when[64], path[4096];
	long long total = 0, age, next;
	struct entry *ent;
	struct qmsg m;
	size_t i, k, n = 0, shown = 0;
	struct tm tm;
	time_t t;
	int all = queue_admin(), r;

	if (list_ids(&ids, err, sizeof(err)) == -1) {
		if (setgid_mode)
			priv_drop_group();
		if (errno == ENOENT) {
			printf("Mail queue is empty\n");
			return EX_OK;
		}
		say("%s", err);
		return EX_TEMPFAIL;
	}
	ent = xcalloc(ids.n + 1, sizeof(*ent));
	for (i = 0; i < ids.n; i++) {
		strlcpy(ent[n].id, ids.v[i], sizeof(ent[n].id));
		ent[n].qfd = ent[n].sfd = -1;
		if (all && !setgid_mode) {
			n++;
			continue;
		}
		if (spath(path, sizeof(path), "queue", ids.v[i]) == -1 ||
		    (ent[n].qfd = open(path, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC)) == -1)
			continue;
		if (fstat(ent[n].qfd, &ent[n].st) == -1 ||
		    (!all && ent[n].st.st_uid != getuid())) {
			close(ent[n].qfd);
			continue;
		}
		if (spath(path, sizeof(path), "state", ids.v[i]) == 0)
			ent[n].sfd = open(path, O_RDONLY | O_NOFOLLOW |
			    O_CLOEXEC);
		n++;
	}
	if (setgid_mode)
		priv_drop_group();
	for (i = 0; i < n; i++) {
		if (ent[i].qfd == -1)
			r = msg_open(ent[i].id, &m, 0, err, sizeof(err));
		else
			r = msg_load(ent[i].id, ent[i].qfd, &ent[i].st, &m, 0,
			    err, sizeof(err));
		if (r == Q_BUSY) {
			if (ent[i].sfd != -1)
				close(ent[i].sfd);
			continue;
		}
		if (r != 0) {
			printf("%s  (unreadable: %s)\n", ent[i].id, err);
			if (ent[i].sfd != -1)
				close(ent[i].sfd);
			continue;
		}
		state_read(&m, ent[i].sfd);
		t = (time_t)m.time;
		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
		age = (long long)(time(NULL) - t);
		printf("%s %9lld  %s  (%lldh%02lldm)  <%s>\n", m.id, m.body_len,
		    when, age / 3600, age % 3600 / 60, m.sender);
		if (m.attempts > 0) {
			t = (time_t)m.last;
			localtime_r(&t, &tm);
			strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
			printf("    attempts: %d, last %s\n", m.attempts, when);
			next = next_attempt(&m);
			t = (time_t)next;
			localtime_r(&t, &tm);
			strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
			printf("    next attempt: the next queue run%s%s\n",
			    conf.backoff ? ", not before " : "",
			    conf.backoff ? when : "");
		}
		if (m.error[0])
			printf("    last error: %s\n", m.error);
		for (k = 0; k < m.nrcpt; k++)
			printf("    <%s>  %s\n", m.rcpt[k].addr,
			    m.rcpt[k].state == R_SENT ? "sent" :
			    m.rcpt[k].state == R_BOUNCED ? "failed, bounced" :
			    "pending");
		total += m.body_len;
		shown++;
		msg_close(&m);
	}
	free(ent);
	addrlist_free(&ids);
	if (shown == 0)
		printf("Mail queue is empty\n");
	else
		printf("-- %lld bytes in %zu message%s.\n", total, shown,
		    shown == 1 ? "" : "s");
	return EX_OK;
}

/*
 * For tests and fuzzing: read one message as a queue run (deliver set)
 * or mailq does, from files already open instead of the spool: the
 * message file fd, named id, then its state file sfd (-1: state/ID, if
 * there is one), and the DSN status of each recipient's reply text, as
 * a bounce would give it.  Both files are closed.  Returns as
 * msg_open() does.
 */
int
queue_parse(const char *id, int fd, int sfd, int deliver, char *err,
    size_t errlen)
{
	char status[32];
	struct qmsg m;
	struct stat st;
	size_t i;
	int r;

	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "unable to stat %s: %s", id,
		    strerror(errno));
		close(fd);
		r = -1;
	} else
		r = msg_load(id, fd, &st, &m, deliver, err, errlen);
	if (r != 0) {
		if (sfd != -1)
			close(sfd);
		return r;
	}
	state_read(&m, sfd);
	for (i = 0; i < m.nrcpt; i++)
		dsn_status(m.rcpt[i].text, status, sizeof(status));
	msg_close(&m);
	return 0;
}
