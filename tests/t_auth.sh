# SMTP AUTH: each mechanism against aiosmtpd with the mechanisms of
# tests/smtpd.py, the choice "auth auto" makes, failures (wrong secret,
# a server signature that does not verify, a bad token), passwordeval,
# plaintext AUTH, the hold after a refused AUTH, secrets kept out of
# traces, spool and syslog, and the doctor mode (-bC).

TOKEN=ya29.A0-test-Bearer-Token_4711

# auth_delivers MECH AUTHKEY [smtpd.py options]: a server offering only
# MECH; with "auth AUTHKEY" a message is delivered after exactly one AUTH,
# with MECH, as alice.
auth_delivers() {
	_m=$1; _a=$2; shift 2
	smart_host s server --mechs "$_m" "$@"
	config auth "$_a"
	deliver_ok s
	auth_used s "$_m"
	assert_grep '^auth ok alice$' "$T/s/log"
	assert_grep '^auth alice$' "$T/s/msg.1.env"
}

# auth_used NAME MECH: the server in $T/NAME saw exactly one AUTH, MECH.
auth_used() {
	assert_grep "^auth mech $2\$" "$T/$1/log"
	[ "$(grep -c '^auth mech' "$T/$1/log")" = 1 ] || {
		sed 's/^/    | /' "$T/$1/log" >&2
		fail "more than one AUTH"
	}
}

# token_script FILE TOKEN: a script printing TOKEN, for passwordeval.
token_script() {
	printf '#!/bin/sh\nprintf "%%s\\n" "%s"\n' "$2" >"$1"
	chmod 755 "$1"
}

test_auth_plain() {
	auth_delivers PLAIN plain
}

test_auth_login() {
	auth_delivers LOGIN login
}

test_auth_cram_md5() {
	auth_delivers CRAM-MD5 cram-md5
}

test_auth_scram_sha256() {
	auth_delivers SCRAM-SHA-256 scram-sha-256
	# The iteration count is the server's.
	smart_host s2 server --mechs SCRAM-SHA-256 --scram-iterations 10000
	config auth scram-sha-256
	deliver_ok s2
	auth_used s2 SCRAM-SHA-256
}

# The OAuth 2 mechanisms take the token from passwordeval.
test_auth_xoauth2() {
	token_script "$T/token" "$TOKEN"
	smart_host s server --mechs XOAUTH2 --token "$TOKEN"
	config auth xoauth2 passwordeval "$T/token"
	conf_del password
	deliver_ok s
	auth_used s XOAUTH2
	assert_grep '^auth ok alice$' "$T/s/log"
}

test_auth_oauthbearer() {
	token_script "$T/token" "$TOKEN"
	smart_host s server --mechs OAUTHBEARER --token "$TOKEN"
	config auth oauthbearer passwordeval "$T/token"
	conf_del password
	deliver_ok s
	auth_used s OAUTHBEARER
	assert_grep '^auth ok alice$' "$T/s/log"
}

# auto: SCRAM-SHA-256, then CRAM-MD5, then PLAIN, then LOGIN, whatever
# order the server lists them in.
test_auth_auto_choice() {
	i=0
	for c in 'PLAIN,LOGIN,CRAM-MD5,SCRAM-SHA-256:SCRAM-SHA-256' \
	    'PLAIN,LOGIN,CRAM-MD5:CRAM-MD5' 'LOGIN,PLAIN:PLAIN' 'LOGIN:LOGIN' \
	    'EXTERNAL,LOGIN:LOGIN'; do
		# (EXTERNAL only with a client certificate: there is none.)
		i=$((i + 1))
		n=s$i
		smart_host "$n" server --mechs "${c%%:*}"
		config
		deliver_ok "$n"
		auth_used "$n" "${c#*:}"
	done
}

# auto never picks an OAuth mechanism: they need a token, which a
# password is not.
test_auth_auto_not_oauth() {
	smart_host s server --mechs XOAUTH2,OAUTHBEARER --token "$TOKEN"
	config
	refused s 'AUTH'
	assert_no_grep '^auth' "$T/s/log"
}

