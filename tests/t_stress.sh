# Stress: processes killed at random points, many submitters and queue
# runners at once, and a spool on a file system that fills up or turns
# read-only.  These take longer than the other tests: test_kill9_trials
# about 12 s, test_concurrent_exactly_once 6 to 10 s.

# kill9_driver: the Python program that runs the kill -9 trials (see
# test_kill9_trials), written to $T/kill9.py.  Arguments: the binary,
# the config, a directory for the stderr files and the record, the
# number of trials, a seed.  One record line per trial:
#	N KIND INTAKE-STATUS RUN-STATUS SIZE DELAY-MS
# KIND is odi (a -odi submission is killed after 0-80 ms), odq (a -odq
# intake is killed after 0-20 ms) or run (a -odq intake completes, then
# "-q -v" is killed after 0-80 ms);
# a status is the exit code, -9 when SIGKILL ended it, - when not run.
kill9_driver() {
	cat >"$T/kill9.py" <<'EOF'
import math, os, random, signal, subprocess, sys, threading, time

outbox, conf, out, trials, seed = sys.argv[1:6]
trials, rng = int(trials), random.Random(int(seed))
LINE = b"The quick brown fox jumps over the lazy dog; 0123456789 abcdefghij\n"

def message(i):
    # Sizes spread evenly on a log scale, 4 bytes to 200 KiB.
    size = int(math.exp(rng.uniform(math.log(4), math.log(200 * 1024))))
    body = (LINE * (size // len(LINE) + 1))[:size]
    return size, (b"Message-ID: <trial-%d@stress.test>\n"
                  b"Subject: kill -9 trial %d\n\n" % (i, i)) + body

def feed(p, data):
    # 8 KiB at a time with a pause: reading a large message takes a
    # while (up to some 30 ms), so some kills land in the middle of it.
    try:
        for k in range(0, len(data), 8192):
            p.stdin.write(data[k:k + 8192])
            p.stdin.flush()
            time.sleep(0.001)
        p.stdin.close()
    except OSError:  # killed while we wrote: EPIPE
        pass

def run(args, data, err, delay):
    """Run args with data on stdin; SIGKILL it after delay seconds
    (None: let it finish).  Returns the exit status, -9 if killed."""
    with open(err, "wb") as ef:
        p = subprocess.Popen([outbox, "-C", conf] + args,
                             stdin=subprocess.PIPE if data else subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=ef)
    t = None
    if data:
        t = threading.Thread(target=feed, args=(p, data))
        t.start()
    if delay is not None:
        time.sleep(delay)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
        with open(os.path.join(out, "hung"), "a") as h:
            h.write("%s did not end within 60 s\n" % args)
    if t:
        t.join()
    return rc

with open(os.path.join(out, "record"), "w") as rec:
    for i in range(1, trials + 1):
        size, data = message(i)
        r, delay = rng.random(), rng.uniform(0, 0.080)
        e = os.path.join(out, "err.%d" % i)
        if r < 0.4:
            kind = "odi"
            rci, rcq = run(["-v", "bob@example.net"], data, e, delay), "-"
        elif r < 0.6:
            # A -odq intake takes a few ms: kill it early, while it
            # reads, writes or commits.
            kind, delay = "odq", delay / 4
            rci, rcq = run(["-v", "-odq", "bob@example.net"], data, e, delay), "-"
        else:
            kind = "run"
            rci = run(["-v", "-odq", "bob@example.net"], data, e, None)
            rcq = run(["-q", "-v"], None, e + ".q", delay)
        rec.write("%d %s %s %s %d %d\n" % (i, kind, rci, rcq, size, delay * 1000))
        rec.flush()
EOF
}

# ids_arrived DIR: the Message-IDs of the messages the server in DIR has
# stored whole (msg.N.env exists), one line each, CR removed.
ids_arrived() {
	for _e in "$1"/msg.*.env; do
		[ -f "$_e" ] || continue
		tr -d '\r' <"${_e%.env}" | sed -n '/^$/q; s/^Message-I[dD]: *//p'
	done
}

# Q-1, Q-3, Q-6, Q-8: SIGKILL at a random point of an intake (while it
# reads stdin, writes, commits or delivers at once) or of a queue run
# (while it connects, sends, or records the outcome) never loses a
# message that was accepted (exit 0), never sends a half-written file,
# and never leaves debris that a queue run would pick up.  A message is
# sent twice only when a run said "possible duplicate" (Q-8): a run
# killed after the final dot cannot know whether the server took it.
# STRESS_TRIALS and STRESS_SEED (environment) change the number of
# trials and repeat the kinds, sizes and delays of a run.
test_kill9_trials() {
	# A process killed while LeakSanitizer writes its exit report leaves
	# a truncated one: leaks are for the other tests to find.
	ASAN_OPTIONS=$(echo "$ASAN_OPTIONS" | sed 's/detect_leaks=1/detect_leaks=0/')
	n=${STRESS_TRIALS:-200}
	seed=${STRESS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
	echo "kill -9 trials: $n, seed $seed (STRESS_SEED=$seed repeats them)" >&2
	smart_host s server --lifetime 300
	config
	mkdir "$T/k9"
	kill9_driver
	"$PY" "$T/kill9.py" "$OUTBOX" "$T/outbox.conf" "$T/k9" "$n" "$seed" ||
	    fail "the trial driver failed"
	[ "$(wc -l <"$T/k9/record")" = "$n" ] || fail "not $n trials recorded"
	# What is left goes now: twice, the second run finding nothing.
	ob -q -v >/dev/null 2>"$T/k9/err.final.1"
	echo "final queue run: exit $?" >&2
	expect_exit 0 ob -q -v
	cp "$T/err" "$T/k9/err.final.2"

	problems=
	if [ -s "$T/k9/hung" ]; then
		sed 's/^/    /' "$T/k9/hung" >&2
		problems="$problems; processes hung"
	fi
	# An intake that was not killed must have accepted its message.
	awk '$2 == "run" && $3 != 0 { print "trial " $1 ": intake exited " $3 }' \
	    "$T/k9/record" >"$T/k9/bad"
	# Queue runs end 0 or 75 (some of the queue still waiting) if not killed.
	awk '$4 != "-" && $4 != -9 && $4 != 0 && $4 != 75 {
		print "trial " $1 ": queue run exited " $4 }' "$T/k9/record" >>"$T/k9/bad"
	awk '$3 != "-" && $3 != -9 && $3 != 0 && $3 != 75 {
		print "trial " $1 ": intake exited " $3 }' "$T/k9/record" >>"$T/k9/bad"
	if [ -s "$T/k9/bad" ]; then
		sed 's/^/    /' "$T/k9/bad" >&2
		problems="$problems; unexpected exit statuses"
	fi

	awk '$3 == 0 { print "<trial-" $1 "@stress.test>" }' "$T/k9/record" |
	    sort >"$T/k9/accepted"
	ids_arrived "$T/s" | sort >"$T/k9/arrived"
	uniq -c "$T/k9/arrived" | awk '$1 > 1 { print $2, $1 }' >"$T/k9/dups"
	sort -u "$T/k9/arrived" >"$T/k9/distinct"
	comm -23 "$T/k9/accepted" "$T/k9/distinct" >"$T/k9/lost"
	grep -v '^<trial-[0-9]*@stress.test>$' "$T/k9/distinct" >"$T/k9/strangers"
	intake=$(awk '$2 != "run"' "$T/k9/record" | wc -l)
	runs=$(awk '$2 == "run"' "$T/k9/record" | wc -l)
	killed=$(awk '$3 == -9 || $4 == -9' "$T/k9/record" | wc -l)
	k_odi=$(awk '$2 == "odi" && $3 == -9' "$T/k9/record" | wc -l)
	k_odq=$(awk '$2 == "odq" && $3 == -9' "$T/k9/record" | wc -l)
	k_run=$(awk '$2 == "run" && $4 == -9' "$T/k9/record" | wc -l)
	accepted=$(wc -l <"$T/k9/accepted")
	delivered=$(wc -l <"$T/k9/distinct")
	lost=$(wc -l <"$T/k9/lost")
	dups=$(awk '{ n += $2 - 1 } END { print n + 0 }' "$T/k9/dups")
	logged=$(cat "$T"/k9/err.* | grep -c 'possible duplicate')

	if [ "$lost" != 0 ]; then
		sed 's/^/    lost: /' "$T/k9/lost" >&2
		problems="$problems; $lost accepted messages lost"
	fi
	if [ "$dups" -gt "$logged" ]; then
		sed 's/^/    arrived more than once (id, times): /' "$T/k9/dups" >&2
		problems="$problems; $dups duplicates but $logged logged as possible"
	fi
	if [ -s "$T/k9/strangers" ]; then
		sed 's/^/    unexpected Message-ID: /' "$T/k9/strangers" >&2
		problems="$problems; messages that no trial sent arrived"
	fi
	if [ "$(queued)" != 0 ]; then
		ls -l "$T/spool/queue" >&2
		problems="$problems; queue/ not empty after the final runs"
	fi
	for d in corrupt failed; do
		if ls "$T/spool/$d" | grep -q .; then
			ls -l "$T/spool/$d" >&2
			problems="$problems; files in $d/"
		fi
	done
	# tmp/ may keep what killed processes left (until TMP_MAXAGE), but
	# none of it may be an accepted message or one that was sent.
	debris=0
	for f in "$T"/spool/tmp/*; do
		[ -f "$f" ] || continue
		debris=$((debris + 1))
		mid=$(sed -n '/^$/q; s/^Message-ID: *//p' "$f" | head -n 1)
		[ -n "$mid" ] || continue
		if grep -qxF "$mid" "$T/k9/accepted" || grep -qxF "$mid" "$T/k9/distinct"; then
			problems="$problems; tmp/${f##*/} holds $mid, accepted or sent"
		fi
	done
	# Marks and state files of messages gone are left by runs killed
	# between removing a message and its state; a later run removes them.
	orphans=$(ls "$T/spool/state" | wc -l)
	report "processes killed: $killed (-odi $k_odi, -odq intake $k_odq," \
	    "queue run $k_run; the others ended before their kill);" \
	    "tmp/ debris: $debris files; state/ orphans: $orphans"
	report "kill -9 trials: $n (intake $intake, queue run $runs);" \
	    "accepted $accepted, delivered $delivered, lost $lost," \
	    "duplicates $dups, logged possible duplicates $logged"
	[ -z "$problems" ] || fail "${problems#; }"
}

# submitter N MODE: 25 messages with Message-IDs <cN-K@stress.test>,
# each submitted with MODE (empty: the default, -odi); a failure is
# written to $T/c/bad.
submitter() {
	_k=1
	while [ $_k -le 25 ]; do
		printf 'Message-ID: <c%s-%s@stress.test>\nSubject: concurrent %s/%s\n\nbody %s %s\n' \
		    "$1" "$_k" "$1" "$_k" "$1" "$_k" |
		    ob $2 bob@example.net >/dev/null 2>>"$T/c/sub.$1.err" ||
		    echo "submitter $1 message $_k: exit $?" >>"$T/c/bad"
		_k=$((_k + 1))
	done
}

# runner N: "ob -q" in a loop until $T/c/stop appears (at most 1200
# rounds); exit statuses other than 0 and 75 go to $T/c/bad.
runner() {
	_r=0
	while [ ! -e "$T/c/stop" ] && [ $_r -lt 1200 ]; do
		ob -q >/dev/null 2>>"$T/c/runner.$1.err"
		_rc=$?
		[ $_rc = 0 ] || [ $_rc = 75 ] ||
		    echo "runner $1: exit $_rc" >>"$T/c/bad"
		_r=$((_r + 1))
		sleep 0.05
	done
}

# Q-7, Q-8: 20 submitters (immediate, background and queue-only
# delivery) and 3 queue runners working on one spool at once deliver
# each of 500 messages exactly once: the queue lock, the per-message
# locks and the link-count re-check keep two processes from sending
# the same message, and a message is removed only once delivered.
test_concurrent_exactly_once() {
	smart_host s server --lifetime 300
	config
	mkdir "$T/c"
	runners=
	for r in 1 2 3; do
		runner $r &
		runners="$runners $!"
	done
	subs=
	s=1
	while [ $s -le 20 ]; do
		case $((s % 3)) in
		0) mode= ;;
		1) mode=-odb ;;
		2) mode=-odq ;;
		esac
		submitter $s "$mode" &
		subs="$subs $!"
		s=$((s + 1))
	done
	for p in $subs; do wait "$p"; done
	: >"$T/c/stop"
	for p in $runners; do wait "$p"; done
	ob -q >/dev/null 2>"$T/c/final.err"
	# Background children may still be at work: wait (bounded) until the
	# queue is empty, running the queue again now and then.
	i=0
	while [ "$(queued)" != 0 ] && [ $i -lt 120 ]; do
		sleep 0.25
		i=$((i + 1))
		[ $((i % 20)) != 0 ] || ob -q >/dev/null 2>>"$T/c/final.err"
	done
	# A second copy would arrive after the queue emptied: let it.
	n1=$(count_msgs "$T/s")
	sleep 1
	[ "$(count_msgs "$T/s")" = "$n1" ] || sleep 2
	if [ -s "$T/c/bad" ]; then
		sed 's/^/    /' "$T/c/bad" >&2
		fail "a submitter or a runner failed"
	fi
	[ "$(queued)" = 0 ] || { ls -l "$T/spool/queue" >&2; fail "queue/ not empty"; }
	ids_arrived "$T/s" | sort >"$T/c/arrived"
	total=$(wc -l <"$T/c/arrived")
	distinct=$(sort -u "$T/c/arrived" | wc -l)
	dups=$((total - distinct))
	want=0
	s=1
	while [ $s -le 20 ]; do
		k=1
		while [ $k -le 25 ]; do
			echo "<c$s-$k@stress.test>"
			k=$((k + 1))
		done
		s=$((s + 1))
	done | sort >"$T/c/want"
	sort -u "$T/c/arrived" | comm -3 "$T/c/want" - >"$T/c/diff"
	report "concurrency: 500 messages, 20 submitters, 3 runners:" \
	    "delivered $distinct distinct, duplicates $dups"
	if [ -s "$T/c/diff" ]; then
		sed 's/^/    missing or unexpected: /' "$T/c/diff" >&2
		fail "the messages that arrived are not the 500 sent"
	fi
	if [ "$total" != 500 ]; then
		uniq -d "$T/c/arrived" | sed 's/^/    more than once: /' >&2
		fail "$total messages arrived for 500 sent"
	fi
	[ "$(count_msgs "$T/s")" = 500 ] || fail "$(count_msgs "$T/s") messages stored"
	ls "$T/spool/corrupt" "$T/spool/failed" | grep -q '^[0-9a-f]' &&
	    fail "files in corrupt/ or failed/"
	return 0
}

