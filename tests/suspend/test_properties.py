"""Properties of every suspend model over random classed machines.

Whatever the machine: the pages saved are exactly the saveable pages left after shrinking, in
the image and its snapshot; the hibernation code never holds more pages than were free plus
what reclaim freed; reclaim frees only reclaimable pages (anon no more than swap); and no
swsusp kernel (2.6.17, 6.x) ever makes an image of more than half of memory, where TuxOnIce
can.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from swsim.machine.classes import CLASS_NAMES, SuspendClasses
from swsim.machine.model import ContentSpec, Machine
from swsim.machine.ranges import in_ranges, ranges_len
from swsim.suspend.kernels import SUSPEND_KERNELS, ImageSize, suspend


@st.composite
def classed_machines(draw: st.DrawFn) -> Machine:
    """A machine of 1024 to 65536 frames cut into extents of random classes (or free)."""
    frames = draw(st.integers(1024, 65536))
    cuts = sorted(set(draw(st.lists(st.integers(17, frames - 1), min_size=1, max_size=12))))
    bounds = [16, *cuts, frames]
    kinds = st.sampled_from([*CLASS_NAMES, "free"])
    classes: dict[str, list[tuple[int, int]]] = {name: [] for name in CLASS_NAMES}
    for start, end in zip(bounds, bounds[1:], strict=False):
        kind = draw(kinds)
        if kind != "free":
            classes[kind].append((start, end))
    if not any(classes.values()):
        classes["kernel"].append((bounds[0], bounds[1]))
    c = SuspendClasses(
        **{name: tuple(rs) for name, rs in classes.items()},  # type: ignore[arg-type]
        swap_pages=draw(st.integers(0, frames)),
        reserve_pages=draw(st.integers(0, 64)),
    )
    return Machine(
        frames=frames, saveable=c.saveable(), nosave=((0, 16),), classes=c,
        content=ContentSpec(seed=draw(st.integers(0, 999)), zero=0.25, text=0.0),
    )


SIZES = st.one_of(
    st.none(),
    st.builds(ImageSize, st.integers(0, 100).map(float), st.just("percent")),
    st.builds(ImageSize, st.integers(0, 70000).map(float), st.just("pages")),
)


@settings(max_examples=80, deadline=None)
@given(classed_machines(), st.sampled_from(SUSPEND_KERNELS), SIZES)
def test_what_is_saved_is_what_is_left_and_memory_is_never_overdrawn(
    machine: Machine, kernel: str, image_size: ImageSize | None
) -> None:
    if kernel == "none":
        image_size = None
    result = suspend(machine, kernel, image_size)
    report = result.report
    classes = machine.suspend_classes
    counts = classes.counts()
    freed = sum(report.freed.values())
    # Reclaim frees only what it can: page cache, and anon while swap lasts; never kernel.
    assert report.freed["file_clean"] <= counts["file_clean"]
    assert report.freed["file_dirty"] <= counts["file_dirty"]
    assert report.freed["anon"] <= min(counts["anon"], classes.swap_pages)
    assert report.saveable_after == report.saveable_before - freed
    # Never more pages held than exist: free at the start plus what reclaim freed.
    assert 0 <= report.peak_pages <= report.free_before + freed
    assert report.free_after >= 0
    assert report.free_after + report.saveable_after <= machine.frames - 16
    if result.snapshot is None:
        assert not report.fits and report.error
        return
    snapshot = result.snapshot
    # Pages saved = the saveable pages left after shrinking, all of them, and only those.
    assert len(snapshot.pfns) == report.image_pages == report.saveable_after
    assert in_ranges(snapshot.pfns, machine.saveable).all()
    assert ranges_len(snapshot.machine.saveable) == report.saveable_after
    if kernel == "tuxonice":
        assert report.copied == report.pageset1
        assert (report.pageset1 or 0) + (report.pageset2 or 0) == report.image_pages
    elif kernel != "none":
        # Every saved page was copied (or, 6.12, is a zero page not copied) into a page the
        # copy allocated: a free frame per saved page, so never more than half of memory.
        assert report.copied + report.zero_pages == report.image_pages
        assert report.allocated >= report.image_pages
        assert 2 * report.image_pages <= machine.frames - 16
