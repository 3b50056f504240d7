/*
 * main: the sendmail command line, the personalities (sendmail, mailq,
 * newaliases), the mode, and the exit status.
 *
 * A submission always goes through the queue: intake ends when the
 * message is on disk (exit 0 means that), and delivery then reads it
 * back from there, in the foreground (-odi, the default), in a child
 * (-odb), or at the next queue run (-odq).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "outbox.h"

enum mode { M_SUBMIT, M_QUEUE, M_LIST, M_VERIFY, M_SMTP, M_ALIASES,
    M_CHECK };

struct opts {
	enum mode	 mode;
	int		 deliver;	/* enum deliver, or -1: the config's */
	int		 extract;	/* -t */
	int		 nodot;		/* -i, -oi */
	int		 body8;		/* -B 8BITMIME */
	char		 errmode;	/* -oeX: p, q, m, e or w */
	const char	*sender;	/* -f, -r */
	const char	*fullname;	/* -F */
	const char	*config;	/* -C */
	const char	*notify;	/* -N, normalised */
	const char	*ret;		/* -R: FULL or HDRS */
	const char	*envid;		/* -V */
	long long	 interval;	/* -q<interval> in seconds; 0: one run */
	int		 selecting;	/* -qI, -qR or -qS given */
	struct qsel	 sel;
	int		 deleting;	/* -qD: the ids in del and operands */
	struct addrlist	 del;
};

/* The caller, from the real uid (REQUIREMENTS P-3). */
static struct {
	char	 login[LOCAL_MAX + 1];	/* login name, or "" */
	char	 self[ADDR_MAX];	/* login@domain, or uidN@domain */
	char	 gecos[256];		/* full name, or "" */
} caller;

static char	 notify_buf[32];

static __dead void usage(void);
static void	parse_args(int, char **, struct opts *, int *);
static void	dash_o(const char *, struct opts *);
static void	dash_q(const char *, struct opts *);
static const char *arg_value(char **, int, int *, int);
static int	parse_interval(const char *, long long *);
static void	check_dsn(struct opts *);
static void	who(void);
static int	submit(struct opts *, int, char **);
static int	verify(int, char **);
static void	on_signal(int);
static void	catch_signals(void (*)(int));
static void	detach_stdio(void);

static __dead void
usage(void)
{
	fprintf(stderr, "usage: outbox [-itUv] [-B type] [-C file] [-F name] "
	    "[-f sender] [-L tag]\n"
	    "              [-N dsn] [-R ret] [-V envid] [-bm | -bs | -bv] "
	    "[-odb | -odi | -odq]\n"
	    "              [-oeX | -eX] [-oi] [-o option] [--] recipient ...\n"
	    "       outbox [-v] [-C file] -q[interval] [-qIid] [-qRrcpt] "
	    "[-qSsender]\n"
	    "       outbox [-C file] -qD id ...\n"
	    "       outbox [-C file] -bp\n"
	    "       outbox [-v] [-C file] -bC\n");
	exit(EX_USAGE);
}

/*
 * The value of an option that takes one: the rest of the word at j, or
 * the next word ("-fuser", "-f user").
 */
static const char *
arg_value(char **argv, int argc, int *i, int j)
{
	const char *a = argv[*i];

	if (a[j + 1] != '\0')
		return a + j + 1;
	if (*i + 1 < argc)
		return argv[++*i];
	say("option -%c needs an argument", a[j]);
	usage();
}

/*
 * Options as sendmail(8) and Postfix's sendmail(1) take them: single
 * letters, which may be grouped ("-ti"); those with an argument take the
 * rest of the word or the next word.  -b, -d, -e and -q take only what
 * is joined to them; -o takes the joined rest or, alone, the next word.
 * Recipients follow the options; "--" ends them.
 */
