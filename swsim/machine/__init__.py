"""What is simulated: a machine's frames at suspend and at boot, their contents, the presets.

:mod:`~swsim.machine.model` is the machine and its file schema, :mod:`~swsim.machine.ranges`
its pfn ranges, :mod:`~swsim.machine.content` the synthetic page contents,
:mod:`~swsim.machine.footprint` the boot kernel's footprint, :mod:`~swsim.machine.presets`
the built-in and generated machines and :mod:`~swsim.machine.from_image` the machine an
image's pfns imply.
"""
