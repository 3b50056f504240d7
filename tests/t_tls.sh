# TLS: trust anchors (cafile, capath), certificate checks, key pins,
# client certificates, and servers that break STARTTLS.  Each case is
# delivered, or refused with the message kept queued, the reason in
# mailq, and no MAIL at the server.  Certificates come from
# tests/mkcerts.sh.

# tls_server NAME CERT KEY [smtpd.py options]: the smart host with any
# certificate and key file of $CERTS, STARTTLS and AUTH as smart_host.
tls_server() {
	_n=$1; _c=$2; _k=$3; shift 3
	start_smtpd "$_n" --cert "$CERTS/$_c" --key "$CERTS/$_k" \
	    --auth alice:s3cret-Pa55 "$@"
}

# A certificate for localhost from the configured CA: delivered over
# STARTTLS.
test_tls_good_cert() {
	smart_host s
	config
	deliver_ok s
	assert_grep '^starttls$' "$T/s/log"
	assert_grep '^tls yes' "$T/s/msg.1.env"
	assert_grep '^auth alice' "$T/s/msg.1.env"
}

# capath: every regular file of the directory, symbolic links followed,
# other things skipped; a duplicate anchor is no error.
test_tls_capath() {
	smart_host s
	mkdir -p "$T/capath/subdir"
	cp "$CERTS/ca.pem" "$T/capath/copy-of-ca.pem"
	ln -s "$CERTS/ca.pem" "$T/capath/link-to-ca.pem"
	printf 'not a certificate\n' >"$T/capath/README"
	head -c 600 /dev/urandom >"$T/capath/binary.der"
	cp "$CERTS/otherca.pem" "$T/capath/other.pem"
	config
	conf_del cafile
	conf_add capath "$T/capath"
	deliver_ok s
	# The anchor reached only through the link counts as well.
	rm "$T/capath/copy-of-ca.pem"
	deliver_ok s
	# Without ca.pem the server is not trusted: the others were read,
	# and are not enough.
	rm "$T/capath/link-to-ca.pem"
	stop_servers
	smart_host s2
	config
	conf_del cafile
	conf_add capath "$T/capath"
	refused s2 'not trusted'
}

# A cafile or capath without a single certificate: the queue run stops
# with status 78 and names it; nothing is sent, the message stays.
test_tls_no_anchors() {
	smart_host s
	printf 'no PEM in here\n' >"$T/junk.pem"
	config
	conf_del cafile
	conf_add cafile "$T/junk.pem"
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	expect_exit 78 ob -q
	assert_grep "$T/junk.pem" "$T/err"
	[ "$(queued)" = 1 ] || fail "not kept queued"
	mkdir "$T/emptydir"
	printf 'nothing\n' >"$T/emptydir/notes.txt"
	conf_del cafile
	conf_add capath "$T/emptydir"
	expect_exit 78 ob -q
	assert_grep "$T/emptydir" "$T/err"
	[ "$(queued)" = 1 ] || fail "not kept queued"
	assert_no_grep '^connect' "$T/s/log"
	no_mail s
}

# Dates: a certificate past its end, and one whose start is still ahead.
# Each reason is told apart from the other.
test_tls_expired() {
	smart_host s expired
	config
	refused s 'expired'
	assert_no_grep 'not yet valid' "$T/mailq"
	assert_no_grep '^auth' "$T/s/log"
}

test_tls_not_yet_valid() {
	smart_host s future
	config
	refused s 'not yet valid'
	assert_no_grep 'expired' "$T/mailq"
	assert_no_grep '^auth' "$T/s/log"
}

test_tls_wrong_name() {
	smart_host s wrongname
	config
	refused s 'does not match the host name'
	assert_no_grep '^auth' "$T/s/log"
}

test_tls_untrusted() {
	smart_host s untrusted
	config
	refused s 'not trusted'
	assert_no_grep '^auth' "$T/s/log"
}

# A self-signed certificate: refused, unless its key is pinned; a pin
# replaces the CA check, so it needs no cafile entry.
test_tls_selfsigned() {
	smart_host s selfsigned
	config
	refused s 'not trusted'
	assert_no_grep '^auth' "$T/s/log"
	unqueue
	config pin "$(pin_of selfsigned)"
	deliver_ok s
	assert_grep '^auth ok alice' "$T/s/log"
}

# With pins the server's key must be one of them: a CA-valid certificate
# with another key is refused, and so is the self-signed one with the
# pin of another; of several pins one matching is enough.
test_tls_pin_mismatch() {
	smart_host s
	config pin "$(pin_of untrusted)"
	refused s 'does not match any pin'
	assert_no_grep '^auth' "$T/s/log"
	unqueue
	stop_servers
	smart_host ss selfsigned
	config pin "$(pin_of server)"
	refused ss 'does not match any pin'
	unqueue
	config pin "$(pin_of server)" pin "$(pin_of selfsigned)" \
	    pin "$(pin_of ec)"
	deliver_ok ss
}

