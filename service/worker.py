"""Worker entry point for `celery -A service.worker worker` and `celery -A service.worker beat`."""

from service import create_app, logs

app = create_app()
logs.configure(app.extensions["triage"].settings, service=True)
logs.hand_celery_our_logging()
celery = app.extensions["celery"]
