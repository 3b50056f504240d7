# The hostile-server suite: servers that break the protocol, stall,
# drop, lie or flood, played by the scripted server (rawsmtpd.py).  In
# each case the message stays queued with a reason (or bounces where
# RFC 5321 makes the failure permanent), the client stops talking at the
# point of the breach, and the run ends within its timeouts.  Under the
# sanitizer build every test also proves there was no memory error.

plain_config() {	# no TLS, no AUTH: the admin asked for it
	config tls off
	sed -i '/^user \|^password /d' "$T/outbox.conf"
}

# After STARTTLS the client says EHLO again and uses only what the
# second EHLO offers (here AUTH appears only then).
test_ehlo_after_starttls() {
	start_raw r 'send 220 raw ESMTP\r\n
expect EHLO
send 250-raw\r\n250 STARTTLS\r\n
expect STARTTLS
send 220 go ahead\r\n
starttls
expect EHLO client.example.org
send 250-raw\r\n250 AUTH LOGIN\r\n
expect AUTH LOGIN
send 334 VXNlcm5hbWU6\r\n
expect YWxpY2U=
send 334 UGFzc3dvcmQ6\r\n
recv
send 235 ok\r\n
expect MAIL FROM:
send 250 ok\r\n
expect RCPT TO:<bob@example.net>
send 250 ok\r\n
expect DATA
send 354 go\r\n
data
send 250 queued\r\n
expect QUIT
send 221 bye\r\n
close' --cert "$CERTS/server.pem" --key "$CERTS/server.key"
	config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob bob@example.net
	[ ! -s "$T/r/errors" ] || fail "$(cat "$T/r/errors")"
	[ "$(queued)" = 0 ] || fail "not delivered"
	[ -f "$T/r/data.1" ] || fail "no DATA"
}

