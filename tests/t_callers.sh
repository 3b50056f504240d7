# The programs that call sendmail, run with outbox as their sendmail:
# s-nail, bsd-mailx, mutt, git send-email, PHP's mail() and cron (Debian's
# and cronie).  tests/deps.sh check installs them (bsd-mailx unpacked
# into tests/.callers).
#
# Each caller is pointed at $T/bin/sendmail, a wrapper that logs the
# arguments of every call to $T/argv and runs $T/sendmail, a link to the
# binary under test, then logs its exit status to $T/exits.  outbox finds
# its configuration through OUTBOX_CONFIG.  Each test checks what the
# server stored: the envelope exactly, the headers that matter, the body.

MAILX=$TESTS/.callers/bsd-mailx/usr/bin/bsd-mailx

# callers_setup: the smart host, a config that sends root's mail to
# ops@example.org, the link and the wrapper.
callers_setup() {
	smart_host s
	config admin ops@example.org
	ln -s "$OUTBOX" "$T/sendmail"
	mkdir -p "$T/bin"
	{
		echo '#!/bin/sh'
		echo "T='$T'"
		cat <<'EOF'
# One line a call: the arguments, quoted where they need it.
{
	printf sendmail
	for a; do
		case $a in
		'' | *[!A-Za-z0-9@%+,./:=_-]*) printf " '%s'" "$a" ;;
		*) printf ' %s' "$a" ;;
		esac
	done
	echo
} >>"$T/argv"
"$T/sendmail" "$@"
rc=$?
echo "exit $rc" >>"$T/exits"
exit $rc
EOF
	} >"$T/bin/sendmail"
	chmod +x "$T/bin/sendmail"
}

# need_cmd PATH|NAME: the caller is there, or the test fails saying so.
need_cmd() {
	command -v "$1" >/dev/null 2>&1 ||
	    fail "$1 is not installed: run sh tests/deps.sh check (as root)"
}

# run_caller [NAME=VALUE]... CMD...: CMD as a script or daemon runs it:
# stdin as given (never a terminal), an environment of its own with
# HOME=$T (no user's configuration), at most 30 seconds.  Must exit 0;
# its output is in $T/out and $T/err.
run_caller() {
	expect_exit 0 timeout 30 env -i PATH="$PATH" HOME="$T" TMPDIR="$T" \
	    LC_ALL=C.UTF-8 TERM=dumb OUTBOX_CONFIG="$T/outbox.conf" \
	    ASAN_OPTIONS="$ASAN_OPTIONS" UBSAN_OPTIONS="$UBSAN_OPTIONS" "$@"
}

# check_calls LINE...: sendmail was called once per LINE, with exactly
# those arguments, and every call exited 0.
check_calls() {
	printf '%s\n' "$@" >"$T/want.argv"
	cmp -s "$T/want.argv" "$T/argv" || {
		diff "$T/want.argv" "$T/argv" | sed 's/^/    /' >&2
		fail "sendmail's arguments differ"
	}
	for _l; do echo "exit 0"; done >"$T/want.exits"
	cmp -s "$T/want.exits" "$T/exits" ||
	    fail "sendmail did not exit 0 each time: $(cat "$T/exits")"
}

# check_env N SENDER RCPT...: message N's envelope, exactly.
check_env() {
	_n=$1; shift
	{
		echo "from $1"; shift
		for _r; do echo "rcpt $_r"; done
		printf 'auth alice\ntls yes\n'
	} >"$T/want.env"
	cmp -s "$T/want.env" "$T/s/msg.$_n.env" || {
		diff "$T/want.env" "$T/s/msg.$_n.env" | sed 's/^/    /' >&2
		fail "envelope of message $_n differs"
	}
}

# check_head N LINE...: message N's header (unfolded lines as stored,
# CR removed) has each LINE exactly, one Date and one Message-ID
# whatever their case, and no Bcc.
check_head() {
	_n=$1; shift
	[ -f "$T/s/msg.$_n.env" ] || fail "message $_n did not arrive"
	tr -d '\r' <"$T/s/msg.$_n" | sed '/^$/q' >"$T/head.$_n"
	for _h; do
		grep -qxF -e "$_h" "$T/head.$_n" || {
			sed 's/^/    | /' "$T/head.$_n" >&2
			fail "message $_n: no header line '$_h'"
		}
	done
	[ "$(grep -ci '^date:' "$T/head.$_n")" = 1 ] ||
	    fail "message $_n: not exactly one Date"
	[ "$(grep -ci '^message-id:' "$T/head.$_n")" = 1 ] ||
	    fail "message $_n: not exactly one Message-ID"
	if grep -qi '^bcc:' "$T/head.$_n"; then
		fail "message $_n: a Bcc header arrived"
	fi
}

