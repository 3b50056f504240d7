# outbox in a bare root: the layout of the image that contrib/Dockerfile
# builds FROM scratch, run with chroot.  The root holds the binary with
# the links "make install" makes, the CA bundle, the spool directory,
# and what a container gets mounted: /etc/outbox.conf (and a password
# file), /etc/resolv.conf.  No /dev, /proc, /tmp, /etc/passwd, /etc/hosts
# nor a shell.  The smart host is aiosmtpd on loopback with STARTTLS and
# AUTH, reached by its address or by a name that NSD serves.
#
# The sanitizer build is dynamic: its libraries go into the root too, and
# ASan wants /proc, which is mounted there in a private mount namespace
# for that build only.  The release build runs without it.
#
# The last test stands the alpine image's layout up the same way, with
# Debian's static busybox, to run contrib/docker-entrypoint.sh.

# scratch_ready: skip unless this can run here.  Sets SCRATCH_DYN (1 for
# a dynamic binary) and SCRATCH_UNSHARE (the prefix that lets an ordinary
# user chroot: a user namespace where that user is root).
scratch_ready() {
	command -v chroot >/dev/null 2>&1 || skip "needs chroot (coreutils)"
	SCRATCH_DYN=0
	if ldd "$OUTBOX" >/dev/null 2>&1; then
		SCRATCH_DYN=1
	fi
	SCRATCH_UNSHARE=
	if [ "$(id -u)" != 0 ]; then
		unshare -r chroot / true >/dev/null 2>&1 ||
		    skip "needs root, or unshare -r for chroot in a user namespace"
		[ "$SCRATCH_DYN" = 0 ] ||
		    skip "the sanitizer build needs /proc mounted in the root," \
		    "which takes root"
		SCRATCH_UNSHARE="unshare -r"
	fi
	unset OUTBOX_CONFIG OUTBOX_RESOLV_CONF
	R=$T/root
}

# scratch_root: the image's layout under $R, as contrib/Dockerfile makes
# it with "make install DESTDIR=/stage PREFIX=/usr" and then copies it:
# the binary and its links, the CA bundle (here the test CA alone, so
# that only this file can make the server's certificate pass), and the
# spool directory, mode 0700.  For a dynamic binary, the libraries ldd
# names and a /proc to mount on.  $T/layout lists what is there.
scratch_root() {
	mkdir -p "$R/usr/sbin" "$R/usr/bin" "$R/etc/ssl/certs" "$R/var/spool"
	cp "$OUTBOX" "$R/usr/sbin/outbox" || fail "unable to copy the binary"
	chmod 755 "$R/usr/sbin/outbox"
	ln -s outbox "$R/usr/sbin/sendmail"
	ln -s outbox "$R/usr/sbin/newaliases"
	ln -s /usr/sbin/outbox "$R/usr/bin/mailq"
	cp "$CERTS/ca.pem" "$R/etc/ssl/certs/ca-certificates.crt"
	chmod 644 "$R/etc/ssl/certs/ca-certificates.crt"
	mkdir -m 0700 "$R/var/spool/outbox"
	root_libs
	for d in dev tmp etc/passwd etc/group etc/hosts bin/sh; do
		[ ! -e "$R/$d" ] || fail "the root has /$d"
	done
}

# root_libs: for a dynamic binary, the libraries ldd names and a /proc to
# mount on.
root_libs() {
	[ "$SCRATCH_DYN" = 1 ] || return 0
	for l in $(ldd "$OUTBOX" | sed -n 's/.*[ 	]\(\/[^ ]*\) (0x.*/\1/p'); do
		mkdir -p "$R${l%/*}"
		cp -L "$l" "$R$l" || fail "unable to copy $l"
	done
	mkdir -m 0555 "$R/proc"
}

