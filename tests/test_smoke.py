from tests.conftest import image_bytes, run_swsim, tiny_machine


def test_snapshot_and_restore_through_real_processes() -> None:
    machine = tiny_machine(64, ((8, 40),), used=((10, 12),), reserved=((0, 4),))
    image = image_bytes(machine)
    proc = run_swsim("restore", "-", "--json", input=image)
    assert proc.returncode == 0, proc.stderr
    assert b'"verified": true' in proc.stdout
