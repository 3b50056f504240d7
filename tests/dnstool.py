#!/usr/bin/python3
"""DNS helpers for outbox's resolver tests (t_dns.sh); loopback only.

The name server the tests resolve against is NSD, a real one; this file
only checks addresses, looks at what NSD answers, and stands in for a
server that never answers, which NSD cannot be.

Usage:
  dnstool.py free ADDR
      Exit 0 if UDP and TCP port 53 of ADDR can be bound now, 1 if not.

  dnstool.py query [--tcp] [--wait SECONDS] SERVER NAME TYPE
      One query to port 53 of SERVER, without EDNS (so an answer over UDP
      is 512 bytes at most and comes back truncated when more is needed).
      Prints "rcode N tc N an N", then one line per answer record:
      "NAME TYPE DATA" (A, AAAA, CNAME, MX decoded; other data in hex).
      Exit 0 on an answer, 1 if none came within --wait (default 2 s).
      TYPE is A, AAAA, CNAME, MX, NS, SOA, TXT or a number.

  dnstool.py adproxy --dir DIR --addr ADDR --upstream ADDR
                     [--lifetime SECONDS]
      Stands in for a validating resolver: each UDP query to port 53 of
      ADDR goes to port 53 of the upstream (NSD) and its answer comes back
      with the AD bit set, as a resolver says "DNSSEC checked this".  Logs
      "udp NAME TYPE ad QUERY_AD" per query to DIR/log (QUERY_AD: whether
      the query asked for AD) and writes DIR/pid once it listens.  UDP only;
      it ends on SIGTERM or after its lifetime (default 60 s).

  dnstool.py silent --dir DIR --addr ADDR [--lifetime SECONDS]
      A name server that never answers.  It listens on UDP and TCP port
      53 of ADDR, writes DIR/pid (atomically) once both are open, and adds
      to DIR/log one line per query, "udp NAME TYPE" or "tcp NAME TYPE",
      and "tcp connect" per connection; TCP connections are held open
      without a byte sent back.  It ends on SIGTERM or after its lifetime
      (default 60 s).
"""

import argparse
import ipaddress
import os
import selectors
import signal
import socket
import struct
import sys
import time

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16,
         "AAAA": 28, "SRV": 33}
NAMES = {v: k for k, v in TYPES.items()}


def loopback(addr):
    try:
        return ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return False


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def read_name(msg, off):
    """The name at off and the offset just past it; pointers must go back."""
    labels = []
    end = None
    hops = 0
    while True:
        if off >= len(msg):
            raise ValueError("name runs past the message")
        n = msg[off]
        if n >= 0xC0:
            if off + 1 >= len(msg):
                raise ValueError("cut pointer")
            target = ((n & 0x3F) << 8) | msg[off + 1]
            if target >= off or hops > 64:
                raise ValueError("pointer does not go back")
            if end is None:
                end = off + 2
            off = target
            hops += 1
            continue
        if n > 63:
            raise ValueError("bad label length")
        if n == 0:
            return ".".join(labels) + ".", end if end is not None else off + 1
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n


def question(msg):
    """(NAME, TYPE name) of a query, or ("?", "?") if it does not parse."""
    try:
        if len(msg) < 12 or struct.unpack(">H", msg[4:6])[0] < 1:
            raise ValueError("no question")
        name, off = read_name(msg, 12)
        qtype = struct.unpack(">H", msg[off:off + 2])[0]
        return name, NAMES.get(qtype, str(qtype))
    except (ValueError, struct.error):
        return "?", "?"


def make_query(qid, name, qtype):
    wire = b""
    for label in name.rstrip(".").split("."):
        if label:
            wire += bytes([len(label)]) + label.encode("ascii")
    # RD set, as a stub resolver sends it; no OPT record.
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + \
        b"\0" + struct.pack(">HH", qtype, 1)


def rdata_text(msg, rtype, off, rdlen):
    data = msg[off:off + rdlen]
    if rtype == 1 and rdlen == 4:
        return socket.inet_ntop(socket.AF_INET, data)
    if rtype == 28 and rdlen == 16:
        return socket.inet_ntop(socket.AF_INET6, data)
    if rtype in (2, 5):
        return read_name(msg, off)[0]
    if rtype == 15:
        return "%d %s" % (struct.unpack(">H", data[:2])[0],
                          read_name(msg, off + 2)[0])
    return data.hex()


def show(msg, qid):
    qid_got, flags, qd, an = struct.unpack(">HHHH", msg[:8])
    if qid_got != qid:
        raise ValueError("answer for another query id")
    print("rcode %d tc %d an %d" % (flags & 0xF, (flags >> 9) & 1, an))
    off = 12
    for _ in range(qd):
        off = read_name(msg, off)[1] + 4
    for _ in range(an):
        name, off = read_name(msg, off)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        print("%s %s %s" % (name, NAMES.get(rtype, str(rtype)),
                            rdata_text(msg, rtype, off, rdlen)))
        off += rdlen


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def cmd_query(o):
    if not loopback(o.server):
        sys.exit("dnstool.py: %s is not a loopback address" % o.server)
    qtype = TYPES.get(o.type.upper()) or int(o.type)
    qid = int.from_bytes(os.urandom(2), "big")
    q = make_query(qid, o.name, qtype)
    try:
        if o.tcp:
            with socket.create_connection((o.server, 53), o.wait) as s:
                s.settimeout(o.wait)
                s.sendall(struct.pack(">H", len(q)) + q)
                n = struct.unpack(">H", recv_exact(s, 2))[0]
                msg = recv_exact(s, n)
        else:
            with socket.socket(family(o.server), socket.SOCK_DGRAM) as s:
                s.settimeout(o.wait)
                s.connect((o.server, 53))
                s.send(q)
                msg = s.recv(65535)
        show(msg, qid)
    except (OSError, ValueError, struct.error) as e:
        print("dnstool.py: no answer from %s: %s" % (o.server, e),
              file=sys.stderr)
        return 1
    return 0


