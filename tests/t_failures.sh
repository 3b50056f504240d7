# Servers that refuse, cannot be trusted, or are not there.  In each
# case the message stays queued with the reason, and nothing is sent
# that the configuration does not allow.

# The reason for the last failure, as mailq shows it.
mailq_says() {
	expect_exit 0 ob -bp
	assert_grep "$1" "$T/out"
}

test_wrong_password() {
	smart_host s
	config password wrong
	sed -i '/^password s3cret/d' "$T/outbox.conf"
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob bob@example.net
	assert_grep 'queued; will be retried' "$T/err"
	[ "$(queued)" = 1 ] || fail "not queued"
	mailq_says 'AUTH PLAIN as alice failed: 535'
	mailq_says '<bob@example.net>'
	assert_grep '^auth fail' "$T/s/log"
	assert_no_grep '^mail' "$T/s/log"
	[ "$(count_msgs "$T/s")" = 0 ] || fail "delivered"
	# -q reports the deferral in its exit status.
	expect_exit 75 ob -q
}

# A certificate from an unknown CA, or for another name: the handshake
# fails, nothing more is said, the message waits with the reason.
test_bad_certificates() {
	for c in 'untrusted:certificate not trusted' \
	    'wrongname:does not match the host name'; do
		smart_host "${c%%:*}" "${c%%:*}"
		config
		printf 'Subject: x\n\nhi\n' | expect_exit 0 ob bob@example.net
		mailq_says "${c#*:}"
		assert_no_grep '^auth\|^mail' "$T/${c%%:*}/log"
		[ "$(grep -c '^ehlo' "$T/${c%%:*}/log")" = 1 ] ||
		    fail "EHLO after a failed handshake"
		rm -f "$T"/spool/queue/* "$T"/spool/state/*
	done
}

# tls starttls and a server without STARTTLS: EHLO, then QUIT, and
# nothing else; the message waits (T-2).
test_no_starttls_offered() {
	start_smtpd s --tls none --auth alice:s3cret-Pa55
	config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob bob@example.net
	[ "$(queued)" = 1 ] || fail "not queued"
	mailq_says 'does not offer STARTTLS'
	assert_no_grep '^auth\|^mail\|^starttls' "$T/s/log"
	assert_grep '^quit' "$T/s/log"
	[ "$(count_msgs "$T/s")" = 0 ] || fail "delivered in clear"
	# The same with a scripted server: every client line is accounted for.
	start_raw r 'send 220 raw ESMTP\r\n
expect EHLO
send 250-raw\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n
expect QUIT
send 221 bye\r\n
close'
	config
	expect_exit 75 ob -q
	[ "$(grep -c '^C: ' "$T/r/transcript")" = 2 ] || {
		cat "$T/r/transcript" >&2; fail "client said more than EHLO and QUIT"; }
	[ ! -s "$T/r/errors" ] || fail "$(cat "$T/r/errors")"
}

# A STARTTLS refused with 454 is the same: QUIT, message waits.
test_starttls_refused() {
	start_raw r 'send 220 raw ESMTP\r\n
expect EHLO
send 250-raw\r\n250 STARTTLS\r\n
expect STARTTLS
send 454 4.7.0 TLS not available\r\n
expect QUIT
send 221 bye\r\n
close'
	config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob bob@example.net
	mailq_says 'STARTTLS refused: 454 4.7.0 TLS not available'
	[ ! -s "$T/r/errors" ] || fail "$(cat "$T/r/errors")"
}

# tls off with a user would send the password in clear: refused (T-1).
test_tls_off_with_auth() {
	start_smtpd s --tls none
	config tls off
	printf 'Subject: x\n\nhi\n' | expect_exit 78 ob bob@example.net
	assert_grep 'tls off with user set' "$T/err"
	[ "$(queued)" = 0 ] || fail "queued"
	# Without a user, tls off delivers (the admin spelled it out).
	config tls off
	sed -i '/^user \|^password /d' "$T/outbox.conf"
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob bob@example.net
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered"
	assert_grep '^tls no' "$T/s/msg.1.env"
}

# Server down: exit 0 and queued; server up: one -q delivers it exactly
# once and empties the queue; a second -q sends nothing.
test_server_down_then_up() {
	PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	config
	printf 'Subject: later\n\nhi\n' | expect_exit 0 ob bob@example.net
	assert_grep 'queued; will be retried' "$T/err"
	[ "$(queued)" = 1 ] || fail "not queued"
	mailq_says 'unable to connect to localhost'
	expect_exit 75 ob -q
	smart_host s
	config
	expect_exit 0 ob -q
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered once"
	[ "$(queued)" = 0 ] || fail "queue not empty"
	ls "$T/spool/state" | grep -q . && fail "state left behind"
	expect_exit 0 ob -q
	[ "$(count_msgs "$T/s")" = 1 ] || fail "delivered twice"
	assert_grep '^Subject: later' "$T/s/msg.1"
}

# A 5xx recipient gets a bounce to the sender (RFC 3464) while the other
# recipient is delivered; the failed message is kept in failed/.
test_rejected_recipient_bounces() {
	smart_host s server --reject bad@example.net
	config
	printf 'Subject: partly\nMessage-ID: <orig@example.org>\n\nhi\n' |
	    expect_exit 0 ob -f sender@example.org good@example.net bad@example.net
	[ "$(count_msgs "$T/s")" = 2 ] || fail "expected the message and a bounce"
	assert_grep '^rcpt good@example.net$' "$T/s/msg.1.env"
	assert_no_grep 'bad@' "$T/s/msg.1.env"
	# The bounce: null sender, to the sender, a multipart/report.
	assert_grep '^from $' "$T/s/msg.2.env"
	assert_grep '^rcpt sender@example.org$' "$T/s/msg.2.env"
	assert_grep 'report-type=delivery-status' "$T/s/msg.2"
	assert_grep '^Final-Recipient: rfc822; bad@example.net' "$T/s/msg.2"
	assert_grep '^Action: failed' "$T/s/msg.2"
	assert_grep '^Status: 5.1.1' "$T/s/msg.2"
	assert_grep '^Diagnostic-Code: smtp; 550 5.1.1' "$T/s/msg.2"
	assert_grep '^Message-ID: <orig@example.org>' "$T/s/msg.2"
	assert_grep '^From: Mail Delivery System <MAILER-DAEMON@example.org>' "$T/s/msg.2"
	[ "$(queued)" = 0 ] || fail "queue not empty"
	[ "$(kept_failed)" = 1 ] || fail "not kept in failed/"
	expect_exit 0 ob -bp
	assert_grep 'Mail queue is empty' "$T/out"
}

# A bounce for a local sender goes to admin; a bounce is never bounced.
test_bounce_routing() {
	smart_host s server --reject bad@example.net --reject ops@example.com
	config admin ops@example.com
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -f root bad@example.net
	# The message fails, its bounce to admin fails too: no third message.
	[ "$(count_msgs "$T/s")" = 0 ] || fail "something was accepted"
	assert_grep '^rcpt bad@example.net 550' "$T/s/log"
	assert_grep '^rcpt ops@example.com 550' "$T/s/log"
	[ "$(grep -c '^rcpt ' "$T/s/log")" = 2 ] || fail "a bounce of a bounce was tried"
	[ "$(queued)" = 0 ] || fail "queue not empty"
	[ "$(kept_failed)" = 2 ] || fail "not both in failed/"
	grep -q 'MAILER-DAEMON' "$T"/spool/failed/* || fail "bounce not kept"
}

# A 4xx recipient waits while the other is delivered; the next run
# sends only to it.
test_deferred_recipient() {
	smart_host s server --defer later@example.net
	config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob now@example.net later@example.net
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered to now@"
	[ "$(queued)" = 1 ] || fail "not kept for later@"
	expect_exit 0 ob -bp
	assert_grep '<now@example.net>  sent' "$T/out"
	assert_grep '451 4.3.0' "$T/out"
	stop_servers
	smart_host s2
	config
	expect_exit 0 ob -q
	[ "$(count_msgs "$T/s2")" = 1 ] || fail "not retried"
	assert_grep '^rcpt later@example.net$' "$T/s2/msg.1.env"
	[ "$(grep -c '^rcpt ' "$T/s2/msg.1.env")" = 1 ] || fail "now@ sent twice"
}

# A 5xx to MAIL FROM fails the whole message (a bounce); a 4xx to DATA's
# final dot leaves it queued.
test_transaction_replies() {
	start_raw r 'send 220 raw ESMTP\r\n
expect EHLO
send 250 raw\r\n
expect MAIL FROM:<sender@example.org>
send 553 5.7.1 sender refused\r\n
expect RSET
send 250 ok\r\n
expect MAIL FROM:<>
send 250 ok\r\n
expect RCPT TO:<sender@example.org>
send 250 ok\r\n
expect DATA
send 354 go\r\n
data
send 451 4.3.0 try later\r\n
expect QUIT
send 221 bye\r\n
close'
	config tls off
	sed -i '/^user \|^password /d' "$T/outbox.conf"
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -f sender@example.org bob@example.net
	[ ! -s "$T/r/errors" ] || fail "$(cat "$T/r/errors")"
	assert_grep 'Final-Recipient: rfc822; bob@example.net' "$T/r/data.1"
	assert_grep 'Status: 5.7.1' "$T/r/data.1"
	[ "$(queued)" = 1 ] || fail "the deferred bounce is not queued"
	expect_exit 0 ob -bp
	assert_grep '451 4.3.0 try later' "$T/out"
}

# A corrupt queue file is moved aside, never sent (Q-2); tmp/ debris
# older than 36 hours is removed, younger is left (Q-3).
test_corrupt_and_stale() {
	smart_host s
	config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	q=$(ls "$T/spool/queue")
	head -c -8 "$T/spool/queue/$q" >"$T/cut" && cat "$T/cut" >"$T/spool/queue/$q"
	: >"$T/spool/tmp/old"
	touch -d '40 hours ago' "$T/spool/tmp/old"
	: >"$T/spool/tmp/young"
	expect_exit 0 ob -q
	[ "$(count_msgs "$T/s")" = 0 ] || fail "a corrupt file was sent"
	[ -f "$T/spool/corrupt/$q" ] || fail "not moved to corrupt/"
	[ -e "$T/spool/tmp/old" ] && fail "stale tmp file kept"
	[ -e "$T/spool/tmp/young" ] || fail "young tmp file removed"
	# A checksum mismatch is caught as well.
	printf 'Subject: x\n\nhello\n' | expect_exit 0 ob -odq bob@example.net
	q=$(ls "$T/spool/queue")
	sed -i 's/hello/HELLO/' "$T/spool/queue/$q"
	expect_exit 0 ob -q
	[ -f "$T/spool/corrupt/$q" ] || fail "checksum mismatch not caught"
	[ "$(count_msgs "$T/s")" = 0 ] || fail "a corrupt file was sent"
}

# A message older than maxage is bounced with status 4.4.7 and the last
# error, and kept in failed/ (Q-10).
test_expiry() {
	PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	config maxage 1s
	printf 'Subject: old\n\nhi\n' | expect_exit 0 ob -f sender@example.org bob@example.net
	sleep 2
	smart_host s
	config maxage 1s
	expect_exit 0 ob -q
	[ "$(count_msgs "$T/s")" = 1 ] || fail "expected only the bounce"
	assert_grep '^rcpt sender@example.org$' "$T/s/msg.1.env"
	assert_grep '^Status: 4.4.7' "$T/s/msg.1"
	assert_grep 'expired after 0 days in the queue; last error: unable to connect' "$T/s/msg.1"
	assert_grep '^Subject: old' "$T/s/msg.1"
	[ "$(queued)" = 0 ] || fail "queue not empty"
	[ "$(kept_failed)" = 1 ] || fail "not kept in failed/"
}
