"""WSGI entry point of the ops app: /healthz, /readyz and /metrics without a token, on an address of its own.

    granian --interface wsgi --host 10.0.0.5 --port 9100 service.wsgi_ops:app

Bind it where only the scraper and the probes reach it (a private network, a sidecar port that is not published);
the public web app (service.wsgi) answers /readyz and /metrics only to a TRIAGE_METRICS_TOKEN bearer. Compose and
the Kubernetes manifests serve it over ASGI (service.asgi_ops), which holds throttled refusals back.
"""

import logging

from service import create_app
from service.core.settings import Settings
from service.infra import logs

settings = Settings.from_env()
logs.configure(settings, service=True)
for _name in ("_granian", "granian.access", "gunicorn.error", "gunicorn.access"):
    logging.getLogger(_name).handlers.clear()
    logging.getLogger(_name).propagate = True
app = create_app(settings, ops_only=True)
