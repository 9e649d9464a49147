"""Close's two authentication schemes: Basic with the API key as user name, and Bearer."""

from __future__ import annotations

import base64
import binascii


def basic_authorization(api_key: str) -> str:
    """Return the `Authorization` value a client sends for `api_key` (empty password)."""
    return "Basic " + base64.b64encode(f"{api_key}:".encode()).decode("ascii")


def bearer_authorization(token: str) -> str:
    """Return the `Authorization` value a client sends for an OAuth access token."""
    return f"Bearer {token}"


class Credentials:
    """Know the accepted API keys and OAuth tokens; tell who sent a request."""

    def __init__(self) -> None:
        self._api_keys: set[str] = set()
        self._tokens: set[str] = set()
        # The exact header values clients usually send, to answer most requests in one lookup.
        self._by_header: dict[str, str] = {}

    def add_api_key(self, api_key: str) -> None:
        """Accept `api_key` as the user name of Basic authentication."""
        if not api_key:
            raise ValueError("api_key must not be empty")
        self._api_keys.add(api_key)
        self._by_header[basic_authorization(api_key)] = api_key

    def add_oauth_token(self, token: str) -> None:
        """Accept `token` as a Bearer token."""
        if not token:
            raise ValueError("oauth_token must not be empty")
        self._tokens.add(token)
        self._by_header[bearer_authorization(token)] = token

    def identify(self, authorization: str | None) -> str | None:
        """Return the API key or token an `Authorization` header carries if accepted, else None."""
        if authorization is None:
            return None
        known = self._by_header.get(authorization)
        if known is not None:
            return known
        # Other spellings: any scheme case, extra spaces, a password after the key.
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            return value if value in self._tokens else None
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user = decoded.partition(":")[0]
        return user if user in self._api_keys else None
