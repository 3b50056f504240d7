/*
 * The optional aliases file ("aliases" key), in the syntax of
 * /etc/aliases: "name: address, address", "#" comments, and lines that
 * start with a blank continuing the entry above.  Names are local names
 * (no domain), matched without regard to case.  outbox only relays, so
 * a target that is a pipe, a file or an :include: is refused when the
 * file is read rather than dropped when mail arrives.
 *
 * Expansion is in msg.c (addr_rcpt()); this file only holds the table.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "outbox.h"

struct alias {
	char		*name;
	struct addrlist	 to;
};

static struct alias	*tab;
static size_t		 ntab;

static int	entry(const char *, int, char *, char *, size_t);

/* One logical entry "name: targets" that started at line lineno. */
static int
entry(const char *path, int lineno, char *s, char *err, size_t errlen)
{
	char why[ERR_MAX], *colon, *name, *e;
	struct alias *a;
	size_t i;

	if ((colon = strchr(s, ':')) == NULL) {
		snprintf(err, errlen, "%s:%d: no ':' after the alias name",
		    path, lineno);
		return -1;
	}
	*colon = '\0';
	for (e = colon; e > s && isspace((unsigned char)e[-1]); )
		*--e = '\0';
	name = s;
	if (*name == '\0' || strpbrk(name, " \t@<>\",") != NULL ||
	    strlen(name) > LOCAL_MAX) {
		snprintf(err, errlen, "%s:%d: bad alias name \"%.64s\"", path,
		    lineno, name);
		return -1;
	}
	if (alias_find(name) != NULL) {
		snprintf(err, errlen, "%s:%d: alias %s is defined twice", path,
		    lineno, name);
		return -1;
	}
	if (ntab >= ALIASES_MAX) {
		snprintf(err, errlen, "%s:%d: more than %d aliases", path,
		    lineno, ALIASES_MAX);
		return -1;
	}
	/* The parser would read ":include:" as a group's name: look first. */
	for (e = colon + 1; *e; e++)
		if (strncasecmp(e, ":include:", 9) == 0) {
			snprintf(err, errlen, "%s:%d: %s: pipes, files and "
			    ":include: cannot be delivered by a relay-only "
			    "client", path, lineno, name);
			return -1;
		}
	tab = xreallocarray(tab, ntab + 1, sizeof(*tab));
	a = &tab[ntab];
	memset(a, 0, sizeof(*a));
	if (addr_parse_list(colon + 1, &a->to, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s:%d: %s: %s", path, lineno, name, why);
		addrlist_free(&a->to);
		return -1;
	}
	for (i = 0; i < a->to.n; i++) {
		const char *t = a->to.v[i] + (a->to.v[i][0] == '"');

		if (*t == '|' || *t == '/' || strncasecmp(t, ":include:", 9) == 0) {
			snprintf(err, errlen, "%s:%d: %s: %.64s: pipes, files "
			    "and :include: cannot be delivered by a relay-only "
			    "client", path, lineno, name, a->to.v[i]);
			addrlist_free(&a->to);
			return -1;
		}
	}
	if (a->to.n == 0 || a->to.v[0][0] == '\0') {
		snprintf(err, errlen, "%s:%d: alias %s has no address", path,
		    lineno, name);
		addrlist_free(&a->to);
		return -1;
	}
	a->name = xstrdup(name);
	ntab++;
	return 0;
}

/*
 * Read the aliases file at path.  Returns 0, or -1 with a
 * "FILE:LINE: reason" message in err.
 */
int
aliases_load(const char *path, char *err, size_t errlen)
{
	char line[CONF_LINE_MAX + 2], *cur = NULL;
	size_t n, curlen = 0;
	int lineno = 0, start = 0, rc = -1;
	FILE *fp;

	if ((fp = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "unable to open aliases file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	cur = xmalloc(ALIAS_ENTRY_MAX + 1);
	for (;;) {
		if (fgets(line, sizeof(line), fp) == NULL) {
			if (ferror(fp)) {
				snprintf(err, errlen, "unable to read %s: %s",
				    path, strerror(errno));
				goto out;
			}
			line[0] = '\0';	/* the end: finish the last entry */
		} else {
			lineno++;
			n = strlen(line);
			if (n > 0 && line[n - 1] == '\n')
				line[--n] = '\0';
			else if (!feof(fp)) {
				snprintf(err, errlen, "%s:%d: line longer than %d "
				    "bytes", path, lineno, CONF_LINE_MAX);
				goto out;
			}
			if (line[0] == '#')
				continue;
			if ((line[0] == ' ' || line[0] == '\t') &&
			    line[strspn(line, " \t")] != '\0') {
				if (curlen == 0) {
					snprintf(err, errlen, "%s:%d: continuation "
					    "line without an alias above", path,
					    lineno);
					goto out;
				}
				if (curlen + 1 + n > ALIAS_ENTRY_MAX) {
					snprintf(err, errlen, "%s:%d: entry longer "
					    "than %d bytes", path, start,
					    ALIAS_ENTRY_MAX);
					goto out;
				}
				cur[curlen++] = ' ';
				memcpy(cur + curlen, line, n + 1);
				curlen += n;
				continue;
			}
		}
		if (curlen > 0 && entry(path, start, cur, err, errlen) == -1)
			goto out;
		curlen = 0;
		if (feof(fp) && line[0] == '\0')
			break;
		if (line[strspn(line, " \t")] == '\0')
			continue;	/* a blank line */
		start = lineno;
		memcpy(cur, line, strlen(line) + 1);
		curlen = strlen(line);
	}
	rc = 0;
out:
	free(cur);
	fclose(fp);
	return rc;
}

/* The targets of local name name, or NULL when it is not an alias. */
const struct addrlist *
alias_find(const char *name)
{
	size_t i;

	for (i = 0; i < ntab; i++)
		if (strcasecmp(tab[i].name, name) == 0)
			return &tab[i].to;
	return NULL;
}

/* Forget every alias: for tests and fuzzing, which load file after file. */
void
aliases_free(void)
{
	size_t i;

	for (i = 0; i < ntab; i++) {
		free(tab[i].name);
		addrlist_free(&tab[i].to);
	}
	free(tab);
	tab = NULL;
	ntab = 0;
}
