"""Tests of atomr/_util."""
