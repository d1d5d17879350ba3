"""Helpers shared by the test tiers (paths, recordings, processes)."""
