"""The durable stores: atomr.ddata_lmdb's LMDB store (alias
RedbDurableStore) and the file and noop stores of atomr.ddata."""

from __future__ import annotations

import os

import pytest

import atomr
from atomr.ddata import DurableStore, FileDurableStore, NoopDurableStore
from atomr.ddata_lmdb import MAX_KEY_BYTES, LmdbDurableStore, RedbDurableStore
from atomr.errors import AtomrError, DurableStoreError


@pytest.fixture
def lmdb(tmp_path):
    store = LmdbDurableStore(tmp_path / "dd.mdb")
    try:
        yield store
    finally:
        store.close()


def test_redb_durable_store_is_the_lmdb_store():
    assert RedbDurableStore is LmdbDurableStore
    assert atomr.ddata_lmdb.RedbDurableStore is LmdbDurableStore


def test_persist_load_delete_and_sorted_keys(lmdb):
    lmdb.persist("b", b"2")
    lmdb.persist("a", b"\x00one")
    lmdb.persist("é", b"unicode key")
    assert lmdb.load("a") == b"\x00one"
    assert lmdb.load("missing") is None
    assert lmdb.keys() == ["a", "b", "é"]
    assert lmdb.contains("b") and not lmdb.contains("zz")
    lmdb.delete_marker("a")
    lmdb.delete_marker("a")  # absent: a no-op
    assert lmdb.load("a") is None
    assert lmdb.load_all() == {"b": b"2", "é": b"unicode key"}


def test_values_survive_reopening_the_file(tmp_path):
    with LmdbDurableStore(tmp_path / "dd.mdb") as store:
        store.persist("k", b"v" * 100_000)
    with LmdbDurableStore(tmp_path / "dd.mdb") as again:
        assert again.load("k") == b"v" * 100_000


def test_tmp_opens_a_fresh_database_file():
    store = RedbDurableStore.tmp()
    try:
        assert os.path.isfile(store.path) and store.keys() == []
    finally:
        store.close()


def test_a_file_can_be_open_only_once_per_process(lmdb):
    with pytest.raises(DurableStoreError, match="already open"):
        LmdbDurableStore(lmdb.path)
    lmdb.close()
    LmdbDurableStore(lmdb.path).close()


def test_a_closed_store_refuses_calls(lmdb):
    lmdb.close()
    lmdb.close()
    assert not lmdb.is_open
    with pytest.raises(DurableStoreError, match="closed"):
        lmdb.persist("k", b"v")


def test_io_errors_are_atomr_errors(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    with pytest.raises(AtomrError):
        LmdbDurableStore(blocker / "sub" / "dd.mdb")
    with pytest.raises(AtomrError):
        FileDurableStore(blocker / "sub")


def test_keys_longer_than_lmdb_allows_are_rejected(lmdb):
    with pytest.raises(DurableStoreError, match="at most"):
        lmdb.persist("k" * (MAX_KEY_BYTES + 1), b"v")
    lmdb.persist("k" * MAX_KEY_BYTES, b"v")


def test_the_map_grows_as_data_is_added(tmp_path):
    with LmdbDurableStore(tmp_path / "small.mdb", map_size=1024 * 1024) as store:
        blob = os.urandom(256 * 1024)
        for i in range(16):
            store.persist(f"k{i}", blob)
        assert len(store.keys()) == 16 and store.load("k15") == blob


def test_file_store_keeps_one_file_per_key(tmp_path):
    store = DurableStore.file(tmp_path / "dd")
    store.persist("alpha", b"1")
    store.persist("x" * 400, b"long key")   # hashed file name, key kept inside
    store.persist("alpha", b"2")            # atomic replace
    assert sorted(os.listdir(tmp_path / "dd")) == sorted(
        n for n in os.listdir(tmp_path / "dd") if n.endswith(".dd"))
    assert len(os.listdir(tmp_path / "dd")) == 2
    again = FileDurableStore(tmp_path / "dd")
    assert again.keys() == ["alpha", "x" * 400]
    assert again.load("alpha") == b"2" and again.load("x" * 400) == b"long key"
    again.delete_marker("alpha")
    again.delete_marker("alpha")
    assert again.keys() == ["x" * 400]


def test_file_store_reports_a_foreign_file(tmp_path):
    store = FileDurableStore(tmp_path)
    store.persist("k", b"v")
    (name,) = os.listdir(tmp_path)
    (tmp_path / name).write_bytes(b"garbage")
    with pytest.raises(DurableStoreError, match="not a durable entry"):
        store.load("k")


def test_noop_store_keeps_nothing():
    store = DurableStore.noop()
    assert isinstance(store, NoopDurableStore) and not store.is_durable
    store.persist("k", b"v")
    assert store.load("k") is None and store.keys() == [] and not store.contains("k")


def test_store_keys_must_be_non_empty_strings(lmdb, tmp_path):
    with pytest.raises(ValueError):
        lmdb.persist("", b"v")
    with pytest.raises(ValueError):
        FileDurableStore(tmp_path / "f").persist("", b"v")
    with pytest.raises(TypeError):
        lmdb.persist("k", "text")
