/*
 * Logging, allocation, time, privileges, and the bounded line reader
 * that smtp.c reads replies with.  Nothing here knows about mail.
 */
/* For setresuid() and setresgid().  NOLINTNEXTLINE: reserved, by design */
#define _GNU_SOURCE

#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "outbox.h"

int verbose;
const char *log_tag = "outbox";
int setgid_mode;

static int log_stderr = LOG_STDERR_WARN;	/* until log_open() says */
static int log_syslog;

static ssize_t	plain_read(void *, void *, size_t, int64_t);
static int	plain_write(void *, const void *, size_t, int64_t);

/*
 * Is a syslog daemon listening on /dev/log?  Where none is (most
 * containers, a bare chroot), syslog(3) drops every line in silence.
 */
static int
syslog_listens(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, ok, e;

	strlcpy(sun.sun_path, "/dev/log", sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	e = errno;
	close(fd);
	if (ok || e != EPROTOTYPE)
		return ok;
	/* A stream socket, as some syslog daemons make. */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return ok;
}

/*
 * Where logmsg() writes: syslog (facility mail), and standard error as
 * to_stderr says.  Errors, which need the admin, always go there (cron
 * mails them); LOG_STDERR_WARN adds warnings, and -v everything.
 * LOG_STDERR_ALL, for a queue runner at an interval or a terminal,
 * adds everything when there is no syslog to write to: then standard
 * error is the log.  A one-shot run from cron never logs its
 * successes there, or each run would mail its log back to the queue.
 */
void
log_open(int to_stderr)
{
	log_syslog = syslog_listens();
	if (log_syslog)
		openlog(log_tag, LOG_PID | LOG_NDELAY, LOG_MAIL);
	log_stderr = to_stderr == LOG_STDERR_ALL && log_syslog ?
	    LOG_STDERR_WARN : to_stderr;
}

static void
vsay(const char *fmt, va_list ap)
{
	fputs("outbox: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
logmsg(int prio, const char *fmt, ...)
{
	va_list ap;

	if (log_syslog) {
		va_start(ap, fmt);
		vsyslog(prio, fmt, ap);
		va_end(ap);
	}
	if (prio <= LOG_ERR || verbose || log_stderr == LOG_STDERR_ALL ||
	    (log_stderr == LOG_STDERR_WARN && prio <= LOG_WARNING)) {
		va_start(ap, fmt);
		vsay(fmt, ap);
		va_end(ap);
	}
}

/* One line on stderr for the caller, whatever the log setting is. */
void
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

void
die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	exit(code);
}

void *
xmalloc(size_t n)
{
	void *p;

	if ((p = malloc(n ? n : 1)) == NULL)
		die(EX_OSERR, "unable to allocate memory: %s", strerror(errno));
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n ? n : 1, size ? size : 1)) == NULL)
		die(EX_OSERR, "unable to allocate memory: %s", strerror(errno));
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		die(EX_OSERR, "unable to allocate memory: size overflow");
	if ((p = realloc(p, n && size ? n * size : 1)) == NULL)
		die(EX_OSERR, "unable to allocate memory: %s", strerror(errno));
	return p;
}

char *
xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

