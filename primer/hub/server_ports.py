"""Ports for the servers started on this machine, below the range kernels take theirs from.

JupyterHub picks a server's port by asking the system for a free one, then
the server binds it when its start-up is done, seconds later. Every kernel's
five ZMQ ports are picked the same way, from the same range
(/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 here). In the
100-student rush a kernel took a server's port in those seconds: "The port
33917 is already in use", the server exited, and the check for it went to
the kernel's control port ("DELIM not in msg_list"). Servers take their ports
from SERVER_PORTS instead, each held until the server stops.
"""
from __future__ import annotations

import random
import socket

SERVER_PORTS = range(20000, 30000)
_held: set[int] = set()


def is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def take_port(ports: range = SERVER_PORTS, held: set[int] = _held) -> int:
    """A free port of ``ports`` that no other server of this hub holds; held until ``give_back``."""
    for port in random.sample(ports, len(ports)):
        if port not in held and is_free(port):
            held.add(port)
            return port
    raise RuntimeError(f"no free port for a server in {ports.start}-{ports.stop - 1}")


def give_back(port: int, held: set[int] = _held) -> None:
    held.discard(port)
