"""What every endpoint family shares: paths, endpoint groups, and the verbs' plumbing."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, TypeVar

from .._convert import StructureError, structure, structure_many
from .._exceptions import BadRequestError, ResponseValidationError
from .._fanout import Host
from .._fields import fields_param
from .._maxskip import as_max_skip_error, known_max_skip
from .._pagination import FetchPage, Items, PageOf, paginate
from .._params import check_id
from .._transport import Transport

__all__ = ["Resource"]

M = TypeVar("M")


class Resource:
    """One endpoint family (``sequence/``, ``sequence_subscription/``...)."""

    #: The collection path relative to the API root, with Close's trailing slash.
    collection: ClassVar[str]
    #: What to do about a list longer than Close's maximum ``_skip`` (see ``MaxSkipError``).
    _too_long_hint: ClassVar[str] = (
        "Read it in smaller parts (Close suggests ranges of date_created, or its Export API)."
    )

    def __init__(self, transport: Transport, *, prefetch: int) -> None:
        self._transport = transport
        self._prefetch = prefetch
        #: The largest ``_skip`` Close accepts on this family's lists, once an answer said.
        self._max_skip: int | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.collection}>"

    def _host(self) -> Host:
        """What a fan-out over this family needs from the client (see ``FanOut``)."""
        transport = self._transport
        return Host(
            max_concurrency=transport.max_concurrency,
            adopt=transport.adopt,
            is_closed=lambda: transport.closed,
        )

    def _detail(self, id: object) -> str:
        return f"{self.collection}{check_id(id)}/"

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: object = None,
    ) -> Any:
        # The endpoint, method + collection: the rate-limit gate maps it to Close's endpoint
        # group (see EndpointGroups; by default the reads of a resource, or its writes).
        endpoint = f"{method} {self.collection}"
        return await self._transport.request(
            method, path, group=endpoint, params=params, json_body=body
        )

    def _structure(
        self,
        data: object,
        model: type[M],
        method: str,
        path: str,
        *,
        fields: frozenset[str] | None = None,
    ) -> M:
        try:
            return structure(data, model, fields=fields)
        except StructureError as exc:
            raise _invalid(exc, method, path) from None

    async def _get(self, model: type[M], id: object, *, fields: frozenset[str] | None = None) -> M:
        """Fetch one object; ``fields`` (checked, see _fields.py) asks for those only."""
        path = self._detail(id)
        params = None if fields is None else {"_fields": fields_param(fields, model)}
        data = await self._request("GET", path, params=params)
        return self._structure(data, model, "GET", path, fields=fields)

    async def _create(self, model: type[M], body: Mapping[str, Any]) -> M:
        data = await self._request("POST", self.collection, body=body)
        return self._structure(data, model, "POST", self.collection)

    async def _update(self, model: type[M], id: object, body: Mapping[str, Any]) -> M:
        path = self._detail(id)
        if not body:
            raise ValueError("nothing to update: pass at least one field to change")
        return self._structure(await self._request("PUT", path, body=body), model, "PUT", path)

    async def _delete(self, id: object) -> None:
        # Close answers 200 with {} (or an empty body, or 204); all mean "deleted".
        await self._request("DELETE", self._detail(id))

    def _page_fetcher(
        self,
        model: type[M],
        params: Mapping[str, str | int],
        *,
        limiter: AbstractAsyncContextManager[Any] | None = None,
        fields: frozenset[str] | None = None,
    ) -> FetchPage[M]:
        """Make the function that fetches one page; ``limiter`` (a semaphore) bounds the
        requests of a fan-out, pages fetched ahead included; ``fields`` (checked, see
        _fields.py) asks for those fields only and makes partial models."""
        path = self.collection
        base: dict[str, str | int] = dict(params)
        if fields is not None:
            base["_fields"] = fields_param(fields, model)

        async def fetch(skip: int, size: int) -> PageOf[M]:
            query: dict[str, str | int] = {**base, "_skip": skip, "_limit": size}
            try:
                if limiter is None:
                    data = await self._request("GET", path, params=query)
                else:
                    async with limiter:
                        data = await self._request("GET", path, params=query)
            except BadRequestError as exc:
                too_deep = as_max_skip_error(
                    exc, path=path, filters=params, skip=skip, hint=self._too_long_hint
                )
                if too_deep is None:
                    raise
                # Later reads plan around it (see strategy="auto").
                known = known_max_skip(too_deep)
                self._max_skip = known if self._max_skip is None else min(self._max_skip, known)
                raise too_deep from None
            return self._page(data, model, path, fields)

        return fetch

    def _page(
        self, data: object, model: type[M], path: str, fields: frozenset[str] | None = None
    ) -> PageOf[M]:
        if not isinstance(data, dict):
            raise _invalid(StructureError("expected a JSON object", "$"), "GET", path)
        has_more = data.get("has_more")
        if not isinstance(has_more, bool):
            # Guessing here would either stop early (lose records) or never stop.
            raise _invalid(StructureError("expected true or false", "$.has_more"), "GET", path)
        try:
            # A fresh page, owned: its items become the models' __dict__, uncopied.
            items = structure_many(data.get("data"), model, owned=True, fields=fields)
        except StructureError as exc:
            raise _invalid(exc, "GET", path) from None
        return PageOf(items, has_more)

    def _iterate(
        self,
        model: type[M],
        params: Mapping[str, str | int],
        *,
        page_size: int,
        limit: int | None,
        fields: frozenset[str] | None = None,
    ) -> Items[M]:
        pages = paginate(
            self._page_fetcher(model, params, fields=fields),
            page_size=page_size,
            limit=limit,
            prefetch=self._prefetch,
            path=self.collection,
        )
        return Items(pages)


def _invalid(exc: StructureError, method: str, path: str) -> ResponseValidationError:
    return ResponseValidationError(
        f"{method} {path}: Close's answer does not fit the expected shape: {exc}",
        method=method,
        path=path,
        field=exc.field,
    )