# Reply grammar (S-2): a code that changes between lines, a line that is
# not "DDD text", and a reply of too many lines are protocol errors.
test_bad_replies() {
	plain_config
	for greeting in '220-raw\r\n250 raw\r\n' '22 short\r\n' '220raw\r\n' \
	    '600 raw\r\n'; do
		rm -rf "$T/r"
		start_raw r "send $greeting
recv"
		plain_config
		printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
		expect_exit 75 ob -q
		expect_exit 0 ob -bp
		assert_grep 'protocol error: bad reply line' "$T/out"
		assert_no_grep '^C: EHLO' "$T/r/transcript"
		rm -f "$T"/spool/queue/* "$T"/spool/state/*
	done
	rm -rf "$T/r"
	start_raw r "send 220 raw\\r\\n
expect EHLO
send $(i=0; while [ $i -lt 120 ]; do printf '250-line%d\\r\\n' $i; i=$((i+1)); done)250 end\\r\\n
recv"
	plain_config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob bob@example.net
	expect_exit 0 ob -bp
	assert_grep 'reply longer than 100 lines' "$T/out"
	assert_no_grep '^C: MAIL' "$T/r/transcript"
}

# An overlong reply line is cut and its excess skipped, not an error;
# data after a complete reply in lock-step is (S-3).
test_long_line_and_trailing_data() {
	long=$(head -c 5000 /dev/zero | tr '\0' 'x')
	start_raw r "send 220 $long\\r\\n
expect EHLO
send 250 raw\\r\\n
expect MAIL FROM:
send 250 ok\\r\\n250 surprise\\r\\n
recv"
	plain_config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob bob@example.net
	[ ! -s "$T/r/errors" ] || fail "$(cat "$T/r/errors")"
	expect_exit 0 ob -bp
	assert_grep 'data after the reply' "$T/out"
	assert_no_grep '^C: RCPT' "$T/r/transcript"
}

# EHLO refused as unknown: HELO, then the transaction (no AUTH needed).
test_helo_fallback() {
	start_raw r "send 220 old server\\r\\n
expect EHLO
send 502 5.5.1 what\\r\\n
expect HELO client.example.org
send 250 hello\\r\\n
$(accept_message root@example.org bob@example.net)"
	plain_config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -f root bob@example.net
	[ ! -s "$T/r/errors" ] || fail "$(cat "$T/r/errors")"
	[ "$(queued)" = 0 ] || fail "not delivered"
	assert_grep '^Subject: x' "$T/r/data.1"
}

# The connection drops after the final dot, before the reply: the
# server may have the message, but without its 2xx the message stays
# queued and the log says "possible duplicate" (Q-8).  Over TLS, an end
# of stream without close_notify is the same failure (T-9).
test_drop_after_dot() {
	start_raw r "$(session_script)
close"
	plain_config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -v bob@example.net
	[ -f "$T/r/data.1" ] || fail "DATA not sent"
	assert_grep 'possible duplicate' "$T/err"
	[ "$(queued)" = 1 ] || fail "not kept queued"
	rm -rf "$T/r"
	start_raw r "$(session_script tls)
send 250 2.0.0 ok, but no\r\n
close" --cert "$CERTS/server.pem" --key "$CERTS/server.key"
	config tls tls
	sed -i '/^tls off/d' "$T/outbox.conf"
	rm -f "$T"/spool/queue/* "$T"/spool/state/*
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -v bob@example.net
	[ -f "$T/r/data.1" ] || fail "DATA not sent over TLS"
	# The 250 came whole before the drop: that one counts as delivered.
	[ "$(queued)" = 0 ] || fail "a complete 250 was not taken"
	rm -rf "$T/r"
	start_raw r "$(session_script tls)
send 250 2.0.0 half a li
close" --cert "$CERTS/server.pem" --key "$CERTS/server.key"
	config tls tls
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -v bob@example.net
	[ -f "$T/r/data.1" ] || fail "DATA not sent over TLS"
	assert_grep 'possible duplicate' "$T/err"
	[ "$(queued)" = 1 ] || fail "a half 250 was taken as delivered"
}

# The server sends plaintext where implicit TLS was expected.
test_plaintext_instead_of_tls() {
	start_raw r 'send 220 plain ESMTP\r\n
recv'
	config tls tls
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob bob@example.net
	expect_exit 0 ob -bp
	assert_grep 'not TLS' "$T/out"
}

# A greeting that refuses service: QUIT, queued with the reason.
test_greeting_refused() {
	start_raw r 'send 554 5.3.2 go away\r\n
expect QUIT
send 221 bye\r\n'
	plain_config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob bob@example.net
	[ ! -s "$T/r/errors" ] || fail "$(cat "$T/r/errors")"
	expect_exit 0 ob -bp
	assert_grep 'server refused the session: 554 5.3.2 go away' "$T/out"
}

# hostile_config [KEY VALUE...]: plaintext, no AUTH, short timeouts (2 s
# for every stage: stage_timeout replaces RFC 5321's minutes).
hostile_config() {
	config tls off timeout 2 stage_timeout 2 "$@"
	sed -i '/^user \|^password /d;/^timeout 10$/d' "$T/outbox.conf"
}

# submit: one small message, delivered at once; the intake succeeds
# whatever the server does.
submit() {
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob bob@example.net
}

# reason PATTERN: mailq shows the message still queued, for this reason.
reason() {
	[ "$(queued)" = 1 ] || fail "the message is not queued"
	expect_exit 0 ob -bp
	assert_grep "$1" "$T/out"
}

# again: the next case from scratch: no server r, an empty queue.
again() {
	rm -rf "$T/r" "$T"/spool/queue/* "$T"/spool/state/*
}

# server_done NAME: wait until the scripted server NAME has ended.
server_done() {
	wait_gone "$(cat "$T/$1/pid")" 30 || fail "server $1 still running"
}

# Binary noise, a TLS record and an HTTP answer instead of a greeting:
# a protocol error whose text is escaped in the queue and in mailq.
test_garbage_greeting() {
	for g in '\x16\x03\x01\x01\x2a\x02\xff\xfe\x1b[2J\r\n' \
	    'HTTP/1.1 400 Bad Request\r\n' '\r\n'; do
		again
		start_raw r "send $g
recv"
		hostile_config
		submit
		reason 'protocol error: bad reply line'
		assert_no_grep '^C: EHLO' "$T/r/transcript"
	done
	assert_no_grep "$(printf '\033')" "$T/out"
	assert_no_grep "$(printf '\033')" "$T"/spool/state/*
}

# A multi-line reply that never ends, and a reply line of 1 MB: each is
# cut off at REPLY_MAX bytes or REPLY_LINES_MAX lines, the client hangs
# up, and the server sees it leave long before its lifetime.
test_endless_reply() {
	start_raw r 'send 220 raw\r\n
expect EHLO
repeat 0 250-and more\r\n'
	hostile_config
	submit
	reason 'reply longer than 100 lines or 65536 bytes'
	server_done r
	assert_grep '^eof' "$T/r/transcript"
	assert_no_grep '^--- timeout' "$T/r/transcript"
}

test_huge_reply_line() {
	start_raw r 'send 220 
repeat 1048576 x
send \r\n
recv'
	hostile_config
	submit
	reason 'reply longer than 100 lines or 65536 bytes'
	assert_no_grep '^C: EHLO' "$T/r/transcript"
	# The same without a line end at all.
	again
	start_raw r 'send 220 raw\r\n
expect EHLO
repeat 0 250 xxxxxxxxxxxxxxxx'
	hostile_config
	submit
	reason 'reply longer than 100 lines or 65536 bytes'
	server_done r
	assert_no_grep '^--- timeout' "$T/r/transcript"
}

# A NUL byte in a reply is a protocol error, not the end of a string.
test_nul_in_reply() {
	start_raw r 'send 220 raw\r\n
expect EHLO
send 250 fi\0ne\r\n
recv'
	hostile_config
	submit
	reason 'NUL byte from the server'
	assert_no_grep '^C: MAIL' "$T/r/transcript"
}

# 421 (RFC 5321 3.8) at the greeting, to MAIL, to DATA and to the final
# dot: the server is closing, so nothing more is sent, not even QUIT,
# and the message waits with the server's words.  No "possible
# duplicate" either: a 421 is an answer.
test_421_each_stage() {
	for at in greeting mail data dot; do
		again
		case $at in
		greeting) script= ;;
		mail|data) script=$(prelude $at) ;;
		dot) script=$(session_script) ;;
		esac
		start_raw r "$script
send 421 4.3.2 shutting down\\r\\n
drain 1"
		hostile_config
		printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -v bob@example.net
		server_done r
		[ ! -s "$T/r/errors" ] || fail "$at: $(cat "$T/r/errors")"
		assert_no_grep 'possible duplicate' "$T/err"
		assert_no_grep '^C: QUIT' "$T/r/transcript"
		reason '421 4.3.2 shutting down'
	done
}

# The connection drops in the middle of the message data: queued (the
# client may still be writing, or have written the rest into the socket
# and wait for a reply), and the next run sends the whole message again.
test_drop_during_data() {
	start_raw r "$(session_script | sed '$d')
recv
close"
	hostile_config
	{ head -c 300000 /dev/zero | tr '\0' 'y' | fold -w 70; echo; } >"$T/body"
	{ printf 'Subject: big\n\n'; cat "$T/body"; } |
	    expect_exit 0 ob bob@example.net
	server_done r
	reason 'localhost.*: \(sending the message\|reading the reply\)'
	start_smtpd s
	sed -i "s/^port .*/port $(cat "$T/s/port")/" "$T/outbox.conf"
	expect_exit 0 ob -q
	[ "$(queued)" = 0 ] || fail "not delivered on the next run"
	body "$T/s/msg.1" | cmp -s - "$T/body" || fail "the body arrived damaged"
}

