"""Runnable examples: an API to put behind the gateway and the `make run` demo."""
