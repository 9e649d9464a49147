"""The fake's default credentials and choices, apart from the server itself, so that a command
line can describe its options without importing aiohttp's server."""

from __future__ import annotations

__all__ = ["DEFAULT_API_KEY", "DEFAULT_OAUTH_TOKEN", "RATELIMIT_SEPARATORS"]

DEFAULT_API_KEY = "fake-close-api-key"
DEFAULT_OAUTH_TOKEN = "fake-close-oauth-token"
RATELIMIT_SEPARATORS = (",", ";")
