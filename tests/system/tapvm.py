#!/usr/bin/env python3
"""A minimal VM behind a tap device, for tests/system/test-tap.sh.

It holds the tap's file descriptor, as a hypervisor would, and speaks
Ethernet through it:

  tapvm.py ping IF MAC IP DST COUNT
      resolve DST by ARP, send COUNT ICMP echo requests to it; exit 0 if
      every one is answered (each within 3 s)
  tapvm.py answer IF MAC IP SECONDS
      for SECONDS, answer ARP requests for IP and ICMP echo requests to
      IP; exit 0 if at least one echo request was answered
"""
import fcntl
import os
import select
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
BCAST = b"\xff" * 6


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def arp(op, smac, sip, tmac, tip):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, smac, sip, tmac, tip)


def ipv4(src, dst, proto, payload):
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0x4000,
                                64, proto, 0, src, dst))
    hdr[10:12] = struct.pack("!H", csum(bytes(hdr)))
    return bytes(hdr) + payload


def icmp_echo(kind, ident, seq, data=b"weft-tap"):
    msg = bytearray(struct.pack("!BBHHH", kind, 0, 0, ident, seq) + data)
    msg[2:4] = struct.pack("!H", csum(bytes(msg)))
    return bytes(msg)


def frames(fd, deadline):
    """Frames read from the tap until 'deadline' (time.time())."""
    while True:
        left = deadline - time.time()
        if left <= 0:
            return
        r, _, _ = select.select([fd], [], [], left)
        if r:
            yield os.read(fd, 65536)


def answer_arp(fd, f, mac, ip):
    """Answers 'f' if it is an ARP request for 'ip'; True if it was ARP."""
    if len(f) < 42 or f[12:14] != b"\x08\x06":
        return False
    op, smac, sip, tip = struct.unpack("!6xH6s4s6x4s", f[14:42])
    if op == 1 and tip == ip:
        os.write(fd, smac + mac + b"\x08\x06" + arp(2, mac, ip, smac, sip))
    return True


def ping(fd, mac, ip, dst, count):
    os.write(fd, BCAST + mac + b"\x08\x06" + arp(1, mac, ip, b"\0" * 6, dst))
    dmac = None
    for f in frames(fd, time.time() + 3):
        if len(f) >= 42 and f[12:14] == b"\x08\x06":
            op, smac, sip = struct.unpack("!6xH6s4s", f[14:32])
            if op == 2 and sip == dst:
                dmac = smac
                break
    if not dmac:
        print("no ARP reply for", socket.inet_ntoa(dst))
        return 1
    print("ARP:", socket.inet_ntoa(dst), "is at", dmac.hex(":"))
    ident, got = os.getpid() & 0xFFFF, 0
    for seq in range(1, count + 1):
        os.write(fd, dmac + mac + b"\x08\x00" + ipv4(ip, dst, 1, icmp_echo(8, ident, seq)))
        for f in frames(fd, time.time() + 3):
            if answer_arp(fd, f, mac, ip) or len(f) < 42 or f[12:14] != b"\x08\x00":
                continue
            ihl = (f[14] & 0xF) * 4
            l4 = f[14 + ihl:]
            if f[23] == 1 and f[26:30] == dst and len(l4) >= 8 and \
                    l4[:1] == b"\x00" and struct.unpack("!HH", l4[4:8]) == (ident, seq):
                got += 1
                print("echo reply", seq)
                break
    print("%d of %d answered" % (got, count))
    return 0 if got == count else 1


def answer(fd, mac, ip, seconds):
    answered = 0
    for f in frames(fd, time.time() + seconds):
        if answer_arp(fd, f, mac, ip) or len(f) < 42 or f[12:14] != b"\x08\x00":
            continue
        ihl = (f[14] & 0xF) * 4
        l4 = f[14 + ihl:14 + struct.unpack("!H", f[16:18])[0]]
        if f[23] != 1 or f[30:34] != ip or len(l4) < 8 or l4[:1] != b"\x08":
            continue
        ident, seq = struct.unpack("!HH", l4[4:8])
        os.write(fd, f[6:12] + mac + b"\x08\x00" +
                 ipv4(ip, f[26:30], 1, icmp_echo(0, ident, seq, l4[8:])))
        answered += 1
    print("answered %d echo requests" % answered)
    return 0 if answered else 1


def main(argv):
    if len(argv) != {"ping": 7, "answer": 6}.get(argv[1] if len(argv) > 1 else "", 0):
        print(__doc__, file=sys.stderr)
        return 2
    fd = open_tap(argv[2])
    mac, ip = mac_bytes(argv[3]), socket.inet_aton(argv[4])
    if argv[1] == "ping":
        return ping(fd, mac, ip, socket.inet_aton(argv[5]), int(argv[6]))
    return answer(fd, mac, ip, float(argv[5]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
