#!/usr/bin/python3
"""make bench: outbox against dma, nullmailer and msmtp, one table.

Usage (make bench runs this as root, after tests/deps.sh bench and
bench/peers.sh):
  bench.py --outbox BIN --spawn BIN --peers DIR --dir SCRATCH [--keep]
           [--count N] [--runs N] [--repeat N]

--count, --runs and --repeat make a shorter run (fewer messages, fewer
latency runs, fewer queue runs) for trying a change; the recorded
figures use the defaults.

Every client relays to the same smart host, bench/sink.py on 127.0.0.1,
over STARTTLS with AUTH, and every figure of the table comes from this
one run.  dma and nullmailer read their configuration and spool from
compiled-in paths (/etc/dma, /etc/nullmailer, /var/spool/...), so the
driver runs in a private mount namespace of its own (unshare -m) and
mounts overlays on /etc, /usr and /var there: the peers' unpacked files
and configuration appear in the namespace only, and the host's /etc and
/var are never written.  The overlays' upper directories, every spool
included, live in SCRATCH, on the same file system as outbox's spool.

Each measurement runs under bench/spawn, which reports the CPU time of
the whole process tree (daemons and background children included) and,
traced, the peak resident set of each process.
"""

import argparse
import datetime
import glob
import hashlib
import os
import platform
import re
import shutil
import stat
import statistics
import subprocess
import sys
import time

SENDER = "bench@example.org"
RCPT = "rcpt@example.org"
USER, PASSWORD = "bench", "bench-Pa55-w0rd"
RUNS = 11			# latency: runs of one message each
BIG_RUNS = 5			# the same for the 20 MiB message
COUNT = 200			# messages of a queue run and of the separate ones
REPEAT = 3			# runs of each of those, for the median
SMALL = 4096			# bytes of a small message, header included
BIG = 20 << 20			# bytes of the large message's body
LIFETIME = 1200			# seconds the sinks live at most
HERE = os.path.dirname(os.path.abspath(__file__))


def note(text):
    """Progress, on stderr; the table goes to stdout."""
    print("bench: " + text, file=sys.stderr, flush=True)


def die(text):
    print("bench: " + text, file=sys.stderr, flush=True)
    sys.exit(1)


def run(*argv, **kw):
    return subprocess.run(argv, check=True, timeout=120, **kw)


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


# ---------------------------------------------------------------- setup

def enter_namespace(argv):
    """Re-run this script inside a private mount namespace (root only)."""
    if os.environ.get("BENCH_NS") == "1":
        return
    if os.geteuid() != 0:
        die("needs root: dma and nullmailer read /etc and /var at compiled-in "
            "paths, so they run in a private mount namespace (unshare -m) "
            "with overlays on /etc, /usr and /var; run make bench as root")
    if not shutil.which("unshare"):
        die("unshare (util-linux) not found")
    os.environ["BENCH_NS"] = "1"
    os.execvp("unshare", ["unshare", "--mount", "--propagation", "private",
                          sys.executable, os.path.abspath(__file__)] + argv)


def overlay(scratch, target, fill=None):
    """Mount an overlay on TARGET whose changes go to scratch/ns; FILL is
    a list of trees copied into its upper layer first (later ones win)."""
    name = target.strip("/").replace("/", "-")
    upper = os.path.join(scratch, "ns", name)
    work = os.path.join(scratch, "ns", name + ".work")
    os.makedirs(upper)
    os.makedirs(work)
    for tree in fill or ():
        # --remove-destination: dma's sendmail is a symlink to dma, and
        # nullmailer's sendmail must replace the link, not write through it.
        run("cp", "-a", "--remove-destination", tree + "/.", upper)
    run("mount", "-t", "overlay", "overlay", "-o",
        "lowerdir=%s,upperdir=%s,workdir=%s" % (target, upper, work), target)


def make_certs(d):
    """A test CA and an RSA-2048 certificate for localhost and 127.0.0.1,
    with the extensions BearSSL's X.509 engine expects."""
    os.makedirs(d)
    write(os.path.join(d, "ossl.cnf"), """\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ leaf ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
""")
    q = dict(cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("openssl", "req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=outbox bench CA", "-config", "ossl.cnf",
        "-extensions", "ca", **q)
    run("openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
        "-config", "ossl.cnf", **q)
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem",
        "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-out",
        "server.pem", "-extfile", "ossl.cnf", "-extensions", "leaf", **q)
    out = subprocess.run(["openssl", "x509", "-in", "server.pem", "-noout",
                          "-fingerprint", "-sha256"], cwd=d, check=True,
                         capture_output=True, text=True).stdout
    return out.split("=", 1)[1].strip().replace(":", "")


# ------------------------------------------------------------------ sink

