"""Tests of atomr.ddata (mirrors the package)."""