static void
parse_args(int argc, char **argv, struct opts *o, int *first)
{
	const char *a, *val;
	int i, j;
	char c;

	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		for (j = 1; (c = a[j]) != '\0'; j++) {
			switch (c) {
			case 't':
				o->extract = 1;
				continue;
			case 'i':
				o->nodot = 1;
				continue;
			case 'v':
				verbose = 1;
				continue;
			case 'G':	/* a gateway submission */
			case 'U':	/* initial user submission */
			case 'm':	/* me too: always so */
			case 'n':	/* no aliasing */
			case 'c':	/* connection caching: one session anyway */
				continue;
			case 'I':	/* Postfix: initialise the aliases */
				o->mode = M_ALIASES;
				continue;
			case 'b':
				val = a + j + 1;
				if (strcmp(val, "m") == 0)
					o->mode = M_SUBMIT;
				else if (strcmp(val, "p") == 0)
					o->mode = M_LIST;
				else if (strcmp(val, "s") == 0)
					o->mode = M_SMTP;
				else if (strcmp(val, "v") == 0)
					o->mode = M_VERIFY;
				else if (strcmp(val, "i") == 0)
					o->mode = M_ALIASES;
				else if (strcmp(val, "C") == 0)
					o->mode = M_CHECK;
				else if (strcmp(val, "d") == 0 ||
				    strcmp(val, "D") == 0)
					die(EX_USAGE, "%s: outbox never listens for "
					    "mail; it only relays to a smart host", a);
				else {
					say("unsupported mode %s", a);
					usage();
				}
				break;
			case 'd':	/* sendmail's debug flags */
				break;
			case 'e':	/* error mode */
				if (a[j + 1] == '\0' || a[j + 2] != '\0' ||
				    strchr("mepqw", a[j + 1]) == NULL) {
					say("bad error mode %s: want -em, -ee, -ep, "
					    "-eq or -ew", a);
					usage();
				}
				o->errmode = a[j + 1];
				break;
			case 'o':
				if (a[j + 1] != '\0')
					dash_o(a + j + 1, o);
				else if (i + 1 < argc)
					dash_o(argv[++i], o);
				else
					usage();
				break;
			case 'q':
				dash_q(a + j + 1, o);
				break;
			case 'O':
				val = arg_value(argv, argc, &i, j);
				/* The long forms of the -o options outbox uses. */
				if (strncasecmp(val, "DeliveryMode=", 13) == 0) {
					char d[] = "dX";

					d[1] = val[13];
					dash_o(d, o);
				} else if (strncasecmp(val, "ErrorMode=", 10) == 0) {
					char e[] = "eX";

					e[1] = val[10];
					dash_o(e, o);
				} else if (strcasecmp(val, "IgnoreDots") == 0 ||
				    strcasecmp(val, "IgnoreDots=True") == 0)
					o->nodot = 1;
				break;
			case 'B':
				val = arg_value(argv, argc, &i, j);
				if (strcasecmp(val, "8BITMIME") == 0)
					o->body8 = 1;
				else if (strcasecmp(val, "7BIT") != 0) {
					say("bad body type -B %s: want 7BIT or "
					    "8BITMIME", val);
					usage();
				}
				break;
			case 'N':
				o->notify = arg_value(argv, argc, &i, j);
				break;
			case 'R':
				o->ret = arg_value(argv, argc, &i, j);
				break;
			case 'V':
				o->envid = arg_value(argv, argc, &i, j);
				break;
			case 'f': case 'r':
				o->sender = arg_value(argv, argc, &i, j);
				break;
			case 'F':
				o->fullname = arg_value(argv, argc, &i, j);
				break;
			case 'C':
				o->config = arg_value(argv, argc, &i, j);
				break;
			case 'L':
				log_tag = arg_value(argv, argc, &i, j);
				break;
			case 'h': {
				long long n;

				val = arg_value(argv, argc, &i, j);
				if (parse_number(val, 0, 1000, &n) == -1) {
					say("bad hop count -h %s", val);
					usage();
				}
				break;
			}
			case 'A':	/* -Am, -Ac: which configuration */
			case 'D':	/* debug output file */
			case 'p':	/* protocol and host for Received */
			case 'X':	/* traffic log: outbox logs to syslog */
				(void)arg_value(argv, argc, &i, j);
				break;
			default:
				say("unknown option -%c", c);
				usage();
			}
			break;	/* the rest of this word was an argument */
		}
	}
	*first = i;
}

