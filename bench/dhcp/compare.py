#!/usr/bin/env python3
"""compare.py - the side-by-side table of one bench/dhcp/run.sh log (markdown on stdout).

Usage: compare.py LOG

The log holds "#meta key: value" lines, then one "### server=S pin=P mode=closed|open
param=N round=R attempt=A noisy=0|1 foreign=F" header per load run, followed by the
generator's output ("sent=... lost=..." and "done: ..." lines). Per (server, mode, param)
this prints the median over the quiet runs, with min-max when there is more than one run;
a point that has no quiet run falls back to its noisy runs and is marked with *.
Standard library only.
"""
import re
import statistics
import sys
from collections import OrderedDict

BASE, DUT, RL = "dhcpd", "provisiond", "provisiond-ratelimit"
DONE = re.compile(r"done: (\d+) sent, (\d+) answered, (\d+) valid, ([\d.]+)/s, p50 (\d+) us, p99 (\d+) us")


def parse(path):
    meta, runs, cur = OrderedDict(), [], None
    warns = {}
    cpu = {}  # server -> [cpu seconds over its instances]
    proofs = OrderedDict()  # server -> {"unicast": bool, "broadcast": bool}
    proof_server, proof_kind = None, None
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("#meta "):
            k, _, v = line[6:].partition(": ")
            meta[k] = v
        elif line.startswith("### "):
            h = dict(kv.split("=", 1) for kv in line[4:].split() if "=" in kv)
            cur = None
            proof_kind = None
            if line.startswith("### proof server="):
                proof_server, proof_kind = h["server"], "unicast"
                proofs[proof_server] = {}
            elif line.startswith("### proof: broadcast") and proof_server:
                proof_kind = "broadcast"
            elif "stopping" in line and "cpu_ticks" in h:
                t, hz = _num(h["cpu_ticks"]), _num(h.get("hz"))
                if t is not None and hz:
                    cpu.setdefault(h["server"], []).append(t / hz)
            elif line.startswith("### rl-warn "):
                warns[(h["mode"], int(h["param"]))] = (int(h["lines"]), int(h["seconds"]))
            elif "mode" in h and "attempt" in h:
                cur = {"server": h["server"], "mode": h["mode"], "param": int(h["param"]),
                       "noisy": h.get("noisy") == "1", "foreign": _num(h.get("foreign"))}
                runs.append(cur)
        elif proof_kind is not None:
            m = DONE.match(line)
            if m:
                proofs[proof_server][proof_kind] = int(m[3]) > 0
        elif cur is not None:
            m = DONE.match(line)
            if m:
                cur.update(sent=int(m[1]), answered=int(m[2]), valid=int(m[3]), tput=float(m[4]),
                           p50=int(m[5]), p99=int(m[6]))
            m = re.match(r"mode=\S+ \S+ duration=([\d.]+)s warmup=([\d.]+)s", line)
            if m:
                cur["dur"], cur["warm"] = float(m[1]), float(m[2])
            m = re.search(r"\blost=(\d+)", line)
            if m:
                cur["lost"] = int(m[1])
    meta["_warns"] = warns
    meta["_cpu"] = cpu
    meta["_proofs"] = proofs
    meta["_all_runs"] = runs
    return meta, [r for r in runs if "tput" in r]


def _num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


class Point:
    """Point is one (server, mode, param): its quiet runs, or its noisy ones if none was quiet."""

    def __init__(self, runs):
        quiet = [r for r in runs if not r["noisy"]]
        self.noisy_only = not quiet
        self.runs = quiet or runs
        self.retried = sum(1 for r in runs if r["noisy"])

    def med(self, k):
        return statistics.median(r[k] for r in self.runs)

    def cell(self, k, unit=""):
        xs = [r[k] for r in self.runs]
        s = f"{fmt(statistics.median(xs))}{unit}"
        if len(xs) > 1:
            s += f" ({fmt(min(xs))}–{fmt(max(xs))})"
        return s + (" *" if self.noisy_only else "")

    @property
    def n(self):
        return f"{len(self.runs)}" + ("*" if self.noisy_only else "")

    def max(self, k):
        return max(r.get(k, 0) for r in self.runs)


