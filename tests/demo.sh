#!/bin/sh
# make demo: one message the way cron sends it, through the queue, to a
# throwaway STARTTLS+AUTH smart host on 127.0.0.1.  usage: demo.sh BINARY
set -e
OUTBOX=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
TESTS=$(cd "$(dirname "$0")" && pwd)
D=$(mktemp -d "${TMPDIR:-/tmp}/outbox-demo.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n==> %s\n' "$*"; }

step "a test CA and a certificate for localhost"
sh "$TESTS/mkcerts.sh" "$D/certs"
ls "$D/certs"

step "a smart host on loopback: aiosmtpd, STARTTLS required, AUTH demo/demo-secret"
mkdir "$D/server"
/usr/bin/python3 "$TESTS/smtpd.py" --dir "$D/server" --tls starttls \
    --cert "$D/certs/server.pem" --key "$D/certs/server.key" \
    --auth demo:demo-secret --lifetime 60 >"$D/server/stdout" 2>&1 &
pid=$!
i=0
while [ ! -s "$D/server/port" ]; do
	i=$((i + 1)); [ $i -le 100 ] || { cat "$D/server/stdout"; exit 1; }
	sleep 0.1
done
port=$(cat "$D/server/port")
echo "listening on 127.0.0.1:$port"

step "outbox.conf (mode 0600: it holds the password)"
cat >"$D/outbox.conf" <<CONF
host localhost
port $port
tls starttls
user demo
password demo-secret
cafile $D/certs/ca.pem
domain demo.example
admin ops@demo.example
spool $D/spool
CONF
chmod 600 "$D/outbox.conf"
sed 's/^password .*/password ********/' "$D/outbox.conf"

step "outbox -bC: check the configuration against the smart host (sends nothing)"
"$OUTBOX" -C "$D/outbox.conf" -bC || exit 1

step "cron mails a job's output to root: sendmail -FCronDaemon -i -B8BITMIME -oem root (queue only here, -odq)"
printf 'From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@router> /usr/local/bin/backup\n\nbackup: 3 files, 12 KB\n.hidden line that SMTP dot-stuffs\n' |
    "$OUTBOX" -C "$D/outbox.conf" -FCronDaemon -i -B8BITMIME -oem -odq root
echo "exit status $? (0: the message is on disk and ours)"

step "mailq"
"$OUTBOX" -C "$D/outbox.conf" -bp

step "outbox -q (what cron runs every few minutes), with -v to show the dialogue"
"$OUTBOX" -C "$D/outbox.conf" -v -q
echo "exit status $?"

step "mailq"
"$OUTBOX" -C "$D/outbox.conf" -bp

step "what the smart host received: envelope"
cat "$D/server/msg.1.env"
step "what the smart host received: message"
tr -d '\r' <"$D/server/msg.1"
