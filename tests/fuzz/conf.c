/*
 * Fuzz target for the configuration parser: conf_load() on the input as
 * /etc/outbox.conf, then aliases_load() on the same bytes as an aliases
 * file.  conf_load() takes a path, so the input goes to a file of mode
 * 0600 in a private directory under $TMPDIR (or /tmp), made once and
 * removed at exit.  An "aliases" line is pointed at that same file, so
 * that no input makes the parser read any other one.  Everything
 * conf_load() and aliases_load() keep is freed after each input.  For
 * libFuzzer (make fuzz) and for tests/fuzz/replay.c, which make check
 * runs on the corpus in tests/data/fuzz-conf.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../outbox.h"
#include "fuzz.h"


static char	dir[4096], path[4200];
static int	fd = -1;

static void
remove_dir(void)
{
	if (fd != -1)
		close(fd);
	unlink(path);
	rmdir(dir);
}

static void
setup(void)
{
	fuzz_dir(dir, sizeof(dir), "conf");
	snprintf(path, sizeof(path), "%s/outbox.conf", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1) {
		perror(path);
		abort();
	}
	atexit(remove_dir);
}

/* Is the line at p, of n bytes, an "aliases" line as conf_load() reads it? */
static int
is_aliases(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i + 7 <= n && memcmp(p + i, "aliases", 7) == 0 &&
	    (n - i == 7 || p[i + 7] == ' ' || p[i + 7] == '\t' ||
	    p[i + 7] == '\0');
}

/* The input with each "aliases" line naming our file. */
static size_t
rewrite(const uint8_t *data, size_t size, uint8_t **out)
{
	const uint8_t *p = data, *end = data + size, *nl;
	size_t o = 0, n, plen = strlen(path);
	uint8_t *b;

	/* A line of 7 bytes or more may grow to 8 + plen. */
	*out = b = xmalloc(size + (size / 7 + 1) * (plen + 8) + 1);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (is_aliases(p, n)) {
			memcpy(b + o, "aliases ", 8);
			memcpy(b + o + 8, path, plen);
			o += 8 + plen;
		} else {
			memcpy(b + o, p, n);
			o += n;
		}
		if (nl != NULL)
			b[o++] = '\n';
		p += n + (nl != NULL);
	}
	return o;
}

/*
 * The file holds the input.  Written over, then cut to size: truncating
 * it to nothing first would have ext4 flush it at each close.
 */
static void
store(const uint8_t *data, size_t size)
{
	if (pwrite(fd, data, size, 0) != (ssize_t)size ||
	    ftruncate(fd, (off_t)size) == -1) {
		perror(path);
		abort();
	}
}

/* Free what conf_load() allocated, as a second call would not. */
static void
conf_free(void)
{
	char **v;

	free(conf.host);
	free(conf.user);
	free(conf.passwordfile);
	free(conf.passwordeval);
	for (v = conf.evalargv; v != NULL && *v != NULL; v++)
		free(*v);
	free(conf.evalargv);
	free(conf.cafile);
	free(conf.capath);
	free(conf.tls_cert);
	free(conf.tls_key);
	free(conf.helo);
	free(conf.from);
	free(conf.domain);
	free(conf.admin);
	free(conf.spool);
	free(conf.aliases);
	memset(&conf, 0, sizeof(conf));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[ERR_MAX];
	uint8_t *text;
	size_t n;

	if (fd == -1)
		setup();
	n = rewrite(data, size, &text);
	store(text, n);
	free(text);
	conf_load(path, err, sizeof(err));
	conf_free();
	aliases_free();

	store(data, size);
	aliases_load(path, err, sizeof(err));
	aliases_free();
	return 0;
}
