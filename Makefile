# outbox: a sendmail-compatible null client.
#
#   make                static binary with musl and BearSSL (musl-tools, libbearssl-dev)
#   make CC=cc STATIC=  dynamic binary with the system libc
#   make check          the test suite, on this binary and on one built with ASan+UBSan
#   make lint           compiler warnings, cppcheck, clang-tidy, mandoc -Tlint
#   make fuzz           each libFuzzer target for FUZZ_SECONDS (clang)
#   make demo           a message through the queue to a TLS+AUTH server on loopback
#   make check-deb      build the Debian package (contrib/debian) and check it
#   make bench          outbox against dma, nullmailer and msmtp (bench/README.md);
#                       as root, KEEP=1 keeps the scratch directory bench/.run
#   make install        DESTDIR and PREFIX honoured; everything runs as root
#   make install-setgid for multi-user hosts: setgid to OUTBOX_GROUP, the
#                       spool owned by OUTBOX_USER (see outbox(8), PRIVILEGES)
#   make CROSS=ARCH     static cross/ARCH/outbox for aarch64, armhf or mipsel
#   make check-cross    each of CROSS_ARCHS built, smoke-tested under qemu-user
.POSIX:

# Error lines are bounded on purpose: snprintf truncating them is not a
# bug, so -Wformat-truncation is off; every other warning is an error.
CC = musl-gcc
STATIC = -static
CFLAGS = -Os -g0 -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror \
	-Wno-format-truncation -Wshadow -Wpointer-arith -Wstrict-prototypes \
	-Wmissing-prototypes -fno-asynchronous-unwind-tables \
	-ffunction-sections -fdata-sections
LDFLAGS = $(STATIC) -s -Wl,--gc-sections
MULTIARCH != gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu
BEARSSL_CFLAGS = -I/usr/include/bearssl
BEARSSL_LIBS = /usr/lib/$(MULTIARCH)/libbearssl.a

# The sanitizer build for make check: glibc, dynamic, ASan and UBSan.
ASAN_CC = gcc
ASAN_CFLAGS = -O1 -g -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror \
	-Wno-format-truncation -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer

PREFIX = /usr/local
SPOOL = /var/spool/outbox
OUTBOX_GROUP = outbox
OUTBOX_USER = root
MANPREFIX = $(PREFIX)/share/man
SBINDIR = $(PREFIX)/sbin
BINDIR = $(PREFIX)/bin

OBJS = sendmail.o smtpin.o msg.o aliases.o queue.o smtp.o auth.o tls.o cert.o \
	dns.o conf.o util.o fortify.o
SRCS = sendmail.c smtpin.c msg.c aliases.c queue.c smtp.c auth.c tls.c cert.c \
	dns.c conf.c util.c fortify.c

# The unit tests link every object but the two with main() and -bs.
UNIT_OBJS = msg.o aliases.o queue.o smtp.o auth.o tls.o cert.o dns.o conf.o \
	util.o fortify.o
UNIT_SRCS = msg.c aliases.c queue.c smtp.c auth.c tls.c cert.c dns.c conf.c \
	util.c fortify.c

# Cross builds: make CROSS=ARCH makes cross/ARCH/outbox with ARCH's
# musl-gcc wrapper and BearSSL (tests/cross.sh names them; tests/deps.sh
# cross installs them) in one compiler run, so that no object file meets
# a native one.  Without CROSS, all is ./outbox and the rest is unused.
CROSS =
CROSS_ARCHS = aarch64 armhf mipsel
CROSS_CC != sh tests/cross.sh cc '$(CROSS)' 2>/dev/null || true
CROSS_MULTIARCH != sh tests/cross.sh multiarch '$(CROSS)' 2>/dev/null || true
ALL != test -z '$(CROSS)' && echo outbox || echo 'cross/$(CROSS)/outbox'

all: $(ALL)

cross/$(CROSS)/outbox: $(SRCS) outbox.h config.h tests/cross.sh
	@sh tests/cross.sh cc '$(CROSS)' >/dev/null
	@mkdir -p cross/$(CROSS)
	$(CROSS_CC) $(CFLAGS) $(BEARSSL_CFLAGS) $(LDFLAGS) -o $@ $(SRCS) \
		/usr/lib/$(CROSS_MULTIARCH)/libbearssl.a

# The native ./outbox is built as well: each cross binary must refuse an
# untrusted server with the same status and reason as it does.
check-cross:
	@sh tests/deps.sh cross $(CROSS_ARCHS)
	$(MAKE) outbox
	@for a in $(CROSS_ARCHS); do \
		echo "$(MAKE) CROSS=$$a"; \
		$(MAKE) CROSS=$$a || { \
		    echo "check-cross: $$a: the build failed" >&2; exit 1; }; \
	done
	sh tests/cross.sh check $(CROSS_ARCHS)

