# Sendmail compatibility: flags, modes, error modes, aliases, sender rules.

# Every form callers use is accepted: joined and separate values, -o
# alone, -O long forms, ignored options, "--"; a message sent with all of
# them arrives once with the right envelope.
test_flag_forms() {
	smart_host s
	config
	printf 'Subject: forms\n\n.\nbody\n' >"$T/in"
	expect_exit 0 ob -B8BITMIME -o i -oem -L mytag -h 5 -X /dev/null \
	    -Am -G -U -n -m -c -d0.1 -p smtp:host -D /dev/null -O Timeout=5 \
	    -oMrsmtp -o7 -f a@example.org -- b@example.net <"$T/in"
	expect_exit 0 ob -B 7BIT -oi -ep -f'<a@example.org>' b@example.net <"$T/in"
	expect_exit 0 ob -OIgnoreDots -O DeliveryMode=i -N never -R hdrs \
	    -V id1 -r a@example.org b@example.net <"$T/in"
	expect_exit 0 ob -bm -i -f a@example.org b@example.net <"$T/in"
	[ "$(count_msgs "$T/s")" = 4 ] || fail "expected 4 messages"
	for n in 1 2 3 4; do
		printf 'from a@example.org\nrcpt b@example.net\nauth alice\ntls yes\n' \
		    >"$T/want.env"
		cmp "$T/want.env" "$T/s/msg.$n.env" || fail "envelope $n differs"
		body "$T/s/msg.$n" | grep -q '^body$' || fail "-i not taken ($n)"
	done
	# -B 8BITMIME declares 8BITMIME for a 7-bit message too.
	assert_grep '^mailopts .*BODY=8BITMIME' "$T/s/log"
	[ "$(grep -c BODY=8BITMIME "$T/s/log")" = 1 ] || fail "BODY= twice"
	# -bi and -I (newaliases) have nothing to rebuild.
	expect_exit 0 ob -bi
	assert_grep 'no alias database to rebuild' "$T/out"
	expect_exit 0 ob -I
	assert_grep 'no alias database to rebuild' "$T/out"
}

# What is not sendmail's, or not possible here, is refused with 64 and
# a reason; nothing is queued.
test_flag_refusals() {
	config
	for args in "-k" "-bd" "-bD" "-bt" "-B 9BIT" "-N sometimes" \
	    "-N never,success" "-R most" "-odx" "-oez" "-ex" "-qX5" "-q5y" \
	    "-h many"; do
		# shellcheck disable=SC2086
		printf 'x\n' | expect_exit 64 ob $args bob@example.net
		[ -s "$T/err" ] || fail "no message for $args"
	done
	assert_grep 'usage: outbox' "$T/err"
	printf 'x\n' | expect_exit 64 ob -bd
	assert_grep 'never listens' "$T/err"
	printf 'x\n' | expect_exit 64 ob -V 'has space' bob@example.net
	printf 'x\n' | expect_exit 64 ob -f
	assert_grep 'needs an argument' "$T/err"
	[ "$(queued)" = 0 ] || fail "something was queued"
}

