#!/usr/bin/python3
"""Scripted, deliberately badly behaved SMTP server for outbox tests.

Usage:
  rawsmtpd.py --dir DIR --script FILE [--cert F --key F] [--conns N]
              [--lifetime SECONDS]

Listens on 127.0.0.1 (ephemeral port, written atomically to DIR/port; pid to
DIR/pid), serves up to N connections one after another, running the script
for each, then exits.  Script steps, one per line (blank lines and lines
starting with # are ignored):

  send TEXT       send TEXT; \\r \\n \\t \\0 \\xNN \\\\ are decoded, nothing added
  repeat N TEXT   send TEXT N times (recorded once, as "S: TEXT (x N)"); with
                  N = 0, until the client closes or the lifetime ends
  expect PREFIX   read a line; unless it starts with PREFIX (case-insensitive,
                  same escapes) append "mismatch: expected PREFIX got LINE"
                  to DIR/errors and drop the connection
  recv            read a line, whatever it is
  data            read lines up to ".\\r\\n" (nothing else ends it): DIR/data.N
                  gets the raw bytes before it (still dot-stuffed, line ends as
                  sent); written atomically, and only if the dot arrived
  starttls        TLS handshake as server (as the first step: implicit TLS)
  sleep SECONDS   pause
  drain SECONDS   read and record whatever arrives for that long
  close           close the connection now (TCP close, no TLS close_notify;
                  the end of the script does the same)

Per-connection scripts: a line "connection N" (N >= 1) starts the steps for
connection N; steps before any such line are those of connection 1.  Each
connection runs the section with the highest number not above its own, so
with sections 1 and 3, connections 1 and 2 run section 1 and every later one
section 3.  A script without "connection" lines runs whole for every
connection.  A section may be empty (the connection is closed at once);
giving one number twice is an error.

DIR/transcript: "--- connection N", "S: LINE" (sent), "C: LINE" (received;
line end removed, other bytes escaped as \\t \\r \\\\ \\xNN; bytes left
without a final LF are recorded as one more C: line),
"--- tls", "--- tls failed: WHY", "--- plaintext discarded: BYTES" (client
data that arrived before the handshake), "--- mismatch", "--- close" (we
closed), "eof" (the client closed; not an error), and at the end "--- timeout"
(lifetime over) or "--- stopped by signal N".
Everything is bounded by --lifetime: no read or handshake waits past it.
"""

import argparse
import os
import re
import signal
import socket
import ssl
import sys
import time

STEPS = {"send", "repeat", "expect", "recv", "data", "starttls", "sleep", "drain", "close"}


class EndRun(Exception):
    """This connection is over (client EOF, mismatch, close step, TLS error)."""


class Lifetime(Exception):
    """The server's lifetime ran out."""


def unescape(text):
    """Decode the escapes allowed in scripts into bytes; other text is
    UTF-8.  Unknown escapes stay as written."""
    simple = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}
    out = b""
    for m in re.finditer(r"\\x[0-9a-fA-F]{2}|\\.|[^\\]+|\\$", text):
        s = m.group()
        if s.startswith("\\x") and len(s) == 4:
            out += bytes([int(s[2:], 16)])
        elif s.startswith("\\") and s[1:] in simple:
            out += simple[s[1:]]
        else:
            out += s.encode()
    return out


def escape(raw):
    """Printable form of one line for the transcript."""
    named = {9: "\\t", 13: "\\r", 10: "\\n", 92: "\\\\"}
    return "".join(named.get(b) or (chr(b) if 32 <= b < 127 else "\\x%02x" % b)
                   for b in raw)


