"""How much a volume's header may claim: checked before any voxel is read, so a hostile or broken header fails
fast with a message naming the file and the claimed size instead of allocating gigabytes.

Two checks, both from the header alone:

1. **The file must be able to hold what its header claims.** An uncompressed `.nii` / raw `.nrrd` / `.mha`
   must be at least as large as its voxels; a gzip- or zlib-compressed one (`.nii.gz`, `encoding: gzip`,
   `CompressedData = True`) cannot hold more than [`MAX_DEFLATE_RATIO`] times its size (deflate's limit), and a
   `.nii.gz` whose gzip trailer (ISIZE, the uncompressed size modulo 2**32) is not exactly header + voxels
   (a cut file ends in compressed bytes, not in its trailer) is decompressed in a stream, without keeping it,
   to count its bytes. (ITK reads a cut `.nii.gz` without an error, padding it: this check is what refuses it.)
2. **The memory ceiling.** The largest copy a reader makes (voxels x the larger of the stored bytes per
   voxel and 4, since volumes are returned as float32) must not exceed the ceiling:
   [`DEFAULT_MAX_VOLUME_BYTES`] (4 GiB; a 512 x 512 x 1000 temporal-bone CT needs 1 GiB), overridden by
   the environment variable `BICPL_MAX_VOLUME_BYTES` (bytes, or with a `K`/`M`/`G`/`T` suffix, e.g. `8G`) or
   by `read_volume(..., max_volume_bytes=...)`. DICOM series are held to the same ceiling
   (rows x columns x slices x 4 bytes).

This module is the one owner of the ceiling; nothing else defines one.

Example:
    >>> max_volume_bytes(2 * 1024**3)
    2147483648
    >>> format_bytes(6 * 1024**3)
    '6.0 GiB'
"""

from __future__ import annotations

import gzip
import os
import re
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import SimpleITK as sitk

from .dicom_series import VolumeReadError

__all__ = ["DEFAULT_MAX_VOLUME_BYTES", "MAX_DEFLATE_RATIO", "MAX_VOLUME_BYTES_ENV", "check_claimed_size",
           "check_volume_file_header", "format_bytes", "max_volume_bytes"]

DEFAULT_MAX_VOLUME_BYTES = 4 * 1024**3
MAX_VOLUME_BYTES_ENV = "BICPL_MAX_VOLUME_BYTES"
MAX_DEFLATE_RATIO = 1032  # deflate (gzip, zlib) never expands a byte count by more than about 1032:1
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_BYTES_PER_COMPONENT = {
    sitk.sitkUInt8: 1, sitk.sitkInt8: 1, sitk.sitkUInt16: 2, sitk.sitkInt16: 2, sitk.sitkUInt32: 4,
    sitk.sitkInt32: 4, sitk.sitkUInt64: 8, sitk.sitkInt64: 8, sitk.sitkFloat32: 4, sitk.sitkFloat64: 8,
    sitk.sitkVectorUInt8: 1, sitk.sitkVectorInt8: 1, sitk.sitkVectorUInt16: 2, sitk.sitkVectorInt16: 2,
    sitk.sitkVectorUInt32: 4, sitk.sitkVectorInt32: 4, sitk.sitkVectorFloat32: 4, sitk.sitkVectorFloat64: 8,
}


def format_bytes(count: int | float) -> str:
    """`1536` -> `'1.5 KiB'`."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def max_volume_bytes(override: int | None = None) -> int:
    """The memory ceiling in bytes: `override`, else `$BICPL_MAX_VOLUME_BYTES`, else [`DEFAULT_MAX_VOLUME_BYTES`].

    Raises:
        ValueError: the override or the environment variable is not a positive size.
    """
    if override is not None:
        if int(override) <= 0:
            raise ValueError(f"max_volume_bytes must be a positive number of bytes, got {override}")
        return int(override)
    text = os.environ.get(MAX_VOLUME_BYTES_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_VOLUME_BYTES
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?", text.upper())
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{MAX_VOLUME_BYTES_ENV}={text!r} is not a size; expected bytes, e.g. 4294967296 or 4G")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def _describe(size: Sequence[int], pixel: str, components: int) -> str:
    per = f"{components}-component " if components > 1 else ""
    return f"{' x '.join(str(int(v)) for v in size)} {per}{pixel} volume"


def check_claimed_size(where: str, size: Sequence[int], bytes_per_voxel: int, what: str, limit: int) -> int:
    """Refuse a claim whose largest in-memory copy exceeds `limit`; returns the stored size in bytes."""
    voxels = 1
    for value in size:
        voxels *= max(int(value), 0)
    stored = voxels * bytes_per_voxel
    in_memory = voxels * max(bytes_per_voxel, 4)
    if in_memory > limit:
        raise VolumeReadError(
            f"{where}: the header claims a {what} ({format_bytes(stored)} stored, {format_bytes(in_memory)} in "
            f"memory), above the memory ceiling of {format_bytes(limit)}; the volume was not read (raise the "
            f"ceiling with {MAX_VOLUME_BYTES_ENV} or max_volume_bytes if it is real)", reason_code="volume_too_large")
    return stored


def _too_small(path: Path, what: str, stored: int, detail: str) -> VolumeReadError:
    return VolumeReadError(f"{path}: the header claims a {what} ({format_bytes(stored)} of voxels) but {detail}; "
                           "the file is truncated or its header is corrupt, and nothing was read")


def _nifti_data_offset(head: bytes) -> int:
    """Where a NIfTI-1/-2 file's voxels start (the header size when vox_offset is unusable)."""
    for order in ("<", ">"):
        if len(head) >= 348 and struct.unpack(order + "i", head[:4])[0] == 348:
            offset = struct.unpack(order + "f", head[108:112])[0]
            return int(offset) if offset == offset and 352 <= offset < 2**40 else 352
        if len(head) >= 540 and struct.unpack(order + "i", head[:4])[0] == 540:
            offset = struct.unpack(order + "q", head[168:176])[0]
            return int(offset) if 544 <= offset < 2**40 else 544
    return 348


