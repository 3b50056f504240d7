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

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "outbox.h"

enum mode { M_SUBMIT, M_QUEUE, M_LIST };
enum deliver { D_FOREGROUND, D_BACKGROUND, D_QUEUE };

struct opts {
	enum mode	 mode;
	enum deliver	 deliver;
	int		 extract;	/* -t */
	int		 nodot;		/* -i, -oi */
	const char	*sender;	/* -f, -r */
	const char	*fullname;	/* -F */
	const char	*config;	/* -C */
};

static __dead void usage(void);
static void	parse_args(int, char **, struct opts *, int *);
static int	submit(struct opts *, int, char **);
static void	on_signal(int);
static void	catch_signals(void (*)(int));

static __dead void
usage(void)
{
	fprintf(stderr, "usage: outbox [-itv] [-B type] [-C file] [-F name] "
	    "[-f sender] [-N dsn]\n"
	    "              [-R ret] [-r sender] [-V envid] [-bm] "
	    "[-odb | -odi | -odq] [-oi]\n"
	    "              [--] recipient ...\n"
	    "       outbox [-v] [-C file] -q\n"
	    "       outbox [-C file] -bp\n");
	exit(EX_USAGE);
}

/*
 * Options as sendmail(8) takes them: single letters, which may be
 * grouped ("-ti"); those with an argument take the rest of the word or
 * the next word ("-fuser", "-f user").  -b, -d, -e, -o and -q take only
 * what is joined to them.  Recipients follow the options.
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
			case 'm':	/* me too: always so */
			case 'n':	/* no aliasing: there are no aliases */
			case 'U':	/* initial user submission */
				continue;
			case 'b':
				if (strcmp(a + j, "bm") == 0)
					o->mode = M_SUBMIT;
				else if (strcmp(a + j, "bp") == 0)
					o->mode = M_LIST;
				else if (strcmp(a + j, "bd") == 0 ||
				    strcmp(a + j, "bD") == 0)
					die(EX_USAGE, "%s: outbox never listens for "
					    "mail; it only relays to a smart host", a);
				else {
					say("unsupported mode %s", a);
					usage();
				}
				break;
			case 'e':	/* error reporting: always by mail */
				if (a[j + 1] == '\0' || a[j + 2] != '\0' ||
				    strchr("mepqw", a[j + 1]) == NULL)
					usage();
				break;
			case 'o':
				if (strcmp(a + j, "oi") == 0)
					o->nodot = 1;
				else if (strcmp(a + j, "odb") == 0)
					o->deliver = D_BACKGROUND;
				else if (strcmp(a + j, "odi") == 0 ||
				    strcmp(a + j, "odf") == 0)
					o->deliver = D_FOREGROUND;
				else if (strcmp(a + j, "odq") == 0 ||
				    strcmp(a + j, "odd") == 0)
					o->deliver = D_QUEUE;
				else if (a[j + 1] == '\0')
					usage();
				/* Every other -oX is sendmail tuning: ignored. */
				break;
			case 'q':
				if (a[j + 1] != '\0') {
					say("%s: only a plain -q is supported", a);
					usage();
				}
				o->mode = M_QUEUE;
				break;
			case 'B': case 'C': case 'F': case 'L': case 'N':
			case 'O': case 'R': case 'V': case 'X': case 'f':
			case 'h': case 'r':
				if (a[j + 1] != '\0')
					val = a + j + 1;
				else if (i + 1 < argc)
					val = argv[++i];
				else {
					say("option -%c needs an argument", c);
					usage();
				}
				if (c == 'f' || c == 'r')
					o->sender = val;
				else if (c == 'F')
					o->fullname = val;
				else if (c == 'C')
					o->config = val;
				/* -B, -L, -N, -O, -R, -V, -X, -h: accepted, ignored. */
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
 * Intake: recipients from the arguments (checked before stdin is
 * read), the message from stdin, then the durable commit.  Returns the
 * exit status.
 */