#ifdef __GLIBC__
size_t
strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size) {
		size_t c = n < size - 1 ? n : size - 1;

		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

size_t
strlcat(char *dst, const char *src, size_t size)
{
	size_t d = strnlen(dst, size);

	if (d == size)
		return d + strlen(src);
	return d + strlcpy(dst + d, src, size - d);
}
#endif

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
deadline_in(int seconds)
{
	return now_ms() + (int64_t)seconds * 1000;
}

/*
 * Random bytes from the kernel.  Without them there is no safe TLS and
 * no unguessable queue id, so failure is fatal.
 */
void
rand_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;
	ssize_t r;

	while (len > 0) {
		r = getrandom(p, len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die(EX_OSERR, "unable to get random bytes: %s",
			    strerror(errno));
		p += r;
		len -= (size_t)r;
	}
}

/* CRC-32 as in IEEE 802.3 (the one zlib and cksum -a crc32b use). */
uint32_t
crc32_update(uint32_t crc, const void *buf, size_t len)
{
	static uint32_t table[256];
	const unsigned char *p = buf;
	uint32_t c;
	int i, k;

	if (table[1] == 0) {
		for (i = 0; i < 256; i++) {
			c = (uint32_t)i;
			for (k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320U ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	}
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/*
 * secs as sendmail's logs give a delay: HH:MM:SS, with "D+" before it
 * from a day on; a negative span (a clock set back) is 0.
 */
void
duration(char *buf, size_t cap, long long secs)
{
	if (secs < 0)
		secs = 0;
	if (secs >= 86400)
		snprintf(buf, cap, "%lld+%02lld:%02lld:%02lld", secs / 86400,
		    secs / 3600 % 24, secs / 60 % 60, secs % 60);
	else
		snprintf(buf, cap, "%02lld:%02lld:%02lld", secs / 3600,
		    secs / 60 % 60, secs % 60);
}

/*
 * Copy text from a peer or a file into dst so that it is one printable
 * line: bytes outside 0x20-0x7e become \xNN.  Stops early rather than
 * cutting an escape in half.  Returns the length written.
 */
size_t
escape(char *dst, size_t cap, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;
	unsigned char c;

	if (cap == 0)
		return 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)src[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= cap)
				break;
			dst[o++] = (char)c;
		} else {
			if (o + 4 >= cap)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
	return o;
}

/* Does s hold a byte over 0x7f? */
int
has8bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/* A decimal number in [min, max], all of s, no sign tricks. */
int
parse_number(const char *s, long long min, long long max, long long *out)
{
	long long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		/* No overflow: v * 10 + digit stays within max. */
		if (v > max / 10 || v * 10 > max - (*s - '0'))
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (v < min)
		return -1;
	*out = v;
	return 0;
}

void
addrlist_push(struct addrlist *l, const char *a)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = xstrdup(a);
}

int
addrlist_add(struct addrlist *l, const char *a)
{
	size_t i;

	const char *at = strrchr(a, '@'), *bt;
	size_t ll = at ? (size_t)(at - a) : strlen(a);

	/* The same address: equal local parts, domains equal but for case. */
	for (i = 0; i < l->n; i++) {
		bt = strrchr(l->v[i], '@');
		if ((bt ? (size_t)(bt - l->v[i]) : strlen(l->v[i])) == ll &&
		    strncmp(l->v[i], a, ll) == 0 && (at == NULL) == (bt == NULL) &&
		    (at == NULL || strcasecmp(at, bt) == 0))
			return 0;
	}
	if (l->n >= RCPT_MAX)
		return -1;
	addrlist_push(l, a);
	return 0;
}

void
addrlist_free(struct addrlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* Wait until fd is ready for events or the deadline passes. */
int
fd_wait(int fd, short events, int64_t deadline)
{
	struct pollfd pfd;
	int64_t left;
	int r;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

ssize_t
fd_read(int fd, void *buf, size_t len, int64_t deadline)
{
	ssize_t r;

	for (;;) {
		if (fd_wait(fd, POLLIN, deadline) == -1)
			return -1;
		r = read(fd, buf, len);
		if (r >= 0)
			return r;
		if (errno != EINTR && errno != EAGAIN)
			return -1;
	}
}

int
fd_write(int fd, const void *buf, size_t len, int64_t deadline)
{
	const char *p = buf;
	ssize_t w;

	while (len > 0) {
		if (fd_wait(fd, POLLOUT, deadline) == -1)
			return -1;
		w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static ssize_t
plain_read(void *ctx, void *buf, size_t len, int64_t deadline)
{
	return fd_read(*(int *)ctx, buf, len, deadline);
}

static int
plain_write(void *ctx, const void *buf, size_t len, int64_t deadline)
{
	return fd_write(*(int *)ctx, buf, len, deadline);
}

/* Wire io to the socket *fdp, without TLS. */
void
io_plain(struct io *io, int *fdp)
{
	io->read = plain_read;
	io->write = plain_write;
	io->ctx = fdp;
}

int
io_getline(struct io *io, struct linebuf *lb, int64_t deadline, char *line,
    size_t cap, size_t *lenp)
{
	size_t n = 0;
	int over = 0;
	ssize_t r;
	char c;

	for (;;) {
		if (lb->off == lb->len) {
			r = io->read(io->ctx, lb->buf, sizeof(lb->buf), deadline);
			if (r < 0)
				return -1;
			if (r == 0) {
				if (n == 0 && !over)
					return 0;
				/* A last line without its end is still not a line. */
				errno = ECONNRESET;
				return -1;
			}
			lb->off = 0;
			lb->len = (size_t)r;
		}
		if (lb->left == 0) {
			errno = EMSGSIZE;
			return -1;
		}
		lb->left--;
		c = lb->buf[lb->off++];
		if (c == '\0') {
			errno = EPROTO;
			return -1;
		}
		if (c == '\n')
			break;
		if (n + 1 < cap)
			line[n++] = c;
		else
			over = 1;
	}
	if (n > 0 && line[n - 1] == '\r' && !over)
		n--;
	line[n] = '\0';
	*lenp = n;
	return over ? 2 : 1;
}

/*
 * No core file, and no ptrace or /proc/PID/mem by the same user: for a
 * process that holds the spool group or may read the password (P-2,
 * P-6).
 */
void
priv_nodump(void)
{
	struct rlimit none = { 0, 0 };

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	setrlimit(RLIMIT_CORE, &none);
}

/*
 * The start of a setgid run by an ordinary user (REQUIREMENTS P-2):
 * no core file and no ptrace, a umask that keeps the spool group's
 * files from others, descriptors 0-2 open and no others, default signal
 * dispositions and an empty environment, so that nothing the caller set
 * up reaches code that holds the group.
 */
void
priv_sanitize(void)
{
	extern char **environ;
	sigset_t all;
	char **env;
	int fd, sig;

	priv_nodump();
	umask(027);
	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 &&
		    open("/dev/null", O_RDWR) != fd)
			_exit(EX_OSERR);
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) == -1)
#endif
		for (fd = 3; fd < 4096; fd++)
			close(fd);
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	/* Wipe the strings too: clearenv() leaves them in memory. */
	for (env = environ; env && *env; env++)
		explicit_bzero(*env, strlen(*env));
	clearenv();
}

/* Give up the setgid group for good: real, effective and saved. */
void
priv_drop_group(void)
{
	gid_t g = getgid();

	if (setresgid(g, g, g) == -1 || getegid() != g)
		die(EX_OSERR, "unable to drop the group: %s", strerror(errno));
}

/*
 * Make the setgid group the real and saved one too, for the spool's
 * owner: its queue run reads users' files through the group.
 */
void
priv_take_group(void)
{
	gid_t g = getegid();

	if (setresgid(g, g, g) == -1 || getgid() != g)
		die(EX_OSERR, "unable to take the group: %s", strerror(errno));
}

/*
 * Become uid and gid for good, from root (REQUIREMENTS P-4): the queue
 * runs as the spool's owner.
 */
void
priv_become(uid_t uid, gid_t gid)
{
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1)
		die(EX_OSERR, "unable to switch to uid %u: %s", (unsigned)uid,
		    strerror(errno));
	if (getuid() != uid || geteuid() != uid || getegid() != gid ||
	    (uid != 0 && setuid(0) != -1))
		die(EX_OSERR, "unable to switch to uid %u for good",
		    (unsigned)uid);
}