/* One -o option, without the "-o". */
static void
dash_o(const char *v, struct opts *o)
{
	if (strcmp(v, "i") == 0)
		o->nodot = 1;
	else if (v[0] == 'd' && v[1] != '\0' && v[2] == '\0') {
		switch (v[1]) {
		case 'b':
			o->deliver = DELIVER_BACKGROUND;
			break;
		case 'i': case 'f':
			o->deliver = DELIVER_FOREGROUND;
			break;
		case 'q': case 'd':
			o->deliver = DELIVER_QUEUE;
			break;
		default:
			say("bad delivery mode -o%s: want -odb, -odi or -odq", v);
			usage();
		}
	} else if (v[0] == 'e' && v[1] != '\0' && v[2] == '\0') {
		if (strchr("mepqw", v[1]) == NULL) {
			say("bad error mode -o%s: want -oem, -oee, -oep, -oeq "
			    "or -oew", v);
			usage();
		}
		o->errmode = v[1];
	}
	/* Every other option is sendmail tuning: ignored. */
}

/* What follows -q: nothing, an interval, or one selection. */
static void
dash_q(const char *v, struct opts *o)
{
	struct addrlist *l;
	int neg = 0;

	o->mode = M_QUEUE;
	if (*v == '\0' || strcmp(v, "f") == 0)
		return;
	if (*v == 'D') {
		o->deleting = 1;
		if (v[1] != '\0')
			addrlist_push(&o->del, v + 1);
		return;
	}
	if (*v == '!') {
		neg = 1;
		v++;
	}
	if (*v == 'I' || *v == 'R' || *v == 'S') {
		l = *v == 'I' ? &o->sel.id : *v == 'R' ? &o->sel.rcpt :
		    &o->sel.sender;
		if (v[1] == '\0') {
			say("-q%c needs a value joined to it, like -q%cexample",
			    *v, *v);
			usage();
		}
		if (neg) {
			char pat[ADDR_MAX + 2];

			snprintf(pat, sizeof(pat), "!%s", v + 1);
			addrlist_push(l, pat);
		} else
			addrlist_push(l, v + 1);
		o->selecting = 1;
		return;
	}
	if (neg || (*v == 'p' && v[1] == '\0'))
		goto bad;
	if (*v == 'p')
		v++;
	if (parse_interval(v, &o->interval) == 0)
		return;
bad:
	say("bad queue option -q%s: want -q, -q<interval> (like -q5m), "
	    "-qI<id>, -qR<recipient>, -qS<sender> or -qD<id>", v);
	usage();
}

/* "30s", "5m", "1h30m", "2d", "1w"; a bare number is minutes. */
static int
parse_interval(const char *v, long long *out)
{
	long long total = 0, n, unit;

	if (*v == '\0')
		return -1;
	while (*v) {
		if (!isdigit((unsigned char)*v))
			return -1;
		for (n = 0; isdigit((unsigned char)*v) && n < 1000000; v++)
			n = n * 10 + (*v - '0');
		switch (*v) {
		case 's': unit = 1; break;
		case 'm': case '\0': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		case 'w': unit = 7 * 86400; break;
		default: return -1;
		}
		if (*v)
			v++;
		total += n * unit;
		if (total > 366LL * 86400)
			return -1;
	}
	if (total < 1)
		return -1;
	*out = total;
	return 0;
}

/*
 * A DSN NOTIFY value (RFC 3461 4.1): NEVER, or a list of SUCCESS,
 * FAILURE and DELAY, each at most once, in any case.  The value in
 * upper case goes to out.  Returns 0, or -1 when it is not one.
 */
