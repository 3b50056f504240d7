#!/usr/bin/python3
"""Test smart host for outbox: aiosmtpd with STARTTLS/implicit TLS, AUTH,
scripted recipient rejections, and every message and event written to DIR.

Usage:
  smtpd.py --dir DIR [--tls starttls|implicit|none] [--cert F --key F]
           [--auth USER:PASS] [--mechs LIST] [--mechs-plain LIST]
           [--token TOKEN] [--scram-iterations N] [--scram-bad-signature]
           [--client-ca FILE [--require-client-cert]] [--tls13-only]
           [--auth-delay SECONDS] [--reject ADDR]... [--defer ADDR]...
           [--lifetime SECONDS] [--size BYTES] [--bind ADDR] [--port N]

AUTH (only with --auth; every mechanism checks USER:PASS or --token):
  --mechs LIST        comma-separated mechanisms offered once TLS is on (and,
                      with --tls none, in plaintext): PLAIN, LOGIN, CRAM-MD5,
                      SCRAM-SHA-256, XOAUTH2, OAUTHBEARER, EXTERNAL; default
                      PLAIN,LOGIN.  An empty list (--mechs "") means AUTH is
                      not offered at all after STARTTLS.
  --mechs-plain LIST  with --tls starttls, what is offered (and accepted)
                      before STARTTLS; default none.  With a list, commands
                      before STARTTLS are no longer refused.
  --token TOKEN       the bearer token XOAUTH2 and OAUTHBEARER want (with the
                      user of --auth).  A wrong one gets the RFC 7628 error
                      exchange: a 334 with a JSON status, then 535.
  --scram-iterations N    SCRAM-SHA-256 iteration count (default 4096)
  --scram-bad-signature   send a wrong v= in SCRAM's server-final message
  EXTERNAL            succeeds when the client presented a certificate that
                      --client-ca verified; the user is the certificate's CN;
                      the authzid must be empty ("=") or that CN or USER.
  --auth-delay S      hold the 235 reply S seconds (a session kept open
                      while the client holds its secret)

TLS:
  --client-ca FILE        ask for a client certificate and verify it against
                          FILE (optional for the client)
  --require-client-cert   with --client-ca: a client without one is refused
  --tls13-only            accept TLS 1.3 only

Listening:
  --bind ADDR             the loopback address to listen on (default
                          127.0.0.1), such as ::1 or 127.0.0.2
  --port N                the port (default 0: one the system picks), so
                          that servers on several addresses can share one,
                          as the MX hosts of a domain share port 25

Files in DIR:
  pid, port      written (atomically) once the listener accepts connections
  log            one line per event: connect, ehlo NAME, helo NAME, starttls,
                 starttls fail, tls client CN (a verified client certificate,
                 after STARTTLS or implicit TLS), auth mech NAME (an AUTH
                 command arrived), auth authzid NAME (EXTERNAL's, when not
                 empty), auth ok USER, auth fail, mail ADDR, mailopts PARAMS
                 (when MAIL had any), rcpt ADDR CODE, rcptopts PARAMS, data,
                 msg N, rset, quit
  msg.N          message N exactly as received, after dot-unstuffing (CRLF)
  msg.N.env      from ADDR / rcpt ADDR... / auth USER|- / tls yes|no;
                 written after msg.N, so seeing msg.N.env means both are whole;
                 numbering continues after any msg.N.env already in DIR
Why an exchange failed (a SCRAM proof that does not verify, a bad token)
goes to stderr, never a secret.

The mechanisms beyond aiosmtpd's own PLAIN and LOGIN are written here from
their RFCs: CRAM-MD5 (RFC 2195), SCRAM-SHA-256 (RFC 5802, RFC 7677),
OAUTHBEARER (RFC 7628), EXTERNAL (RFC 4422 appendix A); XOAUTH2 follows
Google's description (user=...^Aauth=Bearer ...^A^A).

We drive asyncio ourselves instead of using aiosmtpd's Controller: the
Controller opens a connection to itself at start-up (which would show up as a
bogus "connect"), runs in a thread, and would need a fixed port.
"""

import argparse
import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import signal
import ssl
import sys
import time
import traceback
import warnings

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, TLSSetupException

# PLAIN and LOGIN are aiosmtpd 1.4.3's own; the others are Server.auth_*.
MECHS = ("PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256", "XOAUTH2",
         "OAUTHBEARER", "EXTERNAL")


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


