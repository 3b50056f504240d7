/*
 * spawn: run the commands of one measurement as a process tree of its own,
 * and report what the whole tree cost.  Built static (musl) by make bench.
 *
 *   spawn [-m] [-g CGROUP] [-t SECONDS] [-l LOG] [-e DIR] -- STEP [-- STEP]...
 *   STEP: [-i FILE] [-b] PROGRAM [ARG]...
 *
 * Steps run one after another; each waits for its program to exit, not
 * for what the program leaves running in the background.  -i gives the
 * step's standard input (default /dev/null).  -b starts a program that
 * is not waited for (a daemon, such as nullmailer-send); when the other
 * steps are done and -e DIR (a queue directory) has no entries left, the
 * background programs get SIGTERM.  Output of every program goes to LOG
 * (default /dev/null).
 *
 * spawn is a child subreaper (PR_SET_CHILD_SUBREAPER): whatever a step
 * forks and leaves behind, such as dma's delivery child, is reparented
 * here, reaped, and so counted in RUSAGE_CHILDREN.  It prints, on
 * standard output:
 *
 *   step N start NS exit NS status S
 *   total start NS end NS user US sys US maxrss KB self US [hwm KB PROGRAM]
 *
 * NS are CLOCK_MONOTONIC nanoseconds, the clock of Python's
 * time.monotonic_ns(), so they compare with the sink's timestamps.
 * user and sys add up every process of the tree that was reaped by its
 * parent; maxrss is the kernel's ru_maxrss for it, the largest peak
 * resident set of any one process; self is spawn's own CPU time.
 *
 * A process whose parent ignores SIGCHLD (dma's queue run forks one per
 * message so) is reaped by the kernel, and its time reaches no parent's
 * rusage.  With -g CGROUP, an empty cgroup directory, spawn first moves
 * itself there, so that everything it starts is counted in the cgroup's
 * CPU time, which the caller reads once spawn has exited (less self).
 *
 * ru_maxrss is not enough for small programs: the kernel reads a
 * process's resident set through per-CPU counters that it folds only in
 * batches, and here it comes out in steps of 1 MB (a 36 KB program
 * reports 0); and a child's count starts with the pages it shares with
 * its parent at fork, before exec.  So with -m, spawn traces the tree
 * (ptrace, stopping only at fork, exec, exit and signals, not at system
 * calls) and reads VmHWM in /proc/PID/status as each process exits: the
 * exact peak of the program it last ran.  hwm is the largest of those,
 * and PROGRAM the process that had it.  The traced runs are for memory
 * only: their times include the stops.
 *
 * After -t SECONDS (default 120) every process still in the tree is
 * killed by its PID; the status line then says "timeout".  The exit
 * status is 0 when every waited-for step exited 0.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXSTEPS 1024
#define MAXBG 8

struct step {
	char **argv;
	const char *in;
	int bg;
};

static volatile sig_atomic_t expired;
static int trace;		/* -m */
static long hwm_kb;		/* the largest VmHWM seen at exit */
static char hwm_prog[32];	/* and whose it was */

static void on_alarm(int sig)
{
	(void)sig;
	expired = 1;
}

static void die(const char *what);

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Move spawn, and so all it will start, into the cgroup DIR. */
static void join(const char *dir)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/cgroup.procs", dir);
	if (!(f = fopen(path, "w")) || fputs("0\n", f) < 0 || fclose(f))
		die(path);
}

static void die(const char *what)
{
	fprintf(stderr, "spawn: %s: %s\n", what, strerror(errno));
	exit(70);
}

static void usage(void)
{
	fputs("usage: spawn [-m] [-g CGROUP] [-t SECONDS] [-l LOG] [-e DIR] -- "
	    "[-i FILE] [-b] PROGRAM [ARG]... [-- ...]\n", stderr);
	exit(64);
}

