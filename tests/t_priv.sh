# The setgid privilege model (REQUIREMENTS P-1 to P-7), on a spool made
# by the real recipe, "make install-spool", and a copy of the binary
# owned root:obtestq, mode 2755, run by the ordinary users obtest1 and
# obtest2.  Needs root: the users, the group and the setgid file are
# made for each test and removed after it.
#
# The setgid binary reads only /etc/outbox.conf.  The real /etc is never
# touched: the users' commands run in a private mount namespace with a
# copy of /etc, holding the test's outbox.conf, bind-mounted on /etc.
# The files live in a directory of their own under /tmp (mode 0755, so
# that the users reach them), since $T's parent is closed to them.
#
# The ASan build cannot read ASAN_OPTIONS in a setgid run (the process
# may not open /proc/self/environ); tests/asan_options.c gives it the
# settings tests/run wants, so its exit statuses are checked as they are.

PV_GROUP=obtestq
PV_USERS="obtest1 obtest2"

# The script run_as hands to "unshare -m": $1 (the /etc copy) on /etc,
# then the command as user $2 (with their groups), or as root.
PV_NS='e=$1; u=$2; shift 2
mount --bind "$e" /etc || exit 70
[ "$u" = root ] || set -- setpriv --reuid="$u" --regid="$u" --init-groups -- "$@"
exec "$@"'

# priv_setup: skip without root or the tools; make the users, the group,
# $D (the directory), $SPOOL by make install-spool, $BIN (the setgid
# copy of $OUTBOX), $ETC (the /etc copy with outbox.conf: passwordfile,
# no password), $D/password (0600), the smart host; set UID1, GID1,
# UID2, QGID.  The spool belongs to $PV_OWNER (default root).  Everything
# made is removed when the test ends.
priv_setup() {
	[ "$(id -u)" = 0 ] || skip "needs root to create users and setgid files"
	for _c in unshare setpriv mount useradd userdel groupadd groupdel \
	    make timeout; do
		command -v "$_c" >/dev/null 2>&1 ||
		    skip "needs $_c (util-linux, passwd, make, coreutils)"
	done
	PV_MADE=
	PV_PIDS=
	D=
	trap 'stop_servers; priv_cleanup' EXIT
	if ! getent group "$PV_GROUP" >/dev/null; then
		groupadd -r "$PV_GROUP" || fail "groupadd $PV_GROUP"
		PV_MADE="$PV_MADE g:$PV_GROUP"
	fi
	for _u in $PV_USERS; do
		getent passwd "$_u" >/dev/null && continue
		useradd -r -M -U -d /nonexistent -s /usr/sbin/nologin "$_u" ||
		    fail "useradd $_u"
		PV_MADE="$PV_MADE u:$_u"
	done
	D=$(mktemp -d /tmp/outbox-priv.XXXXXX) || fail "mktemp"
	chmod 755 "$D"
	SPOOL=$D/spool
	make -s -C "$TESTS/.." install-spool SPOOL="$SPOOL" \
	    OUTBOX_GROUP="$PV_GROUP" OUTBOX_USER="${PV_OWNER:-root}" \
	    >"$T/make.out" 2>&1 || {
		sed 's/^/    | /' "$T/make.out" >&2
		fail "make install-spool failed"
	}
	BIN=$D/$(basename "$OUTBOX")
	if ! cp "$OUTBOX" "$BIN" || ! chown "root:$PV_GROUP" "$BIN" ||
	    ! chmod 2755 "$BIN"; then
		fail "unable to make $BIN setgid"
	fi
	# Copied after the users exist, so that setpriv finds them.
	ETC=$D/etc
	cp -a /etc "$ETC" || fail "unable to copy /etc"
	unshare -m sh -c "$PV_NS" sh "$ETC" root true ||
	    skip "unable to bind-mount over /etc in a private mount namespace"
	cp "$CERTS/ca.pem" "$D/ca.pem" || fail "unable to copy ca.pem"
	chmod 644 "$D/ca.pem"
	printf 's3cret-Pa55\n' >"$D/password"
	chmod 600 "$D/password"
	UID1=$(id -u obtest1) GID1=$(id -g obtest1)
	UID2=$(id -u obtest2)
	QGID=$(getent group "$PV_GROUP" | cut -d: -f3)
	smart_host s
	{
		echo "host localhost"
		echo "port $PORT"
		echo "user alice"
		echo "passwordfile $D/password"
		echo "cafile $D/ca.pem"
		echo "spool $SPOOL"
		echo "domain example.org"
		echo "helo client.example.org"
		echo "timeout 10"
	} >"$ETC/outbox.conf"
	chmod 644 "$ETC/outbox.conf"
}

