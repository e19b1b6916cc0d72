"""Evaluation of retrieval, answers, citations and abstention against a JSONL dataset."""
