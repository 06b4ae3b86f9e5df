"""Tests of atomr/routing."""
