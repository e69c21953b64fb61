"""The error every review action raises when it cannot be applied."""

from __future__ import annotations


class ReviewError(Exception):
    """An action from the review page cannot be applied; the message says what to do instead."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
