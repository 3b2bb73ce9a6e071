"""The suspend side: what a hibernating kernel saves, and the image stream it hands out.

:mod:`~swsim.suspend.snapshot` decides which pages are saved (the atomic copy's result);
:mod:`~swsim.suspend.handle` hands them out page by page as ``snapshot_read_next()`` does. The
kernel's ``hibernate_preallocate_memory()`` and TuxOnIce's pagesets will be modules beside them.
"""