/* Note the peak resident set of process PID, stopped on its way out. */
static void note_hwm(pid_t pid)
{
	char path[64], line[128], name[32] = "?";
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if (!(f = fopen(path, "r")))
		return;
	while (fgets(line, sizeof line, f)) {
		sscanf(line, "Name: %31s", name);
		if (sscanf(line, "VmHWM: %ld", &kb) == 1)
			break;
	}
	fclose(f);
	if (kb > hwm_kb) {
		hwm_kb = kb;
		memcpy(hwm_prog, name, sizeof hwm_prog);
	}
}

/* A traced process stopped: note its peak if it is exiting, pass on a
 * signal that stopped it, and let it go on. */
static void resume(pid_t pid, int status)
{
	int sig = WSTOPSIG(status), event = status >> 16;

	if (event == PTRACE_EVENT_EXIT)
		note_hwm(pid);
	/* Event stops and a new child's first SIGSTOP carry no signal to
	 * deliver; any other stop is a signal for the process. */
	if (event || sig == SIGSTOP || sig == (SIGTRAP | 0x80))
		sig = 0;
	ptrace(PTRACE_CONT, pid, 0, (void *)(long)sig);
}

/* Kill every process whose parent is spawn: the steps and the orphans
 * reparented here.  Found by PID in /proc, never by name. */
static void kill_children(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t me = getpid();

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[300], buf[512], *p;
		long ppid;
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		p = fgets(buf, sizeof buf, f);
		fclose(f);
		/* The command name may hold spaces: the fields after it
		 * start after the last ')'. */
		if (!p || !(p = strrchr(buf, ')')))
			continue;
		if (sscanf(p + 1, " %*c %ld", &ppid) == 1 && ppid == me)
			kill((pid_t)atol(e->d_name), SIGKILL);
	}
	closedir(d);
}

static int dir_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return 1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

static pid_t start(const struct step *s, int logfd)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int in = open(s->in ? s->in : "/dev/null", O_RDONLY);

		if (in < 0 || dup2(in, 0) < 0 || dup2(logfd, 1) < 0 ||
		    dup2(logfd, 2) < 0)
			_exit(71);
		/* Stop until the tracer has set its options, so that no
		 * fork of the program escapes. */
		if (trace && (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0 ||
		    raise(SIGSTOP)))
			_exit(71);
		execvp(s->argv[0], s->argv);
		fprintf(stderr, "spawn: %s: %s\n", s->argv[0], strerror(errno));
		_exit(127);
	}
	if (trace) {
		int status;

		if (waitpid(pid, &status, __WALL) != pid || !WIFSTOPPED(status))
			die("waitpid for the traced child");
		if (ptrace(PTRACE_SETOPTIONS, pid, 0, (void *)(long)(
		    PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
		    PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC |
		    PTRACE_O_TRACEEXIT)) < 0)
			die("ptrace");
		ptrace(PTRACE_CONT, pid, 0, 0);
	}
	return pid;
}

/* Reap one child; returns its PID, or 0 when there is none left.  An
 * expired alarm kills the rest and waiting goes on, so that the tree is
 * always reaped whole. */
static pid_t reap(int *status)
{
	for (;;) {
		pid_t pid;

		/* After the time limit, every pass kills what is left,
		 * orphans reparented since the last pass included. */
		if (expired)
			kill_children();
		pid = waitpid(-1, status, __WALL);
		if (pid > 0 && WIFSTOPPED(*status)) {
			resume(pid, *status);
			continue;
		}
		if (pid > 0)
			return pid;
		if (errno == ECHILD)
			return 0;
		if (errno != EINTR)
			die("waitpid");
	}
}

