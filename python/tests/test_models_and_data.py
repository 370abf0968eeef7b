"""ddnet.new_model / load_model / Model.denoise on NumPy volumes in HU, and the HDF5 dataset."""
import numpy as np
import pytest

import ddnet


def phantom(d, h, w, seed=0):
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[0:d, 0:h, 0:w]
    body = ((y - h / 2) ** 2 + (x - w / 2) ** 2 < (0.4 * h) ** 2).astype(np.float32)
    vol = -1000 + 1040 * body + 400 * body * (np.sin(x / 3.0) * np.cos(z / 2.0) > 0.5)
    return (vol + rng.normal(0, 30, vol.shape)).astype(np.float32)


def test_a_saved_model_loads_and_denoises_the_same(tmp_path):
    m = ddnet.new_model(dims=3, seed=4, residual=True)
    assert m.dims == 3 and m.device == "cpu"
    path = tmp_path / "model.h5"
    m.save(str(path))
    loaded = ddnet.load_model(str(path))
    vol = phantom(16, 48, 48)
    a = m.denoise(vol)
    b = loaded.denoise(vol)
    assert a.shape == vol.shape and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    # Untrained residual network = identity (its last layer starts at zero): HU come back.
    assert np.abs(a - vol).max() < 1e-2


def test_tiled_denoising_matches_whole_volume():
    m = ddnet.new_model(dims=3, seed=1)
    vol = phantom(32, 64, 64, seed=2)
    whole = m.denoise(vol)
    tiled = m.denoise(vol, tile=(16, 32, 32), overlap=8)
    assert tiled.shape == vol.shape
    # Blended tiles agree with the whole volume away from edges only approximately.
    assert np.median(np.abs(whole - tiled)) < 5.0


def test_2d_model_denoises_slices_and_planes():
    m = ddnet.new_model(dims=2, seed=0, residual=True)
    vol = phantom(3, 32, 32)
    out = m.denoise(vol)
    assert out.shape == vol.shape
    plane = m.denoise(vol[1])
    assert plane.shape == vol[1].shape
    np.testing.assert_allclose(plane, out[1], atol=1e-2)


def test_forward_on_a_tensor():
    m = ddnet.new_model(dims=3, seed=0)
    x = np.random.default_rng(0).random((1, 1, 16, 16, 16), dtype=np.float32)
    y = m.forward(x).numpy()
    assert y.shape == x.shape and np.isfinite(y).all()


def test_load_model_errors_name_the_file(tmp_path):
    with pytest.raises(ddnet.Error, match="missing.h5"):
        ddnet.load_model(str(tmp_path / "missing.h5"))
    with pytest.raises(ddnet.Error, match="volume must be"):
        ddnet.new_model(dims=3).denoise(np.zeros((2, 2, 2, 2), np.float32))


def test_dataset_write_read_round_trip(tmp_path):
    nd = phantom(4, 16, 16, seed=1)
    ld = phantom(4, 16, 16, seed=2)
    path = tmp_path / "ct.h5"
    ddnet.write_dataset(str(path), [
        {"name": "head", "ndct": nd, "ldct": ld, "split": "test", "spacing": (0.5, 0.5, 1.0)},
        {"name": "chest", "ndct": nd[:2], "split": "train"},
    ])
    ds = ddnet.read_dataset(str(path))
    assert len(ds) == 2 and ds.path == str(path)
    scans = {s["name"]: s for s in ds.scans}
    assert scans["head"]["shape"] == (4, 16, 16) and scans["head"]["split"] == "test"
    assert scans["head"]["has_ldct"] and not scans["chest"]["has_ldct"]
    assert tuple(scans["head"]["spacing"]) == (0.5, 0.5, 1.0)
    # int16 storage when every value fits: HU rounded.
    np.testing.assert_allclose(ds.read("head"), np.round(nd), atol=0.5)
    head = [s["name"] for s in ds.scans].index("head")
    np.testing.assert_allclose(ds.read(head, ldct=True, slices=[3, 1]), np.round(ld[[3, 1]]),
                               atol=0.5)
    with pytest.raises(ddnet.Error, match="chest.*no ldct"):
        ds.read("chest", ldct=True)
    with pytest.raises(ddnet.Error, match="no scan named 'lung'"):
        ds.read("lung")


def test_a_damaged_dataset_is_refused_with_its_name(tmp_path):
    bad = tmp_path / "notes.h5"
    bad.write_bytes(b"not an HDF5 file")
    with pytest.raises(ddnet.Error, match="notes.h5"):
        ddnet.read_dataset(str(bad))