# A pin that is not sha256// and 32 bytes of base64 is a configuration
# error naming the file and line, before anything is queued or sent.
test_tls_malformed_pin() {
	smart_host s
	good=$(pin_of server)
	short=sha256//$(head -c 31 /dev/zero | base64)
	# A well-formed pin is taken (so what follows is about the values).
	config pin "$good"
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	unqueue
	for bad in "${good#sha256//}" "sha1//${good#sha256//}" "$short" \
	    "sha256//not*base64*at*all*not*base64*at*all*x=" 'sha256//' \
	    "$good junk"; do
		config pin "$bad"
		line=$(grep -n '^pin ' "$T/outbox.conf" | cut -d: -f1)
		printf 'Subject: x\n\nhi\n' | expect_exit 78 ob bob@example.net
		assert_grep "$T/outbox.conf:$line:" "$T/err"
		expect_exit 78 ob -q
		[ "$(queued)" = 0 ] || fail "queued with pin '$bad'"
	done
	assert_no_grep '^connect' "$T/s/log"
}

# The server sends its leaf and an intermediate; only the root is in
# cafile.  Without the intermediate the chain does not reach the root.
test_tls_chain() {
	tls_server s chain.pem chain.key
	config
	deliver_ok s
	stop_servers
	tls_server leaf chainleaf.pem chain.key
	config
	refused leaf 'not trusted'
}

# host given as an address: the certificate must name that address
# (subjectAltName IP); a certificate with DNS names only does not match.
test_tls_ip_host() {
	smart_host s ip
	config
	conf_del host
	conf_add host 127.0.0.1
	deliver_ok s
	stop_servers
	smart_host dns
	config
	conf_del host
	conf_add host 127.0.0.1
	refused dns 'does not match the host name'
	# And a name is not matched against the addresses.
	stop_servers
	unqueue
	smart_host ipname ip
	config
	refused ipname 'does not match the host name'
}

# An ECDSA P-256 server key (under the RSA CA).
test_tls_ec_cert() {
	smart_host s ec
	config
	deliver_ok s
	assert_grep '^tls yes' "$T/s/msg.1.env"
}

# A server that speaks TLS 1.3 only: the handshake fails with BearSSL's
# own error name.
test_tls13_only_server() {
	smart_host s server --tls13-only
	config
	refused s 'BR_ERR_'
	assert_no_grep '^starttls$' "$T/s/log"
}

# tls tls (implicit TLS) towards a server that greets in plaintext.
test_tls_implicit_to_plaintext() {
	start_smtpd s --tls none --auth alice:s3cret-Pa55
	config tls tls
	refused s 'plaintext'
	assert_no_grep '^ehlo\|^auth' "$T/s/log"
}

# A server that requires a client certificate: none, or one from a CA it
# does not trust, fails the handshake.
test_tls_client_cert_required() {
	smart_host s server --client-ca "$CERTS/clientca.pem" \
	    --require-client-cert
	config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	expect_exit 75 ob -q
	[ "$(queued)" = 1 ] || fail "not kept queued"
	config tls_cert "$CERTS/clientbad.pem" tls_key "$CERTS/clientbad.key"
	expect_exit 75 ob -q
	[ "$(queued)" = 1 ] || fail "not kept queued"
	[ "$(grep -c '^starttls fail' "$T/s/log")" = 2 ] ||
	    fail "the server did not see two failed handshakes"
	assert_no_grep '^tls client\|^auth' "$T/s/log"
	no_mail s
}

test_tls_client_cert_rsa() {
	smart_host s server --client-ca "$CERTS/clientca.pem" \
	    --require-client-cert
	config tls_cert "$CERTS/client.pem" tls_key "$CERTS/client.key"
	deliver_ok s
	assert_grep '^tls client outbox client$' "$T/s/log"
	assert_grep '^auth ok alice' "$T/s/log"
	# The same with implicit TLS.
	start_smtpd i --tls implicit --cert "$CERTS/server.pem" \
	    --key "$CERTS/server.key" --auth alice:s3cret-Pa55 \
	    --client-ca "$CERTS/clientca.pem" --require-client-cert
	config tls tls tls_cert "$CERTS/client.pem" tls_key "$CERTS/client.key"
	deliver_ok i
	assert_grep '^tls client outbox client$' "$T/i/log"
}

test_tls_client_cert_ec() {
	smart_host s server --client-ca "$CERTS/clientca.pem" \
	    --require-client-cert
	config tls_cert "$CERTS/clientec.pem" tls_key "$CERTS/clientec.key"
	deliver_ok s
	assert_grep '^tls client outbox client$' "$T/s/log"
}