# After STARTTLS the capabilities of the first EHLO are forgotten: AUTH
# uses what the server offers under TLS.
test_auth_caps_after_starttls() {
	smart_host s server --mechs-plain PLAIN --mechs CRAM-MD5
	config
	deliver_ok s
	auth_used s CRAM-MD5
	# And it came after the handshake.
	sed -n '/^auth mech/q; p' "$T/s/log" | grep -q '^starttls$' ||
	    fail "AUTH before STARTTLS"
}

# A server that offers AUTH only before STARTTLS: nothing is sent.
test_auth_not_offered_after_tls() {
	smart_host s server --mechs-plain PLAIN,LOGIN --mechs ''
	config
	refused s 'does not offer AUTH'
	assert_no_grep '^auth' "$T/s/log"
	assert_grep '^starttls$' "$T/s/log"
}

# A wrong password: 535, the message waits, the reply's text is kept.
auth_wrong() {
	smart_host s server --mechs "$1"
	config auth "$2"
	conf_del password
	conf_add password wrong-Pa55
	refused s "AUTH $1 as alice failed"
	grep -q -F '535 5.7.8 Authentication credentials invalid' \
	    "$T/mailq" "$T/qerr" || fail "the 535 reply is not the reason given"
	auth_used s "$1"
	assert_grep '^auth fail$' "$T/s/log"
	assert_no_grep '^auth ok' "$T/s/log"
}

test_auth_wrong_password_plain() {
	auth_wrong PLAIN auto
}

test_auth_wrong_password_cram_md5() {
	auth_wrong CRAM-MD5 auto
}

test_auth_wrong_password_scram() {
	auth_wrong SCRAM-SHA-256 auto
}

# SCRAM: a server that cannot prove it knows the password (a wrong v=)
# is left before MAIL.
test_auth_scram_bad_signature() {
	smart_host s server --mechs SCRAM-SHA-256 --scram-bad-signature
	config
	refused s 'server signature does not verify'
	auth_used s SCRAM-SHA-256
}

# bad_token MECH KEY: the OAuth mechanism MECH ("auth KEY") with a token
# the server does not take.  The server's 334 carrying its JSON error is
# acknowledged (XOAUTH2: an empty line; OAUTHBEARER: a single 0x01, RFC
# 7628 3.2.3), then 535, and the message waits with that reason.
bad_token() {
	token_script "$T/token" "not-$TOKEN"
	smart_host s server --mechs "$1" --token "$TOKEN"
	config auth "$2" passwordeval "$T/token"
	conf_del password
	refused s "AUTH $1 as alice failed"
	grep -q -F '535 5.7.8' "$T/mailq" "$T/qerr" ||
	    fail "the 535 reply is not the reason given"
	assert_grep '^auth fail$' "$T/s/log"
	assert_no_grep 'not acknowledged' "$T/s/stdout"
}

test_auth_xoauth2_bad_token() {
	bad_token XOAUTH2 xoauth2
}

test_auth_oauthbearer_bad_token() {
	bad_token OAUTHBEARER oauthbearer
}

# passwordeval: the command split into words with '...' and "..." quotes,
# no shell; the password is the first line of its output, and travels
# neither in its arguments nor its environment.
test_auth_passwordeval_args() {
	cat >"$T/pw.sh" <<EOF
#!/bin/sh
for a in "\$@"; do printf '%s\\n' "\$a"; done >"$T/pw.argv"
env >"$T/pw.env"
echo s3cret-Pa55
echo second-line-is-not-the-password
EOF
	chmod 755 "$T/pw.sh"
	smart_host s
	config passwordeval "$T/pw.sh one 'two words' \"three  spaced\" 'it\"s'"
	conf_del password
	deliver_ok s
	printf '%s\n' one 'two words' 'three  spaced' 'it"s' | cmp -s - "$T/pw.argv" || {
		sed 's/^/    argv: /' "$T/pw.argv" >&2
		fail "arguments not split as quoted"
	}
	assert_no_grep 's3cret' "$T/pw.argv"
	assert_no_grep 's3cret' "$T/pw.env"
	assert_grep '^auth ok alice$' "$T/s/log"
}

# A shell only when the command runs one.
test_auth_passwordeval_sh() {
	smart_host s
	config passwordeval 'sh -c "echo s3cret-Pa55; echo not-this-one"'
	conf_del password
	deliver_ok s
	assert_grep '^auth ok alice$' "$T/s/log"
	# With a password as well it is a configuration error.
	config passwordeval 'sh -c "echo s3cret-Pa55"'
	printf 'Subject: x\n\nhi\n' | expect_exit 78 ob bob@example.net
	assert_grep 'outbox.conf.*passwordeval' "$T/err"
	[ "$(queued)" = 0 ] || fail "queued"
}

