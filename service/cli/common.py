"""What every `triage` command shares: settings read once, with a bad one reported as a usage error."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from service.core.settings import ConfigError, Settings

# Where interactive commands' log lines go, so the terminal keeps what the command prints (`triage -v` undoes it).
INTERACTIVE_LOG = Path("var/log/triage.log")


class CountingFileHandler(logging.FileHandler):
    """Appends to a log file, opened only when the first line comes, and counts the lines."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path, encoding="utf-8", delay=True)
        self.lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.lines += 1
        super().emit(record)


def settings_from_env() -> Settings:
    """The settings from the environment; a bad setting ends the command with its message."""
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
