"""A node process of tests/multinode's cluster_node.py that can serve a
dashboard (driven by the same JSON-line channel, _nodes.NodeProcess with
``wrap=dashboard_node.wrap``).

Extra commands: ``dashboard_serve {node}`` (starts a dashboard on a
kernel-picked loopback port; the reply is its ``host:port``) and
``dashboard_stop`` (shuts it down).
"""

from __future__ import annotations

import asyncio
import pathlib
import sys
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from multinode import cluster_node as base  # noqa: E402

from atomr import dashboard  # noqa: E402

SCRIPT = pathlib.Path(__file__).resolve()


def wrap(argv: list[str]) -> list[str]:
    """NodeProcess's argv with this script in place of cluster_node.py."""
    return [argv[0], str(SCRIPT)] + argv[2:]


class DashboardNode(base.Node):
    def __init__(self, args: Any) -> None:
        super().__init__(args)
        self.handle: Any = None

    async def _run(self, req: dict) -> Any:
        cmd = req.get("cmd")
        if cmd == "dashboard_serve":
            self.handle = dashboard.serve("127.0.0.1:0", node=req["node"], system=self.system)
            return self.handle.address
        if cmd == "dashboard_stop":
            self.handle.shutdown()
            return None
        return await super()._run(req)

    async def serve(self) -> None:
        try:
            await super().serve()
        finally:
            if self.handle is not None:
                self.handle.shutdown()


async def main(args: Any) -> None:
    node = DashboardNode(args)
    await node.start()
    await node.serve()


if __name__ == "__main__":
    asyncio.run(main(base.parse(sys.argv[1:])))
