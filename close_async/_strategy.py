"""Which read of many subscriptions costs the fewest requests: per ID, or by sequence.

A bulk job pays in requests (Close's rate limit sets its pace), so ``list_many(strategy=
"auto")`` estimates the requests of each way before it sends any list request, and takes the
cheaper:

- per ID: one request per input ID, more for an ID with more than a page of subscriptions
  (which nothing tells in advance: the estimate is a lower bound);
- by sequence: the look-ups (the pages of the sequence list, then one fetch per sequence for
  its ``subscription_counts_by_status``, which the list does not carry) plus the pages those
  counts imply, read at known offsets.

The estimate is made in stages, so that look-ups are not paid for where they cannot pay off:
a single ID goes per ID at once, and after listing the sequences, IDs no more than the
cheapest possible read by sequence still go per ID, before any count is fetched. A sequence
too long for Close's maximum ``_skip`` (when known) rules reading by sequence out.

Pure: numbers in, a ``Plan`` out.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ._defaults import AUTO, BY_SEQUENCE, PER_ID, STRATEGIES, Strategy
from ._frozen import EMPTY, freeze_mapping
from ._maxskip import last_skip, past_max_skip

__all__ = [
    "AUTO",
    "BY_SEQUENCE",
    "PER_ID",
    "STRATEGIES",
    "Plan",
    "Strategy",
    "by_sequence_requests",
    "choose",
    "pages",
    "plan_before_lookups",
    "plan_after_listing",
]


@attrs.frozen(kw_only=True)
class Plan:
    """How a run reads, why, and what each way was estimated to cost.

    Attributes:
        strategy: the read that runs: ``"per_id"`` or ``"by_sequence"``.
        reason: one sentence saying why, with the numbers it rests on.
        estimates: the requests each strategy was estimated to need (``per_id`` is a lower
            bound), for the strategies that were estimated; empty when none was.
    """

    strategy: str
    reason: str
    estimates: Mapping[str, int] = attrs.field(default=EMPTY, converter=freeze_mapping)


def pages(size: int, page_size: int) -> int:
    """The pages a list of ``size`` items takes (none for an empty list)."""
    return -(-size // page_size)


def by_sequence_requests(sizes: Mapping[str, int], *, page_size: int, lookups: int) -> int:
    """The requests of reading these sequences by known offsets, look-ups included (one
    page even for a count of 0: only ``has_more`` can say a list is empty)."""
    return lookups + sum(max(pages(size, page_size), 1) for size in sizes.values())


def _ids(n: int) -> str:
    return f"{n:,} ID{'' if n == 1 else 's'}"


def plan_before_lookups(n_ids: int | None) -> Plan | None:
    """Decide without any request when that is possible (per ID); None: look further."""
    if n_ids is None:
        return Plan(
            strategy=PER_ID,
            reason="per ID: the input has no length (an iterator?), and reading by sequence "
            "needs every ID up front",
        )
    if n_ids <= 1:
        return Plan(
            strategy=PER_ID,
            reason=f"per ID: {_ids(n_ids)}, {n_ids} request; reading by sequence needs at "
            "least one to list the sequences",
            estimates={PER_ID: n_ids},
        )
    return None


def plan_after_listing(n_ids: int, n_sequences: int, list_requests: int) -> Plan | None:
    """Decide once the sequences are listed, if the IDs are too few for counts to pay off.

    Reading by sequence costs at least two more requests per sequence (its count, and its
    first page, which is read even when the count says 0), so IDs no more numerous than
    that go per ID without fetching any count.
    """
    floor = list_requests + 2 * n_sequences
    if n_ids > floor:
        return None
    return Plan(
        strategy=PER_ID,
        reason=f"per ID: {_ids(n_ids)}, about {n_ids:,} requests; reading the "
        f"{n_sequences:,} sequences by sequence needs at least {floor:,}",
        estimates={PER_ID: n_ids, BY_SEQUENCE: floor},
    )


def choose(
    n_ids: int,
    sizes: Mapping[str, int | None],
    *,
    page_size: int,
    list_requests: int,
    max_skip: int | None,
) -> Plan:
    """Choose once every sequence's size is known (``None``: Close did not say)."""
    unknown = [seq for seq, size in sizes.items() if size is None]
    if unknown:
        return Plan(
            strategy=PER_ID,
            reason=f"per ID: Close did not say how many subscriptions sequence {unknown[0]} "
            "has, so reading by sequence cannot be costed",
            estimates={PER_ID: n_ids},
        )
    known = {seq: size for seq, size in sizes.items() if size is not None}
    for seq, size in known.items():
        if past_max_skip(size, page_size, max_skip):
            return Plan(
                strategy=PER_ID,
                reason=f"per ID: sequence {seq} has {size:,} subscriptions; reading it by "
                f"sequence needs _skip={last_skip(size, page_size):,}, past the {max_skip:,} "
                "Close accepts",
                estimates={PER_ID: n_ids},
            )
    lookups = list_requests + len(known)
    by_sequence = by_sequence_requests(known, page_size=page_size, lookups=lookups)
    estimates = {PER_ID: n_ids, BY_SEQUENCE: by_sequence}
    if by_sequence < n_ids:
        return Plan(
            strategy=BY_SEQUENCE,
            reason=f"by sequence: {by_sequence:,} requests ({lookups:,} look-ups, "
            f"{by_sequence - lookups:,} pages of {len(known):,} sequences) instead of at least "
            f"{n_ids:,} per ID",
            estimates=estimates,
        )
    return Plan(
        strategy=PER_ID,
        reason=f"per ID: about {n_ids:,} requests, no more than the {by_sequence:,} reading by "
        "sequence needs",
        estimates=estimates,
    )
