"""The exceptions of the event log reader and of webhook verification.

Part of the tree drawn in ``_exceptions.py``::

    CloseError
     ├── CheckpointExpiredError         changes(): the log no longer goes back that far
     └── WebhookVerificationError       a delivery that must not be trusted
          ├── WebhookHeaderMissingError  close-sig-hash or close-sig-timestamp missing
          ├── WebhookSignatureError      the signature does not match (wrong key, altered body)
          ├── WebhookTimestampError      the timestamp is too old (a replay?), or not one
          └── WebhookPayloadError        signed, but not a Close event

No message or attribute ever holds a signature key or the signature we computed.
"""

from __future__ import annotations

from datetime import datetime

from ._exceptions import CloseError

__all__ = [
    "CheckpointExpiredError",
    "WebhookHeaderMissingError",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "WebhookTimestampError",
    "WebhookVerificationError",
]


class CheckpointExpiredError(CloseError):
    """``changes()`` was asked to start before the oldest event Close still keeps.

    Close keeps about 30 days of events: changes older than that cannot be read, so the copy
    must be rebuilt by a full read (then ``changes_checkpoint()`` for what follows).

    Attributes:
        since: where reading would have had to start.
        oldest: the oldest time the log still covers (by this machine's clock).
    """

    def __init__(self, message: str, *, since: datetime, oldest: datetime) -> None:
        super().__init__(message)
        self.since = since
        self.oldest = oldest


class WebhookVerificationError(CloseError):
    """A webhook delivery failed verification: answer it with a 4xx and do not act on it."""


class WebhookHeaderMissingError(WebhookVerificationError):
    """The ``close-sig-hash`` or ``close-sig-timestamp`` header is missing (or empty)."""


class WebhookSignatureError(WebhookVerificationError):
    """The signature does not match the body: another key signed it, or the body changed."""


class WebhookTimestampError(WebhookVerificationError):
    """The signed timestamp is older than ``max_age`` (a replay?), too far in the future,
    or not a timestamp at all."""


class WebhookPayloadError(WebhookVerificationError):
    """The body is correctly signed but is not a Close event delivery."""
