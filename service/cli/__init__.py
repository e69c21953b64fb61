"""The `triage` command: a Flask CLI group with Triage's own commands, one module per group."""

from __future__ import annotations

import logging

import click
from flask import Flask
from flask.cli import FlaskGroup

from service import create_app
from service.cli import intents, models, operations, serving, setup, similar
from service.cli.common import INTERACTIVE_LOG, CountingFileHandler, settings_from_env
from service.core.settings import ConfigError, Settings
from service.infra import logs

# Long-running commands whose lines go to a log collector (JSON when TRIAGE_LOG_FORMAT is auto); the others log
# to a file, since a person reads their terminal.
SERVICE_COMMANDS = ("serve", "worker")


def _app() -> Flask:
    return create_app(settings_from_env())


@click.group(cls=FlaskGroup, create_app=_app, add_version_option=False, load_dotenv=False)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help=f"Log to the terminal, not to {INTERACTIVE_LOG} (commands that serve always do).",
)
def main(verbose: bool) -> None:
    """Triage: classify and route helpdesk tickets on your own machines."""
    ctx = click.get_current_context()
    command = ctx.invoked_subcommand
    try:
        settings = Settings.from_env()
    except ConfigError:
        settings = Settings()  # the command itself reports the bad setting; log with the defaults until then
    if verbose or command in SERVICE_COMMANDS:
        logs.configure(settings, service=command in SERVICE_COMMANDS)
    else:
        handler = CountingFileHandler(INTERACTIVE_LOG)
        logs.configure(settings, service=False, handler=handler)

        def say_where() -> None:
            if handler.lines:
                click.echo(
                    f"({handler.lines} log lines in {INTERACTIVE_LOG}; `triage -v ...` shows them here)", err=True
                )

        ctx.call_on_close(say_where)
    if command == "worker":
        logs.hand_celery_our_logging()
    else:
        # The embedded worker's per-task lines would drown the demo's and serve's own output.
        logging.getLogger("celery").setLevel(logging.WARNING)


for _command in (
    setup.config,
    setup.db,
    models.train,
    models.classify,
    models.models,
    models.evaluate_command,
    serving.serve,
    serving.worker,
    operations.tickets,
    operations.writebacks,
    operations.users,
    operations.feedback,
    intents.intents,
    similar.similar,
    serving.demo,
):
    main.add_command(_command)