# priv_cleanup: end the processes a test started, remove $D, the users
# and the group that priv_setup made.
priv_cleanup() {
	for _p in $PV_PIDS; do
		kill -KILL "$_p" 2>/dev/null
	done
	case $D in /tmp/outbox-priv.*) rm -rf "$D" ;; esac
	for _m in $PV_MADE; do
		case $_m in u:*) userdel "${_m#u:}" ;; esac
	done
	for _m in $PV_MADE; do
		case $_m in
		g:*) getent group "${_m#g:}" >/dev/null && groupdel "${_m#g:}" ;;
		esac
	done
	return 0
}

# run_as USER|root CMD...: CMD in a private mount namespace where /etc is
# $ETC, as USER (real, effective and saved ids, USER's groups) or root.
run_as() {
	timeout 30 unshare -m sh -c "$PV_NS" sh "$ETC" "$@"
}

# submit USER RCPT: a small message from USER, who poses as root in
# $USER and $LOGNAME; it must be accepted.  Sets ID to the new file's id.
submit() {
	ls "$SPOOL/queue" >"$T/before"
	printf 'Subject: from %s\n\nhello from %s\n' "$1" "$1" >"$D/in"
	expect_exit 0 run_as "$1" env USER=root LOGNAME=root "$BIN" "$2" <"$D/in"
	ID=$(ls "$SPOOL/queue" | grep -vxF -f "$T/before")
	[ "$(echo "$ID" | wc -w)" = 1 ] || fail "no single new file in queue/: $ID"
}

# field PID KEY: the value of KEY in /proc/PID/status, tabs made spaces.
field() {
	sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" | tr '\t' ' '
}

# P-1, P-2, P-3, P-4, P-7: an ordinary user's setgid intake only queues,
# even with the default -odi: it exits 0, the server sees no connection,
# and the file in queue/ is the user's (uid), the spool group's, mode
# 0640, one link, with the sender taken from the uid, not from $USER or $LOGNAME.  Root's
# queue run, reading the root-only passwordfile, delivers it.
test_setgid_submit_and_run() {
	priv_setup
	submit obtest1 bob@example.net
	[ -s "$T/err" ] && { sed 's/^/    | /' "$T/err" >&2; fail "intake said something"; }
	[ "$(count_msgs "$T/s")" = 0 ] || fail "the setgid intake delivered"
	assert_no_grep '^connect' "$T/s/log"
	[ -z "$(ls "$SPOOL/tmp")" ] || fail "left in tmp/: $(ls "$SPOOL/tmp")"
	[ "$(stat -c '%u %g %a %h' "$SPOOL/queue/$ID")" = "$UID1 $QGID 640 1" ] ||
	    fail "queue file is $(stat -c '%u %g %a %h' "$SPOOL/queue/$ID")"
	assert_grep '^sender obtest1@example.org$' "$SPOOL/queue/$ID"
	assert_grep '^From: .*obtest1@example.org' "$SPOOL/queue/$ID"
	assert_no_grep 'root@' "$SPOOL/queue/$ID"
	expect_exit 0 run_as root "$BIN" -q
	[ "$(count_msgs "$T/s")" = 1 ] || fail "root's queue run did not deliver"
	printf 'from obtest1@example.org\nrcpt bob@example.net\nauth alice\ntls yes\n' |
	    cmp - "$T/s/msg.1.env" || fail "envelope differs"
	assert_grep '^hello from obtest1' "$T/s/msg.1"
	[ -z "$(ls "$SPOOL/queue")" ] || fail "queue not empty after the run"
}

