# Helpers for the outbox tests; sourced by tests/run.
#
# Each test runs in a subshell with its own directory $T (spool, config,
# servers' files).  Servers bind 127.0.0.1:0 and write the port they got;
# they stop by themselves after their lifetime, and tests/run also stops
# them by the PIDs they wrote.  Every helper that finds a failure calls
# fail, which ends the test.

PY=${PYTHON:-/usr/bin/python3}
TESTS=$(cd "$(dirname "$0")" && pwd)

# fail MESSAGE: end the test as failed.  The mark survives a fail from
# inside a pipeline's subshell, which exit alone would not end the test.
fail() {
	echo "    FAIL: $*" >&2
	: >"$T/failed"
	exit 1
}

# report FIGURES...: a result worth seeing even when the test passes;
# tests/run prints it under the test's "ok" line.
report() {
	echo "report: $*" >&2
}

# skip REASON: end the test as skipped (when it cannot run here).
skip() {
	echo "$*" >&2
	exit 77
}

# start_smtpd NAME [smtpd.py options]: aiosmtpd in $T/NAME; sets PORT.
start_smtpd() {
	_n=$1; shift
	mkdir -p "$T/$_n"
	"$PY" "$TESTS/smtpd.py" --dir "$T/$_n" --lifetime 60 "$@" \
	    >"$T/$_n/stdout" 2>&1 &
	wait_port "$T/$_n"
}

# smart_host NAME [CERT [smtpd.py options]]: the usual smart host, STARTTLS
# with a certificate from $CERTS (default: server, valid for localhost)
# and AUTH for the user and password that config writes.
smart_host() {
	_n=$1; _c=${2:-server}; shift; [ $# -gt 0 ] && shift
	start_smtpd "$_n" --cert "$CERTS/$_c.pem" --key "$CERTS/$_c.key" \
	    --auth alice:s3cret-Pa55 "$@"
}

# session_script [tls]: a scripted server's session up to and including
# DATA: plain without AUTH, or implicit TLS with AUTH PLAIN.  The caller
# adds the end.
session_script() {
	if [ -n "$1" ]; then
		printf '%s\n' starttls 'send 220 raw ESMTP\r\n' 'expect EHLO' \
		    'send 250-raw\r\n250 AUTH PLAIN\r\n' 'expect AUTH PLAIN' \
		    'send 235 ok\r\n'
	else
		printf '%s\n' 'send 220 raw ESMTP\r\n' 'expect EHLO' \
		    'send 250 raw\r\n'
	fi
	printf '%s\n' 'expect MAIL' 'send 250 ok\r\n' 'expect RCPT' \
	    'send 250 ok\r\n' 'expect DATA' 'send 354 go\r\n' 'data'
}

# start_raw NAME SCRIPT [rawsmtpd.py options]: the scripted server.
start_raw() {
	_n=$1; _s=$2; shift 2
	mkdir -p "$T/$_n"
	printf '%s\n' "$_s" >"$T/$_n/script"
	"$PY" "$TESTS/rawsmtpd.py" --dir "$T/$_n" --script "$T/$_n/script" \
	    --lifetime 30 "$@" >"$T/$_n/stdout" 2>&1 &
	wait_port "$T/$_n"
}

wait_port() {
	_i=0
	while [ ! -s "$1/port" ]; do
		_i=$((_i + 1))
		[ $_i -le 100 ] || { cat "$1/stdout" >&2; fail "server in $1 did not start"; }
		sleep 0.1
	done
	PORT=$(cat "$1/port")
}

# stop_servers: end the servers this test started, by their PIDs.
stop_servers() {
	for _p in "$T"/*/pid; do
		[ -f "$_p" ] && kill "$(cat "$_p")" 2>/dev/null
	done
	return 0
}

# config [key value]...: the test's outbox.conf, mode 0600 as a file
# with a password must be.  Defaults point at the server on $PORT.
config() {
	{
		echo "host localhost"
		echo "port ${PORT:-25}"
		echo "user alice"
		echo "password s3cret-Pa55"
		echo "cafile $CERTS/ca.pem"
		echo "spool $T/spool"
		echo "domain example.org"
		echo "helo client.example.org"
		echo "timeout 10"
		while [ $# -ge 2 ]; do echo "$1 $2"; shift 2; done
	} >"$T/outbox.conf"
	chmod 600 "$T/outbox.conf"
}

# ob ARGS...: the binary under test with the test's config.
ob() {
	"$OUTBOX" -C "$T/outbox.conf" "$@"
}

# expect_exit N CMD...: run CMD (stdin passes through); its status must
# be N.  Its output is kept in $T/out and $T/err.
expect_exit() {
	_want=$1; shift
	"$@" >"$T/out" 2>"$T/err"
	_got=$?
	if [ "$_got" != "$_want" ]; then
		sed 's/^/    stderr: /' "$T/err" >&2
		fail "'$*' exited $_got, expected $_want"
	fi
}

# wait_file PATH: wait (bounded) until PATH exists.
wait_file() {
	_i=0
	while [ ! -e "$1" ]; do
		_i=$((_i + 1))
		[ $_i -le 100 ] || fail "$1 did not appear"
		sleep 0.1
	done
}

assert_grep() {
	grep -q -e "$1" "$2" 2>/dev/null || {
		[ -f "$2" ] && sed 's/^/    | /' "$2" >&2
		fail "'$1' not found in $2"
	}
}

assert_no_grep() {
	if grep -q -e "$1" "$2" 2>/dev/null; then
		grep -e "$1" "$2" | sed 's/^/    | /' >&2
		fail "'$1' found in $2"
	fi
}

# count_msgs DIR: messages the server in DIR has stored.
count_msgs() {
	ls "$1" 2>/dev/null | grep -c '^msg\.[0-9]*\.env$'
}

# queued: number of messages in the spool's queue/.
queued() {
	ls "$T/spool/queue" 2>/dev/null | wc -l | tr -d ' '
}

# kept_failed: number of messages moved to the spool's failed/.
kept_failed() {
	ls "$T/spool/failed" 2>/dev/null | grep -c '^[0-9a-f]*$'
}

# body FILE: the body (after the first empty line) with CRLF made LF.
body() {
	tr -d '\r' <"$1" | sed '1,/^$/d'
}
