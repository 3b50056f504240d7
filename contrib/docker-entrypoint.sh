#!/bin/sh
# docker-entrypoint.sh: the entrypoint of outbox's alpine image
# (contrib/Dockerfile, --target alpine), for application images built on
# it.  POSIX sh: it runs under busybox.
#
# 1. The configuration.  A file mounted at /etc/outbox.conf is used as
#    it is.  So is one named by OUTBOX_CONFIG (a mounted secret, say),
#    which is linked to /etc/outbox.conf, and the variable dropped: a
#    program that finds OUTBOX_CONFIG in its environment has the
#    configuration of its caller's choosing, which costs an ordinary
#    user's sendmail the spool's group (outbox(8), PRIVILEGES).
#    Otherwise /etc/outbox.conf is written from the variables below,
#    and written again at each start.  The password goes into
#    /etc/outbox.password, mode 0600, never into the configuration, an
#    argument list or the environment of the command.
#
#    OUTBOX_HOST         host (required): a name, an address or "auto"
#    OUTBOX_PORT         port
#    OUTBOX_TLS          tls: starttls, tls or off
#    OUTBOX_USER         user
#    OUTBOX_PASSWORD     its password; or
#    OUTBOX_PASSWORD_FILE  a file whose first line is the password (a
#                        mounted secret), copied to /etc/outbox.password
#    OUTBOX_AUTH         auth
#    OUTBOX_FROM         from
#    OUTBOX_REWRITE_FROM rewrite_from: yes or no
#    OUTBOX_DOMAIN       domain
#    OUTBOX_ADMIN        admin
#    OUTBOX_HELO         helo
#    OUTBOX_PIN          pin: one or more, separated by spaces
#    OUTBOX_CAFILE       cafile
#    OUTBOX_DELIVER      deliver: foreground, background or queue
#    OUTBOX_MAXAGE       maxage
#    OUTBOX_TIMEOUT      timeout
#
#    outbox.conf(5) says what each key means.  A value is one line of
#    printable characters; those of host, user, from, domain, admin and
#    helo hold no blank either.  A variable that is missing or wrong
#    ends this script with status 78 (EX_CONFIG) and a message naming it,
#    before anything runs.
#
# 2. The spool, /var/spool/outbox: made, or put right, with the owners
#    and modes of a setgid installation (group outbox), so that the
#    application's users can queue mail and root's runner sends it.
#
# 3. The command.  None, or one that starts with a dash: outbox with
#    those arguments (the image's default is -q5m, the queue runner).
#    outbox, sendmail or mailq: run as given.  Anything else is the
#    application: a queue runner, outbox -q$OUTBOX_QUEUE_INTERVAL
#    (default 1m; "off" for none), starts in the background, since a
#    message that an ordinary user submits only waits in the queue,
#    and then the command takes this process's place.

set -u

CONF=/etc/outbox.conf
PASSFILE=/etc/outbox.password
SPOOL=/var/spool/outbox
MARK='# Written by docker-entrypoint.sh from the OUTBOX_ variables.'

# refuse VARIABLE REASON: the configuration is wrong; say so and stop.
refuse() {
	echo "docker-entrypoint.sh: $1: $2" >&2
	exit 78
}

nl='
'
cr=$(printf '\r')

# one_line VARIABLE VALUE [any]: a value that cannot end its line early
# and start another, nor, unless "any", hold another control character.
one_line() {
	case $2 in
	*"$nl"* | *"$cr"*)
		refuse "$1" "holds a line break" ;;
	esac
	[ "${3:-}" = any ] && return 0
	case $2 in
	*[[:cntrl:]]*)
		refuse "$1" "holds a control character" ;;
	esac
}

# key KEY VARIABLE [word|number|ENUM...]: the line "KEY value" for the
# variable when it is set and not empty, after checking the value.
key() {
	_k=$1
	_v=$2
	shift 2
	eval "_x=\${$_v:-}"
	[ -n "$_x" ] || return 0
	one_line "$_v" "$_x"
	case ${1:-} in
	'') ;;
	word)
		case $_x in
		*[[:space:]\<\>]*)
			refuse "$_v" "holds a blank or an angle bracket" ;;
		esac ;;
	number)
		case $_x in
		*[!0-9]*) refuse "$_v" "is not a number" ;;
		esac ;;
	*)
		_ok=
		for _e in "$@"; do
			[ "$_x" = "$_e" ] && _ok=1
		done
		[ -n "$_ok" ] || refuse "$_v" "must be one of: $*" ;;
	esac
	printf '%s %s\n' "$_k" "$_x"
}

# write_password: /etc/outbox.password from OUTBOX_PASSWORD or from the
# first line of OUTBOX_PASSWORD_FILE.  umask 077 from the start: the
# file never exists with a looser mode.  printf is built in, so the
# password is in no argument list.
write_password() {
	if [ -n "${OUTBOX_PASSWORD_FILE:-}" ]; then
		[ -f "$OUTBOX_PASSWORD_FILE" ] && [ -r "$OUTBOX_PASSWORD_FILE" ] ||
		    refuse OUTBOX_PASSWORD_FILE "$OUTBOX_PASSWORD_FILE is not a readable file"
		_pw=
		IFS= read -r _pw <"$OUTBOX_PASSWORD_FILE"
		_pw=${_pw%"$cr"}
		[ -n "$_pw" ] ||
		    refuse OUTBOX_PASSWORD_FILE "the first line of $OUTBOX_PASSWORD_FILE is empty"
	else
		_pw=$OUTBOX_PASSWORD
		one_line OUTBOX_PASSWORD "$_pw" any
	fi
	(
		umask 077
		rm -f "$PASSFILE" &&
		    printf '%s\n' "$_pw" >"$PASSFILE"
	) || refuse OUTBOX_PASSWORD "unable to write $PASSFILE"
	_pw=
}

