"""Concurrent writers: unique autonumbers, optimistic locking without lost updates."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from engine.actor import SYSTEM
from engine.errors import PreconditionFailed

THREADS = 8


def test_autonumber_stays_unique_under_concurrent_creates(workspace):
    def create_many(worker: int) -> list[str]:
        return [workspace.records.create(SYSTEM, "gadget", {"name": f"w{worker}-{i}"})["number"] for i in range(12)]

    with ThreadPoolExecutor(THREADS) as pool:
        numbers = [n for batch in pool.map(create_many, range(THREADS)) for n in batch]
    assert len(numbers) == len(set(numbers)) == THREADS * 12
    sequence = sorted(int(re.search(r"(\d+)$", n).group(1)) for n in numbers)
    assert sequence == list(range(1, THREADS * 12 + 1))  # no gaps, no duplicates


def test_stale_if_match_gets_412_and_only_one_writer_wins(workspace, client, admin):
    record = admin.post("gadget", {"name": "contested"}).get_json()

    def patch(worker: int) -> int:
        return admin.patch(
            f"gadget/{record['id']}", {"name": f"writer {worker}"}, headers={"If-Match": '"1"'}
        ).status_code

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = list(pool.map(patch, range(THREADS)))
    assert sorted(statuses) == [200] + [412] * (THREADS - 1)
    final = admin.get(f"gadget/{record['id']}").get_json()
    assert final["version"] == 2 and final["name"].startswith("writer ")


def test_read_modify_write_with_if_match_loses_no_update(workspace):
    record = workspace.records.create(SYSTEM, "gadget", {"name": "counter", "count": 0})

    def increment(_: int) -> int:
        retries = 0
        for _ in range(5):
            current = workspace.records.get(SYSTEM, "gadget", record["id"])
            try:
                workspace.records.update(
                    SYSTEM, "gadget", record["id"], {"count": current["count"] + 1}, if_match=current["version"]
                )
                return retries
            except PreconditionFailed:
                retries += 1
        for _ in range(200):  # under heavy contention keep trying; the point is that nothing is lost
            current = workspace.records.get(SYSTEM, "gadget", record["id"])
            try:
                workspace.records.update(
                    SYSTEM, "gadget", record["id"], {"count": current["count"] + 1}, if_match=current["version"]
                )
                return retries
            except PreconditionFailed:
                retries += 1
        raise AssertionError("could not apply the increment")

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(increment, range(THREADS * 4)))
    final = workspace.records.get(SYSTEM, "gadget", record["id"])
    assert final["count"] == THREADS * 4
    assert final["version"] == THREADS * 4 + 1
