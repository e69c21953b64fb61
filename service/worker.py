"""Worker entry point for `celery -A service.worker worker` and `celery -A service.worker beat`."""

from service import create_app

app = create_app()
celery = app.extensions["celery"]
