#!/bin/sh
# What outbox's make targets need from Debian/Ubuntu, installed when run
# as root and named otherwise.  usage: tests/deps.sh build|check|demo|lint

need() {	# need PACKAGE TEST...: PACKAGE is missing unless TEST succeeds
	_pkg=$1; shift
	"$@" >/dev/null 2>&1 || missing="$missing $_pkg"
}

missing=
need musl-tools command -v musl-gcc
need libbearssl-dev test -f /usr/include/bearssl/bearssl.h
case $1 in
build) ;;
check|demo)
	need python3-aiosmtpd /usr/bin/python3 -c 'import aiosmtpd'
	need openssl command -v openssl
	[ "$1" = check ] && need gcc command -v gcc
	;;
lint)
	need mandoc command -v mandoc
	need gcc command -v gcc
	;;
*)
	echo "usage: tests/deps.sh build|check|demo|lint" >&2
	exit 64
	;;
esac
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing \
	    >/dev/null || { echo "apt-get install$missing failed" >&2; exit 1; }
	exit 0
fi
echo "missing packages:$missing" >&2
echo "install them with: sudo apt-get install$missing" >&2
exit 1