# check_body N FILE: message N's body is FILE's text (line ends aside).
check_body() {
	body "$T/s/msg.$1" >"$T/got.$1"
	cmp -s "$2" "$T/got.$1" || {
		diff "$2" "$T/got.$1" | sed 's/^/    /' >&2
		fail "body of message $1 differs"
	}
}

# check_done N: N messages arrived and none is left in the queue.
check_done() {
	[ "$(count_msgs "$T/s")" = "$1" ] ||
	    fail "$(count_msgs "$T/s") messages arrived, expected $1"
	[ "$(queued)" = 0 ] || fail "queue not empty"
}

# s-nail (mailx) with its mta variable, as a script uses it: subject,
# Cc and Bcc on the command line, the body on stdin, -r for the sender.
# It passes -i and the recipients after --; the 8-bit body arrives
# quoted-printable, the lone dot as "=2E".
test_caller_snail() {
	need_cmd s-nail
	callers_setup
	printf 'Disk usage on /srv: 81%%\n.\nGröße: 12 GiB\n' >"$T/in"
	run_caller MAILRC=/dev/null s-nail -n -S mta="$T/bin/sendmail" \
	    -S sendwait -r 'Alice Sender <alice@example.org>' \
	    -s 'Disk report für srv' -c carol@example.net \
	    -b dave@example.net bob@example.net <"$T/in"
	check_calls "sendmail -i -F 'Alice Sender' -f alice@example.org --\
 bob@example.net carol@example.net dave@example.net"
	check_env 1 alice@example.org bob@example.net carol@example.net \
	    dave@example.net
	check_head 1 'From: Alice Sender <alice@example.org>' \
	    'To: bob@example.net' 'Cc: carol@example.net' \
	    'Subject: Disk report =?utf-8?B?ZsO8cg==?= srv' \
	    'Content-Transfer-Encoding: quoted-printable'
	printf 'Disk usage on /srv: 81%%\n=2E\nGr=C3=B6=C3=9Fe: 12 GiB\n' >"$T/want"
	check_body 1 "$T/want"
	assert_no_grep 'dave@' "$T/s/msg.1"
	check_done 1
}

# bsd-mailx (unpacked, see deps.sh) with its sendmail variable from the
# file MAILRC names; -n skips /etc/mail.rc.  It passes -i -t -f and
# leaves the recipients, the Bcc among them, to the header; it writes
# no Date and no Message-ID, so outbox adds them.
test_caller_bsd_mailx() {
	[ -x "$MAILX" ] ||
	    fail "$MAILX is missing: run sh tests/deps.sh check"
	callers_setup
	printf 'set sendmail=%s\n' "$T/bin/sendmail" >"$T/mailrc"
	printf 'Backup of /srv done.\n.\nGröße: 3 GiB ✓\n' >"$T/in"
	run_caller MAILRC="$T/mailrc" "$MAILX" -n -s 'Backup für srv' \
	    -r alice@example.org -c 'Carol <carol@example.net>' \
	    -b dave@example.net -- bob@example.net <"$T/in"
	check_calls 'sendmail -i -t -f alice@example.org'
	check_env 1 alice@example.org bob@example.net carol@example.net \
	    dave@example.net
	check_head 1 'From: alice@example.org' 'To: bob@example.net' \
	    'Cc: Carol <carol@example.net>' 'Subject: Backup für srv' \
	    'Content-Transfer-Encoding: 8bit'
	check_body 1 "$T/in"
	assert_no_grep 'dave@' "$T/s/msg.1"
	check_done 1
}

# mutt in batch mode (-F /dev/null: no muttrc), sendmail set to the
# wrapper with the flags of mutt's default ("-oem -oi"), an attachment,
# Cc and Bcc; use_envelope_from adds -f.
test_caller_mutt() {
	need_cmd mutt
	callers_setup
	printf 'Weekly numbers attached.\n.\nÜbersicht: 3 Zeilen\n' >"$T/in"
	printf 'day,count\nmon,17\ntue,23\n' >"$T/numbers.csv"
	run_caller mutt -n -F /dev/null \
	    -e "set sendmail='$T/bin/sendmail -oem -oi'" \
	    -e 'set from="Alice Sender <alice@example.org>"' \
	    -e 'set use_envelope_from=yes' -e 'set record=""' \
	    -e 'set send_charset=utf-8' -e 'set hostname=example.org' \
	    -s 'Weekly numbers' -c carol@example.net -b dave@example.net \
	    -a "$T/numbers.csv" -- bob@example.net <"$T/in"
	check_calls "sendmail -oem -oi -f alice@example.org --\
 bob@example.net carol@example.net dave@example.net"
	check_env 1 alice@example.org bob@example.net carol@example.net \
	    dave@example.net
	check_head 1 'From: Alice Sender <alice@example.org>' \
	    'To: bob@example.net' 'Cc: carol@example.net' \
	    'Subject: Weekly numbers'
	assert_grep '^Content-Type: multipart/mixed; boundary=' "$T/head.1"
	body "$T/s/msg.1" >"$T/got"
	for l in 'Weekly numbers attached.' '.' 'Übersicht: 3 Zeilen' \
	    'Content-Disposition: attachment; filename="numbers.csv"' \
	    'day,count' 'mon,17' 'tue,23'; do
		grep -qxF -e "$l" "$T/got" || {
			sed 's/^/    | /' "$T/got" >&2
			fail "body: no line '$l'"
		}
	done
	assert_no_grep 'dave@' "$T/s/msg.1"
	check_done 1
}

