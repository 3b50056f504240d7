#!/bin/sh
# The programs outbox is measured against, unpacked beside the bench
# instead of installed: dma, nullmailer and msmtp-mta each conflict with
# any other MTA package, and installing one would make it the system's
# sendmail.  usage: bench/peers.sh DIR
#
# DIR/NAME/ is the root of package NAME as dpkg -x unpacks it, and
# DIR/NAME/.version its version; bench.py puts those trees over /usr
# inside a private mount namespace.  Fetched
# once: nothing is downloaded while DIR/NAME is there.  Each package is
# unpacked beside, then moved into place, so that an interrupted run
# leaves no tree that looks whole.
set -eu

PEERS="dma nullmailer msmtp"
[ $# -eq 1 ] || { echo "usage: bench/peers.sh DIR" >&2; exit 64; }
dir=$1
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

todo=
for p in $PEERS; do
	[ -d "$dir/$p" ] || todo="$todo $p"
done
[ -n "$todo" ] || exit 0

for cmd in apt-get dpkg; do
	command -v $cmd >/dev/null 2>&1 || {
		echo "bench/peers.sh: $cmd not found; the peers$todo are fetched with" \
		    "apt-get download and unpacked with dpkg -x" >&2
		exit 1
	}
done

tmp=$dir/.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# apt-get download needs package lists; a fresh image has none, so as
# root they are updated once when the first try fails.
fetch() {
	(cd "$tmp" && timeout 120 apt-get download $todo) >"$tmp/log" 2>&1
}
echo "fetching$todo into $dir"
fetch || { [ "$(id -u)" = 0 ] &&
    timeout 300 apt-get update -qq >/dev/null 2>&1 && fetch; } || {
	sed 's/^/    /' "$tmp/log" >&2
	echo "bench/peers.sh: could not download$todo (apt-get download$todo)" >&2
	[ "$(id -u)" = 0 ] || echo "bench/peers.sh: as root, apt-get update may help" >&2
	exit 1
}
for p in $todo; do
	set -- "$tmp/${p}"_*.deb
	[ -f "$1" ] || { echo "bench/peers.sh: no ${p}_*.deb was downloaded" >&2; exit 1; }
	dpkg -x "$1" "$tmp/$p.root"
	dpkg-deb -f "$1" Version >"$tmp/$p.root/.version"
	mv "$tmp/$p.root" "$dir/$p"
	echo "unpacked $(basename "$1")"
done
