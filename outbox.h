/*
 * Shared types and prototypes of outbox, one heading per file.
 *
 * Conventions: functions return 0 (or a count) on success and -1 on
 * failure, with a one-line reason written to the caller's err buffer
 * (char *err, size_t errlen) where there is one.  Only main() exits.
 */
#ifndef OUTBOX_H
#define OUTBOX_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "config.h"

#ifndef __dead
#define __dead __attribute__((__noreturn__))
#endif
#define PRINTF(f, a) __attribute__((__format__(__printf__, f, a)))

/* sysexits.h values, spelled out so a libc without the header builds. */
#define EX_OK		0
#define EX_USAGE	64
#define EX_DATAERR	65
#define EX_NOINPUT	66
#define EX_NOUSER	67
#define EX_UNAVAILABLE	69
#define EX_SOFTWARE	70
#define EX_OSERR	71
#define EX_TEMPFAIL	75
#define EX_PROTOCOL	76
#define EX_NOPERM	77
#define EX_CONFIG	78

#define ERR_MAX	512	/* one error line */

/* conf.c */

/* TLS_MAY: STARTTLS when offered, unverified; host mx without "tls". */
enum tlsmode { TLS_STARTTLS, TLS_IMPLICIT, TLS_OFF, TLS_MAY };
/* Where mail goes: the host named, one found by SRV, or each domain's MX. */
enum route { ROUTE_HOST, ROUTE_AUTO, ROUTE_MX };
/* In the order of conf.c's names; smtp.c ranks them for "auto". */
enum authmech { AUTH_AUTO, AUTH_PLAIN, AUTH_LOGIN, AUTH_CRAM_MD5,
    AUTH_SCRAM_SHA_256, AUTH_XOAUTH2, AUTH_OAUTHBEARER, AUTH_EXTERNAL };
enum deliver { DELIVER_FOREGROUND, DELIVER_BACKGROUND, DELIVER_QUEUE };

/*
 * The runtime configuration.  Read once by conf_load() and read-only
 * afterwards; the password is not part of it (see conf_secret()).
 */
struct conf {
	const char	*path;		/* the file it came from */
	char		*host;		/* smart host; NULL when unset */
	enum route	 route;
	int		 port;
	int		 port_set;	/* the file says port */
	enum tlsmode	 tls;
	int		 tls_set;	/* the file says tls */
	char		*user;		/* NULL: no AUTH */
	int		 has_password;	/* "password" key present */
	char		*passwordfile;
	char		*passwordeval;	/* the command, as written */
	char		**evalargv;	/* and as words for execvp() */
	enum authmech	 auth;
	int		 auth_plaintext;	/* AUTH allowed with tls off */
	char		*cafile;
	char		*capath;
	unsigned char	 pins[PINS_MAX][32];	/* SHA-256 of a key */
	size_t		 npins;
	char		*tls_cert, *tls_key;	/* the client certificate */
	char		*helo;
	char		*from;		/* NULL: user@domain of the caller */
	char		*domain;
	char		*admin;		/* NULL: qualify local names */
	char		*spool;
	char		*aliases;	/* aliases file; NULL: none */
	enum deliver	 deliver;	/* default delivery mode */
	int		 rewrite_from;	/* From: becomes the envelope sender */
	int		 backoff;	/* whole runs skip messages backing off */
	long long	 maxage;	/* seconds */
	int		 timeout;	/* seconds */
	int		 stage_timeout;	/* seconds; 0: RFC 5321's per stage */
	char		 hostname[256];	/* this host's name */
};
extern struct conf conf;

int	conf_load(const char *, char *, size_t);
int	conf_secret(char *, size_t, char *, size_t);
int	conf_secret_open(char *, size_t);
int	conf_keyfile_open(char *, size_t);

/* aliases.c */

int			 aliases_load(const char *, char *, size_t);
const struct addrlist	*alias_find(const char *);

/* util.c */

extern int verbose;		/* -v: protocol trace on stderr */
extern const char *log_tag;	/* syslog tag (-L) */
/*
 * Set by main() when outbox runs setgid for an ordinary user: the spool
 * group is held only by the drop helper (see queue_drop()).
 */
extern int setgid_mode;

void	priv_nodump(void);
void	priv_sanitize(void);
void	priv_drop_group(void);
void	priv_take_group(void);
void	priv_become(uid_t, gid_t);

