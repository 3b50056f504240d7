/*
 * The runtime configuration file: one "key value" a line, the value
 * being the rest of the line with surrounding blanks removed; "#" lines
 * and blank lines are ignored.  An error in a line names the file and
 * the line; keys that do not go together, the file.
 *
 * And the secrets it points to: the password (from the file itself, a
 * passwordfile, or the output of passwordeval) and the client's key
 * file, opened and read only when a session needs them.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "outbox.h"

struct conf conf;

/* The files of the password and tls_key, opened early, or -1. */
static int secret_fd = -1;
static int key_fd = -1;

static int	set_key(const char *, char *, char *, size_t);
static int	pick(const char *const *, const char *);
static int	parse_age(const char *, long long *);
static int	check_secret_file(int, const char *, char *, size_t);
static int	check_conf(const struct stat *, char *, size_t);
static int	open_secret(const char *, int *, char *, size_t);
static int	reread_secret(const char *, int *, char *, size_t);
static int	split_words(const char *, char ***, char *, size_t);
static int	secret_eval(char *, size_t, char *, size_t);
static void	set_defaults(void);
static FILE	*lines_of(int, const char *, char *, char *, size_t);

static const char *const keys[] = {
	"host", "port", "tls", "user", "password", "passwordfile", "auth",
	"cafile", "helo", "from", "domain", "admin", "spool", "maxage",
	"timeout", "deliver", "rewrite_from", "aliases", "backoff", "capath",
	"pin", "tls_cert", "tls_key", "passwordeval", "auth_plaintext",
	"stage_timeout", NULL
};

/* The values of "auth", in the order of enum authmech. */
static const char *const mechs[] = { "auto", "plain", "login", "cram-md5",
    "scram-sha-256", "xoauth2", "oauthbearer", "external", NULL };

/*
 * A stream to read fd, the file at path, line by line through iobuf
 * (BUFSIZ bytes, the caller's, so that nothing of a secret is left in a
 * buffer that is not cleared).  NULL with err set, fd closed, on failure.
 */
static FILE *
lines_of(int fd, const char *path, char *iobuf, char *err, size_t errlen)
{
	FILE *fp;

	if ((fp = fdopen(fd, "r")) == NULL) {
		snprintf(err, errlen, "unable to read %s: %s", path,
		    strerror(errno));
		close(fd);
		return NULL;
	}
	setvbuf(fp, iobuf, _IOFBF, BUFSIZ);
	return fp;
}

/*
 * Read the file at path into the global conf.  Returns 0, or -1 with a
 * "FILE:LINE: reason" message in err.  A file that holds a password
 * must not be readable by others.
 */