write_config() {
	[ -n "${OUTBOX_HOST:-}" ] ||
	    refuse OUTBOX_HOST "not set, and no /etc/outbox.conf is mounted"
	if [ -n "${OUTBOX_USER:-}" ]; then
		[ -n "${OUTBOX_PASSWORD:-}${OUTBOX_PASSWORD_FILE:-}" ] ||
		    refuse OUTBOX_PASSWORD "not set (nor OUTBOX_PASSWORD_FILE), but OUTBOX_USER is"
		[ -z "${OUTBOX_PASSWORD:-}" ] || [ -z "${OUTBOX_PASSWORD_FILE:-}" ] ||
		    refuse OUTBOX_PASSWORD "set together with OUTBOX_PASSWORD_FILE: give one"
	elif [ -n "${OUTBOX_PASSWORD:-}${OUTBOX_PASSWORD_FILE:-}" ]; then
		refuse OUTBOX_USER "not set, but a password is"
	fi
	# Built whole before anything is written: a bad variable leaves
	# the files of the last start as they were.
	_conf=$(
		echo "$MARK"
		key host OUTBOX_HOST word
		key port OUTBOX_PORT number
		key tls OUTBOX_TLS starttls tls off
		key user OUTBOX_USER word
		[ -z "${OUTBOX_USER:-}" ] || echo "passwordfile $PASSFILE"
		key auth OUTBOX_AUTH word
		key from OUTBOX_FROM word
		key rewrite_from OUTBOX_REWRITE_FROM yes no
		key domain OUTBOX_DOMAIN word
		key admin OUTBOX_ADMIN word
		key helo OUTBOX_HELO word
		key cafile OUTBOX_CAFILE
		key deliver OUTBOX_DELIVER foreground background queue
		key maxage OUTBOX_MAXAGE word
		key timeout OUTBOX_TIMEOUT number
		if [ -n "${OUTBOX_PIN:-}" ]; then
			one_line OUTBOX_PIN "$OUTBOX_PIN"
			for _p in $OUTBOX_PIN; do
				echo "pin $_p"
			done
		fi
	) || exit 78
	[ -z "${OUTBOX_USER:-}" ] || write_password
	# Public, as a setgid installation wants it: the secret is not here.
	(umask 022 && printf '%s\n' "$_conf" >"$CONF.new" &&
	    mv -f "$CONF.new" "$CONF") ||
	    refuse OUTBOX_HOST "unable to write $CONF"
}

# generated: /etc/outbox.conf is absent, or an earlier start wrote it
# (from the variables, or as the link to OUTBOX_CONFIG).
generated() {
	[ ! -e "$CONF" ] && [ ! -L "$CONF" ] && return 0
	[ -L "$CONF" ] && return 0
	[ "$(head -n 1 "$CONF" 2>/dev/null)" = "$MARK" ]
}

configure() {
	if [ -n "${OUTBOX_CONFIG:-}" ]; then
		[ -f "$OUTBOX_CONFIG" ] ||
		    refuse OUTBOX_CONFIG "$OUTBOX_CONFIG is not a file"
		generated ||
		    refuse OUTBOX_CONFIG "set, and a file is mounted at $CONF too: give one"
		if [ "$OUTBOX_CONFIG" != "$CONF" ]; then
			rm -f "$CONF" && ln -s "$OUTBOX_CONFIG" "$CONF" ||
			    refuse OUTBOX_CONFIG "unable to link $CONF to it"
		fi
	elif generated; then
		write_config
	fi
	# Nothing below needs them, and the command must not inherit them.
	unset OUTBOX_CONFIG OUTBOX_PASSWORD OUTBOX_PASSWORD_FILE
}

# spool: the layout of "make install-setgid" (see queue.c), mended at
# each start, since a volume mounted there may come without it.
spool() {
	for _d in "" /tmp /queue /state /failed /corrupt; do
		mkdir -p "$SPOOL$_d" && chown root:outbox "$SPOOL$_d" || return 1
	done
	chmod 0710 "$SPOOL" && chmod 3730 "$SPOOL/tmp" &&
	    chmod 3770 "$SPOOL/queue" && chmod 2750 "$SPOOL/state" &&
	    chmod 0700 "$SPOOL/failed" "$SPOOL/corrupt"
}

root=
[ "$(id -u)" = 0 ] && root=1
if [ -n "$root" ]; then
	configure
	spool || {
		echo "docker-entrypoint.sh: unable to set up the spool $SPOOL" >&2
		exit 75
	}
elif [ ! -e "$CONF" ] && [ -z "${OUTBOX_CONFIG:-}" ]; then
	refuse OUTBOX_HOST "no $CONF, and only root can write it: run as root, or mount the file"
fi

case ${1:-} in
'')
	exec /usr/sbin/outbox -q5m ;;
-*)
	exec /usr/sbin/outbox "$@" ;;
outbox | sendmail | mailq | newaliases | /usr/sbin/outbox | \
    /usr/sbin/sendmail | /usr/sbin/newaliases | /usr/bin/mailq)
	exec "$@" ;;
esac
interval=${OUTBOX_QUEUE_INTERVAL:-1m}
case $interval in
off) ;;
'' | *[!0-9smhdw]* | [!0-9]*)
	refuse OUTBOX_QUEUE_INTERVAL "not an interval such as 1m or 30s, nor off" ;;
*)
	# Only root's runner may run the queue (outbox(8), PRIVILEGES).
	if [ -n "$root" ]; then
		/usr/sbin/outbox "-q$interval" </dev/null &
	fi ;;
esac
exec "$@"