/* log_open(): what goes to stderr beside syslog (util.c says more). */
#define LOG_STDERR_ERR	0	/* errors */
#define LOG_STDERR_WARN	1	/* errors and warnings */
#define LOG_STDERR_ALL	2	/* everything, when there is no syslog */
void	log_open(int);
void	logmsg(int, const char *, ...) PRINTF(2, 3);
void	say(const char *, ...) PRINTF(1, 2);
__dead void die(int, const char *, ...) PRINTF(2, 3);

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
#ifndef __GLIBC__
#include <string.h>	/* musl and the BSDs declare strlcpy and strlcat */
#else
size_t	 strlcpy(char *, const char *, size_t);
size_t	 strlcat(char *, const char *, size_t);
#endif

int64_t	 now_ms(void);
int64_t	 deadline_in(int);
void	 rand_bytes(void *, size_t);
uint32_t crc32_update(uint32_t, const void *, size_t);
size_t	 escape(char *, size_t, const char *, size_t);
void	 duration(char *, size_t, long long);
int	 parse_number(const char *, long long, long long, long long *);
int	 has8bit(const char *);

/*
 * A list of strings (addresses, queue ids).  addrlist_push() appends a
 * copy; addrlist_add() is for recipients: it ignores exact duplicates
 * and fails (returns -1) once RCPT_MAX are held.
 */
struct addrlist {
	char	**v;
	size_t	  n, cap;
};
void	addrlist_push(struct addrlist *, const char *);
int	addrlist_add(struct addrlist *, const char *);
void	addrlist_free(struct addrlist *);

/*
 * Byte transport: plain socket or TLS.  read returns bytes read, 0 at
 * the end of the stream, -1 with errno (ETIMEDOUT when the deadline, an
 * absolute now_ms() value, passes).  write sends all or returns -1.
 */
struct io {
	ssize_t	(*read)(void *, void *, size_t, int64_t);
	int	(*write)(void *, const void *, size_t, int64_t);
	void	*ctx;
};

int	fd_wait(int, short, int64_t);
ssize_t	fd_read(int, void *, size_t, int64_t);
int	fd_write(int, const void *, size_t, int64_t);
void	io_plain(struct io *, int *);

/*
 * Bounded line reader over a struct io.  io_getline() returns 1 with a
 * line (CRLF or LF stripped, NUL-terminated) of at most cap - 1 bytes,
 * 2 when the line was longer and its excess was skipped, 0 at a clean
 * end of stream, -1 with errno: EPROTO for a NUL byte, EMSGSIZE when
 * more than "left" bytes were taken (the caller sets it; each byte taken
 * counts, skipped ones too), ETIMEDOUT, or the transport's error.
 */
struct linebuf {
	char	buf[4096];
	size_t	off, len;
	size_t	left;		/* bytes the caller allows io_getline to take */
};
int	io_getline(struct io *, struct linebuf *, int64_t, char *, size_t,
	    size_t *);
#define linebuf_pending(lb) ((lb)->len - (lb)->off)

/* dns.c */

struct hostaddr {
	struct sockaddr_storage	ss;
	socklen_t		len;
	char			text[64];	/* "[addr]:port" for messages */
};
#define DNS_NONE	(-2)	/* the name servers say: no such thing */
int	dns_host(const char *, int, struct hostaddr *, size_t, char *, size_t);

/* Record types asked for. */
#define DNS_A		1
#define DNS_CNAME	5
#define DNS_MX		15
#define DNS_AAAA	28
#define DNS_SRV		33

/* One resource record of an answer, as outbox uses it. */
struct dnsrr {
	int		 type;
	uint32_t	 ttl;
	char		 name[DNS_NAME_MAX + 1];	/* owner */
	unsigned char	 addr[16];		/* A: 4 bytes, AAAA: 16 */
	uint16_t	 pref, weight, port;	/* MX pref; SRV prio in pref */
	char		 target[DNS_NAME_MAX + 1];	/* CNAME, MX, SRV */
};

/* What resolv.conf says. */
struct resolvconf {
	struct sockaddr_storage	ns[DNS_SERVERS_MAX];
	socklen_t		nslen[DNS_SERVERS_MAX];
	int			nns;
	char			search[DNS_SEARCH_MAX][DNS_NAME_MAX + 1];
	int			nsearch;
	int			ndots, timeout, attempts, rotate;
	int			trust_ad;	/* options trust-ad */
};

size_t	dns_query(unsigned char *, size_t, uint16_t, const char *, int);
int	dns_answer(const unsigned char *, size_t, uint16_t, const char *, int,
	    struct dnsrr *, size_t, int *, unsigned *);