clean: clean-cross
clean-cross:
	rm -rf cross

.PHONY: check-cross clean-cross

outbox: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(BEARSSL_LIBS)

$(OBJS): outbox.h config.h

.c.o:
	$(CC) $(CFLAGS) $(BEARSSL_CFLAGS) -c $<

outbox-asan: $(SRCS) tests/asan_options.c outbox.h config.h
	$(ASAN_CC) $(ASAN_CFLAGS) -o $@ $(SRCS) tests/asan_options.c -lbearssl

tests/unit: tests/unit.c $(UNIT_OBJS) outbox.h config.h
	$(CC) $(CFLAGS) $(BEARSSL_CFLAGS) $(LDFLAGS) -o $@ tests/unit.c \
		$(UNIT_OBJS) $(BEARSSL_LIBS)

tests/unit-asan: tests/unit.c $(UNIT_SRCS) outbox.h config.h
	$(ASAN_CC) $(ASAN_CFLAGS) -o $@ tests/unit.c $(UNIT_SRCS) -lbearssl

# Fuzzing: libFuzzer targets in tests/fuzz, seeds in tests/data/fuzz-*.
# make fuzz runs each for FUZZ_SECONDS (clang); make check replays the
# seeds under ASan and UBSan with tests/fuzz/replay.c (no clang needed).
# Target NAME is tests/fuzz/NAME.c, with its seeds in tests/data/fuzz-NAME
# and libFuzzer's corpus in tests/fuzz/corpus-NAME.
FUZZ_TARGETS = dns smtp msg conf queue
FUZZ_SECONDS = 60
FUZZ_CC = clang
FUZZ_SRCS = msg.c aliases.c queue.c smtp.c auth.c tls.c cert.c dns.c conf.c \
	util.c fortify.c
FUZZ_COMMON = tests/fuzz/common.c
FUZZ_DEPS = tests/fuzz/replay.c $(FUZZ_COMMON) tests/fuzz/fuzz.h $(FUZZ_SRCS) \
	outbox.h config.h

# tests/fuzz/replay-NAME for each target, remade when it is missing or
# older than one of its sources (one recipe for all: POSIX make has no
# pattern rules).
fuzz-replay:
	@for t in $(FUZZ_TARGETS); do \
		b=tests/fuzz/replay-$$t; \
		if [ -f $$b ] && [ -z "$$(find tests/fuzz/$$t.c $(FUZZ_DEPS) \
		    -newer $$b)" ]; then continue; fi; \
		echo "$(ASAN_CC) $(ASAN_CFLAGS) -o $$b tests/fuzz/$$t.c" \
		    "tests/fuzz/replay.c $(FUZZ_COMMON) $(FUZZ_SRCS) -lbearssl"; \
		$(ASAN_CC) $(ASAN_CFLAGS) -o $$b tests/fuzz/$$t.c \
		    tests/fuzz/replay.c $(FUZZ_COMMON) $(FUZZ_SRCS) -lbearssl || exit 1; \
	done

