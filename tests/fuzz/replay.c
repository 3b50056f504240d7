/*
 * Run a fuzz target on files, as libFuzzer would on its corpus: make
 * check builds this with ASan and UBSan to replay tests/data/fuzz-*,
 * without needing clang.  Exits 1 if a file cannot be read; a crash is
 * the sanitizer's report.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"


int
main(int argc, char *argv[])
{
	static uint8_t buf[1 << 20];
	size_t n;
	FILE *fp;
	int i;

	for (i = 1; i < argc; i++) {
		if ((fp = fopen(argv[i], "rb")) == NULL) {
			perror(argv[i]);
			return 1;
		}
		n = fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		LLVMFuzzerTestOneInput(buf, n);
	}
	printf("replayed %d inputs\n", argc - 1);
	return 0;
}
