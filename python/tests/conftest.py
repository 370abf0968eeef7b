"""Shared helpers of the Python module's tests (run by scripts/python-test.sh)."""
import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def published_msssim():
    """The published 3D-DDnet MS-SSIM formula, written from the reference in float64 PyTorch
    (tests/fixtures/gen_msssim.py, which generates the C++ suite's fixtures); differentiable,
    evaluated in float64 and returned in the input's type."""
    pytest.importorskip("torch")
    sys.path.insert(0, str(REPO / "tests" / "fixtures"))
    import gen_msssim

    return lambda x, y: gen_msssim.msssim(x.double(), y.double())[0].to(x.dtype)