def client_cn(server):
    """The CN of the client certificate, or None.  The ssl module hands out
    the decoded certificate only once it has verified it (CERT_OPTIONAL or
    CERT_REQUIRED), so a name here means a verified certificate."""
    t = server.transport
    cert = t.get_extra_info("peercert") if t is not None else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def offered(server):
    """The mechanisms offered (and accepted) at this point of the session."""
    st = server.st
    if st.user is None:
        return []
    if tls_active(server) or st.opts.tls == "none":
        return st.opts.mechs
    return st.opts.mechs_plain


def b64(data):
    return base64.b64encode(data).decode("ascii")


def b64d(text):
    """Strict base64 to bytes, or None."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def note(why):
    """Why an exchange failed, for whoever reads the server's stderr."""
    print("smtpd.py: " + why, file=sys.stderr, flush=True)


class Handler:
    """aiosmtpd handler hooks: recipient policy, storage, event log."""

    def __init__(self, state):
        self.st = state

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.st.log("ehlo " + hostname)
        # With a 5-argument EHLO hook aiosmtpd no longer records the name
        # itself; without this MAIL would get "503 send HELO first".
        session.host_name = hostname
        # aiosmtpd lists every mechanism it has (and, since we let it
        # accept AUTH without its own notion of TLS, even before STARTTLS):
        # replace its line with what is offered at this point, or none.
        responses = [r for r in responses if not r[4:].startswith("AUTH")]
        mechs = offered(server)
        if mechs:
            responses.insert(len(responses) - 1, "250-AUTH " + " ".join(mechs))
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
    """Adds the events that have no handler hook (starttls, tls client,
    auth, data: logged when the command arrives, before the message is
    read) and the AUTH mechanisms aiosmtpd does not have.

    aiosmtpd names a mechanism after its method: auth_CRAM__MD5 is
    CRAM-MD5.  Each is called as method(server, args), args being the
    words of the AUTH command, and returns an AuthResult: handled=True
    when it has sent the reply itself, otherwise aiosmtpd sends 535 (or
    235 on success)."""

    # aiosmtpd's defaults are "User Name\0" and "Password\0"; use what
    # Postfix and most servers send.
    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"

    def __init__(self, state, handler, **kw):
        self.st = state
        self.in_auth = False
        super().__init__(handler, **kw)

    def connection_made(self, transport):
        first = self._original_transport is None and self.transport is None
        super().connection_made(transport)
        # With implicit TLS asyncio calls the first connection_made once
        # the handshake is done (a plaintext transport has no certificate);
        # after STARTTLS smtp_STARTTLS below logs the client instead.
        if first:
            cn = client_cn(self)
            if cn is not None:
                self.st.log("tls client " + cn)

    async def push(self, status):
        text = status if isinstance(status, str) else status.decode("utf-8", "replace")
        if self.in_auth and self.st.opts.auth_delay and text.startswith("235"):
            await asyncio.sleep(self.st.opts.auth_delay)
        await super().push(status)

    async def smtp_STARTTLS(self, arg):
        try:
            await super().smtp_STARTTLS(arg)
        except Exception:
            # Handshake failed, e.g. the client rejected our certificate.
            self.st.log("starttls fail")
            raise
        if tls_active(self):
            self.st.log("starttls")
            cn = client_cn(self)
            if cn is not None:
                self.st.log("tls client " + cn)

    async def smtp_AUTH(self, arg):
        # RFC 4954 mechanism names are case-insensitive; aiosmtpd compares
        # them case-sensitively ("auth plain" would get 504).
        mech = ""
        if arg:
            mech, sep, rest = arg.partition(" ")
            mech = mech.upper()
            arg = mech + sep + rest
        self.st.log("auth mech " + mech)
        before = self.session.authenticated
        if (mech and self.session.extended_smtp and not before
                and mech not in offered(self)):
            if not tls_active(self) and mech in self.st.opts.mechs:
                await self.push("538 5.7.11 Encryption required for "
                                "requested authentication mechanism")
            else:
                await self.push("504 5.5.4 Unrecognized authentication type")
            self.st.log("auth fail")
            return
        self.in_auth = True
        try:
            await super().smtp_AUTH(arg)
        finally:
            self.in_auth = False
        if self.session.authenticated and not before:
            self.st.log("auth ok " + self.session.auth_data)
        elif not self.session.authenticated:
            self.st.log("auth fail")

    async def smtp_DATA(self, arg):
        self.st.log("data")
        await super().smtp_DATA(arg)

    # -- helpers for the mechanisms --------------------------------------

    async def first_response(self, args):
        """The client's first message: the initial response of the AUTH
        command ("=" is an empty one, RFC 4954 4), or the answer to an
        empty 334.  None when it was not base64 or the client gave up
        (aiosmtpd has then replied)."""
        if len(args) > 1:
            if args[1] == "=":
                return b""
            data = b64d(args[1])
            if data is None:
                await self.push("501 5.5.2 Can't decode base64")
            return data
        data = await self.challenge_auth("")
        return None if data is MISSING else data

    async def refuse(self, why, code="535 5.7.8 Authentication credentials invalid"):
        note(why)
        await self.push(code)
        return AuthResult(success=False, handled=True)

    def ok(self, user):
        return AuthResult(success=True, auth_data=user)

    # -- the mechanisms ---------------------------------------------------

    async def auth_CRAM__MD5(self, _, args):
        # RFC 2195: a challenge in the form of a message id; the answer is
        # "user hex(HMAC-MD5(password, challenge))".
        if len(args) > 1:
            return await self.refuse("CRAM-MD5: initial response not allowed",
                                     "501 5.5.2 CRAM-MD5 has no initial response")
        challenge = "<%d.%d@localhost>" % (os.getpid(), time.time_ns())
        answer = await self.challenge_auth(challenge)
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        user, _, digest = answer.decode("utf-8", "replace").rpartition(" ")
        want = hmac.new(self.st.password.encode(), challenge.encode(),
                        hashlib.md5).hexdigest()
        if user != self.st.user or not hmac.compare_digest(digest.lower(), want):
            return await self.refuse("CRAM-MD5: wrong user or digest")
        return self.ok(user)

    async def auth_SCRAM__SHA__256(self, _, args):
        # RFC 5802 with SHA-256 (RFC 7677), without channel binding.
        first = await self.first_response(args)
        if first is None:
            return AuthResult(success=False, handled=True)
        try:
            first = first.decode("utf-8")
            cbflag, authzid, bare = first.split(",", 2)
            if cbflag not in ("n", "y") or (authzid and not authzid.startswith("a=")):
                raise ValueError("bad GS2 header " + repr(cbflag + "," + authzid))
            attrs = dict(kv.split("=", 1) for kv in bare.split(","))
            user = attrs["n"].replace("=2C", ",").replace("=3D", "=")
            cnonce = attrs["r"]
            if not cnonce:
                raise ValueError("empty nonce")
        except (ValueError, KeyError, UnicodeError) as e:
            return await self.refuse("SCRAM: client-first: %s" % e,
                                     "501 5.5.2 bad client-first-message")
        gs2 = cbflag + "," + authzid + ","
        salt = os.urandom(16)
        nonce = cnonce + b64(os.urandom(18))
        iters = self.st.opts.scram_iterations
        server_first = "r=%s,s=%s,i=%d" % (nonce, b64(salt), iters)
        final = await self.challenge_auth(server_first)
        if final is MISSING:
            return AuthResult(success=False, handled=True)
        try:
            final = final.decode("utf-8")
            without_proof, _, proof = final.rpartition(",p=")
            attrs = dict(kv.split("=", 1) for kv in without_proof.split(","))
            if attrs.get("c") != b64(gs2.encode()):
                raise ValueError("channel binding c=%r" % attrs.get("c"))
            if attrs.get("r") != nonce:
                raise ValueError("nonce differs")
            proof = b64d(proof)
            if proof is None or len(proof) != 32:
                raise ValueError("bad proof")
        except (ValueError, UnicodeError) as e:
            return await self.refuse("SCRAM: client-final: %s" % e,
                                     "501 5.5.2 bad client-final-message")
        salted = hashlib.pbkdf2_hmac("sha256", self.st.password.encode(), salt, iters)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        auth_message = ",".join((bare, server_first, without_proof)).encode()
        client_sig = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        given_key = bytes(a ^ b for a, b in zip(proof, client_sig))
        if user != self.st.user or not hmac.compare_digest(
                hashlib.sha256(given_key).digest(), stored_key):
            return await self.refuse("SCRAM: wrong user or proof")
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        server_sig = hmac.new(server_key, auth_message, hashlib.sha256).digest()
        if self.st.opts.scram_bad_signature:
            server_sig = bytes(b ^ 0x5A for b in server_sig)
        # RFC 4954 4: the server-final goes in a 334; the client answers
        # with an empty line (or "*" when the signature does not verify).
        answer = await self.challenge_auth("v=" + b64(server_sig))
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        if answer != b"":
            return await self.refuse("SCRAM: answer to server-final not empty",
                                     "501 5.5.2 expected an empty line")
        return self.ok(user)

    async def bearer_failed(self, error, ack):
        """RFC 7628 3.2.3 (and XOAUTH2 alike): the error as a 334 JSON
        challenge, the client's acknowledgement, then 535."""
        answer = await self.challenge_auth(json.dumps(error))
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        if answer != ack:
            note("bearer: error not acknowledged with %r" % ack)
        return await self.refuse("bearer: wrong user or token")

    async def auth_XOAUTH2(self, _, args):
        # "user=" USER ^A "auth=Bearer " TOKEN ^A ^A
        data = await self.first_response(args)
        if data is None:
            return AuthResult(success=False, handled=True)
        fields = data.decode("utf-8", "replace").split("\x01")
        kv = dict(f.split("=", 1) for f in fields if "=" in f)
        user, auth = kv.get("user"), kv.get("auth", "")
        if (fields[-2:] != ["", ""] or user != self.st.user
                or auth != "Bearer " + (self.st.opts.token or "")
                or self.st.opts.token is None):
            return await self.bearer_failed(
                {"status": "401", "schemes": "bearer",
                 "scope": "https://mail.example.org/"}, b"")
        return self.ok(user)

    async def auth_OAUTHBEARER(self, _, args):
        # gs2-header ^A *(key=value ^A) ^A (RFC 7628 3.1)
        data = await self.first_response(args)
        if data is None:
            return AuthResult(success=False, handled=True)
        text = data.decode("utf-8", "replace")
        gs2, _, rest = text.partition("\x01")
        parts = gs2.split(",")
        user = None
        if len(parts) >= 2 and parts[1].startswith("a="):
            user = parts[1][2:].replace("=2C", ",").replace("=3D", "=")
        kv = dict(f.split("=", 1) for f in rest.split("\x01") if "=" in f)
        ok = (parts[0] in ("n", "y") and text.endswith("\x01\x01")
              and self.st.opts.token is not None
              and kv.get("auth") == "Bearer " + self.st.opts.token
              and user in (None, self.st.user))
        if not ok:
            return await self.bearer_failed(
                {"status": "invalid_token", "scope": "mail",
                 "openid-configuration":
                     "https://auth.example.org/.well-known/openid-configuration"},
                b"\x01")
        return self.ok(self.st.user)

    async def auth_EXTERNAL(self, _, args):
        # RFC 4422 appendix A: the message is the authzid, maybe empty; the
        # identity is what TLS established.
        authzid = await self.first_response(args)
        if authzid is None:
            return AuthResult(success=False, handled=True)
        authzid = authzid.decode("utf-8", "replace")
        cn = client_cn(self)
        if cn is None:
            return await self.refuse("EXTERNAL: no verified client certificate")
        if authzid:
            self.st.log("auth authzid " + authzid)
        if authzid not in ("", cn, self.st.user):
            return await self.refuse("EXTERNAL: authzid %r not allowed" % authzid)
        return self.ok(cn)


