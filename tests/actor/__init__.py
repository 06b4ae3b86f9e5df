"""Tests of atomr/actor."""
