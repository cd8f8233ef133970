"""What one citizen step costs the database, counted (not timed): statements and commits.

A typical step of a report (a button, a typed text, a location) is handled in one
transaction of at most four statements: the stored update claimed, the reporter read
with their conversation, the conversation written, the step's messages queued (one
multi-row INSERT; SQLite's driver cannot return several generated ids from one INSERT,
so there each message is its own INSERT and is not counted against the four).
"""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import event

from bot.app import Hotline
from bot.db import session_scope
from models.tables import InboundUpdate
from tests.harness import KY_LUA, Person

_ids = itertools.count(5_000_000)


class Counter:
    def __init__(self, hotline: Hotline) -> None:
        self.statements: list[str] = []
        self.commits = 0
        engine = hotline.engine.sync_engine
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def _statement(self, conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if not statement.startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            self.statements.append(statement)

    def _commit(self, conn: Any) -> None:
        self.commits += 1

    def reset(self) -> None:
        self.statements.clear()
        self.commits = 0

    def counted(self) -> int:
        """Statements, the step's message INSERTs counted as one."""
        inserts = [s for s in self.statements if s.startswith("INSERT INTO outbox")]
        return len(self.statements) - max(0, len(inserts) - 1)


async def test_a_typical_step_is_four_statements_and_one_commit(any_hotline: Hotline) -> None:
    citizen = Person(any_hotline, "7001")
    counter = Counter(any_hotline)
    costs: dict[str, tuple[int, int]] = {}

    async def step(label: str, kind: str, **fields: Any) -> None:
        uid = next(_ids)
        # As the receiver does: the update is in the inbox before it is handled.
        async with session_scope(any_hotline.sessionmaker) as session:
            session.add(
                InboundUpdate(
                    channel="telegram", update_id=uid, payload={"update_id": uid}, chat_key="7001"
                )
            )
        counter.reset()
        await citizen.send(kind, update_id=uid, **fields)
        costs[label] = (counter.counted(), counter.commits)

    await step("report", "command", command="report")
    await step("category", "button", button_data="c1:cat:emissions")
    lat, lon = KY_LUA
    await step("location", "location", latitude=lat, longitude=lon)
    await step("ward", "button", button_data="c1:ward:06187")
    await step("done photos", "button", button_data="c1:ev:done")
    await step("description", "text", text="Khói đen bốc ra từ nhà máy gạch mỗi tối.")
    await step("nature", "button", button_data="c1:nat:recurring")
    await step("source", "button", button_data="c1:src:skip")
    assert await citizen.state() == "contact", costs
    # Not typical: the first /report (the reporter created, a new draft) and the step
    # before the contact question (whether the ward has an officer group decides what the
    # reporter is told about sharing a phone): one read more each.
    typical = {k: cost for k, cost in costs.items() if k not in ("report", "source")}
    assert all(statements <= 4 for statements, _ in typical.values()), repr(costs)
    assert costs["source"][0] <= 5 and costs["report"][0] <= 7, repr(costs)
    assert all(commits == 1 for _, commits in costs.values()), costs