fuzz-check: fuzz-replay
	@for t in $(FUZZ_TARGETS); do \
		echo "./tests/fuzz/replay-$$t tests/data/fuzz-$$t/*"; \
		./tests/fuzz/replay-$$t tests/data/fuzz-$$t/* || exit 1; \
	done

fuzz:
	@sh tests/deps.sh fuzz
	for t in $(FUZZ_TARGETS); do \
		$(FUZZ_CC) -g -O1 -std=c11 -D_DEFAULT_SOURCE \
		    -fsanitize=fuzzer,address,undefined -o tests/fuzz/fuzz-$$t \
		    tests/fuzz/$$t.c $(FUZZ_COMMON) $(FUZZ_SRCS) -lbearssl || exit 1; \
		mkdir -p tests/fuzz/corpus-$$t; \
		./tests/fuzz/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) \
		    tests/fuzz/corpus-$$t tests/data/fuzz-$$t || exit 1; \
	done

deps:
	@sh tests/deps.sh build

check:
	@sh tests/deps.sh check
	$(MAKE) outbox outbox-asan tests/unit tests/unit-asan fuzz-replay
	./tests/unit -q
	./tests/unit-asan -q
	$(MAKE) fuzz-check
	sh tests/run ./outbox ./outbox-asan

# The Debian package, built from a scratch copy of the tracked files and
# checked; as root also installed and purged in a throwaway root
# (tests/deb.sh).
check-deb:
	@sh tests/deps.sh deb
	sh tests/deb.sh

.PHONY: check-deb

demo:
	@sh tests/deps.sh demo
	$(MAKE) outbox
	sh tests/demo.sh ./outbox

# The peers are unpacked into bench/.peers, not installed (bench/peers.sh).
bench/spawn: bench/spawn.c
	$(CC) -Os -std=c11 -Wall -Wextra -Werror $(STATIC) -s \
		-o $@ bench/spawn.c

bench: outbox bench/spawn
	@sh tests/deps.sh bench
	sh bench/peers.sh bench/.peers
	KEEP='$(KEEP)' /usr/bin/python3 bench/bench.py --outbox ./outbox \
		--spawn bench/spawn --peers bench/.peers --dir bench/.run

# Static analysis: the compilers (warnings are errors in both builds),
# cppcheck, clang-tidy (.clang-tidy lists its checks, and why some are
# off) and mandoc.  cppcheck's variableScope is off because the house
# style declares variables at the top of a function.
CPPCHECK_FLAGS = --quiet --error-exitcode=1 --inline-suppr --std=c11 \
	--enable=warning,style,performance,portability \
	--suppress=variableScope -D_DEFAULT_SOURCE -I.

lint:
	@sh tests/deps.sh lint
	$(MAKE) clean
	$(MAKE) outbox outbox-asan
	cppcheck $(CPPCHECK_FLAGS) $(SRCS) tests/unit.c tests/fuzz/*.c \
	    bench/spawn.c
	clang-tidy --quiet $(SRCS) -- -std=c11 -D_DEFAULT_SOURCE $(BEARSSL_CFLAGS)
	mandoc -Tlint -W warning man/outbox.8 man/outbox.conf.5

install: outbox
	mkdir -p $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(MANPREFIX)/man8 $(DESTDIR)$(MANPREFIX)/man5
	cp outbox $(DESTDIR)$(SBINDIR)/outbox
	chmod 755 $(DESTDIR)$(SBINDIR)/outbox
	ln -sf outbox $(DESTDIR)$(SBINDIR)/sendmail
	ln -sf outbox $(DESTDIR)$(SBINDIR)/newaliases
	ln -sf $(SBINDIR)/outbox $(DESTDIR)$(BINDIR)/mailq
	cp man/outbox.8 $(DESTDIR)$(MANPREFIX)/man8/outbox.8
	cp man/outbox.conf.5 $(DESTDIR)$(MANPREFIX)/man5/outbox.conf.5
	chmod 644 $(DESTDIR)$(MANPREFIX)/man8/outbox.8 \
		$(DESTDIR)$(MANPREFIX)/man5/outbox.conf.5
	mkdir -p $(DESTDIR)$(MANPREFIX)/man1
	ln -sf outbox.8 $(DESTDIR)$(MANPREFIX)/man8/sendmail.8
	ln -sf outbox.8 $(DESTDIR)$(MANPREFIX)/man8/newaliases.8
	ln -sf ../man8/outbox.8 $(DESTDIR)$(MANPREFIX)/man1/mailq.1

# The spool of a setgid install (queue.c describes each mode).
install-spool:
	getent group $(OUTBOX_GROUP) >/dev/null || groupadd -r $(OUTBOX_GROUP)
	install -d -o $(OUTBOX_USER) -g $(OUTBOX_GROUP) -m 0710 $(DESTDIR)$(SPOOL)
	install -d -o $(OUTBOX_USER) -g $(OUTBOX_GROUP) -m 3730 $(DESTDIR)$(SPOOL)/tmp
	install -d -o $(OUTBOX_USER) -g $(OUTBOX_GROUP) -m 3770 $(DESTDIR)$(SPOOL)/queue
	install -d -o $(OUTBOX_USER) -g $(OUTBOX_GROUP) -m 2750 $(DESTDIR)$(SPOOL)/state
	install -d -o $(OUTBOX_USER) -g $(OUTBOX_GROUP) -m 0700 \
		$(DESTDIR)$(SPOOL)/failed $(DESTDIR)$(SPOOL)/corrupt

install-setgid: install install-spool
	chgrp $(OUTBOX_GROUP) $(DESTDIR)$(SBINDIR)/outbox
	chmod 2755 $(DESTDIR)$(SBINDIR)/outbox

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/outbox $(DESTDIR)$(SBINDIR)/sendmail \
		$(DESTDIR)$(SBINDIR)/newaliases $(DESTDIR)$(BINDIR)/mailq \
		$(DESTDIR)$(MANPREFIX)/man8/outbox.8 \
		$(DESTDIR)$(MANPREFIX)/man5/outbox.conf.5 \
		$(DESTDIR)$(MANPREFIX)/man8/sendmail.8 \
		$(DESTDIR)$(MANPREFIX)/man8/newaliases.8 \
		$(DESTDIR)$(MANPREFIX)/man1/mailq.1

clean:
	rm -f outbox outbox-asan $(OBJS) tests/unit tests/unit-asan \
		tests/fuzz/replay-* tests/fuzz/fuzz-* bench/spawn

.PHONY: all deps check demo bench fuzz fuzz-replay fuzz-check lint install \
	install-spool install-setgid uninstall clean