class Sink:
    """bench/sink.py in DIR, and what its log says."""

    def __init__(self, d, certs, quickack):
        self.dir = d
        self.quickack = quickack
        os.makedirs(d)
        argv = [sys.executable, os.path.join(HERE, "sink.py"), "--dir", d,
                "--cert", os.path.join(certs, "server.pem"),
                "--key", os.path.join(certs, "server.key"),
                "--auth", USER + ":" + PASSWORD, "--lifetime", str(LIFETIME)]
        if quickack:
            argv.append("--quickack")
        self.err = open(os.path.join(d, "stderr"), "w")
        self.proc = subprocess.Popen(argv, stdout=self.err, stderr=self.err)
        port = os.path.join(d, "port")
        for _ in range(200):
            if os.path.exists(port) or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(port):
            self.stop()
            die("the sink did not start; its stderr:\n" +
                open(os.path.join(d, "stderr")).read())
        self.port = int(open(port).read())
        self.log = os.path.join(d, "log")

    def mark(self):
        return os.path.getsize(self.log) if os.path.exists(self.log) else 0

    def events(self, since):
        """Sessions and messages logged since offset SINCE:
        (number of sessions, {id: [(sha256, bytes, ns), ...]})."""
        sessions, msgs = 0, {}
        with open(self.log) as f:
            f.seek(since)
            for line in f:
                w = line.split()
                if w[:1] == ["session"]:
                    sessions += 1
                elif w[:1] == ["msg"] and len(w) == 7:
                    msgs.setdefault(w[2], []).append((w[3], int(w[4]), int(w[5])))
        return sessions, msgs

    def wait_for(self, ids, since, timeout=60):
        """Wait until every message of IDS has arrived; the messages."""
        end = time.monotonic() + timeout
        while True:
            _, msgs = self.events(since)
            if all(i in msgs for i in ids) or time.monotonic() > end:
                return msgs
            time.sleep(0.002)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()	# by its PID
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


# -------------------------------------------------------------- messages

class Messages:
    """Message files with a unique X-Bench-Id, and the digest of each
    body, which the sink must report unchanged."""

    def __init__(self, d):
        self.dir = d
        os.makedirs(d)
        self.expect = {}
        self.big_body = None

    @staticmethod
    def header(ident):
        return ("From: Bench <%s>\nTo: <%s>\nSubject: outbox bench %s\n"
                "X-Bench-Id: %s\nContent-Type: text/plain; charset=us-ascii\n"
                "\n" % (SENDER, RCPT, ident, ident)).encode()

    def _write(self, ident, body):
        path = os.path.join(self.dir, ident)
        with open(path, "wb") as f:
            f.write(self.header(ident))
            f.write(body)
        self.expect[ident] = (hashlib.sha256(body).hexdigest(), len(body))
        return path, ident

    def small(self, ident):
        """SMALL bytes, header included: text lines unique to this
        message, and the lines SMTP's dot-stuffing must carry through: a
        lone dot (a sendmail without -i would stop there), two dots, a
        leading dot."""
        body = b".\n..\n.leading dot\n"
        room = SMALL - len(self.header(ident))
        seed = ident.encode()
        while len(body) < room:
            seed = hashlib.sha256(seed).digest()
            body += seed.hex().encode() + b" " + seed[:12].hex().encode() + b"\n"
        # cut to size at a line end: the last line is shortened
        body = body[:room - 1] + b"\n"
        return self._write(ident, body)

    def big(self, ident):
        """BIG bytes of 76-character lines, numbered, so that a lost or
        repeated line changes the digest."""
        if self.big_body is None:
            fill = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-+"
            n = BIG // 77
            self.big_body = b"".join(b"%010d %s\n" % (i, fill) for i in range(n))
        return self._write(ident, self.big_body)

    def intact(self, ids, msgs):
        """How many of IDS arrived unchanged, and how many copies arrived
        beyond one each."""
        ok = sum(1 for i in ids if any((s, n) == self.expect[i]
                                       for s, n, _ in msgs.get(i, ())))
        extra = sum(max(0, len(msgs.get(i, ())) - 1) for i in ids)
        return ok, extra


# ----------------------------------------------------------------- spawn

class Result:
    pass


class CpuGroup:
    """CPU time of a process tree from a cgroup of its own: also counts
    the processes that no parent reaps (see bench/spawn.c).  cgroup v2
    (cpu.stat usage_usec), else v1's cpuacct (cpuacct.usage, ns); without
    either, spawn's rusage."""
    BASES = (("/sys/fs/cgroup", "cgroup.controllers"),
             ("/sys/fs/cgroup/unified", "cgroup.controllers"),
             ("/sys/fs/cgroup/cpuacct", "cpuacct.usage"))

    def __init__(self):
        self.base = self.kind = None
        for base, probe in self.BASES:
            if os.path.exists(os.path.join(base, probe)):
                self.base, self.kind = base, probe
                break
        self.n = 0

    def make(self):
        if not self.base:
            return None
        self.n += 1
        d = os.path.join(self.base, "outbox-bench-%d-%d" % (os.getpid(), self.n))
        try:
            os.mkdir(d)
        except OSError:
            self.base = None	# not ours to write: rusage it is
            return None
        return d

    def usage_us(self, d):
        """The group's CPU time; then the group is removed."""
        if self.kind == "cpuacct.usage":
            us = int(open(os.path.join(d, "cpuacct.usage")).read()) // 1000
        else:
            stat = dict(l.split() for l in open(os.path.join(d, "cpu.stat")))
            us = int(stat["usage_usec"])
        try:
            os.rmdir(d)
        except OSError:
            pass	# not empty: spawn has said why (a timeout)
        return us


