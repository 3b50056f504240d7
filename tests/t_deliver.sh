# Normal flows against aiosmtpd with real TLS and AUTH.

# A message for recipients named as arguments arrives for exactly them,
# its body byte for byte, over STARTTLS with AUTH, and leaves the queue.
test_arguments() {
	smart_host s
	config
	printf 'Subject: args\n\nfirst line\n\tindented\nlast\n' >"$T/in"
	expect_exit 0 ob -f sender@example.org bob@example.net 'carol@example.net, Dave <dave@example.com>' <"$T/in"
	[ "$(count_msgs "$T/s")" = 1 ] || fail "expected 1 message"
	printf 'from sender@example.org\nrcpt bob@example.net\nrcpt carol@example.net\nrcpt dave@example.com\nauth alice\ntls yes\n' >"$T/want.env"
	cmp "$T/want.env" "$T/s/msg.1.env" || fail "envelope differs"
	printf 'first line\n\tindented\nlast\n' >"$T/want"
	body "$T/s/msg.1" >"$T/got"
	cmp "$T/want" "$T/got" || fail "body differs"
	assert_grep '^Subject: args' "$T/s/msg.1"
	[ "$(queued)" = 0 ] || fail "queue not empty"
	expect_exit 0 ob -bp
	assert_grep 'Mail queue is empty' "$T/out"
}

# -t takes To, Cc and Bcc (folded, with names and comments); Bcc is gone
# from the copy that arrives; argument recipients are added (Postfix).
test_extract_bcc() {
	smart_host s
	config
	printf '%s\n' 'From: Sender <sender@example.org>' \
	    'To: "Bob, B." <bob@example.net>,' \
	    '  carol@example.net (Carol)' \
	    'Cc: undisclosed-recipients:;, dave@example.com' \
	    'Bcc: secret@example.net,' \
	    '	hidden@example.net' \
	    'Subject: extract' '' 'body' >"$T/in"
	expect_exit 0 ob -t -i extra@example.net <"$T/in"
	[ "$(count_msgs "$T/s")" = 1 ] || fail "expected 1 message"
	for a in extra@example.net bob@example.net carol@example.net \
	    dave@example.com secret@example.net hidden@example.net; do
		assert_grep "^rcpt $a\$" "$T/s/msg.1.env"
	done
	[ "$(grep -c '^rcpt ' "$T/s/msg.1.env")" = 6 ] || fail "recipient count"
	assert_no_grep -i '^bcc' "$T/s/msg.1"
	assert_no_grep 'secret@\|hidden@' "$T/s/msg.1"
	assert_grep '^To: "Bob, B." <bob@example.net>,' "$T/s/msg.1"
	assert_grep '^Cc: ' "$T/s/msg.1"
}

# With -i, lines ".", "..", ".foo" travel dot-stuffed and arrive as
# they were; CRLF input is stored and sent the same as LF input.
test_dots_and_crlf() {
	smart_host s
	config
	printf 'Subject: dots\n\n.\n..\n.foo\nmid.dle\n...\n.\n' >"$T/in"
	expect_exit 0 ob -i bob@example.net <"$T/in"
	printf 'Subject: dots\r\n\r\n.\r\n..\r\n.foo\r\nmid.dle\r\n...\r\n.\r\n' >"$T/in2"
	expect_exit 0 ob -oi bob@example.net <"$T/in2"
	sed '1,/^$/d' "$T/in" >"$T/want"
	body "$T/s/msg.1" >"$T/got1"
	body "$T/s/msg.2" >"$T/got2"
	cmp "$T/want" "$T/got1" || fail "LF body differs"
	cmp "$T/want" "$T/got2" || fail "CRLF body differs"
	# No bare LF reached the server: every line ends in CRLF.
	if tr -d '\r' <"$T/s/msg.1" | cmp -s - "$T/s/msg.1"; then
		fail "no CRLF on the wire"
	fi
	[ "$(grep -c "$(printf '\r')\$" "$T/s/msg.1")" = "$(wc -l <"$T/s/msg.1")" ] ||
	    fail "a line without CRLF arrived"
}

