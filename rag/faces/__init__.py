"""Faces: the CLI, the chat, the HTTP/OpenAI server and the MCP server, thin over ``rag.core``."""