def make_authenticator(state):
    def authenticate(server, session, envelope, mechanism, creds):
        login = creds.login.decode("utf-8", "replace")
        password = creds.password.decode("utf-8", "replace")
        if state.user is not None and (login, password) == (state.user, state.password):
            # auth_data ends up in session.auth_data: the user name.
            return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)  # -> 535 5.7.8
    return authenticate


def send_handshake_alerts():
    """asyncio (Python 3.11) aborts the connection when a server-side TLS
    handshake fails, without writing the alert OpenSSL has queued: the
    client sees only EOF.  Real servers send it (protocol_version to a TLS
    1.2 client of a TLS 1.3-only server, certificate_required, ...), and
    the client's message is about that alert, so write it out first.
    Both STARTTLS (aiosmtpd) and implicit TLS (create_server) go through
    this class.  Left alone where asyncio's internals differ."""
    try:
        from asyncio import sslproto
        cls = sslproto.SSLProtocol
        orig = cls._on_handshake_complete
        getattr(cls, "_process_outgoing")
    except (ImportError, AttributeError):
        return

    def on_handshake_complete(self, handshake_exc):
        if handshake_exc is not None:
            try:
                self._process_outgoing()
            except Exception:
                pass
        return orig(self, handshake_exc)
    cls._on_handshake_complete = on_handshake_complete