int
dsn_notify(const char *v, char *out, size_t cap)
{
	char buf[32];
	const char *p, *w;
	size_t k;

	buf[0] = '\0';
	for (p = v; *p; p += k + (p[k] == ',')) {
		k = strcspn(p, ",");
		w = k == 5 && strncasecmp(p, "never", 5) == 0 ? "NEVER" :
		    k == 7 && strncasecmp(p, "success", 7) == 0 ? "SUCCESS" :
		    k == 7 && strncasecmp(p, "failure", 7) == 0 ? "FAILURE" :
		    k == 5 && strncasecmp(p, "delay", 5) == 0 ? "DELAY" : NULL;
		if (w == NULL || strstr(buf, w) != NULL || (buf[0] &&
		    (strcmp(w, "NEVER") == 0 || strstr(buf, "NEVER") != NULL)))
			return -1;
		if (buf[0])
			strlcat(buf, ",", sizeof(buf));
		strlcat(buf, w, sizeof(buf));
	}
	if (buf[0] == '\0' || strlcpy(out, buf, cap) >= cap)
		return -1;
	return 0;
}

/* -N, -R and -V as RFC 3461 allows them; normalised in place. */
static void
check_dsn(struct opts *o)
{
	const char *p;

	if (o->notify) {
		if (dsn_notify(o->notify, notify_buf, sizeof(notify_buf)) == -1) {
			say("bad -N %s: want never, or a list of success, "
			    "failure and delay", o->notify);
			usage();
		}
		o->notify = notify_buf;
	}
	if (o->ret) {
		if (strcasecmp(o->ret, "full") == 0)
			o->ret = "FULL";
		else if (strcasecmp(o->ret, "hdrs") == 0)
			o->ret = "HDRS";
		else {
			say("bad -R %s: want full or hdrs", o->ret);
			usage();
		}
	}
	if (o->envid) {
		for (p = o->envid; *p; p++)
			if (*p <= ' ' || *p > '~')
				break;
		if (*p || *o->envid == '\0' || strlen(o->envid) > 100) {
			say("bad -V envid: want up to 100 printable ASCII "
			    "characters without blanks");
			usage();
		}
	}
}

/*
 * Who calls.  A uid without a passwd entry (a container's arbitrary
 * uid) is named by its number, but for uid 0, which is root anywhere.
 * The full name is the GECOS field up to the first comma, "&" standing
 * for the capitalised login name.
 */
static void
who(void)
{
	struct passwd *pw;
	const char *g, *l;
	size_t o = 0;

	if ((pw = getpwuid(getuid())) != NULL && pw->pw_name[0] != '\0' &&
	    strlen(pw->pw_name) <= LOCAL_MAX &&
	    strspn(pw->pw_name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST"
	    "UVWXYZ0123456789._-") == strlen(pw->pw_name) &&
	    pw->pw_name[0] != '-') {
		strlcpy(caller.login, pw->pw_name, sizeof(caller.login));
		for (g = pw->pw_gecos ? pw->pw_gecos : ""; *g && *g != ','; g++) {
			if (*g != '&') {
				if (o + 1 < sizeof(caller.gecos))
					caller.gecos[o++] = *g;
				continue;
			}
			for (l = caller.login; *l && o + 1 < sizeof(caller.gecos);
			    l++)
				caller.gecos[o++] = l == caller.login ?
				    (char)toupper((unsigned char)*l) : *l;
		}
		caller.gecos[o] = '\0';
	} else if (getuid() == 0)	/* no /etc/passwd: a scratch container */
		strlcpy(caller.login, "root", sizeof(caller.login));
	if (caller.login[0] != '\0')
		snprintf(caller.self, sizeof(caller.self), "%s@%s",
		    caller.login, conf.domain);
	else
		snprintf(caller.self, sizeof(caller.self), "uid%u@%s",
		    (unsigned)getuid(), conf.domain);
	if (strlen(caller.self) > ADDR_MAX - 2)
		die(EX_CONFIG, "domain %s is too long", conf.domain);
}

