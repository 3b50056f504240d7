# The queue's bookkeeping: retries and backoff, listing, deletion,
# marks for possible duplicates, double bounces, debris.

# A free loopback port that nothing listens on: the smart host is down.
port_down() {
	PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
}

# The id of the only message in queue/.
only_id() {
	ls "$T/spool/queue"
}

# set_last ID SECONDS_AGO: move the last attempt of ID into the past, as
# if the clock had run on (the state file is the queue's only clock).
set_last() {
	_t=$(($(date +%s) - $2))
	sed -i "s/^last .*/last $_t/" "$T/spool/state/$1"
}

# A plain -q tries every message at once, whatever its history (the cron
# interval is the retry period); an attempt is counted with its error.
test_retry_without_backoff() {
	port_down
	config
	printf 'Subject: r\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	expect_exit 75 ob -q
	expect_exit 75 ob -q
	id=$(only_id)
	assert_grep '^attempts 2$' "$T/spool/state/$id"
	expect_exit 0 ob -bp
	assert_grep '^    attempts: 2, last ' "$T/out"
	assert_grep '^    next attempt: the next queue run$' "$T/out"
	assert_grep '^    last error: unable to connect to localhost' "$T/out"
	assert_grep '^    <bob@example.net>  pending$' "$T/out"
	smart_host s
	config
	expect_exit 0 ob -q
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered at once"
}

# With "backoff yes" a whole run skips a message until BACKOFF_MIN
# (5 min) after its first failure, then 10 min after the second; -qI
# sends it at once all the same (the admin's "now").
test_backoff() {
	port_down
	config backoff yes
	printf 'Subject: b\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	expect_exit 75 ob -q
	id=$(only_id)
	smart_host s
	config backoff yes
	expect_exit 75 ob -q -v
	[ "$(count_msgs "$T/s")" = 0 ] || fail "sent before its backoff passed"
	assert_grep 'waiting for their next attempt' "$T/err"
	assert_grep '^attempts 1$' "$T/spool/state/$id"
	expect_exit 0 ob -bp
	assert_grep '^    next attempt: the next queue run, not before ' "$T/out"
	set_last "$id" 290
	expect_exit 75 ob -q
	[ "$(count_msgs "$T/s")" = 0 ] || fail "sent 290 s after one failure"
	set_last "$id" 301
	expect_exit 0 ob -q
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not sent 301 s after one failure"
	# Two failures: 10 minutes.
	stop_servers
	port_down
	config backoff yes
	printf 'Subject: b2\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	expect_exit 75 ob -q
	id=$(only_id)
	set_last "$id" 400
	expect_exit 75 ob -q
	assert_grep '^attempts 2$' "$T/spool/state/$id"
	smart_host s2
	config backoff yes
	set_last "$id" 590
	expect_exit 75 ob -q
	[ "$(count_msgs "$T/s2")" = 0 ] || fail "sent 590 s after two failures"
	expect_exit 0 ob -qI"$id"
	[ "$(count_msgs "$T/s2")" = 1 ] || fail "-qI did not send at once"
}

