"""Verification of every derived gradient: symbolic proof at a small size, finite differences, external references."""