def fmt(x):
    return f"{x:,.0f}".replace(",", " ")


def lat(p):
    return f"{fmt(p.med('p50'))} / {fmt(p.med('p99'))}" if p else "–"


def ratio(a, b):
    return f"{a / b:.2f}" if b else "–"


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(64)
    meta, runs = parse(sys.argv[1])
    groups = OrderedDict()
    for r in runs:
        groups.setdefault((r["server"], r["mode"], r["param"]), []).append(r)
    pts = {k: Point(v) for k, v in groups.items()}
    params = lambda server, mode: sorted(p for (s, m, p) in pts if s == server and m == mode)

    print("## DHCP: INFORM→ACK, provisiond vs ISC dhcpd (same lab, same run)")
    print()
    for k in ("date", "command", "mode", "pin", "machine", "software", "node", "dhcpd", "lab", "rmem"):
        if k in meta:
            print(f"- {k}: {meta[k]}")
    yn = lambda b: "valid ACK with option 224" if b else "NO valid ACK"
    for srv, pr in meta["_proofs"].items():
        print(f"- proof, {srv}: unicast INFORM → {yn(pr.get('unicast'))}; broadcast INFORM to 255.255.255.255 → "
              f"{yn(pr.get('broadcast'))} (tshark decode in the raw log)")
    print("- **provisiond ran with `dhcp.rateLimit.rate: 0`: its per-source flood limit was OFF** for every row "
          "below except the last table; the load generator is one source sending up to ~100k INFORMs/s, which "
          "the default limit (20/s, burst 40 per source) would refuse. Also `mdns.enabled: false`, `log.level: warn`, "
          "the same option 224 URL as dhcpd.")
    print()

    windows = sorted(set(params(BASE, "closed")) | set(params(DUT, "closed")))
    print("### Closed loop: throughput (valid DHCPACKs/s; median (min–max) of the quiet runs, at most one per round)")
    print()
    print("| window | dhcpd ACK/s | provisiond ACK/s | provisiond/dhcpd | dhcpd p50 / p99 µs | provisiond p50 / p99 µs | lost dhcpd / provisiond (max) | runs dhcpd / provisiond |")
    print("|---|---|---|---|---|---|---|---|")
    best = {}
    for w in windows:
        b, d = pts.get((BASE, "closed", w)), pts.get((DUT, "closed", w))
        for s, p in ((BASE, b), (DUT, d)):
            if p and (s not in best or p.med("tput") > best[s][1].med("tput")):
                best[s] = (w, p)
        print(f"| {w} | {b.cell('tput') if b else '–'} | {d.cell('tput') if d else '–'} | "
              f"{ratio(d.med('tput'), b.med('tput')) if b and d else '–'} | "
              f"{lat(b)} | {lat(d)} | "
              f"{b.max('lost') if b else '–'} / {d.max('lost') if d else '–'} | {b.n if b else '–'} / {d.n if d else '–'} |")
    if BASE in best and DUT in best:
        (wb, pb), (wd, pd) = best[BASE], best[DUT]
        print(f"| **best** | **{fmt(pb.med('tput'))}** (w={wb}) | **{fmt(pd.med('tput'))}** (w={wd}) | "
              f"**{ratio(pd.med('tput'), pb.med('tput'))}** | | | | |")
    print()

    rates = sorted(set(params(BASE, "open")) | set(params(DUT, "open")))
    if rates:
        print("### Open loop: latency at a fixed offered rate (µs, request sent → ACK received; median (min–max))")
        print()
        print("| rate/s | dhcpd p50 | provisiond p50 | p50 provisiond/dhcpd | dhcpd p99 | provisiond p99 | p99 provisiond/dhcpd | valid/s dhcpd / provisiond | lost dhcpd / provisiond (max) | runs dhcpd / provisiond |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in rates:
            b, d = pts.get((BASE, "open", r)), pts.get((DUT, "open", r))
            if not (b and d):
                continue
            print(f"| {fmt(r)} | {b.cell('p50')} | {d.cell('p50')} | {ratio(d.med('p50'), b.med('p50'))} | "
                  f"{b.cell('p99')} | {d.cell('p99')} | {ratio(d.med('p99'), b.med('p99'))} | "
                  f"{fmt(b.med('tput'))} / {fmt(d.med('tput'))} | {b.max('lost')} / {d.max('lost')} | {b.n} / {d.n} |")
        print()
        print("Latency ratios above 1 mean provisiond is slower.")
        print()

    rl = [(k, p) for k, p in pts.items() if k[0] == RL]
    if rl:
        print("### provisiond with its default per-source rate limit ON (20/s, burst 40): one source flooding")
        print()
        print("| load (one source) | valid ACKs/s | sent | answered | lost (unanswered) | p50 / p99 µs | `DHCP flood` warnings logged |")
        print("|---|---|---|---|---|---|---|")
        for (_, mode, param), p in rl:
            r = p.runs[0]
            load = f"closed loop, window {param}" if mode == "closed" else f"open loop, {fmt(param)}/s"
            wl = meta["_warns"].get((mode, param))
            wtxt = f"{wl[0]} in {wl[1]} s" if wl else "?"
            print(f"| {load} | {fmt(r['tput'])} | {fmt(r['sent'])} | {fmt(r['answered'])} | {fmt(r.get('lost', 0))} | "
                  f"{fmt(r['p50'])} / {fmt(r['p99'])} | {wtxt} |")
        print()
        print("A single source gets the configured rate (20 ACKs/s) and nothing more; the rest is dropped unanswered "
              "(closed loop: the generator counts a request lost after 1 s and replaces it). One attempt per row, "
              "not repeated on noise: these figures are set by the limit, not by CPU.")
        print()

    # server CPU per ACK: the server's CPU time over all its instances, divided by every ACK it
    # sent (all attempts, noisy ones too; warm-up ACKs extrapolated at the measured rate)
    acks = {}
    for r in meta["_all_runs"]:
        if "answered" in r and r.get("dur"):
            acks[r["server"]] = acks.get(r["server"], 0) + r["answered"] * (r["dur"] + r.get("warm", 0)) / r["dur"]
    per = {s: sum(meta["_cpu"][s]) / acks[s] * 1e6 for s in (BASE, DUT) if s in meta["_cpu"] and acks.get(s)}
    if len(per) == 2:
        print(f"Server CPU per ACK (all runs; approximate, includes start-up): dhcpd {per[BASE]:.1f} µs, "
              f"provisiond {per[DUT]:.1f} µs (ratio {per[DUT] / per[BASE]:.2f}).")
        print()

    allp = [p for (srv, _, _), p in pts.items() if srv != RL]
    fr = [r["foreign"] for p in allp if not p.noisy_only for r in p.runs if r["foreign"] is not None]
    retried = sum(p.retried for p in allp)
    noisy_pts = sum(1 for p in allp if p.noisy_only)
    print(f"Noise: foreign CPU during the quiet runs kept was at most {max(fr) if fr else 0:.1f} % of one core "
          f"(limit {meta.get('noise_max', '15')} %); {retried} noisy attempt(s) were repeated; "
          f"{noisy_pts} point(s) had no quiet run (marked *). Differences under ~5 % are noise on this shared 2-vCPU box.")
    print()
    if BASE in best and DUT in best:
        rb, rd = best[BASE][1].med("tput"), best[DUT][1].med("tput")
        print(f"**Target (provisiond's best closed-loop throughput ≥ dhcpd's): {'MET' if rd >= rb else 'NOT MET'}** "
              f"— {fmt(rd)}/s vs {fmt(rb)}/s, ratio {ratio(rd, rb)}.")


if __name__ == "__main__":
    main()