# scratch_conf [key value]...: the mounted /etc/outbox.conf, mode 0600:
# the smart host on $PORT, AUTH, and no cafile or spool line, so the
# defaults inside the root are used.
scratch_conf() {
	{
		echo "port $PORT"
		echo "user alice"
		echo "domain example.org"
		echo "timeout 10"
		while [ $# -ge 2 ]; do echo "$1 $2"; shift 2; done
	} >"$R/etc/outbox.conf"
	chmod 600 "$R/etc/outbox.conf"
}

# layout: what the root holds, but the spool's contents, the sanitizer's
# libraries and reports and /proc, one path a line with its type.
layout() {
	(cd "$R" && find . \( -path ./var/spool/outbox -o -path ./proc \
	    -o -path ./lib -o -path ./lib64 -o -path ./usr/lib \
	    -o -path ./usr/lib64 \) -prune -o -printf '%y %p\n' |
	    grep -v '^f \./sanitizer\.' | sort)
}

# inroot CMD...: CMD run in the root (stdin passes through; its status is
# returned), bounded in time.  A dynamic binary gets /proc mounted, in a
# mount namespace of its own, and its sanitizer reports are moved to $T
# for tests/run to find.
inroot() {
	if [ "$SCRATCH_DYN" = 1 ]; then
		ASAN_OPTIONS=$(printf '%s' "$ASAN_OPTIONS" |
		    sed 's|log_path=[^:]*|log_path=/sanitizer|') \
		    timeout -k 5 60 unshare -m --propagation private sh -c \
		    'mount -t proc outbox-test-proc "$0/proc" || exit 70
		    exec chroot "$0" "$@"' "$R" "$@"
	else
		timeout -k 5 60 $SCRATCH_UNSHARE chroot "$R" "$@"
	fi
	_rc=$?
	sanitizer_reports
	return $_rc
}

# sanitizer_reports: move the reports written in the root to $T.
sanitizer_reports() {
	for _f in "$R"/sanitizer.*; do
		[ -f "$_f" ] && mv "$_f" "$T/${_f##*/}"
	done
	return 0
}

# root_pids [NSPID]: the processes that run the root's binary (those that
# are process NSPID of their innermost PID namespace), one a line.
root_pids() {
	for _p in /proc/[0-9]*; do
		[ "$(readlink "$_p/exe" 2>/dev/null)" = "$R/usr/sbin/outbox" ] ||
		    continue
		if [ -n "$1" ]; then
			grep -q "^NSpid:.*[ 	]$1\$" "$_p/status" 2>/dev/null ||
			    continue
		fi
		echo "${_p#/proc/}"
	done
}

# spooled: the messages in the root's queue.
spooled() {
	ls "$R/var/spool/outbox/queue" 2>/dev/null | wc -l | tr -d ' '
}

# cron_mail TOKEN: a message as cron writes it, whose body carries TOKEN.
cron_mail() {
	printf '%s\n' 'From: root (Cron Daemon)' 'To: root' \
	    'Subject: Cron <root@app> /usr/local/bin/backup' \
	    'MIME-Version: 1.0' 'Content-Type: text/plain; charset=UTF-8' \
	    'Content-Transfer-Encoding: 8bit' 'X-Cron-Env: <SHELL=/bin/sh>' \
	    'X-Cron-Env: <HOME=/root>' 'X-Cron-Env: <LOGNAME=root>' '' \
	    "backup done: $1" '.' 'a line with a dot alone came before'
}

# same_body MSG TOKEN: the server's MSG has the body of cron_mail TOKEN.
same_body() {
	cron_mail "$2" | sed '1,/^$/d' >"$T/want"
	body "$1" >"$T/got"
	cmp -s "$T/want" "$T/got" || {
		diff "$T/want" "$T/got" | sed 's/^/    /' >&2
		fail "$1: not the body that was submitted"
	}
}

# The smart host by address, as in the image with only its mounted
# config: cron's message is queued in the root's spool (the config says
# "deliver queue", as an application container that leaves delivery to a
# sidecar would), mailq lists it, outbox -q sends it over STARTTLS with
# AUTH, checking the certificate (issued for 127.0.0.1) against the CA
# bundle in the root.  Then a message with -odi goes at once.  Nothing
# is made outside the spool.
test_scratch_ip() {
	scratch_ready
	smart_host s ip
	scratch_root
	scratch_conf host 127.0.0.1 password s3cret-Pa55 deliver queue
	printf 'nameserver 127.0.0.1\n' >"$R/etc/resolv.conf"
	layout >"$T/layout"

	# (a) As cron hands over a job's output.
	cron_mail one | expect_exit 0 inroot /usr/sbin/sendmail -oi -oem root
	[ "$(spooled)" = 1 ] || fail "not queued in the root's spool"
	id=$(ls "$R/var/spool/outbox/queue")
	grep -q -F 'backup done: one' "$R/var/spool/outbox/queue/$id" ||
	    fail "the queued file does not hold the message"
	[ "$(count_msgs "$T/s")" = 0 ] || fail "sent despite deliver queue"

	# (b) Both listings name it and its recipient.
	for cmd in "/usr/sbin/outbox -bp" /usr/bin/mailq; do
		expect_exit 0 inroot $cmd
		assert_grep "^$id " "$T/out"
		assert_grep '<root@example.org>' "$T/out"
	done

	# (c) The queue run delivers it, and only it.
	expect_exit 0 inroot /usr/sbin/outbox -q
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered by outbox -q"
	assert_grep '^rcpt root@example.org$' "$T/s/msg.1.env"
	# No /etc/passwd, no from line: uid 0 is still root.
	assert_grep '^from root@example.org$' "$T/s/msg.1.env"
	assert_grep '^auth alice$' "$T/s/msg.1.env"
	assert_grep '^tls yes$' "$T/s/msg.1.env"
	same_body "$T/s/msg.1" one
	assert_grep '^Subject: Cron <root@app> /usr/local/bin/backup' "$T/s/msg.1"
	[ "$(spooled)" = 0 ] || fail "queue not empty after the run"

	# (d) In the foreground: delivered before sendmail returns.
	cron_mail two |
	    expect_exit 0 inroot /usr/sbin/sendmail -odi -oi -oem root
	[ "$(count_msgs "$T/s")" = 2 ] || fail "-odi did not deliver at once"
	same_body "$T/s/msg.2" two
	[ "$(spooled)" = 0 ] || fail "queue not empty after -odi"

	layout >"$T/layout.after"
	diff "$T/layout" "$T/layout.after" >"$T/layout.diff" || {
		sed 's/^/    /' "$T/layout.diff" >&2
		fail "outbox made files outside its spool"
	}
}

# The smart host by name, as a container finds it: mail.outbox.test
# exists only in the zone NSD serves on the address in the root's
# resolv.conf (there is no /etc/hosts), and the certificate names it.
# The config is public and the password is in a file of mode 0600, as a
# mounted secret.  Cron's message goes at once, with the default -odi.
test_scratch_dns() {
	scratch_ready
	dns_ready
	smart_host s target
	zone ns outbox.test 'mail IN A 127.0.0.1'
	start_nsd ns
	scratch_root
	printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$NS" \
	    >"$R/etc/resolv.conf"
	mkdir -p "$R/run/secrets"
	printf 's3cret-Pa55\n' >"$R/run/secrets/outbox-password"
	chmod 600 "$R/run/secrets/outbox-password"
	scratch_conf host mail.outbox.test \
	    passwordfile /run/secrets/outbox-password
	chmod 644 "$R/etc/outbox.conf"

	cron_mail dns | expect_exit 0 inroot /usr/sbin/sendmail -oi -oem root
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered at once"
	assert_grep '^auth alice$' "$T/s/msg.1.env"
	assert_grep '^tls yes$' "$T/s/msg.1.env"
	same_body "$T/s/msg.1" dns
	[ "$(spooled)" = 0 ] || fail "queue not empty"
	# The name, not a fallback, found the server: without the name
	# server nothing is sent, and the message waits.
	nsd=$(cat "$T/ns/pid")
	kill "$nsd"
	wait_gone "$nsd" 10 || fail "nsd did not stop"
	cron_mail gone | expect_exit 0 inroot /usr/sbin/sendmail -oi -oem root
	[ "$(count_msgs "$T/s")" = 1 ] || fail "sent without the name server"
	[ "$(spooled)" = 1 ] || fail "not kept queued"
}

# -odb in a root without /dev/null: the detached delivery must not keep
# the caller's pipes open, or a caller that reads sendmail's output to
# its end (cron, PHP's mail()) waits for the delivery.  The server holds
# its AUTH reply 4 seconds: sendmail's output ends long before, and the
# message arrives later all the same.
test_scratch_background() {
	scratch_ready
	smart_host s ip --auth-delay 4
	scratch_root
	scratch_conf host 127.0.0.1 password s3cret-Pa55
	printf 'nameserver 127.0.0.1\n' >"$R/etc/resolv.conf"
	t0=$(date +%s%N)
	cron_mail bg | inroot /usr/sbin/sendmail -odb -oi root 2>&1 |
	    cat >"$T/out"
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$ms" -lt 2500 ] || fail "sendmail -odb held its output open" \
	    "$ms ms, until the delivery ended"
	[ "$(count_msgs "$T/s")" = 0 ] || fail "not delivered in the background"
	wait_file "$T/s/msg.1.env"
	same_body "$T/s/msg.1" bg
	# The child ends after its session; its sanitizer report, if any,
	# comes with it.
	i=0
	while [ -n "$(root_pids)" ]; do
		i=$((i + 1))
		[ $i -le 100 ] || fail "the background delivery did not end"
		sleep 0.1
	done
	sanitizer_reports
}

# The image's command, outbox -q<interval>, runs as process 1 of its PID
# namespace, where a signal without a handler is ignored: it must stop
# at TERM (docker stop) at once, not at the KILL that follows 10 s later.
# Before that it delivers what was queued.  The whole is bounded: timeout
# KILLs unshare after 60 s, and --kill-child takes the runner with it.
test_scratch_pid1() {
	scratch_ready
	smart_host s ip
	scratch_root
	scratch_conf host 127.0.0.1 password s3cret-Pa55
	printf 'nameserver 127.0.0.1\n' >"$R/etc/resolv.conf"
	cron_mail pid1 |
	    expect_exit 0 inroot /usr/sbin/sendmail -odq -oi root
	if [ "$SCRATCH_DYN" = 1 ]; then
		ASAN_OPTIONS=$(printf '%s' "$ASAN_OPTIONS" |
		    sed 's|log_path=[^:]*|log_path=/sanitizer|') \
		    timeout -s KILL 60 unshare -p -f -m --propagation private \
		    --kill-child sh -c \
		    'mount -t proc outbox-test-proc "$0/proc" || exit 70
		    exec chroot "$0" /usr/sbin/outbox -q1h' "$R" \
		    >"$T/runner.out" 2>&1 &
	else
		timeout -s KILL 60 $SCRATCH_UNSHARE unshare -p -f --kill-child \
		    chroot "$R" /usr/sbin/outbox -q1h >"$T/runner.out" 2>&1 &
	fi
	u=$!
	wait_file "$T/s/msg.1.env"
	same_body "$T/s/msg.1" pid1
	# The session is over once the server saw QUIT: the message is
	# settled, and TERM interrupts only the wait for the next run.
	i=0
	until grep -q '^quit$' "$T/s/log"; do
		i=$((i + 1))
		[ $i -le 100 ] || fail "the runner's session did not end"
		sleep 0.1
	done
	pid=$(root_pids 1)
	[ -n "$pid" ] || fail "no outbox -q1h as process 1 of a PID namespace"
	kill -TERM "$pid"
	if ! wait_gone "$pid" 5; then
		kill -KILL "$pid" 2>/dev/null
		fail "outbox -q1h as process 1 ignored TERM"
	fi
	wait "$u"
	rc=$?
	[ "$rc" = 75 ] || fail "the runner ended with $rc after TERM, not 75"
	sanitizer_reports
	[ "$(spooled)" = 0 ] || fail "queue not empty"
	# No /dev/log in the root: the runner's standard error is the log,
	# as "docker logs" shows it.
	assert_grep 'to=<.*>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:[0-9]*, delay=[0-9:]*, status=sent (250 ' \
	    "$T/runner.out"
}

# --- The alpine image's entrypoint (contrib/docker-entrypoint.sh) ---

# alpine_root: the alpine image's layout under $R, with busybox (Debian's
# static one) in place of Alpine's: its applets as links, the binary
# setgid to the group outbox over busybox's sendmail, the users root and
# www-data, and the entrypoint; and /dev/null, as in any container.  The
# spool is left to the entrypoint.
alpine_root() {
	BUSYBOX=$(command -v busybox 2>/dev/null) ||
	    skip "needs busybox (apt-get install busybox-static)"
	ldd "$BUSYBOX" >/dev/null 2>&1 && skip "needs a static busybox"
	mkdir -p "$R/bin" "$R/usr/sbin" "$R/usr/bin" "$R/usr/local/bin" \
	    "$R/etc/ssl/certs" "$R/var/spool" "$R/root"
	cp "$BUSYBOX" "$R/bin/busybox"
	for a in $("$BUSYBOX" --list-full); do
		mkdir -p "$R/${a%/*}"
		[ -e "$R/$a" ] || ln -s /bin/busybox "$R/$a"
	done
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
	    'www-data:x:82:82:www-data:/var/www:/bin/sh' >"$R/etc/passwd"
	printf '%s\n' 'root:x:0:' 'www-data:x:82:' 'outbox:x:101:' \
	    >"$R/etc/group"
	rm -f "$R/usr/sbin/sendmail"
	cp "$OUTBOX" "$R/usr/sbin/outbox"
	chgrp 101 "$R/usr/sbin/outbox"
	chmod 2755 "$R/usr/sbin/outbox"
	ln -s outbox "$R/usr/sbin/sendmail"
	ln -sf /usr/sbin/outbox "$R/usr/bin/mailq"
	cp "$CERTS/ca.pem" "$R/etc/ssl/certs/ca-certificates.crt"
	chmod 644 "$R/etc/ssl/certs/ca-certificates.crt"
	cp "$TESTS/../contrib/docker-entrypoint.sh" "$R/usr/local/bin/"
	chmod 755 "$R/usr/local/bin/docker-entrypoint.sh"
	printf 'nameserver 127.0.0.1\n' >"$R/etc/resolv.conf"
	# Docker gives every container a /dev with null in it.
	mkdir -p "$R/dev"
	mknod -m 666 "$R/dev/null" c 1 3 && : >"$R/dev/null" ||
	    skip "unable to make a /dev/null in the root"
	root_libs
}

# entry [VAR=value]... CMD...: the entrypoint in the root, as docker run
# starts it: only these variables and PATH in its environment.  (The
# arguments are rotated, so that a value may hold any byte.)
entry() {
	_n=$#
	_v=1
	while [ "$_n" -gt 0 ]; do
		case $_v,$1 in
		1,*=*) set -- "$@" "$1" ;;
		1,*)
			_v=0
			set -- "$@" /usr/local/bin/docker-entrypoint.sh "$1" ;;
		*) set -- "$@" "$1" ;;
		esac
		shift
		_n=$((_n - 1))
	done
	inroot /usr/bin/env -i \
	    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
