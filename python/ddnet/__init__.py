"""ddnet: 3D-DDnet low-dose CT denoising on a hand-written C++/CUDA engine, from Python.

Tensors go in and out without copies (DLPack, NumPy):

    t = ddnet.as_tensor(numpy_array_or_torch_tensor)   # a view, no copy
    torch.from_dlpack(t); numpy.from_dlpack(t); t.numpy()

The fused MS-SSIM and 3D-DDnet's loss, as PyTorch autograd functions or on NumPy arrays:

    loss = ddnet.ddnet_loss(pred, target)     # torch tensors: differentiable (our fused backward)
    value = ddnet.msssim(x, y)                # NumPy arrays: a float

Models and data:

    model = ddnet.load_model("run/best.h5")            # or ddnet.new_model(dims=3)
    denoised_hu = model.denoise(volume_hu, tile=64)    # NumPy (slices, rows, cols) in HU
    ds = ddnet.read_dataset("data/ct.h5"); ds.scans; ds.read("scan0", ldct=True)
"""
from ._ddnet import (  # noqa: F401
    Dataset,
    Error,
    Model,
    Tensor,
    __version__,
    as_tensor,
    build_info,
    from_dlpack,
    load_model,
    new_model,
    read_dataset,
    to_dlpack,
    write_dataset,
)
from .functional import ddnet_loss, msssim  # noqa: F401

__all__ = [
    "Dataset", "Error", "Model", "Tensor", "__version__", "as_tensor", "build_info", "ddnet_loss",
    "from_dlpack", "load_model", "msssim", "new_model", "read_dataset", "to_dlpack",
    "write_dataset",
]
