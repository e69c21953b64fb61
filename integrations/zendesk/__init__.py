"""Zendesk Support: webhooks in (triggers and event subscriptions), ticket updates and internal notes out."""
