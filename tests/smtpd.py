#!/usr/bin/python3
"""Test smart host for outbox: aiosmtpd with STARTTLS/implicit TLS, AUTH,
scripted recipient rejections, and every message and event written to DIR.

Usage:
  smtpd.py --dir DIR [--tls starttls|implicit|none] [--cert F --key F]
           [--auth USER:PASS] [--mechs PLAIN,LOGIN] [--reject ADDR]...
           [--defer ADDR]... [--lifetime SECONDS] [--size BYTES]

Files in DIR:
  pid, port      written (atomically) once the listener accepts connections
  log            one line per event: connect, ehlo NAME, helo NAME, starttls,
                 auth ok USER, auth fail, mail ADDR, mailopts PARAMS (when
                 MAIL had any), rcpt ADDR CODE, rcptopts PARAMS, data,
                 msg N, rset, quit
  msg.N          message N exactly as received, after dot-unstuffing (CRLF)
  msg.N.env      from ADDR / rcpt ADDR... / auth USER|- / tls yes|no;
                 written after msg.N, so seeing msg.N.env means both are whole;
                 numbering continues after any msg.N.env already in DIR

We drive asyncio ourselves instead of using aiosmtpd's Controller: the
Controller opens a connection to itself at start-up (which would show up as a
bogus "connect"), runs in a thread, and would need a fixed port.
"""

import argparse
import asyncio
import logging
import os
import signal
import ssl
import sys
import traceback
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, TLSSetupException

MECHS = ("PLAIN", "LOGIN")  # the mechanisms aiosmtpd 1.4.3 has built in


def write_atomic(path, data):
    """Write via path.tmp + rename so pollers never see a partial file."""
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.rename(path + ".tmp", path)


class State:
    """Options plus what persists across connections (log, message count)."""

    def __init__(self, opts):
        self.opts = opts
        self.dir = opts.dir
        self.reject = {a.lower() for a in opts.reject}
        self.defer = {a.lower() for a in opts.defer}
        self.user = self.password = None
        if opts.auth:
            self.user, _, self.password = opts.auth.partition(":")
        # Continue numbering if DIR already holds messages from an earlier run.
        self.msgno = 0
        while os.path.exists(self.path("msg.%d.env" % (self.msgno + 1))):
            self.msgno += 1

    def path(self, name):
        return os.path.join(self.dir, name)

    def log(self, line):
        # Line-buffering is not enough when tests read the log concurrently:
        # open/append/close per event keeps every line whole and visible.
        with open(self.path("log"), "a") as f:
            f.write(line + "\n")


def bare(addr):
    """aiosmtpd hands us '<>' for the null sender; the files use ''."""
    return "" if addr in (None, "<>") else addr


def tls_active(server):
    # Works for both cases: after STARTTLS server.transport is the TLS app
    # transport, and with implicit TLS it is the TLS transport from the start.
    t = server.transport
    return t is not None and t.get_extra_info("ssl_object") is not None


class Handler:
    """aiosmtpd handler hooks: recipient policy, storage, event log."""

    def __init__(self, state):
        self.st = state

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.st.log("ehlo " + hostname)
        # With a 5-argument EHLO hook aiosmtpd no longer records the name
        # itself; without this MAIL would get "503 send HELO first".
        session.host_name = hostname
        if self.st.user is None:
            # aiosmtpd always lists "AUTH ..." (even with every mechanism
            # excluded); a server without --auth must not offer it at all.
            responses = [r for r in responses if not r[4:].startswith("AUTH")]
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        self.st.log("helo " + hostname)
        session.host_name = hostname
        return "250 " + server.hostname

    async def handle_MAIL(self, server, session, envelope, address, options):
        self.st.log("mail " + bare(address))
        if options:
            self.st.log("mailopts " + " ".join(options))
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, options):
        key = address.lower()
        if key in self.st.reject:
            code, reply = 550, "550 5.1.1 <%s>: no such user" % address
        elif key in self.st.defer:
            code, reply = 451, "451 4.3.0 <%s>: try again later" % address
        else:
            code, reply = 250, "250 2.1.5 Ok"
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(options)
            if options:
                self.st.log("rcptopts " + " ".join(options))
        self.st.log("rcpt %s %d" % (address, code))
        return reply

    async def handle_DATA(self, server, session, envelope):
        st = self.st
        st.msgno += 1
        n = st.msgno
        # original_content is the raw byte stream after dot-unstuffing, with
        # the CRLFs exactly as the client sent them.
        with open(st.path("msg.%d" % n), "wb") as f:
            f.write(envelope.original_content)
        env = ["from " + bare(envelope.mail_from)]
        env += ["rcpt " + r for r in envelope.rcpt_tos]
        user = session.auth_data if session.authenticated else None
        env.append("auth " + (user or "-"))
        env.append("tls " + ("yes" if tls_active(server) else "no"))
        write_atomic(st.path("msg.%d.env" % n), ("\n".join(env) + "\n").encode())
        st.log("msg %d" % n)
        return "250 2.0.0 Ok: queued as %d" % n

    async def handle_RSET(self, server, session, envelope):
        self.st.log("rset")
        return "250 2.0.0 Ok"

    async def handle_QUIT(self, server, session, envelope):
        self.st.log("quit")
        return "221 2.0.0 Bye"

    async def handle_exception(self, error):
        # A failed STARTTLS handshake is an expected outcome in tests (the
        # client refusing our certificate); aiosmtpd closes the connection
        # and this reply is never sent.  Anything else is a bug: show it.
        if not isinstance(error, TLSSetupException):
            traceback.print_exception(error, file=sys.stderr)
        return "451 4.3.0 Internal error"