CPU = None	# the CpuGroup, made in main


def spawn(tool, steps, log, trace=False, timeout=180, emptydir=None):
    """Run STEPS, a list of (stdin file or None, argv, background), under
    bench/spawn; a Result with .steps [(start, exit, status)], .start,
    .end, .cpu_us, .maxrss_kb, .hwm_kb, .hwm_prog, .timeout."""
    argv = [tool, "-t", str(timeout), "-l", log]
    group = CPU.make() if CPU else None
    if group:
        argv += ["-g", group]
    if trace:
        argv.append("-m")
    if emptydir:
        argv += ["-e", emptydir]
    for stdin, cmd, background in steps:
        argv.append("--")
        if stdin:
            argv += ["-i", stdin]
        if background:
            argv.append("-b")
        argv += cmd
    out = subprocess.run(argv, capture_output=True, text=True,
                         timeout=timeout + 30).stdout
    r = Result()
    r.steps = []
    r.hwm_kb = r.hwm_prog = None
    r.timeout = False
    for line in out.splitlines():
        w = line.split()
        if w[:1] == ["step"]:
            r.steps.append((int(w[3]), int(w[5]), int(w[7])))
        elif w[:1] == ["total"]:
            r.start, r.end = int(w[2]), int(w[4])
            r.cpu_us = int(w[6]) + int(w[8])
            r.maxrss_kb = int(w[10])
            r.self_us = int(w[12])
            if "hwm" in w:
                i = w.index("hwm")
                r.hwm_kb, r.hwm_prog = int(w[i + 1]), w[i + 2]
            r.timeout = "timeout" in w
    if not hasattr(r, "start"):
        die("spawn printed no total:\n" + out)
    if group:
        r.cpu_us = max(0, CPU.usage_us(group) - r.self_us)
    r.failed = [s for s in r.steps if s[2] != 0]
    return r


# --------------------------------------------------------------- clients

class Client:
    """One mail program: how to configure it for a sink, submit, run the
    queue, and which files make it up."""
    name = None
    queue_dir = None		# None: no queue (msmtp)
    programs = ()

    def __init__(self, ctx):
        self.ctx = ctx

    def configure(self, sink):
        raise NotImplementedError

    def submit(self, path, queue_only=False):
        raise NotImplementedError

    def flush(self):
        """Steps of one queue run."""
        raise NotImplementedError

    def immediate(self, paths):
        """Steps that submit PATHS one by one, each delivered at once, and
        the directory that must be empty before daemons are stopped."""
        return [(p, self.submit(p), False) for p in paths], None

    def one(self, path):
        """Steps that take one message from submission to delivery without
        a daemon left behind (memory and instruction counts)."""
        return self.immediate([path])

    def queued(self):
        """Messages waiting in the queue."""
        return len(os.listdir(self.queue_dir)) if self.queue_dir else 0

    def clear(self):
        if self.queue_dir:
            for f in os.listdir(self.queue_dir):
                os.unlink(os.path.join(self.queue_dir, f))


class Outbox(Client):
    name = "outbox"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.bin = ctx.outbox
        self.programs = (self.bin,)
        self.spool = os.path.join(ctx.scratch, "spool-outbox")
        self.queue_dir = os.path.join(self.spool, "queue")
        self.conf = os.path.join(ctx.scratch, "outbox.conf")
        self.version = ctx.outbox_version

    def configure(self, sink):
        write(self.conf, "host localhost\nport %d\ntls starttls\nuser %s\n"
              "password %s\ncafile %s\nspool %s\ndomain example.org\n"
              "helo bench.example.org\ntimeout 60\n" % (
                  sink.port, USER, PASSWORD, self.ctx.ca, self.spool), 0o600)

    def submit(self, path, queue_only=False):
        return [self.bin, "-C", self.conf, "-i", "-f", SENDER] + \
            (["-odq"] if queue_only else []) + [RCPT]

    def flush(self):
        return [(None, [self.bin, "-C", self.conf, "-q"], False)]

    def queued(self):
        return len(os.listdir(self.queue_dir)) if os.path.isdir(self.queue_dir) else 0

    def clear(self):
        shutil.rmtree(self.spool, ignore_errors=True)