static void
on_signal(int sig)
{
	(void)sig;
	queue_sigabort();
	_exit(EX_TEMPFAIL);
}

/* HUP, INT and TERM go to handler (on_signal, or SIG_DFL). */
static void
catch_signals(void (*handler)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/*
 * The envelope sender and where its bounces go: raw (-f, MAIL FROM) if
 * given, else the config's from, else the caller.  Returns 0, or -1 with
 * err set.
 */
int
sender_of(const char *raw, char *sender, char *errors_to, size_t cap,
    char *err, size_t errlen)
{
	if (raw == NULL)
		raw = conf.from ? conf.from : caller.login[0] ? caller.login :
		    caller.self;
	if (addr_sender(raw, sender, cap, err, errlen) == -1)
		return -1;
	addr_errors_to(raw, sender, errors_to, cap);
	return 0;
}

/*
 * One message from in into the queue: read it, check it has recipients,
 * commit it with the envelope e (sender, errors_to, rcpts, DSN requests
 * filled in by the caller; eightbit set for -B 8BITMIME).  A non-zero
 * *returned on entry is an exit code for a message refused already,
 * with the reason in err: it is read all the same.  With errmode m or
 * e, a message refused is returned to its sender instead of only being
 * refused (*returned is then set, and id is the notice's).  The id is
 * copied to id.  Returns 0 or an exit code with err set.
 */
int
submit_one(struct input *in, const struct intake *ik, struct envelope *e,
    int errmode, int *returned, char *id, char *err, size_t errlen)
{
	struct msginfo info;
	char why[ERR_MAX];
	struct qw *w;
	int code, refused = *returned;

	*returned = 0;
	w = xmalloc(sizeof(*w));
	if (queue_create(w, 1, err, errlen) == -1) {
		free(w);
		return EX_TEMPFAIL;
	}
	if (refused)	/* err holds the reason: keep it */
		code = msg_read(in, w, ik, e->rcpts, &info, why, sizeof(why));
	else
		code = msg_read(in, w, ik, e->rcpts, &info, err, errlen);
	e->eightbit |= info.eightbit;
	e->utf8hdr = info.utf8hdr;
	if (refused && code != EX_TEMPFAIL)
		code = refused;
	else if (refused)
		strlcpy(err, why, errlen);
	if (code == 0 && e->rcpts->n == 0) {
		snprintf(err, errlen, "no recipients in %s, Cc or Bcc",
		    ik->extract ? "To" : "the arguments or To");
		code = EX_NOINPUT;
	}
	if (code != 0 && code != EX_TEMPFAIL && (errmode == 'm' ||
	    errmode == 'e')) {
		if (queue_return(w, e, err, id, why, sizeof(why)) == 0) {
			*returned = 1;
			free(w);
			return code;
		}
		logmsg(LOG_ERR, "unable to return the message: %s", why);
	}
	if (code != 0) {
		queue_abort(w);
		free(w);
		return code;
	}
	if (queue_commit(w, e, err, errlen) == -1) {
		free(w);
		return EX_TEMPFAIL;
	}
	strlcpy(id, w->id, QID_LEN + 1);
	logmsg(LOG_INFO, "%s: from=<%s>, nrcpt=%zu, queued", w->id, e->sender,
	    e->rcpts->n);
	free(w);
	return 0;
}

/*
 * Give a detached child standard input, output and error of its own:
 * /dev/null or, in a root without it (a container built from scratch),
 * pipes whose other ends are closed at once.  Reads then see the end of
 * the input and writes fail with EPIPE (SIGPIPE is ignored).  Either
 * way the child no longer holds the caller's pipes, so that a caller
 * reading our output to its end is not kept waiting for the delivery.
 */
static void
detach_stdio(void)
{
	int in[2], out[2], fd, i;

	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
		return;
	}
	if (pipe(in) == -1)
		return;
	if (pipe(out) == -1) {
		close(in[0]);
		close(in[1]);
		return;
	}
	/*
	 * Where 0-2 were closed, pipe() may have returned some of them:
	 * dup2() over such a descriptor closes what it held, and what
	 * stays above 2 is closed below.
	 */
	dup2(in[0], STDIN_FILENO);
	dup2(out[1], STDOUT_FILENO);
	dup2(out[1], STDERR_FILENO);
	for (i = 0; i < 2; i++) {
		if (in[i] > STDERR_FILENO)
			close(in[i]);
		if (out[i] > STDERR_FILENO)
			close(out[i]);
	}
}