int
conf_load(const char *path, char *err, size_t errlen)
{
	char line[CONF_LINE_MAX + 2], why[ERR_MAX], iobuf[BUFSIZ];
	char *k, *v, *e;
	struct stat st;
	int fd, lineno = 0;
	size_t n;
	FILE *fp;

	memset(&conf, 0, sizeof(conf));
	conf.path = path;
	conf.port = -1;
	conf.timeout = DEF_TIMEOUT;
	conf.maxage = DEF_MAXAGE;
	if (gethostname(conf.hostname, sizeof(conf.hostname) - 1) == -1 ||
	    conf.hostname[0] == '\0')
		strlcpy(conf.hostname, "localhost", sizeof(conf.hostname));

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "unable to open %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "unable to read %s: not a regular file",
		    path);
		close(fd);
		return -1;
	}
	if ((fp = lines_of(fd, path, iobuf, err, errlen)) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		n = strlen(line);
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		else if (!feof(fp)) {
			snprintf(err, errlen, "%s:%d: line longer than %d bytes",
			    path, lineno, CONF_LINE_MAX);
			goto fail;
		}
		for (k = line; *k == ' ' || *k == '\t'; k++)
			;
		if (*k == '\0' || *k == '#')
			continue;
		for (v = k; *v && *v != ' ' && *v != '\t'; v++)
			;
		if (*v)
			*v++ = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		for (e = v + strlen(v); e > v && isspace((unsigned char)e[-1]); )
			*--e = '\0';
		if (set_key(k, v, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			goto fail;
		}
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "unable to read %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	fclose(fp);
	/* A password line went through these: wipe them. */
	explicit_bzero(line, sizeof(line));
	explicit_bzero(iobuf, sizeof(iobuf));
	set_defaults();
	if (check_conf(&st, err, errlen) == -1)
		return -1;
	if (conf.aliases != NULL &&
	    aliases_load(conf.aliases, err, errlen) == -1)
		return -1;
	return 0;
fail:
	fclose(fp);
	explicit_bzero(line, sizeof(line));
	explicit_bzero(iobuf, sizeof(iobuf));
	return -1;
}

static void
set_defaults(void)
{
	/* No host, and a user that is an address: its domain says (RFC 6186). */
	if (conf.host == NULL && conf.route == ROUTE_HOST && conf.user != NULL &&
	    strchr(conf.user, '@') != NULL)
		conf.route = ROUTE_AUTO;
	/* Port 25 to any MX: STARTTLS when offered, unless tls says. */
	if (conf.route == ROUTE_MX && !conf.tls_set)
		conf.tls = TLS_MAY;
	if (conf.port == -1)
		conf.port = conf.route == ROUTE_MX || conf.tls == TLS_OFF ?
		    PORT_PLAIN : conf.tls == TLS_IMPLICIT ? PORT_TLS :
		    PORT_STARTTLS;
	/* Pins replace the CAs; capath alone is enough. */
	if (conf.cafile == NULL && conf.capath == NULL && conf.npins == 0)
		conf.cafile = xstrdup(PATH_CAFILE);
	if (conf.helo == NULL)
		conf.helo = xstrdup(conf.hostname);
	if (conf.domain == NULL)
		conf.domain = xstrdup(conf.hostname);
	if (conf.spool == NULL)
		conf.spool = xstrdup(PATH_SPOOL);
}

static int
set_key(const char *k, char *v, char *why, size_t whylen)
{
	long long n;
	int i;

	if (pick(keys, k) == -1) {
		snprintf(why, whylen, "unknown key \"%.64s\"", k);
		return -1;
	}
	if (*v == '\0') {
		snprintf(why, whylen, "%s needs a value", k);
		return -1;
	}
	if (strcmp(k, "port") == 0) {
		if (parse_number(v, 1, 65535, &n) == -1) {
			snprintf(why, whylen, "bad port \"%.64s\": want 1-65535", v);
			return -1;
		}
		conf.port = (int)n;
		conf.port_set = 1;
	} else if (strcmp(k, "tls") == 0) {
		static const char *const modes[] = { "starttls", "tls", "off",
		    NULL };

		if ((i = pick(modes, v)) == -1) {
			snprintf(why, whylen, "bad tls \"%.64s\": want starttls, "
			    "tls or off", v);
			return -1;
		}
		conf.tls = i == 0 ? TLS_STARTTLS : i == 1 ? TLS_IMPLICIT : TLS_OFF;
		conf.tls_set = 1;
	} else if (strcmp(k, "auth") == 0) {
		if ((i = pick(mechs, v)) == -1) {
			snprintf(why, whylen, "unsupported auth \"%.64s\": want "
			    "auto, plain, login, cram-md5, scram-sha-256, "
			    "xoauth2, oauthbearer or external", v);
			return -1;
		}
		conf.auth = (enum authmech)i;
	} else if (strcmp(k, "pin") == 0) {
		if (strncmp(v, "sha256//", 8) != 0 || strlen(v + 8) != 44 ||
		    b64_decode(conf.pins[conf.npins < PINS_MAX ? conf.npins : 0],
		    32, v + 8, 44) != 32) {
			snprintf(why, whylen, "bad pin \"%.64s\": want sha256// "
			    "and the base64 of a SHA-256 (44 characters)", v);
			return -1;
		}
		if (conf.npins == PINS_MAX) {
			snprintf(why, whylen, "more than %d pins", PINS_MAX);
			return -1;
		}
		conf.npins++;
	} else if (strcmp(k, "passwordeval") == 0) {
		/* The last line counts: forget the words of an earlier one. */
		for (i = 0; conf.evalargv != NULL && conf.evalargv[i] != NULL;
		    i++)
			free(conf.evalargv[i]);
		free(conf.evalargv);
		conf.evalargv = NULL;
		if (split_words(v, &conf.evalargv, why, whylen) == -1)
			return -1;
		free(conf.passwordeval);
		conf.passwordeval = xstrdup(v);
	} else if (strcmp(k, "maxage") == 0) {
		if (parse_age(v, &conf.maxage) == -1) {
			snprintf(why, whylen, "bad maxage \"%.64s\": want a number "
			    "with s, m, h or d, like 5d", v);
			return -1;
		}
	} else if (strcmp(k, "timeout") == 0 ||
	    strcmp(k, "stage_timeout") == 0) {
		if (parse_number(v, 1, 3600, &n) == -1) {
			snprintf(why, whylen, "bad %s \"%.64s\": want 1-3600 "
			    "seconds", k, v);
			return -1;
		}
		*(k[0] == 't' ? &conf.timeout : &conf.stage_timeout) = (int)n;
	} else if (strcmp(k, "deliver") == 0) {
		static const char *const modes[] = { "foreground",
		    "background", "queue", NULL };

		if ((i = pick(modes, v)) == -1) {
			snprintf(why, whylen, "bad deliver \"%.64s\": want "
			    "foreground, background or queue", v);
			return -1;
		}
		conf.deliver = i == 0 ? DELIVER_FOREGROUND : i == 1 ?
		    DELIVER_BACKGROUND : DELIVER_QUEUE;
	} else if (strcmp(k, "rewrite_from") == 0 ||
	    strcmp(k, "backoff") == 0 || strcmp(k, "auth_plaintext") == 0) {
		static const char *const yesno[] = { "no", "yes", NULL };

		if ((i = pick(yesno, v)) == -1) {
			snprintf(why, whylen, "bad %s \"%.64s\": want yes or no",
			    k, v);
			return -1;
		}
		*(k[0] == 'b' ? &conf.backoff : k[0] == 'a' ?
		    &conf.auth_plaintext : &conf.rewrite_from) = i;
	} else if (strcmp(k, "password") == 0) {
		/* Only noted here; conf_secret() reads it when it is needed. */
		conf.has_password = 1;
	} else {
		char **dst = strcmp(k, "host") == 0 ? &conf.host :
		    strcmp(k, "user") == 0 ? &conf.user :
		    strcmp(k, "passwordfile") == 0 ? &conf.passwordfile :
		    strcmp(k, "cafile") == 0 ? &conf.cafile :
		    strcmp(k, "helo") == 0 ? &conf.helo :
		    strcmp(k, "from") == 0 ? &conf.from :
		    strcmp(k, "domain") == 0 ? &conf.domain :
		    strcmp(k, "admin") == 0 ? &conf.admin :
		    strcmp(k, "aliases") == 0 ? &conf.aliases :
		    strcmp(k, "capath") == 0 ? &conf.capath :
		    strcmp(k, "tls_cert") == 0 ? &conf.tls_cert :
		    strcmp(k, "tls_key") == 0 ? &conf.tls_key : &conf.spool;

		/* Values that reach the SMTP dialogue must be one clean token. */
		if (strpbrk(v, " \t<>") != NULL && (dst == &conf.host ||
		    dst == &conf.user || dst == &conf.helo || dst == &conf.from ||
		    dst == &conf.domain || dst == &conf.admin)) {
			snprintf(why, whylen, "bad %s \"%.64s\": no blanks or "
			    "angle brackets allowed", k, v);
			return -1;
		}
		if ((dst == &conf.from || dst == &conf.admin) &&
		    addr_check(v, why, whylen) == -1)
			return -1;
		free(*dst);
		*dst = xstrdup(v);
		/* Two names are not hosts: a name ending in "." still is. */
		if (dst == &conf.host) {
			conf.route = strcasecmp(v, "auto") == 0 ? ROUTE_AUTO :
			    strcasecmp(v, "mx") == 0 ? ROUTE_MX : ROUTE_HOST;
			if (conf.route != ROUTE_HOST) {
				free(conf.host);
				conf.host = NULL;
			}
		}
	}
	return 0;
}

/*
 * The keys that only make sense together, checked once the whole file
 * is read; st is the file's.  Returns 0, or -1 with err set.
 */
static int
check_conf(const struct stat *st, char *err, size_t errlen)
{
	const char *path = conf.path;
	int sources = conf.has_password + (conf.passwordfile != NULL) +
	    (conf.passwordeval != NULL);
	int token = conf.auth == AUTH_XOAUTH2 || conf.auth == AUTH_OAUTHBEARER;

	if (sources > 1) {
		snprintf(err, errlen, "%s: set one of password, passwordfile "
		    "and passwordeval", path);
		return -1;
	}
	if (sources && conf.user == NULL) {
		snprintf(err, errlen, "%s: a password is set but no user", path);
		return -1;
	}
	if (conf.user && !sources && conf.auth != AUTH_EXTERNAL) {
		snprintf(err, errlen, "%s: user is set but none of password, "
		    "passwordfile and passwordeval", path);
		return -1;
	}
	if (conf.auth != AUTH_AUTO && conf.auth != AUTH_EXTERNAL &&
	    conf.user == NULL) {
		snprintf(err, errlen, "%s: auth %s needs a user", path,
		    mechs[conf.auth]);
		return -1;
	}
	if (token && !sources) {
		snprintf(err, errlen, "%s: auth %s needs a user and the token "
		    "(passwordeval or passwordfile)", path, mechs[conf.auth]);
		return -1;
	}
	if ((conf.tls_cert == NULL) != (conf.tls_key == NULL)) {
		snprintf(err, errlen, "%s: tls_cert and tls_key go together",
		    path);
		return -1;
	}
	if (conf.auth == AUTH_EXTERNAL && conf.tls_cert == NULL) {
		snprintf(err, errlen, "%s: auth external needs tls_cert and "
		    "tls_key", path);
		return -1;
	}
	if (conf.route == ROUTE_AUTO && (conf.user == NULL ||
	    strchr(conf.user, '@') == NULL ||
	    strrchr(conf.user, '@')[1] == '\0')) {
		snprintf(err, errlen, "%s: host auto needs user to be a mail "
		    "address: its domain's SRV records name the host", path);
		return -1;
	}
	if (conf.route == ROUTE_AUTO && (conf.port_set ||
	    conf.tls == TLS_OFF)) {
		snprintf(err, errlen, "%s: host auto takes the port and TLS "
		    "from the SRV records; %s", path, conf.port_set ?
		    "remove port" : "tls off cannot be used with it");
		return -1;
	}
	if (conf.route == ROUTE_MX && (conf.user || conf.tls == TLS_IMPLICIT)) {
		snprintf(err, errlen, "%s: host mx delivers to port 25 of each "
		    "domain's MX, %s", path, conf.user ? "which takes no AUTH: "
		    "remove user" : "which has no implicit TLS: use tls "
		    "starttls, or no tls line for STARTTLS when offered");
		return -1;
	}
	if (conf.tls == TLS_MAY && (conf.npins || conf.capath)) {
		snprintf(err, errlen, "%s: %s checks the certificate, which "
		    "host mx does only with tls starttls", path,
		    conf.npins ? "pin" : "capath");
		return -1;
	}
	if (conf.tls == TLS_OFF && (conf.tls_cert || conf.npins ||
	    conf.capath)) {
		snprintf(err, errlen, "%s: tls off, but %s is set", path,
		    conf.tls_cert ? "tls_cert" : conf.npins ? "pin" : "capath");
		return -1;
	}
	/* No AUTH over plaintext unless asked for twice (tls off too). */
	if (conf.user && conf.tls == TLS_OFF && !conf.auth_plaintext) {
		snprintf(err, errlen, "%s: tls off with user set would send the "
		    "password in clear; use tls starttls or tls tls, or add "
		    "auth_plaintext yes", path);
		return -1;
	}
	if (conf.has_password && check_secret_file(-1, path, err, errlen) == -1)
		return -1;
	/* Whoever may write the file may run commands as its reader. */
	if (conf.passwordeval && ((st->st_uid != 0 && st->st_uid != geteuid()) ||
	    (st->st_mode & 022))) {
		snprintf(err, errlen, "%s has passwordeval but %s; only its "
		    "owner may write it", path, st->st_mode & 022 ?
		    "is writable by group or others" : "is not owned by root "
		    "or by the user reading it");
		return -1;
	}
	return 0;
}

/*
 * The words of a passwordeval command: blanks separate them, '...'
 * keeps everything, "..." keeps all but \" and \\, and a backslash
 * outside quotes keeps the next character.  Returns 0, or -1 with why.
 */
static int
split_words(const char *v, char ***argvp, char *why, size_t whylen)
{
	char **argv = NULL, *w = xmalloc(strlen(v) + 1);
	size_t n = 0, o;
	char q;

	while (*v) {
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v == '\0')
			break;
		for (o = 0; *v && *v != ' ' && *v != '\t'; ) {
			if (*v == '\'' || *v == '"') {
				for (q = *v++; *v && *v != q; v++) {
					if (q == '"' && *v == '\\' &&
					    (v[1] == '"' || v[1] == '\\'))
						v++;
					w[o++] = *v;
				}
				if (*v++ != q) {
					snprintf(why, whylen, "passwordeval: "
					    "unmatched %c", q);
					goto fail;
				}
			} else if (*v == '\\' && v[1] != '\0') {
				w[o++] = v[1];
				v += 2;
			} else
				w[o++] = *v++;
		}
		w[o] = '\0';
		argv = xreallocarray(argv, n + 2, sizeof(*argv));
		argv[n++] = xstrdup(w);
		argv[n] = NULL;
	}
	free(w);
	if (n == 0) {
		snprintf(why, whylen, "passwordeval needs a command");
		return -1;
	}
	*argvp = argv;
	return 0;
fail:
	free(w);
	while (n > 0)
		free(argv[--n]);
	free(argv);
	return -1;
}