class Dma(Client):
    """dma 0.13: no certificate verification against a CA; FINGERPRINT
    pins the server's certificate (SHA-256) instead.  Submission forks
    the delivery into the background; -bq queues only; -q runs the
    queue."""
    name = "dma"
    queue_dir = "/var/spool/dma"
    programs = ("/usr/sbin/dma",)

    def configure(self, sink):
        write("/etc/dma/dma.conf",
              "SMARTHOST localhost\nPORT %d\nAUTHPATH /etc/dma/auth.conf\n"
              "SECURETRANSFER\nSTARTTLS\nFINGERPRINT %s\n"
              "MAILNAME bench.example.org\nNULLCLIENT\n" % (
                  sink.port, self.ctx.fingerprint))
        # dma reads it after dropping to the mail group
        write("/etc/dma/auth.conf", "%s|localhost:%s\n" % (USER, PASSWORD), 0o640)
        shutil.chown("/etc/dma/auth.conf", "root", "mail")

    def submit(self, path, queue_only=False):
        return ["/usr/sbin/dma", "-i", "-f", SENDER] + \
            (["-bq"] if queue_only else []) + [RCPT]

    def flush(self):
        return [(None, ["/usr/sbin/dma", "-q"], False)]

    def queued(self):
        # "flush" is dma's own lock file, not a message
        return len([f for f in os.listdir(self.queue_dir) if f.startswith("Q")])

    def clear(self):
        for f in os.listdir(self.queue_dir):
            if f[:1] in "QM":
                os.unlink(os.path.join(self.queue_dir, f))


class Nullmailer(Client):
    """nullmailer 2.2: sendmail runs nullmailer-inject, which runs the
    setuid nullmailer-queue; the daemon nullmailer-send delivers, one
    run of the smtp module per message.  With pausetime 0 it runs the
    queue once and exits."""
    name = "nullmailer"
    queue_dir = "/var/spool/nullmailer/queue"
    programs = ("/usr/sbin/sendmail", "/usr/bin/nullmailer-inject",
                "/usr/sbin/nullmailer-queue", "/usr/sbin/nullmailer-send",
                "/usr/lib/nullmailer/smtp")

    def configure(self, sink):
        write("/etc/nullmailer/remotes",
              "localhost smtp port=%d starttls user=%s pass=%s x509cafile=%s\n"
              % (sink.port, USER, PASSWORD, self.ctx.ca), 0o600)
        shutil.chown("/etc/nullmailer/remotes", "mail", "mail")

    def pausetime(self, seconds):
        write("/etc/nullmailer/pausetime", "%d\n" % seconds)

    def submit(self, path, queue_only=False):
        return ["/usr/sbin/sendmail", "-i", "-f", SENDER, RCPT]

    def flush(self):
        self.pausetime(0)
        return [(None, ["/usr/sbin/nullmailer-send"], False)]

    def immediate(self, paths):
        # As installed: the daemon waits on its trigger, which
        # nullmailer-queue pulls after each message.
        self.pausetime(60)
        steps = [(None, ["/usr/sbin/nullmailer-send"], True)]
        return steps + [(p, self.submit(p), False) for p in paths], self.queue_dir

    def one(self, path):
        return [(path, self.submit(path), False)] + self.flush(), None


class Msmtp(Client):
    """msmtp 1.8: no queue; it delivers while the caller waits."""
    name = "msmtp"
    programs = ("/usr/bin/msmtp",)

    def __init__(self, ctx):
        super().__init__(ctx)
        self.conf = os.path.join(ctx.scratch, "msmtprc")

    def configure(self, sink):
        write(self.conf, "defaults\nsyslog off\naccount bench\nhost localhost\n"
              "port %d\ntls on\ntls_starttls on\ntls_trust_file %s\nauth on\n"
              "user %s\npassword %s\nfrom %s\naccount default : bench\n" % (
                  sink.port, self.ctx.ca, USER, PASSWORD, SENDER), 0o600)

    def submit(self, path, queue_only=False):
        assert not queue_only
        return ["/usr/bin/msmtp", "-C", self.conf, "-i", "-f", SENDER, RCPT]


# ---------------------------------------------------------- measurements

def median_range(values):
    return statistics.median(values), min(values), max(values)


