#!/usr/bin/python3
"""The smart host of the benchmark: aiosmtpd on 127.0.0.1 with STARTTLS on
one port and implicit TLS on another, AUTH PLAIN and LOGIN (after TLS
only), and a log of every session and message.  It keeps nothing but a
digest of each message, so that 200 messages or one of 20 MB cost the
same to keep.

Usage:
  sink.py --dir DIR --cert F --key F --auth USER:PASS [--quickack]
          [--lifetime SECONDS]

--quickack sets TCP_QUICKACK on the connection after every receive (Linux
clears it again on its own), so that the server acknowledges at once
instead of after the delayed-ACK timer; without it the kernel's default
applies, as on a real smart host.

Files in DIR:
  ports   "STARTTLS_PORT IMPLICIT_PORT", written once both listen
  pid     the sink's PID
  log     one line per event, appended and flushed as it happens:
            session N                      connection N accepted
            auth N USER                    session N authenticated
            msg N ID SHA256 BYTES NS TLS   a message accepted in session N:
                                           ID its X-Bench-Id header, SHA256
                                           and BYTES its body with line ends
                                           made LF, NS the time.monotonic_ns()
                                           of the reply to the final dot,
                                           TLS yes or no
            bad N WHY                      a message that cannot be checked
"""

import argparse
import asyncio
import hashlib
import logging
import os
import re
import signal
import socket
import ssl
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult

# The largest message the sink accepts, announced with SIZE.
SIZE_LIMIT = 64 << 20
BENCH_ID = re.compile(rb"^x-bench-id:[ \t]*(\S+)", re.I | re.M)


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.sessions = 0

    def line(self, text):
        self.f.write(text + "\n")
        self.f.flush()


def body_digest(content):
    """ID, SHA-256 and size of the body of a message as received: the
    header section is what each client rewrites (Date, Message-ID,
    Received), the body must arrive exactly as submitted."""
    head, sep, body = content.partition(b"\r\n\r\n")
    if not sep:
        return None
    m = BENCH_ID.search(head.replace(b"\r\n", b"\n"))
    if not m:
        return None
    body = body.replace(b"\r\n", b"\n")
    return m.group(1).decode("ascii", "replace"), \
        hashlib.sha256(body).hexdigest(), len(body)


class Handler:
    def __init__(self, log):
        self.log = log

    async def handle_DATA(self, server, session, envelope):
        got = body_digest(envelope.original_content)
        tls = "yes" if server.transport.get_extra_info("ssl_object") else "no"
        if got is None:
            self.log.line("bad %d no X-Bench-Id header or no body" % server.n)
        else:
            self.log.line("msg %d %s %s %d %d %s" % (
                server.n, got[0], got[1], got[2], time.monotonic_ns(), tls))
        return "250 2.0.0 Ok"


class Sink(SMTP):
    """aiosmtpd's server, counting sessions and, with quickack, asking
    Linux for an immediate ACK after every read."""

    def __init__(self, handler, log, quickack, **kw):
        super().__init__(handler, **kw)
        self.log = log
        self.quickack = quickack
        self.sock = None
        self.n = 0

    def connection_made(self, transport):
        # Called again by aiosmtpd after STARTTLS: count the first only.
        if self.sock is None:
            self.sock = transport.get_extra_info("socket")
            self.log.sessions += 1
            self.n = self.log.sessions
            self.log.line("session %d" % self.n)
            self.ack()
        super().connection_made(transport)

    def data_received(self, data):
        # Decrypted data arrives here too, once per TLS read.
        self.ack()
        super().data_received(data)

    def ack(self):
        if self.quickack and self.sock is not None:
            try:
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            except OSError:
                pass


def authenticator(log, user, password):
    def check(server, session, envelope, mechanism, creds):
        ok = (creds.login.decode() == user and creds.password.decode() == password)
        if ok:
            log.line("auth %d %s" % (server.n, user))
        return AuthResult(success=ok, auth_data=user if ok else None)
    return check


async def serve(opts):
    user, _, password = opts.auth.partition(":")
    log = Log(os.path.join(opts.dir, "log"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.cert, opts.key)
    handler = Handler(log)
    loop = asyncio.get_running_loop()

    def factory(implicit):
        return lambda: Sink(
            handler, log, opts.quickack,
            hostname="sink.bench.test", ident="bench sink",
            tls_context=None if implicit else ctx,
            require_starttls=not implicit,
            authenticator=authenticator(log, user, password),
            auth_required=True,
            # aiosmtpd's own check knows STARTTLS only; with implicit TLS
            # the connection is TLS from the start.
            auth_require_tls=not implicit,
            data_size_limit=SIZE_LIMIT,
            timeout=60, loop=loop)

    starttls = await loop.create_server(factory(False), "127.0.0.1", 0)
    implicit = await loop.create_server(factory(True), "127.0.0.1", 0, ssl=ctx,
                                        ssl_handshake_timeout=10)
    ports = "%d %d\n" % (starttls.sockets[0].getsockname()[1],
                         implicit.sockets[0].getsockname()[1])
    for name, text in (("pid", "%d\n" % os.getpid()), ("ports", ports)):
        path = os.path.join(opts.dir, name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)

    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    loop.call_later(opts.lifetime, done.set)   # stops by itself, always
    await done.wait()
    starttls.close()
    implicit.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--auth", required=True)
    p.add_argument("--quickack", action="store_true")
    p.add_argument("--lifetime", type=float, default=900.0)
    opts = p.parse_args()
    # aiosmtpd warns at every start that implicit TLS lets AUTH through
    # without STARTTLS; that is the point of that port.
    warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    asyncio.run(serve(opts))


if __name__ == "__main__":
    main()
