# Intake: flags, addresses, message shapes, configuration errors, and
# the spool's promise that exit 0 means the message is on disk.

# S-6: bad addresses are refused before anything is queued, exit 67.
test_bad_addresses() {
	config
	for a in '-oops@example.net' "$(printf 'a@example.net\nRCPT TO:<x@y>')" \
	    "$(printf 'a\r@example.net')" "$(printf 'a\001b@example.net')" \
	    'a<b@example.net' '<a@example.net' 'a@exa mple.net' \
	    "$(head -c 65 /dev/zero | tr '\0' a)@example.net" 'a@' '@example.net' \
	    'a@example..net' 'a@-[x' '"unclosed@example.net'; do
		printf 'Subject: x\n\nhi\n' | expect_exit 67 ob -odq -- "$a"
		assert_grep 'bad address\|unbalanced\|longer than\|two <addresses>\|a name needs' "$T/err"
	done
	printf 'Subject: x\n\nhi\n' | expect_exit 67 ob -odq -f "$(printf 'x@example.org\nMAIL FROM:<y>')" bob@example.net
	printf 'To: ok@example.net, bad@exa mple.net\n\nhi\n' | expect_exit 67 ob -odq -t
	[ "$(queued)" = 0 ] || fail "something was queued"
	ls "$T/spool/tmp" 2>/dev/null | grep -q . && fail "tmp/ not clean"
	return 0
}

test_usage_errors() {
	config
	expect_exit 64 ob -Z bob@example.net </dev/null
	assert_grep 'usage: outbox' "$T/err"
	expect_exit 64 ob </dev/null
	assert_grep 'no recipients' "$T/err"
	expect_exit 64 ob -f </dev/null
	expect_exit 64 ob -bd </dev/null
	assert_grep 'never listens' "$T/err"
	# Accepted and ignored, as sendmail does.
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq -oem -oee -ep -B8BITMIME -B 7BIT \
	    -N never -R hdrs -V envid -L tag -h 10 -X /dev/null -om -U -n -m -oQ/x bob@example.net
	[ "$(queued)" = 1 ] || fail "not queued"
	# -t without any recipient: nothing is queued, exit 66.
	printf 'Subject: x\n\nhi\n' | expect_exit 66 ob -odq -t
	[ "$(queued)" = 1 ] || fail "queued without recipients"
}

# Options grouped, joined and separated are the same options.
test_option_forms() {
	smart_host s
	config
	printf 'To: bob@example.net\n\n.\nhi\n' | expect_exit 0 ob -ti -fjoined@example.org
	printf 'To: bob@example.net\n\n.\nhi\n' | expect_exit 0 ob -t -i -r separate@example.org
	assert_grep '^from joined@example.org' "$T/s/msg.1.env"
	assert_grep '^from separate@example.org' "$T/s/msg.2.env"
	body "$T/s/msg.2" | grep -q '^hi$' || fail "-i not taken"
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -f '<>' bob@example.net
	assert_grep '^from $' "$T/s/msg.3.env"
	assert_grep '^From: .*root@example.org' "$T/s/msg.3"
}

# NUL bytes make a message malformed: exit 65, nothing queued.
test_nul_byte() {
	config
	printf 'Subject: x\n\nbad\000byte\n' | expect_exit 65 ob -odq bob@example.net
	assert_grep 'NUL byte' "$T/err"
	[ "$(queued)" = 0 ] || fail "queued"
	ls "$T/spool/tmp" | grep -q . && fail "tmp/ not clean"
	return 0
}

# Shapes that are not quite RFC 5322 are kept, not refused: no header
# at all, no empty line after the header, no final newline, an mbox
# "From " line, a header section ended by a line that is not a header.
test_message_shapes() {
	smart_host s
	config
	printf 'just a body\nline two\n' | expect_exit 0 ob bob@example.net
	body "$T/s/msg.1" >"$T/got"
	printf 'just a body\nline two\n' | cmp - "$T/got" || fail "headerless body changed"
	assert_grep '^Date: ' "$T/s/msg.1"
	printf 'Subject: only header' | expect_exit 0 ob bob@example.net
	assert_grep '^Subject: only header' "$T/s/msg.2"
	printf 'Subject: x\n\nno newline at end' | expect_exit 0 ob bob@example.net
	body "$T/s/msg.3" >"$T/got"
	printf 'no newline at end\n' | cmp - "$T/got" || fail "last line lost"
	printf 'From someone Mon Jan  1 00:00:00 2026\nSubject: mbox\n\nhi\n' | expect_exit 0 ob bob@example.net
	assert_no_grep '^From someone' "$T/s/msg.4"
	assert_grep '^Subject: mbox' "$T/s/msg.4"
	printf 'Subject: x\nthis is not a header\nmore\n' | expect_exit 0 ob bob@example.net
	body "$T/s/msg.5" >"$T/got"
	printf 'this is not a header\nmore\n' | cmp - "$T/got" || fail "body after header lost"
	assert_grep '^Subject: x' "$T/s/msg.5"
	# An 8-bit body is sent with BODY=8BITMIME when offered.
	printf 'Subject: x\n\ncaf\303\251\n' | expect_exit 0 ob -v bob@example.net
	assert_grep 'BODY=8BITMIME' "$T/err"
	body "$T/s/msg.6" >"$T/got"
	printf 'caf\303\251\n' | cmp - "$T/got" || fail "8-bit body changed"
}