class Bench:
    def __init__(self, ctx, clients, sinks):
        self.ctx = ctx
        self.clients = clients
        self.sinks = sinks
        self.sink = None
        self.trouble = []
        self.n = 0

    def use(self, sink):
        self.sink = sink
        for c in self.clients:
            c.configure(sink)

    def ident(self, what, client):
        self.n += 1
        return "%s-%s-%d" % (what, client.name, self.n)

    def go(self, client, what, steps, emptydir=None, trace=False, timeout=180):
        # What earlier steps left to write back must not slow this one's
        # fsyncs.
        os.sync()
        r = spawn(self.ctx.spawn, steps, self.ctx.log, trace=trace,
                  timeout=timeout, emptydir=emptydir)
        if r.timeout:
            self.trouble.append("%s, %s: stopped after %d s" % (client.name, what, timeout))
        if r.failed:
            self.trouble.append("%s, %s: %d of %d commands exited non-zero "
                                "(status %d; see %s)" % (
                                    client.name, what, len(r.failed), len(r.steps),
                                    r.failed[0][2], self.ctx.log))
        return r

    def check(self, client, what, ids, msgs):
        ok, extra = self.ctx.msgs.intact(ids, msgs)
        if ok != len(ids) or extra:
            self.trouble.append("%s, %s: %d of %d intact, %d extra copies" % (
                client.name, what, ok, len(ids), extra))
        return ok, extra

    def leftover(self, client, what):
        n = client.queued()
        if n:
            self.trouble.append("%s, %s: %d messages left in the queue" % (
                client.name, what, n))
            client.clear()

    # --- the rows

    def footprint(self, client):
        """Bytes of the programs, and of the distinct shared libraries they
        load (ldd, each file once)."""
        progs = sum(os.path.getsize(os.path.realpath(p)) for p in client.programs)
        libs = set()
        for p in client.programs:
            out = subprocess.run(["ldd", p], capture_output=True, text=True).stdout
            for line in out.splitlines():
                if "not found" in line:
                    self.trouble.append("%s: ldd %s: %s" % (client.name, p, line.strip()))
                m = re.search(r"(/\S+) \(0x", line)
                if m:
                    libs.add(os.path.realpath(m.group(1)))
        return progs, len(libs), sum(os.path.getsize(l) for l in libs)

    def peak_rss(self, client, big):
        """Peak resident set of the processes that take one message from
        submission to delivery, traced."""
        path, ident = (self.ctx.msgs.big if big else self.ctx.msgs.small)(
            self.ident("rss", client))
        steps, emptydir = client.one(path)
        mark = self.sink.mark()
        r = self.go(client, "peak RSS", steps, emptydir, trace=True, timeout=300)
        _, msgs = self.sink.events(mark)
        self.check(client, "peak RSS", [ident], msgs)
        self.leftover(client, "peak RSS")
        return r.hwm_kb, r.hwm_prog

    def drain(self, client, timeout=10):
        end = time.monotonic() + timeout
        while client.queued() and time.monotonic() < end:
            time.sleep(0.002)

    def intake(self, client):
        """Submission to exit of the submitting command, queue only."""
        times = []
        for i in range(RUNS + 1):	# the first warms the caches, untimed
            path, _ = self.ctx.msgs.small(self.ident("intake", client))
            r = self.go(client, "intake", [(path, client.submit(path, True), False)])
            if i:
                times.append(r.steps[0][1] - r.steps[0][0])
            client.clear()
        return median_range(times)

    def delivered(self, client, big=False):
        """Submission to the sink's reply to the final dot: the 4 KiB
        message RUNS times, or the 20 MiB one BIG_RUNS times."""
        runs = BIG_RUNS if big else RUNS
        make = self.ctx.msgs.big if big else self.ctx.msgs.small
        daemon = None
        if isinstance(client, Nullmailer):
            # nullmailer as installed: its daemon waits on the trigger.
            # timeout bounds it should this script be killed.
            client.pausetime(60)
            daemon = subprocess.Popen(["timeout", "300", "/usr/sbin/nullmailer-send"],
                                      stdout=open(self.ctx.log, "a"),
                                      stderr=subprocess.STDOUT)
            time.sleep(0.5)
        times = []
        try:
            for i in range(runs + 1):
                path, ident = make(self.ident("deliver", client))
                mark = self.sink.mark()
                r = self.go(client, "latency", [(path, client.submit(path), False)])
                msgs = self.sink.wait_for([ident], mark, timeout=30)
                self.check(client, "latency", [ident], msgs)
                # nullmailer's daemon removes the file after the reply
                self.drain(client)
                if i and ident in msgs:
                    times.append(msgs[ident][0][2] - r.steps[0][0])
        finally:
            if daemon:
                daemon.terminate()	# by its PID
                daemon.wait(10)
        self.leftover(client, "latency")
        return median_range(times) if len(times) == runs else None

    def batch(self, client, queued):
        """COUNT messages: queued first, then one queue run (QUEUED), or
        submitted one by one and delivered at once.  Wall time of the
        delivery part, CPU per message, sessions, messages intact."""
        what = "queue run" if queued else "separate"
        paths, ids = zip(*(self.ctx.msgs.small(self.ident(what[0], client))
                           for _ in range(COUNT)))
        if queued:
            self.go(client, what + " intake",
                    [(p, client.submit(p, True), False) for p in paths], timeout=300)
            steps, emptydir = client.flush(), None
        else:
            steps, emptydir = client.immediate(paths)
        mark = self.sink.mark()
        r = self.go(client, what, steps, emptydir, timeout=400)
        msgs = self.sink.wait_for(ids, mark, timeout=10)
        sessions, msgs = self.sink.events(mark)
        ok, extra = self.check(client, what, ids, msgs)
        self.leftover(client, what)
        return dict(wall=(r.end - r.start) / 1e9, cpu=r.cpu_us / COUNT / 1e3,
                    sessions=sessions, intact=ok, extra=extra)

    def instructions(self, client):
        """Instructions of every program that takes one message from
        submission to delivery (callgrind; each program's total added)."""
        path, ident = self.ctx.msgs.small(self.ident("callgrind", client))
        d = os.path.join(self.ctx.scratch, "callgrind", client.name)
        os.makedirs(d)
        os.chmod(d, 0o1777)
        steps, _ = client.one(path)
        # callgrind writes a program's counts when it exits, not when it
        # execs another (nullmailer's sendmail runs nullmailer-inject):
        # dump before every exec too.
        vg = ["valgrind", "--tool=callgrind", "--trace-children=yes", "-q",
              "--dump-before=*execv*",
              "--callgrind-out-file=" + os.path.join(d, "cg.%p")]
        # valgrind refuses setuid and setgid programs (dma is setgid mail,
        # nullmailer-queue setuid mail): their bits are taken off in this
        # namespace's /usr for the while.  nullmailer-queue then runs as
        # root; dma runs as the user mail in the group mail, what its
        # setgid bit would give any user who sends mail.
        modes = {p: os.stat(p).st_mode for p in client.programs}
        for p, m in modes.items():
            os.chmod(p, stat.S_IMODE(m) & ~(stat.S_ISUID | stat.S_ISGID))
        who = ["setpriv", "--reuid=mail", "--regid=mail", "--init-groups"] \
            if isinstance(client, Dma) else []
        mark = self.sink.mark()
        try:
            self.go(client, "callgrind",
                    [(i, who + vg + argv, bg) for i, argv, bg in steps], timeout=600)
        finally:
            for p, m in modes.items():
                os.chmod(p, stat.S_IMODE(m))
        _, msgs = self.sink.events(mark)
        self.check(client, "callgrind", [ident], msgs)
        self.leftover(client, "callgrind")
        total, pids = 0, set()
        for f in glob.glob(os.path.join(d, "cg.*")):
            for line in open(f, errors="replace"):
                if line.startswith("totals:"):
                    total += int(line.split()[1])
                    pids.add(os.path.basename(f).split(".")[1])
                    break
        return total, len(pids)


