"""The dialer processes' conformance suite: a process is alive from its registration while it heartbeats and is
not stopped; a stopped one never beats again."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tests.support.contracts.common import Store

HOUR = timedelta(hours=1)


class NodeContract:
    async def test_a_process_is_alive_from_its_start_until_it_stops(self, store: Store) -> None:
        first, second, never = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        for node in (first, second):
            await store.register_node(node, hostname="pbx-1", pid=4242, version="test")
        assert await store.live_nodes([first, second, never], within=HOUR) == {first, second}
        assert await store.node_heartbeat(first) is not None
        await store.node_stopped(first)
        assert await store.node_heartbeat(first) is None  # stopped: it may not come back to life
        assert await store.node_heartbeat(never) is None
        assert await store.live_nodes([first, second, never], within=HOUR) == {second}
        assert await store.live_nodes([], within=HOUR) == set()