/*
 * Deliver the messages just queued as mode says: now, in a detached
 * child, or at the next queue run.  Whatever happens they stay queued,
 * so nothing here changes the exit status.
 */
void
deliver(struct addrlist *ids, enum deliver mode)
{
	char err[ERR_MAX];
	size_t i;

	/* An ordinary user's intake in a setgid install only queues (P-2). */
	if (ids->n == 0 || mode == DELIVER_QUEUE || setgid_mode)
		return;
	if (queue_runner(err, sizeof(err)) != 0) {
		say("queued; %s", err);
		return;
	}
	if (mode == DELIVER_BACKGROUND) {
		switch (fork()) {
		case -1:
			say("queued; unable to fork (%s), the next queue run "
			    "will send it", strerror(errno));
			return;
		case 0:
			setsid();
			detach_stdio();
			log_open(LOG_STDERR_ERR);
			for (i = 0; i < ids->n; i++)
				queue_run(ids->v[i], NULL, 0);
			_exit(0);
		}
		return;
	}
	for (i = 0; i < ids->n; i++)
		if (queue_run(ids->v[i], NULL, 0) != EX_OK)
			say("%s: queued; will be retried by outbox -q", ids->v[i]);
}

/*
 * Intake: recipients from the arguments, the message from stdin, then
 * the durable commit.  Returns the exit status.
 */
static int
submit(struct opts *o, int nargs, char **args)
{
	struct addrlist rcpts = { 0 }, found = { 0 }, ids = { 0 };
	struct envelope e = { 0 };
	struct intake ik = { 0 };
	char err[ERR_MAX], argerr[ERR_MAX] = "", sender[ADDR_MAX];
	char errors_to[ADDR_MAX], id[QID_LEN + 1];
	struct input *in;
	size_t k;
	int i, code, argcode = 0, returned;

	if (sender_of(o->sender, sender, errors_to, sizeof(sender), err,
	    sizeof(err)) == -1)
		die(EX_NOUSER, "bad sender: %s", err);
	ik.extract = o->extract;
	ik.dot_ends = !o->nodot;
	ik.header_from = sender[0] ? sender : caller.self;
	ik.fullname = o->fullname ? o->fullname : caller.gecos;
	ik.sender = sender;

	/* Argument recipients are checked before stdin is read. */
	for (i = 0; i < nargs && argcode == 0; i++) {
		if (addr_parse_list(args[i], &found, argerr,
		    sizeof(argerr)) == -1)
			argcode = EX_NOUSER;
		for (k = 0; argcode == 0 && k < found.n; k++)
			if (addr_rcpt(found.v[k], &rcpts, argerr,
			    sizeof(argerr)) == -1)
				argcode = EX_NOUSER;
		addrlist_free(&found);
	}
	/* With -oem the message is read and returned: nothing is lost. */
	if (argcode && o->errmode == 'q')
		exit(argcode);
	if (argcode && o->errmode != 'm' && o->errmode != 'e')
		die(argcode, "%s", argerr);
	if (nargs == 0 && !o->extract)
		die(EX_USAGE, "no recipients given (name them, or use -t)");

	if (queue_init(err, sizeof(err)) == -1)
		die(EX_TEMPFAIL, "%s", err);

	/* A signal during intake leaves nothing behind (REQUIREMENTS Q-6). */
	catch_signals(on_signal);

	e.sender = sender;
	e.errors_to = errors_to;
	e.rcpts = &rcpts;
	e.eightbit = o->body8;
	e.notify = o->notify;
	e.ret = o->ret;
	e.envid = o->envid;
	in = in_new(STDIN_FILENO);
	returned = argcode;
	if (argcode)
		strlcpy(err, argerr, sizeof(err));
	code = submit_one(in, &ik, &e, o->errmode, &returned, id, err,
	    sizeof(err));
	in_free(in);
	catch_signals(SIG_DFL);
	if (code != 0) {
		addrlist_free(&rcpts);
		if (returned) {
			/* The notice goes out like any message. */
			addrlist_push(&ids, id);
			deliver(&ids, o->deliver >= 0 ? (enum deliver)o->deliver :
			    conf.deliver);
			addrlist_free(&ids);
			return o->errmode == 'e' ? EX_OK : code;
		}
		if (o->errmode != 'q')
			say("message not queued: %s", err);
		return code;
	}
	addrlist_free(&rcpts);

	/* From here on the message is ours: whatever happens, exit 0. */
	addrlist_push(&ids, id);
	deliver(&ids, o->deliver >= 0 ? (enum deliver)o->deliver : conf.deliver);
	addrlist_free(&ids);
	return EX_OK;
}

