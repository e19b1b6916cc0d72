"""Retrieve: dense, BM25 and hybrid search over the index, fusion, and the evidence a question gathers."""