# P-1, P-2: mailq (-bp) by an ordinary user lists only the messages whose
# file that user owns, in the usual format; another user's are not
# shown; root lists them all.
test_setgid_mailq_own_only() {
	priv_setup
	expect_exit 0 run_as obtest2 "$BIN" -bp
	[ "$(cat "$T/out")" = "Mail queue is empty" ] || fail "obtest2: $(cat "$T/out")"
	submit obtest1 bob@example.net
	a1=$ID
	submit obtest1 dave@example.com
	a2=$ID
	submit obtest2 carol@example.net
	b1=$ID
	[ "$(stat -c %u "$SPOOL/queue/$b1")" = "$UID2" ] || fail "owner of $b1"
	line='^[0-9a-f]\{16\} \+[0-9]\+  .*  ([0-9]\+h[0-9][0-9]m)  <obtest1@example.org>$'
	expect_exit 0 run_as obtest1 "$BIN" -bp
	[ "$(grep -c '^[0-9a-f]\{16\} ' "$T/out")" = 2 ] || {
		sed 's/^/    | /' "$T/out" >&2; fail "obtest1 does not see 2 messages"; }
	[ "$(grep -c "$line" "$T/out")" = 2 ] || fail "summary lines differ"
	assert_grep "^$a1 " "$T/out"
	assert_grep "^$a2 " "$T/out"
	assert_grep '^    <bob@example.net>  pending$' "$T/out"
	assert_grep '^    <dave@example.com>  pending$' "$T/out"
	assert_grep '^-- [0-9]\+ bytes in 2 messages\.$' "$T/out"
	assert_no_grep "$b1\|carol\|obtest2" "$T/out"
	expect_exit 0 run_as obtest2 "$BIN" -bp
	[ "$(grep -c '^[0-9a-f]\{16\} ' "$T/out")" = 1 ] || fail "obtest2 does not see 1 message"
	assert_grep "^$b1 .*<obtest2@example.org>\$" "$T/out"
	assert_grep '^    <carol@example.net>  pending$' "$T/out"
	assert_grep '^-- [0-9]\+ bytes in 1 message\.$' "$T/out"
	assert_no_grep "$a1\|$a2\|obtest1" "$T/out"
	expect_exit 0 run_as root "$BIN" -bp
	for i in "$a1" "$a2" "$b1"; do assert_grep "^$i " "$T/out"; done
	assert_grep '^-- [0-9]\+ bytes in 3 messages\.$' "$T/out"
}

# P-1: -qD removes a message for its owner (either spelling, -qD ID and
# -qDID) or root; another user is refused with 77 and the file stays; an
# id not in the queue gives 66.
test_setgid_delete() {
	priv_setup
	submit obtest1 bob@example.net
	a=$ID
	submit obtest2 carol@example.net
	b=$ID
	expect_exit 77 run_as obtest2 "$BIN" -qD "$a"
	assert_grep 'not your message' "$T/err"
	[ -f "$SPOOL/queue/$a" ] || fail "obtest2 removed obtest1's message"
	expect_exit 0 run_as obtest1 "$BIN" -qD"$a"
	[ ! -e "$SPOOL/queue/$a" ] || fail "the owner's -qD left $a"
	expect_exit 66 run_as obtest1 "$BIN" -qD "$a"
	assert_grep 'no such message' "$T/err"
	expect_exit 77 run_as obtest1 "$BIN" -qD "$b"
	assert_grep 'not your message' "$T/err"
	[ -f "$SPOOL/queue/$b" ] || fail "obtest1 removed obtest2's message"
	expect_exit 0 run_as root "$BIN" -qD "$b"
	[ -z "$(ls "$SPOOL/queue")" ] || fail "queue not empty: $(ls "$SPOOL/queue")"
	[ "$(count_msgs "$T/s")" = 0 ] || fail "something was delivered"
}

# P-1, P-4, P-5: an ordinary user's -q is refused (77, "runs the queue")
# and sends nothing; the user cannot list or read the spool, nor read the
# password file, directly.
test_setgid_user_cannot_run_or_read() {
	priv_setup
	submit obtest1 bob@example.net
	expect_exit 77 run_as obtest1 "$BIN" -q
	assert_grep 'runs the queue' "$T/err"
	[ "$(count_msgs "$T/s")" = 0 ] || fail "the user's -q delivered"
	assert_no_grep '^connect' "$T/s/log"
	[ -f "$SPOOL/queue/$ID" ] || fail "the message left the queue"
	for c in "ls $SPOOL" "ls $SPOOL/queue" "ls $SPOOL/tmp" \
	    "cat $SPOOL/queue/$ID" "cat $D/password"; do
		# shellcheck disable=SC2086
		if run_as obtest1 $c >"$T/out" 2>&1; then
			sed 's/^/    | /' "$T/out" >&2
			fail "obtest1 could run: $c"
		fi
	done
}