def _gzip_holds(path: Path, needed: int) -> tuple[int, str]:
    """Count the decompressed bytes of a gzip file up to `needed`, in 1 MiB chunks, keeping none of them."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    total = 0
    try:
        with open(path, "rb") as handle:
            while total < needed:
                chunk = handle.read(1 << 20)
                if not chunk:
                    return total, "the compressed data end early"
                total += len(inflater.decompress(chunk, 1 << 26))
                while inflater.unconsumed_tail and total < needed:
                    total += len(inflater.decompress(inflater.unconsumed_tail, 1 << 26))
                if inflater.eof:
                    if not inflater.unused_data:
                        return total, "the compressed data end"
                    rest = inflater.unused_data  # a further gzip member (concatenated gzip)
                    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    total += len(inflater.decompress(rest, 1 << 26))
    except zlib.error as error:
        return total, f"the compressed data are corrupt ({error})"
    return total, ""


def _check_nifti_file(path: Path, what: str, stored: int) -> None:
    size = path.stat().st_size
    if path.name.lower().endswith(".gz"):
        try:
            with gzip.open(path, "rb") as handle:
                head = handle.read(544)
        except (OSError, EOFError, zlib.error) as error:
            raise VolumeReadError(f"{path}: not a readable gzip file ({error})") from error
        needed = _nifti_data_offset(head) + stored
        if needed > size * MAX_DEFLATE_RATIO + 65536:
            raise _too_small(path, what, stored, f"the file is only {format_bytes(size)} compressed, which can hold "
                                                 f"at most about {format_bytes(size * MAX_DEFLATE_RATIO)}")
        with open(path, "rb") as handle:
            handle.seek(max(size - 4, 0))
            isize = struct.unpack("<I", handle.read(4).rjust(4, b"\0"))[0]
        if isize == needed % 2**32:
            return  # the usual case: the trailer (ISIZE, the size modulo 2**32) says exactly header + voxels
        # A cut file ends in compressed bytes, not in its trailer; a valid one may hold more than needed or
        # several gzip members: count what it really holds.
        total, why = _gzip_holds(path, needed)
        if total < needed:
            raise _too_small(path, what, stored, f"{why} after {format_bytes(total)} of the {format_bytes(needed)} "
                                                 "that header and voxels need")
        return
    needed = _nifti_data_offset(_head(path, 544)) + stored
    if size < needed:
        raise _too_small(path, what, stored, f"the file holds only {format_bytes(size)} ({size} bytes; "
                                             f"{needed} needed)")


def _head(path: Path, count: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(count)


def _text_header(path: Path) -> dict[str, str]:
    """`key -> value` (lower-case keys) of an NRRD or MetaImage text header."""
    text = _head(path, 65536).split(b"\n\n", 1)[0].decode("latin-1", "replace")
    fields = {}
    for line in text.splitlines():
        for separator in (":=", ":", "="):
            if separator in line:
                key, value = line.split(separator, 1)
                fields[key.strip().lower()] = value.strip().lower()
                break
    return fields


def _check_inline_file(path: Path, what: str, stored: int) -> None:
    """`.nrrd` / `.mha` with their voxels in the same file: raw must hold them, deflate within its ratio."""
    fields = _text_header(path)
    size = path.stat().st_size
    if path.suffix.lower() == ".nrrd":
        if "data file" in fields or "datafile" in fields:
            return
        encoding = fields.get("encoding", "raw")
        compressed = encoding in ("gzip", "gz")
        if encoding not in ("raw", "gzip", "gz"):
            return  # text, hex or bzip2: no simple bound
    else:
        if fields.get("elementdatafile", "local") != "local":
            return
        compressed = fields.get("compresseddata", "false") == "true"
    if compressed and stored > size * MAX_DEFLATE_RATIO + 65536:
        raise _too_small(path, what, stored, f"the file is only {format_bytes(size)} compressed, which can hold at "
                                             f"most about {format_bytes(size * MAX_DEFLATE_RATIO)}")
    if not compressed and size < stored:
        raise _too_small(path, what, stored, f"the file holds only {format_bytes(size)} ({size} bytes)")


def check_volume_file_header(path: str | os.PathLike, limit: int | None = None) -> None:
    """Read only the header of a volume file and refuse it when the file cannot hold the voxels it claims
    or they would not fit under the memory ceiling (see the module docstring).

    Raises:
        VolumeReadError: naming the file, the claimed size and the problem (`reason_code`
            `"volume_too_large"` above the ceiling), or that the header itself cannot be read.

    Example:
        >>> check_volume_file_header("ct.nii.gz")  # doctest: +SKIP
    """
    path = Path(path)
    ceiling = max_volume_bytes(limit)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
        raise VolumeReadError(f"could not read the header of {path}: {(lines or ['unknown error'])[-1]}") from error
    size = reader.GetSize()
    components = max(int(reader.GetNumberOfComponents()), 1)
    per_component = _BYTES_PER_COMPONENT.get(reader.GetPixelID(), 8)
    what = _describe(size, sitk.GetPixelIDValueAsString(reader.GetPixelID()), components)
    stored = check_claimed_size(str(path), size, per_component * components, what, ceiling)
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        _check_nifti_file(path, what, stored)
    elif name.endswith((".nrrd", ".mha")):
        _check_inline_file(path, what, stored)