# git send-email --sendmail-cmd with a two-patch series from a throwaway
# repository: one sendmail call per patch, the second threaded to the
# first by the Message-Id git made (which outbox keeps, adding none).
test_caller_git_send_email() {
	need_cmd git
	callers_setup
	g() { run_caller GIT_CONFIG_NOSYSTEM=1 git -C "$T/repo" "$@"; }
	mkdir "$T/repo"
	g init -q
	g config user.name 'Alice Sender'
	g config user.email alice@example.org
	printf 'one\n' >"$T/repo/f"
	g add f
	g commit -q -m 'Start f'
	printf 'two\n' >>"$T/repo/f"
	g commit -q -a -m 'Add a second line' -m 'Größer als vorher.'
	printf '.\nthree ✓\n' >>"$T/repo/f"
	g commit -q -a -m 'Add a dot and a third line'
	g format-patch -q -2 -o "$T/patches"
	g send-email --sendmail-cmd="$T/bin/sendmail" --confirm=never \
	    --envelope-sender=auto --suppress-cc=all --to=bob@example.net \
	    --cc=carol@example.net --bcc=dave@example.net "$T"/patches/*.patch \
	    </dev/null
	check_calls \
	    'sendmail -f alice@example.org -i bob@example.net carol@example.net dave@example.net' \
	    'sendmail -f alice@example.org -i bob@example.net carol@example.net dave@example.net'
	for n in 1 2; do
		check_env $n alice@example.org bob@example.net \
		    carol@example.net dave@example.net
		check_head $n 'From: Alice Sender <alice@example.org>' \
		    'To: bob@example.net' 'Cc: carol@example.net'
		assert_no_grep 'dave@' "$T/s/msg.$n"
	done
	check_head 1 "Subject: [PATCH 1/2] Add a second line" \
	    'Content-Type: text/plain; charset=UTF-8' \
	    'Content-Transfer-Encoding: 8bit'
	check_head 2 "Subject: [PATCH 2/2] Add a dot and a third line"
	mid=$(sed -n 's/^Message-Id: //p' "$T/head.1")
	[ -n "$mid" ] || fail "no Message-Id from git in message 1"
	check_head 2 "In-Reply-To: $mid"
	body "$T/s/msg.1" >"$T/got"
	grep -qxF 'Größer als vorher.' "$T/got" || fail "message 1: no 8-bit text"
	grep -qxF '+two' "$T/got" || fail "message 1: no diff"
	body "$T/s/msg.2" >"$T/got"
	grep -qxF '+.' "$T/got" && grep -qxF '+three ✓' "$T/got" ||
	    fail "message 2: diff not whole"
	check_done 2
}

# PHP's mail(): popen("sendmail -t -i"), headers with PHP 8's CRLF
# separators, the message with the script's own LF line ends; no Date
# or Message-ID.  Then the same with mail()'s fifth argument
# "-fshop@example.org", which PHP appends to the command line.
test_caller_php_mail() {
	callers_setup
	php_message() {
		printf 'To: bob@example.net, Carol <carol@example.net>\r\n'
		printf 'Subject: Order #42 confirmed\r\n'
		printf 'From: Shop <shop@example.org>\r\nBcc: dave@example.net\r\n'
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: text/plain; charset=UTF-8\r\n'
		printf '\r\nThank you for your order.\n.\nTotal: 12,50 €\r\n'
	}
	php_message >"$T/in"
	run_caller sh -c "$T/bin/sendmail -t -i" <"$T/in"
	run_caller sh -c "$T/bin/sendmail -t -i -fshop@example.org" <"$T/in"
	check_calls 'sendmail -t -i' 'sendmail -t -i -fshop@example.org'
	check_env 1 "$(id -un)@example.org" bob@example.net \
	    carol@example.net dave@example.net
	check_env 2 shop@example.org bob@example.net carol@example.net \
	    dave@example.net
	printf 'Thank you for your order.\n.\nTotal: 12,50 €\n' >"$T/want"
	for n in 1 2; do
		check_head $n 'To: bob@example.net, Carol <carol@example.net>' \
		    'Subject: Order #42 confirmed' 'From: Shop <shop@example.org>'
		check_body $n "$T/want"
		assert_no_grep 'dave@' "$T/s/msg.$n"
	done
	check_done 2
}

# cron_output: a job's output, UTF-8, a lone dot, no final newline.
cron_output() {
	printf 'rsync: 3 files, Größe 12 MiB\n.\nfertig ✓'
}

# Debian's cron (3.0pl1): "sendmail -FCronDaemon -i -B8BITMIME -oem
# MAILTO", MAILTO split into words, no -t, no -f; its header: From root
# (Cron Daemon), To MAILTO, Subject with the short host name, MIME and
# X-Cron-Env lines, no Date or Message-ID.  root goes to admin; the
# output arrives with a final newline added.  Then MAILTO as a list.
test_caller_cron_debian() {
	callers_setup
	host=$(uname -n | cut -d. -f1)
	for mailto in root root,bob@example.net; do
		{
			printf 'From: root (Cron Daemon)\nTo: %s\n' "$mailto"
			printf 'Subject: Cron <root@%s> /usr/local/sbin/backup\n' "$host"
			printf 'MIME-Version: 1.0\n'
			printf 'Content-Type: text/plain; charset=UTF-8\n'
			printf 'Content-Transfer-Encoding: 8bit\n'
			[ "$mailto" = root ] ||
			    printf 'X-Cron-Env: <MAILTO=%s>\n' "$mailto"
			printf 'X-Cron-Env: <SHELL=/bin/sh>\nX-Cron-Env: <HOME=/root>\n'
			printf 'X-Cron-Env: <PATH=/usr/bin:/bin>\n'
			printf 'X-Cron-Env: <LOGNAME=root>\n\n'
			cron_output
		} >"$T/in"
		run_caller "$T/bin/sendmail" -FCronDaemon -i -B8BITMIME -oem \
		    "$mailto" <"$T/in"
	done
	check_calls 'sendmail -FCronDaemon -i -B8BITMIME -oem root' \
	    'sendmail -FCronDaemon -i -B8BITMIME -oem root,bob@example.net'
	me=$(id -un)@example.org
	check_env 1 "$me" ops@example.org
	check_env 2 "$me" ops@example.org bob@example.net
	{ cron_output; echo; } >"$T/want"
	for n in 1 2; do
		check_head $n 'From: root@example.org (Cron Daemon)' \
		    "Subject: Cron <root@$host> /usr/local/sbin/backup" \
		    'Content-Transfer-Encoding: 8bit' 'X-Cron-Env: <LOGNAME=root>'
		check_body $n "$T/want"
	done
	# Local names in the header are qualified with the domain.
	check_head 1 'To: root@example.org'
	check_head 2 'To: root@example.org,bob@example.net'
	check_done 2
}

# cronie: "sendmail -FCronDaemon -i -odi -oem -oi -t -f MAILFROM" with
# the recipients in To (MAILTO, here a list); Auto-Submitted, no MIME
# version.
test_caller_cronie() {
	callers_setup
	host=$(uname -n | cut -d. -f1)
	{
		printf 'From: root (Cron Daemon)\nTo: root,bob@example.net\n'
		printf 'Subject: Cron <root@%s> /usr/local/sbin/backup\n' "$host"
		printf 'Content-Type: text/plain; charset=UTF-8\n'
		printf 'Auto-Submitted: auto-generated\n'
		printf 'X-Cron-Env: <MAILTO=root,bob@example.net>\n'
		printf 'X-Cron-Env: <SHELL=/bin/sh>\nX-Cron-Env: <HOME=/root>\n'
		printf 'X-Cron-Env: <PATH=/usr/bin:/bin>\n'
		printf 'X-Cron-Env: <LOGNAME=root>\nX-Cron-Env: <USER=root>\n\n'
		cron_output
	} >"$T/in"
	run_caller "$T/bin/sendmail" -FCronDaemon -i -odi -oem -oi -t -f root \
	    <"$T/in"
	check_calls 'sendmail -FCronDaemon -i -odi -oem -oi -t -f root'
	check_env 1 root@example.org ops@example.org bob@example.net
	check_head 1 'From: root@example.org (Cron Daemon)' \
	    'To: root@example.org,bob@example.net' \
	    "Subject: Cron <root@$host> /usr/local/sbin/backup" \
	    'Auto-Submitted: auto-generated' 'X-Cron-Env: <USER=root>'
	{ cron_output; echo; } >"$T/want"
	check_body 1 "$T/want"
	check_done 1
}
