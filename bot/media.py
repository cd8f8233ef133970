"""Evidence files on disk: random names, checksums, a private directory."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handlers.events import FileFetcher, FileRef

_EXT_BY_KIND = {"photo": ".jpg", "video": ".mp4", "voice": ".ogg", "audio": ".mp3"}


class FileTooLarge(Exception):
    """The file exceeds the largest size the channel lets a bot download."""


@dataclass(frozen=True)
class StoredFile:
    """A file kept in the media directory."""

    path: str  # relative to the media directory
    sha256: str
    size: int
    kind: str
    mime_type: str | None

    def as_record(self) -> dict[str, Any]:
        """The JSON form kept in a draft and turned into an evidence row."""
        return {
            "kind": self.kind,
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "mime_type": self.mime_type,
        }


class PrefetchedFiles:
    """A FileFetcher over files already downloaded: `fetch` only moves them into place.

    The channel's download (seconds, for a large video) then happens before the database
    transaction opens instead of inside it, where it would hold SQLite's write lock.
    """

    def __init__(self, store: MediaStore) -> None:
        self._store = store
        self._ready: dict[str, Path] = {}
        self._failed: dict[str, BaseException] = {}

    async def prefetch(self, fetcher: FileFetcher, refs: tuple[FileRef, ...]) -> None:
        """Download every file that is within the size limit; remember failures."""
        for ref in refs:
            if ref.size is not None and ref.size > self._store.max_bytes:
                continue  # the handler refuses it from the declared size, no download
            target = self._store.incoming_dir() / secrets.token_hex(16)
            try:
                await fetcher.fetch(ref, str(target))
            except Exception as exc:  # noqa: BLE001  (the handler reports it to the person)
                target.unlink(missing_ok=True)
                self._failed[ref.file_id] = exc
            else:
                self._ready[ref.file_id] = target

    async def fetch(self, ref: FileRef, destination: str) -> None:
        """Move the downloaded file to `destination` (or raise its download error)."""
        if ref.file_id in self._failed:
            raise self._failed[ref.file_id]
        path = self._ready.pop(ref.file_id, None)
        if path is None:
            raise FileNotFoundError(f"file {ref.file_id} was not prefetched")
        os.replace(path, destination)

    def cleanup(self) -> None:
        """Delete downloads that no handler took (a photo sent at the wrong step)."""
        for path in self._ready.values():
            path.unlink(missing_ok=True)
        self._ready.clear()


class MediaStore:
    """Downloads evidence into `root` under unguessable names."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def ensure_dir(self) -> None:
        """Create the media directory, readable by the service account only."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)

    def absolute(self, relative: str) -> Path:
        """The absolute path of a stored file, refusing anything outside the store."""
        path = (self.root / relative).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("path outside the media directory")
        return path

    async def store(self, fetcher: FileFetcher, ref: FileRef) -> StoredFile:
        """Download `ref`, checksum it and keep it; raise FileTooLarge before downloading."""
        if ref.size is not None and ref.size > self.max_bytes:
            raise FileTooLarge(ref.size)
        self.ensure_dir()
        # The name carries no user data: a random token and an extension by type only.
        ext = _EXT_BY_KIND.get(ref.kind) or (
            mimetypes.guess_extension(ref.mime_type or "") or ".bin"
        )
        name = f"{secrets.token_hex(16)}{ext}"
        target = self.root / name
        await fetcher.fetch(ref, str(target))
        os.chmod(target, 0o600)
        digest = hashlib.sha256()
        size = 0
        with target.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 16), b""):
                digest.update(chunk)
                size += len(chunk)
        if size > self.max_bytes:
            target.unlink(missing_ok=True)
            raise FileTooLarge(size)
        return StoredFile(name, digest.hexdigest(), size, ref.kind, ref.mime_type)

    def incoming_dir(self) -> Path:
        """Where files wait between download and their handler (same filesystem: cheap moves)."""
        path = self.root / ".incoming"
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        return path

    def discard(self, relative: str) -> None:
        """Delete a stored file that will not become evidence (a cancelled draft)."""
        try:
            self.absolute(relative).unlink(missing_ok=True)
        except ValueError:
            pass
