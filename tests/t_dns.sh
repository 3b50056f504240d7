# The resolver: outbox finds the smart host's addresses itself, asking
# the name servers of the resolv.conf that $OUTBOX_RESOLV_CONF names
# (NSD, on port 53 of an address of 127.53.0.0/16 of its own) and reading
# /etc/hosts.  Each case ends at the SMTP server: a message delivered, or
# none and not even a connection, with the message kept queued and the
# reason in mailq.  The smart host speaks plain SMTP here: its
# certificate names localhost, not the names these tests make up.

# ob, bounded: a resolver that hangs fails its test (status 124), not the
# whole suite.
ob() {
	timeout -k 5 60 "$OUTBOX" -C "$T/outbox.conf" "$@"
}

# dns_config HOST [key value]...: the test's config for the plain SMTP
# server on $PORT at HOST, without TLS and so without AUTH.
dns_config() {
	_h=$1; shift
	config tls off "$@"
	conf_del host user password
	conf_add host "$_h"
}

# dns_refused NAME TEXT: as refused (lib.sh), and TEXT is in mailq
# itself, and the server in $T/NAME did not even see a connection.
dns_refused() {
	refused "$@"
	dns_refused_too "$@"
}

dns_refused_too() {
	grep -q -F -e "$2" "$T/mailq" || {
		sed 's/^/    mailq: /' "$T/mailq" >&2
		fail "mailq does not give '$2' as the reason"
	}
	assert_no_grep '^connect' "$T/$1/log"
}

# ms_now: a clock in milliseconds, for the reports.
ms_now() {
	echo $(($(date +%s%N) / 1000000))
}

# secs MS: MS milliseconds as seconds with one decimal.
secs() {
	printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100))
}

# A name with an A record only: delivered to that address.
test_dns_a() {
	dns_ready
	start_smtpd s
	zone ns outbox.test 'mail IN A 127.0.0.1'
	start_nsd ns
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:2'
	dns_config mail.outbox.test
	deliver_ok s
	assert_grep '^connect$' "$T/s/log"
	assert_grep '^rcpt bob@example.net$' "$T/s/msg.1.env"
}

# A name with an AAAA record only, the server on ::1: delivered.
test_dns_aaaa() {
	dns_ready
	start_smtpd s --bind ::1
	zone ns outbox.test 'mail6 IN AAAA ::1'
	start_nsd ns
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:2'
	dns_config mail6.outbox.test
	deliver_ok s
	assert_grep '^connect$' "$T/s/log"
}

# A and AAAA records where only the last address has a server.  Whichever
# family goes first, interleaving puts [::1] and [127.0.0.2] (nothing
# listens on the port there) before [127.0.0.1]: both are tried, and each
# failure said ("[ADDR]:PORT: reason") in the -v trace or the log, before
# delivery.  With no server at any address,
# the error names each one with its reason.
test_dns_fallback() {
	dns_ready
	start_smtpd s
	zone ns outbox.test \
	    'mail IN AAAA ::1' 'mail IN A 127.0.0.2' 'mail IN A 127.0.0.1' \
	    'dead IN AAAA ::1' 'dead IN A 127.0.0.2' 'dead IN A 127.0.0.3'
	start_nsd ns
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:2'
	dns_config dead.outbox.test
	dns_refused s "[::1]:$PORT: "
	for a in 127.0.0.2 127.0.0.3; do
		dns_refused_too s "[$a]:$PORT: "
	done
	unqueue
	dns_config mail.outbox.test
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	# The trace: -v on stderr, then what went to syslog where it can be
	# caught (syslog_run, lib.sh).
	if (syslog_ready) >/dev/null 2>&1; then
		expect_exit 0 syslog_run "$T/syslog.txt" \
		    timeout -k 5 60 "$OUTBOX" -C "$T/outbox.conf" -v -q
	else
		expect_exit 0 ob -v -q
	fi
	cat "$T/err" "$T/syslog.txt" >"$T/trace" 2>/dev/null
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered"
	[ "$(queued)" = 0 ] || fail "queue not empty"
	[ "$(grep -c '^connect$' "$T/s/log")" = 1 ] ||
	    fail "not exactly one connection at the server"
	good=$(grep -n -F "[127.0.0.1]:$PORT" "$T/err" | head -n 1 | cut -d: -f1)
	for a in ::1 127.0.0.2; do
		grep -q -F "[$a]:$PORT: " "$T/trace" || {
			sed 's/^/    trace: /' "$T/trace" >&2
			fail "[$a]:$PORT was not tried, or not said so (-v, syslog)"
		}
		line=$(grep -n -F "[$a]:$PORT: " "$T/err" | head -n 1 |
		    cut -d: -f1)
		[ -z "$good" ] || [ -z "$line" ] || [ "$line" -lt "$good" ] ||
		    fail "[$a]:$PORT tried after [127.0.0.1]:$PORT"
	done
}

