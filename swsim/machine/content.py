"""Synthetic, deterministic page contents: all-zero, text-like and random pages.

A page's bytes depend only on (seed, pfn), so any batch of pages is produced in one vectorised
pass and page-by-page and batched producers agree. Each seed owns two pools: 8 MiB of random
bytes and 1 MiB of text (8-byte words from a 256-word vocabulary). A random page is a 4096-byte
window of the random pool at a pfn-chosen offset, every word XORed with a pfn-derived key (so
no two pages share bytes and nothing compresses); a text page is a window of the text pool with
its first word replaced by a pfn stamp (so pages stay distinct but compress well, as text and
code do). The page kind is drawn from (seed, pfn) with splitmix64. Cost: a gather and an XOR
per page, no per-word hashing.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import PageArray, PfnArray, StateArray, WordArray
from swsim.machine.model import ContentSpec

WORDS_PER_PAGE = PAGE_SIZE // 8
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
#: Boot kernel data in frames the boot kernel uses: a pattern no image page has.
POISON_TAG = 0xB007_0000_0000_0000
#: Batch size for producing pages, so intermediates stay a few MiB.
BATCH_PAGES = 256

KIND_ZERO, KIND_TEXT, KIND_RANDOM = 0, 1, 2


def splitmix64(x: WordArray) -> WordArray:
    """The splitmix64 finaliser over a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z: WordArray = x + _GOLDEN  # then in place: one array, not one per step
        z ^= z >> np.uint64(30)
        z *= _M1
        z ^= z >> np.uint64(27)
        z *= _M2
        z ^= z >> np.uint64(31)
        return z


#: Every seed swsim takes (content, allocator, generator): what the content generator's
#: unsigned 64-bit arithmetic holds, 0 to 2**64 - 1.
SEED_RANGE = range(1 << 64)

RANDOM_POOL_WORDS = (8 << 20) // 8
TEXT_POOL_WORDS = (1 << 20) // 8


def _vocabulary(seed: int) -> WordArray:
    h = splitmix64(np.arange(256, dtype=np.uint64) ^ np.uint64(seed & 0xFFFFFFFF) << np.uint64(20))
    letters = np.frombuffer(b"etaoinshrdlucmfwyp    ", dtype=np.uint8)
    idx = h.view(np.uint8).reshape(256, 8) % np.uint8(len(letters))
    words: WordArray = letters[idx].copy().view(np.uint64).reshape(256)
    return words


@functools.lru_cache(maxsize=4)
def _pools(seed: int) -> tuple[WordArray, WordArray]:
    """Windows of the random and text pools, one row per possible page start."""
    rng = np.random.default_rng(seed & (2**64 - 1))
    random_pool = rng.integers(0, 2**64, RANDOM_POOL_WORDS + WORDS_PER_PAGE, dtype=np.uint64)
    text_idx = rng.integers(0, 256, TEXT_POOL_WORDS + WORDS_PER_PAGE)
    text_pool = _vocabulary(seed)[text_idx]
    window = np.lib.stride_tricks.sliding_window_view
    return window(random_pool, WORDS_PER_PAGE), window(text_pool, WORDS_PER_PAGE)


def page_kinds(spec: ContentSpec, pfns: PfnArray | WordArray) -> StateArray:
    """KIND_ZERO, KIND_TEXT or KIND_RANDOM for each pfn."""
    key = splitmix64(pfns.astype(np.uint64) ^ np.uint64((spec.seed * 0x1F1F) & (2**64 - 1)))
    # u = (key >> 11) / 2**53 is exact in a double, so u < f exactly when the integer
    # key >> 11 is below ceil(f * 2**53): the kinds by two integer comparisons
    key >>= np.uint64(11)
    kinds: StateArray = (key >= _unit_bound(spec.zero)).view(np.uint8)
    kinds += key >= _unit_bound(spec.zero + spec.text)  # KIND_ZERO 0, KIND_TEXT 1, KIND_RANDOM 2
    return kinds


def _unit_bound(fraction: float) -> int:
    """The least 53-bit integer k with ``k / 2**53 >= fraction`` (``fraction`` in [0, 1])."""
    return math.ceil(fraction * float(1 << 53))


def page_contents(spec: ContentSpec, pfns: PfnArray | WordArray) -> PageArray:
    """The bytes of the pages at ``pfns`` as a ``(len(pfns), PAGE_SIZE)`` uint8 array."""
    pfns = np.asarray(pfns, dtype=np.uint64)
    out = np.zeros((len(pfns), WORDS_PER_PAGE), dtype=np.uint64)
    kinds = page_kinds(spec, pfns)
    random_windows, text_windows = _pools(spec.seed)
    with np.errstate(over="ignore"):
        key = splitmix64(pfns * np.uint64(0x2545F4914F6CDD1D) ^ np.uint64(spec.seed))
    rows = np.flatnonzero(kinds == KIND_RANDOM)
    if len(rows):
        offsets = (key[rows] % np.uint64(RANDOM_POOL_WORDS)).astype(np.intp)
        pages = random_windows[offsets]
        pages ^= key[rows, None]
        out[rows] = pages
    rows = np.flatnonzero(kinds == KIND_TEXT)
    if len(rows):
        offsets = (key[rows] % np.uint64(TEXT_POOL_WORDS)).astype(np.intp)
        out[rows] = text_windows[offsets]
        out[rows, 0] = pfns[rows] | np.uint64(0x7478_7400_0000_0000)  # "txt" stamp
    return out.view(np.uint8)


def poison_pages(pfns: PfnArray) -> PageArray:
    """What the boot kernel keeps in the frames it uses: every word tagged with its pfn."""
    pfns = np.asarray(pfns, dtype=np.uint64)
    words = np.broadcast_to((pfns | np.uint64(POISON_TAG))[:, None], (len(pfns), WORDS_PER_PAGE))
    return np.ascontiguousarray(words).view(np.uint8)
