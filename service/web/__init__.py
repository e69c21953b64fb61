"""HTTP blueprints: webhooks, the JSON API, and operations endpoints."""
