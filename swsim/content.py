"""Synthetic, deterministic page contents: all-zero, text-like and random pages.

A page's bytes depend only on (seed, pfn), so any batch of pages can be produced in one
vectorised pass (splitmix64 over numpy arrays) and page-by-page and batched producers agree.
Text-like pages are 8-byte words drawn from a 256-word vocabulary: they compress about 8:1,
so images compress like real ones (a mix of zeros, text and incompressible data).
"""

from __future__ import annotations

import numpy as np

from swsim.constants import PAGE_SIZE
from swsim.machine import ContentSpec

WORDS_PER_PAGE = PAGE_SIZE // 8
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
#: Boot kernel data in frames the boot kernel uses: a pattern no image page has.
POISON_TAG = 0xB007_0000_0000_0000
#: Batch size for producing pages, so intermediates stay a few MiB.
BATCH_PAGES = 1024

KIND_ZERO, KIND_TEXT, KIND_RANDOM = 0, 1, 2


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser over a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def _vocabulary(seed: int) -> np.ndarray:
    h = splitmix64(np.arange(256, dtype=np.uint64) ^ np.uint64(seed & 0xFFFFFFFF) << np.uint64(20))
    letters = np.frombuffer(b"etaoinshrdlucmfwyp    ", dtype=np.uint8)
    idx = h.view(np.uint8).reshape(256, 8) % np.uint8(len(letters))
    return letters[idx].copy().view(np.uint64).reshape(256)


def page_kinds(spec: ContentSpec, pfns: np.ndarray) -> np.ndarray:
    """KIND_ZERO, KIND_TEXT or KIND_RANDOM for each pfn."""
    key = splitmix64(pfns.astype(np.uint64) ^ np.uint64((spec.seed * 0x1F1F) & (2**64 - 1)))
    u = (key >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    kinds = np.full(len(pfns), KIND_RANDOM, dtype=np.uint8)
    kinds[u < spec.zero + spec.text] = KIND_TEXT
    kinds[u < spec.zero] = KIND_ZERO
    return kinds


def page_contents(spec: ContentSpec, pfns: np.ndarray) -> np.ndarray:
    """The bytes of the pages at ``pfns`` as a ``(len(pfns), PAGE_SIZE)`` uint8 array."""
    pfns = np.asarray(pfns, dtype=np.uint64)
    out = np.zeros((len(pfns), WORDS_PER_PAGE), dtype=np.uint64)
    kinds = page_kinds(spec, pfns)
    vocab = _vocabulary(spec.seed)
    word_idx = np.arange(WORDS_PER_PAGE, dtype=np.uint64)
    seed_mix = np.uint64((spec.seed * 0x5DEECE66D) & (2**64 - 1))
    for start in range(0, len(pfns), BATCH_PAGES):
        sl = slice(start, start + BATCH_PAGES)
        k = kinds[sl]
        busy = k != KIND_ZERO
        if not busy.any():
            continue
        rows = np.flatnonzero(busy) + start
        with np.errstate(over="ignore"):
            base = (pfns[rows] * np.uint64(WORDS_PER_PAGE)) ^ seed_mix
            words = splitmix64(base[:, None] + word_idx[None, :])
        text = kinds[rows] == KIND_TEXT
        words[text] = vocab[(words[text] & np.uint64(0xFF)).astype(np.intp)]
        out[rows] = words
    return out.view(np.uint8)


def poison_pages(pfns: np.ndarray) -> np.ndarray:
    """What the boot kernel keeps in the frames it uses: every word tagged with its pfn."""
    pfns = np.asarray(pfns, dtype=np.uint64)
    words = np.broadcast_to((pfns | np.uint64(POISON_TAG))[:, None], (len(pfns), WORDS_PER_PAGE))
    return np.ascontiguousarray(words).view(np.uint8)
