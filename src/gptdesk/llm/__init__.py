"""The LLM gateway: providers, prices, the chat flow."""
