"""WSGI entry point for gunicorn: `gunicorn service.wsgi:app`."""

import logging

from service import create_app, logs

app = create_app()
logs.configure(app.extensions["triage"].settings, service=True)
# Gunicorn's worker lines (boot, timeouts) go through our handler too, in the same format.
for _name in ("gunicorn.error", "gunicorn.access"):
    logging.getLogger(_name).handlers.clear()
    logging.getLogger(_name).propagate = True