/* -bv: where mail for each recipient would go; nothing is sent. */
static int
verify(int nargs, char **args)
{
	struct addrlist found = { 0 }, to = { 0 };
	char err[ERR_MAX], via[DNS_NAME_MAX + 64];
	size_t k, t;
	int i, rc = EX_OK;

	if (nargs == 0)
		die(EX_USAGE, "-bv needs recipients to check");
	if (conf.route == ROUTE_MX)
		snprintf(via, sizeof(via), "the MX of its domain, port %d",
		    conf.port);
	else if (conf.route == ROUTE_AUTO)
		snprintf(via, sizeof(via), "the SRV records of %s",
		    strrchr(conf.user, '@') + 1);
	else
		snprintf(via, sizeof(via), "%s port %d", conf.host ? conf.host :
		    "(no host set)", conf.port);
	for (i = 0; i < nargs; i++) {
		/* A list that fails part-way keeps what came before. */
		if (addr_parse_list(args[i], &found, err, sizeof(err)) == -1) {
			printf("%s... bad address: %s\n", args[i], err);
			addrlist_free(&found);
			rc = EX_NOUSER;
			continue;
		}
		for (k = 0; k < found.n; k++) {
			if (addr_rcpt(found.v[k], &to, err, sizeof(err)) == -1) {
				printf("%s... bad address: %s\n", found.v[k], err);
				addrlist_free(&to);
				rc = EX_NOUSER;
				continue;
			}
			for (t = 0; t < to.n; t++)
				printf("%s... deliverable: relayed to <%s> via "
				    "%s\n", found.v[k], to.v[t], via);
			addrlist_free(&to);
		}
		addrlist_free(&found);
	}
	return rc;
}

