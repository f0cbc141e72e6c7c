"""LLM providers: what the chat flow calls to get an answer, streamed."""