# P-2: a configuration of the caller's choosing, by -C or $OUTBOX_CONFIG,
# makes the setgid run give up the group before it opens that file: a
# file readable only with the group cannot be read, and intake cannot
# write the spool (75), even when -C names /etc/outbox.conf itself.
test_setgid_config_override_drops_group() {
	priv_setup
	cp "$ETC/outbox.conf" "$D/user.conf"
	chmod 644 "$D/user.conf"
	printf 'Subject: x\n\nhi\n' >"$D/in"
	expect_exit 75 run_as obtest1 "$BIN" -C "$D/user.conf" bob@example.net <"$D/in"
	expect_exit 75 run_as obtest1 env OUTBOX_CONFIG="$D/user.conf" "$BIN" \
	    bob@example.net <"$D/in"
	expect_exit 75 run_as obtest1 "$BIN" -C /etc/outbox.conf bob@example.net <"$D/in"
	[ -z "$(ls "$SPOOL/queue")$(ls "$SPOOL/tmp")" ] || fail "something was queued"
	chown "root:$PV_GROUP" "$D/user.conf"
	chmod 640 "$D/user.conf"
	expect_exit 78 run_as obtest1 "$BIN" -C "$D/user.conf" bob@example.net <"$D/in"
	assert_grep "$D/user.conf" "$T/err"
	expect_exit 78 run_as obtest1 env OUTBOX_CONFIG="$D/user.conf" "$BIN" \
	    bob@example.net <"$D/in"
	assert_grep "$D/user.conf" "$T/err"
	# The same user, the same message, no override: queued.
	expect_exit 0 run_as obtest1 "$BIN" bob@example.net <"$D/in"
	[ "$(ls "$SPOOL/queue" | wc -l)" = 1 ] || fail "not queued without -C"
	[ "$(count_msgs "$T/s")" = 0 ] || fail "something was delivered"
}

