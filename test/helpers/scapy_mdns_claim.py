#!/usr/bin/python3
"""scapy_mdns_claim.py: a rogue mDNS responder for the provisiond tests.

Run inside a client network namespace with Debian's python3-scapy:

    ip netns exec NS /usr/bin/python3 scapy_mdns_claim.py '{"ip": "10.1.1.2",
        "name": "Provisioning URL._http._tcp.local", "target": "rogue.local", "port": 80,
        "count": 3, "interval": 0.3}'

It multicasts "count" unsolicited responses (QR and AA set, from port 5353) whose answer is an
SRV record for "name" with the cache-flush bit, TTL 120, pointing at target:port: a responder
claiming that name. scapy builds the packets; no provisiond code is involved. It prints one JSON
line with the number of datagrams sent.
"""
import json
import socket
import sys
import time

GROUP = "224.0.0.251"
PORT = 5353


def main() -> int:
    spec = json.loads(sys.argv[1])
    from scapy.all import DNS, DNSRRSRV  # noqa: E402

    count = min(int(spec.get("count", 1)), 50)
    interval = min(float(spec.get("interval", 0.2)), 2.0)
    rr = DNSRRSRV(rrname=spec["name"], rclass=0x8001, ttl=120, priority=0, weight=0, port=int(spec["port"]), target=spec["target"])
    payload = bytes(DNS(id=0, qr=1, aa=1, qd=None, an=rr))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((spec["ip"], PORT))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(spec["ip"]))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    sent = 0
    for i in range(count):
        if i:
            time.sleep(interval)
        sock.sendto(payload, (GROUP, PORT))
        sent += 1
    sock.close()
    print(json.dumps({"sent": sent, "bytes": len(payload)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
