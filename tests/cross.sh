#!/bin/sh
# Cross builds of outbox, and their smoke test under qemu-user.
# usage: tests/cross.sh cc|multiarch|qemu|debarch ARCH
#        tests/cross.sh archs
#        tests/cross.sh check ARCH...
#
# cc, multiarch, qemu and debarch print, for ARCH, the musl-gcc wrapper that
# Debian's musl-dev:ARCH installs, the multiarch directory of /usr/lib
# that holds its libbearssl.a (libbearssl-dev:ARCH), the qemu-user
# program that runs its binaries (qemu-user-static), and its name as a
# Debian architecture (tests/deps.sh cross).  An unknown ARCH is an
# error that names the known ones.  archs lists the known ones.
#
# check runs cross/ARCH/outbox (make CROSS=ARCH) for each ARCH under its
# qemu, started by name (binfmt_misc is not needed), against aiosmtpd
# (tests/smtpd.py) on 127.0.0.1 with a test CA from tests/mkcerts.sh:
#   binary     its size, and file(1) says static, stripped, ARCH
#   queue      a cron-style submission with -odq exits 0 and mailq lists it
#   starttls   outbox -q delivers it over STARTTLS with AUTH: the server
#              got that body, from that sender, for that recipient
#   tls        sendmail -t -i delivers at once over implicit TLS with AUTH
#   untrusted  a server whose certificate no CA of cafile signed: outbox -q
#              exits 75 and the message stays queued with the reason, as
#              with ./outbox, the native binary, when it is there
# An architecture stops at its first failed step; the others go on.
# Prints one line per step, then the sizes; exits with the number of
# architectures that failed.  KEEP=1 keeps the scratch directory.
#
# Not covered: a setgid install.  Under qemu-user the kernel gives a
# set-group-ID bit's group to the program it starts, which is qemu, so a
# setgid cross binary runs without its group (binfmt_misc's C flag would
# be needed).

ARCHS="aarch64 armhf mipsel"

# arch ARCH: set CC, MULTIARCH, QEMU, DEBARCH and MACHINE (what file(1)
# says of the machine) for ARCH, or fail.
arch() {
	case $1 in
	aarch64)
		CC=aarch64-linux-musl-gcc MULTIARCH=aarch64-linux-gnu
		QEMU=qemu-aarch64-static DEBARCH=arm64 MACHINE='ARM aarch64' ;;
	armhf)
		CC=arm-linux-musleabihf-gcc MULTIARCH=arm-linux-gnueabihf
		QEMU=qemu-arm-static DEBARCH=armhf MACHINE='ARM, EABI5' ;;
	mipsel)
		CC=mipsel-linux-musl-gcc MULTIARCH=mipsel-linux-gnu
		QEMU=qemu-mipsel-static DEBARCH=mipsel MACHINE='MIPS, MIPS32' ;;
	*)
		echo "tests/cross.sh: unknown architecture '$1'" \
		    "(known: $ARCHS)" >&2
		return 1 ;;
	esac
}

case $1 in
cc|multiarch|qemu|debarch)
	[ $# = 2 ] || { echo "usage: tests/cross.sh $1 ARCH" >&2; exit 64; }
	[ -n "$2" ] || exit 0
	arch "$2" || exit 1
	case $1 in
	cc) echo "$CC" ;;
	multiarch) echo "$MULTIARCH" ;;
	qemu) echo "$QEMU" ;;
	debarch) echo "$DEBARCH" ;;
	esac
	exit 0 ;;
archs)
	echo "$ARCHS"
	exit 0 ;;
check)
	shift ;;
*)
	echo "usage: tests/cross.sh cc|multiarch|qemu|debarch ARCH" >&2
	echo "       tests/cross.sh archs" >&2
	echo "       tests/cross.sh check ARCH..." >&2
	exit 64 ;;
