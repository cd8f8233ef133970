"""The one table of legal case status transitions (pure code, no I/O)."""

from __future__ import annotations

from models.enums import CaseAction, CaseStatus

_OPEN = (CaseStatus.NEW, CaseStatus.ACKNOWLEDGED, CaseStatus.VERIFYING)

# (action, from status) -> to status. Anything not listed is illegal.
TRANSITIONS: dict[tuple[CaseAction, CaseStatus], CaseStatus] = {
    (CaseAction.ACKNOWLEDGE, CaseStatus.NEW): CaseStatus.ACKNOWLEDGED,
    (CaseAction.VERIFY, CaseStatus.NEW): CaseStatus.VERIFYING,
    (CaseAction.VERIFY, CaseStatus.ACKNOWLEDGED): CaseStatus.VERIFYING,
    **{(CaseAction.RESOLVE, s): CaseStatus.RESOLVED for s in _OPEN},
    **{(CaseAction.REJECT, s): CaseStatus.REJECTED for s in _OPEN},
    # A reassigned case starts over at the new ward, which must acknowledge it itself.
    **{(CaseAction.REASSIGN, s): CaseStatus.NEW for s in _OPEN},
    # "Not solved": back to the ward, in hand, with fresh deadlines.
    (CaseAction.REOPEN, CaseStatus.RESOLVED): CaseStatus.ACKNOWLEDGED,
}

# Actions that are log-book lines only: legal in any open status, the status stays.
NOTE_ACTIONS = frozenset(
    {
        CaseAction.TAKE,
        CaseAction.NOTE,
        CaseAction.ASK,
        CaseAction.ANSWER,
        CaseAction.URGENT,
        CaseAction.ESCALATE,
        CaseAction.TAKE_OVER,
        CaseAction.SEND_BACK,
        CaseAction.REFER,
        CaseAction.MERGE,
        CaseAction.UNMERGE,
        CaseAction.JOIN,
        CaseAction.SATISFACTION,
        CaseAction.REMIND,
    }
)


class IllegalTransition(Exception):
    """Raised when an action is not allowed from a case's current status."""

    def __init__(self, action: CaseAction, current: CaseStatus) -> None:
        super().__init__(f"cannot {action.value} a case that is {current.value}")
        self.action = action
        self.current = current


def next_status(action: CaseAction, current: CaseStatus) -> CaseStatus:
    """Return the status `action` leads to from `current`, or raise IllegalTransition."""
    try:
        return TRANSITIONS[(action, current)]
    except KeyError:
        raise IllegalTransition(action, current) from None


def allowed_actions(current: CaseStatus) -> list[CaseAction]:
    """Actions that are legal from `current`, in table order."""
    return [action for (action, status) in TRANSITIONS if status == current]
