"""Evidence files from a citizen's message, stored within the limits of a report."""

from __future__ import annotations

from typing import Any

from bot.media import FileTooLarge
from handlers.context import Turn
from handlers.events import FileRef

MAX_OTHER_FILES = 5  # videos, voice notes and documents, besides the photos


async def store_files(
    turn: Turn, evidence: list[dict[str, Any]], refs: tuple[FileRef, ...]
) -> list[dict[str, Any]]:
    """Store the files of a message with the limits of intake evidence (counted with
    `evidence`, what is already kept); returns the new records and tells what was refused."""
    deps = turn.deps
    kept = list(evidence)
    new: list[dict[str, Any]] = []
    too_large = photos_over = files_over = failed = 0
    for ref in refs:
        photos = sum(1 for item in kept if item["kind"] == "photo")
        if ref.kind == "photo" and photos >= deps.max_photos:
            photos_over += 1
            continue
        if ref.kind != "photo" and len(kept) - photos >= MAX_OTHER_FILES:
            files_over += 1
            continue
        try:
            stored = await deps.media.store(turn.fetcher, ref)
        except FileTooLarge:
            too_large += 1
            continue
        except Exception:  # noqa: BLE001  (a failed download must not lose the rest)
            failed += 1
            continue
        kept.append(stored.as_record())
        new.append(stored.as_record())
    if too_large:
        await turn.send("intake.file_too_large", max_mb=deps.max_file_mb)
    if photos_over:
        await turn.send("intake.too_many_photos", max_photos=deps.max_photos)
    if files_over:
        await turn.send("intake.too_many_files", max_files=MAX_OTHER_FILES)
    if failed:
        await turn.send("intake.download_failed")
    return new
