#!/usr/bin/python3
"""tftp_client.py: an independent raw-UDP TFTP client (not our code) for test/tftp-netns.test.ts.

Written from RFC 1350/2347 only, with the standard library. Prints one JSON object.

  tftp_client.py HOST PORT lost-ack FILE LOSE_BLOCK DUP_BLOCK
      RRQ in octet mode without options; withholds the ACK of LOSE_BLOCK once (the server must
      retransmit that block), sends the ACK of DUP_BLOCK twice (the server must not answer the
      duplicate ACK with DATA: Sorcerer's Apprentice). Reports the file's sha256, whether the
      withheld block came again, and every DATA copy of a block already held.
  tftp_client.py HOST PORT request OPCODE MODE FILE [NAME=VALUE]...
      sends one RRQ (1) or WRQ (2), with the options given, and reports the first reply (an
      ERROR's code and message, an OACK's options: that transfer is then ended with an ERROR).
  tftp_client.py HOST PORT caps N FILE
      sends N RRQs at once, each from a socket (a port) of its own, reports each first reply
      (DATA block, or ERROR code and message), then ends every transfer it started with an ERROR.
  tftp_client.py HOST PORT fetch FILE
      a plain octet RRQ without options; prints {"started": true} once DATA 1 came (then waits
      $PAUSE_AFTER_FIRST seconds before its ACK), then, at the end, the wall-clock time the last block came (done), the size and the sha256.
  tftp_client.py HOST PORT garbage N
      sends N malformed datagrams and reports how many replies came within 0.5 s.
"""
import hashlib
import json
import os
import socket
import struct
import sys
import time


def out(obj):
    print(json.dumps(obj))
    sys.stdout.flush()


def rrq(opcode, name, mode):
    return struct.pack("!H", opcode) + name.encode("latin1") + b"\0" + mode.encode() + b"\0"


def parse(pkt):
    if len(pkt) < 4:
        return ("short", None, b"")
    op, n = struct.unpack("!HH", pkt[:4])
    return (op, n, pkt[4:])


def lost_ack(host, port, name, lose, dup):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(15)
    s.sendto(rrq(1, name, "octet"), (host, port))
    server = None
    expected = 1  # absolute block wanted next
    data = []
    lost_done = False
    withheld_at = None
    retransmitted = False
    duplicates = []  # absolute numbers of DATA copies of blocks already held (the withheld one excepted)
    deadline = time.time() + 120
    while time.time() < deadline:
        pkt, addr = s.recvfrom(70000)
        if server is None:
            server = addr
        elif addr != server:
            continue
        op, n, payload = parse(pkt)
        if op == 5:
            out({"ok": False, "error": [n, payload.rstrip(b"\0").decode("latin1")]})
            return
        if op != 3:
            continue
        if n == (expected & 0xFFFF):
            data.append(payload)
            block = expected
            expected += 1
            if block == lose and not lost_done:
                lost_done = True
                withheld_at = time.time()
                continue  # the ACK is withheld: the server must send this block again
            s.sendto(struct.pack("!HH", 4, n), server)
            if block == dup:
                s.sendto(struct.pack("!HH", 4, n), server)  # the duplicate ACK
            if len(payload) < 512:
                break
        elif n == ((expected - 1) & 0xFFFF):
            block = expected - 1
            if block == lose and withheld_at is not None and not retransmitted:
                retransmitted = True
            else:
                duplicates.append(block)
            s.sendto(struct.pack("!HH", 4, n), server)
            if len(payload) < 512 and block == expected - 1 and retransmitted and block == lose:
                break
    # Linger: a server with the Sorcerer's Apprentice bug keeps sending; count what still comes.
    s.settimeout(0.5)
    try:
        while True:
            pkt, addr = s.recvfrom(70000)
            op, n, payload = parse(pkt)
            if op == 3:
                duplicates.append(("late", n))
    except socket.timeout:
        pass
    body = b"".join(data)
    out({
        "ok": True,
        "bytes": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "retransmitted": retransmitted,
        "duplicates": duplicates,
    })


def request(host, port, opcode, mode, name, options=()):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    pkt = rrq(opcode, name, mode)
    for o in options:
        k, v = o.split("=", 1)
        pkt += k.encode() + b"\0" + v.encode() + b"\0"
    s.sendto(pkt, (host, port))
    try:
        pkt, addr = s.recvfrom(70000)
    except socket.timeout:
        out({"reply": None})
        return
    op, n, payload = parse(pkt)
    reply = {"op": op, "n": n}
    if op == 5:
        reply["message"] = payload.rstrip(b"\0").decode("latin1")
    if op == 6:
        reply = {"op": 6}
        fields = pkt[2:].split(b"\0")[:-1]
        reply["options"] = dict(zip([f.decode() for f in fields[0::2]], [f.decode() for f in fields[1::2]]))
        s.sendto(struct.pack("!HH", 5, 0) + b"enough\0", addr)
    out({"reply": reply})


def caps(host, port, count, name):
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto(rrq(1, name, "octet"), (host, port))
        socks.append(s)
    replies = []
    for s in socks:
        try:
            pkt, addr = s.recvfrom(70000)
        except socket.timeout:
            replies.append(None)
            continue
        op, n, payload = parse(pkt)
        if op == 5:
            replies.append({"op": 5, "n": n, "message": payload.rstrip(b"\0").decode("latin1")})
        else:
            replies.append({"op": op, "n": n})
            s.sendto(struct.pack("!HH", 5, 0) + b"done\0", addr)
    out({"replies": replies})


PAUSE_AFTER_FIRST = float(os.environ.get("PAUSE_AFTER_FIRST", "0"))


def fetch(host, port, name):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(15)
    s.sendto(rrq(1, name, "octet"), (host, port))
    server = None
    expected = 1
    data = []
    while True:
        pkt, addr = s.recvfrom(70000)
        server = server or addr
        if addr != server:
            continue
        op, n, payload = parse(pkt)
        if op == 5:
            out({"ok": False, "error": [n, payload.rstrip(b"\0").decode("latin1")]})
            return
        if op != 3:
            continue
        if n == (expected & 0xFFFF):
            data.append(payload)
            if expected == 1:
                out({"started": True})
                time.sleep(PAUSE_AFTER_FIRST)  # let the test block its main thread before the rest
            expected += 1
        s.sendto(struct.pack("!HH", 4, n), server)
        if n == ((expected - 1) & 0xFFFF) and len(payload) < 512:
            break
    body = b"".join(data)
    out({"ok": True, "done": time.time(), "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()})


def garbage(host, port, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    shapes = [b"", b"\0", b"\0\x09junk", b"\0\x01no-terminator", b"\0\x01f\0", b"\xff" * 600, os.urandom(40)]
    for i in range(count):
        s.sendto(shapes[i % len(shapes)], (host, port))
    s.settimeout(0.5)
    replies = 0
    try:
        while True:
            s.recvfrom(70000)
            replies += 1
    except socket.timeout:
        pass
    out({"sent": count, "replies": replies})


def main():
    host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "lost-ack":
        lost_ack(host, port, sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    elif mode == "request":
        request(host, port, int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7:])
    elif mode == "caps":
        caps(host, port, int(sys.argv[4]), sys.argv[5])
    elif mode == "fetch":
        fetch(host, port, sys.argv[4])
    elif mode == "garbage":
        garbage(host, port, int(sys.argv[4]))
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
