/*
 * Helpers of the fuzz targets, linked into each, with libFuzzer and
 * with replay.c alike.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

/*
 * A new private directory for target name, under $TMPDIR or /tmp, its
 * path in dir; aborts when there is none (a fuzz run cannot go on).
 */
void
fuzz_dir(char *dir, size_t cap, const char *name)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, cap, "%s/outbox-fuzz-%s.XXXXXX",
	    tmp && *tmp ? tmp : "/tmp", name);
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		abort();
	}
}
