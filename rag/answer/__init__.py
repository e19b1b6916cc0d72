"""Answer: reading the evidence into verified quotes, the refusal decision, short answers and LLM answering."""
