"""A local AMI server that answers from transcripts recorded on the sandbox Asterisk (transcripts/).

Tests replace the answer to an action with `on(action, handler)`; a handler gets the connection and the
action's headers and may write bytes, stay silent or close the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

TRANSCRIPTS = Path(__file__).parent / "transcripts"
SECRET = "replay-secret"


def transcript(name: str, action_id: str = "") -> bytes:
    return (TRANSCRIPTS / f"{name}.ami").read_bytes().replace(b"{action_id}", action_id.encode())


def parse_frame(frame: bytes) -> list[tuple[str, str]]:
    headers = []
    for line in frame.decode().split("\r\n"):
        name, _, value = line.partition(": ")
        headers.append((name, value))
    return headers


class Connection:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    def write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def close(self) -> None:
        self.writer.close()


Handler = Callable[[Connection, dict[str, str]], Awaitable[None] | None]


class FakeAmi:
    def __init__(self) -> None:
        self.received: list[list[tuple[str, str]]] = []
        self.connections: list[Connection] = []
        self._handlers: dict[str, Handler] = {}
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for connection in self.connections:
                connection.close()
            await self._server.wait_closed()

    def on(self, action: str, handler: Handler) -> None:
        self._handlers[action.lower()] = handler

    def count(self, action: str) -> int:
        return sum(1 for headers in self.received if dict(headers).get("Action", "").lower() == action.lower())

    async def wait_for(self, action: str, count: int = 1, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self.count(action) >= count)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection(writer)
        self.connections.append(connection)
        connection.write(transcript("banner"))
        try:
            while True:
                frame = await reader.readuntil(b"\r\n\r\n")
                headers = parse_frame(frame[:-4])
                async with self._changed:
                    self.received.append(headers)
                    self._changed.notify_all()
                action = dict(headers)
                handler = self._handlers.get(action.get("Action", "").lower(), self._default)
                result = handler(connection, action)
                if result is not None:
                    await result
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _default(connection: Connection, action: dict[str, str]) -> None:
        name = action.get("Action", "").lower()
        action_id = action.get("ActionID", "")
        if name == "login":
            ok = action.get("Secret") == SECRET
            connection.write(transcript("login_ok" if ok else "login_refused", action_id))
        elif name == "ping":
            connection.write(transcript("ping", action_id))
        elif name == "originate":
            connection.write(transcript("originate_queued", action_id))
            connection.write(transcript("originate_call_events", action_id))
        elif name == "coreshowchannels":
            connection.write(transcript("core_show_channels", action_id))
        elif name == "devicestatelist":
            connection.write(transcript("device_state_list", action_id))
        elif name == "queuestatus":
            connection.write(transcript("queue_status", action_id))
        elif name == "getvar":  # a caller who did not hide its number
            connection.write(f"Response: Success\r\nActionID: {action_id}\r\nVariable: {action.get('Variable', '')}"
                             "\r\nValue: allowed_not_screened\r\n\r\n".encode())
        elif name == "hangup":
            connection.write(transcript("hangup_no_such_channel", action_id))
        else:
            connection.write(f"Response: Error\r\nActionID: {action_id}\r\nMessage: Invalid/unknown command\r\n\r\n".encode())