def parse_script(path):
    """The script as {connection number: steps}; see the docstring."""
    sections = {1: []}
    steps = sections[1]
    explicit = set()  # numbers given on a "connection" line
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            word, _, arg = line.partition(" ")
            if word == "connection":
                n = int(arg) if arg.strip().isdigit() else 0
                if n < 1:
                    sys.exit("rawsmtpd.py: %s:%d: connection wants a number "
                             ">= 1" % (path, no))
                # Section 1 exists from the start, but only its steps so far
                # (none) make "connection 1" a repetition.
                if n in explicit or (n == 1 and sections[1]):
                    sys.exit("rawsmtpd.py: %s:%d: connection %d given twice"
                             % (path, no, n))
                explicit.add(n)
                steps = sections.setdefault(n, [])
                continue
            if word not in STEPS:
                sys.exit("rawsmtpd.py: %s:%d: unknown step %r" % (path, no, word))
            if word in ("sleep", "drain"):
                try:
                    arg = float(arg)
                except ValueError:
                    sys.exit("rawsmtpd.py: %s:%d: %s wants seconds" % (path, no, word))
            elif word in ("send", "expect"):
                arg = unescape(arg)  # keep spaces: "send  x" sends " x"
            elif word == "repeat":
                count, _, text = arg.partition(" ")
                if not count.isdigit() or not text:
                    sys.exit("rawsmtpd.py: %s:%d: repeat wants a count and "
                             "text" % (path, no))
                arg = (int(count), unescape(text))
            steps.append((word, arg))
    return sections


def section_for(sections, n):
    """The steps connection n runs: the highest section number <= n."""
    return sections[max(k for k in sections if k <= n)]