int main(int argc, char **argv)
{
	static struct step steps[MAXSTEPS];
	static long long t_start[MAXSTEPS], t_exit[MAXSTEPS];
	static int st_exit[MAXSTEPS];
	pid_t pids[MAXSTEPS], bg[MAXBG];
	int nsteps = 0, nbg = 0, failed = 0, logfd, i, opt, rest;
	unsigned timeout = 120;
	const char *log = "/dev/null", *emptydir = NULL;
	long long t0, t1;
	struct rusage ru, self;
	struct sigaction sa;

	while ((opt = getopt(argc, argv, "mg:t:l:e:")) != -1) {
		switch (opt) {
		case 'm': trace = 1; break;
		case 'g': join(optarg); break;
		case 't': timeout = (unsigned)atoi(optarg); break;
		case 'l': log = optarg; break;
		case 'e': emptydir = optarg; break;
		default: usage();
		}
	}
	/* getopt stops at the first "--" and skips it. */
	if (optind >= argc || strcmp(argv[optind - 1], "--"))
		usage();
	for (i = optind; i < argc && nsteps < MAXSTEPS; nsteps++) {
		struct step *s = &steps[nsteps];

		for (;;) {
			if (i + 1 < argc && !strcmp(argv[i], "-i"))
				s->in = argv[i + 1], i += 2;
			else if (i < argc && !strcmp(argv[i], "-b"))
				s->bg = 1, i++;
			else
				break;
		}
		s->argv = &argv[i];
		while (i < argc && strcmp(argv[i], "--"))
			i++;
		if (s->argv == &argv[i])
			usage();
		if (i < argc)
			argv[i++] = NULL;	/* ends this step's argv */
	}
	if (i < argc)
		usage();

	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		die("prctl");
	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0)
		die(log);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;	/* no SA_RESTART: waitpid returns EINTR */
	sigaction(SIGALRM, &sa, NULL);
	alarm(timeout);

	t0 = now_ns();
	for (i = 0; i < nsteps; i++) {
		int status;
		pid_t pid;

		t_start[i] = now_ns();
		pids[i] = start(&steps[i], logfd);
		if (steps[i].bg) {
			if (nbg == MAXBG)
				usage();
			bg[nbg++] = pids[i];
			t_exit[i] = -1;
			continue;
		}
		while ((pid = reap(&status)) != 0 && pid != pids[i]) {
			int j;

			for (j = 0; j < nbg; j++)	/* a daemon that died early */
				if (bg[j] == pid)
					bg[j] = 0;
		}
		t_exit[i] = now_ns();
		st_exit[i] = status;
		if (!pid || !WIFEXITED(status) || WEXITSTATUS(status))
			failed = 1;
		if (!pid)
			break;
	}
	/* Background programs run until the queue they work on is empty. */
	if (nbg) {
		struct timespec ms = { 0, 1000000 };

		while (emptydir && !dir_empty(emptydir) && !expired)
			nanosleep(&ms, NULL);
		for (i = 0; i < nbg; i++)
			if (bg[i] > 0)
				kill(bg[i], SIGTERM);
	}
	while (reap(&rest))	/* the rest of the tree */
		;
	t1 = now_ns();

	for (i = 0; i < nsteps; i++) {
		if (steps[i].bg)
			continue;
		printf("step %d start %lld exit %lld status %d\n", i, t_start[i],
		    t_exit[i], WIFEXITED(st_exit[i]) ? WEXITSTATUS(st_exit[i])
		    : 128 + WTERMSIG(st_exit[i]));
	}
	getrusage(RUSAGE_CHILDREN, &ru);
	getrusage(RUSAGE_SELF, &self);
	printf("total start %lld end %lld user %lld sys %lld maxrss %ld self %lld",
	    t0, t1, (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
	    (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec,
	    ru.ru_maxrss,
	    (long long)(self.ru_utime.tv_sec + self.ru_stime.tv_sec) * 1000000 +
	    self.ru_utime.tv_usec + self.ru_stime.tv_usec);
	if (trace)
		printf(" hwm %ld %s", hwm_kb, hwm_prog[0] ? hwm_prog : "?");
	printf("%s\n", expired ? " timeout" : "");
	return failed || expired ? 1 : 0;
}