# A chain of three CNAMEs to an A record: delivered.
test_dns_cname() {
	dns_ready
	start_smtpd s
	zone ns outbox.test 'smtp IN CNAME relay' 'relay IN CNAME out' \
	    'out IN CNAME mail' 'mail IN A 127.0.0.1'
	start_nsd ns
	dns_tool query "$NS" smtp.outbox.test A >"$T/answer"
	[ "$(grep -c ' CNAME ' "$T/answer")" = 3 ] ||
	    fail "NSD did not give the chain: $(cat "$T/answer")"
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:2'
	dns_config smtp.outbox.test
	deliver_ok s
}

# The CNAME cap: a chain of 8 links is followed, one of 9 is not, and
# neither is a loop, which ends at once rather than at a time-out.
test_dns_cname_limit() {
	dns_ready
	start_smtpd s
	zone ns outbox.test 'loop1 IN CNAME loop2' 'loop2 IN CNAME loop1'
	i=1
	while [ $i -le 9 ]; do
		echo "l$i IN CNAME l$((i + 1))"
		i=$((i + 1))
	done >>"$T/ns/outbox.test.zone"
	echo 'l10 IN A 127.0.0.1' >>"$T/ns/outbox.test.zone"
	start_nsd ns
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:2'
	dns_config l1.outbox.test
	dns_refused s 'CNAME'
	unqueue
	dns_config loop1.outbox.test
	t0=$(ms_now)
	dns_refused s 'CNAME'
	ms=$(($(ms_now) - t0))
	[ $ms -lt 5000 ] || fail "a CNAME loop took $(secs $ms) s"
	unqueue
	dns_config l2.outbox.test
	deliver_ok s
}

test_dns_nxdomain() {
	dns_ready
	start_smtpd s
	zone ns outbox.test 'mail IN A 127.0.0.1'
	start_nsd ns
	dns_tool query "$NS" nx.outbox.test A >"$T/answer"
	assert_grep '^rcode 3 ' "$T/answer"
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:2'
	dns_config nx.outbox.test
	dns_refused s 'no such domain'
}

# Names that exist without an address: an MX (to a host that has one,
# which a null client must not follow) and a TXT.
test_dns_no_address() {
	dns_ready
	start_smtpd s
	zone ns outbox.test 'mail IN A 127.0.0.1' 'mx IN MX 10 mail' \
	    'txt IN TXT "no address here"'
	start_nsd ns
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:2'
	for h in mx txt; do
		dns_tool query "$NS" $h.outbox.test A >"$T/answer"
		assert_grep '^rcode 0 tc 0 an 0$' "$T/answer"
		dns_config $h.outbox.test
		dns_refused s 'no address'
		assert_no_grep 'no such domain' "$T/mailq"
		unqueue
	done
}

# A zone whose file does not load: NSD answers SERVFAIL for it.
test_dns_servfail() {
	dns_ready
	start_smtpd s
	zone ns outbox.test 'mail IN A 127.0.0.1'
	mkdir -p "$T/ns"
	printf 'this is not a zone file\n' >"$T/ns/broken.test.zone"
	start_nsd ns
	dns_tool query "$NS" mail.broken.test A >"$T/answer"
	assert_grep '^rcode 2 ' "$T/answer"
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:2'
	dns_config mail.broken.test
	dns_refused s 'SERVFAIL'
}

