#!/usr/bin/env python3
"""Ask a DNS server for an A record over UDP; exit 0 only for a NOERROR answer with records.

    dns_probe.py 10.96.0.10 kubernetes.default.svc.cluster.local

Used by cluster.sh to see the cluster DNS answer through its Service (kube-proxy included).
"""

from __future__ import annotations

import random
import socket
import struct
import sys


def query(server: str, name: str, timeout: float = 2.0) -> int:
    """Returns the number of answers; raises OSError or ValueError on failure."""
    ident = random.randrange(1 << 16)
    header = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)  # recursion desired, one question
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.strip(".").split("."))
    packet = header + labels + b"\x00" + struct.pack("!HH", 1, 1)  # type A, class IN
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (server, 53))
        reply, _ = sock.recvfrom(4096)
    reply_id, flags, _, answers = struct.unpack("!HHHH", reply[:8])
    if reply_id != ident:
        raise ValueError("reply for another query")
    if flags & 0x000F:
        raise ValueError(f"rcode {flags & 0x000F}")
    return answers


def main() -> int:
    server, name = sys.argv[1], sys.argv[2]
    try:
        answers = query(server, name)
    except (OSError, ValueError) as error:
        print(f"{name} @{server}: {error}", file=sys.stderr)
        return 1
    return 0 if answers else 1


if __name__ == "__main__":
    sys.exit(main())
