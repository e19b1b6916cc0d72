"""Ingest: reading documents of every format into text (with pages), and cutting that text into chunks."""
