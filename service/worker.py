"""Worker entry point for `celery -A service.worker worker` and `celery -A service.worker beat`."""

from service import create_app, logs
from service.config import Settings

settings = Settings.from_env()
# Before the app is built, so that even its start-up warnings are lines in the configured format.
logs.configure(settings, service=True)
logs.hand_celery_our_logging()
app = create_app(settings)
celery = app.extensions["celery"]
