"""Secret values: never shown in repr, str or logs; a secret may hold several values (old and new keys)."""

from __future__ import annotations


class Secret:
    """A string that never shows itself in repr, str or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__


def secret_list(secret: Secret | str) -> list[str]:
    """The values of a secret that holds several: comma-separated, or one per line (as in a *_FILE)."""
    raw = secret.reveal() if isinstance(secret, Secret) else secret
    return [part.strip() for line in raw.splitlines() for part in line.split(",") if part.strip()]
