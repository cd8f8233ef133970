"""Who may see what of a case's reporters, chat by chat: one rule for every path into a group.

Quy chế 174 (Art. 5) keeps a reporter's identity, phone and address and the report's content
confidential. Every message about a case that goes to a group (the card and its redraws,
posts under the case, answers, joined reports, escalation, reassignment, merges, /case) is
rendered for that chat through an `Audience`, decided once per chat by `audience_of`:

- **The phone a reporter shared** reaches only where they gave it: the groups of the ward
  they reported to, while the case is that ward's. The province group sees it only while
  it stands in for that ward (the ward has no group linked: the province receives for it).
  A merge into another ward's case, or a reassignment to another ward, does not carry the
  phone along; the reporter is told so. The reporter's name is never shown (they were only
  asked for their phone).
- **What reporters typed** (description, address, suspected source, follow-ups, answers,
  joined reports) reaches the case's own ward's groups as written; everywhere else (the
  province group, standing in or overseeing, and any other ward) phone numbers and email
  addresses in it are masked. What officers typed (results, reasons, notes) is not masked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import services
from bot.i18n import t
from handlers.context import OFFICER_LOCALE

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from models.tables import Case, GroupLink

# A phone number as people type it: a "+" (international), a leading 0, or 84 (Việt Nam
# without the +), then 8 to 12 more digits, with spaces, dots, dashes or brackets between.
# Dates (2026-11-23), amounts (1.000.000.000), codes (PA20-000123) and coordinates do not
# start that way (not after a letter, a digit, or a digit and a dot or comma) or have too
# few digits.
_PHONE = re.compile(r"(?<![\w+])(?<!\d[.,])(?:\+|\(0|0|84)(?:[ .\-()\u00a0]{0,2}\d){8,12}(?!\d)")
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")


def mask_contacts(text: str) -> str:
    """`text` with phone numbers and email addresses replaced by a notice that they are hidden."""
    text = _EMAIL.sub(t(OFFICER_LOCALE, "card.masked_email"), text)
    return _PHONE.sub(t(OFFICER_LOCALE, "card.masked_phone"), text)


@dataclass(frozen=True)
class Audience:
    """What one chat may see of a case's reporters (see the module docstring)."""

    case_ward: str  # the case's ward when the message is rendered
    own_ward: bool = False  # a group of the case's ward: reporters' text as written
    stand_in: bool = False  # the province group receiving for the case's ward (no group)

    def sees_contact(self, contact_ward: str | None) -> bool:
        """Whether a phone shared with `contact_ward` may be shown in this chat."""
        return (
            contact_ward is not None
            and contact_ward == self.case_ward
            and (self.own_ward or self.stand_in)
        )

    def text(self, value: str) -> str:
        """A reporter's words as this chat may read them."""
        return value if self.own_ward else mask_contacts(value)

    def reporter(self, shared: bool, phone: str | None, contact_ward: str | None) -> str:
        """The reporter line: anonymous, the phone alone, or that it went to their ward only."""
        if not (shared and phone):
            return t(OFFICER_LOCALE, "card.anonymous")
        if not self.sees_contact(contact_ward):
            return t(OFFICER_LOCALE, "card.contact_ward_only")
        return phone


def nobody(case: Case) -> Audience:
    """The audience of a chat that may see nothing personal (masked text, no contact)."""
    return Audience(case.ward_code)


async def audience_of(session: AsyncSession, link: GroupLink | None, case: Case) -> Audience:
    """The audience of the chat of `link` for `case`, as things stand now."""
    if link is None or not link.active:
        return nobody(case)
    if link.ward_code is not None:
        return Audience(case.ward_code, own_ward=link.ward_code == case.ward_code)
    if link.province_code != case.province_code:
        return nobody(case)
    stand_in = not await services.ward_groups(session, case.ward_code)
    return Audience(case.ward_code, stand_in=stand_in)


async def contact_goes_to_stand_in(session: AsyncSession, ward_code: str) -> bool:
    """Whether a phone shared now with this ward would reach the province group instead
    (the ward has no group of its own): what the contact step tells the reporter."""
    return not await services.ward_groups(session, ward_code)
