"""The Jira REST calls Triage makes (v2 everywhere: Data Center has no v3, and v2 takes plain text)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from integrations.http import call
from integrations.jira.settings import JiraSettings


class JiraClient:
    def __init__(self, settings: JiraSettings) -> None:
        self.settings = settings
        self.http = requests.Session()
        self.http.headers.update(
            {"Authorization": settings.auth_header, "Accept": "application/json", "User-Agent": "triage/0.1"}
        )

    def _url(self, path: str, key: str) -> str:
        return f"{self.settings.base_url}{path.format(key=quote(key, safe=''))}"

    def get_issue(self, key: str) -> dict[str, Any]:
        # Reference: https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-issues/#api-rest-api-2-issue-issueidorkey-get
        response = call(
            self.http,
            "GET",
            self._url("/rest/api/2/issue/{key}", key),
            timeout=self.settings.timeout_s,
            params={
                "fields": "summary,description,reporter,creator,labels,components,project,"
                "issuetype,status,priority,created"
            },
        )
        return response.json()

    def edit_issue(self, key: str, body: dict[str, Any]) -> None:
        # Reference: https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-issues/#api-rest-api-2-issue-issueidorkey-put
        call(
            self.http,
            "PUT",
            self._url("/rest/api/2/issue/{key}", key),
            timeout=self.settings.timeout_s,
            json=body,
            params={"notifyUsers": "false"},
        )

    def link_duplicate(self, key: str, earlier: str) -> None:
        """Link issue `key` to the `earlier` issue it duplicates, with Jira's built-in Duplicate link type."""
        # Reference: https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-issue-links/#api-rest-api-2-issuelink-post
        # The outward issue is the one the link starts from: `key` "duplicates" `earlier`, which "is duplicated by" it.
        body = {"type": {"name": "Duplicate"}, "outwardIssue": {"key": key}, "inwardIssue": {"key": earlier}}
        call(
            self.http,
            "POST",
            f"{self.settings.base_url}/rest/api/2/issueLink",
            timeout=self.settings.timeout_s,
            json=body,
        )

    def add_public_comment(self, key: str, text: str) -> None:
        """A comment the requester sees: a public request comment (Service Management) or an unrestricted one."""
        self._comment(key, text, public=True)

    def add_internal_comment(self, key: str, text: str) -> None:
        """A comment only agents see: an internal request comment, or one limited to the configured role."""
        self._comment(key, text, public=False)

    def _comment(self, key: str, text: str, *, public: bool) -> None:
        if self.settings.comment_mode == "servicedesk":
            # Reference: https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-request/#api-rest-servicedeskapi-request-issueidorkey-comment-post
            path, body = "/rest/servicedeskapi/request/{key}/comment", {"body": text, "public": public}
        else:
            # Reference: https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-issue-comments/#api-rest-api-2-issue-issueidorkey-comment-post
            visibility = {} if public else {"visibility": dict(self.settings.comment_visibility or {})}
            path, body = "/rest/api/2/issue/{key}/comment", {"body": text, **visibility}
        call(self.http, "POST", self._url(path, key), timeout=self.settings.timeout_s, json=body)
