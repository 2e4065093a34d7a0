"""The ``AFBNDL01`` executable-bundle file format: the trailer, the regions, reading a file.

A bundle is ``[launcher][source][metadata][trailer]`` (protocol.md §12): the
trailer (``struct`` ``<III32s12s8s``: ``source_len``, ``metadata_len``,
``footer_ver`` 1, the SHA-256 of the launcher region, 12 zero bytes,
``b"AFBNDL01"``) is the last 64 bytes, the regions are found by counting back
from it, and the launcher ("binary") region is everything in front of them.

:class:`Trailer`, :class:`BundleLayout` and :func:`assemble` are pure;
:func:`read_bundle` does blocking file I/O. Reading follows the 1.3.2
coordinator's order (``_Footer.read``): size, magic, version, reserved bytes,
regions, then the hash of ``[0, source_start)``; every way a file can fail is
a :class:`BundleFormatError` with a :attr:`~BundleFormatError.problem` code
and a message naming what was wrong.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path
from typing import BinaryIO, Final, Literal

from ._errors import TrioCoordError
from ._record import Record

__all__ = [
    "FOOTER_MAGIC",
    "FOOTER_SIZE",
    "FOOTER_VERSION",
    "BundleFile",
    "BundleFormatError",
    "BundleLayout",
    "FormatProblem",
    "PackError",
    "PackUsageError",
    "Trailer",
    "assemble",
    "bundle_from_bytes",
    "decode_metadata",
    "read_bundle",
]

#: The last 8 bytes of every bundle.
FOOTER_MAGIC: Final = b"AFBNDL01"
#: The size of the trailer.
FOOTER_SIZE: Final = 64
#: The only trailer version there is.
FOOTER_VERSION: Final = 1

_TRAILER: Final = struct.Struct("<III32s12s8s")
_RESERVED: Final = bytes(12)
_MAX_REGION: Final = 2**32 - 1
_HASH_CHUNK: Final = 1 << 20

FormatProblem = Literal[
    "too_short",
    "bad_magic",
    "unknown_version",
    "reserved_not_zero",
    "bad_regions",
    "no_launcher",
    "truncated",
    "hash_mismatch",
    "bad_metadata",
    "bad_payload",
]
"""Why a file is not a usable bundle (:attr:`BundleFormatError.problem`)."""


class BundleFormatError(TrioCoordError):
    """A file is not a valid executable bundle.

    Attributes:
        problem: what is wrong, as a stable code (see :data:`FormatProblem`).
    """

    def __init__(self, problem: FormatProblem, message: str) -> None:
        super().__init__(message)
        self.problem: FormatProblem = problem


class PackError(TrioCoordError):
    """Packing failed (the packed file did not run, or could not be written)."""


class PackUsageError(PackError):
    """The inputs of ``pack`` or ``inspect`` are wrong (a usage error: exit code 2)."""


class Trailer(Record):
    """The 64-byte trailer at the end of a bundle.

    Attributes:
        source_len: the size of the source region.
        metadata_len: the size of the metadata region.
        binary_sha256: the SHA-256 of the launcher ("binary") region.
        footer_ver: the trailer version (always :data:`FOOTER_VERSION` once
            parsed).
    """

    source_len: int
    metadata_len: int
    binary_sha256: bytes
    footer_ver: int = FOOTER_VERSION

    def __post_init__(self) -> None:
        for name in ("source_len", "metadata_len", "footer_ver"):
            value = getattr(self, name)
            if not 0 <= value <= _MAX_REGION:
                raise ValueError(f"{name} must fit in an unsigned 32-bit integer, got {value}")
        if len(self.binary_sha256) != 32:
            raise ValueError(f"binary_sha256 must be 32 bytes, got {len(self.binary_sha256)}")

    def to_bytes(self) -> bytes:
        """The trailer's 64 bytes (little-endian lengths, zero reserved bytes, the magic)."""
        return _TRAILER.pack(
            self.source_len, self.metadata_len, self.footer_ver, self.binary_sha256, _RESERVED, FOOTER_MAGIC
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Trailer:
        """Parse the last 64 bytes of a file.

        Checks, in the 1.3.2 coordinator's order: the magic, the version, the
        reserved bytes.

        Raises:
            ValueError: ``data`` is not 64 bytes long.
            BundleFormatError: ``bad_magic``, ``unknown_version`` or
                ``reserved_not_zero``.
        """
        if len(data) != FOOTER_SIZE:
            raise ValueError(f"a trailer is {FOOTER_SIZE} bytes, got {len(data)}")
        source_len, metadata_len, footer_ver, digest, reserved, magic = _TRAILER.unpack(data)
        if magic != FOOTER_MAGIC:
            raise BundleFormatError(
                "bad_magic",
                f"the file does not end with the bundle magic {FOOTER_MAGIC!r} (its last 8 bytes are "
                f"{bytes(magic)!r}): it is not an executable bundle",
            )
        if footer_ver != FOOTER_VERSION:
            raise BundleFormatError(
                "unknown_version",
                f"the trailer has footer_ver {footer_ver}; only version {FOOTER_VERSION} exists "
                "(Airflow rejects the file)",
            )
        if reserved != _RESERVED:
            raise BundleFormatError(
                "reserved_not_zero",
                f"the 12 reserved trailer bytes must be zero, got {bytes(reserved).hex()} "
                "(Airflow rejects the file)",
            )
        return cls(source_len, metadata_len, bytes(digest), footer_ver)


class BundleLayout(Record):
    """Where the regions of a bundle of ``file_size`` bytes are, per its trailer.

    Create it with :meth:`locate`.
    """

    file_size: int
    trailer: Trailer

    @property
    def trailer_start(self) -> int:
        """The offset of the trailer."""
        return self.file_size - FOOTER_SIZE

    @property
    def metadata_start(self) -> int:
        """The offset of the metadata region."""
        return self.trailer_start - self.trailer.metadata_len

    @property
    def source_start(self) -> int:
        """The offset of the source region, which is also the size of the launcher region."""
        return self.metadata_start - self.trailer.source_len

    @classmethod
    def locate(cls, file_size: int, trailer: Trailer) -> BundleLayout:
        """Check that the trailer's regions fit in the file and leave a launcher.

        Raises:
            BundleFormatError: ``bad_regions`` (the regions extend past the
                start of the file) or ``no_launcher`` (the launcher region is
                empty).
        """
        layout = cls(file_size, trailer)
        if layout.source_start < 0:
            raise BundleFormatError(
                "bad_regions",
                f"the trailer declares {trailer.source_len} source and {trailer.metadata_len} metadata "
                f"bytes, more than the {max(file_size - FOOTER_SIZE, 0)} bytes in front of it",
            )
        if layout.source_start == 0:
            raise BundleFormatError(
                "no_launcher",
                "the trailer leaves no room for the launcher (binary) region, which must not be empty",
            )
        return layout


def assemble(launcher: bytes, source: bytes, metadata: bytes) -> bytes:
    """Concatenate the regions and the trailer into a bundle's bytes.

    Raises:
        ValueError: the launcher is empty or a region does not fit a 32-bit length.
    """
    if not launcher:
        raise ValueError("the launcher region must not be empty")
    trailer = Trailer(len(source), len(metadata), hashlib.sha256(launcher).digest())
    return b"".join((launcher, source, metadata, trailer.to_bytes()))


# ---------------------------------------------------------------------------- reading a file


class BundleFile(Record):
    """A bundle whose trailer and launcher hash were checked.

    Attributes:
        path: the file.
        layout: where its regions are.
        launcher_head: the start of the launcher region (up to 256 bytes).
        source: the source region (``None`` when not read).
        metadata: the metadata region, raw.
    """

    path: Path
    layout: BundleLayout
    launcher_head: bytes
    source: bytes | None
    metadata: bytes


def _read_exactly(f: BinaryIO, size: int, what: str) -> bytes:
    data = f.read(size)
    if len(data) != size:
        raise BundleFormatError("truncated", f"the file shrank while reading the {what}")
    return data


def read_bundle(path: str | os.PathLike[str], *, with_source: bool = True) -> BundleFile:
    """Read and check a bundle file's trailer, regions and launcher hash.

    Blocking file I/O (the launcher region is hashed in 1 MiB chunks, so a
    large native binary is never held in memory).

    Args:
        path: the file.
        with_source: also read the source region.

    Raises:
        OSError: the file cannot be opened or read.
        BundleFormatError: the file is not a valid bundle (see
            :attr:`BundleFormatError.problem`).
    """
    path = Path(path)
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < FOOTER_SIZE:
            raise BundleFormatError(
                "too_short", f"the file has {size} bytes, fewer than the {FOOTER_SIZE}-byte bundle trailer"
            )
        f.seek(size - FOOTER_SIZE)
        trailer = Trailer.from_bytes(_read_exactly(f, FOOTER_SIZE, "trailer"))
        layout = BundleLayout.locate(size, trailer)
        f.seek(0)
        digest = hashlib.sha256()
        head = b""
        remaining = layout.source_start
        while remaining:
            chunk = f.read(min(_HASH_CHUNK, remaining))
            if not chunk:
                raise BundleFormatError("truncated", "the file shrank while hashing the launcher region")
            if len(head) < 256:
                head += chunk[: 256 - len(head)]
            digest.update(chunk)
            remaining -= len(chunk)
        if digest.digest() != trailer.binary_sha256:
            raise BundleFormatError(
                "hash_mismatch",
                f"the SHA-256 of the launcher region (bytes 0-{layout.source_start - 1}) is "
                f"{digest.hexdigest()}, but the trailer records {trailer.binary_sha256.hex()}: the file was "
                "changed after it was packed (Airflow rejects it)",
            )
        source = _read_exactly(f, trailer.source_len, "source region") if with_source else None
        f.seek(layout.metadata_start)
        metadata = _read_exactly(f, trailer.metadata_len, "metadata region")
    return BundleFile(path, layout, head, source, metadata)


def bundle_from_bytes(path: str | os.PathLike[str], data: bytes) -> BundleFile:
    """A bundle already read into memory whose launcher hash was checked by the caller.

    Checks the trailer and the regions (not the hash: the self-contained
    bootstrap hashed these very bytes just before).

    Raises:
        BundleFormatError: the trailer or the regions are not valid.
    """
    if len(data) < FOOTER_SIZE:
        raise BundleFormatError(
            "too_short", f"the file has {len(data)} bytes, fewer than the {FOOTER_SIZE}-byte bundle trailer"
        )
    trailer = Trailer.from_bytes(data[-FOOTER_SIZE:])
    layout = BundleLayout.locate(len(data), trailer)
    return BundleFile(
        Path(path),
        layout,
        data[: min(256, layout.source_start)],
        data[layout.source_start : layout.metadata_start],
        data[layout.metadata_start : layout.trailer_start],
    )


def decode_metadata(data: bytes) -> str:
    """The metadata region as text.

    Raises:
        BundleFormatError: ``bad_metadata``: the bytes are not UTF-8.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleFormatError("bad_metadata", f"the metadata region is not UTF-8 text: {exc}") from exc
