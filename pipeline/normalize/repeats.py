"""The sticker ids a day has kept, to tell a DynamicImageId that comes again, in whatever chunk."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class KeptIds:
    """The sticker ids kept so far in a day: sorted 64-bit hashes (searched in bulk) beside the ids
    themselves (to tell a repeat from a hash collision), some 50 bytes an id."""

    def __init__(self) -> None:
        self._hashes = np.empty(0, np.uint64)  # sorted
        self._rows = np.empty(0, np.int64)  # where each hash's id is in _ids
        self._ids: list[pa.Array] = []
        self._count = 0

    def repeats(self, ids: pa.Array, passed: np.ndarray) -> np.ndarray:
        """The rows whose id was kept before them in the day: in an earlier chunk, or above by a row that
        passed every check. Remembers the ids kept here: the first of each among the rows that passed."""
        encoded = pc.dictionary_encode(ids)
        distinct = encoded.dictionary
        if not len(distinct):
            return np.zeros(len(ids), dtype=bool)
        codes = encoded.indices.fill_null(-1).to_numpy()
        has_id = codes >= 0
        hashes = np.zeros(len(distinct), np.uint64)
        short = pc.less_equal(pc.binary_length(distinct), 128).to_numpy(zero_copy_only=False)  # a longer one is no id, never kept
        hashes[short] = _hashes(distinct.filter(pa.array(short)))
        order = np.argsort(hashes)  # sorted keys make the bulk search and the insertion cheaper
        at = np.searchsorted(self._hashes, hashes[order])
        earlier = np.empty(len(distinct), dtype=bool)
        earlier[order] = self._found(distinct, order, hashes[order], at)
        earlier = has_id & earlier[codes]
        row = np.arange(len(codes))
        candidates = passed & has_id & ~earlier
        kept_codes, first_index = np.unique(codes[candidates], return_index=True)
        first = np.full(len(distinct), len(codes))
        first[kept_codes] = row[candidates][first_index]
        kept = np.zeros(len(distinct), dtype=bool)
        kept[kept_codes] = True
        self._add(distinct, order[kept[order]], at[kept[order]], hashes)
        return earlier | (has_id & (first[codes] < row))

    def _found(self, ids: pa.Array, order: np.ndarray, hashes: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Whether each of ``ids[order]`` (with its hash, and where the hash would sit among the kept
        ones) was kept."""
        found = np.zeros(len(hashes), dtype=bool)
        inside = at < len(self._hashes)
        found[inside] = self._hashes[at[inside]] == hashes[inside]
        hits = np.flatnonzero(found)
        if hits.size:
            asked = ids.take(pa.array(order[hits]))
            same = pc.equal(self._stored(self._rows[at[hits]]), asked).to_numpy(zero_copy_only=False)
            for i, sticker_id in zip(hits[~same], asked.filter(pa.array(~same)).to_pylist(), strict=False):
                found[i] = self._kept_under(hashes[i], at[i], sticker_id)  # a hash collision: another may be it
        return found

    def _kept_under(self, hash_: np.uint64, at: int, sticker_id: str) -> bool:
        """Whether one of the kept ids with this hash (from ``at`` on) is ``sticker_id``."""
        while at < len(self._hashes) and self._hashes[at] == hash_:
            if self._stored(self._rows[at : at + 1])[0].as_py() == sticker_id:
                return True
            at += 1
        return False

    def _stored(self, rows: np.ndarray) -> pa.Array:
        return pa.chunked_array(self._ids, pa.string()).take(pa.array(rows)).combine_chunks()

    def _add(self, ids: pa.Array, new: np.ndarray, at: np.ndarray, hashes: np.ndarray) -> None:
        """Remembers ``ids[new]`` (``new`` in the order of their hashes, ``at`` their places among the kept)."""
        if not len(new):
            return
        self._hashes = np.insert(self._hashes, at, hashes[new])
        self._rows = np.insert(self._rows, at, self._count + np.arange(len(new)))
        self._ids.append(ids.take(pa.array(new)))
        self._count += len(new)


def _hashes(ids: pa.Array) -> np.ndarray:
    """64-bit hashes of strings (short ones: ids): their bytes 8 at a time, each word mixed in with
    splitmix64's finalizer. Faster than pandas' SipHash, which needs Python strings."""
    if not len(ids):
        return np.empty(0, np.uint64)
    offsets = np.frombuffer(ids.buffers()[1], np.int32, len(ids) + 1, ids.offset * 4)
    lengths = np.diff(offsets)
    data = np.frombuffer(ids.buffers()[2], np.uint8)
    width = -(-int(lengths.max()) // 8) * 8
    if (lengths == width).all():  # one length (a VOD id has 32 characters): the bytes as they are
        padded = data[offsets[0] : offsets[-1]].reshape(len(ids), width)
    else:
        column = np.arange(width)
        at = np.minimum(offsets[:-1, None] + column, len(data) - 1)
        padded = np.where(column < lengths[:, None], data[at], 0).astype(np.uint8)
    hashes = lengths.astype(np.uint64)
    for index, word in enumerate(np.ascontiguousarray(padded).view("<u8").T):
        # Only the words of the string itself, so that a hash does not depend on its neighbours' lengths
        hashes = np.where(lengths > 8 * index, _splitmix(hashes ^ word), hashes)
    return hashes


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))
