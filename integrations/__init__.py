"""Helpdesk integrations; each folder has settings, client, webhook and adapter modules."""