# A name server that never answers: with timeout:1 attempts:2 the queue
# run gives up well within 10 s, saying so.
test_dns_no_answer() {
	dns_ready
	start_smtpd s
	start_silent dead
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:2'
	dns_config mail.outbox.test
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	t0=$(ms_now)
	expect_exit 75 ob -q
	ms=$(($(ms_now) - t0))
	[ "$(queued)" = 1 ] || fail "not kept queued"
	expect_exit 0 ob -bp
	cp "$T/out" "$T/mailq"
	dns_refused_too s 'no answer from'
	no_mail s
	[ $ms -lt 10000 ] || fail "the queue run took $(secs $ms) s"
	n=$(grep -c '^udp ' "$T/dead/log")
	[ "$n" -ge 1 ] || fail "the name server got no query"
	report "no answer (timeout:1 attempts:2): queue run $(secs $ms) s," \
	    "$n UDP queries, $(grep -c '^tcp connect' "$T/dead/log") TCP"
}

# The first name server never answers, the second does: delivered.
test_dns_second_server() {
	dns_ready
	start_smtpd s
	start_silent dead
	dead=$NS
	zone ns outbox.test 'mail IN A 127.0.0.1'
	start_nsd ns
	resolv_conf "nameserver $dead" "nameserver $NS" \
	    'options timeout:1 attempts:2'
	dns_config mail.outbox.test
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	t0=$(ms_now)
	expect_exit 0 ob -q
	ms=$(($(ms_now) - t0))
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered"
	[ "$(queued)" = 0 ] || fail "queue not empty"
	grep -q '^udp mail\.outbox\.test\. ' "$T/dead/log" ||
	    fail "the first name server was not asked"
	[ $ms -lt 10000 ] || fail "the queue run took $(secs $ms) s"
	report "first name server silent: delivered in $(secs $ms) s"
}

# More than 512 bytes of answer (40 A records, 127.0.0.1 first, then
# 127.0.0.2 to .40 with nothing on the port): over UDP, without EDNS,
# NSD answers TC and no records at all, so only the TCP retry can find
# an address; and it does, in the server's order.
test_dns_truncated() {
	dns_ready
	start_smtpd s
	zone ns outbox.test
	i=1
	while [ $i -le 40 ]; do
		echo "many IN A 127.0.0.$i"
		i=$((i + 1))
	done >>"$T/ns/outbox.test.zone"
	start_nsd ns
	dns_tool query "$NS" many.outbox.test A >"$T/udp"
	assert_grep '^rcode 0 tc 1 an 0$' "$T/udp"
	dns_tool query --tcp "$NS" many.outbox.test A >"$T/tcp"
	assert_grep '^rcode 0 tc 0 an 40$' "$T/tcp"
	[ "$(sed -n 2p "$T/tcp")" = "many.outbox.test. A 127.0.0.1" ] ||
	    fail "NSD did not keep the zone's order: $(sed -n 2p "$T/tcp")"
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:2'
	dns_config many.outbox.test
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	expect_exit 0 ob -v -q
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered"
	[ "$(queued)" = 0 ] || fail "queue not empty"
	# 127.0.0.1 came first, so no other address failed.
	if grep -E "\[127\.0\.0\.([02-9]|[0-9]{2})\]:$PORT: " "$T/err"; then
		fail "an address after 127.0.0.1 was tried"
	fi
}

# search and ndots: a name with fewer dots than ndots goes through the
# search list first (the first domain answers NXDOMAIN, the second has
# it); one with as many is asked as it is first, and found there.
test_dns_search_ndots() {
	dns_ready
	start_smtpd s
	zone ns outbox.test 'mail IN A 127.0.0.1' 'mail.sub IN A 127.0.0.1'
	zone ns first.test 'other IN A 127.0.0.9'
	# "mail.sub" as it is: an address where nothing listens.
	zone ns sub 'mail IN A 127.0.0.3'
	start_nsd ns
	resolv_conf "nameserver $NS" 'search first.test outbox.test' \
	    'options timeout:1 attempts:2'
	dns_config mail
	deliver_ok s
	resolv_conf "nameserver $NS" 'search first.test outbox.test' \
	    'options ndots:2 timeout:1 attempts:2'
	dns_config mail.sub
	deliver_ok s
	# With ndots 1 (the default), mail.sub is asked as it is first.
	resolv_conf "nameserver $NS" 'search first.test outbox.test' \
	    'options timeout:1 attempts:2'
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	expect_exit 75 ob -q
	[ "$(count_msgs "$T/s")" = 2 ] || fail "mail.sub went to the search list"
	expect_exit 0 ob -bp
	assert_grep "\[127\.0\.0\.3\]:$PORT: " "$T/out"
}

