#!/usr/bin/env python3
"""A loopback DNS stub for images/test-images.sh: answers every A query with 127.0.0.1 and AAAA (or anything
else) with no records, on 127.0.0.1:53 UDP. Lets the scratch image prove that static glibc resolves a
cluster-style host name through /etc/resolv.conf with its built-in dns module. Test use only."""
import socket
import struct

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
while True:
    q, peer = s.recvfrom(512)
    end = 12
    while q[end]:
        end += 1 + q[end]
    qtype = struct.unpack(">H", q[end + 1:end + 3])[0]
    answer = b""
    if qtype == 1:
        answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 5, 4) + socket.inet_aton("127.0.0.1")
    flags = 0x8180 | (struct.unpack(">H", q[2:4])[0] & 0x0100)
    header = q[:2] + struct.pack(">HHHHH", flags, 1, 1 if answer else 0, 0, 0)
    s.sendto(header + q[12:end + 5] + answer, peer)
