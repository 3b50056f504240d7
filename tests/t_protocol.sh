# Servers that break the protocol, played by the scripted server.  The
# message must stay queued with a reason, and the client must stop
# talking at the point of the breach.

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
	start_raw r 'send 220 old server\r\n
expect EHLO
send 502 5.5.1 what\r\n
expect HELO client.example.org
send 250 hello\r\n
expect MAIL FROM:<root@example.org>
send 250 ok\r\n
expect RCPT TO:<bob@example.net>
send 250 ok\r\n
expect DATA
send 354 go\r\n
data
send 250 ok\r\n
expect QUIT
send 221 bye\r\n'
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
