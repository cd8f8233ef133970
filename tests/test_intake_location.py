"""The location and ward-choice steps: unrecognised places, addresses and names typed again."""

from __future__ import annotations

from bot.app import Hotline
from bot.i18n import t
from tests.harness import KY_LUA, Person, advance_to, buttons

ADDRESS_KY_LUA = "so 12 duong Tran Dang Ninh, phuong Hoang Van Thu, thanh pho Lang Son"


def ward_buttons(row: object) -> list[str]:
    """The ward choices offered in a message."""
    return [data for data in buttons(row) if data.startswith("c1:ward:")]  # type: ignore[arg-type]


async def at_location(hotline: Hotline, user: str = "1001") -> Person:
    """A citizen asked for the place of a report."""
    citizen = Person(hotline, user)
    await advance_to(citizen, "location")
    await citizen.new_messages()
    return citizen


async def test_nonsense_is_not_recognised_and_no_ward_is_offered(hotline: Hotline) -> None:
    citizen = await at_location(hotline)
    await citizen.text("thoi khong bao nua")
    (answer,) = await citizen.new_messages()
    assert ward_buttons(answer) == []  # no random ward (it offered Xã Hội Hoan)
    expected = t("vi", "intake.place_not_found", text="thoi khong bao nua", province="Lạng Sơn")
    assert answer.payload["text"] == expected
    assert await citizen.state() == "ward"
    assert (await citizen.draft())["suggestions"] == []


async def test_after_an_unplaced_address_a_real_address_is_accepted(hotline: Hotline) -> None:
    citizen = await at_location(hotline)
    await citizen.text("gần cây xăng cũ")
    await citizen.new_messages()
    await citizen.text(ADDRESS_KY_LUA)  # was refused: only ward names were accepted here
    ask = await citizen.last()
    assert ward_buttons(ask)[0] == "c1:ward:06187"
    assert ADDRESS_KY_LUA in ask.payload["text"]
    draft = await citizen.draft()
    assert draft["address"] == ADDRESS_KY_LUA and draft["location_source"] == "address"
    await citizen.press("c1:ward:06187")
    assert await citizen.state() == "evidence"
    assert (await citizen.draft())["ward_code"] == "06187"


async def test_after_an_unplaced_address_the_ward_name_keeps_the_address(
    hotline: Hotline,
) -> None:
    citizen = await at_location(hotline)
    await citizen.text("ngõ 5 gần cây xăng cũ")
    await citizen.new_messages()
    await citizen.text("Kỳ Lừa")
    ask = await citizen.last()
    assert ward_buttons(ask) == ["c1:ward:06187"]
    assert (await citizen.draft())["address"] == "ngõ 5 gần cây xăng cũ"
    await citizen.press("c1:ward:06187")
    assert (await citizen.draft())["ward_code"] == "06187"


async def test_an_old_address_typed_at_the_ward_step_replaces_the_suggestions(
    hotline: Hotline,
) -> None:
    citizen = await at_location(hotline)
    await citizen.text("xa Cao Loc")
    assert ward_buttons(await citizen.last())[0] == "c1:ward:06193"
    await citizen.text("thon Na Hoa, xa Tan Lien, huyen Cao Loc")  # the old address instead
    ask = await citizen.last()
    assert ward_buttons(ask)[0] == "c1:ward:06187"  # Tân Liên became Kỳ Lừa
    assert (await citizen.draft())["address"] == "thon Na Hoa, xa Tan Lien, huyen Cao Loc"
    # A button of the earlier suggestions no longer counts.
    reply = await citizen.press("c1:ward:06193")
    assert reply is not None and reply.callback_text
    assert "ward_code" not in await citizen.draft()


async def test_nonsense_at_the_ward_step_keeps_the_choices_offered(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "ward")
    await citizen.new_messages()
    await citizen.text("alo alo")
    (answer,) = await citizen.new_messages()
    assert "Không tìm thấy" in answer.payload["text"]
    assert ward_buttons(answer)[0] == "c1:ward:06187"  # the pin's suggestions still stand
    assert (await citizen.draft())["latitude"] == KY_LUA[0]
    await citizen.press("c1:ward:06187")
    assert await citizen.state() == "evidence"


async def test_coordinates_typed_at_the_ward_step_count_as_a_pin(hotline: Hotline) -> None:
    citizen = await at_location(hotline)
    await citizen.text("gần cây xăng cũ")
    await citizen.new_messages()
    await citizen.text("21.85926, 106.75417")
    ask = await citizen.last()
    assert ward_buttons(ask)[0] == "c1:ward:06187"
    draft = await citizen.draft()
    assert draft["location_source"] == "gps" and draft["latitude"] == KY_LUA[0]


async def test_an_address_in_another_province_at_the_ward_step_is_explained(
    hotline: Hotline,
) -> None:
    citizen = Person(hotline, "1001")
    await advance_to(citizen, "ward")
    await citizen.new_messages()
    await citizen.text("phuong An Bien, Hai Phong")
    texts = [row.payload["text"] for row in await citizen.new_messages()]
    assert "Hải Phòng" in texts[0]
    assert await citizen.state() == "ward"
    assert (await citizen.draft())["latitude"] == KY_LUA[0]


async def test_english_reporter_hears_it_in_english(hotline: Hotline) -> None:
    citizen = Person(hotline, "1001", language_code="en")
    await advance_to(citizen, "location")
    await citizen.new_messages()
    await citizen.text("hello")
    (answer,) = await citizen.new_messages()
    assert answer.payload["text"] == t(
        "en", "intake.place_not_found", text="hello", province="Lạng Sơn"
    )