int
main(int argc, char **argv)
{
	static struct opts o;	/* lives as long as the process */
	char err[ERR_MAX];
	const char *prog, *path, *env;
	int first, i, rc;
	size_t k;

	prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	/* A copy: the environment is wiped below in a setgid run. */
	if ((env = getenv("OUTBOX_CONFIG")) != NULL)
		env = xstrdup(env);
	/*
	 * Setgid to the spool group and run by an ordinary user: start
	 * clean (REQUIREMENTS P-2).
	 */
	if (getuid() != 0 && getegid() != getgid()) {
		setgid_mode = 1;
		priv_sanitize();
	}
	/*
	 * Queue files are 0640: the spool's group reads them where the queue
	 * runs as a dedicated user; the spool's directories keep others out.
	 */
	umask(027);
	/* Write errors must be errors, and a closed socket EPIPE. */
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	memset(&o, 0, sizeof(o));
	o.deliver = -1;
	o.errmode = 'p';
	if (strcmp(prog, "newaliases") == 0)
		o.mode = M_ALIASES;
	else if (strcmp(prog, "mailq") == 0)
		o.mode = M_LIST;
	parse_args(argc, argv, &o, &first);
	if (o.mode == M_ALIASES) {
		printf("outbox: no alias database to rebuild: outbox reads the "
		    "aliases file named in outbox.conf, if any, as it is\n");
		return EX_OK;
	}
	check_dsn(&o);

	/* A configuration of the caller's choosing never gets the group. */
	if (setgid_mode && (o.config || env)) {
		priv_drop_group();
		setgid_mode = 0;
	}
	path = o.config ? o.config : env;
	if (path == NULL || *path == '\0')
		path = PATH_CONFIG;
	if (o.mode == M_CHECK) {
		/* -bC needs no spool, and reads the secret: no group. */
		if (setgid_mode)
			priv_drop_group();
		priv_nodump();
		if (first < argc)
			usage();
		if (conf_load(path, err, sizeof(err)) == -1) {
			printf("error: %s\nhint: correct the line named; "
			    "outbox.conf(5) lists the keys\n", err);
			return EX_CONFIG;
		}
		printf("config: %s: ok\n", path);
		return smtp_check();
	}
	if (conf_load(path, err, sizeof(err)) == -1)
		die(EX_CONFIG, "%s", err);
	who();

	switch (o.mode) {
	case M_LIST:
		if (first < argc)
			usage();
		return queue_list();
	case M_VERIFY:
		if (setgid_mode)
			priv_drop_group();
		return verify(argc - first, argv + first);
	case M_QUEUE:
		if (o.deleting) {
			for (i = first; i < argc; i++)
				addrlist_push(&o.del, argv[i]);
			if (o.selecting || o.interval || o.del.n == 0)
				usage();
			log_open(LOG_STDERR_WARN);
			for (rc = EX_OK, k = 0; k < o.del.n; k++)
				if ((i = queue_delete(o.del.v[k])) != EX_OK)
					rc = i;
			return rc;
		}
		if (first < argc)
			usage();
		if ((rc = queue_runner(err, sizeof(err))) != 0)
			die(rc, "%s", err);
		/*
		 * As process 1 of a container (outbox -q5m as its command),
		 * a signal without a handler is ignored, even TERM from
		 * "docker stop".  A handler ends the run as the default
		 * action would anywhere else; the crash-safe spool makes
		 * stopping at any point safe.
		 */
		catch_signals(on_signal);
		log_open(isatty(STDERR_FILENO) || o.interval > 0 ?
		    LOG_STDERR_ALL : LOG_STDERR_ERR);
		for (;;) {
			/* -q<interval> backs off; a plain -q as configured. */
			rc = queue_run(NULL, o.selecting ? &o.sel : NULL,
			    o.interval > 0 || conf.backoff);
			if (o.interval == 0)
				return rc;
			/* -q<interval>: a foreground runner for hosts without cron. */
			sleep((unsigned)o.interval);
		}
	case M_SMTP:
		if (first < argc)
			usage();
		if (setgid_mode && queue_drop(err, sizeof(err)) == -1)
			die(EX_TEMPFAIL, "%s", err);
		log_open(LOG_STDERR_ERR);
		return smtp_stdin(o.deliver >= 0 ? (enum deliver)o.deliver :
		    conf.deliver, o.fullname ? o.fullname : caller.gecos,
		    caller.self);
	case M_SUBMIT:
		if (setgid_mode && queue_drop(err, sizeof(err)) == -1)
			die(EX_TEMPFAIL, "%s", err);
		log_open(isatty(STDERR_FILENO) ? LOG_STDERR_ALL :
		    LOG_STDERR_WARN);
		return submit(&o, argc - first, argv + first);
	case M_ALIASES:
	case M_CHECK:
		break;
	}
	return EX_SOFTWARE;
}