# A command that fails: the message waits, the error names the command
# and its status; no AUTH is tried.
test_auth_passwordeval_fails() {
	printf '#!/bin/sh\necho s3cret-Pa55\nexit 1\n' >"$T/fail-pw.sh"
	chmod 755 "$T/fail-pw.sh"
	smart_host s
	config passwordeval "$T/fail-pw.sh"
	conf_del password
	refused s 'fail-pw.sh'
	cat "$T/mailq" "$T/qerr" | grep 'fail-pw.sh' |
	    grep -q '[^0-9]1\([^0-9]\|$\)' || {
		sed 's/^/    | /' "$T/mailq" "$T/qerr" >&2
		fail "the exit status is not named"
	}
	assert_no_grep '^auth' "$T/s/log"
}

# A command that hangs is killed after timeout seconds: the run ends,
# the message waits, and the command is gone.
test_auth_passwordeval_hangs() {
	printf '#!/bin/sh\necho $$ >"%s"\nexec sleep 100\n' "$T/hang.pid" >"$T/hang.sh"
	chmod 755 "$T/hang.sh"
	smart_host s
	config passwordeval "$T/hang.sh" timeout 2
	conf_del password
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	"$OUTBOX" -C "$T/outbox.conf" -q >"$T/out" 2>"$T/err" &
	pid=$!
	if ! wait_gone "$pid" 30; then
		kill -KILL "$pid" 2>/dev/null
		[ -s "$T/hang.pid" ] && kill -KILL "$(cat "$T/hang.pid")" 2>/dev/null
		fail "the queue run still runs after 30 s"
	fi
	wait "$pid"
	rc=$?
	# The command must be gone; end it ourselves if not, before judging.
	wait_file "$T/hang.pid"
	left=no
	if kill -0 "$(cat "$T/hang.pid")" 2>/dev/null; then
		kill -KILL "$(cat "$T/hang.pid")"
		left=yes
	fi
	report "queue run with a hanging passwordeval ended after $((WAITED / 10)).$((WAITED % 10)) s"
	[ $left = no ] || fail "the passwordeval command was left running"
	[ "$WAITED" -le 150 ] || fail "took over 15 s with timeout 2"
	[ "$rc" = 75 ] || { cat "$T/err" >&2; fail "-q exited $rc, expected 75"; }
	[ "$(queued)" = 1 ] || fail "not kept queued"
	assert_no_grep '^auth' "$T/s/log"
	no_mail s
}

# AUTH in plaintext: refused at configuration load unless
# auth_plaintext yes says so.
test_auth_plaintext() {
	start_smtpd s --tls none --auth alice:s3cret-Pa55
	config tls off
	printf 'Subject: x\n\nhi\n' | expect_exit 78 ob bob@example.net
	[ "$(queued)" = 0 ] || fail "queued"
	assert_no_grep '^connect' "$T/s/log"
	config tls off auth_plaintext yes
	deliver_ok s
	auth_used s PLAIN
	assert_grep '^tls no$' "$T/s/msg.1.env"
	assert_grep '^auth alice$' "$T/s/msg.1.env"
}

