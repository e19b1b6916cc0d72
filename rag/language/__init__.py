"""Language: sentences and their units, the embedding model, spaCy, and what kind of answer a question wants."""
