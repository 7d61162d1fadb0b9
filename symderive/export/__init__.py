"""Exported files: written atomically, never over what the user did not mean to replace."""