def parse_args():
    p = argparse.ArgumentParser(description="outbox test SMTP server")
    p.add_argument("--dir", required=True)
    p.add_argument("--tls", choices=("starttls", "implicit", "none"))
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth", metavar="USER:PASS")
    p.add_argument("--mechs", default="PLAIN,LOGIN")
    p.add_argument("--mechs-plain", default="")
    p.add_argument("--token")
    p.add_argument("--scram-iterations", type=int, default=4096)
    p.add_argument("--scram-bad-signature", action="store_true")
    p.add_argument("--auth-delay", type=float, default=0.0, metavar="SECONDS")
    p.add_argument("--client-ca", metavar="FILE")
    p.add_argument("--require-client-cert", action="store_true")
    p.add_argument("--tls13-only", action="store_true")
    p.add_argument("--reject", action="append", default=[], metavar="ADDR")
    p.add_argument("--defer", action="append", default=[], metavar="ADDR")
    p.add_argument("--lifetime", type=float, default=120.0)
    p.add_argument("--size", type=int, default=33554432, metavar="BYTES")
    p.add_argument("--bind", default="127.0.0.1", metavar="ADDR")
    p.add_argument("--port", type=int, default=0, metavar="N")
    o = p.parse_args()
    if o.tls is None:
        o.tls = "starttls" if o.cert else "none"
    if o.tls != "none" and not (o.cert and o.key):
        p.error("--tls %s needs --cert and --key" % o.tls)
    if o.auth is not None and ":" not in o.auth:
        p.error("--auth wants USER:PASS")
    if o.require_client_cert and not o.client_ca:
        p.error("--require-client-cert needs --client-ca")
    if (o.client_ca or o.tls13_only) and o.tls == "none":
        p.error("--client-ca and --tls13-only need TLS")
    try:
        loopback = ipaddress.ip_address(o.bind).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        p.error("--bind wants a loopback address, not %r" % o.bind)
    if o.mechs_plain and o.tls != "starttls":
        p.error("--mechs-plain is for --tls starttls")
    for name in ("mechs", "mechs_plain"):
        mechs = [m.strip().upper() for m in getattr(o, name).split(",") if m.strip()]
        bad = [m for m in mechs if m not in MECHS]
        if bad:
            p.error("unsupported mechanism(s): " + ",".join(bad))
        setattr(o, name, mechs)
    return o


