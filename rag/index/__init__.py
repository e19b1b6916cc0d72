"""Index: the Chroma store with its manifest, BM25 and sentence vectors, the writer lease, and indexing a corpus."""
