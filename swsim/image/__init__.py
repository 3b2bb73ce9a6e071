"""The swsim image on disk: its format, writing it, and reading it back as an ImageSource.

One home per byte: :mod:`~swsim.image.format` holds every magic, flag and offset
(docs/image-format.md), :mod:`~swsim.image.header`, :mod:`~swsim.image.meta` and
:mod:`~swsim.image.trailer` pack and parse their pages, :mod:`~swsim.image.checks` the CRCs and
pfn checks, :mod:`~swsim.image.digest` and :mod:`~swsim.image.auth` the digest and HMAC,
:mod:`~swsim.image.codecs` the compressions. :mod:`~swsim.image.writer` writes an image,
:mod:`~swsim.image.reader` reads one, and :mod:`~swsim.image.source` opens any image as the
neutral :class:`~swsim.image.source.ImageSource` the resume side reads. The kernel's own
formats (the swap device, the /dev/snapshot stream) live in :mod:`swsim.image.linux`, behind
the same seam: lines in :data:`swsim.image.source.FORMATS`.
"""
