"""Judging hand-derived claims against the engine: compare, prove, diagnose.

Importing the package registers how each node of a claim evaluates (:mod:`symderive.judge.evaluate`).
"""
from symderive.judge import evaluate  # noqa: F401  (registers the claim nodes with the reference interpreter)
