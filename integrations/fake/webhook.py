"""Signed generic webhooks, as the fake helpdesk (or any sender) sends them: the format is Triage's own."""

from service.core.signing import signed_delivery

__all__ = ["signed_delivery"]
