"""The grader's kernel client: no message from a student's kernel larger than the grader accepts.  [TRUSTED SIDE]

Every byte a kernel sends is the student's to choose. ZeroMQ's ``MAXMSGSIZE``
on the grader's sockets drops a larger message, with its connection, before
it is read into memory:

* iopub (outputs): a refused output is lost, and the cell ends with a note
  (primer.grading.sandbox.SandboxedExecute);
* shell (one reply per cell): a cell's reply can carry any size of
  ``payload`` or ``user_expressions``. A refused reply would leave the cell
  waiting for its whole time limit, so the channel watches its socket's
  connection and, when it drops with a request unanswered, answers that
  request itself with an error at once. The socket reconnects by itself and
  the next cell runs as usual.
"""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from queue import Empty

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Integer, Type
from zmq.utils.monitor import parse_monitor_message

MIB = 1024 ** 2
REFUSED_REPLY = ("the kernel's reply to this cell was refused: it was larger than the grader accepts "
                 "(CappedKernelClient.max_reply_bytes), or the kernel stopped")


class CappedShellChannel(AsyncZMQSocketChannel):
    """A shell channel that answers a request itself when its reply was refused."""

    def __init__(self, socket, session, loop=None):
        super().__init__(socket, session, loop)
        self._monitor = socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self._unanswered: list[str] = []  # ids of requests sent, oldest first
        self.connect = None  # set by the client: a new shell socket to the same kernel

    def _reconnect(self) -> None:
        """A fresh socket: the old one's queue and the rest of the refused reply go with it."""
        self._monitor.close(linger=0)
        self.socket.close(linger=0)
        self.socket = self.connect()
        self._monitor = self.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)

    def send(self, msg) -> None:
        super().send(msg)
        self._unanswered.append(msg["header"]["msg_id"])

    async def get_msg(self, timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            poller = zmq.asyncio.Poller()
            poller.register(self.socket, zmq.POLLIN)
            poller.register(self._monitor, zmq.POLLIN)
            left = None if deadline is None else max(0, deadline - time.monotonic())
            ready = dict(await poller.poll(None if left is None else int(left * 1000)))
            if self.socket in ready:
                msg = await self._recv()
                parent = msg.get("parent_header", {}).get("msg_id")
                if parent in self._unanswered:
                    self._unanswered.remove(parent)
                return msg
            if self._monitor in ready:
                event = parse_monitor_message(await self._monitor.recv_multipart())
                if event["event"] == zmq.EVENT_DISCONNECTED and self._unanswered:
                    refused = self._unanswered.pop(0)
                    if self.connect is not None:
                        self._reconnect()
                    return self._refused(refused)
                continue
            raise Empty

    def _refused(self, parent_id: str) -> dict:
        now = datetime.now(timezone.utc)
        return {"header": {"msg_id": uuid.uuid4().hex, "msg_type": "execute_reply", "date": now},
                "parent_header": {"msg_id": parent_id, "msg_type": "execute_request"},
                "msg_type": "execute_reply", "metadata": {},
                "content": {"status": "error", "ename": "ReplyRefused", "evalue": REFUSED_REPLY,
                            "traceback": [f"ReplyRefused: {REFUSED_REPLY}"], "execution_count": None}}

    def close(self) -> None:
        if self._monitor is not None:
            self._monitor.close(linger=0)
            self._monitor = None
        super().close()

    stop = close


class CappedKernelClient(AsyncKernelClient):
    """A kernel client whose iopub and shell sockets refuse messages over their caps."""

    shell_channel_class = Type(CappedShellChannel)

    max_message_bytes = Integer(
        32 * MIB, config=True,
        help="Largest output message the grader reads from a kernel, bytes (ZeroMQ's MAXMSGSIZE): "
             "a larger one is dropped, with its connection, before it takes the grader's memory.")
    max_reply_bytes = Integer(
        16 * MIB, config=True,
        help="Largest reply to a cell the grader reads from a kernel, bytes: a larger one is dropped "
             "before it takes the grader's memory, and the cell ends with an error at once.")

    def _capped(self, limit: int, connect, **kwargs):
        # Options are applied when a socket is made: set the cap for this one socket only.
        self.context.setsockopt(zmq.MAXMSGSIZE, limit)
        try:
            return connect(**kwargs)
        finally:
            self.context.setsockopt(zmq.MAXMSGSIZE, -1)

    def connect_iopub(self, identity=None):
        return self._capped(self.max_message_bytes, super().connect_iopub, identity=identity)

    def connect_shell(self, identity=None):
        return self._capped(self.max_reply_bytes, super().connect_shell, identity=identity)

    @property
    def shell_channel(self):
        channel = AsyncKernelClient.shell_channel.fget(self)
        if isinstance(channel, CappedShellChannel) and channel.connect is None:
            # A new identity: the kernel routes each reply to whoever sent its request.
            channel.connect = lambda: self.connect_shell(identity=uuid.uuid4().hex.encode())
        return channel
