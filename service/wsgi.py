"""WSGI entry point: `granian --interface wsgi service.wsgi:app` (or `gunicorn service.wsgi:app`)."""

import logging

from service import create_app
from service.core.settings import Settings
from service.infra import logs

settings = Settings.from_env()
# Before the app is built, so that even its start-up warnings are lines in the configured format.
logs.configure(settings, service=True)
# The server's own lines (granian's or gunicorn's workers) go through our handler too, in the same format.
for _name in ("_granian", "granian.access", "gunicorn.error", "gunicorn.access"):
    logging.getLogger(_name).handlers.clear()
    logging.getLogger(_name).propagate = True
app = create_app(settings)
