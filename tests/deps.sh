#!/bin/sh
# What outbox's make targets need from Debian/Ubuntu, installed when run
# as root and named otherwise.
# usage: tests/deps.sh build|check|demo|fuzz|lint|bench|deb
#        tests/deps.sh cross [ARCH...]
#
# check also needs the mail programs that t_callers.sh runs with outbox
# as their sendmail.  bsd-mailx among them is unpacked into tests/.callers
# instead of installed: its package depends on an MTA, which apt would
# bring in (exim4).  And NSD, the name server of t_dns.sh, which the
# tests start on loopback addresses of their own: where installing it
# also starts the system's nsd service on every address, stop that
# (systemctl disable --now nsd).
#
# cross is for make check-cross: for each ARCH (tests/cross.sh knows
# them; all of them by default) the cross compiler, that Debian
# architecture's musl and BearSSL, and qemu-user, after adding the
# architecture to dpkg's.

TESTS=$(cd "$(dirname "$0")" && pwd)
CALLERS=$TESTS/.callers

need() {	# need PACKAGE TEST...: PACKAGE is missing unless TEST succeeds
	_pkg=$1; shift
	case " $missing " in *" $_pkg "*) return ;; esac
	"$@" >/dev/null 2>&1 || missing="$missing $_pkg"
}

installed() {	# installed PACKAGE: for libraries, which have no command
	dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q ' installed$'
}

missing=
foreign=
need musl-tools command -v musl-gcc
need libbearssl-dev test -f /usr/include/bearssl/bearssl.h
case $1 in
build) ;;
check|demo)
	need python3-aiosmtpd /usr/bin/python3 -c 'import aiosmtpd'
	need openssl command -v openssl
	if [ "$1" = check ]; then
		need gcc command -v gcc
		need s-nail command -v s-nail
		need mutt command -v mutt
		need git command -v git
		# t_dns.sh's name server (in /usr/sbin, off a user's PATH)
		need nsd sh -c 'command -v nsd || test -x /usr/sbin/nsd'
		# the shell of t_scratch.sh's stand-in for the alpine image
		need busybox-static command -v busybox
		need git-email sh -c 'test -x "$(git --exec-path)/git-send-email"'
		# git send-email's address parser (Debian's git does not bundle it)
		need libmailtools-perl perl -MMail::Address -e 1
		# what the unpacked bsd-mailx links with
		need libbsd0 installed libbsd0
		need liblockfile1 installed liblockfile1
	fi
	;;
lint)
	need mandoc command -v mandoc
	need gcc command -v gcc
	need cppcheck command -v cppcheck
	need clang-tidy command -v clang-tidy
	;;
bench)
	need python3-aiosmtpd /usr/bin/python3 -c 'import aiosmtpd'
	need openssl command -v openssl
	need valgrind command -v valgrind
	# the private mount namespace the peers run in
	need util-linux command -v unshare
	# what the peers (bench/peers.sh unpacks them, not installs them)
	# link with: dma libssl3; nullmailer libgnutls30 and libstdc++6;
	# msmtp libgnutls30, libgsasl18 and libsecret-1-0
	for _lib in libssl3 libgnutls30 libstdc++6 libgsasl18 libsecret-1-0; do
		need $_lib installed $_lib
	done
	;;
cross)
	shift
	# shellcheck disable=SC2046 # one word per architecture
	[ $# -gt 0 ] || set -- $(sh "$TESTS/cross.sh" archs)
	for _a in "$@"; do
		_cc=$(sh "$TESTS/cross.sh" cc "$_a") || exit 64
		_m=$(sh "$TESTS/cross.sh" multiarch "$_a")
		_d=$(sh "$TESTS/cross.sh" debarch "$_a")
		dpkg --print-foreign-architectures 2>/dev/null | grep -qx "$_d" ||
		    foreign="$foreign $_d"
		need "gcc-$_m" command -v "$_m-gcc"
		# the musl-gcc wrapper for that architecture
		need "musl-dev:$_d" command -v "$_cc"
		need "libbearssl-dev:$_d" test -f "/usr/lib/$_m/libbearssl.a"
		need qemu-user-static command -v "$(sh "$TESTS/cross.sh" qemu "$_a")"
	done
	# the smoke test's server, its certificates, and file(1) on each binary
	need python3-aiosmtpd /usr/bin/python3 -c 'import aiosmtpd'
	need openssl command -v openssl
	need file command -v file
	;;
deb)
	# No fakeroot: contrib/debian/control says Rules-Requires-Root: no.
	need dpkg-dev command -v dpkg-buildpackage
	need debhelper command -v dh
	need git command -v git
	need file command -v file
	need lintian command -v lintian
	;;
fuzz)
	need clang command -v clang
	# libFuzzer's runtime
	need libclang-rt-14-dev sh -c 'ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a'
	;;
*)
	echo "usage: tests/deps.sh build|check|demo|fuzz|lint|bench|deb" >&2
	echo "       tests/deps.sh cross [ARCH...]" >&2
	exit 64
	;;
esac

if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing:$missing"
		export DEBIAN_FRONTEND=noninteractive
		for _d in $foreign; do
			dpkg --add-architecture "$_d" ||
			    { echo "dpkg --add-architecture $_d failed" >&2; exit 1; }
		done
		# An index that failed to download (a mirror in sync) need not
		# hold what is missing: the install says when it does.
		apt-get update -qq ||
		    echo "apt-get update failed in part; installing all the same" >&2
		apt-get install -y -qq --no-install-recommends $missing \
		    >/dev/null || { echo "apt-get install$missing failed" >&2; exit 1; }
	else
		echo "missing packages:$missing" >&2
		if [ -n "$foreign" ]; then
			echo "first add the architectures and update the lists:" >&2
			for _d in $foreign; do
				echo "    sudo dpkg --add-architecture $_d" >&2
			done
			echo "    sudo apt-get update" >&2
		fi
		echo "install them with: sudo apt-get install$missing" >&2
		exit 1
	fi
fi
[ "$1" = check ] || exit 0

# bsd-mailx: downloaded and unpacked once; nothing is fetched while the
# unpacked copy is there.  Unpacked beside, then moved into place, so
# that an interrupted run leaves no copy that looks whole.
[ -x "$CALLERS/bsd-mailx/usr/bin/bsd-mailx" ] && exit 0
fetch_mailx() {
	(cd "$CALLERS/tmp" && timeout 120 apt-get download bsd-mailx) \
	    >"$CALLERS/tmp/log" 2>&1
}
echo "unpacking bsd-mailx into $CALLERS"
rm -rf "$CALLERS/tmp" "$CALLERS/bsd-mailx" && mkdir -p "$CALLERS/tmp" || exit 1
# Without package lists (a fresh image) the download fails: as root,
# update them once and try again.
fetch_mailx || { [ "$(id -u)" = 0 ] &&
    timeout 300 apt-get update -qq >/dev/null 2>&1 && fetch_mailx; } || {
	sed 's/^/    /' "$CALLERS/tmp/log" >&2
	echo "could not download bsd-mailx (apt-get download bsd-mailx)" >&2
	exit 1
}
dpkg -x "$CALLERS"/tmp/bsd-mailx_*.deb "$CALLERS/tmp/root" &&
    mv "$CALLERS/tmp/root" "$CALLERS/bsd-mailx" ||
    { echo "could not unpack bsd-mailx into $CALLERS" >&2; exit 1; }
rm -rf "$CALLERS/tmp"
