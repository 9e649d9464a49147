"""One module per endpoint family, each with the same verbs: list, get, create, update, delete."""

from .bulk_actions import BulkActions, BulkSequenceSubscriptions
from .sequences import Sequences
from .subscriptions import SequenceSubscriptions

__all__ = ["BulkActions", "BulkSequenceSubscriptions", "SequenceSubscriptions", "Sequences"]
