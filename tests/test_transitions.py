"""The transition table: every legal move allowed, every other move refused."""

from __future__ import annotations

import itertools

import pytest

from models.enums import CaseAction, CaseStatus
from models.transitions import TRANSITIONS, IllegalTransition, allowed_actions, next_status

LEGAL = {
    (CaseAction.ACKNOWLEDGE, CaseStatus.NEW): CaseStatus.ACKNOWLEDGED,
    (CaseAction.VERIFY, CaseStatus.NEW): CaseStatus.VERIFYING,
    (CaseAction.VERIFY, CaseStatus.ACKNOWLEDGED): CaseStatus.VERIFYING,
    (CaseAction.RESOLVE, CaseStatus.NEW): CaseStatus.RESOLVED,
    (CaseAction.RESOLVE, CaseStatus.ACKNOWLEDGED): CaseStatus.RESOLVED,
    (CaseAction.RESOLVE, CaseStatus.VERIFYING): CaseStatus.RESOLVED,
    (CaseAction.REJECT, CaseStatus.NEW): CaseStatus.REJECTED,
    (CaseAction.REJECT, CaseStatus.ACKNOWLEDGED): CaseStatus.REJECTED,
    (CaseAction.REJECT, CaseStatus.VERIFYING): CaseStatus.REJECTED,
    (CaseAction.REASSIGN, CaseStatus.NEW): CaseStatus.NEW,
    (CaseAction.REASSIGN, CaseStatus.ACKNOWLEDGED): CaseStatus.NEW,
    (CaseAction.REASSIGN, CaseStatus.VERIFYING): CaseStatus.NEW,
    (CaseAction.REOPEN, CaseStatus.RESOLVED): CaseStatus.ACKNOWLEDGED,
}


def test_table_is_exactly_the_documented_one() -> None:
    assert TRANSITIONS == LEGAL


@pytest.mark.parametrize(("action", "status"), list(itertools.product(CaseAction, CaseStatus)))
def test_every_pair_is_allowed_or_refused(action: CaseAction, status: CaseStatus) -> None:
    if (action, status) in LEGAL:
        assert next_status(action, status) == LEGAL[(action, status)]
    else:
        with pytest.raises(IllegalTransition):
            next_status(action, status)


def test_closed_cases_allow_nothing() -> None:
    assert allowed_actions(CaseStatus.RESOLVED) == [CaseAction.REOPEN]  # "not solved"
    assert allowed_actions(CaseStatus.REJECTED) == []
    assert CaseAction.ACKNOWLEDGE in allowed_actions(CaseStatus.NEW)
    assert CaseAction.ACKNOWLEDGE not in allowed_actions(CaseStatus.ACKNOWLEDGED)
