/*
 * Debian builds libbearssl.a against glibc with _FORTIFY_SOURCE, so its
 * objects call __memcpy_chk, __memmove_chk and __memset_chk.  musl has
 * none of them.  These give the same contract: do the operation, or
 * abort when the destination is smaller than the length, as the checked
 * versions do.  With glibc the library's own are used and this file is
 * empty.
 */
#ifndef __GLIBC__
#include <stdlib.h>
#include <string.h>

/* Reserved names, libc's by design.  NOLINTBEGIN */
void	*__memcpy_chk(void *, const void *, size_t, size_t);
void	*__memmove_chk(void *, const void *, size_t, size_t);
void	*__memset_chk(void *, int, size_t, size_t);
/* NOLINTEND */

void *
__memcpy_chk(void *dst, const void *src, size_t len, size_t dstlen)
{
	if (len > dstlen)
		abort();
	return memcpy(dst, src, len);
}

void *
__memmove_chk(void *dst, const void *src, size_t len, size_t dstlen)
{
	if (len > dstlen)
		abort();
	return memmove(dst, src, len);
}

void *
__memset_chk(void *dst, int c, size_t len, size_t dstlen)
{
	if (len > dstlen)
		abort();
	return memset(dst, c, len);
}
#else
typedef int fortify_unused;	/* ISO C wants something in a file */
#endif