nl='
'

# refused_var VAR [VAR=value]...: the entrypoint refuses these variables
# with status 78, naming VAR, and runs nothing.
refused_var() {
	_var=$1; shift
	expect_exit 78 entry "$@" touch /ran
	assert_grep "$_var" "$T/err"
	[ ! -e "$R/ran" ] || fail "the command ran despite a bad $_var"
}

# The entrypoint without a mounted configuration: what is missing or
# could add a line is refused with status 78 naming the variable; a good
# set of variables gives a public config without the password and a
# password file of mode 0600 (from OUTBOX_PASSWORD, gone from the
# environment).  www-data's sendmail, through the setgid group, queues a
# message it cannot send itself, and the queue runner that the
# entrypoint started beside the command delivers it with AUTH, from
# OUTBOX_FROM.  A mounted config is left alone.
test_scratch_entrypoint() {
	scratch_ready
	[ -z "$SCRATCH_UNSHARE" ] || skip "the setgid layout needs root"
	smart_host s ip
	alpine_root
	[ -L "$R/usr/bin/env" ] || skip "this busybox has no env applet"

	refused_var OUTBOX_HOST
	[ ! -e "$R/etc/outbox.conf" ] || fail "a config was written without OUTBOX_HOST"
	refused_var OUTBOX_PASSWORD OUTBOX_HOST=127.0.0.1 OUTBOX_USER=alice
	refused_var OUTBOX_FROM OUTBOX_HOST=127.0.0.1 \
	    "OUTBOX_FROM=app@example.org${nl}host evil.example"
	refused_var OUTBOX_PORT OUTBOX_HOST=127.0.0.1 OUTBOX_PORT=25x
	refused_var OUTBOX_TLS OUTBOX_HOST=127.0.0.1 OUTBOX_TLS=none
	refused_var OUTBOX_HELO OUTBOX_HOST=127.0.0.1 'OUTBOX_HELO=a b'
	[ ! -e "$R/etc/outbox.conf" ] || fail "a config was written by a refused start"

	# One variable a line; the calls split $good at line ends only.
	good=$(printf '%s\n' OUTBOX_HOST=127.0.0.1 OUTBOX_PORT=$PORT \
	    OUTBOX_USER=alice OUTBOX_PASSWORD=s3cret-Pa55 \
	    OUTBOX_FROM=app@example.org OUTBOX_DOMAIN=example.org \
	    OUTBOX_QUEUE_INTERVAL=1s)
	# What the application sees: its environment, the password file it
	# cannot read, and its sendmail's status.
	printf '%s\n' 'env >/tmp/app.env' \
	    'cat /etc/outbox.password >/dev/null 2>&1 && echo READABLE' \
	    'printf "To: bob@example.net\nSubject: from php\n\nhello from www-data\n" |' \
	    '    sendmail -t -i; echo "sendmail: $?"' >"$R/root/app.sh"
	mkdir -m 1777 "$R/tmp"
	IFS=$nl
	# shellcheck disable=SC2086
	expect_exit 0 entry $good su -s /bin/sh www-data -c 'sh /root/app.sh'
	unset IFS
	assert_grep '^sendmail: 0$' "$T/out"
	assert_no_grep READABLE "$T/out"
	assert_no_grep OUTBOX_PASSWORD "$R/tmp/app.env"
	assert_no_grep s3cret "$R/tmp/app.env"

	conf=$R/etc/outbox.conf
	[ "$(stat -c %a "$conf")" = 644 ] || fail "config mode $(stat -c %a "$conf")"
	assert_grep '^host 127.0.0.1$' "$conf"
	assert_grep '^from app@example.org$' "$conf"
	assert_grep '^passwordfile /etc/outbox.password$' "$conf"
	assert_no_grep s3cret "$conf"
	[ "$(stat -c %a:%u "$R/etc/outbox.password")" = 600:0 ] ||
	    fail "password file $(stat -c %a:%u "$R/etc/outbox.password")"
	[ "$(cat "$R/etc/outbox.password")" = s3cret-Pa55 ] ||
	    fail "the password file does not hold the password"
	[ "$(stat -c %a:%g "$R/var/spool/outbox/tmp")" = 3730:101 ] ||
	    fail "spool tmp/ is $(stat -c %a:%g "$R/var/spool/outbox/tmp")"

	wait_file "$T/s/msg.1.env"
	assert_grep '^from app@example.org$' "$T/s/msg.1.env"
	assert_grep '^rcpt bob@example.net$' "$T/s/msg.1.env"
	assert_grep '^auth alice$' "$T/s/msg.1.env"
	assert_grep '^hello from www-data' "$T/s/msg.1"
	runner=$(root_pids)
	[ -n "$runner" ] || fail "no queue runner beside the command"
	for p in $runner; do
		tr '\0' '\n' <"/proc/$p/environ" >"$T/runner.env" 2>/dev/null
		assert_grep '^OUTBOX_HOST=' "$T/runner.env"
		assert_no_grep 'OUTBOX_PASSWORD\|s3cret' "$T/runner.env"
		kill -TERM "$p"
		wait_gone "$p" 5 || fail "the runner did not stop at TERM"
	done
	sanitizer_reports

	# OUTBOX_PASSWORD_FILE: a secret as docker mounts it, readable by
	# all and not root's, is copied into a file outbox takes (its first
	# line, without the CR).
	mkdir -p "$R/run/secrets"
	printf 'An0ther-Pa55\r\nsecond line\n' >"$R/run/secrets/pw"
	chown 1000 "$R/run/secrets/pw"
	chmod 444 "$R/run/secrets/pw"
	expect_exit 0 entry OUTBOX_HOST=127.0.0.1 OUTBOX_USER=alice \
	    OUTBOX_PASSWORD_FILE=/run/secrets/pw OUTBOX_QUEUE_INTERVAL=off true
	[ "$(stat -c %a:%u "$R/etc/outbox.password")" = 600:0 ] ||
	    fail "password file $(stat -c %a:%u "$R/etc/outbox.password")"
	[ "$(cat "$R/etc/outbox.password")" = An0ther-Pa55 ] ||
	    fail "the password file does not hold the secret's first line"
	refused_var OUTBOX_PASSWORD_FILE OUTBOX_HOST=127.0.0.1 \
	    OUTBOX_USER=alice OUTBOX_PASSWORD_FILE=/run/secrets/none
	IFS=$nl
	expect_exit 0 entry $good OUTBOX_QUEUE_INTERVAL=off true
	unset IFS

	# A bad variable later leaves the written files as they were.
	cp "$conf" "$T/conf.before"
	IFS=$nl
	refused_var OUTBOX_ADMIN $good "OUTBOX_ADMIN=ops@example.org${nl}tls off"
	unset IFS
	cmp -s "$conf" "$T/conf.before" || fail "a refused start changed the config"

	# A mounted config (no mark of the entrypoint's) is used as it is.
	printf 'host 127.0.0.1\nport %s\ntls off\n' "$PORT" >"$conf"
	cp "$conf" "$T/conf.mounted"
	expect_exit 0 entry OUTBOX_QUEUE_INTERVAL=off true
	cmp -s "$conf" "$T/conf.mounted" || fail "a mounted config was rewritten"
}
