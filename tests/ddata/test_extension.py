"""The DistributedData extension: one per actor system, holding the
system's Replicator, which it shuts down when the system terminates."""

from __future__ import annotations

import pytest

from _helpers import running_system
from atomr import ActorSystem, ActorSystemTerminatedError
from atomr.ddata import DistributedData, FileDurableStore, GCounter, Replicator


def inc(c):
    c.increment("A", 1)
    return c


async def test_the_extension_is_created_once_per_system_and_holds_the_replicator(system):
    ddata = DistributedData.get(system)
    assert DistributedData.get(system) is ddata
    assert ddata.replicator is Replicator.get(system)
    assert ddata.replicator is ddata.replicator


async def test_a_second_system_gets_its_own_extension_and_replicator(system):
    async with running_system("ddata-other") as other:
        assert DistributedData.get(other) is not DistributedData.get(system)
        assert Replicator.get(other) is not Replicator.get(system)


async def test_with_durable_store_replaces_the_extension_replicator(system, tmp_path):
    first = Replicator.get(system)
    store = FileDurableStore(str(tmp_path))
    second = Replicator.with_durable_store(system, store)
    assert second is not first and second.durable is store
    assert DistributedData.get(system).replicator is second


async def test_the_replicator_shuts_down_when_the_system_terminates(tmp_path):
    system = await ActorSystem.create("ddata-shutdown")
    store = FileDurableStore(str(tmp_path))
    rep = Replicator.with_durable_store(system, store)
    assert await rep.update("c", GCounter, inc) == "ok"
    await system.terminate()
    assert "closed" in repr(rep)
    with pytest.raises(ActorSystemTerminatedError):
        Replicator.get(system)


async def test_a_terminated_system_gets_no_new_extension():
    system = await ActorSystem.create("ddata-late")
    await system.terminate()
    with pytest.raises(ActorSystemTerminatedError):
        DistributedData.get(system)


def test_the_extension_is_not_constructed_directly():
    with pytest.raises(TypeError, match="DistributedData.get"):
        DistributedData()
