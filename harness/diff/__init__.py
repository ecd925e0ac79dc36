"""Diff engine: capture both sides, judge the named checks, build the report."""
