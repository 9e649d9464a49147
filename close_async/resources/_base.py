"""What every endpoint family shares: paths, endpoint groups, and the verbs' plumbing."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, TypeVar

from .._convert import StructureError, structure, structure_many
from .._exceptions import ResponseValidationError
from .._pagination import FetchPage, Items, PageOf, paginate
from .._params import check_id
from .._transport import Transport

__all__ = ["Resource"]

M = TypeVar("M")


class Resource:
    """One endpoint family (``sequence/``, ``sequence_subscription/``...)."""

    #: The collection path relative to the API root, with Close's trailing slash.
    collection: ClassVar[str]

    def __init__(self, transport: Transport, *, prefetch: int) -> None:
        self._transport = transport
        self._prefetch = prefetch

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.collection}>"

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

    def _structure(self, data: object, model: type[M], method: str, path: str) -> M:
        try:
            return structure(data, model)
        except StructureError as exc:
            raise _invalid(exc, method, path) from None

    async def _get(self, model: type[M], id: object) -> M:
        path = self._detail(id)
        return self._structure(await self._request("GET", path), model, "GET", path)

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
    ) -> FetchPage[M]:
        """Make the function that fetches one page; ``limiter`` (a semaphore) bounds the
        requests of a fan-out, pages fetched ahead included."""
        path = self.collection

        async def fetch(skip: int, size: int) -> PageOf[M]:
            query: dict[str, str | int] = {**params, "_skip": skip, "_limit": size}
            if limiter is None:
                data = await self._request("GET", path, params=query)
            else:
                async with limiter:
                    data = await self._request("GET", path, params=query)
            return self._page(data, model, path)

        return fetch

    def _page(self, data: object, model: type[M], path: str) -> PageOf[M]:
        if not isinstance(data, dict):
            raise _invalid(StructureError("expected a JSON object", "$"), "GET", path)
        has_more = data.get("has_more")
        if not isinstance(has_more, bool):
            # Guessing here would either stop early (lose records) or never stop.
            raise _invalid(StructureError("expected true or false", "$.has_more"), "GET", path)
        try:
            items = structure_many(data.get("data"), model, owned=True)  # a fresh page
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
    ) -> Items[M]:
        pages = paginate(
            self._page_fetcher(model, params),
            page_size=page_size,
            limit=limit,
            prefetch=self._prefetch,
        )
        return Items(pages)


def _invalid(exc: StructureError, method: str, path: str) -> ResponseValidationError:
    return ResponseValidationError(
        f"{method} {path}: Close's answer does not fit the expected shape: {exc}",
        method=method,
        path=path,
        field=exc.field,
    )