# A server that stops answering at each stage: each wait ends after
# stage_timeout (2 s here), the message stays queued, and only a
# silence after the final dot is logged as a possible duplicate.
test_stall_each_stage() {
	for at in greeting ehlo mail rcpt data body dot; do
		again
		case $at in
		greeting) script='recv' ;;
		ehlo|mail|rcpt|data) script=$(prelude $at) ;;
		body) script=$(session_script | sed '$d') ;;
		dot) script=$(session_script) ;;
		esac
		start_raw r "$script
sleep 20"
		hostile_config
		if [ $at = body ]; then
			# More than loopback's socket buffers hold: the
			# writes block once the server stops reading.
			{ printf 'Subject: big\n\n'
			  head -c 24000000 /dev/zero | tr '\0' 'z' |
			      fold -w 76; } | expect_exit 0 ob -v bob@example.net
		else
			printf 'Subject: x\n\nhi\n' |
			    expect_exit 0 ob -v bob@example.net
		fi
		[ ! -s "$T/r/errors" ] || fail "$at: $(cat "$T/r/errors")"
		echo "stage: $at" >&2
		if [ $at = dot ]; then
			assert_grep 'possible duplicate' "$T/err"
		else
			assert_no_grep 'possible duplicate' "$T/err"
		fi
		reason 'timed out'
		kill "$(cat "$T/r/pid")" 2>/dev/null
		server_done r
	done
}