# Without -i a lone dot ends the message; what follows is not sent.
test_lone_dot_ends() {
	smart_host s
	config
	printf 'Subject: dot\n\nkept\n.\nnot sent\n' | expect_exit 0 ob bob@example.net
	body "$T/s/msg.1" >"$T/got"
	printf 'kept\n' | cmp - "$T/got" || fail "lone dot did not end input"
}

# A text body with a line over 998 bytes is re-encoded quoted-printable
# at intake: no line over 998 arrives, and decoding gives back exactly
# the bytes sent (RFC 2045 6.7).  A multipart message, which cannot be
# re-encoded as a whole, has its long line broken on the wire instead.
test_long_line() {
	smart_host s
	config
	long=$(head -c 2500 /dev/zero | tr '\0' 'x')
	printf 'Subject: long\nContent-Transfer-Encoding: 8bit\n\n.%s= \nd\303\251j\303\240 \nend\n' \
	    "$long" >"$T/in"
	expect_exit 0 ob bob@example.net <"$T/in"
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered"
	tr -d '\r' <"$T/s/msg.1" >"$T/m1"
	awk 'length > 998 { exit 1 }' "$T/m1" || fail "a line over 998 arrived"
	assert_grep '^Content-Transfer-Encoding: quoted-printable$' "$T/m1"
	assert_grep '^MIME-Version: 1.0$' "$T/m1"
	assert_grep '^Content-Type: text/plain; charset=utf-8$' "$T/m1"
	[ "$(grep -ci '^content-transfer-encoding' "$T/m1")" = 1 ] ||
	    fail "two encodings"
	sed '1,/^$/d' "$T/in" >"$T/want"
	sed '1,/^$/d' "$T/m1" | "$PY" -c 'import quopri, sys
sys.stdout.buffer.write(quopri.decodestring(sys.stdin.buffer.read()))' >"$T/got"
	cmp "$T/want" "$T/got" || fail "content changed"
	assert_no_grep '8bit' "$T/s/log"
	printf 'Subject: mp\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\n%s\n--b--\n' \
	    "$long" | expect_exit 0 ob bob@example.net
	body "$T/s/msg.2" >"$T/got"
	awk 'length > 998 { exit 1 }' "$T/got" || fail "a line over 998 arrived"
	printf -- '--b\n\n%s\n--b--\n' "$long" | tr -d '\n' >"$T/want1"
	tr -d '\n' <"$T/got" >"$T/got1"
	cmp "$T/want1" "$T/got1" || fail "multipart content changed"
}

# Implicit TLS (port 465 style) delivers too.
test_implicit_tls() {
	start_smtpd s --tls implicit --cert "$CERTS/server.pem" \
	    --key "$CERTS/server.key" --auth alice:s3cret-Pa55
	config tls tls
	printf 'Subject: smtps\n\nhi\n' | expect_exit 0 ob bob@example.net
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered"
	assert_grep '^tls yes' "$T/s/msg.1.env"
	assert_grep '^auth alice' "$T/s/msg.1.env"
	assert_no_grep '^starttls' "$T/s/log"
}

# AUTH PLAIN and AUTH LOGIN each work when they are all the server has;
# auto picks PLAIN when both are offered.
test_auth_mechanisms() {
	for m in PLAIN LOGIN; do
		smart_host "$m" server --mechs "$m"
		config
		printf 'Subject: %s\n\nhi\n' "$m" | expect_exit 0 ob -v bob@example.net
		[ "$(count_msgs "$T/$m")" = 1 ] || fail "AUTH $m: not delivered"
		assert_grep "^>>> AUTH $m" "$T/err"
	done
	config auth login
	smart_host both
	config auth login
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -v bob@example.net
	assert_grep '^>>> AUTH LOGIN' "$T/err"
	config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -v bob@example.net
	assert_grep '^>>> AUTH PLAIN' "$T/err"
	[ "$(count_msgs "$T/both")" = 2 ] || fail "not delivered twice"
}