# ----------------------------------------------------------------- table

def kib(n):
    return "%.2f MiB" % (n / 1048576) if n >= 1 << 20 else "%.1f KiB" % (n / 1024)


def ratio(a, b):
    if a is None or b is None or not b:
        return "—"
    x = a / b
    return "%.0f" % x if x >= 100 else "%.2g" % x


class Table:
    """Rows of cells; each cell is (text, number for the ratio)."""

    def __init__(self, clients):
        self.names = [c.name for c in clients]
        self.rows = []

    def row(self, label, cells):
        self.rows.append((label, cells))

    def section(self, label):
        self.rows.append((label, None))

    def render(self):
        head = ["", self.names[0]]
        for n in self.names[1:]:
            head += [n, "%s/%s" % (self.names[0], n)]
        lines = [head]
        for label, cells in self.rows:
            if cells is None:
                lines.append(["**%s**" % label] + [""] * (len(head) - 1))
                continue
            ours = cells[self.names[0]]
            line = [label, ours[0]]
            for n in self.names[1:]:
                line += [cells[n][0], ratio(ours[1], cells[n][1])]
            lines.append(line)
        widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
        out = []
        for k, l in enumerate(lines):
            out.append("| " + " | ".join(c.ljust(w) for c, w in zip(l, widths)) + " |")
            if k == 0:
                out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(out)


def ms(ns):
    return "%.1f ms" % (ns / 1e6) if ns < 1e9 else "%.2f s" % (ns / 1e9)


def load():
    return open("/proc/loadavg").read().split()[0]