esac
[ $# -ge 1 ] || { echo "usage: tests/cross.sh check ARCH..." >&2; exit 64; }

PY=${PYTHON:-/usr/bin/python3}
TESTS=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$TESTS")
NATIVE=$ROOT/outbox
LIMIT=60	# seconds for any one command, and a server's lifetime
W=$(mktemp -d "${TMPDIR:-/tmp}/outbox-cross.XXXXXX") || exit 75
# Servers stop by the PIDs they wrote, then the scratch directory goes.
cleanup() {
	for p in "$W"/*/*/pid; do
		[ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null
	done
	if [ -n "$KEEP" ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sh "$TESTS/mkcerts.sh" "$W/certs" || exit 1
CERTS=$W/certs

# fail STEP WHY: end this architecture's run as failed at STEP.
fail() {
	echo "FAIL $A $1: $2" >&2
	exit 1
}

ok() {
	echo "ok   $A $*"
}

# server NAME CERT [smtpd.py options]: aiosmtpd in $D/NAME with AUTH
# for alice; sets PORT.
server() {
	_n=$1 _c=$2
	shift 2
	mkdir -p "$D/$_n"
	timeout $((LIMIT + 10)) "$PY" "$TESTS/smtpd.py" --dir "$D/$_n" \
	    --cert "$CERTS/$_c.pem" --key "$CERTS/$_c.key" \
	    --auth alice:s3cret-Pa55 --lifetime $LIMIT "$@" \
	    >"$D/$_n/stdout" 2>&1 &
	_i=0
	while [ ! -s "$D/$_n/port" ]; do
		_i=$((_i + 1))
		[ $_i -le 100 ] || { sed 's/^/    | /' "$D/$_n/stdout" >&2
		    fail "$STEP" "the server in $D/$_n did not start"; }
		sleep 0.1
	done
	PORT=$(cat "$D/$_n/port")
}

# conf NAME PORT [key value]...: $D/NAME.conf for the server on PORT,
# with its spool $D/NAME.spool and the password in a file.
conf() {
	_n=$1 _p=$2
	shift 2
	{
		echo "host localhost"
		echo "port $_p"
		echo "user alice"
		echo "passwordfile $D/password"
		echo "cafile $CERTS/ca.pem"
		echo "spool $D/$_n.spool"
		echo "domain example.org"
		echo "admin ops@example.org"
		echo "helo client.example.org"
		echo "timeout 20"
		while [ $# -ge 2 ]; do echo "$1 $2"; shift 2; done
	} >"$D/$_n.conf"
}

# ob CONF ARGS...: the binary under test with $D/CONF.conf, bounded in
# time; stdin passes through, stdout and stderr go to $D/out and $D/err,
# and the exit status is returned.
ob() {
	_c=$1
	shift
	timeout $LIMIT "$QEMU" "$BIN" -C "$D/$_c.conf" "$@" >"$D/out" 2>"$D/err"
}

# expect N STEP CMD...: CMD must exit N.
expect() {
	_want=$1 _step=$2
	shift 2
	"$@"
	_got=$?
	[ "$_got" = "$_want" ] && return 0
	sed 's/^/    stderr: /' "$D/err" >&2
	[ "$_got" = 124 ] && fail "$_step" "'$*' timed out after $LIMIT s"
	fail "$_step" "'$*' exited $_got, expected $_want"
}

# has STEP PATTERN FILE: FILE has a line matching PATTERN.
has() {
	grep -q -e "$2" "$3" 2>/dev/null && return 0
	[ -f "$3" ] && sed 's/^/    | /' "$3" >&2
	fail "$1" "'$2' is not in $3"
}

# body FILE: the body (after the first empty line), CRLF made LF.
body() {
	tr -d '\r' <"$1" | sed '1,/^$/d'
}

# same_body STEP SENT STORED: the server stored the body that was sent.
same_body() {
	body "$2" >"$D/sent.body"
	body "$3" >"$D/got.body"
	cmp -s "$D/sent.body" "$D/got.body" && return 0
	diff "$D/sent.body" "$D/got.body" | sed 's/^/    /' >&2
	fail "$1" "the body the server got differs from the one sent"
}

# one_msg STEP NAME: the server in $D/NAME stored exactly one message.
one_msg() {
	[ -f "$D/$2/msg.1.env" ] || fail "$1" "the server got no message"
	[ ! -f "$D/$2/msg.2.env" ] || fail "$1" "the server got two messages"
}

# queued NAME: the number of messages in $D/NAME.spool/queue.
queued() {
	ls "$D/$1.spool/queue" 2>/dev/null | wc -l | tr -d ' '
}

# smoke ARCH: the steps for one architecture, in a subshell of its own.
smoke() {
	A=$1
	arch "$A" 2>/dev/null || fail binary "unknown architecture (known: $ARCHS)"
	BIN=$ROOT/cross/$A/outbox
	D=$W/$A
	mkdir -p "$D"
	printf 's3cret-Pa55\n' >"$D/password"
	chmod 600 "$D/password"
	echo "== $A: cross/$A/outbox under $QEMU"

	STEP=binary
	[ -x "$BIN" ] || fail $STEP "no $BIN (make CROSS=$A)"
	command -v "$QEMU" >/dev/null 2>&1 ||
	    fail $STEP "no $QEMU (tests/deps.sh cross installs qemu-user-static)"
	size=$(wc -c <"$BIN" | tr -d ' ')
	info=$(file -b "$BIN")
	echo "     $size bytes; $info"
	case $info in
	*"$MACHINE"*) ;;
	*) fail $STEP "not a binary for $MACHINE" ;;
	esac
	case $info in
	*"statically linked"*", stripped"*) ;;
	*) fail $STEP "not static and stripped" ;;
	esac
	echo "$A $size" >>"$W/sizes"
	ok "$STEP: $size bytes, static, stripped, $MACHINE"

	# What cron sends: its output, with -i since a line may be a lone
	# dot, and 8-bit text.  Queued only (-odq); "root" goes to admin.
	STEP=queue
	server sub server
	conf sub "$PORT" tls starttls
	{
		printf 'From: root (Cron Daemon)\nTo: root\n'
		printf 'Subject: Cron <root@router> /usr/local/bin/backup\n\n'
		printf 'backup: 3 files, 12 KB\n.\n.a line SMTP dot-stuffs\n'
		printf 'Gr\303\274\303\237e aus %s\n' "$A"
	} >"$D/cron.msg"
	expect 0 $STEP ob sub -FCronDaemon -i -B8BITMIME -oem -odq root \
	    <"$D/cron.msg"
	[ "$(queued sub)" = 1 ] || fail $STEP "$(queued sub) messages queued, not 1"
	# mailq by its name, which qemu passes on as argv[0].
	ln -s "$BIN" "$D/mailq"
	timeout $LIMIT "$QEMU" "$D/mailq" -C "$D/sub.conf" >"$D/mailq.out" 2>"$D/err"
	rc=$?
	[ $rc = 0 ] || { sed 's/^/    stderr: /' "$D/err" >&2
	    fail $STEP "mailq exited $rc"; }
	id=$(ls "$D/sub.spool/queue")
	has $STEP "^$id " "$D/mailq.out"
	has $STEP "<ops@example.org>" "$D/mailq.out"
	has $STEP "in 1 message" "$D/mailq.out"
	ok "$STEP: -odq exited 0; mailq lists $id for <ops@example.org>"

	STEP=starttls
	expect 0 $STEP ob sub -q
	one_msg $STEP sub
	has $STEP '^starttls$' "$D/sub/log"
	has $STEP '^auth ok alice$' "$D/sub/log"
	has $STEP '^from root@example.org$' "$D/sub/msg.1.env"
	has $STEP '^rcpt ops@example.org$' "$D/sub/msg.1.env"
	has $STEP '^auth alice$' "$D/sub/msg.1.env"
	has $STEP '^tls yes$' "$D/sub/msg.1.env"
	has $STEP '^Subject: Cron <root@router> /usr/local/bin/backup' "$D/sub/msg.1"
	same_body $STEP "$D/cron.msg" "$D/sub/msg.1"
	[ "$(queued sub)" = 0 ] || fail $STEP "still queued after delivery"
	expect 0 $STEP ob sub -bp
	has $STEP '^Mail queue is empty' "$D/out"
	mech=$(sed -n 's/^auth mech //p' "$D/sub/log")
	ok "$STEP: outbox -q exited 0; STARTTLS, AUTH $mech as alice," \
	    "body identical, queue empty"

	# What a script does: recipients from the headers, delivered at once.
	STEP=tls
	server imp server --tls implicit
	conf imp "$PORT" tls tls
	{
		printf 'From: backup@example.org\nTo: Bob <bob@example.net>\n'
		printf 'Subject: implicit TLS from %s\n\n' "$A"
		printf 'line one\n\n  indented line\nlast line\n'
	} >"$D/script.msg"
	expect 0 $STEP ob imp -t -i <"$D/script.msg"
	one_msg $STEP imp
	has $STEP '^auth ok alice$' "$D/imp/log"
	has $STEP '^rcpt bob@example.net$' "$D/imp/msg.1.env"
	has $STEP '^auth alice$' "$D/imp/msg.1.env"
	has $STEP '^tls yes$' "$D/imp/msg.1.env"
	grep -q '^starttls' "$D/imp/log" &&
	    fail $STEP "STARTTLS on the implicit TLS port"
	same_body $STEP "$D/script.msg" "$D/imp/msg.1"
	[ "$(queued imp)" = 0 ] || fail $STEP "still queued after delivery"
	ok "$STEP: sendmail -t -i exited 0; implicit TLS, AUTH as alice," \
	    "body identical, queue empty"

	STEP=untrusted
	server bad untrusted
	conf bad "$PORT" tls starttls
	printf 'Subject: untrusted\n\nhi\n' >"$D/bad.msg"
	expect 0 $STEP ob bad -odq bob@example.net <"$D/bad.msg"
	expect 75 $STEP ob bad -q
	[ "$(queued bad)" = 1 ] || fail $STEP "not kept queued"
	expect 0 $STEP ob bad -bp
	sed -n 's/^ *last error: //p' "$D/out" >"$D/bad.reason"
	has $STEP 'certificate not trusted' "$D/bad.reason"
	grep -q '^mail' "$D/bad/log" && fail $STEP "the server got MAIL"
	[ -f "$D/bad/msg.1.env" ] && fail $STEP "the server got a message"
	if [ -x "$NATIVE" ]; then
		# The native binary: the same steps against the same server.
		conf native "$PORT" tls starttls
		timeout $LIMIT "$NATIVE" -C "$D/native.conf" -odq bob@example.net \
		    <"$D/bad.msg" >/dev/null 2>&1 ||
		    fail $STEP "the native binary did not queue the message"
		timeout $LIMIT "$NATIVE" -C "$D/native.conf" -q >/dev/null 2>&1
		rc=$?
		[ $rc = 75 ] && [ "$(queued native)" = 1 ] ||
		    fail $STEP "the native binary exited $rc, $(queued native) queued"
		timeout $LIMIT "$NATIVE" -C "$D/native.conf" -bp 2>/dev/null |
		    sed -n 's/^ *last error: //p' >"$D/native.reason"
		cmp -s "$D/bad.reason" "$D/native.reason" || {
			sed 's/^/    native: /' "$D/native.reason" >&2
			sed 's/^/    cross:  /' "$D/bad.reason" >&2
			fail $STEP "the reason differs from the native binary's"
		}
		how="as $NATIVE does"
	else
		how="(no $NATIVE to compare with)"
	fi
	ok "$STEP: outbox -q exited 75, kept queued with the reason, $how:"
	sed 's/^/     /' "$D/bad.reason"
}

start=$(date +%s)
failed=0
failures=
for a in "$@"; do
	(smoke "$a")
	if [ $? != 0 ]; then
		failed=$((failed + 1))
		failures="$failures $a"
	fi
	# This architecture's servers, by the PIDs they wrote.
	for p in "$W/$a"/*/pid; do
		[ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null
	done
done

echo "== sizes (wc -c; static, stripped)"
[ -x "$NATIVE" ] && printf '%-8s %7d  (native, %s)\n' "$(uname -m)" \
    "$(wc -c <"$NATIVE")" "$NATIVE"
[ -f "$W/sizes" ] && while read -r a n; do
	printf '%-8s %7d\n' "$a" "$n"
done <"$W/sizes"
echo "$(($# - failed)) of $# architectures passed in $(($(date +%s) - start)) s"
[ -z "$failures" ] || echo "check-cross: failed:$failures" >&2
exit $failed
