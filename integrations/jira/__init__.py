"""Jira (Cloud, Data Center, Service Management): admin webhooks in, field edits and internal comments out."""