# The password appears nowhere in a -v trace, neither plain nor in base64.
test_password_not_traced() {
	smart_host s server --mechs LOGIN
	config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -v bob@example.net
	assert_grep '<redacted>' "$T/err"
	b64=$(printf 's3cret-Pa55' | base64)
	plain=$(printf '\0alice\0s3cret-Pa55' | base64)
	assert_no_grep 's3cret' "$T/err"
	assert_no_grep "$b64" "$T/err"
	assert_no_grep "$plain" "$T/err"
	expect_exit 0 ob -bp
	assert_no_grep 's3cret' "$T/out"
}

# Date, Message-ID and From are added once, at intake: what is queued
# is what arrives, whenever it is sent (REQUIREMENTS Q-9).
test_added_headers() {
	smart_host s
	config
	printf 'Subject: bare\n\nhi\n' | expect_exit 0 ob -odq -F 'Cron "Daemon"' bob@example.net
	[ "$(queued)" = 1 ] || fail "not queued"
	q=$(ls "$T/spool/queue")
	mid=$(grep '^Message-ID: <.*@example.org>$' "$T/spool/queue/$q") ||
	    fail "no Message-ID queued"
	grep -q '^Date: [A-Z][a-z][a-z], [0-9][0-9] [A-Z][a-z][a-z] 20[0-9][0-9] [0-9:]* [+-][0-9][0-9][0-9][0-9]$' \
	    "$T/spool/queue/$q" || fail "no RFC 5322 Date queued"
	assert_grep '^From: "Cron \\"Daemon\\"" <' "$T/spool/queue/$q"
	sleep 1
	expect_exit 0 ob -q
	assert_grep "^$mid" "$T/s/msg.1"
	grep '^Date: ' "$T/spool/queue/$q" 2>/dev/null && fail "still queued"
	[ "$(grep -c '^Message-ID:' "$T/s/msg.1")" = 1 ] || fail "Message-ID twice"
	# A message that has them keeps its own.
	printf 'Date: Tue, 1 Jan 2030 00:00:00 +0000\nMessage-ID: <own@x>\nFrom: me@example.org\n\nhi\n' |
	    expect_exit 0 ob bob@example.net
	assert_grep '^Message-ID: <own@x>' "$T/s/msg.2"
	[ "$(grep -c '^Date:\|^From:\|^Message-ID:' "$T/s/msg.2")" = 3 ] || fail "headers added twice"
}

# One queue run sends every queued message over one session, RSET
# between messages.
test_one_session() {
	smart_host s
	config
	for i in 1 2 3; do
		printf 'Subject: %s\n\nhi\n' "$i" | expect_exit 0 ob -odq bob@example.net
	done
	[ "$(queued)" = 3 ] || fail "not 3 queued"
	expect_exit 0 ob -q
	[ "$(count_msgs "$T/s")" = 3 ] || fail "not 3 delivered"
	[ "$(grep -c '^connect' "$T/s/log")" = 1 ] || fail "more than one session"
	[ "$(grep -c '^rset' "$T/s/log")" = 2 ] || fail "no RSET between messages"
	[ "$(queued)" = 0 ] || fail "queue not empty"
}

# Local names go to admin when it is set, else get the domain.
test_local_rewriting() {
	smart_host s
	config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob root 'www-data@localhost'
	assert_grep '^rcpt root@example.org$' "$T/s/msg.1.env"
	assert_grep '^rcpt www-data@example.org$' "$T/s/msg.1.env"
	assert_grep '^from root@example.org$' "$T/s/msg.1.env"
	config admin ops@example.com
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob root "root@$(hostname)" other@example.net
	assert_grep '^rcpt ops@example.com$' "$T/s/msg.2.env"
	assert_grep '^rcpt other@example.net$' "$T/s/msg.2.env"
	[ "$(grep -c '^rcpt ' "$T/s/msg.2.env")" = 2 ] || fail "admin not merged"
}

# -odb: exit 0 at once, the child delivers in the background.
test_background_delivery() {
	smart_host s
	config
	printf 'Subject: bg\n\nhi\n' | expect_exit 0 ob -odb bob@example.net
	wait_file "$T/s/msg.1.env"
	assert_grep '^rcpt bob@example.net$' "$T/s/msg.1.env"
	i=0
	while [ "$(queued)" != 0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ "$(queued)" = 0 ] || fail "not removed after background delivery"
}
