"""MX answers for many domains through one prober (``plan --check-mx``)."""

from __future__ import annotations

import asyncio

from mtasts.probes import MxAnswer, ProbeOptions, Prober


async def lookup_mx_async(
    names: list[str], options: ProbeOptions, concurrency: int = 64
) -> dict[str, MxAnswer]:
    """The MX answer of each name, at most ``concurrency`` lookups at once."""
    limit = asyncio.Semaphore(max(1, concurrency))
    async with Prober(options) as prober:

        async def one(name: str) -> MxAnswer:
            async with limit:
                return await prober.mx(name)

        answers = await asyncio.gather(*(one(n) for n in names))
    return dict(zip(names, answers, strict=True))