# /etc/hosts is read before any name server is asked: localhost is
# delivered to with a name server that never answers, and that server
# gets no query.  Then a name that only a hosts file of ours has, put on
# /etc/hosts in a private mount namespace (where unshare allows it).
test_dns_hosts() {
	dns_ready
	awk '$1 == "127.0.0.1" { for (i = 2; i <= NF; i++) if ($i == "localhost") f = 1 }
	    END { exit !f }' /etc/hosts ||
	    skip "/etc/hosts does not map localhost to 127.0.0.1"
	start_smtpd s
	start_silent dead
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:1'
	dns_config localhost
	deliver_ok s
	[ ! -s "$T/dead/log" ] || fail "the name server was asked: $(cat "$T/dead/log")"
	printf '# outbox test\n127.0.0.1\tsmarthost.hosts-only.test\n' >"$T/hosts"
	mount_hosts='mount --bind "$1" /etc/hosts || exit 70; shift; exec "$@"'
	if ! command -v unshare >/dev/null 2>&1 ||
	    ! unshare -m --propagation private sh -c "$mount_hosts" sh \
	    "$T/hosts" true </dev/null >/dev/null 2>&1; then
		report "no private mount namespace: only localhost checked"
		return 0
	fi
	dns_config smarthost.hosts-only.test
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	expect_exit 0 unshare -m --propagation private sh -c "$mount_hosts" sh \
	    "$T/hosts" timeout -k 5 60 "$OUTBOX" -C "$T/outbox.conf" -q
	[ "$(count_msgs "$T/s")" = 2 ] || fail "not delivered by /etc/hosts"
	[ ! -s "$T/dead/log" ] || fail "the name server was asked: $(cat "$T/dead/log")"
}

# No resolv.conf at all: the name server is 127.0.0.1.  When port 53 is
# free there, NSD goes on it and the name is found through it; when
# something else holds it, the run must only end soon and sanely.
test_dns_no_resolv_conf() {
	dns_ready
	start_smtpd s
	OUTBOX_RESOLV_CONF=$T/no-such-resolv.conf
	export OUTBOX_RESOLV_CONF
	dns_config mail.outbox.test
	if dns_tool free 127.0.0.1; then
		zone ns outbox.test 'mail IN A 127.0.0.1'
		start_nsd ns 127.0.0.1
		deliver_ok s
		report "no resolv.conf: asked 127.0.0.1 port 53 (NSD there), delivered"
		return 0
	fi
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	t0=$(ms_now)
	ob -q >"$T/out" 2>"$T/err"
	rc=$?
	ms=$(($(ms_now) - t0))
	case $rc in
	0|75) ;;
	*) sed 's/^/    stderr: /' "$T/err" >&2; fail "queue run exited $rc" ;;
	esac
	[ $ms -lt 45000 ] || fail "the queue run took $(secs $ms) s"
	expect_exit 0 ob -bp
	report "no resolv.conf, 127.0.0.1 port 53 taken by another server:" \
	    "exit $rc in $(secs $ms) s;" \
	    "$(sed -n 's/^ *last error: //p' "$T/out" | head -n 1)"
}

# mx_net: set MXNET to a prefix 127.25.X. whose addresses .1 to .3 have
# nothing listening on the test's ports yet.
mx_net() {
	set -- $(od -An -N1 -tu1 /dev/urandom)
	MXNET=127.25.$1.
}

# mx_config [key value]...: host mx, no AUTH, to port $PORT of each MX.
mx_config() {
	config "$@"
	conf_del host user password
	conf_add host mx
}

# mx_send ARGS...: queue a message from sender@one.outbox.test (-odq).
mx_send() {
	printf 'Subject: mx\n\nhi\n' |
	    expect_exit 0 ob -odq -f sender@one.outbox.test "$@"
}