def cmd_free(o):
    if not loopback(o.addr):
        sys.exit("dnstool.py: %s is not a loopback address" % o.addr)
    try:
        with socket.socket(family(o.addr), socket.SOCK_DGRAM) as u, \
                socket.socket(family(o.addr), socket.SOCK_STREAM) as t:
            u.bind((o.addr, 53))
            # As NSD does: a socket of a server just stopped (TIME_WAIT)
            # does not hold the port.
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind((o.addr, 53))
    except OSError:
        return 1
    return 0


def log_to(d, line):
    with open(os.path.join(d, "log"), "a") as f:
        f.write(line + "\n")


def serving(d):
    """Once listening: stop on SIGTERM or SIGINT, and say so in d/pid
    (atomically).  Returns the list a signal appends to."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    pid = os.path.join(d, "pid")
    with open(pid + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(pid + ".tmp", pid)
    return stop


def cmd_silent(o):
    if not loopback(o.addr):
        sys.exit("dnstool.py: %s is not a loopback address" % o.addr)
    os.makedirs(o.dir, exist_ok=True)

    udp = socket.socket(family(o.addr), socket.SOCK_DGRAM)
    udp.bind((o.addr, 53))
    tcp = socket.socket(family(o.addr), socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((o.addr, 53))
    tcp.listen(16)
    sel = selectors.DefaultSelector()
    sel.register(udp, selectors.EVENT_READ, "udp")
    sel.register(tcp, selectors.EVENT_READ, "listen")
    pending = {}            # connection -> bytes read and not yet a query

    stop = serving(o.dir)

    end = time.monotonic() + o.lifetime
    while not stop and time.monotonic() < end:
        for key, _ in sel.select(min(0.5, max(0.0, end - time.monotonic()))):
            if key.data == "udp":
                msg = udp.recv(65535)
                log_to(o.dir, "udp %s %s" % question(msg))
            elif key.data == "listen":
                conn, _ = tcp.accept()
                log_to(o.dir, "tcp connect")
                pending[conn] = b""
                sel.register(conn, selectors.EVENT_READ, "conn")
            else:
                conn = key.fileobj
                try:
                    data = conn.recv(65535)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(conn)
                    conn.close()
                    del pending[conn]
                    continue
                buf = pending[conn] + data
                while len(buf) >= 2 and len(buf) >= 2 + (buf[0] << 8 | buf[1]):
                    n = buf[0] << 8 | buf[1]
                    log_to(o.dir, "tcp %s %s" % question(buf[2:2 + n]))
                    buf = buf[2 + n:]
                pending[conn] = buf
    return 0


def cmd_adproxy(o):
    if not loopback(o.addr) or not loopback(o.upstream):
        sys.exit("dnstool.py: addresses must be loopback")
    os.makedirs(o.dir, exist_ok=True)
    udp = socket.socket(family(o.addr), socket.SOCK_DGRAM)
    udp.bind((o.addr, 53))
    udp.settimeout(0.5)
    stop = serving(o.dir)
    end = time.monotonic() + o.lifetime
    while not stop and time.monotonic() < end:
        try:
            msg, peer = udp.recvfrom(65535)
        except socket.timeout:
            continue
        if len(msg) < 12:
            continue
        log_to(o.dir, "udp %s %s ad %d" % (question(msg) +
                                          ((msg[3] >> 5) & 1,)))
        up = socket.socket(family(o.upstream), socket.SOCK_DGRAM)
        up.settimeout(2.0)
        try:
            up.sendto(msg, (o.upstream, 53))
            answer = up.recv(65535)
        except OSError:
            continue
        finally:
            up.close()
        if len(answer) >= 12:
            answer = answer[:3] + bytes([answer[3] | 0x20]) + answer[4:]
            udp.sendto(answer, peer)
    return 0


def main():
    p = argparse.ArgumentParser(description="DNS helpers for outbox's tests")
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("free")
    f.add_argument("addr")
    q = sub.add_parser("query")
    q.add_argument("--tcp", action="store_true")
    q.add_argument("--wait", type=float, default=2.0)
    q.add_argument("server")
    q.add_argument("name")
    q.add_argument("type")
    s = sub.add_parser("silent")
    s.add_argument("--dir", required=True)
    s.add_argument("--addr", required=True)
    s.add_argument("--lifetime", type=float, default=60.0)
    a = sub.add_parser("adproxy")
    a.add_argument("--dir", required=True)
    a.add_argument("--addr", required=True)
    a.add_argument("--upstream", required=True)
    a.add_argument("--lifetime", type=float, default=60.0)
    o = p.parse_args()
    return {"free": cmd_free, "query": cmd_query, "silent": cmd_silent,
            "adproxy": cmd_adproxy}[o.cmd](o)


if __name__ == "__main__":
    sys.exit(main())
