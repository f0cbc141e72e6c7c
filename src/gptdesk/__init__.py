"""GPT Desk: a self-hosted backend for governed company GPT assistants."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gptdesk")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
