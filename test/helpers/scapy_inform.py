#!/usr/bin/python3
"""scapy_inform.py: an independent DHCPINFORM client for the provisiond interop tests.

Run inside the client network namespace with Debian's python3-scapy:

    ip netns exec NS /usr/bin/python3 scapy_inform.py '{"iface": "...", "mac": "...",
        "ciaddr": "...", "xid": 123, "timeout": 5}'

It builds the request with scapy's own Ether/IP/UDP/BOOTP/DHCP layers (message-type=inform,
param_req_list=[224]), starts a sniffer on the interface, sends the frame with sendp (a
broadcast to 255.255.255.255:6767 from ciaddr:6768), waits (bounded) for the BOOTREPLY with
the same xid (UDP 6767 -> 6768), decodes it with scapy and prints one JSON line.
No kernel UDP socket and no provisiond code is involved on the client side.
"""
import json
import sys
import threading


def main() -> int:
    spec = json.loads(sys.argv[1])
    iface = spec["iface"]
    mac = spec["mac"]
    ciaddr = spec["ciaddr"]
    xid = int(spec["xid"])
    timeout = float(spec.get("timeout", 5))

    from scapy.all import (  # noqa: E402  (imported inside the namespace, after argv checks)
        BOOTP, DHCP, IP, UDP, AsyncSniffer, Ether, conf, mac2str, sendp,
    )
    conf.verb = 0

    request = (
        Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src=ciaddr, dst="255.255.255.255")
        / UDP(sport=6768, dport=6767)
        / BOOTP(op=1, htype=1, hlen=6, xid=xid, ciaddr=ciaddr, chaddr=mac2str(mac))
        / DHCP(options=[("message-type", "inform"), ("param_req_list", [224]), "end"])
    )

    def is_reply(p) -> bool:
        if UDP not in p or p[UDP].sport != 6767 or p[UDP].dport != 6768:
            return False
        raw = bytes(p[UDP].payload)
        # BOOTP is only bound to ports 67/68 in scapy; dissect the payload explicitly.
        return len(raw) >= 8 and raw[0] == 2 and BOOTP(raw).xid == xid

    ready = threading.Event()
    sniffer = AsyncSniffer(iface=iface, lfilter=is_reply, count=1, timeout=timeout,
                           store=True, started_callback=ready.set)
    sniffer.start()
    if not ready.wait(timeout):
        print(json.dumps({"error": "sniffer did not start"}))
        return 2
    sendp(request, iface=iface)
    sniffer.join(timeout + 2)
    if sniffer.running:
        sniffer.stop()
    packets = sniffer.results or []
    out = {"sent_hex": bytes(request[BOOTP]).hex(), "reply": None}
    if packets:
        p = packets[0]
        raw = bytes(p[UDP].payload)
        b = BOOTP(raw)
        opts = {}
        for o in b[DHCP].options if DHCP in b else []:
            if isinstance(o, tuple) and len(o) >= 2:
                opts[o[0]] = o[1]
        mt = opts.get("message-type")
        url = opts.get(224)
        out["reply"] = {
            "src": p[IP].src,
            "dst": p[IP].dst,
            "sport": p[UDP].sport,
            "dport": p[UDP].dport,
            "eth_src": p[Ether].src,
            "length": len(raw),
            "op": b.op,
            "xid": b.xid,
            "ciaddr": b.ciaddr,
            "chaddr": bytes(b.chaddr)[:6].hex(),
            "message_type": mt,
            "server_id": opts.get("server_id"),
            "opt224_hex": url.hex() if isinstance(url, bytes) else None,
            "opt224": url.decode("utf-8", "replace") if isinstance(url, bytes) else None,
            "raw_hex": raw.hex(),
        }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
