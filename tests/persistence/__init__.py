"""Tests of atomr.persistence (mirrors the package)."""