# The foreground runner backs off even without "backoff yes": a message
# that failed is not tried again at each of its 1 s rounds.  (The binary
# is run directly, not through ob, so that $! is its PID.)
test_interval_runner_backs_off() {
	port_down
	config
	printf 'Subject: i\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	expect_exit 75 ob -q
	smart_host s
	config
	"$OUTBOX" -C "$T/outbox.conf" -q1s >"$T/loop.out" 2>&1 &
	loop=$!
	sleep 3
	kill "$loop"
	wait "$loop" 2>/dev/null
	[ "$(count_msgs "$T/s")" = 0 ] || fail "retried within its backoff"
	[ "$(queued)" = 1 ] || fail "message gone"
	# A new message goes at the next round.
	printf 'Subject: i2\n\nhi\n' | expect_exit 0 ob -odq carol@example.net
	"$OUTBOX" -C "$T/outbox.conf" -q1s >"$T/loop.out" 2>&1 &
	loop=$!
	_i=0
	while [ "$(count_msgs "$T/s")" = 0 ] && [ $_i -lt 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	kill "$loop"
	wait "$loop" 2>/dev/null
	[ "$(count_msgs "$T/s")" = 1 ] || fail "new message not sent by the loop"
	assert_grep '^rcpt carol@example.net$' "$T/s/msg.1.env"
}

# When the smart host cannot be reached the run stops at the first
# message: the others are not tried (and their attempts not counted).
test_stop_at_connection_failure() {
	port_down
	config
	for n in 1 2 3; do
		printf 'Subject: %s\n\nhi\n' $n | expect_exit 0 ob -odq bob@example.net
		sleep 1.1	# ids sort by intake time
	done
	expect_exit 75 ob -q
	[ "$(ls "$T/spool/state" | wc -l)" = 1 ] || fail "more than one message tried"
	first=$(ls "$T/spool/queue" | head -n 1)
	[ -f "$T/spool/state/$first" ] || fail "the oldest was not the one tried"
}

# -qD removes a message without a bounce; an unknown or malformed id is
# refused, and so is a message that a run holds.
test_delete() {
	port_down
	config
	printf 'Subject: d\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	printf 'Subject: d2\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	set -- $(ls "$T/spool/queue")
	expect_exit 0 ob -qD "$1"
	[ ! -e "$T/spool/queue/$1" ] || fail "-qD left the message"
	[ "$(queued)" = 1 ] || fail "-qD removed too much"
	expect_exit 66 ob -qD"$1"
	assert_grep "$1: no such message" "$T/err"
	expect_exit 64 ob -qD ../../etc/passwd
	# Held by a run (flock): refused, kept.
	flock "$T/spool/queue/$2" sleep 3 &
	holder=$!
	sleep 0.5
	expect_exit 75 ob -qD "$2"
	assert_grep 'being delivered' "$T/err"
	wait "$holder"
	[ "$(queued)" = 1 ] || fail "a held message was removed"
	expect_exit 0 ob -qD "$2"
	[ "$(queued)" = 0 ] || fail "not removed once free"
	[ "$(kept_failed)" = 0 ] || fail "a deleted message went to failed/"
}

# A run that died after the final dot, before it recorded the reply,
# leaves a mark: the next run logs "possible duplicate" and sends again.
test_possible_duplicate_mark() {
	smart_host s
	config
	printf 'Subject: m\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	id=$(only_id)
	: >"$T/spool/state/$id.sending"
	expect_exit 0 ob -q -v
	assert_grep "$id: possible duplicate" "$T/err"
	[ ! -e "$T/spool/state/$id.sending" ] || fail "mark left behind"
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not sent"
	# A run that ends normally leaves no mark, and logs no duplicate.
	printf 'Subject: m2\n\nhi\n' | expect_exit 0 ob -v bob@example.net
	assert_no_grep 'possible duplicate' "$T/err"
	ls "$T/spool/state" | grep -q . && fail "state or mark left behind"
	return 0
}

# A bounce that cannot be delivered goes to admin, whole; a notice to
# admin that fails too stays in failed/.  Never a bounce of a bounce to
# a sender.
test_double_bounce() {
	smart_host s server --reject bad@example.net --reject sender@example.org
	config admin ops@example.com
	printf 'Subject: db\nMessage-ID: <db@example.org>\n\nhi\n' |
	    expect_exit 0 ob -f sender@example.org bad@example.net
	[ "$(count_msgs "$T/s")" = 1 ] || fail "expected only the notice to admin"
	assert_grep '^from $' "$T/s/msg.1.env"
	assert_grep '^rcpt ops@example.com$' "$T/s/msg.1.env"
	assert_grep '^Final-Recipient: rfc822; sender@example.org' "$T/s/msg.1"
	assert_grep '^Content-Type: message/rfc822' "$T/s/msg.1"
	# The refused bounce is inside, with the original's header in it.
	assert_grep 'Final-Recipient: rfc822; bad@example.net' "$T/s/msg.1"
	assert_grep '^Message-ID: <db@example.org>' "$T/s/msg.1"
	[ "$(grep -c '^rcpt ' "$T/s/log")" = 3 ] || fail "unexpected recipients tried"
	[ "$(queued)" = 0 ] || fail "queue not empty"
	[ "$(kept_failed)" = 2 ] || fail "message and bounce not in failed/"
}

# Debris: state files and marks whose message is gone are removed once
# an hour old; younger ones are left for the run that is finishing.
test_orphan_state() {
	smart_host s
	config
	mkdir -p "$T/spool/state"
	printf 'Subject: o\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	: >"$T/spool/state/0000000011111111"
	: >"$T/spool/state/0000000022222222.sending"
	: >"$T/spool/state/0000000033333333"
	touch -d '2 hours ago' "$T/spool/state/0000000011111111" \
	    "$T/spool/state/0000000022222222.sending"
	expect_exit 0 ob -q
	[ ! -e "$T/spool/state/0000000011111111" ] || fail "old orphan kept"
	[ ! -e "$T/spool/state/0000000022222222.sending" ] || fail "old mark kept"
	[ -e "$T/spool/state/0000000033333333" ] || fail "young orphan removed"
}
