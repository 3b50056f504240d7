/*
 * Linked into outbox-asan only.  A setgid process cannot read
 * /proc/self/environ, where the sanitizers look for ASAN_OPTIONS, so
 * its settings come from here: no leak check (it would need ptrace,
 * which the kernel refuses to a setgid process) and exit 99 on a
 * report, as tests/run expects.
 */
const char	*__asan_default_options(void);
const char	*__ubsan_default_options(void);

const char *
__asan_default_options(void)
{
	return "detect_leaks=0:exitcode=99";
}

const char *
__ubsan_default_options(void)
{
	return "print_stacktrace=1:exitcode=99";
}