# SIZE (RFC 1870): a 552 to MAIL FROM ... SIZE= is permanent, so the
# message bounces; a message over the advertised SIZE is not sent at all.
test_size_rejection() {
	start_raw r "send 220 raw\\r\\n
expect EHLO
send 250-raw\\r\\n250 SIZE 1000000\\r\\n
expect MAIL FROM:<sender@example.org> SIZE=
send 552 5.3.4 message size exceeds fixed maximum\\r\\n
expect RSET
send 250 ok\\r\\n
$(accept_message '' sender@example.org)"
	hostile_config
	printf 'Subject: x\n\nhi\n' |
	    expect_exit 0 ob -f sender@example.org bob@example.net
	[ ! -s "$T/r/errors" ] || fail "$(cat "$T/r/errors")"
	assert_grep '^Status: 5.3.4' "$T/r/data.1"
	assert_grep '552 5.3.4 message size exceeds' "$T/r/data.1"
	[ "$(queued)" = 0 ] || fail "not bounced"
	rm -rf "$T/r"
	start_raw r "send 220 raw\\r\\n
expect EHLO
send 250-raw\\r\\n250 SIZE 2000\\r\\n
$(accept_message '' sender@example.org)"
	hostile_config
	head -c 5000 /dev/zero | tr '\0' 'w' | fold -w 70 |
	    { printf 'Subject: x\n\n'; cat; } |
	    expect_exit 0 ob -f sender@example.org bob@example.net
	[ ! -s "$T/r/errors" ] || fail "$(cat "$T/r/errors")"
	assert_grep '^Status: 5.3.4' "$T/r/data.1"
	[ "$(queued)" = 0 ] || fail "not bounced"
}

# A pipelining server that takes one recipient of three: the accepted
# one is sent, the 550 bounces, the 451 waits, each as RFC 5321 4.4
# says; the next run sends to the 451 one only.
test_some_recipients() {
	start_raw r 'send 220 raw\r\n
expect EHLO
send 250-raw\r\n250 PIPELINING\r\n
expect MAIL FROM:<sender@example.org>
expect RCPT TO:<a@example.net>
expect RCPT TO:<b@example.net>
expect RCPT TO:<c@example.net>
expect DATA
send 250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n451 4.2.0 later\r\n354 go\r\n
data
send 250 ok\r\n
expect RSET
send 250 ok\r\n
expect MAIL FROM:<>
expect RCPT TO:<sender@example.org>
expect DATA
send 250 ok\r\n250 ok\r\n354 go\r\n
data
send 250 ok\r\n
expect QUIT
send 221 bye\r\n'
	hostile_config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -f sender@example.org \
	    a@example.net b@example.net c@example.net
	[ ! -s "$T/r/errors" ] || fail "$(cat "$T/r/errors")"
	assert_grep '^Subject: x' "$T/r/data.1"
	assert_grep '^Final-Recipient: rfc822; b@example.net' "$T/r/data.2"
	assert_no_grep 'rfc822; [ac]@' "$T/r/data.2"
	reason '451 4.2.0 later'
	rm -rf "$T/r"
	start_raw r "send 220 raw\\r\\n
expect EHLO
send 250 raw\\r\\n
$(accept_message sender@example.org c@example.net)"
	hostile_config
	expect_exit 0 ob -q
	[ ! -s "$T/r/errors" ] || fail "$(cat "$T/r/errors")"
	[ "$(queued)" = 0 ] || fail "c@ not delivered"
}

# Replies out of turn: a 250 before the client sent MAIL, one reply too
# many to a pipelined group, and a 250 between 354 and the final dot.
# None may be taken as an answer to a later command: nothing is
# delivered, and the final dot is never sent after an early reply.
test_pipelining_desync() {
	start_raw r 'send 220 raw\r\n
expect EHLO
send 250 raw\r\n250 ok\r\n
drain 3'
	hostile_config
	submit
	reason 'data after the reply'
	assert_no_grep '^C: MAIL' "$T/r/transcript"
	again
	start_raw r 'send 220 raw\r\n
expect EHLO
send 250-raw\r\n250 PIPELINING\r\n
expect MAIL
expect RCPT
expect DATA
send 250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n
drain 3'
	hostile_config
	submit
	reason 'data after the reply'
	[ ! -e "$T/r/data.1" ] || fail "data sent after a desync"
	again
	start_raw r "$(prelude data)
send 354 go\\r\\n
sleep 0.5
send 250 2.0.0 queued before seeing it\\r\\n
drain 5"
	hostile_config
	# Larger than loopback's buffers: still being sent when the 250 comes.
	{ printf 'Subject: big\n\n'; head -c 16000000 /dev/zero | tr '\0' 'q' |
	    fold -w 990; } | expect_exit 0 ob bob@example.net
	server_done r
	reason 'before the end of the message'
	assert_no_grep '^C: \.$' "$T/r/transcript"
}