/* The index of v in the NULL-terminated words, or -1. */
static int
pick(const char *const *words, const char *v)
{
	int i;

	for (i = 0; words[i] != NULL; i++)
		if (strcmp(words[i], v) == 0)
			return i;
	return -1;
}

/* "90", "30s", "15m", "12h", "5d": seconds. */
static int
parse_age(const char *v, long long *out)
{
	char num[32];
	size_t n = strlen(v);
	long long mult = 1, x;

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, v, n + 1);
	switch (num[n - 1]) {
	case 's': mult = 1; num[--n] = '\0'; break;
	case 'm': mult = 60; num[--n] = '\0'; break;
	case 'h': mult = 3600; num[--n] = '\0'; break;
	case 'd': mult = 86400; num[--n] = '\0'; break;
	}
	if (parse_number(num, 1, 1000LL * 86400 / mult, &x) == -1)
		return -1;
	*out = x * mult;
	return 0;
}

/*
 * A file holding a secret must be a regular file, not a link, owned by
 * root, by us, or by the spool's owner (whom root gives way to), and
 * closed to group and others (REQUIREMENTS P-5).
 */
static int
check_secret_file(int fd, const char *path, char *err, size_t errlen)
{
	const char *what = conf.tls_key && strcmp(path, conf.tls_key) == 0 ?
	    "a private key" : "a password";
	struct stat st, sp;
	int r;

	r = fd == -1 ? lstat(path, &st) : fstat(fd, &st);
	if (r == -1) {
		snprintf(err, errlen, "unable to check %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s holds %s but is not a regular file",
		    path, what);
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid() &&
	    (conf.spool == NULL || stat(conf.spool, &sp) == -1 ||
	    st.st_uid != sp.st_uid)) {
		snprintf(err, errlen, "%s holds %s but is owned by uid %u, not "
		    "root, uid %u or the spool's owner", path, what,
		    (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "%s holds %s but has mode %04o; run chmod "
		    "600 %s", path, what, (unsigned)st.st_mode & 07777, path);
		return -1;
	}
	return 0;
}

/*
 * Open a file that holds a secret into *fd (once), with the checks of
 * check_secret_file().  Returns 0 or -1 with err set.
 */
static int
open_secret(const char *path, int *fd, char *err, size_t errlen)
{
	if (*fd != -1)
		return 0;
	if ((*fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "unable to open %s: %s", path,
		    errno == ELOOP ? "a symbolic link" : strerror(errno));
		return -1;
	}
	if (check_secret_file(*fd, path, err, errlen) == -1) {
		close(*fd);
		*fd = -1;
		return -1;
	}
	return 0;
}

/*
 * Open the files that hold the password and the client's key now, for
 * conf_secret() and tls_new() to read later: root does this before it
 * gives way to the spool's owner, who may not open a file of root's
 * (REQUIREMENTS P-4, P-5).  Returns 0 (also without them), or -1 with
 * err set.
 */
int
conf_secret_open(char *err, size_t errlen)
{
	if (conf.user != NULL && conf.passwordeval == NULL &&
	    (conf.has_password || conf.passwordfile != NULL) &&
	    open_secret(conf.passwordfile ? conf.passwordfile : conf.path,
	    &secret_fd, err, errlen) == -1)
		return -1;
	if (conf.tls_key != NULL &&
	    open_secret(conf.tls_key, &key_fd, err, errlen) == -1)
		return -1;
	return 0;
}

/*
 * A new descriptor of the secret file at path, read from its start, for
 * the caller to close; the file is opened once, into *saved.  Returns
 * it, or -1 with err set.
 */
static int
reread_secret(const char *path, int *saved, char *err, size_t errlen)
{
	int fd;

	if (open_secret(path, saved, err, errlen) == -1)
		return -1;
	if ((fd = fcntl(*saved, F_DUPFD_CLOEXEC, 0)) == -1 ||
	    lseek(fd, 0, SEEK_SET) == -1) {
		snprintf(err, errlen, "unable to read %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

/* A descriptor of tls_key, read from the start, for tls_new() to close. */
int
conf_keyfile_open(char *err, size_t errlen)
{
	return reread_secret(conf.tls_key, &key_fd, err, errlen);
}

/*
 * Read the password into buf: the "password" line of the configuration
 * file, the first line of "passwordfile", or of what "passwordeval"
 * prints.  It is read only when a session needs it, so it is not in
 * memory during intake.  The caller wipes buf.  Returns 0, or -1 with
 * err set.
 */
int
conf_secret(char *buf, size_t cap, char *err, size_t errlen)
{
	char line[SECRET_MAX + 2], iobuf[BUFSIZ];
	const char *path;
	char *p, *e;
	int fd, found = 0;
	FILE *fp;

	if (conf.passwordeval != NULL)
		return secret_eval(buf, cap, err, errlen);
	path = conf.passwordfile ? conf.passwordfile : conf.path;
	if ((fd = reread_secret(path, &secret_fd, err, errlen)) == -1)
		return -1;
	if ((fp = lines_of(fd, path, iobuf, err, errlen)) == NULL)
		return -1;
	/* The last password line counts, as for every key. */
	while (found != -1 && fgets(line, sizeof(line), fp) != NULL) {
		p = line;
		if (conf.passwordfile == NULL) {
			while (*p == ' ' || *p == '\t')
				p++;
			if (strncmp(p, "password", 8) != 0 ||
			    (p[8] != ' ' && p[8] != '\t'))
				continue;
			for (p += 8; *p == ' ' || *p == '\t'; p++)
				;
		}
		for (e = p + strlen(p); e > p && isspace((unsigned char)e[-1]); )
			*--e = '\0';
		found = 1;
		if (strlcpy(buf, p, cap) >= cap) {
			snprintf(err, errlen, "%s: password longer than %zu bytes",
			    path, cap - 1);
			found = -1;
		}
		if (conf.passwordfile != NULL)
			break;	/* its first line only */
	}
	fclose(fp);
	/* The buffers held the file: wipe them. */
	explicit_bzero(line, sizeof(line));
	explicit_bzero(iobuf, sizeof(iobuf));
	if (found == 0)
		snprintf(err, errlen, "%s: no password in it", path);
	if (found != 1) {
		explicit_bzero(buf, cap);
		return -1;
	}
	if (buf[0] == '\0') {
		snprintf(err, errlen, "%s: the password is empty", path);
		return -1;
	}
	return 0;
}

/*
 * passwordeval: run the command (no shell), with stdin from /dev/null
 * and its stderr ours, and keep the first line it prints.  It must end
 * within the "timeout" and exit 0; otherwise it is killed and the
 * delivery waits.  Returns 0, or -1 with err set.
 */
static int
secret_eval(char *buf, size_t cap, char *err, size_t errlen)
{
	char out[SECRET_MAX + 2];
	int64_t deadline = deadline_in(conf.timeout);
	size_t len = 0;
	ssize_t r;
	pid_t pid;
	int p[2], status = 0, fd, timedout = 0;

	if (pipe(p) == -1) {
		snprintf(err, errlen, "passwordeval: unable to make a pipe: %s",
		    strerror(errno));
		return -1;
	}
	switch (pid = fork()) {
	case -1:
		snprintf(err, errlen, "passwordeval: unable to fork: %s",
		    strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	case 0:
		if ((fd = open("/dev/null", O_RDONLY)) != -1)
			dup2(fd, STDIN_FILENO);
		close(p[0]);
		if (p[1] != STDOUT_FILENO) {
			dup2(p[1], STDOUT_FILENO);
			close(p[1]);
		}
		signal(SIGPIPE, SIG_DFL);
		execvp(conf.evalargv[0], conf.evalargv);
		fprintf(stderr, "outbox: passwordeval: %s: %s\n",
		    conf.evalargv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	fcntl(p[0], F_SETFD, FD_CLOEXEC);
	/* To the end; what does not fit is read and dropped. */
	for (;;) {
		char drop[512];

		r = len < sizeof(out) ? fd_read(p[0], out + len,
		    sizeof(out) - len, deadline) : fd_read(p[0], drop,
		    sizeof(drop), deadline);
		if (r == -1 && errno == ETIMEDOUT)
			timedout = 1;
		if (r <= 0)
			break;
		if (len < sizeof(out))
			len += (size_t)r;
		explicit_bzero(drop, sizeof(drop));
	}
	close(p[0]);
	/* Its output is over; it must end by the deadline too. */
	while (!timedout && waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ms() >= deadline)
			timedout = 1;
		else
			poll(NULL, 0, 10);
	}
	if (timedout) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
	}
	if (timedout || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (timedout)
			snprintf(err, errlen, "passwordeval: %s did not finish "
			    "within %d seconds", conf.passwordeval, conf.timeout);
		else if (WIFEXITED(status))
			snprintf(err, errlen, "passwordeval: %s exited with "
			    "status %d", conf.passwordeval, WEXITSTATUS(status));
		else
			snprintf(err, errlen, "passwordeval: %s was killed by "
			    "signal %d", conf.passwordeval, WTERMSIG(status));
		explicit_bzero(out, sizeof(out));
		return -1;
	}
	len = len < sizeof(out) ? len : sizeof(out) - 1;
	out[len] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	if (out[0] == '\0' || strlcpy(buf, out, cap) >= cap) {
		snprintf(err, errlen, "passwordeval: %s printed %s",
		    conf.passwordeval, out[0] ? "a line that is too long" :
		    "nothing");
		explicit_bzero(out, sizeof(out));
		explicit_bzero(buf, cap);
		return -1;
	}
	explicit_bzero(out, sizeof(out));
	return 0;
}