async def serve(opts):
    state = State(opts)
    ctx = None
    if opts.tls != "none":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(opts.cert, opts.key)
        if opts.client_ca:
            ctx.load_verify_locations(cafile=opts.client_ca)
            ctx.verify_mode = (ssl.CERT_REQUIRED if opts.require_client_cert
                               else ssl.CERT_OPTIONAL)
        if opts.tls13_only:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    starttls = opts.tls == "starttls"
    kw = dict(
        hostname="localhost",  # avoid socket.getfqdn(): DNS can be slow
        ident="outbox-test-smtpd",
        enable_SMTPUTF8=True,
        data_size_limit=opts.size,
        timeout=min(60.0, opts.lifetime),  # idle clients are dropped
        tls_context=ctx if starttls else None,
        # Commands before STARTTLS get 530, unless AUTH is offered there.
        require_starttls=starttls and not opts.mechs_plain,
        auth_required=opts.auth is not None,
        # aiosmtpd only counts STARTTLS as "TLS"; with implicit TLS it would
        # refuse AUTH (538) and not even advertise it.  So it may take AUTH
        # at any time, and offered() (EHLO and Server.smtp_AUTH) decides
        # what is offered and accepted when.  With --tls none plaintext
        # AUTH is on purpose: tests show when outbox won't use it.
        auth_require_tls=False,
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
        host=opts.bind, port=opts.port,
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
    send_handshake_alerts()
    asyncio.run(serve(opts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