void	dns_conf(const char *, struct resolvconf *);
int	dns_mx(const char *, struct dnsrr *, size_t, char *, size_t);
int	dns_srv(const char *, struct dnsrr *, size_t, int *, char *, size_t);

/* auth.c: SASL mechanisms for SMTP AUTH (RFC 4954) and base64; no I/O */

size_t	b64_encode(char *, size_t, const void *, size_t);
ssize_t	b64_decode(void *, size_t, const char *, size_t);
int	sasl_cram_md5(char *, size_t, const char *, const char *, const void *,
	    size_t);
size_t	sasl_xoauth2(char *, size_t, const char *, const char *);
size_t	sasl_oauthbearer(char *, size_t, const char *, const char *, int,
	    const char *);

/* One SCRAM-SHA-256 exchange (RFC 5802, RFC 7677), client side. */
struct scram {
	char		 bare[SCRAM_MSG_MAX];	/* client-first-message-bare */
	size_t		 barelen;
	unsigned char	 server_sig[32];	/* expected ServerSignature */
	int		 state;	/* 0 new or failed, 1 started, 2 proved, 3 verified */
};
int	scram_start(struct scram *, const char *, const char *, char *, size_t);
int	scram_prove(struct scram *, const char *, const char *, size_t, char *,
	    size_t, char *, size_t);
int	scram_verify(struct scram *, const char *, size_t, char *, size_t);
void	scram_wipe(struct scram *);

/* cert.c: reading X.509 certificates (DER), for pins, names and dates */

/* What a certificate says, as pointers into its DER. */
struct certinfo {
	const unsigned char	*subject, *issuer, *spki, *san;
	size_t			 subjectlen, issuerlen, spkilen, sanlen;
	int64_t			 notbefore, notafter;	/* Unix time */
};
int	cert_parse(const unsigned char *, size_t, struct certinfo *);
size_t	cert_name(char *, size_t, const unsigned char *, size_t);
size_t	cert_altnames(char *, size_t, const struct certinfo *);
int	cert_match_ip(const struct certinfo *, const unsigned char *, size_t);
size_t	cert_time(char *, size_t, int64_t);

/* tls.c */

struct tls;	/* trust anchors and one BearSSL client engine */

struct tls	*tls_new(char *, size_t);
int		 tls_handshake(struct tls *, int, const char *, int, int64_t,
		    char *, size_t);
void		 tls_io(struct tls *, struct io *);
void		 tls_error(struct tls *, char *, size_t);
void		 tls_close(struct tls *, int64_t);
void		 tls_free(struct tls *);
void		 tls_show(struct tls *, FILE *);
void		 tls_server_pin(struct tls *, char *, size_t);
void		 tls_pin_text(char *, size_t, const unsigned char[32]);
int		 tls_clock(time_t, char *, size_t);

/* msg.c */

struct input;	/* a byte stream read line by line, CRLF made LF */

/* What the command line says about a submission. */
struct intake {
	int		 extract;	/* -t */
	int		 dot_ends;	/* no -i: a lone "." ends input */
	int		 smtp;		/* -bs DATA: dot-stuffed, "." ends it */
	const char	*fullname;	/* display name for an added From */
	const char	*header_from;	/* From: address to add when missing */
	const char	*sender;	/* envelope sender, for rewrite_from */
};

/* What intake learnt about the message. */
struct msginfo {
	int		 eightbit;	/* a byte over 0x7f anywhere */
	int		 utf8hdr;	/* one in the header section */
	int		 longlines;	/* a body line over TEXT_LINE_MAX */
};

struct input	*in_new(int);
void		 in_free(struct input *);
int		 in_command(struct input *, char *, size_t);

int	addr_parse_list(const char *, struct addrlist *, char *, size_t);
int	addr_check(const char *, char *, size_t);
int	addr_rcpt(const char *, struct addrlist *, char *, size_t);
int	addr_sender(const char *, char *, size_t, char *, size_t);
void	addr_errors_to(const char *, const char *, char *, size_t);
int	utf8_len(const char *);

struct qw;
int	msg_read(struct input *, struct qw *, const struct intake *,
	    struct addrlist *, struct msginfo *, char *, size_t);
void	msg_date(char *, size_t, time_t);

/* queue.c */

#define QID_LEN	16

/* The writer of one new queue file: see queue_create(). */
struct qw {
	int		fd;
	char		tmppath[4096];
	char		id[QID_LEN + 1];
	uint32_t	crc;
	long long	len;
	char		buf[16384];
	size_t		used;
	int		err;		/* errno of the first failed write */
	int		intake;		/* must leave SPOOL_RESERVE free */
};

