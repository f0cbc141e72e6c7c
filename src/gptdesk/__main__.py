"""Lets `python -m gptdesk` run the command-line interface."""

from gptdesk.cli import app

app()