static int
submit(struct opts *o, int nargs, char **args)
{
	struct addrlist rcpts = { 0 }, found = { 0 };
	struct intake in = { 0 };
	char err[ERR_MAX], sender[ADDR_MAX], self[ADDR_MAX], a[ADDR_MAX];
	char errors_to[ADDR_MAX];
	const char *raw;
	char gecos[256] = "";
	struct passwd *pw;
	struct qw *w;
	size_t k;
	int i, code, eightbit = 0;

	/* Who calls: from the real uid, never from $USER (REQUIREMENTS P-3). */
	if ((pw = getpwuid(getuid())) != NULL) {
		if (addr_sender(pw->pw_name, self, sizeof(self), err,
		    sizeof(err)) == -1)
			die(EX_NOUSER, "%s", err);
		if (pw->pw_gecos)
			snprintf(gecos, sizeof(gecos), "%.*s",
			    (int)strcspn(pw->pw_gecos, ","), pw->pw_gecos);
	} else if ((size_t)snprintf(self, sizeof(self), "uid%u@%s",
	    (unsigned)getuid(), conf.domain) >= sizeof(self))
		die(EX_CONFIG, "domain %s is too long", conf.domain);

	raw = o->sender ? o->sender : conf.from ? conf.from : pw ? pw->pw_name :
	    self;
	if (addr_sender(raw, sender, sizeof(sender), err, sizeof(err)) == -1)
		die(EX_NOUSER, "%s", err);
	addr_errors_to(raw, sender, errors_to, sizeof(errors_to));
	in.extract = o->extract;
	in.dot_ends = !o->nodot;
	in.header_from = sender[0] ? sender : self;
	in.fullname = o->fullname ? o->fullname : gecos;

	for (i = 0; i < nargs; i++) {
		if (addr_parse_list(args[i], &found, err, sizeof(err)) == -1)
			die(EX_NOUSER, "%s", err);
		for (k = 0; k < found.n; k++) {
			if (addr_rcpt(found.v[k], a, sizeof(a), err,
			    sizeof(err)) == -1)
				die(EX_NOUSER, "%s", err);
			if (addrlist_add(&rcpts, a) == -1)
				die(EX_USAGE, "more than %d recipients", RCPT_MAX);
		}
		addrlist_free(&found);
	}
	if (rcpts.n == 0 && !o->extract)
		die(EX_USAGE, "no recipients given (name them, or use -t)");

	if (queue_init(err, sizeof(err)) == -1)
		die(EX_TEMPFAIL, "%s", err);

	/* A signal during intake leaves nothing behind (REQUIREMENTS Q-6). */
	catch_signals(on_signal);

	w = xmalloc(sizeof(*w));
	if (queue_create(w, err, sizeof(err)) == -1)
		die(EX_TEMPFAIL, "%s", err);
	if ((code = msg_read(STDIN_FILENO, w, &in, &rcpts, &eightbit, err,
	    sizeof(err))) != 0) {
		queue_abort(w);
		die(code, "message not queued: %s", err);
	}
	if (rcpts.n == 0) {
		queue_abort(w);
		die(EX_NOINPUT, "message not queued: no recipients in To, Cc "
		    "or Bcc");
	}
	if (queue_commit(w, sender, errors_to, &rcpts, eightbit, err,
	    sizeof(err)) == -1)
		die(EX_TEMPFAIL, "message not queued: %s", err);

	catch_signals(SIG_DFL);
	logmsg(LOG_INFO, "%s: from=<%s>, nrcpt=%zu, queued", w->id, sender,
	    rcpts.n);
	addrlist_free(&rcpts);

	/* From here on the message is ours: whatever happens, exit 0. */
	switch (o->deliver) {
	case D_QUEUE:
		break;
	case D_FOREGROUND:
		if (queue_run(w->id, 0) != EX_OK)
			say("%s: queued; will be retried by outbox -q", w->id);
		break;
	case D_BACKGROUND:
		switch (fork()) {
		case -1:
			say("%s: queued; unable to fork (%s), the next queue "
			    "run will send it", w->id, strerror(errno));
			break;
		case 0:
			setsid();
			if ((i = open("/dev/null", O_RDWR)) != -1) {
				dup2(i, STDIN_FILENO);
				dup2(i, STDOUT_FILENO);
				dup2(i, STDERR_FILENO);
				if (i > STDERR_FILENO)
					close(i);
			}
			log_open(0);
			_exit(queue_run(w->id, 0));
		}
		break;
	}
	free(w);
	return EX_OK;
}

int
main(int argc, char **argv)
{
	struct opts o = { 0 };
	char err[ERR_MAX];
	const char *prog, *path;
	int first, rc;

	prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	umask(077);
	/* Write errors must be errors, and a closed socket EPIPE. */
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	if (strcmp(prog, "newaliases") == 0) {
		printf("outbox: no aliases to rebuild: mail for local users "
		    "goes to the admin address in outbox.conf\n");
		return EX_OK;
	}
	if (strcmp(prog, "mailq") == 0)
		o.mode = M_LIST;
	parse_args(argc, argv, &o, &first);

	path = o.config ? o.config : getenv("OUTBOX_CONFIG");
	if (path == NULL || *path == '\0')
		path = PATH_CONFIG;
	if (conf_load(path, err, sizeof(err)) == -1)
		die(EX_CONFIG, "%s", err);

	switch (o.mode) {
	case M_LIST:
		if (first < argc)
			usage();
		return queue_list();
	case M_QUEUE:
		if (first < argc)
			usage();
		log_open(verbose || isatty(STDERR_FILENO));
		rc = queue_run(NULL, 1);
		return rc;
	case M_SUBMIT:
		log_open(1);
		return submit(&o, argc - first, argv + first);
	}
	return EX_SOFTWARE;
}
