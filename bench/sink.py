#!/usr/bin/python3
"""The smart host of the benchmark: aiosmtpd on 127.0.0.1 with STARTTLS,
AUTH PLAIN and LOGIN (after STARTTLS only), and a log of every session
and message.  It keeps nothing but a digest of each message, so that 200
messages or one of 20 MB cost the same to keep.

Usage:
  sink.py --dir DIR --cert F --key F --auth USER:PASS [--quickack]
          [--lifetime SECONDS]

--quickack sets TCP_QUICKACK on the connection after every receive (Linux
clears it again on its own), so that the server acknowledges at once
instead of after the delayed-ACK timer; without it the kernel's default
applies, as on a real smart host.

Files in DIR:
  port    the port, written once the sink listens
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
from asyncio import sslproto
import hashlib
import logging
import os
import re
import signal
import socket
import ssl
import time

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


def quickack(transport):
    """Ask Linux to acknowledge at once what arrives next; it drops back
    to delayed ACKs by itself, so this is done after every read."""
    sock = transport.get_extra_info("socket") if transport else None
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass


def quickack_tls():
    """Set quick ACKs after every read of a TLS connection as well.  Its
    bytes, the handshake's included, reach asyncio's SSLProtocol first,
    not the SMTP protocol: wrap the method every read ends in."""
    cls = sslproto.SSLProtocol
    plain = cls.buffer_updated

    def buffer_updated(self, nbytes):
        quickack(self._transport)
        plain(self, nbytes)
    cls.buffer_updated = buffer_updated


class Sink(SMTP):
    """aiosmtpd's server, counting sessions and, with quickack, asking
    Linux for an immediate ACK after every read."""

    def __init__(self, handler, log, quick, **kw):
        super().__init__(handler, **kw)
        self.log = log
        self.quick = quick
        self.counted = False
        self.n = 0

    def connection_made(self, transport):
        # Called again by aiosmtpd after STARTTLS: count the first only.
        if not self.counted:
            self.counted = True
            self.log.sessions += 1
            self.n = self.log.sessions
            self.log.line("session %d" % self.n)
            if self.quick:
                quickack(transport)
        super().connection_made(transport)

    def data_received(self, data):
        # Reads before STARTTLS arrive here; after it, quickack_tls acks.
        if self.quick and self._original_transport is None:
            quickack(self.transport)
        super().data_received(data)


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
    if opts.quickack:
        quickack_tls()
    handler = Handler(log)
    loop = asyncio.get_running_loop()

    def factory():
        return Sink(handler, log, opts.quickack,
                    hostname="sink.bench.test", ident="bench sink",
                    tls_context=ctx, require_starttls=True,
                    authenticator=authenticator(log, user, password),
                    auth_required=True, auth_require_tls=True,
                    data_size_limit=SIZE_LIMIT, timeout=60, loop=loop)

    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = "%d\n" % server.sockets[0].getsockname()[1]
    for name, text in (("pid", "%d\n" % os.getpid()), ("port", port)):
        path = os.path.join(opts.dir, name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)

    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    loop.call_later(opts.lifetime, done.set)   # stops by itself, always
    await done.wait()
    server.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--auth", required=True)
    p.add_argument("--quickack", action="store_true")
    p.add_argument("--lifetime", type=float, default=900.0)
    opts = p.parse_args()
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    asyncio.run(serve(opts))


if __name__ == "__main__":
    main()
