"""Dependency injection: the service container and Props that build actors
with their dependencies."""

from __future__ import annotations

import threading

import pytest

from atomr import Actor, AtomrError, DependencyError, SupervisorStrategy
from atomr.di import SERVICES, Inject, ServiceContainer, services_of


class Database:
    def __init__(self, name: str = "db") -> None:
        self.name = name


def test_register_resolve_and_keys_as_in_the_original():
    services = ServiceContainer()
    assert services.keys() == []
    services.register("db", "postgres")
    services.register("cache", {"size": 3})
    assert services.resolve("db") == "postgres"
    assert services.resolve("cache") == {"size": 3}
    assert services.resolve("missing") is None
    assert services.keys() == ["db", "cache"]
    assert "db" in services and len(services) == 2


def test_registering_a_key_again_replaces_its_service():
    services = ServiceContainer()
    services.register("a", 1)
    services.register("b", 2)
    services.register("a", 3)
    assert services.resolve("a") == 3
    assert services.keys() == ["b", "a"]
    assert services.unregister("a") is True
    assert services.unregister("a") is False
    assert services.resolve("a") is None


def test_a_factory_builds_a_new_service_on_every_resolution():
    services = ServiceContainer()
    services.register("name", "orders")
    services.register_factory("db", lambda c: Database(c.resolve("name")))
    first, second = services.resolve("db"), services.resolve("db")
    assert first is not second
    assert first.name == second.name == "orders"


def test_a_singleton_is_built_once_even_under_concurrent_first_use():
    services = ServiceContainer()
    calls = []
    barrier = threading.Barrier(8)

    def build(_: ServiceContainer) -> Database:
        calls.append(1)
        return Database()

    services.register_singleton("db", build)
    seen: list[Database] = []

    def use() -> None:
        barrier.wait()
        seen.append(services.resolve("db"))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1
    assert len(seen) == 8 and all(s is seen[0] for s in seen)


def test_a_singleton_whose_factory_failed_is_built_again_next_time():
    services = ServiceContainer()
    attempts = []

    def flaky(_: ServiceContainer) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("not yet")
        return "up"

    services.register_singleton("conn", flaky)
    with pytest.raises(ConnectionError):
        services.resolve("conn")
    assert services.resolve("conn") == "up"
    assert services.resolve("conn") == "up"
    assert len(attempts) == 2


def test_a_circular_dependency_is_reported_not_recursed():
    services = ServiceContainer()
    services.register_factory("a", lambda c: c.resolve("b"))
    services.register_singleton("b", lambda c: c.resolve("a"))
    with pytest.raises(DependencyError, match="circular dependency: a -> b -> a"):
        services.resolve("a")


def test_require_names_the_missing_key_and_what_is_registered():
    services = ServiceContainer()
    services.register("db", 1)
    with pytest.raises(DependencyError, match=r"'cache'.*registered: db") as info:
        services.require("cache")
    assert isinstance(info.value, LookupError) and isinstance(info.value, AtomrError)


def test_bad_keys_and_factories_are_refused_at_the_call():
    services = ServiceContainer()
    with pytest.raises(TypeError):
        services.register(3, "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        services.register("", "x")
    with pytest.raises(TypeError):
        services.register_factory("x", "not callable")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        services.register_singleton("x", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        services.resolve(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Inject("")


# -- actors ------------------------------------------------------------------------------


class Repository(Actor):
    def __init__(self, db: Database, cache: object = Inject("cache-service"),
                 prefix: str = "repo") -> None:
        self.db = db
        self.cache = cache
        self.prefix = prefix

    def handle(self, ctx, msg):
        if msg == "fail":
            raise RuntimeError("boom")
        return (self.prefix, self.db.name, id(self.db), self.cache)


async def test_props_build_an_actor_with_its_dependencies(system):
    services = ServiceContainer()
    services.register_singleton("db", lambda c: Database("main"))
    services.register("cache-service", "redis")
    ref = system.actor_of(services.props(Repository), "repo")
    prefix, name, _, cache = await ref.ask("get", 5.0)
    assert (prefix, name, cache) == ("repo", "main", "redis")


async def test_arguments_given_to_props_win_over_the_container(system):
    services = ServiceContainer()
    services.register("db", Database("container"))
    services.register("cache-service", "redis")
    ref = system.actor_of(services.props(Repository, Database("explicit"), prefix="p"), "repo")
    prefix, name, _, _ = await ref.ask("get", 5.0)
    assert (prefix, name) == ("p", "explicit")


async def test_each_restart_resolves_the_dependencies_again(system, wait_until):
    services = ServiceContainer()
    services.register_factory("db", lambda c: Database("fresh"))
    services.register("cache-service", None)
    props = services.props(Repository).with_supervisor_strategy(
        SupervisorStrategy.one_for_one(max_retries=5))
    ref = system.actor_of(props, "repo")
    _, _, first_db, _ = await ref.ask("get", 5.0)
    ref.tell("fail")

    async def new_db() -> bool:
        _, _, db_id, _ = await ref.ask("get", 5.0)
        return db_id != first_db

    await wait_until(new_db)


def test_props_report_missing_dependencies_at_the_call():
    services = ServiceContainer()
    services.register("db", Database())
    with pytest.raises(DependencyError, match=r"cache \('cache-service'\)"):
        services.props(Repository)
    with pytest.raises(TypeError, match="Actor subclass"):
        services.props(Database)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Repository"):
        services.props(Repository, 1, 2, 3, 4)


async def test_each_system_has_its_own_service_container(system):
    services_of(system).register("db", "x")
    assert services_of(system).resolve("db") == "x"
    replacement = ServiceContainer()
    SERVICES.get(system).use(replacement)
    assert services_of(system) is replacement
    with pytest.raises(TypeError):
        SERVICES.get(system).use({})  # type: ignore[arg-type]
