"""Adapters that put the core into other frameworks (imported only when used)."""
