#!/bin/sh
# What cross builds of outbox need, per architecture.
# usage: tests/cross.sh cc|multiarch ARCH
#
# cc and multiarch print, for ARCH, the musl-gcc wrapper that Debian's
# musl-dev:ARCH installs, and the multiarch directory of /usr/lib that
# holds its libbearssl.a (libbearssl-dev:ARCH).  An unknown ARCH is an
# error that names the known ones.

ARCHS="aarch64 armhf mipsel"

# arch ARCH: set CC and MULTIARCH for ARCH, or fail.
arch() {
	case $1 in
	aarch64)
		CC=aarch64-linux-musl-gcc MULTIARCH=aarch64-linux-gnu ;;
	armhf)
		CC=arm-linux-musleabihf-gcc MULTIARCH=arm-linux-gnueabihf ;;
	mipsel)
		CC=mipsel-linux-musl-gcc MULTIARCH=mipsel-linux-gnu ;;
	*)
		echo "tests/cross.sh: unknown architecture '$1'" \
		    "(known: $ARCHS)" >&2
		return 1 ;;
	esac
}

case $1 in
cc|multiarch)
	[ $# = 2 ] || { echo "usage: tests/cross.sh $1 ARCH" >&2; exit 64; }
	[ -n "$2" ] || exit 0
	arch "$2" || exit 1
	case $1 in
	cc) echo "$CC" ;;
	multiarch) echo "$MULTIARCH" ;;
	esac
	;;
*)
	echo "usage: tests/cross.sh cc|multiarch ARCH" >&2
	exit 64 ;;
esac