# The private key of the client certificate must be 0600 or stricter: a
# readable one stops with status 78 naming the file and its mode.
test_tls_key_mode() {
	smart_host s server --client-ca "$CERTS/clientca.pem"
	cp "$CERTS/client.key" "$T/client.key"
	chmod 644 "$T/client.key"
	config tls_cert "$CERTS/client.pem" tls_key "$T/client.key"
	# Refused at intake (configuration load) or at the queue run.
	printf 'Subject: x\n\nhi\n' | ob -odq bob@example.net >"$T/out" 2>"$T/err"
	rc=$?
	if [ $rc = 0 ]; then
		expect_exit 78 ob -q
		[ "$(queued)" = 1 ] || fail "not kept queued"
	elif [ $rc != 78 ]; then
		sed 's/^/    stderr: /' "$T/err" >&2
		fail "intake exited $rc, expected 0 or 78"
	fi
	assert_grep "$T/client.key" "$T/err"
	assert_grep '0644\|mode 644\|rw-r--r--' "$T/err"
	assert_no_grep '^tls client' "$T/s/log"
	no_mail s
	# 0600 is fine.
	chmod 600 "$T/client.key"
	[ "$(queued)" = 1 ] || printf 'Subject: x\n\nhi\n' |
	    expect_exit 0 ob -odq bob@example.net
	expect_exit 0 ob -q
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered with a 0600 key"
}

# A client certificate and no user: AUTH EXTERNAL when offered (the
# server takes the certificate's name), no AUTH when AUTH is not offered.
test_tls_auth_external() {
	smart_host s server --client-ca "$CERTS/clientca.pem" \
	    --mechs EXTERNAL,PLAIN
	config tls_cert "$CERTS/client.pem" tls_key "$CERTS/client.key"
	conf_del user password
	deliver_ok s
	assert_grep '^auth mech EXTERNAL$' "$T/s/log"
	assert_grep '^auth ok outbox client$' "$T/s/log"
	assert_grep '^auth outbox client$' "$T/s/msg.1.env"
	[ "$(grep -c '^auth mech' "$T/s/log")" = 1 ] || fail "more than one AUTH"
	stop_servers
	# With a user as well, auto still puts EXTERNAL first.
	smart_host u server --client-ca "$CERTS/clientca.pem" \
	    --mechs PLAIN,SCRAM-SHA-256,EXTERNAL
	config tls_cert "$CERTS/client.pem" tls_key "$CERTS/client.key"
	deliver_ok u
	assert_grep '^auth mech EXTERNAL$' "$T/u/log"
	assert_grep '^auth ok outbox client$' "$T/u/log"
	stop_servers
	# No AUTH offered: sent without it.
	start_smtpd n --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
	    --client-ca "$CERTS/clientca.pem"
	config tls_cert "$CERTS/client.pem" tls_key "$CERTS/client.key"
	conf_del user password
	deliver_ok n
	assert_grep '^tls client outbox client$' "$T/n/log"
	assert_no_grep '^auth' "$T/n/log"
}

# STARTTLS injection (CVE-2011-0411): the 220 to STARTTLS and a 250 in
# one packet.  The client stops there: no handshake, and not a byte more
# on that connection, except perhaps QUIT.
test_tls_starttls_injection() {
	start_raw r 'send 220 raw ESMTP\r\n
expect EHLO
send 250-raw\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n
expect STARTTLS
send 220 go\r\n250 injected\r\n
drain 3'
	config
	refused r 'after the reply to STARTTLS'
	assert_no_grep '^--- tls' "$T/r/transcript"
	sed '1,/^C: STARTTLS$/d' "$T/r/transcript" | grep '^C: ' >"$T/after" || :
	grep -v '^C: QUIT$' "$T/after" >"$T/extra" || :
	[ ! -s "$T/extra" ] || {
		sed 's/^/    | /' "$T/r/transcript" >&2
		fail "the client went on after the injected reply"
	}
	[ ! -s "$T/r/errors" ] || fail "$(cat "$T/r/errors")"
}

# STARTTLS offered on the first connection (whose handshake fails: the
# server answers the ClientHello with text) and stripped on the second:
# there the client says EHLO and QUIT and nothing else.
test_tls_starttls_stripped() {
	start_raw r 'connection 1
send 220 raw ESMTP\r\n
expect EHLO
send 250-raw\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n
expect STARTTLS
send 220 go ahead\r\n
drain 1
send this is not TLS at all\r\n
drain 2
connection 2
send 220 raw ESMTP\r\n
expect EHLO
send 250-raw\r\n250 AUTH PLAIN LOGIN\r\n
expect QUIT
send 221 bye\r\n' --conns 2
	config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	expect_exit 75 ob -q
	[ "$(queued)" = 1 ] || fail "not kept queued"
	# Connection 1 got as far as a ClientHello (a handshake record).
	sed -n '/^--- connection 1$/,/^--- connection 2$/p' "$T/r/transcript" |
	    grep -q '^C: \\x16\\x03' || fail "no handshake on connection 1"
	requeue_refused r 'does not offer STARTTLS'
	sed -n '/^--- connection 2$/,$p' "$T/r/transcript" | grep '^C: ' >"$T/c2"
	printf 'C: EHLO client.example.org\nC: QUIT\n' | cmp -s - "$T/c2" || {
		sed 's/^/    | /' "$T/r/transcript" >&2
		fail "connection 2: not exactly EHLO and QUIT"
	}
	[ ! -s "$T/r/errors" ] || fail "$(cat "$T/r/errors")"
}