def machine():
    model = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    pretty = "?"
    for line in open("/etc/os-release"):
        if line.startswith("PRETTY_NAME="):
            pretty = line.split("=", 1)[1].strip().strip('"')
    deb = open("/etc/debian_version").read().strip() \
        if os.path.exists("/etc/debian_version") else "?"
    return "%s, %d cores, Linux %s, %s (%s), %s" % (
        model, os.cpu_count(), platform.release(), pretty, deb,
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


# ------------------------------------------------------------------ main

def main():
    global COUNT, RUNS, REPEAT
    p = argparse.ArgumentParser()
    p.add_argument("--outbox", required=True)
    p.add_argument("--spawn", required=True)
    p.add_argument("--peers", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--count", type=int, default=COUNT)
    p.add_argument("--runs", type=int, default=RUNS)
    p.add_argument("--repeat", type=int, default=REPEAT)
    opts = p.parse_args()
    COUNT, RUNS, REPEAT = opts.count, opts.runs, opts.repeat
    enter_namespace(sys.argv[1:])
    began = time.monotonic()
    load_before = load()
    if float(load_before) > 0.5:
        note("the load average is %s: other work on this machine will show "
             "in the figures" % load_before)
    global CPU
    CPU = CpuGroup()

    class Ctx:
        pass
    ctx = Ctx()
    ctx.outbox = os.path.abspath(opts.outbox)
    ctx.spawn = os.path.abspath(opts.spawn)
    peers = os.path.abspath(opts.peers)
    ctx.scratch = os.path.abspath(opts.dir)
    shutil.rmtree(ctx.scratch, ignore_errors=True)
    os.makedirs(ctx.scratch)
    ctx.log = os.path.join(ctx.scratch, "clients.log")
    try:
        ctx.outbox_version = subprocess.run(
            ["git", "-C", os.path.dirname(ctx.outbox), "describe", "--always",
             "--dirty"], capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        ctx.outbox_version = "?"
    versions = {"outbox": ctx.outbox_version}
    for name in ("dma", "nullmailer", "msmtp"):
        if not os.path.isdir(os.path.join(peers, name)):
            die("%s is not unpacked in %s: run sh bench/peers.sh %s first"
                % (name, peers, peers))
        versions[name] = open(os.path.join(peers, name, ".version")).read().strip()

    sinks = {}
    try:
        # The peers' files, over /usr, and their configuration and spools,
        # in this namespace only.
        overlay(ctx.scratch, "/usr",
                [os.path.join(peers, n, "usr") for n in ("msmtp", "dma", "nullmailer")])
        overlay(ctx.scratch, "/etc")
        overlay(ctx.scratch, "/var")
        os.makedirs("/etc/dma", exist_ok=True)
        os.makedirs("/etc/nullmailer", exist_ok=True)
        write("/etc/mailname", "bench.example.org\n")	# Debian's nullmailer reads it
        write("/etc/nullmailer/defaultdomain", "example.org\n")
        # As the packages leave them: dma's spool setgid mail, nullmailer's
        # owned by mail (nullmailer-queue is setuid mail).
        os.makedirs("/var/spool/dma", exist_ok=True)
        shutil.chown("/var/spool/dma", "root", "mail")
        os.chmod("/var/spool/dma", 0o2770)
        for sub in ("", "/queue", "/tmp", "/failed"):
            os.makedirs("/var/spool/nullmailer" + sub, exist_ok=True)
            shutil.chown("/var/spool/nullmailer" + sub, "mail", "root")
            os.chmod("/var/spool/nullmailer" + sub, 0o750 if sub else 0o755)
        trigger = "/var/spool/nullmailer/trigger"
        if not os.path.exists(trigger):
            os.mkfifo(trigger, 0o622)
        shutil.chown(trigger, "mail", "root")

        note("certificates")
        ctx.fingerprint = make_certs(os.path.join(ctx.scratch, "certs"))
        ctx.ca = os.path.join(ctx.scratch, "certs", "ca.pem")
        ctx.msgs = Messages(os.path.join(ctx.scratch, "msgs"))
        for mode in ("delayed", "quick"):
            sinks[mode] = Sink(os.path.join(ctx.scratch, "sink-" + mode),
                               os.path.join(ctx.scratch, "certs"), mode == "quick")
        clients = [Outbox(ctx), Dma(ctx), Nullmailer(ctx), Msmtp(ctx)]
        bench = Bench(ctx, clients, sinks)
        table = measure(bench, clients, sinks)
    finally:
        for s in sinks.values():
            s.stop()

    # The load after would be the bench's own: only the one before says
    # whether other work shared the machine.
    print("outbox bench, %s, load average %s before the run" % (
        machine(), load_before))
    print("clients: " + ", ".join("%s %s" % (c.name, versions[c.name]) for c in clients))
    print()
    print(table.render())
    print()
    print(NOTES.strip())
    if bench.trouble:
        print()
        print("Problems seen in this run:")
        for t in bench.trouble:
            print("- " + t)
    print()
    print("The bench took %.0f s." % (time.monotonic() - began))
    if opts.keep or os.environ.get("KEEP", "") not in ("", "0"):
        note("kept %s" % ctx.scratch)
    else:
        shutil.rmtree(ctx.scratch, ignore_errors=True)


NOTES = """
Every client relays to the same smart host, bench/sink.py (Python,
aiosmtpd) on 127.0.0.1, over STARTTLS on one port with AUTH, RSA-2048
certificate from a test CA.  outbox, nullmailer and msmtp verify the
certificate against that CA; dma 0.13 cannot verify against a CA, so it
pins the certificate's SHA-256 fingerprint (FINGERPRINT) instead.
"delayed ACK": the sink's kernel acknowledges as Linux does by default;
"quick ACK": the sink sets TCP_QUICKACK after every read.
Footprint: the programs a message passes through (outbox; dma;
nullmailer's sendmail, nullmailer-inject, nullmailer-queue,
nullmailer-send and smtp module; msmtp) and the shared libraries ldd
resolves for them, each library file counted once.
Peak RSS: the largest VmHWM of any process that takes the message from
submission to delivery, read as each process exits; that process is
named.  Latency: median (min-max) of 11 runs after one untimed run.
Intake ends when the submitting command exits with the message queued
(outbox -odq, dma -bq, nullmailer's sendmail without its daemon); msmtp
has no queue, so it has no intake apart from delivery (n/a).
Delivered: until the sink's reply to the final dot; outbox and msmtp
deliver while the caller waits, dma in a background child, nullmailer
through its running nullmailer-send daemon.
Queue run: 200 messages queued, then one run (outbox -q, dma -q,
nullmailer-send with pausetime 0); msmtp has no queue (n/a).
Separate: 200 submissions one after another, each delivered at once
(nullmailer: with its daemon running, which is counted).  Each of these
is done 3 times, the clients taking turns: median (min-max).
CPU per message: the CPU time of every process of the client (daemons
and background children included, and those no parent reaps, such as
dma -q's one per message), from a cgroup of the run's own, during the
queue run or the 200 submissions, divided by 200.
Sessions: SMTP connections the sink accepted; intact: messages whose body
arrived byte for byte as submitted.
Instructions: callgrind, the totals of every program added (a program
that execs another is counted up to the exec), for one 4 KiB message
from submission to delivery (nullmailer: sendmail, then nullmailer-send
for one queue run).  valgrind does not run setuid or setgid programs:
there nullmailer-queue runs as root, dma as the user and group mail.
"""


def spread(clients, runs, key, form):
    """Cells: the median of the runs, and their range when they differ."""
    cells = {}
    for c in clients:
        if c.name not in runs:
            cells[c.name] = ("n/a", None)
            continue
        med, lo, hi = median_range([r[key] for r in runs[c.name]])
        text = form % med
        if lo != hi:
            text += " (%s–%s)" % (form % lo, form % hi)
        cells[c.name] = (text, med)
    return cells


def intact(clients, runs):
    """Cells: messages intact out of all those sent in the runs, and the
    copies beyond one, if any arrived."""
    cells = {}
    for c in clients:
        if c.name not in runs:
            cells[c.name] = ("n/a", None)
            continue
        ok = sum(r["intact"] for r in runs[c.name])
        extra = sum(r["extra"] for r in runs[c.name])
        cells[c.name] = ("%d/%d" % (ok, COUNT * len(runs[c.name])) +
                         (" +%d copies" % extra if extra else ""), None)
    return cells


def measure(bench, clients, sinks):
    t = Table(clients)
    na = ("n/a", None)
    queued = [c for c in clients if c.queue_dir]

    note("footprint")
    t.section("footprint")
    fp = {c.name: bench.footprint(c) for c in clients}
    t.row("programs", {n: (kib(v[0]), v[0]) for n, v in fp.items()})
    t.row("shared libraries", {n: ("%s (%d files)" % (kib(v[2]), v[1]), v[2])
                               for n, v in fp.items()})
    t.row("total", {n: (kib(v[0] + v[2]), v[0] + v[2]) for n, v in fp.items()})

    bench.use(sinks["delayed"])
    t.section("peak RSS, STARTTLS+AUTH")
    for big, label in ((False, "one 4 KiB message"), (True, "one 20 MiB message")):
        cells = {}
        for c in clients:
            note("peak RSS, %s: %s" % (label, c.name))
            kb, prog = bench.peak_rss(c, big)
            cells[c.name] = ("%s (%s)" % (kib(kb * 1024), prog), kb)
        t.row(label, cells)

    t.section("latency of one 4 KiB message")
    cells = {}
    for c in clients:
        if not c.queue_dir:
            cells[c.name] = na
            continue
        note("intake latency: " + c.name)
        med, lo, hi = bench.intake(c)
        cells[c.name] = ("%s (%s–%s)" % (ms(med), ms(lo), ms(hi)), med)
    t.row("intake, queue only", cells)
    for mode in ("delayed", "quick"):
        bench.use(sinks[mode])
        cells = {}
        for c in clients:
            note("submit to delivered, %s ACK: %s" % (mode, c.name))
            got = bench.delivered(c)
            cells[c.name] = ("%s (%s–%s)" % tuple(ms(x) for x in got), got[0]) \
                if got else ("failed", None)
        t.row("submit to delivered, %s ACK" % mode, cells)

    bench.use(sinks["delayed"])
    t.section("one 20 MiB message, delayed ACK, %d runs" % BIG_RUNS)
    cells = {}
    for c in clients:
        note("submit to delivered, 20 MiB: " + c.name)
        got = bench.delivered(c, big=True)
        cells[c.name] = ("%s (%s–%s)" % tuple(ms(x) for x in got), got[0]) \
            if got else ("failed", None)
    t.row("submit to delivered", cells)

    for queued_run in (True, False):
        for mode in ("delayed", "quick"):
            bench.use(sinks[mode])
            what = "queue run of %d queued" % COUNT if queued_run else \
                "%d separate submissions of" % COUNT
            t.section("%s 4 KiB messages, %s ACK, %d runs" % (what, mode, REPEAT))
            what = "queue run" if queued_run else "separate submissions"
            runs = {}
            # Clients take turns, so that a slow spell of the disk or the
            # host does not fall on one client's runs only.
            for i in range(REPEAT):
                for c in clients:
                    if queued_run and not c.queue_dir:
                        continue
                    note("%s, %s ACK, run %d: %s" % (what, mode, i + 1, c.name))
                    runs.setdefault(c.name, []).append(bench.batch(c, queued_run))
            t.row("wall time", spread(clients, runs, "wall", "%.2f s"))
            t.row("CPU per message", spread(clients, runs, "cpu", "%.2f ms"))
            t.row("SMTP sessions", spread(clients, runs, "sessions", "%d"))
            t.row("intact, all runs", intact(clients, runs))

    bench.use(sinks["delayed"])
    t.section("CPU instructions, one 4 KiB message, STARTTLS+AUTH")
    cells = {}
    for c in clients:
        note("callgrind: " + c.name)
        total, procs = bench.instructions(c)
        cells[c.name] = ("%.1f M (%d process%s)" % (
            total / 1e6, procs, "" if procs == 1 else "es"), total)
    t.row("instructions per delivered message", cells)
    return t


if __name__ == "__main__":
    main()