# After a 5xx to AUTH, runs within 15 minutes do not connect at all,
# until the configuration or the password file changes.
test_auth_hold_after_failure() {
	smart_host s server --mechs PLAIN
	printf 'wrong-Pa55\n' >"$T/pw"
	chmod 600 "$T/pw"
	config passwordfile "$T/pw"
	conf_del password
	refused s 'AUTH PLAIN as alice failed'
	[ "$(grep -c '^connect' "$T/s/log")" = 1 ] || fail "not one session"
	# Held: no connection, exit 75, the reason says so and when.
	expect_exit 75 ob -v -q
	[ "$(grep -c '^connect' "$T/s/log")" = 1 ] || fail "connected while held"
	[ "$(queued)" = 1 ] || fail "not kept queued"
	expect_exit 0 ob -bp
	cat "$T/err" "$T/out" >"$T/held"
	grep 'AUTH' "$T/held" | grep -i 'again\|until\|before\|after' |
	    grep -q '[0-9]' || {
		sed 's/^/    | /' "$T/held" >&2
		fail "no reason saying AUTH failed and when it is tried again"
	}
	# The configuration changed: tried again (and refused again).
	touch -d "@$(($(date +%s) + 5))" "$T/outbox.conf"
	requeue_refused s 'AUTH PLAIN as alice failed'
	[ "$(grep -c '^connect' "$T/s/log")" = 2 ] || fail "not tried after a change"
	expect_exit 75 ob -q
	[ "$(grep -c '^connect' "$T/s/log")" = 2 ] || fail "connected while held"
	# The password file changed: delivered.
	printf 's3cret-Pa55\n' >"$T/pw"
	touch -d "@$(($(date +%s) + 10))" "$T/pw"
	expect_exit 0 ob -q
	[ "$(grep -c '^connect' "$T/s/log")" = 3 ] || fail "not tried after a change"
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered"
	[ "$(queued)" = 0 ] || fail "queue not empty"
}

# Secrets: with -v every AUTH payload is <redacted>; the secret, its
# base64 and base64 of PLAIN's message are in none of the trace, the
# spool and syslog.
SECRET=Zq8-unique-S3cret-Pw

secrets_check() {	# secrets_check MECH AUTHKEY [smtpd.py options]
	_m=$1; _a=$2; shift 2
	syslog_ready
	start_smtpd s --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
	    --auth "alice:$SECRET" --mechs "$_m" "$@"
	config auth "$_a"
	conf_del password
	case $_m in
	XOAUTH2)
		token_script "$T/token" "$TOKEN"
		conf_add passwordeval "$T/token" ;;
	*)	conf_add password "$SECRET" ;;
	esac
	printf 'Subject: x\n\nhi\n' | expect_exit 0 syslog_run "$T/syslog.txt" \
	    "$OUTBOX" -C "$T/outbox.conf" -v bob@example.net
	[ "$(count_msgs "$T/s")" = 1 ] || fail "AUTH $_m: not delivered"
	auth_used s "$_m"
	assert_grep "^>>> AUTH $_m" "$T/err"
	assert_grep '<redacted>' "$T/err"
	# Challenges are payloads too: every 334 and every line sent in
	# answer is redacted.
	assert_no_grep '^<<< 334 .*[^>]$' "$T/err"
	sed -n '/^<<< 334/{n;p;}' "$T/err" | grep -v '^>>> <redacted>$' &&
	    fail "AUTH $_m: an answer to a challenge is shown"
	plain=$(printf '\0alice\0%s' "$SECRET" | base64 -w 0)
	for f in "$T/err" "$T/spool" "$T/syslog.txt"; do
		assert_no_secret "$f" "$SECRET" "$TOKEN"
		assert_no_grep "$plain" "$f"
	done
	# The catcher did catch: syslog_run really saw outbox's log.
	assert_grep 'outbox' "$T/syslog.txt"
}

test_auth_secrets_plain() {
	secrets_check PLAIN plain
}

test_auth_secrets_login() {
	secrets_check LOGIN login
}

test_auth_secrets_cram_md5() {
	secrets_check CRAM-MD5 cram-md5
}

test_auth_secrets_scram() {
	secrets_check SCRAM-SHA-256 scram-sha-256
}

test_auth_secrets_xoauth2() {
	secrets_check XOAUTH2 xoauth2 --token "$TOKEN"
}

# A refused AUTH leaves the reason in the spool and the log: still
# without the secret that was sent.
test_auth_secrets_after_failure() {
	syslog_ready
	smart_host s server --mechs PLAIN
	config
	conf_del password
	conf_add password "$SECRET"
	printf 'Subject: x\n\nhi\n' | expect_exit 0 syslog_run "$T/syslog.txt" \
	    "$OUTBOX" -C "$T/outbox.conf" -v bob@example.net
	[ "$(queued)" = 1 ] || fail "not kept queued"
	assert_grep '^auth fail$' "$T/s/log"
	plain=$(printf '\0alice\0%s' "$SECRET" | base64 -w 0)
	expect_exit 0 ob -bp
	cp "$T/out" "$T/mailq"
	assert_grep 'AUTH PLAIN as alice failed' "$T/mailq"
	for f in "$T/err" "$T/spool" "$T/syslog.txt" "$T/mailq"; do
		assert_no_secret "$f" "$SECRET"
		assert_no_grep "$plain" "$f"
	done
}

