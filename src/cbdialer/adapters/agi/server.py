"""The FastAGI server: one asyncio server on CBDIALER_AGI_HOST:CBDIALER_AGI_PORT, one task per call, each handed
to the flow that owns it (services/caller_requests.py) by the script name of `agi://host:port/<script>`. Rule: the
server only accepts, reads the request and delegates; a call's failure is logged and closes that call alone, and
`stop` closes the server and cancels the calls in progress (their callers then go back to the dialplan)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from cbdialer.adapters.agi.protocol import AgiCall, read_headers, request_of
from cbdialer.ports.ivr import CallerHungUp, IvrCall

log = structlog.get_logger("cbdialer.agi")

HEADER_TIMEOUT = 5.0
Flow = Callable[[IvrCall], Awaitable[None]]


async def serve_agi(routes: dict[str, Flow], host: str, port: int, stop: asyncio.Event, *,
                    started: Callable[[int], None] | None = None, reply_timeout: float = 120.0) -> None:
    """Serve until `stop`; `started` gets the bound port (useful with port 0)."""
    calls: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        calls.add(task)
        call: AgiCall | None = None
        try:
            request = request_of(await read_headers(reader, timeout=HEADER_TIMEOUT))
            call = AgiCall(reader, writer, request, reply_timeout=reply_timeout)
            flow = routes.get(request.script)
            if flow is None:
                log.warning("agi_unknown_script", script=request.script, uniqueid=request.uniqueid)
                return
            await flow(call)
        except (CallerHungUp, TimeoutError) as exc:
            log.info("agi_call_ended", reason=str(exc) or type(exc).__name__)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one call's bug must not stop the server or the daemon
            log.exception("agi_call_failed", error=str(exc) or type(exc).__name__)
        finally:
            calls.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # reuse_port: several dialer nodes on one host share the port (the kernel spreads the calls among them).
    server = await asyncio.start_server(handle, host, port, reuse_address=True, reuse_port=True)
    bound = server.sockets[0].getsockname()[1]
    log.info("agi_listening", host=host, port=bound)
    if started is not None:
        started(bound)
    try:
        await stop.wait()
    finally:
        server.close()
        for task in list(calls):
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        await server.wait_closed()
