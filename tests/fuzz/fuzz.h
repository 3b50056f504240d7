/* What the fuzz targets share (tests/fuzz/common.c). */
#include <stddef.h>
#include <stdint.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
void	fuzz_dir(char *, size_t, const char *);