# case_fail MESSAGE: note a failed case of test_disk_full and go on
# with the next; the test fails at the end.
case_fail() {
	echo "    FAIL: $*" >&2
	cases_failed="$cases_failed
$*"
}

# fill [FREE-KB]: fill $T/fs, leaving about FREE-KB free (default none).
fill() {
	rm -f "$T/fs/fill"
	if [ -z "$1" ]; then
		dd if=/dev/zero of="$T/fs/fill" bs=64k 2>/dev/null
	else
		_avail=$(($(stat -f -c '%a * %S' "$T/fs")))
		dd if=/dev/zero of="$T/fs/fill" bs=4k \
		    count=$(((_avail - $1 * 1024) / 4096)) 2>/dev/null
	fi
	sync
	echo "    filled: $(($(stat -f -c '%a * %S' "$T/fs") / 1024)) KB free" >&2
}

# spool_has DIR: the names in the spool's DIR, one line each, or nothing.
spool_has() {
	ls "$T/fs/spool/$1" 2>/dev/null
}

# refused_full CASE: $T/big is refused with 75 and a reason that names
# the spool and the lack of space; queue/ holds only $first, tmp/ nothing.
refused_full() {
	ob -odq bob@example.net <"$T/big" >/dev/null 2>"$T/$1.err"
	_rc=$?
	sed "s/^/    $1: stderr: /" "$T/$1.err" >&2
	[ $_rc = 75 ] || case_fail "$1: exit $_rc, expected 75"
	grep -qF "$T/fs/spool" "$T/$1.err" ||
	    case_fail "$1: stderr does not name the spool"
	grep -q 'No space left on device\|reserve' "$T/$1.err" ||
	    case_fail "$1: stderr does not say no space or reserve"
	[ "$(spool_has queue)" = "$first" ] ||
	    case_fail "$1: queue/ holds $(spool_has queue | tr '\n' ' ')"
	[ -z "$(spool_has tmp)" ] ||
	    case_fail "$1: tmp/ holds $(spool_has tmp | tr '\n' ' ')"
}