class Server(SMTP):
    """Adds the events that have no handler hook: starttls, auth, data
    (logged when the command arrives, before the message is read)."""

    # aiosmtpd's defaults are "User Name\0" and "Password\0"; use what
    # Postfix and most servers send.
    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"

    def __init__(self, state, handler, **kw):
        self.st = state
        super().__init__(handler, **kw)

    async def smtp_STARTTLS(self, arg):
        try:
            await super().smtp_STARTTLS(arg)
        except Exception:
            # Handshake failed, e.g. the client rejected our certificate.
            self.st.log("starttls fail")
            raise
        if tls_active(self):
            self.st.log("starttls")

    async def smtp_AUTH(self, arg):
        # RFC 4954 mechanism names are case-insensitive; aiosmtpd compares
        # them case-sensitively ("auth plain" would get 504).
        if arg:
            mech, sep, rest = arg.partition(" ")
            arg = mech.upper() + sep + rest
        before = self.session.authenticated
        await super().smtp_AUTH(arg)
        if self.session.authenticated and not before:
            self.st.log("auth ok " + self.session.auth_data)
        elif not self.session.authenticated:
            self.st.log("auth fail")

    async def smtp_DATA(self, arg):
        self.st.log("data")
        await super().smtp_DATA(arg)


def make_authenticator(state):
    def authenticate(server, session, envelope, mechanism, creds):
        login = creds.login.decode("utf-8", "replace")
        password = creds.password.decode("utf-8", "replace")
        if state.user is not None and (login, password) == (state.user, state.password):
            # auth_data ends up in session.auth_data: the user name.
            return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)  # -> 535 5.7.8
    return authenticate


def parse_args():
    p = argparse.ArgumentParser(description="outbox test SMTP server")
    p.add_argument("--dir", required=True)
    p.add_argument("--tls", choices=("starttls", "implicit", "none"))
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth", metavar="USER:PASS")
    p.add_argument("--mechs", default="PLAIN,LOGIN")
    p.add_argument("--reject", action="append", default=[], metavar="ADDR")
    p.add_argument("--defer", action="append", default=[], metavar="ADDR")
    p.add_argument("--lifetime", type=float, default=120.0)
    p.add_argument("--size", type=int, default=33554432, metavar="BYTES")
    o = p.parse_args()
    if o.tls is None:
        o.tls = "starttls" if o.cert else "none"
    if o.tls != "none" and not (o.cert and o.key):
        p.error("--tls %s needs --cert and --key" % o.tls)
    if o.auth is not None and ":" not in o.auth:
        p.error("--auth wants USER:PASS")
    o.mechs = [m.strip().upper() for m in o.mechs.split(",") if m.strip()]
    bad = [m for m in o.mechs if m not in MECHS]
    if bad:
        p.error("unsupported mechanism(s): " + ",".join(bad))
    return o


async def serve(opts):
    state = State(opts)
    ctx = None
    if opts.tls != "none":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(opts.cert, opts.key)
    starttls = opts.tls == "starttls"
    kw = dict(
        hostname="localhost",  # avoid socket.getfqdn(): DNS can be slow
        ident="outbox-test-smtpd",
        enable_SMTPUTF8=True,
        data_size_limit=opts.size,
        timeout=min(60.0, opts.lifetime),  # idle clients are dropped
        tls_context=ctx if starttls else None,
        require_starttls=starttls,
        auth_required=opts.auth is not None,
        # aiosmtpd only counts STARTTLS as "TLS"; with implicit TLS it would
        # refuse AUTH (538) and not even advertise it.  With --tls none we
        # allow plaintext AUTH on purpose so tests can show outbox won't.
        auth_require_tls=starttls,
        auth_exclude_mechanism=[m for m in MECHS if m not in opts.mechs],
        authenticator=make_authenticator(state),
    )
    loop = asyncio.get_running_loop()
    handler = Handler(state)

    def new_connection():
        # asyncio calls the factory when it accepts the TCP connection, before
        # any implicit-TLS handshake, so a client that aborts the handshake
        # still shows up as a bare "connect".
        state.log("connect")
        return Server(state, handler, loop=loop, **kw)

    server = await loop.create_server(
        new_connection,
        host="127.0.0.1", port=0,
        ssl=ctx if opts.tls == "implicit" else None,
        ssl_handshake_timeout=10 if opts.tls == "implicit" else None)

    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    loop.call_later(opts.lifetime, done.set)

    port = server.sockets[0].getsockname()[1]
    write_atomic(state.path("pid"), b"%d\n" % os.getpid())
    write_atomic(state.path("port"), b"%d\n" % port)
    await done.wait()
    server.close()
    # Drop sessions still open so the process really ends.
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.cancel()


def main():
    opts = parse_args()
    os.makedirs(opts.dir, exist_ok=True)
    # aiosmtpd warns (via warnings and logging) about auth without TLS and
    # logs every session at INFO; tests want stderr quiet unless it breaks.
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr,
                        format="smtpd.py: %(name)s: %(message)s")
    asyncio.run(serve(opts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
