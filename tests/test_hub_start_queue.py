"""Servers start a few at a time in a morning rush (primer/hub/start_queue.py), on ports of
their own (primer/hub/server_ports.py).

100 servers started at once on 2 cores shared the CPU so evenly that none
answered within the hub's 120 s and the hub gave up on every one
(`make bench-hub BENCH_ARGS="--students 100 --start-limits 0,4"`). These
check the line itself with real asyncio tasks and real server processes;
the benchmark measures it on a real hub.
"""
from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

import pytest

from primer.hub.server_ports import SERVER_PORTS, give_back, take_port
from primer.hub.start_queue import StartQueue, wait_until_answering
from primer.testing.hub import free_port_block


def run_rush(limit: int, people: int = 6) -> tuple[int, list[int]]:
    """``people`` starts through a queue of ``limit``: the most at once, and the order they got in."""
    async def rush():
        queue, now, most, order = StartQueue(limit), [0], [0], []

        async def start(person: int):
            async with queue.turn():
                order.append(person)
                now[0] += 1
                most[0] = max(most[0], now[0])
                await asyncio.sleep(0.05)
                now[0] -= 1

        tasks = []
        for person in range(people):
            tasks.append(asyncio.create_task(start(person)))
            await asyncio.sleep(0)  # each asks in turn, as requests arrive
        await asyncio.gather(*tasks)
        assert queue.starting == queue.waiting == 0
        return most[0], order

    return asyncio.run(rush())


def test_at_most_the_limit_start_at_once_first_come_first_served():
    most, order = run_rush(limit=2)
    assert most == 2
    assert order == list(range(6))


def test_no_limit_lets_everyone_start_at_once():
    most, _ = run_rush(limit=0)
    assert most == 6


def late_server(port: int, delay: float) -> subprocess.Popen:
    """A real HTTP server that starts listening only after ``delay`` seconds (like a server's imports)."""
    code = ("import time, http.server, sys; time.sleep(float(sys.argv[2])); "
            "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), "
            "http.server.SimpleHTTPRequestHandler).serve_forever()")
    return subprocess.Popen([sys.executable, "-c", code, str(port), str(delay)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_place_in_line_is_held_until_the_server_answers():
    port = free_port_block(1)
    server = late_server(port, delay=1.0)
    try:
        began = time.monotonic()
        asyncio.run(wait_until_answering(f"http://127.0.0.1:{port}/", lambda: server.poll() is not None,
                                         timeout=30))
        assert time.monotonic() - began >= 1.0
    finally:
        server.kill()
        server.wait()


def test_a_server_that_dies_or_never_answers_frees_its_place():
    port = free_port_block(1)
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(RuntimeError, match="exited before it answered"):
        asyncio.run(wait_until_answering(f"http://127.0.0.1:{port}/", lambda: dead.poll() is not None,
                                         timeout=30))
    began = time.monotonic()
    with pytest.raises(TimeoutError, match="no answer"):
        asyncio.run(wait_until_answering(f"http://127.0.0.1:{port}/", lambda: False, timeout=0.5))
    assert time.monotonic() - began < 10


def test_servers_listen_below_the_ports_kernels_are_given():
    """A kernel took a starting server's port in the rush ("The port 33917 is already in use")."""
    low, _ = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    assert SERVER_PORTS.stop <= low  # kernels' ports (and any bind to port 0) come from low and up
    with socket.socket() as kernel:  # a port some other process listens on is never given
        kernel.bind(("127.0.0.1", 0))
        busy = kernel.getsockname()[1]
        kernel.listen()
        held: set[int] = set()
        first = take_port(range(busy, busy + 2), held)
        assert first == busy + 1
        # a port given to a server that is still starting (not bound yet) is not given again
        with pytest.raises(RuntimeError, match="no free port"):
            take_port(range(busy, busy + 2), held)
        give_back(first, held)
        assert take_port(range(busy, busy + 2), held) == first


RUSH = 110  # more than JupyterHub's default concurrent_spawn_limit (100), with a margin for the
#            few servers of the line that come up while the requests are still arriving


@pytest.mark.hub
@pytest.mark.root
def test_more_students_than_jupyterhubs_throttle_wait_in_line_and_none_is_refused(hub):
    """JupyterHub counts everyone waiting in the line as "spawning"; with its default throttle of
    100 the 101st student of a rush was refused (429 "Too many users trying to log in") instead
    of waiting. On the course hub (a line of 2 per core) every one of 110 start requests is taken."""
    from concurrent.futures import ThreadPoolExecutor

    import pwd

    from primer.accounts import ensure_user, processes_of, remove_user
    from primer.testing.hub import PASSWORD_INSTRUCTOR, HubUser, wait_for

    admin = HubUser(hub, hub.instructor)
    assert admin.login(PASSWORD_INSTRUCTOR).status_code == 200
    admin.create_token()
    names = [f"pt-line-{i}" for i in range(1, RUSH + 1)]
    hub.extra_accounts.extend(names)  # removed at the session's end even if this test fails
    with ThreadPoolExecutor(8) as pool:  # the accounts exist already: the requests come fast
        list(pool.map(ensure_user, names))
    assert admin.api("POST", "/hub/api/users", json={"usernames": names}).status_code == 201

    def start(name: str) -> int:
        return admin.api("POST", f"/hub/api/users/{name}/server", timeout=60).status_code

    def stop(name: str) -> int:
        return admin.api("DELETE", f"/hub/api/users/{name}/server", timeout=60).status_code

    def settled(name: str) -> bool:
        model = admin.api("GET", f"/hub/api/users/{name}").json()
        return not model["pending"] and not model["servers"]

    try:
        with ThreadPoolExecutor(RUSH) as pool:
            answers = list(pool.map(start, names))
        refused = [name for name, code in zip(names, answers) if code == 429]
        assert not refused, f"{len(refused)} of {RUSH} refused with 429 instead of waiting in line"
        assert set(answers) <= {201, 202}, answers
    finally:  # nobody waits for 110 servers: the line is cut short and every server stopped
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(stop, names))
        for name in names:
            wait_for(lambda: settled(name), 60, f"{name}'s server stopped")
            admin.api("DELETE", f"/hub/api/users/{name}")
        time.sleep(2)  # a server whose start was cut short ends within a second or two
        left = [name for name in names if processes_of(pwd.getpwnam(name).pw_uid)]
        for name in names:
            remove_user(name)
            hub.extra_accounts.remove(name)
    assert not left, f"servers of the rush still running after their stop: {left}"
