"""A small, strict reader for IDX files (the MNIST / Fashion-MNIST format).

An IDX file is a 4-byte magic number -- two zero bytes, a type code and the number of
dimensions -- then one big-endian uint32 per dimension, then the values, big-endian, in
C order. Files may be gzip-compressed; compression is detected from the content, not the name.
"""

from __future__ import annotations

import gzip
import os
import zlib
from typing import Any

import numpy as np

from ._types import DatasetError

# type code -> big-endian numpy dtype
_IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike[str], *, ndim: int | None = None) -> np.ndarray:
    """Reads one IDX file (plain or gzip-compressed) into a numpy array.

    Args:
        path: the file.
        ndim: if given, the number of dimensions the file must have.

    Returns:
        An array in native byte order with the shape and type the header declares.

    Raises:
        DatasetError: the file cannot be read, is not valid gzip, has a bad magic number, the
            wrong number of dimensions, or more or fewer data bytes than its header declares.
            The message names the file.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DatasetError(f"cannot read IDX file {path}: {e}") from e
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DatasetError(f"corrupt gzip in IDX file {path}: {e}") from e

    if len(raw) < 4:
        raise DatasetError(f"IDX file {path} is truncated: {len(raw)} bytes, no complete header")
    zero0, zero1, type_code, dims = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or type_code not in _IDX_TYPES or dims == 0:
        raise DatasetError(
            f"{path} is not an IDX file: bad magic number 0x{raw[:4].hex()} "
            f"(expected 0x0000TTNN, TT a type code in "
            f"{sorted(hex(t) for t in _IDX_TYPES)}, NN >= 1 dimensions)"
        )
    if ndim is not None and dims != ndim:
        raise DatasetError(f"IDX file {path} has {dims} dimensions, expected {ndim}")
    header_len = 4 + 4 * dims
    if len(raw) < header_len:
        raise DatasetError(f"IDX file {path} is truncated inside its header")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=dims, offset=4))
    dtype = _IDX_TYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header_len
    if found < expected:
        raise DatasetError(
            f"IDX file {path} is truncated: header declares shape {shape} "
            f"({expected} data bytes), found {found}"
        )
    if found > expected:
        raise DatasetError(
            f"IDX file {path} has {found - expected} bytes after the data its header "
            f"declares (shape {shape}); the file is corrupt"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=False)
