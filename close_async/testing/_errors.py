"""Close's 400 error bodies, raised by the store and the API layer alike."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

REQUIRED = "This field is required."
DOES_NOT_EXIST = "Object does not exist."


class RejectedError(ValueError):
    """Refuse a write the way Close does with a 400; `body` is the JSON error body."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        super().__init__(json.dumps(body))
        self.body: dict[str, Any] = dict(body)


def field_errors(errors: Mapping[str, str]) -> RejectedError:
    """Build a validation error: `{"errors": [], "field-errors": {field: message}}`."""
    return RejectedError({"errors": [], "field-errors": dict(errors)})


def general_error(message: str) -> RejectedError:
    """Build a non-field validation error: `{"errors": [message], "field-errors": {}}`."""
    return RejectedError({"errors": [message], "field-errors": {}})


def flat_error(message: str) -> RejectedError:
    """Build Close's simple error body `{"error": message}` (used for sequence steps)."""
    return RejectedError({"error": message})


def invalid_choice(value: object) -> str:
    """Return Close's message for an enum value it does not know."""
    return f'"{value}" is not a valid choice.'
