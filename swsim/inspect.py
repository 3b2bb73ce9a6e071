"""``swsim inspect IMAGE|-``: show an image's header; ``--verify`` checks every byte of it.

A thin command over :func:`swsim.verify.read_header_report` and
:func:`swsim.verify.verify_image`; compressed images are detected by their magic.
"""

from __future__ import annotations

import json
from typing import Any

import click

from swsim.fileio import open_input
from swsim.options import key_file_option
from swsim.verify import read_header_report, verify_image


def format_report(report: dict[str, Any]) -> str:
    """The report as ``name: value`` lines, for people."""
    width = max(len(name) for name in report)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in report.items())


@click.command("inspect")
@click.argument("image", metavar="IMAGE|-")
@click.option(
    "--verify", is_flag=True,
    help="Read the whole image and check pfns, block CRCs, digest and (with --key-file) HMAC.",
)
@key_file_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def inspect_cmd(image: str, verify: bool, key: bytes | None, as_json: bool) -> None:
    """Show the header of IMAGE ('-': standard input), raw or zstd-compressed.

    With --verify (implied by --key-file) every check a restore makes without a target machine
    is made; a bad image exits 3, an unauthentic one (with --key-file) 6."""
    with open_input(image) as stream:
        if verify or key is not None:
            report = verify_image(stream, key)
        else:
            report = read_header_report(stream)
    click.echo(json.dumps(report) if as_json else format_report(report))
