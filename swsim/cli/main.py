"""The ``swsim`` command's entry point: process settings that must precede importing numpy.

swsim does no linear algebra, so it spares numpy's import the start of an OpenBLAS thread pool
(about 50 ms of every run on this project's 2-core machines; sweeps start swsim thousands of
times). A value the user set is kept. Library users importing :mod:`swsim` are not affected.
"""

import os


def main() -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from swsim.cli.commands import main as cli_main

    cli_main()
