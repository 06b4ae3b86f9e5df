"""ctx.log: a LoggerAdapter whose records carry the actor path."""

from __future__ import annotations

import logging

from atomr import Actor, props


class Chatty(Actor):
    async def handle(self, ctx, msg):
        ctx.log.info("handling %s", msg, extra={"extra_field": 1})
        return isinstance(ctx.log, logging.LoggerAdapter) and ctx.log is ctx.log


async def test_ctx_log_records_carry_the_actor_path(system, caplog):
    ref = system.actor_of(props(Chatty), "chatty")
    with caplog.at_level(logging.INFO, logger="atomr.actor"):
        assert await ref.ask("hello") is True
    records = [r for r in caplog.records if r.name == "atomr.actor.Chatty"]
    assert len(records) == 1
    record = records[0]
    assert record.actor_path == ref.path
    assert record.extra_field == 1
    assert record.getMessage() == f"[{ref.path}] handling hello"