/*
 * A recipient is pending until the server accepts it (sent) or refuses
 * it for good (failed, then bounced once the bounce is queued).
 */
enum rcptstate { R_PENDING, R_SENT, R_FAILED, R_BOUNCED };

struct rcpt {
	char		*addr;
	enum rcptstate	 state;
	int		 skip;		/* not for this session (host mx) */
	char		 text[REPLY_TEXT_MAX];	/* server's reply, escaped */
};

/* A queued message, open and locked while a queue run works on it. */
struct qmsg {
	char		 id[QID_LEN + 1];
	int		 fd;
	long long	 body_off, body_len;
	long long	 lines;			/* LFs in the body: CRs on the wire */
	char		*sender;		/* "" for the null sender */
	char		*errors_to;		/* bounces go here; NULL: sender */
	struct rcpt	*rcpt;
	size_t		 nrcpt;
	long long	 time;			/* intake */
	int		 eightbit;
	int		 utf8hdr;		/* UTF-8 in the header section */
	int		 smtputf8;		/* an address needs SMTPUTF8 */
	char		*notify, *ret, *envid;	/* DSN requests, or NULL */
	int		 attempts;
	long long	 last;
	char		 error[REPLY_TEXT_MAX];
};

/* The envelope of a new message: see queue_commit(). */
struct envelope {
	const char	*sender;	/* "" for the null sender */
	const char	*errors_to;	/* NULL or "": bounces go to sender */
	struct addrlist	*rcpts;
	int		 eightbit;	/* declare 8BITMIME */
	int		 utf8hdr;	/* UTF-8 in the header: ask SMTPUTF8 */
	const char	*notify;	/* DSN NOTIFY (-N), or NULL */
	const char	*ret;		/* DSN RET (-R): FULL or HDRS, or NULL */
	const char	*envid;		/* DSN ENVID (-V), or NULL */
};

/*
 * Which messages a queue run takes (-qI, -qR, -qS): each list holds
 * substrings of the queue id, a recipient or the sender, matched
 * without regard to case, a leading "!" negating one.  A message is
 * taken when every non-empty list has a match.
 */
struct qsel {
	struct addrlist	 id, rcpt, sender;
};

int	queue_init(char *, size_t);
int	queue_drop(char *, size_t);
int	queue_create(struct qw *, int, char *, size_t);
int	queue_write(struct qw *, const void *, size_t);
int	queue_commit(struct qw *, const struct envelope *, char *, size_t);
void	queue_abort(struct qw *);
int	queue_reread(struct qw *);
void	queue_replace(struct qw *, struct qw *);
void	queue_sigabort(void);
int	queue_return(struct qw *, const struct envelope *, const char *, char *,
	    char *, size_t);
int	queue_list(void);
int	queue_run(const char *, const struct qsel *, int);
int	queue_runner(char *, size_t);
int	queue_delete(const char *);
void	queue_sending(const struct qmsg *);

/* sendmail.c, smtpin.c: taking mail */

int	sender_of(const char *, char *, char *, size_t, char *, size_t);
int	dsn_notify(const char *, char *, size_t);
int	submit_one(struct input *, const struct intake *, struct envelope *,
	    int, int *, char *, char *, size_t);
void	deliver(struct addrlist *, enum deliver);
int	smtp_stdin(enum deliver, const char *, const char *);

/* smtp.c */

/* Failure classes of a session, for the exit status of a queue run. */
enum smtp_fail {
	SMTP_OK,
	SMTP_TEMP,	/* network, TLS, 4xx, protocol: try again later */
	SMTP_CONFIG,	/* nothing will work until the configuration changes */
	SMTP_AUTH,	/* the server refused the credentials (5xx) */
	SMTP_PERM,	/* host mx: the domain takes no mail at all */
};

struct smtp;

struct smtp	*smtp_open(struct tls *, const char *, enum smtp_fail *, char *,
		    size_t);
int		 smtp_send(struct smtp *, struct qmsg *, char *, size_t);
void		 smtp_close(struct smtp *);
const char	*smtp_relay(struct smtp *);
int		 smtp_check(void);

/*
 * For tests and fuzzing only: the parsers of what others wrote, reached
 * without a connection or a spool (aliases.c, queue.c, smtp.c).
 */

void		 aliases_free(void);
int		 queue_parse(const char *, int, int, int, char *, size_t);
struct smtp	*smtp_open_io(const struct io *, char *, size_t);

#endif
