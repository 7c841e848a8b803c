#!/usr/bin/python3
"""Connection probes for the firewall system tests (run inside a VM
namespace).  Every mode is bounded in time.

  tcpprobe.py serve SECONDS PORT...   TCP servers that answer "ok\n" to each
                                      line, and UDP echo on the same ports,
                                      over IPv4 and IPv6
  tcpprobe.py tcp IP PORT [TIMEOUT]   prints open | refused | timeout | error
  tcpprobe.py udp IP PORT [TIMEOUT]   prints answered | unreachable |
                                      refused | timeout
  tcpprobe.py hold IP PORT SECONDS    one connection, a line every 0.2 s;
                                      prints "ok N" per answer and ends with
                                      "broken after N" or "held N"
  tcpprobe.py bulk IP PORT MBYTES SECONDS
                                      one connection sending MBYTES MiB as
                                      1 KiB lines as fast as it can; prints
                                      "bulk OK" when every line was answered
                                      in time, else "bulk broken ..."
"""
import errno
import select
import socket
import sys
import time


def family(ip):
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def serve(seconds, ports):
    end = time.time() + seconds
    listeners, udps, conns = [], [], []
    # IPv4, and IPv6 where the namespace has it (IPV6_V6ONLY: a socket
    # per family, so an IPv4 probe never arrives as a mapped address).
    fams = [(socket.AF_INET, "0.0.0.0")]
    if socket.has_ipv6:
        fams.append((socket.AF_INET6, "::"))
    for port in ports:
        for fam, addr in fams:
            try:
                t = socket.socket(fam, socket.SOCK_STREAM)
                u = socket.socket(fam, socket.SOCK_DGRAM)
                for x in (t, u):
                    if fam == socket.AF_INET6:
                        x.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                t.bind((addr, port))
                u.bind((addr, port))
            except OSError:
                if fam == socket.AF_INET:
                    raise
                continue  # IPv6 off in this namespace: IPv4 only
            t.listen(64)
            listeners.append(t)
            udps.append(u)
    while time.time() < end:
        r, _, _ = select.select(listeners + udps + conns, [], [], 0.5)
        for s in r:
            if s in listeners:
                c, _ = s.accept()
                conns.append(c)
            elif s in udps:
                data, peer = s.recvfrom(2048)
                s.sendto(data, peer)
            else:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    conns.remove(s)
                    s.close()
                    continue
                try:
                    s.sendall(b"ok\n" * data.count(b"\n"))
                except OSError:
                    conns.remove(s)
                    s.close()


def tcp(ip, port, timeout):
    s = socket.socket(family(ip), socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((ip, port))
        s.sendall(b"hello\n")
        data = s.recv(16)
        print("open" if data.startswith(b"ok") else "error")
    except ConnectionRefusedError:
        print("refused")
    except socket.timeout:
        print("timeout")
    except OSError as e:
        print("error", e)
    finally:
        s.close()


def udp(ip, port, timeout):
    s = socket.socket(family(ip), socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.connect((ip, port))
        s.send(b"ping\n")
        s.recv(64)
        print("answered")
    except ConnectionRefusedError:
        print("refused")
    except socket.timeout:
        print("timeout")
    except OSError as e:
        if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES):
            print("unreachable")
        else:
            print("error", e)
    finally:
        s.close()


def hold(ip, port, seconds):
    s = socket.socket(family(ip), socket.SOCK_STREAM)
    s.settimeout(2)
    n = 0
    try:
        s.connect((ip, port))
    except OSError as e:
        print("connect failed", e)
        return
    end = time.time() + seconds
    while time.time() < end:
        try:
            s.sendall(b"x\n")
            data = s.recv(16)
            if not data:
                break
            n += 1
            print("ok", n, flush=True)
        except OSError:
            break
        time.sleep(0.2)
    else:
        print("held", n)
        return
    print("broken after", n)


def bulk(ip, port, mbytes, seconds):
    line = b"x" * 1023 + b"\n"
    chunk = line * 64
    want = mbytes * 1024
    s = socket.socket(family(ip), socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((ip, port))
    except OSError as e:
        print("bulk broken: connect failed", e)
        return
    s.setblocking(False)
    end = time.time() + seconds
    sent_lines = answered = 0
    pending = b""
    while answered < want and time.time() < end:
        if not pending and sent_lines < want:
            pending = chunk
            sent_lines += 64
        r, w, _ = select.select([s], [s] if pending else [], [], 0.5)
        try:
            if w:
                n = s.send(pending)
                pending = pending[n:]
            if r:
                data = s.recv(65536)
                if not data:
                    break
                answered += data.count(b"\n")
        except BlockingIOError:
            pass
        except OSError as e:
            print("bulk broken after", answered, "lines:", e)
            return
    s.close()
    if answered >= want:
        print("bulk OK", mbytes, "MiB")
    else:
        print("bulk broken after", answered, "of", want, "lines")


def main():
    mode = sys.argv[1]
    if mode == "serve":
        serve(float(sys.argv[2]), [int(p) for p in sys.argv[3:]])
    elif mode == "tcp":
        tcp(sys.argv[2], int(sys.argv[3]),
            float(sys.argv[4]) if len(sys.argv) > 4 else 1.5)
    elif mode == "udp":
        udp(sys.argv[2], int(sys.argv[3]),
            float(sys.argv[4]) if len(sys.argv) > 4 else 1.5)
    elif mode == "bulk":
        bulk(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
             float(sys.argv[5]))
    elif mode == "hold":
        hold(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
