"""The resume side: the boot kernel's memory, the ``snapshot_write_next()`` handle, strategies.

:mod:`~swsim.resume.context` is the boot-time state (page allocator, page flags, counting),
:mod:`~swsim.resume.memory` the simulated frames, :mod:`~swsim.resume.handle` the handle,
:mod:`~swsim.resume.restore` the orchestration over an
:class:`~swsim.image.source.ImageSource`; :mod:`~swsim.resume.allocators` and
:mod:`~swsim.resume.strategies` hold one module per allocator and per strategy.
"""
