#!/usr/bin/python3
"""scapy_mdns_query.py: an independent mDNS querier for the provisiond interop tests.

Run inside the client network namespace with Debian's python3-scapy:

    ip netns exec NS /usr/bin/python3 scapy_mdns_query.py '{"ip": "10.1.1.2",
        "queries": [[["_http._tcp.local", "PTR"]], [["X._http._tcp.local", "SRV"], ...]],
        "listen": 1.5}'

It sends each entry of "queries" as one multicast query (QM questions, from port 5353, the way
JmDNS and avahi ask), back to back, then listens for "listen" seconds. scapy builds the queries
and decodes every response; the script prints one JSON line: the responses in arrival order,
each with its source, the time since the first query (ms), and its answer and additional
records as [name, type] pairs. No provisiond code is involved.
"""
import json
import socket
import struct
import sys
import time

GROUP = "224.0.0.251"
PORT = 5353


def records(section, count):
    out = []
    rr = section
    for _ in range(count or 0):
        if rr is None or not rr.__class__.__name__.startswith("DNSRR"):
            break
        name = rr.rrname.decode() if isinstance(rr.rrname, bytes) else str(rr.rrname)
        out.append([name.rstrip("."), rr.sprintf("%type%")])
        rr = rr.payload
    return out


def section_list(sec):
    # scapy >= 2.5 keeps sections as lists; older releases chain records through .payload
    if isinstance(sec, list):
        return [[(r.rrname.decode() if isinstance(r.rrname, bytes) else str(r.rrname)).rstrip("."), r.sprintf("%type%")] for r in sec]
    return None


def main() -> int:
    spec = json.loads(sys.argv[1])
    from scapy.all import DNS, DNSQR  # noqa: E402

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("0.0.0.0", PORT))
    mreq = socket.inet_aton(GROUP) + socket.inet_aton(spec["ip"])
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(spec["ip"]))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)

    t0 = time.monotonic()
    for q in spec["queries"]:
        qd = [DNSQR(qname=name, qtype=qtype, qclass="IN") for name, qtype in q]
        # scapy 2.5 (Debian 12) chains questions with "/"; a list would encode only the first
        chain = qd[0]
        for extra in qd[1:]:
            chain = chain / extra
        pkt = DNS(id=0, qr=0, rd=0, qd=chain)
        sock.sendto(bytes(pkt), (GROUP, PORT))

    responses = []
    deadline = t0 + float(spec.get("listen", 1.5))
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            data, src = sock.recvfrom(9000)
        except socket.timeout:
            break
        at = (time.monotonic() - t0) * 1000
        try:
            msg = DNS(data)
        except Exception as e:  # a garbled datagram is reported, not fatal
            responses.append({"from": src[0], "ms": round(at, 1), "error": str(e)})
            continue
        if msg.qr != 1:
            continue
        an = section_list(msg.an)
        ar = section_list(msg.ar)
        if an is None:
            an = records(msg.an, msg.ancount)
            ar = records(msg.ar, msg.arcount)
        responses.append({"from": src[0], "ms": round(at, 1), "answers": an, "additionals": ar})
    print(json.dumps({"responses": responses}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
