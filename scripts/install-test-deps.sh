#!/usr/bin/env bash
# install-test-deps.sh: the Debian packages the interoperability tests need (independent
# clients and tools). Idempotent; skipped when not root or when apt-get is absent, in which
# case the tests that need them skip with a message. The second line is the mDNS interop tests'
# clients: avahi-daemon + avahi-browse (with D-Bus) and a JmDNS resolver run with `java File.java`;
# php-cli serves the PHP provisioning script of the probe's dhcpd + avahi + PHP interop test.
# logrotate runs the shipped config/logrotate snippet against an event log the test writes;
# sqlite3 (the shell) holds the store's write lock from another process in test/store-lock.test.ts.
# dnsmasq-base and kea-dhcp4-server (with isc-dhcp-server) check `export dhcp` output with each
# server's own syntax check (dnsmasq --test, kea-dhcp4 -t, dhcpd -t).
# prometheus: `promtool check metrics` checks a real scrape of /metrics (test/metrics.test.ts);
# the packaged service is never started (policy-rc.d).
# sipsak, tftp-hpa, atftp and curl are the SIP and TFTP faces' independent clients; tftpd-hpa is
# only run by bench/tftp (its packaged service is never started: policy-rc.d).
# debootstrap makes test/package.test.ts's clean Debian 12 root; make and g++ build better-sqlite3
# for the bundled Node.js in `npm run package` (node-gyp comes with npm).
# postgresql: test/store-pg.test.ts starts its own server (initdb + pg_ctl as nobody, in a
# temporary directory); the packaged cluster's service is never started (policy-rc.d).
# nginx-light: the load balancer of bench/storm/twonode.ts and its smoke test (run in a
# namespace from its own config; the packaged service is never started).
# chromium + chromium-driver: test/status-browser.test.ts drives the status page in a headless
# Chromium over WebDriver (chromedriver on loopback; --no-sandbox as root).
set -euo pipefail
PKGS=(iproute2 python3-scapy tshark systemd isc-dhcp-server openssl dnsmasq-base kea-dhcp4-server prometheus
      avahi-daemon avahi-utils dbus libjmdns-java libslf4j-java default-jdk-headless
      fail2ban php-cli logrotate sqlite3 sipsak tftp-hpa atftp tftpd-hpa curl debootstrap make g++
      postgresql nginx-light chromium chromium-driver)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-deps: not root or no apt-get; interop tests will skip" >&2
    exit 0
fi
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-test-deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Packaged daemons (dhcpd, avahi) must not start in the root namespace: a temporary
    # policy-rc.d refuses service starts during the install (an existing one is left alone).
    own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        own_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [ "$own_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
fi