# -N, -R and -V reach the queue file; a server without DSN gets none of
# them, one with DSN gets NOTIFY, RET, ENVID and ORCPT (RFC 3461).
test_dsn_parameters() {
	start_raw r "$(printf '%s\n' 'send 220 raw ESMTP\r\n' 'expect EHLO' \
	    'send 250-raw\r\n250-DSN\r\n250-PIPELINING\r\n250 SIZE 1000000\r\n' \
	    'expect MAIL FROM:<a@example.org> SIZE=' 'expect RCPT TO:<b+x@example.net>' \
	    'expect RCPT TO:<c@example.net>' 'expect DATA' \
	    'send 250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n' 'data' \
	    'send 250 ok\r\n' 'expect QUIT' 'send 221 bye\r\n')"
	config tls off
	sed -i '/^user \|^password /d' "$T/outbox.conf"
	printf 'Subject: dsn\n\nhi\n' | expect_exit 0 ob -odq -N success,FAILURE \
	    -R full -V 'env<id>+1' -f a@example.org b+x@example.net c@example.net
	assert_grep '^dsn-notify SUCCESS,FAILURE$' "$T"/spool/queue/*
	assert_grep '^dsn-ret FULL$' "$T"/spool/queue/*
	assert_grep '^dsn-envid env<id>+1$' "$T"/spool/queue/*
	expect_exit 0 ob -q
	[ -s "$T/r/errors" ] && { cat "$T/r/errors" >&2; fail "script mismatch"; }
	assert_grep 'C: MAIL FROM:<a@example.org> SIZE=[0-9]* RET=FULL ENVID=env<id>+2B1$' \
	    "$T/r/transcript"
	assert_grep 'C: RCPT TO:<b+x@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx@example.net$' \
	    "$T/r/transcript"
	# Pipelined: the three commands and DATA came before any reply.
	awk '/^C: MAIL/{m=NR} /^S: 250 ok/{if(!s)s=NR} /^C: DATA/{d=NR}
	    END{exit !(m && d && d < s)}' "$T/r/transcript" ||
	    fail "MAIL to DATA were not pipelined"
	[ "$(queued)" = 0 ] || fail "queue not empty"
	# The same request to a server without DSN: no parameters at all.
	smart_host s
	config
	printf 'Subject: dsn\n\nhi\n' | expect_exit 0 ob -N never -R hdrs -V x \
	    -f a@example.org b@example.net
	assert_no_grep 'RET=\|ENVID=\|NOTIFY=\|ORCPT=' "$T/s/log"
}

# Error modes for a message refused at intake: -oep prints, -oeq is
# silent, -oem returns it to the sender with the message attached and
# keeps the exit status, -oee does the same but exits 0.
test_error_modes() {
	smart_host s
	config
	printf 'To: bad address@@example.net\nSubject: t\n\ncron output\n' >"$T/in"
	expect_exit 67 ob -t -oep -f a@example.org <"$T/in"
	assert_grep 'line 1: To: bad address' "$T/err"
	expect_exit 67 ob -t -oeq -f a@example.org <"$T/in"
	[ -s "$T/err" ] && fail "-oeq printed: $(cat "$T/err")"
	[ "$(count_msgs "$T/s")" = 0 ] || fail "something was sent"
	expect_exit 67 ob -t -oem -f a@example.org <"$T/in"
	[ "$(count_msgs "$T/s")" = 1 ] || fail "no notice for -oem"
	assert_grep '^from $' "$T/s/msg.1.env"
	assert_grep '^rcpt a@example.org$' "$T/s/msg.1.env"
	assert_grep '^Subject: Returned mail' "$T/s/msg.1"
	assert_grep 'line 1: To: bad address' "$T/s/msg.1"
	assert_grep '^Content-Type: message/rfc822' "$T/s/msg.1"
	assert_grep '^cron output' "$T/s/msg.1"
	expect_exit 0 ob -t -oee -f a@example.org <"$T/in"
	[ "$(count_msgs "$T/s")" = 2 ] || fail "no notice for -oee"
	# The short forms, and w, which prints as p does.
	expect_exit 67 ob -t -ew -f a@example.org <"$T/in"
	assert_grep 'line 1: To: bad address' "$T/err"
	expect_exit 67 ob -t -oew -f a@example.org <"$T/in"
	assert_grep 'line 1: To: bad address' "$T/err"
	expect_exit 67 ob -t -eq -f a@example.org <"$T/in"
	[ -s "$T/err" ] && fail "-eq printed: $(cat "$T/err")"
	[ "$(count_msgs "$T/s")" = 2 ] || fail "a notice for -ew, -oew or -eq"
	expect_exit 67 ob -t -em -f a@example.org <"$T/in"
	expect_exit 0 ob -t -ee -f a@example.org <"$T/in"
	[ "$(count_msgs "$T/s")" = 4 ] || fail "no notice for -em or -ee"
	# No recipients with -t, and a bad argument address, under -oem.
	printf 'Subject: none\n\nlost?\n' | expect_exit 66 ob -t -oem -f a@example.org
	assert_grep '^lost?' "$T/s/msg.5"
	printf 'Subject: arg\n\nkept\n' | expect_exit 67 ob -oem -f a@example.org '<bad'
	assert_grep '^kept' "$T/s/msg.6"
	assert_grep 'unbalanced' "$T/s/msg.6"
	[ "$(queued)" = 0 ] || fail "queue not empty"
	ls "$T/spool/tmp" | grep -q . && fail "tmp/ not clean"
	return 0
}

# -bs: the SMTP dialogue on stdin; each accepted message is queued as by
# the other modes (headers added, dots unstuffed) and delivered at the end.
test_bs_dialogue() {
	smart_host s
	config
	printf '%s\r\n' 'MAIL FROM:<early@example.org>' 'EHLO mua.example.org' \
	    'VRFY root' 'NOOP' 'HELP' 'MAIL FROM:<a@example.org> BODY=8BITMIME' \
	    'RCPT TO:<b@example.net> NOTIFY=FAILURE' 'RCPT TO:<root> NOTIFY=failure' \
	    'RCPT TO:<x@y> NOTIFY=NEVER' 'RCPT TO:<bad' 'DATA' 'Subject: one' '' \
	    '..dot' 'line' '.' 'MAIL FROM:<>' 'RCPT TO:<c@example.net>' 'RSET' \
	    'DATA' 'BOGUS' 'MAIL FROM:<z@example.org>' 'RCPT TO:<d@example.net>' \
	    'DATA' 'Subject: two' '' 'x' '.' 'QUIT' >"$T/in"
	expect_exit 0 ob -bs <"$T/in"
	tr -d '\r' <"$T/out" >"$T/replies"
	for want in '^220 ' '^503 5.5.1 EHLO or HELO first' '^250-PIPELINING' \
	    '^250-DSN' '^252 ' '^214 ' '^250 2.1.0' '^250 2.1.5 recipient <b@example.net>' \
	    '^504 5.5.4 NOTIFY' '^501 5.1.3' '^354 ' '^250 2.0.0 queued as' \
	    '^503 5.5.1 MAIL first' '^500 5.5.2' '^221 '; do
		assert_grep "$want" "$T/replies"
	done
	[ "$(count_msgs "$T/s")" = 2 ] || fail "expected 2 messages"
	printf 'from a@example.org\nrcpt b@example.net\nrcpt root@example.org\nauth alice\ntls yes\n' \
	    >"$T/want.env"
	cmp "$T/want.env" "$T/s/msg.1.env" || fail "envelope 1 differs"
	printf '.dot\nline\n' >"$T/want"
	body "$T/s/msg.1" >"$T/got"
	cmp "$T/want" "$T/got" || fail "dots not unstuffed"
	assert_grep '^Message-ID: ' "$T/s/msg.1"
	assert_grep '^mailopts BODY=8BITMIME' "$T/s/log"
	assert_grep '^rcpt d@example.net' "$T/s/msg.2.env"
	# ENVID must be xtext of printable ASCII; NOTIFY must agree.
	printf 'EHLO x\r\nMAIL FROM:<a@example.org> ENVID=a\303\251\r\nMAIL FROM:<a@example.org> ENVID=a+01\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net> NOTIFY=NEVER,DELAY\r\nRCPT TO:<c@example.net> NOTIFY=DELAY\r\nQUIT\r\n' |
	    expect_exit 0 ob -bs -odq
	tr -d '\r' <"$T/out" >"$T/replies"
	[ "$(grep -c '^501 5.5.4 bad ENVID' "$T/replies")" = 2 ] || fail "bad ENVID taken"
	assert_grep '^501 5.5.4 bad NOTIFY' "$T/replies"
	assert_grep '^504 5.5.4 NOTIFY must be the same' "$T/replies"
	# Input that ends inside DATA queues nothing.
	printf 'HELO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\nSubject: cut\r\n' |
	    expect_exit 0 ob -bs -odq
	assert_grep '^451 ' "$T/out"
	[ "$(queued)" = 0 ] || fail "a cut message was queued"
}

# -bv names where each recipient goes and sends nothing.
test_bv() {
	printf 'postmaster: root\nroot: root, ops@example.com\nteam: a, b@example.net\n' \
	    >"$T/aliases"
	config admin admin@example.org aliases "$T/aliases"
	expect_exit 0 ob -bv team 'Carol <carol@example.net>' postmaster
	assert_grep '^team\.\.\. deliverable: relayed to <admin@example.org> via localhost' "$T/out"
	assert_grep '^team\.\.\. deliverable: relayed to <b@example.net>' "$T/out"
	assert_grep '^carol@example.net\.\.\. deliverable: relayed to <carol@example.net>' "$T/out"
	assert_grep '^postmaster\.\.\. deliverable: relayed to <ops@example.com>' "$T/out"
	expect_exit 67 ob -bv 'bad@@x' ok@example.net
	assert_grep 'bad address' "$T/out"
	# What a bad list read before its error is not the next one's.
	expect_exit 67 ob -bv 'a@example.net, <bad' c@example.net
	assert_grep '^a@example.net, <bad\.\.\. bad address' "$T/out"
	assert_grep '^c@example.net\.\.\. deliverable' "$T/out"
	assert_no_grep '^a@example.net\.\.\.' "$T/out"
	expect_exit 64 ob -bv
	[ -d "$T/spool/queue" ] && [ "$(queued)" != 0 ] && fail "-bv queued"
	return 0
}

# The aliases file: nested names, a name that includes itself, loops,
# duplicates removed; and a file that asks for a pipe is refused.
test_aliases() {
	smart_host s
	printf '%s\n' '# comment' 'root: Ops@Example.com, backup' \
	    'backup: root, tape@example.net,' '  Ops@example.COM' \
	    'a: b' 'b: a' 'Loop: loop' >"$T/aliases"
	config aliases "$T/aliases"
	printf 'Subject: a\n\nhi\n' | expect_exit 0 ob -f x@example.org root a loop@localhost
	printf 'from x@example.org\nrcpt Ops@Example.com\nrcpt root@example.org\nrcpt tape@example.net\nrcpt a@example.org\nrcpt loop@example.org\nauth alice\ntls yes\n' \
	    >"$T/want.env"
	cmp "$T/want.env" "$T/s/msg.1.env" || { cat "$T/s/msg.1.env" >&2; fail "expansion differs"; }
	printf 'root: |/usr/bin/procmail\n' >"$T/aliases"
	printf 'x\n' | expect_exit 78 ob root
	assert_grep "aliases:1: root: .*pipes, files and :include:" "$T/err"
	printf 'root ops@example.com\n' >"$T/aliases"
	printf 'x\n' | expect_exit 78 ob root
	assert_grep "aliases:1: no ':'" "$T/err"
}

# rewrite_from yes: From becomes the envelope sender, keeping the name;
# the envelope sender comes from -f, then from, then the caller.
test_rewrite_from() {
	smart_host s
	config rewrite_from yes from alerts@example.com
	printf 'From: root (Cron Daemon)\nTo: root\nSubject: cron\n\nout\n' |
	    expect_exit 0 ob -i root
	assert_grep '^From: "Cron Daemon" <alerts@example.com>.$' "$T/s/msg.1"
	assert_grep '^from alerts@example.com$' "$T/s/msg.1.env"
	printf 'From: "Jane Q. Doe" <jane@elsewhere.example>\nSubject: x\n\nout\n' |
	    expect_exit 0 ob -f 'Ops Team <ops@example.com>' b@example.net
	assert_grep '^From: "Jane Q. Doe" <ops@example.com>.$' "$T/s/msg.2"
	assert_grep '^from ops@example.com$' "$T/s/msg.2.env"
	printf 'Subject: none\n\nout\n' | expect_exit 0 ob -F 'Back "up" job' b@example.net
	assert_grep '^From: "Back \\"up\\" job" <alerts@example.com>.$' "$T/s/msg.3"
	# The last -f wins; -f '' is the null sender.
	printf 'Subject: x\n\nout\n' | expect_exit 0 ob -f first@example.org -f '' b@example.net
	assert_grep '^from $' "$T/s/msg.4.env"
}

# A caller whose uid has no passwd entry (a container's arbitrary uid)
# is named by the number, and still gets its message queued.
test_unknown_uid() {
	command -v setpriv >/dev/null || { echo "skip: no setpriv"; return 0; }
	[ "$(id -u)" = 0 ] || { echo "skip: not root"; return 0; }
	uid=54321
	getent passwd $uid >/dev/null && { echo "skip: uid $uid exists"; return 0; }
	# A directory the other uid can reach: $T's parents are private.
	d=$(mktemp -d /tmp/outbox-uid.XXXXXX) || fail "mktemp"
	trap 'stop_servers; rm -rf "$d"' EXIT
	chmod 755 "$d"
	printf 'host localhost\ntls off\nspool %s/spool\ndomain example.org\n' "$d" \
	    >"$d/outbox.conf"
	chmod 644 "$d/outbox.conf"
	mkdir -m 700 "$d/spool" && chown $uid "$d/spool"
	printf 'Subject: uid\n\nhi\n' | expect_exit 0 setpriv --reuid=$uid \
	    --regid=$uid --clear-groups "$OUTBOX" -C "$d/outbox.conf" -odq b@example.net
	assert_grep "^sender uid$uid@example.org$" "$d"/spool/queue/*
	assert_grep "^From: uid$uid@example.org$" "$d"/spool/queue/*
}

# -qI, -qR and -qS attempt only what they select ("!" negates); bounces
# and other messages stay for later.
test_queue_selection() {
	smart_host s
	config
	for r in carol dave erin; do
		printf 'Subject: %s\n\nhi\n' $r | expect_exit 0 ob -odq \
		    -f "from-$r@example.org" "$r@example.net"
	done
	[ "$(queued)" = 3 ] || fail "expected 3 queued"
	expect_exit 0 ob -qRCAROL@
	[ "$(count_msgs "$T/s")" = 1 ] || fail "-qR sent $(count_msgs "$T/s")"
	assert_grep '^rcpt carol@example.net' "$T/s/msg.1.env"
	expect_exit 0 ob -qSfrom-dave -qSnobody
	assert_grep '^rcpt dave@example.net' "$T/s/msg.2.env"
	id=$(ls "$T/spool/queue")
	expect_exit 0 ob "-q!I$id"
	[ "$(count_msgs "$T/s")" = 2 ] || fail "-q!I sent the message it excludes"
	expect_exit 0 ob "-qI$(echo "$id" | cut -c5-12)"
	[ "$(count_msgs "$T/s")" = 3 ] || fail "-qI did not send"
	[ "$(queued)" = 0 ] || fail "queue not empty"
}

# -q<interval> stays in the foreground and runs the queue again and
# again: a message queued after it started is delivered by it.
test_queue_interval() {
	smart_host s
	config
	# Not through ob: $! must be the runner itself, not a subshell.
	"$OUTBOX" -C "$T/outbox.conf" -q1s >"$T/runner.out" 2>&1 &
	runner=$!
	# stop_servers ends it by this PID, should the test fail first.
	mkdir -p "$T/runner" && echo $runner >"$T/runner/pid"
	printf 'Subject: later\n\nhi\n' | expect_exit 0 ob -odq b@example.net
	wait_file "$T/s/msg.1.env"
	kill -0 $runner 2>/dev/null || fail "the runner stopped"
	kill $runner
	wait $runner 2>/dev/null
	[ "$(queued)" = 0 ] || fail "queue not empty"
	expect_exit 64 ob -q0
}

# The deliver key sets the default mode; -odi on the command line wins.
test_deliver_key() {
	smart_host s
	config deliver queue
	printf 'Subject: q\n\nhi\n' | expect_exit 0 ob b@example.net
	[ "$(queued)" = 1 ] || fail "deliver queue did not queue"
	[ "$(count_msgs "$T/s")" = 0 ] || fail "deliver queue sent"
	printf 'Subject: i\n\nhi\n' | expect_exit 0 ob -odi b@example.net
	[ "$(count_msgs "$T/s")" = 1 ] || fail "-odi did not send"
	[ "$(queued)" = 1 ] || fail "-odi sent what it was not given"
	config deliver sometimes
	printf 'x\n' | expect_exit 78 ob b@example.net
	assert_grep 'outbox.conf:[0-9]*: bad deliver' "$T/err"
}

# Resent- fields: with -t only Resent-To/Cc/Bcc count, and Resent-Bcc
# leaves the host no more than Bcc does.
test_resent() {
	smart_host s
	config
	printf '%s\n' 'To: old@example.net' 'Bcc: oldbcc@example.net' \
	    'Resent-From: a@example.org' 'Resent-To: new@example.net' \
	    'Resent-Bcc: hidden@example.net' 'Subject: fwd' '' 'hi' |
	    expect_exit 0 ob -t -i
	printf 'from root@example.org\nrcpt new@example.net\nrcpt hidden@example.net\nauth alice\ntls yes\n' \
	    >"$T/want.env"
	cmp "$T/want.env" "$T/s/msg.1.env" || { cat "$T/s/msg.1.env" >&2; fail "envelope differs"; }
	assert_no_grep -i 'bcc' "$T/s/msg.1"
	assert_grep '^To: old@example.net' "$T/s/msg.1"
}

# ESMTP: a message over the server's SIZE fails before MAIL with a
# bounce; a non-ASCII address needs SMTPUTF8 (asked for when offered);
# 8-bit content is declared BODY=8BITMIME.
test_size_utf8_8bit() {
	smart_host s server --size 2000
	config
	printf 'Subject: big\n\n%s\n' "$(head -c 3000 /dev/zero | tr '\0' x)" |
	    expect_exit 0 ob -f a@example.org b@example.net
	assert_no_grep '^mail a@example.org' "$T/s/log"
	assert_grep '^Status: 5.3.4' "$T/s/msg.1"
	assert_grep 'more than the 2000' "$T/s/msg.1"
	printf 'Subject: caf\303\251\n\nd\303\251j\303\240\n' |
	    expect_exit 0 ob -f a@example.org "$(printf 'j\303\266rg@example.net')"
	assert_grep '^mailopts .*BODY=8BITMIME' "$T/s/log"
	assert_grep '^mailopts .*SMTPUTF8' "$T/s/log"
	assert_grep "^rcpt j$(printf '\303\266')rg@example.net\$" "$T/s/msg.2.env"
	# A server without SMTPUTF8: the UTF-8 address bounces with 5.6.7.
	start_raw r "$(printf '%s\n' 'send 220 raw ESMTP\r\n' 'expect EHLO' \
	    'send 250-raw\r\n250 8BITMIME\r\n' 'expect MAIL FROM:<>' 'send 250 ok\r\n' \
	    'expect RCPT' 'send 250 ok\r\n' 'expect DATA' 'send 354 go\r\n' 'data' \
	    'send 250 ok\r\n' 'expect QUIT' 'send 221 bye\r\n')"
	config tls off
	sed -i '/^user \|^password /d' "$T/outbox.conf"
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -f a@example.org "$(printf 'j\303\266rg@example.net')"
	[ -s "$T/r/errors" ] && { cat "$T/r/errors" >&2; fail "script mismatch"; }
	assert_grep 'Status: 5.6.7' "$T/r/data.1"
	assert_grep 'SMTPUTF8' "$T/r/data.1"
}

# Without -F, the caller's GECOS name (up to the first comma) names the
# sender in an added From; -F wins over it.
test_gecos_name() {
	smart_host s
	config
	gecos=$(getent passwd "$(id -u)" | cut -d: -f5 | cut -d, -f1)
	printf 'Subject: g\n\nhi\n' | expect_exit 0 ob b@example.net
	if [ -n "$gecos" ]; then
		assert_grep "^From: \"$gecos\" <$(id -un)@example.org>" "$T/s/msg.1"
	else
		assert_grep "^From: $(id -un)@example.org" "$T/s/msg.1"
	fi
	printf 'Subject: g\n\nhi\n' | expect_exit 0 ob -F 'Night Job' b@example.net
	assert_grep "^From: \"Night Job\" <$(id -un)@example.org>" "$T/s/msg.2"
}

# Header lines over 998 bytes are folded at intake: before a blank when
# there is one (unfolding gives the field back), else at the limit with
# a blank added.  No line over 998 reaches the server.
test_long_header() {
	smart_host s
	config
	x=$(head -c 1987 /dev/zero | tr '\0' x)
	words=$(head -c 2400 /dev/zero | tr '\0' y | sed 's/yyyyyyyyy/&z /g')
	printf 'Subject: %s\nX-Words: %s\n\nhi\n' "$x" "$words" |
	    expect_exit 0 ob b@example.net
	tr -d '\r' <"$T/s/msg.1" | sed '/^$/q' >"$T/head"
	awk 'length > 998 { exit 1 }' "$T/head" || fail "a header line over 998"
	got=$(sed -n '/^Subject:/,/^[^ ]/p' "$T/head" | sed '$d' | tr -d ' \n')
	[ "$got" = "Subject:$x" ] || fail "Subject changed"
	got=$(sed -n '/^X-Words:/,/^[^ ]/p' "$T/head" | sed '$d' | tr -d '\n')
	[ "$got" = "X-Words: $words" ] || fail "X-Words changed"
}
