"""``swsim machine --from-image IMAGE``: the machine an image implies, read from its header and
metadata (:func:`swsim.machine.from_image.image_machine` for a kernel image; a swsim image
records its machine)."""

from __future__ import annotations

from swsim.cli.fileio import open_input
from swsim.errors import UsageError
from swsim.machine.model import Machine


def read_image_machine(path: str, resume_offset: int = 0) -> Machine:
    """The machine of the image at ``path`` (``-``: standard input); no data page is read."""
    from swsim.image.source import open_image

    with open_input(path) as stream:
        source = open_image(stream, resume_offset=resume_offset)
        try:
            machine = source.info.machine
        finally:
            source.close()
    if machine is None:
        raise UsageError(f"{path} does not record or imply a machine")
    return machine