class Conn:
    """One client connection: a line reader with a deadline, plus logging."""

    def __init__(self, srv, sock):
        self.srv, self.sock, self.buf = srv, sock, b""

    def note(self, text):
        self.srv.note(text)

    def recv_some(self, until):
        """Read more bytes into buf; False once `until` (a drain's end) has
        passed.  The server's lifetime bounds every wait."""
        while True:
            limit = min(until or self.srv.deadline, self.srv.deadline)
            left = limit - time.monotonic()
            if left <= 0:
                if until and until < self.srv.deadline:
                    return False
                raise Lifetime("timeout")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
                break
            except socket.timeout:
                continue  # re-check which limit we hit
            except (OSError, ssl.SSLError):  # reset, unclean TLS close, ...
                chunk = b""
                break
        if not chunk:
            self.flush()
            self.note("eof")
            raise EndRun()
        self.buf += chunk
        return True

    def flush(self):
        """Record bytes received but never read as a line (no LF yet)."""
        if self.buf:
            self.note("C: " + escape(self.buf))
            self.buf = b""

    def readline(self, until=None):
        """One line including its LF (recorded as C:), or None on timeout."""
        while b"\n" not in self.buf:
            if not self.recv_some(until):
                return None
        line, _, self.buf = self.buf.partition(b"\n")
        line += b"\n"
        self.note("C: " + escape(line.rstrip(b"\n").rstrip(b"\r")))
        return line

    def send(self, data):
        for part in data.split(b"\n"):
            if part:  # a final LF leaves an empty tail: nothing to record
                self.note("S: " + escape(part.rstrip(b"\r")))
        self.sock.settimeout(max(0.1, self.srv.deadline - time.monotonic()))
        try:
            self.sock.sendall(data)
        except socket.timeout:  # client not reading until our lifetime ended
            raise Lifetime("timeout")
        except (OSError, ssl.SSLError):
            self.note("eof")
            raise EndRun()

    def repeat(self, count, text):
        """Send text count times (0: until the client or the lifetime
        ends), in large writes."""
        self.note("S: %s (x %s)" % (escape(text.rstrip(b"\n").rstrip(b"\r")),
                                    count or "until the end"))
        per = max(1, 65536 // len(text))
        left = count
        while count == 0 or left > 0:
            n = per if count == 0 else min(per, left)
            self.sock.settimeout(max(0.1, self.srv.deadline - time.monotonic()))
            try:
                self.sock.sendall(text * n)
            except socket.timeout:
                raise Lifetime("timeout")
            except (OSError, ssl.SSLError):
                self.note("eof")
                raise EndRun()
            left -= n

    def starttls(self):
        if self.buf:
            # Bytes the client sent before the handshake (e.g. pipelined
            # after STARTTLS): a real server must throw them away.
            self.note("--- plaintext discarded: " + escape(self.buf))
            self.buf = b""
        self.sock.settimeout(max(0.1, self.srv.deadline - time.monotonic()))
        try:
            self.sock = self.srv.tls.wrap_socket(self.sock, server_side=True)
        except (OSError, ssl.SSLError) as e:
            # Often expected: the client refusing our certificate.
            self.note("--- tls failed: %s" % e)
            raise EndRun()
        self.note("--- tls")


class Server:
    def __init__(self, opts, steps):
        self.opts, self.steps = opts, steps
        self.deadline = time.monotonic() + opts.lifetime
        self.datano = 0
        self.tls = None
        if opts.cert:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(opts.cert, opts.key)
        # Line-buffered and flushed per line so tests can follow it live.
        self.transcript = open(self.path("transcript"), "a", buffering=1)

    def path(self, name):
        return os.path.join(self.opts.dir, name)

    def note(self, text):
        self.transcript.write(text + "\n")
        self.transcript.flush()

    def run(self, conn, steps):
        for word, arg in steps:
            if word == "send":
                conn.send(arg)
            elif word == "repeat":
                conn.repeat(*arg)
            elif word in ("expect", "recv"):
                line = conn.readline().rstrip(b"\n").rstrip(b"\r")
                if word == "expect" and not line.lower().startswith(arg.lower()):
                    with open(self.path("errors"), "a") as f:
                        f.write("mismatch: expected %s got %s\n"
                                % (escape(arg), escape(line)))
                    self.note("--- mismatch")
                    return
            elif word == "data":
                raw = b""
                while True:
                    line = conn.readline()
                    if line == b".\r\n":
                        break
                    raw += line
                self.datano += 1
                name = self.path("data.%d" % self.datano)
                with open(name + ".tmp", "wb") as f:
                    f.write(raw)
                os.rename(name + ".tmp", name)  # seen => complete
            elif word == "starttls":
                conn.starttls()
            elif word == "sleep":
                time.sleep(max(0.0, min(arg, self.deadline - time.monotonic())))
            elif word == "drain":
                until = time.monotonic() + arg
                while conn.readline(until) is not None:
                    pass
            elif word == "close":
                break
        conn.flush()
        self.note("--- close")

    def serve(self, listener):
        for n in range(1, self.opts.conns + 1):
            listener.settimeout(max(0.0, self.deadline - time.monotonic()))
            try:
                sock, _ = listener.accept()
            except socket.timeout:
                raise Lifetime("timeout")
            self.note("--- connection %d" % n)
            conn = Conn(self, sock)
            try:
                self.run(conn, section_for(self.steps, n))
            except EndRun:
                pass
            finally:
                conn.flush()
                try:
                    conn.sock.close()
                except OSError:
                    pass


def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def main():
    p = argparse.ArgumentParser(description="scripted hostile SMTP server")
    p.add_argument("--dir", required=True)
    p.add_argument("--script", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--lifetime", type=float, default=60.0)
    opts = p.parse_args()
    steps = parse_script(opts.script)
    if (any(w == "starttls" for sec in steps.values() for w, _ in sec)
            and not (opts.cert and opts.key)):
        p.error("the script uses starttls: --cert and --key are required")
    os.makedirs(opts.dir, exist_ok=True)

    def stop(signum, frame):
        raise Lifetime("stopped by signal %d" % signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    srv = Server(opts, steps)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(max(1, opts.conns))
    write_atomic(srv.path("pid"), "%d\n" % os.getpid())
    write_atomic(srv.path("port"), "%d\n" % listener.getsockname()[1])
    try:
        srv.serve(listener)
    except Lifetime as e:
        srv.note("--- %s" % e)
    finally:
        listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