# Configuration errors name the file and the line, exit 78.
test_config_errors() {
	config
	printf 'bogus value\n' >>"$T/outbox.conf"
	n=$(wc -l <"$T/outbox.conf")
	printf 'Subject: x\n\nhi\n' | expect_exit 78 ob bob@example.net
	assert_grep "outbox.conf:$n: unknown key \"bogus\"" "$T/err"
	config port 70000
	expect_exit 78 ob -bp
	assert_grep 'outbox.conf:[0-9]*: bad port "70000"' "$T/err"
	config tls maybe
	expect_exit 78 ob -bp
	assert_grep 'bad tls "maybe"' "$T/err"
	config maxage 5x
	expect_exit 78 ob -bp
	assert_grep 'bad maxage' "$T/err"
	config auth digest-md5
	expect_exit 78 ob -bp
	assert_grep 'unsupported auth' "$T/err"
	config
	chmod 644 "$T/outbox.conf"
	expect_exit 78 ob -bp
	assert_grep 'holds a password but has mode 0644' "$T/err"
	expect_exit 78 "$OUTBOX" -C "$T/missing.conf" -bp
	assert_grep 'unable to open .*missing.conf' "$T/err"
	# $OUTBOX_CONFIG is read when -C is not given.
	config
	OUTBOX_CONFIG=$T/outbox.conf expect_exit 0 "$OUTBOX" -bp
	OUTBOX_CONFIG=$T/missing.conf expect_exit 78 "$OUTBOX" -bp
	# A password file must be private too; no host is a config error at -q.
	config
	sed -i 's/^password .*/passwordfile '"$(echo "$T" | sed 's/[\/&]/\\&/g')"'\/pw/' "$T/outbox.conf"
	echo 's3cret-Pa55' >"$T/pw"
	chmod 640 "$T/pw"
	sed -i '/^host /d' "$T/outbox.conf"
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	expect_exit 78 ob -q
	expect_exit 0 ob -bp
	assert_grep 'no host set' "$T/out"
}

test_passwordfile() {
	smart_host s
	config
	sed -i 's/^password .*/passwordfile '"$(echo "$T" | sed 's/[\/&]/\\&/g')"'\/pw/' "$T/outbox.conf"
	chmod 644 "$T/outbox.conf"
	printf 's3cret-Pa55\nsecond line ignored\n' >"$T/pw"
	chmod 644 "$T/pw"
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob bob@example.net
	[ "$(count_msgs "$T/s")" = 0 ] || fail "sent with a readable password file"
	expect_exit 0 ob -bp
	assert_grep 'pw holds a password but has mode 0644' "$T/out"
	chmod 600 "$T/pw"
	expect_exit 0 ob -q
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered"
}

# Q-1: after exit 0 the message is in queue/, whole: magic, the message,
# envelope, and a trailer whose length and CRC-32 match.
test_spool_format() {
	config
	printf 'Subject: fmt\n\nhello\n' | expect_exit 0 ob -odq -f s@example.org bob@example.net
	q=$(ls "$T/spool/queue")
	[ ${#q} = 16 ] || fail "odd queue id $q"
	"$PY" - "$T/spool/queue/$q" "$q" <<'PYEOF' || fail "bad queue file"
import sys, zlib
data = open(sys.argv[1], "rb").read()
assert data.startswith(b"outbox 1\n"), "magic"
lines = data.rstrip(b"\n").split(b"\n")
end = lines[-1].split()
assert end[0] == b"end", end
n, crc = int(end[1]), int(end[2], 16)
msg = data[9:9 + n]
assert zlib.crc32(msg) == crc, "crc"
env = data[9 + n:].decode().splitlines()
assert env[0] == "id " + sys.argv[2], env
assert "sender s@example.org" in env and "rcpt bob@example.net" in env, env
assert msg.startswith(b"Subject: fmt\n") and msg.endswith(b"\n\nhello\n"), msg
PYEOF
	expect_exit 0 ob -bp
	assert_grep "^$q .*<s@example.org>" "$T/out"
	assert_grep '^    <bob@example.net>  pending$' "$T/out"
	assert_grep '1 message\.' "$T/out"
}

# An unwritable spool is a temporary failure (75), never 73 or 74,
# and the caller is told why.
test_spool_unwritable() {
	: >"$T/notadir"
	config spool "$T/notadir/spool"
	sed -i "0,/^spool /{/^spool .*\/spool\$/d}" "$T/outbox.conf"
	printf 'Subject: x\n\nhi\n' | expect_exit 75 ob bob@example.net
	assert_grep 'unable to create' "$T/err"
}

# A signal during intake leaves nothing in the queue (Q-6).
test_signal_during_intake() {
	config
	mkfifo "$T/fifo"
	"$OUTBOX" -C "$T/outbox.conf" -odq bob@example.net <"$T/fifo" \
	    >"$T/out" 2>"$T/err" &
	pid=$!
	exec 3>"$T/fifo"
	printf 'Subject: half\n\npart of it\n' >&3
	i=0
	while [ -z "$(ls "$T/spool/tmp" 2>/dev/null)" ] && [ $i -lt 50 ]; do
		sleep 0.1; i=$((i + 1))
	done
	[ -n "$(ls "$T/spool/tmp")" ] || fail "intake did not start"
	kill -TERM $pid
	wait $pid
	rc=$?
	exec 3>&-
	[ $rc = 75 ] || fail "exit $rc after SIGTERM"
	[ "$(queued)" = 0 ] || fail "half a message queued"
	[ -z "$(ls "$T/spool/tmp")" ] || fail "tmp/ not cleaned"
}

# Called as mailq it lists the queue; as newaliases it has nothing to do.
test_personalities() {
	config
	ln -s "$OUTBOX" "$T/mailq"
	ln -s "$OUTBOX" "$T/newaliases"
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	expect_exit 0 "$T/mailq" -C "$T/outbox.conf"
	assert_grep '<bob@example.net>' "$T/out"
	expect_exit 0 "$T/newaliases"
	assert_grep 'no alias database to rebuild' "$T/out"
}
