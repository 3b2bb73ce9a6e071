"""numpy array types with their units, so signatures say what an array holds.

Every array swsim passes between stages is one of these; the dtype is part of the type, so
``mypy --strict`` sees a pfn array handed where page bytes are expected.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

#: Page frame numbers (pfns), or frame indices, as int64.
PfnArray: TypeAlias = npt.NDArray[np.int64]
#: Page frame numbers kept per image page, as int32 (a pfn is below 2^31:
#: ``swsim.machine.model.MAX_FRAMES`` is 2^28): half the memory of a :data:`PfnArray`.
Pfn32Array: TypeAlias = npt.NDArray[np.int32]
#: One flag per page or frame (zero page, free frame, PG_nosave...).
BoolArray: TypeAlias = npt.NDArray[np.bool_]
#: Page bytes: ``(nr_pages, PAGE_SIZE)`` uint8 (or one page of ``PAGE_SIZE``).
PageArray: TypeAlias = npt.NDArray[np.uint8]
#: 64-bit words: encoded metadata entries, page-content words, hash keys.
WordArray: TypeAlias = npt.NDArray[np.uint64]
#: One small integer per frame (boot state, page kind).
StateArray: TypeAlias = npt.NDArray[np.uint8]
