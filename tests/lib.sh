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
		printf '%s\n' 'expect MAIL' 'send 250 ok\r\n' 'expect RCPT' \
		    'send 250 ok\r\n' 'expect DATA'
	else
		prelude data
	fi
	printf '%s\n' 'send 354 go\r\n' 'data'
}

# prelude ehlo|mail|rcpt|data: a scripted server's plain session, each
# command before the one named answered with a 250, up to and including
# the expect of the one named.
prelude() {
	printf '%s\n' 'send 220 raw ESMTP\r\n' 'expect EHLO'
	[ "$1" = ehlo ] && return
	printf '%s\n' 'send 250 raw\r\n' 'expect MAIL'
	[ "$1" = mail ] && return
	printf '%s\n' 'send 250 ok\r\n' 'expect RCPT'
	[ "$1" = rcpt ] && return
	printf '%s\n' 'send 250 ok\r\n' 'expect DATA'
}

# accept_message FROM TO: a scripted server's side of a lock-step
# transaction from MAIL to the 250 that takes the message, then QUIT.
accept_message() {
	printf '%s\n' "expect MAIL FROM:<$1>" 'send 250 ok\r\n' \
	    "expect RCPT TO:<$2>" 'send 250 ok\r\n' 'expect DATA' \
	    'send 354 go\r\n' data 'send 250 ok\r\n' 'expect QUIT' \
	    'send 221 bye\r\n'
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

# --- Helpers for the TLS and AUTH tests (t_tls.sh, t_auth.sh) ---

# conf_del KEY...: remove every line of these keys from the test's config.
conf_del() {
	for _k in "$@"; do
		sed -i "/^$_k[ 	]/d" "$T/outbox.conf"
	done
}

# conf_add KEY VALUE...: append "KEY VALUE" lines to the test's config
# (a key given twice counts with its later value).
conf_add() {
	while [ $# -ge 2 ]; do
		printf '%s %s\n' "$1" "$2" >>"$T/outbox.conf"
		shift 2
	done
}

# pin_of NAME: the pin of $CERTS/NAME.pem, "sha256//BASE64".
pin_of() {
	cat "$CERTS/$1.pin"
}

# b64_forms SECRET: what SECRET looks like inside any base64 text, one
# form per line: its encoding at each of the three byte alignments, less
# the groups it shares with the bytes around it.  A text holding SECRET
# base64-encoded anywhere contains one of the forms.  SECRET must be 8
# bytes or more, so that no form is short enough to match by chance.
b64_forms() {
	[ ${#1} -ge 8 ] || fail "b64_forms: secret '$1' too short to look for"
	for _k in 0 1 2; do
		_e=$(printf '%s' "$1" | { head -c "$_k" /dev/zero; cat; } | base64 -w 0)
		[ "$_k" = 0 ] || _e=${_e#????}
		printf '%s\n' "${_e%????}"
	done
}

# assert_no_secret FILE SECRET...: FILE (or every file under a directory)
# holds none of the SECRETs, neither as they are nor base64-encoded.
assert_no_secret() {
	_f=$1; shift
	for _s in "$@"; do
		{ printf '%s\n' "$_s"; b64_forms "$_s"; } >"$T/secret.forms"
		if grep -r -F -q -f "$T/secret.forms" "$_f" 2>/dev/null; then
			grep -r -F -f "$T/secret.forms" "$_f" | sed 's/^/    | /' >&2
			rm -f "$T/secret.forms"
			fail "a secret (or its base64) is in $_f"
		fi
	done
	rm -f "$T/secret.forms"
}

# no_mail NAME: the server in $T/NAME received no MAIL and stored nothing.
no_mail() {
	assert_no_grep '^mail' "$T/$1/log"
	[ "$(count_msgs "$T/$1")" = 0 ] || fail "the server in $T/$1 got a message"
}

# deliver_ok NAME: a message queued now (-odq) is delivered by one
# "outbox -q" (exit 0) to the server in $T/NAME, which has one message
# more; the queue is empty.
deliver_ok() {
	_before=$(count_msgs "$T/$1")
	printf 'Subject: deliver_ok\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	expect_exit 0 ob -q
	[ "$(count_msgs "$T/$1")" = $((_before + 1)) ] ||
	    fail "not delivered to the server in $T/$1"
	[ "$(queued)" = 0 ] || fail "queue not empty"
}

# refused NAME TEXT: a message queued now (-odq) is refused by one
# "outbox -q": exit 75, the message stays queued, the error (mailq's last
# error or the run's stderr) contains TEXT, and the server in $T/NAME got
# no MAIL.  The run's stderr is kept in $T/qerr, mailq's output in
# $T/mailq.
refused() {
	printf 'Subject: refused\n\nhi\n' | expect_exit 0 ob -odq bob@example.net
	requeue_refused "$@"
}

# requeue_refused NAME TEXT: the same for what is queued already.
requeue_refused() {
	expect_exit 75 ob -q
	cp "$T/err" "$T/qerr"
	[ "$(queued)" -ge 1 ] || fail "not kept queued"
	expect_exit 0 ob -bp
	cp "$T/out" "$T/mailq"
	if ! grep -q -F -e "$2" "$T/mailq" "$T/qerr"; then
		sed 's/^/    mailq: /' "$T/mailq" >&2
		sed 's/^/    stderr: /' "$T/qerr" >&2
		fail "'$2' is not the reason given"
	fi
	no_mail "$1"
}

# unqueue: forget every queued message (and its state) between cases.
unqueue() {
	rm -f "$T"/spool/queue/* "$T"/spool/state/*
}

# descendants PID: PID and every process below it, one a line.
descendants() {
	"$PY" - "$1" <<'PYEOF'
import os, sys
kids = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            stat = open("/proc/%s/stat" % d).read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
todo = [int(sys.argv[1])]
while todo:
    p = todo.pop()
    print(p)
    todo += kids.get(p, [])
PYEOF
}

# wait_gone PID SECONDS: wait, in steps of 0.1 s, until PID has ended;
# false if it still runs after SECONDS.  Sets WAITED (tenths waited).
wait_gone() {
	WAITED=0
	while kill -0 "$1" 2>/dev/null; do
		[ "$WAITED" -lt $(($2 * 10)) ] || return 1
		sleep 0.1
		WAITED=$((WAITED + 1))
	done
	return 0
}

# The script syslog_run hands to "unshare -m": put the socket $1 on
# /dev/log in this private mount namespace, then run the command.  Where
# /dev/log does not exist (containers), a tmpfs goes on /dev holding
# links to everything of the real /dev (bound at $2) and the socket.
SYSLOG_NS='s=$1; d=$2; shift 2
if [ -e /dev/log ] || [ -L /dev/log ]; then
	mount --bind "$s" /dev/log || exit 70
else
	mkdir -p "$d" && mount --bind /dev "$d" &&
	    mount -t tmpfs -o mode=0755 outbox-test-dev /dev || exit 70
	for f in "$d"/* "$d"/.[!.]*; do
		[ -e "$f" ] || [ -L "$f" ] || continue
		ln -s "$f" "/dev/${f##*/}" || exit 70
	done
	: >/dev/log && mount --bind "$s" /dev/log || exit 70
fi
exec "$@"'

# syslog_ready: skip the test unless syslog_run can work here (call it
# first: a skip from inside expect_exit would lose its reason).
syslog_ready() {
	command -v unshare >/dev/null 2>&1 || skip "needs unshare (util-linux)"
	mkdir -p "$T/syslog"
	unshare -m --propagation private sh -c "$SYSLOG_NS" sh /dev/null \
	    "$T/syslog/dev" true </dev/null >/dev/null 2>&1 ||
	    skip "unable to put a socket on /dev/log in a private mount namespace"
}

# syslog_run FILE CMD...: run CMD (stdin passes through; its exit status
# is returned) where /dev/log is a datagram socket of ours, in a private
# mount namespace as in t_priv.sh, so that the real log is not touched;
# FILE gets what CMD logged, one datagram a line (control bytes as \xNN).
# Call syslog_ready first.
syslog_run() {
	_out=$1; shift
	mkdir -p "$T/syslog"
	rm -f "$T/syslog/sock" "$T/syslog/done"
	"$PY" - "$T/syslog" "$_out" <<'PYEOF' >"$T/syslog/stdout" 2>&1 &
import os, socket, sys, time
d, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(os.path.join(d, "sock"))
os.chmod(os.path.join(d, "sock"), 0o666)
with open(os.path.join(d, "pid.tmp"), "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(os.path.join(d, "pid.tmp"), os.path.join(d, "pid"))
end = time.monotonic() + 120   # bounded lifetime, like the servers
with open(out, "a") as f:
    while time.monotonic() < end:
        s.settimeout(max(0.1, end - time.monotonic()))
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        if data == b"\0end":  # syslog_run's own mark: all came before it
            break
        f.write("".join(chr(b) if 32 <= b < 127 else "\\x%02x" % b
                        for b in data.rstrip(b"\n")) + "\n")
        f.flush()
open(os.path.join(d, "done"), "w").close()
PYEOF
	_i=0
	while [ ! -S "$T/syslog/sock" ] || [ ! -s "$T/syslog/pid" ]; do
		_i=$((_i + 1))
		[ $_i -le 100 ] || { cat "$T/syslog/stdout" >&2; fail "syslog catcher did not start"; }
		sleep 0.1
	done
	unshare -m --propagation private sh -c "$SYSLOG_NS" sh \
	    "$T/syslog/sock" "$T/syslog/dev" "$@"
	_rc=$?
	"$PY" -c 'import socket, sys
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"\0end", sys.argv[1])' \
	    "$T/syslog/sock"
	_i=0
	while [ ! -e "$T/syslog/done" ] && [ $_i -lt 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	return $_rc
}

# --- Helpers for the resolver tests (t_dns.sh) ---
#
# The name server is NSD, a real one, in the foreground with a config and
# zones written under $T/NAME.  resolv.conf cannot carry a port, so each
# server listens on port 53 of a loopback address of its own: one picked
# at random in 127.53.0.0/16 (all of 127/8 is loopback on Linux) and
# found free, so that tests, a server of the last test still going down,
# and two runs of the suite at once do not meet.  The name servers stop
# by their PIDs, as the others do, and after 60 s by themselves.

# dns_ready: skip the test unless NSD is here (tests/deps.sh check).
dns_ready() {
	NSD=$(command -v nsd 2>/dev/null || echo /usr/sbin/nsd)
	[ -x "$NSD" ] || skip "needs nsd (apt-get install nsd)"
}

# dns_tool ARGS...: tests/dnstool.py (query, free, silent).
dns_tool() {
	"$PY" "$TESTS/dnstool.py" "$@"
}

# dns_addr: set NS to a free address 127.53.X.Y (port 53, UDP and TCP).
dns_addr() {
	_i=0
	while [ $_i -lt 20 ]; do
		set -- $(od -An -N2 -tu1 /dev/urandom)
		NS=127.53.$1.$(($2 % 254 + 1))
		dns_tool free "$NS" && return 0
		_i=$((_i + 1))
	done
	fail "no free port 53 in 127.53.0.0/16 for a name server" \
	    "(one listening on every address? systemctl disable --now nsd)"
}

# zone NAME ZONE [RECORD...]: the zone file $T/NAME/ZONE.zone for the NSD
# in $T/NAME: SOA and NS, then one line per RECORD ("mail IN A 127.0.0.1";
# names are relative to ZONE).  More lines may be appended to the file
# before start_nsd.
zone() {
	_n=$1; _z=$2; shift 2
	mkdir -p "$T/$_n"
	{
		printf '$ORIGIN %s.\n$TTL 60\n' "$_z"
		printf '@ IN SOA localhost. hostmaster.%s. 1 3600 600 86400 60\n' "$_z"
		printf '@ IN NS localhost.\n'
		for _r in "$@"; do printf '%s\n' "$_r"; done
	} >"$T/$_n/$_z.zone"
}

# start_nsd NAME [ADDR]: NSD serving every $T/NAME/ZONE.zone (a file that
# does not load leaves its zone answering SERVFAIL), on port 53 of ADDR
# (default: one from dns_addr); sets NS to the address.  Returns once it
# answers a query.  Its log is $T/NAME/log.
start_nsd() {
	_n=$1
	if [ -n "$2" ]; then NS=$2; else dns_addr; fi
	_d=$T/$_n
	mkdir -p "$_d"
	# No chroot, no user to switch to, no database, no zone transfer
	# state, no control socket: every file it writes is in $_d.
	{
		printf 'server:\n'
		printf '\tip-address: %s\n\tport: 53\n' "$NS"
		printf '\tdo-ip4: yes\n\tdo-ip6: no\n'
		printf '\tusername: ""\n\tchroot: ""\n\tzonesdir: "%s"\n' "$_d"
		printf '\tdatabase: ""\n\tzonelistfile: "%s/zone.list"\n' "$_d"
		printf '\txfrdfile: ""\n\txfrdir: "%s"\n' "$_d"
		printf '\tpidfile: "%s/pid"\n\tlogfile: "%s/log"\n' "$_d" "$_d"
		printf '\tserver-count: 1\n\tverbosity: 2\n\tround-robin: no\n'
		printf 'remote-control:\n\tcontrol-enable: no\n'
		for _f in "$_d"/*.zone; do
			[ -f "$_f" ] || continue
			_z=${_f##*/}
			printf 'zone:\n\tname: "%s"\n\tzonefile: "%s"\n' \
			    "${_z%.zone}" "$_f"
		done
	} >"$_d/nsd.conf"
	timeout 60 "$NSD" -d -c "$_d/nsd.conf" </dev/null >"$_d/stdout" 2>&1 &
	_bg=$!
	_i=0
	until dns_tool query --wait 0.2 "$NS" . SOA >/dev/null 2>&1; do
		_i=$((_i + 1))
		if [ $_i -gt 50 ] || ! kill -0 $_bg 2>/dev/null; then
			cat "$_d/stdout" "$_d/log" >&2 2>/dev/null
			fail "nsd on $NS did not start"
		fi
		sleep 0.1
	done
}

# start_silent NAME [ADDR]: a name server that never answers (dnstool.py
# silent) in $T/NAME, on port 53 of ADDR (default: one from dns_addr);
# sets NS.  $T/NAME/log gets one line per query it was sent.
start_silent() {
	_n=$1
	if [ -n "$2" ]; then NS=$2; else dns_addr; fi
	mkdir -p "$T/$_n"
	dns_tool silent --dir "$T/$_n" --addr "$NS" --lifetime 60 \
	    >"$T/$_n/stdout" 2>&1 &
	wait_file "$T/$_n/pid"
}

# resolv_conf LINE...: $T/resolv.conf with these lines, which outbox
# reads instead of /etc/resolv.conf ($OUTBOX_RESOLV_CONF, exported).
resolv_conf() {
	printf '%s\n' "$@" >"$T/resolv.conf"
	OUTBOX_RESOLV_CONF=$T/resolv.conf
	export OUTBOX_RESOLV_CONF
}