# While the secret is in memory (the server holds its 235), no process
# of the run may dump core.
test_auth_no_core_dump() {
	smart_host s server --auth-delay 4
	config
	printf 'Subject: x\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	"$OUTBOX" -C "$T/outbox.conf" -q >"$T/out" 2>"$T/err" &
	pid=$!
	i=0
	until grep -q '^auth mech' "$T/s/log" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le 100 ] || { kill "$pid"; fail "no AUTH within 10 s"; }
		sleep 0.1
	done
	n=0
	for p in $(descendants "$pid"); do
		lim=$(sed -n 's/^Max core file size  *\([^ ]*\)  *\([^ ]*\).*/\1 \2/p' \
		    "/proc/$p/limits" 2>/dev/null) || continue
		[ -n "$lim" ] || continue
		n=$((n + 1))
		[ "${lim% *}" = 0 ] || {
			kill "$pid"
			fail "process $p ($(cat "/proc/$p/comm")) may dump core: $lim"
		}
	done
	[ $n -ge 1 ] || fail "no process of the run found"
	report "processes of the run checked during AUTH: $n"
	wait_gone "$pid" 30 || { kill "$pid"; fail "the run did not end"; }
	wait "$pid" || fail "-q failed: $(cat "$T/err")"
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered"
}

# Doctor mode: -bC goes through every step, sends no mail, and says how
# it went, one step a line.

# error_then_hint: -bC's output ($T/out) ends with one "error:" line and
# the "hint:" line right after it.
error_then_hint() {
	[ "$(grep -c '^error: ' "$T/out")" = 1 ] || fail "not one error: line"
	[ "$(tail -n 2 "$T/out" | cut -d: -f1 | tr '\n' ' ')" = 'error hint ' ] || {
		sed 's/^/    | /' "$T/out" >&2
		fail "the output does not end with error: and hint:"
	}
}
test_doctor_ok() {
	smart_host s
	config
	expect_exit 0 ob -bC
	for step in config host connect greeting ehlo tls 'certificate [0-9]' \
	    trust auth; do
		assert_grep "^$step: " "$T/out"
	done
	assert_grep "^  *pin: $(pin_of server)\$" "$T/out"
	# The subject: on its own indented line, or on the certificate's.
	grep -q '^  *subject: .*CN=localhost\|^certificate [0-9]: .*CN=localhost' \
	    "$T/out" || fail "the certificate's subject is not shown"
	assert_grep '^  *issuer: .*outbox test CA' "$T/out"
	assert_grep '^  *valid: ' "$T/out"
	assert_grep '^  *names: .*localhost' "$T/out"
	tail -n 1 "$T/out" | grep -q '^ok:' || fail "the last line is not ok:"
	assert_no_grep '^error:' "$T/out"
	assert_grep '^auth ok alice$' "$T/s/log"
	assert_grep '^quit$' "$T/s/log"
	no_mail s
	[ "$(queued)" = 0 ] || fail "something was queued"
}

test_doctor_bad_password() {
	smart_host s
	config
	conf_del password
	conf_add password wrong-Pa55
	expect_exit 75 ob -bC
	assert_grep '^tls: ' "$T/out"
	assert_grep '^error: .*535' "$T/out"
	error_then_hint
	assert_no_grep '^ok:' "$T/out"
	assert_grep '^hint: check user and the password' "$T/out"
	assert_grep '^auth fail$' "$T/s/log"
	no_mail s
	assert_no_secret "$T/out" wrong-Pa55
	assert_no_secret "$T/err" wrong-Pa55
}

test_doctor_untrusted() {
	smart_host s untrusted
	config
	expect_exit 75 ob -bC
	assert_grep "^  *pin: $(pin_of untrusted)\$" "$T/out"
	assert_grep "^hint: .*pin line: $(pin_of untrusted)\$" "$T/out"
	assert_grep '^error: .*not trusted' "$T/out"
	error_then_hint
	assert_no_grep '^ok:' "$T/out"
	assert_no_grep '^auth' "$T/s/log"
	no_mail s
}