# Q-1, Q-5, Q-8 and Q-2: a full spool file system refuses a message
# with 75 and leaves nothing behind, whether the free-space check or a
# write finds it (a); so does one with less free space than the reserve
# (b); a queue run that cannot record its progress corrupts nothing, and
# what it did not record is sent again only as a logged "possible
# duplicate" (c); a read-only spool refuses with 75 and the reason (d).
# The spool is on a 4 MB tmpfs of its own.
test_disk_full() {
	[ "$(id -u)" = 0 ] || skip "needs root to mount a tmpfs"
	mkdir "$T/fs"
	mount -t tmpfs -o size=4m tmpfs "$T/fs" 2>"$T/mount.err" ||
	    skip "needs root to mount a tmpfs ($(cat "$T/mount.err"))"
	trap 'umount "$T/fs" 2>/dev/null || umount -l "$T/fs"; stop_servers' EXIT
	cases_failed=
	config spool "$T/fs/spool"

	# a. Full: a 100 KB message is refused with 75, only the first stays.
	printf 'Message-ID: <first@stress.test>\nSubject: first\n\nhi\n' |
	    expect_exit 0 ob -odq bob@example.net
	first=$(spool_has queue)
	[ -n "$first" ] || fail "first message not queued (in $T/fs/spool)"
	fill
	{ printf 'Subject: big\n\n'; head -c 102400 /dev/zero | tr '\0' x |
	    fold -w 70; } >"$T/big"
	refused_full a
	# a2. More free than the reserve, less than the message: a write
	# fails with ENOSPC part way; the same outcome.
	fill 1536
	{ printf 'Subject: bigger\n\n'; head -c 2097152 /dev/zero | tr '\0' y |
	    fold -w 70; } >"$T/big"
	refused_full a2

	# b. Less free than the reserve (SPOOL_RESERVE): refused with 75.
	fill 512
	printf 'Subject: small\n\nhi\n' | ob -odq bob@example.net >/dev/null 2>"$T/b.err"
	rc=$?
	sed 's/^/    b: stderr: /' "$T/b.err" >&2
	[ $rc = 75 ] || case_fail "b: exit $rc, expected 75 below the reserve"
	grep -q 'reserve' "$T/b.err" || case_fail "b: stderr does not mention the reserve"
	[ -z "$(spool_has tmp)" ] || case_fail "b: tmp/ holds $(spool_has tmp | tr '\n' ' ')"
	if [ "$(spool_has queue)" != "$first" ]; then
		case_fail "b: queue/ holds $(spool_has queue | tr '\n' ' ')"
		# Put the spool back as case c expects it.
		for q in $(spool_has queue); do
			[ "$q" = "$first" ] || rm -f "$T/fs/spool/queue/$q"
		done
	fi

	# The first message, queued before the disk filled, goes out intact
	# once there is space; it leaves the queue so that case c's run has
	# no file to remove (which would free space for its state file).
	rm -f "$T/fs/fill"
	smart_host f server --lifetime 300
	fport=$PORT
	config spool "$T/fs/spool"
	expect_exit 0 ob -q
	[ "$(ids_arrived "$T/f")" = '<first@stress.test>' ] ||
	    case_fail "the first message did not arrive once after the disk was full"
	[ -z "$(spool_has queue)" ] || fail "queue/ holds $(spool_has queue | tr '\n' ' ')"

	# c. A queue run on a full disk: now@ is accepted, later@ deferred,
	# and the state file cannot be written.
	printf 'Message-ID: <two@stress.test>\nSubject: two\n\nhi\n' |
	    expect_exit 0 ob -odq now@example.net later@example.net
	fill
	smart_host c server --lifetime 300 --defer later@example.net
	config spool "$T/fs/spool"
	ob -q -v >/dev/null 2>"$T/c.err"
	rc=$?
	grep -v '^<<<\|^>>>' "$T/c.err" | sed 's/^/    c: stderr: /' >&2
	[ $rc = 0 ] || [ $rc = 75 ] || case_fail "c: full-disk run exited $rc"
	[ -z "$(spool_has corrupt)" ] && [ -z "$(spool_has failed)" ] ||
	    case_fail "c: full-disk run left $(spool_has corrupt) $(spool_has failed) in corrupt/ or failed/"
	grep -l 'two@stress.test' "$T"/fs/spool/queue/* >/dev/null 2>&1 ||
	    case_fail "c: the message for later@ left the queue"
	rm -f "$T/fs/fill"
	PORT=$fport
	config spool "$T/fs/spool"
	ob -q -v >/dev/null 2>"$T/f.err"
	rc=$?
	grep -v '^<<<\|^>>>' "$T/f.err" | sed 's/^/    c, space back: stderr: /' >&2
	[ $rc = 0 ] || case_fail "c: run with space exited $rc"
	grep -lx 'rcpt later@example.net' "$T"/f/msg.*.env >/dev/null 2>&1 ||
	    case_fail "c: later@ not delivered once space was back"
	now=$(cat "$T"/c/msg.*.env "$T"/f/msg.*.env 2>/dev/null | grep -cx 'rcpt now@example.net')
	later=$(cat "$T"/c/msg.*.env "$T"/f/msg.*.env 2>/dev/null | grep -cx 'rcpt later@example.net')
	echo "    c: now@ received $now times, later@ $later times" >&2
	[ "$now" -ge 1 ] || case_fail "c: now@ never delivered"
	[ "$later" = 1 ] || case_fail "c: later@ delivered $later times"
	if [ "$now" -gt 1 ]; then
		cat "$T/c.err" "$T/f.err" | grep -q 'possible duplicate' ||
		    case_fail "c: now@ sent $now times without \"possible duplicate\" in the log"
	fi
	[ -z "$(spool_has queue)" ] || case_fail "c: queue/ holds $(spool_has queue | tr '\n' ' ')"
	[ -z "$(spool_has corrupt)" ] || case_fail "c: corrupt/ holds $(spool_has corrupt | tr '\n' ' ')"

	# d. Read-only spool: refused with 75 and the reason.
	if mount -o remount,ro "$T/fs"; then
		printf 'Subject: ro\n\nhi\n' | ob -odq bob@example.net >/dev/null 2>"$T/d.err"
		rc=$?
		sed 's/^/    d: stderr: /' "$T/d.err" >&2
		[ $rc = 75 ] || case_fail "d: exit $rc on a read-only spool, expected 75"
		grep -q 'Read-only file system' "$T/d.err" ||
		    case_fail "d: stderr does not say Read-only file system"
		mount -o remount,rw "$T/fs" || fail "cannot remount rw"
		[ -z "$(spool_has queue)" ] || case_fail "d: queue/ holds $(spool_has queue | tr '\n' ' ')"
		[ -z "$(spool_has tmp)" ] || case_fail "d: tmp/ holds $(spool_has tmp | tr '\n' ' ')"
	else
		case_fail "d: cannot remount read-only"
	fi
	[ -z "$cases_failed" ] ||
	    fail "cases failed: $(echo "$cases_failed" | sed -n 's/:.*//p' | uniq | tr '\n' ' ')"
}
