"""Judging hand-derived claims against the engine: compare, prove, diagnose."""
