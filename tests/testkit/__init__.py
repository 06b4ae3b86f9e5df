"""Tests of atomr.testkit (mirrors the package)."""
