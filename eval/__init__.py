"""Evaluation entry point: ``python -m eval`` is the same as ``rag eval``."""