# P-1, P-2: while a user's intake is blocked reading stdin it holds no
# group but the user's (real, effective, saved), umask 027, none of the
# caller's descriptors above 2 nor its ignored signals, and cannot be
# read by the user (non-dumpable); its helper child alone holds the
# spool group.  SIGKILL leaves nothing in tmp/: the helper removes the
# file and exits.  The environment is gone: $TZ does not reach the Date
# header that intake adds, as it does in root's (unsanitised) run.
# (/proc/PID/environ is not checked: clearenv() empties environ, not the
# block the kernel shows there, which still holds the caller's
# variables; only root can read it, the process being non-dumpable.)
test_setgid_killed_intake_and_sanitising() {
	priv_setup
	: >"$D/callerfd"
	mkfifo "$D/fifo" || fail "mkfifo"
	exec 7<"$D/callerfd"
	trap '' HUP USR1 TERM
	# Fd 7 and the ignored signals do reach a command run so (no
	# timeout(1), which would reset the signals).
	unshare -m sh -c "$PV_NS" sh "$ETC" obtest1 sh -c \
	    'grep "^SigIgn:" /proc/$$/status; readlink /proc/$$/fd/7' >"$T/sig" ||
	    fail "unable to read SigIgn"
	sigign=$(sed -n 's/^SigIgn:[[:space:]]*//p' "$T/sig")
	[ $((0x${sigign#????????} & 0x4201)) = $((0x4201)) ] ||
	    fail "the caller's ignored signals are not inherited: $sigign"
	assert_grep "^$D/callerfd\$" "$T/sig"
	unshare -m sh -c "$PV_NS" sh "$ETC" obtest1 "$BIN" bob@example.net \
	    <"$D/fifo" >"$T/out" 2>"$T/err" &
	pid=$!
	PV_PIDS="$PV_PIDS $pid"
	trap - HUP USR1 TERM
	exec 7<&-
	exec 8>"$D/fifo"
	printf 'Subject: killed\n\npartial line\n' >&8
	i=0
	while [ -z "$(ls "$SPOOL/tmp")" ]; do
		i=$((i + 1))
		[ $i -le 100 ] || fail "no file in tmp/ from the intake"
		sleep 0.1
	done
	[ "$(readlink "/proc/$pid/exe")" = "$BIN" ] ||
	    fail "process $pid is $(readlink "/proc/$pid/exe"), not $BIN"
	[ "$(field "$pid" Uid)" = "$UID1 $UID1 $UID1 $UID1" ] ||
	    fail "intake Uid: $(field "$pid" Uid)"
	[ "$(field "$pid" Gid)" = "$GID1 $GID1 $GID1 $GID1" ] ||
	    fail "intake Gid: $(field "$pid" Gid), want $GID1 (the group given up)"
	um=$(field "$pid" Umask)
	[ -z "$um" ] || [ "$um" = 0027 ] || fail "intake umask $um"
	sigign=$(field "$pid" SigIgn)
	[ $((0x${sigign#????????} & 0x4207)) = 0 ] ||
	    fail "intake still ignores the caller's signals: SigIgn $sigign"
	[ "$(field "$pid" SigBlk)" = 0000000000000000 ] ||
	    fail "intake SigBlk $(field "$pid" SigBlk)"
	for f in /proc/"$pid"/fd/*; do
		n=${f##*/}
		[ "$n" -le 2 ] && continue
		l=$(readlink "$f")
		case $l in
		socket:*|"$SPOOL"/tmp/*) ;;
		*) fail "intake holds fd $n: $l" ;;
		esac
	done
	# Non-dumpable: /proc/PID is root's, the user cannot read it.
	[ "$(stat -c %u "/proc/$pid/environ")" = 0 ] ||
	    fail "/proc/$pid/environ is owned by uid $(stat -c %u "/proc/$pid/environ")"
	if run_as obtest1 cat "/proc/$pid/environ" >/dev/null 2>&1; then
		fail "the user can read the intake's /proc/$pid/environ"
	fi
	helper=$(grep -l "^PPid:[[:space:]]*$pid\$" /proc/[0-9]*/status 2>/dev/null |
	    sed 's,^/proc/\([0-9]*\)/status$,\1,')
	[ "$(echo "$helper" | wc -w)" = 1 ] || fail "no single helper: '$helper'"
	PV_PIDS="$PV_PIDS $helper"
	[ "$(field "$helper" Gid)" = "$GID1 $QGID $QGID $QGID" ] ||
	    fail "helper Gid: $(field "$helper" Gid), want $GID1 $QGID $QGID $QGID"
	[ "$(field "$helper" Uid)" = "$UID1 $UID1 $UID1 $UID1" ] ||
	    fail "helper Uid: $(field "$helper" Uid)"
	for f in /proc/"$helper"/fd/*; do
		n=${f##*/}
		[ "$n" -le 2 ] && continue
		case $(readlink "$f") in
		socket:*) ;;
		*) fail "helper holds fd $n: $(readlink "$f")" ;;
		esac
	done
	kill -KILL "$pid"
	wait "$pid"
	i=0
	while [ -n "$(ls "$SPOOL/tmp")" ] || [ -d "/proc/$helper" ]; do
		i=$((i + 1))
		[ $i -le 50 ] || fail "after SIGKILL: tmp/ has '$(ls "$SPOOL/tmp")'; helper there: $([ -d "/proc/$helper" ] && echo yes)"
		sleep 0.1
	done
	exec 8>&-
	[ -z "$(ls "$SPOOL/queue")" ] || fail "a killed intake queued a message"
	# $TZ: dropped by the setgid intake, honoured in root's run.
	printf 'Subject: tz\n\nhi\n' >"$D/in"
	expect_exit 0 run_as obtest1 env TZ=XYZ-5:45 "$BIN" bob@example.net <"$D/in"
	expect_exit 0 run_as root env TZ=XYZ-5:45 "$BIN" -odq bob@example.net <"$D/in"
	[ "$(grep -l '^Date: .* +0545$' "$SPOOL"/queue/* | wc -l)" = 1 ] ||
	    fail "root's run did not use TZ, or the user's did"
	for f in "$SPOOL"/queue/*; do
		if [ "$(stat -c %u "$f")" = "$UID1" ]; then
			assert_grep '^Date: ' "$f"
			assert_no_grep '^Date: .* +0545$' "$f"
		fi
	done
}

# P-5: the password file must be a regular file, not a link, owned by
# root (or the spool's owner), mode 0600: a loose mode, another owner or a
# symbolic link makes root's queue run exit 78 naming the file (and the
# mode) on stderr, as an error for the admin, and the message stays
# queued until the file is fixed.
test_setgid_secret_file_mode() {
	priv_setup
	submit obtest1 bob@example.net
	chmod 644 "$D/password"
	expect_exit 78 run_as root "$BIN" -q
	assert_grep "$D/password" "$T/err"
	assert_grep '0644' "$T/err"
	[ -f "$SPOOL/queue/$ID" ] || fail "the message left the queue"
	chmod 600 "$D/password"
	chown obtest1 "$D/password"
	expect_exit 78 run_as root "$BIN" -q
	assert_grep "$D/password" "$T/err"
	chown root "$D/password"
	mv "$D/password" "$D/password.real"
	ln -s "$D/password.real" "$D/password"
	expect_exit 78 run_as root "$BIN" -q
	assert_grep "$D/password" "$T/err"
	[ -f "$SPOOL/queue/$ID" ] || fail "the message left the queue"
	[ "$(count_msgs "$T/s")" = 0 ] || fail "delivered with a bad password file"
	rm "$D/password"
	mv "$D/password.real" "$D/password"
	expect_exit 0 run_as root "$BIN" -q
	[ "$(count_msgs "$T/s")" = 1 ] || fail "not delivered once the file is fixed"
	[ -z "$(ls "$SPOOL/queue")" ] || fail "queue not empty"
}

# P-7: the queue run reads only plain files with one link: a user's
# queue file that has a second hard link is not sent but moved to
# corrupt/, and a symbolic link put in queue/ is not followed but moved
# there too.
test_setgid_linked_queue_file() {
	priv_setup
	submit obtest1 bob@example.net
	ln "$SPOOL/queue/$ID" "$D/second-link" || fail "ln"
	printf 'outbox 1\nnot a message\n' >"$D/target"
	ln -s "$D/target" "$SPOOL/queue/0123456789abcdef"
	run_as root "$BIN" -q >"$T/out" 2>"$T/err"
	[ "$(count_msgs "$T/s")" = 0 ] || fail "a linked queue file was sent"
	[ ! -e "$SPOOL/queue/$ID" ] || fail "the hard-linked file stayed in queue/"
	[ -f "$SPOOL/corrupt/$ID" ] || fail "the hard-linked file is not in corrupt/"
	[ "$(cat "$D/target")" = "$(printf 'outbox 1\nnot a message')" ] ||
	    fail "the symbolic link's target changed"
	[ -L "$SPOOL/corrupt/0123456789abcdef" ] ||
	    fail "the symbolic link is not in corrupt/"
	expect_exit 0 run_as root "$BIN" -q
}

# P-4: with the spool owned by a dedicated user, root's queue run opens
# the root-only password file, then becomes that user, and delivers a
# user's message it reads through the spool group.  The owner's own run
# (setgid binary) keeps the group for the same reason; it needs a
# password file of its own.
test_setgid_dedicated_owner() {
	PV_OWNER=obtest2
	priv_setup
	submit obtest1 bob@example.net
	expect_exit 0 run_as root "$BIN" -q
	[ "$(count_msgs "$T/s")" = 1 ] || fail "root's run as the owner did not deliver"
	submit obtest1 carol@example.net
	expect_exit 78 run_as obtest2 "$BIN" -q
	assert_grep "$D/password: Permission denied" "$T/err"
	chown obtest2 "$D/password"
	expect_exit 0 run_as obtest2 "$BIN" -q
	[ "$(count_msgs "$T/s")" = 2 ] || fail "the owner's run did not deliver"
	[ -z "$(ls "$SPOOL/queue")" ] || fail "queue not empty"
}