# env_with NAME RCPT...: the message of the server in $T/NAME whose
# envelope has exactly these recipients (one transaction); its number.
env_with() {
	_n=$1; shift
	for _e in "$T/$_n"/msg.*.env; do
		[ -f "$_e" ] || continue
		[ "$(grep -c '^rcpt ' "$_e")" = $# ] || continue
		_all=1
		for _r in "$@"; do
			grep -q -x -F "rcpt $_r" "$_e" || _all=0
		done
		[ $_all = 1 ] && { _e=${_e%.env}; echo "${_e##*.}"; return 0; }
	done
	cat "$T/$_n"/msg.*.env >&2 2>/dev/null
	fail "the server in $T/$_n got no message for exactly: $*"
}

# MX preference: the lowest first, the next when it does not answer.
# The best MX has no server, so the second gets the message and the
# third nothing; once the second is gone too, the third gets the next.
test_dns_mx_preference() {
	dns_ready
	mx_net
	start_smtpd b --bind "${MXNET}2"
	start_smtpd c --bind "${MXNET}3" --port "$PORT"
	zone ns outbox.test \
	    'one IN MX 20 mx2' 'one IN MX 5 mx1' 'one IN MX 30 mx3' \
	    "mx1 IN A ${MXNET}1" "mx2 IN A ${MXNET}2" "mx3 IN A ${MXNET}3"
	start_nsd ns
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:2'
	mx_config port "$PORT"
	mx_send bob@one.outbox.test
	expect_exit 0 ob -v -q
	[ "$(count_msgs "$T/b")" = 1 ] || fail "MX 20 did not get the message"
	[ "$(count_msgs "$T/c")" = 0 ] || fail "MX 30 got a message"
	grep -q -F "mx1.outbox.test: [${MXNET}1]:$PORT: " "$T/err" ||
	    fail "MX 5 was not tried first"
	assert_grep '^tls no' "$T/b/msg.1.env"
	kill "$(cat "$T/b/pid")"
	mx_send carol@one.outbox.test
	expect_exit 0 ob -q
	[ "$(count_msgs "$T/c")" = 1 ] || fail "MX 30 did not get the message"
	[ "$(queued)" = 0 ] || fail "queue not empty"
}

# Recipients grouped per domain, one transaction each: two for one
# domain, one for another, one for a domain without MX (its A record is
# used), and two that fail for good: a null MX (RFC 7505) and a domain
# that does not exist.  Those two get one bounce, delivered too.
test_dns_mx_domains() {
	dns_ready
	mx_net
	start_smtpd a --bind "${MXNET}1"
	start_smtpd b --bind "${MXNET}2" --port "$PORT"
	zone ns outbox.test \
	    'one IN MX 10 mx1' 'two IN MX 10 mx2' 'null IN MX 0 .' \
	    "mx1 IN A ${MXNET}1" "mx2 IN A ${MXNET}2" "bare IN A ${MXNET}2"
	start_nsd ns
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:2'
	mx_config port "$PORT"
	mx_send alice@one.outbox.test bob@two.outbox.test \
	    carol@one.outbox.test dave@null.outbox.test erin@gone.outbox.test \
	    frank@bare.outbox.test
	expect_exit 0 ob -q
	[ "$(queued)" = 0 ] || fail "queue not empty"
	env_with a alice@one.outbox.test carol@one.outbox.test >/dev/null
	env_with b bob@two.outbox.test >/dev/null
	env_with b frank@bare.outbox.test >/dev/null
	n=$(env_with a sender@one.outbox.test)
	[ "$(count_msgs "$T/a")" = 2 ] && [ "$(count_msgs "$T/b")" = 2 ] ||
	    fail "not two messages at each server"
	grep -q 'dave@null.outbox.test' "$T/a/msg.$n" &&
	    grep -q 'Status: 5.1.10' "$T/a/msg.$n" &&
	    grep -q 'null (RFC 7505)' "$T/a/msg.$n" ||
	    fail "the bounce does not give the null MX of dave"
	grep -q 'erin@gone.outbox.test' "$T/a/msg.$n" &&
	    grep -q 'Status: 5.1.2' "$T/a/msg.$n" &&
	    grep -q 'does not exist (NXDOMAIN)' "$T/a/msg.$n" ||
	    fail "the bounce does not give the missing domain of erin"
	grep -q 'alice@one.outbox.test\|bob@two' "$T/a/msg.$n" &&
	    fail "the bounce names recipients that got the message"
	return 0
}

# A domain whose MX cannot be reached: its recipient stays queued with
# the reason, the other domain's is served.  The next run, once the MX
# answers, sends to that recipient alone.
test_dns_mx_down() {
	dns_ready
	mx_net
	start_smtpd a --bind "${MXNET}1"
	zone ns outbox.test 'one IN MX 10 mx1' 'two IN MX 10 mx2' \
	    "mx1 IN A ${MXNET}1" "mx2 IN A ${MXNET}2"
	start_nsd ns
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:2'
	mx_config port "$PORT"
	mx_send alice@one.outbox.test bob@two.outbox.test
	expect_exit 75 ob -q
	[ "$(count_msgs "$T/a")" = 1 ] || fail "one.outbox.test not served"
	expect_exit 0 ob -bp
	assert_grep '<alice@one.outbox.test>  sent' "$T/out"
	assert_grep '<bob@two.outbox.test>  pending' "$T/out"
	assert_grep "last error: unable to connect to mx2.outbox.test: \[${MXNET}2\]:$PORT" "$T/out"
	start_smtpd b --bind "${MXNET}2" --port "$PORT"
	expect_exit 0 ob -q
	[ "$(queued)" = 0 ] || fail "queue not empty"
	[ "$(count_msgs "$T/a")" = 1 ] || fail "alice got it twice"
	env_with b bob@two.outbox.test >/dev/null
}

# STARTTLS with host mx: used when offered, with any certificate (this
# one names localhost, not mx1.outbox.test); plaintext when not offered.
# With tls starttls it is required and the certificate must name the MX
# host: localhost's is refused, mail.outbox.test's taken.
test_dns_mx_tls() {
	dns_ready
	mx_net
	start_smtpd a --bind "${MXNET}1" --tls starttls \
	    --cert "$CERTS/server.pem" --key "$CERTS/server.key"
	start_smtpd b --bind "${MXNET}2" --port "$PORT"
	start_smtpd c --bind "${MXNET}3" --port "$PORT" --tls starttls \
	    --cert "$CERTS/target.pem" --key "$CERTS/target.key"
	zone ns outbox.test 'one IN MX 10 mx1' 'two IN MX 10 mx2' \
	    'three IN MX 10 mail' "mx1 IN A ${MXNET}1" "mx2 IN A ${MXNET}2" \
	    "mail IN A ${MXNET}3"
	start_nsd ns
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:2'
	mx_config port "$PORT"
	conf_del cafile
	conf_add cafile /nonexistent/ca.pem
	mx_send alice@one.outbox.test bob@two.outbox.test
	expect_exit 0 ob -q
	assert_grep '^tls yes' "$T/a/msg.1.env"
	assert_grep '^tls no' "$T/b/msg.1.env"
	mx_config port "$PORT" tls starttls cafile "$CERTS/ca.pem"
	for n in a b; do
		: >"$T/$n/log"
		rm -f "$T/$n"/msg.*
	done
	mx_send alice@one.outbox.test
	requeue_refused a "does not match the host name mx1.outbox.test"
	unqueue
	mx_send bob@two.outbox.test
	requeue_refused b "does not offer STARTTLS"
	unqueue
	mx_send carol@three.outbox.test
	expect_exit 0 ob -q
	assert_grep '^tls yes' "$T/c/msg.1.env"
}

# SRV discovery (RFC 6186, RFC 8314): no host, a user that is an
# address.  Both records exist: _submissions (implicit TLS) wins, its
# lower priority first (a dead target at 0 is tried before the live one
# at 10); the certificate names the mail domain, as it must when the
# answer is not authenticated.  tls starttls takes _submission only.
# -bC shows the routes; a domain without either record is a
# configuration error.
test_dns_srv() {
	dns_ready
	smart_host tls465 domain --tls implicit --auth alice@outbox.test:s3cret-Pa55
	p465=$PORT
	smart_host tls587 domain --auth alice@outbox.test:s3cret-Pa55
	p587=$PORT
	zone ns outbox.test 'mail IN A 127.0.0.1' 'dead IN A 127.0.0.2' \
	    "_submissions._tcp IN SRV 10 1 $p465 mail" \
	    "_submissions._tcp IN SRV 0 0 1 dead" \
	    "_submission._tcp IN SRV 0 1 $p587 mail"
	start_nsd ns
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:2'
	config
	conf_del host user port
	conf_add user alice@outbox.test
	printf 'Subject: srv\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	expect_exit 0 ob -v -q
	[ "$(count_msgs "$T/tls465")" = 1 ] || fail "_submissions was not used"
	[ "$(count_msgs "$T/tls587")" = 0 ] || fail "_submission was used"
	assert_grep '^auth alice@outbox.test' "$T/tls465/msg.1.env"
	grep -q -F "dead.outbox.test: [127.0.0.2]:1: " "$T/err" ||
	    fail "the target of priority 0 was not tried"
	expect_exit 0 ob -bC
	assert_grep "^route: _submissions._tcp.outbox.test: dead.outbox.test port 1, tls; the certificate must name outbox.test\$" "$T/out"
	assert_grep "^route: _submission._tcp.outbox.test: mail.outbox.test port $p587, starttls" "$T/out"
	assert_grep '^ok: ' "$T/out"
	conf_add tls starttls
	deliver_ok tls587
	[ "$(count_msgs "$T/tls465")" = 1 ] || fail "_submissions was used"
	conf_del tls user
	conf_add user alice@none.outbox.test
	conf_add host auto
	expect_exit 78 ob -bC
	assert_grep '^error: host auto: none.outbox.test has no SRV record' "$T/out"
	assert_grep '^hint: .*RFC 6186' "$T/out"
}

# Which name the certificate must have: the SRV target's only when the
# answer is authenticated.  The server's certificate names the target
# mail.outbox.test alone.  Through a resolver that sets AD, it is still
# refused without "options trust-ad" (the mail domain is checked); with
# it, the query asks for AD and the target's name is what counts.
test_dns_srv_name() {
	dns_ready
	smart_host s target --tls implicit --auth alice@outbox.test:s3cret-Pa55
	zone ns outbox.test 'mail IN A 127.0.0.1' \
	    "_submissions._tcp IN SRV 0 1 $PORT mail"
	start_nsd ns
	nsd_addr=$NS
	dns_addr
	mkdir -p "$T/ad"
	dns_tool adproxy --dir "$T/ad" --addr "$NS" --upstream "$nsd_addr" \
	    --lifetime 60 >"$T/ad/stdout" 2>&1 &
	wait_file "$T/ad/pid"
	config
	conf_del host user port
	conf_add user alice@outbox.test
	resolv_conf "nameserver $nsd_addr" 'options timeout:1 attempts:2'
	refused s "does not match the host name outbox.test: it is for DNS:mail.outbox.test"
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:2'
	requeue_refused s "does not match the host name outbox.test"
	assert_grep '_submissions._tcp.outbox.test. SRV ad 0' "$T/ad/log"
	resolv_conf "nameserver $NS" 'options timeout:1 attempts:2 trust-ad'
	expect_exit 0 ob -q
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered with trust-ad"
	assert_grep '_submissions._tcp.outbox.test. SRV ad 1' "$T/ad/log"
}

# What host auto and host mx cannot be combined with: each an error
# naming the file (exit 78) before anything is queued or sent.
test_dns_route_config() {
	while IFS='|' read -r keys text; do
		config
		conf_del host user password port
		set -f
		set -- $keys
		set +f
		while [ $# -ge 2 ]; do conf_add "$1" "$2"; shift 2; done
		printf 'Subject: x\n\nhi\n' |
		    expect_exit 78 ob -odq bob@example.net
		grep -q -F -e "$T/outbox.conf: $text" "$T/err" || {
			sed 's/^/    stderr: /' "$T/err" >&2
			fail "$keys: not '$text'"
		}
		[ "$(queued)" = 0 ] || fail "$keys: a message was queued"
	done <<'CASES'
host auto port 587 user a@example.org password x|host auto takes the port and TLS from the SRV records; remove port
host auto tls off user a@example.org password x auth_plaintext yes|host auto takes the port and TLS from the SRV records; tls off
host auto user alice password x|host auto needs user to be a mail address
host auto user alice@ password x|host auto needs user to be a mail address
host mx user a@example.org password x|host mx delivers to port 25 of each domain's MX, which takes no AUTH
host mx tls tls|host mx delivers to port 25 of each domain's MX, which has no implicit TLS
host mx pin sha256//zJ56pq/aS5oJdRapTZNkBL6T3xjXQ9kRUSnEgH3K80g=|pin checks the certificate, which host mx does only with tls starttls
CASES
}
