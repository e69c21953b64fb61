"""What every `triage` command shares: settings read once, with a bad one reported as a usage error."""

from __future__ import annotations

import click

from service.core.settings import ConfigError, Settings


def settings_from_env() -> Settings:
    """The settings from the environment; a bad setting ends the command with its message."""
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
