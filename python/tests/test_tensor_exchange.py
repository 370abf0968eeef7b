"""Tensors in and out without copies: NumPy (buffer protocol and DLPack) and PyTorch (DLPack)."""
import gc

import numpy as np
import pytest

import ddnet


def test_numpy_view_is_zero_copy_both_ways():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    t = ddnet.as_tensor(a)
    assert t.shape == [2, 3, 4] and t.dtype == "float32" and t.device == "cpu"
    assert t.data_ptr == a.ctypes.data
    back = t.numpy()
    assert np.shares_memory(back, a)
    a[1, 2, 3] = -7
    assert back[1, 2, 3] == -7


def test_strided_numpy_views_keep_their_strides():
    a = np.arange(60, dtype=np.float64).reshape(3, 4, 5)
    v = a[:, 1:3, ::2]
    t = ddnet.as_tensor(v)
    assert t.shape == [3, 2, 3] and t.strides == [20, 5, 2]
    np.testing.assert_array_equal(t.numpy(), v)
    assert np.shares_memory(t.numpy(), a)


def test_the_source_stays_alive_while_a_view_exists():
    a = np.full((1000,), 3.5, dtype=np.float32)
    t = ddnet.as_tensor(a)
    del a
    gc.collect()
    np.testing.assert_array_equal(t.numpy(), 3.5)


def test_numpy_from_dlpack_of_a_ddnet_tensor():
    a = np.linspace(0, 1, 10, dtype=np.float32)
    t = ddnet.as_tensor(a)
    if not hasattr(np, "from_dlpack"):
        pytest.skip("this NumPy has no from_dlpack")
    b = np.from_dlpack(t)
    assert np.shares_memory(b, a)


def test_bad_inputs_name_the_problem():
    with pytest.raises(ddnet.Error, match="float32, float64 and int32"):
        ddnet.as_tensor(np.zeros(3, dtype=np.int64))
    with pytest.raises(ddnet.Error, match="negative strides"):
        ddnet.as_tensor(np.zeros(4, dtype=np.float32)[::-1])
    with pytest.raises(ddnet.Error, match="at most 5"):
        ddnet.as_tensor(np.zeros((1,) * 6, dtype=np.float32))


def test_torch_round_trip_is_zero_copy():
    torch = pytest.importorskip("torch")
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    t = ddnet.as_tensor(x)
    assert t.data_ptr == x.data_ptr()
    y = torch.from_dlpack(t)
    assert y.data_ptr() == x.data_ptr()
    x[0, 0] = 42
    assert y[0, 0].item() == 42
    # A transposed (strided) PyTorch view comes in as a strided ddnet view.
    tt = ddnet.as_tensor(x.t())
    assert tt.shape == [4, 3] and tt.strides == [1, 4]
    np.testing.assert_array_equal(tt.numpy(), x.t().numpy())


def test_a_capsule_is_consumed_once():
    torch = pytest.importorskip("torch")
    cap = torch.utils.dlpack.to_dlpack(torch.zeros(3))
    ddnet.from_dlpack(cap)
    with pytest.raises(ddnet.Error, match="consumed once"):
        ddnet.from_dlpack(cap)


def test_build_info():
    info = ddnet.build_info()
    assert info["version"] == ddnet.__version__
    assert isinstance(info["cuda_devices"], int)
