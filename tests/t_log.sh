# The log: one syslog line (facility mail) per recipient outcome, in
# the shape "id: to=<addr>, relay=host[addr]:port, delay=HH:MM:SS,
# status=sent|bounced|deferred (why)"; standard error where there is no
# syslog to write to, but never a one-shot run's successes (cron would
# mail them back into the queue).

# nosyslog_run CMD...: run CMD where nothing listens on /dev/log, in a
# private mount namespace (/dev/null bound over a /dev/log there).
NOSYSLOG_NS='if [ -e /dev/log ] || [ -L /dev/log ]; then
	mount --bind /dev/null /dev/log || exit 70
fi
exec "$@"'
nosyslog_run() {
	unshare -m --propagation private sh -c "$NOSYSLOG_NS" sh "$@"
}

# nosyslog_queued: skip unless nosyslog_run works here; else start the
# smart host s and queue a message for it.
nosyslog_queued() {
	command -v unshare >/dev/null 2>&1 || skip "needs unshare (util-linux)"
	nosyslog_run true 2>/dev/null || skip "unable to make a private mount namespace"
	smart_host s
	config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
}

# assert_outcome ADDR RELAY STATUS REPLY FILE: FILE has the line of one
# recipient's outcome: its relay, a delay under 10 s, its status, and a
# reply that starts with REPLY.
assert_outcome() {
	assert_grep "$(printf ': to=<%s>, relay=%s, delay=00:00:0[0-9], status=%s (%s' \
	    "$1" "$(re "$2")" "$3" "$(re "$4")")" "$5"
}

re() {	# re TEXT: TEXT as a basic regular expression matching itself
	printf '%s' "$1" | sed 's/[].[*^$\\]/\\&/g'
}

# Delivered and refused: one line each, mail.info for the one sent and
# mail.warning for the one refused, with the relay's name, address and
# port; a submission's standard error has the warning, not the success.
test_log_outcomes() {
	syslog_ready
	smart_host s server --reject bad@example.net
	config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 syslog_run "$T/syslog.txt" \
	    "$OUTBOX" -C "$T/outbox.conf" -f alice@example.org \
	    good@example.net bad@example.net
	# The message, and the bounce to alice.
	[ "$(count_msgs "$T/s")" = 2 ] || fail "not delivered"
	id=$(sed -n 's/.*: \([^:]*\): from=<alice@example.org>, nrcpt=2, queued$/\1/p' \
	    "$T/syslog.txt")
	[ -n "$id" ] || fail "no queued line: $(cat "$T/syslog.txt")"
	# <22> is mail.info, <20> mail.warning (RFC 5424 6.2.1); the tag
	# carries the PID.
	assert_grep "^<22>.* outbox\[[0-9]*\]: $id: to=<good@example.net>, " \
	    "$T/syslog.txt"
	assert_grep "^<20>.* outbox\[[0-9]*\]: $id: to=<bad@example.net>, " \
	    "$T/syslog.txt"
	assert_outcome good@example.net "localhost[127.0.0.1]:$PORT" sent 250 \
	    "$T/syslog.txt"
	assert_outcome bad@example.net "localhost[127.0.0.1]:$PORT" bounced 550 \
	    "$T/syslog.txt"
	[ "$(grep -c ": $id: to=<" "$T/syslog.txt")" = 2 ] ||
	    fail "not one line per recipient: $(cat "$T/syslog.txt")"
	assert_grep 'to=<bad@example.net>.*status=bounced' "$T/err"
	assert_no_grep 'status=sent' "$T/err"
	# The bounce to alice is a message of its own, with its own line.
	bid=$(sed -n "s/.*: $id: sender non-delivery notification: //p" \
	    "$T/syslog.txt")
	[ -n "$bid" ] || fail "no bounce queued: $(cat "$T/syslog.txt")"
	assert_grep ": $bid: to=<alice@example.org>, relay=.*status=sent" \
	    "$T/syslog.txt"
}

# A smart host that cannot be reached: each recipient deferred, with
# relay=none and the reason; settled ones from an earlier run are not
# logged again.
test_log_deferred() {
	syslog_ready
	smart_host s server --defer later@example.net
	config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob now@example.net \
	    later@example.net other@example.net
	[ "$(queued)" = 1 ] || fail "not kept for later@"
	stop_servers
	wait_gone "$(cat "$T/s/pid")" 10 || fail "the server did not stop"
	expect_exit 75 syslog_run "$T/syslog.txt" "$OUTBOX" -C "$T/outbox.conf" -q
	assert_outcome later@example.net none deferred \
	    "unable to connect to localhost: [127.0.0.1]:$PORT" "$T/syslog.txt"
	[ "$(grep -c ': to=<' "$T/syslog.txt")" = 1 ] ||
	    fail "not one line per pending recipient: $(cat "$T/syslog.txt")"
	assert_no_grep 'now@example.net' "$T/syslog.txt"
	# From cron (no terminal), a deferral is not on standard error.
	assert_no_grep 'status=' "$T/err"
}

# Without a syslog daemon (containers), the queue runner at an interval
# writes the log on standard error: the container's log.
test_log_stderr_runner() {
	nosyslog_queued
	# Not through the function, which would run in a subshell: timeout
	# bounds the runner's life and passes TERM on; unshare and sh exec.
	timeout 60 unshare -m --propagation private sh -c "$NOSYSLOG_NS" sh \
	    "$OUTBOX" -C "$T/outbox.conf" -q1s >"$T/runner.out" \
	    2>"$T/runner.err" &
	runner=$!
	mkdir -p "$T/runner" && echo $runner >"$T/runner/pid"
	wait_file "$T/s/msg.1.env"
	_i=0
	while ! grep -q 'status=sent' "$T/runner.err" && [ $_i -lt 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	kill $runner
	wait $runner
	rc=$?
	[ $rc = 75 ] || fail "the runner ended with $rc after TERM, not 75"
	assert_outcome bob@example.net "localhost[127.0.0.1]:$PORT" sent 250 \
	    "$T/runner.err"
	assert_grep '^outbox: ' "$T/runner.err"
	[ "$(queued)" = 0 ] || fail "queue not empty"
}

# Without syslog, a one-shot run from cron still says nothing when all
# went well (its output would come back as mail), and still writes an
# error that needs the admin.
test_log_stderr_oneshot() {
	nosyslog_queued
	expect_exit 0 nosyslog_run "$OUTBOX" -C "$T/outbox.conf" -q
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered"
	[ ! -s "$T/err" ] || fail "a quiet run wrote: $(cat "$T/err")"
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	conf_del cafile
	conf_add cafile "$T/no-such-ca.pem"
	expect_exit 78 nosyslog_run "$OUTBOX" -C "$T/outbox.conf" -q
	assert_grep "no-such-ca.pem" "$T/err"
	assert_no_grep 'status=' "$T/err"
}
