"""The command line: :mod:`~swsim.cli.main` (entry point and error funnel),
:mod:`~swsim.cli.commands`, :mod:`~swsim.cli.options`, :mod:`~swsim.cli.output` (tables and
JSON), :mod:`~swsim.cli.progress` (the progress bar) and :mod:`~swsim.cli.fileio`."""
