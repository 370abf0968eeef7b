"""MS-SSIM and the 3D-DDnet loss: PyTorch autograd functions over ddnet's fused kernels, or plain
values on NumPy arrays and ddnet tensors.

With PyTorch tensors (CPU, or CUDA with a CUDA build of ddnet), the forward and the backward are
ddnet's own (the fused MS-SSIM and its analytic gradient, kernels/msssim*); the tensors are
exchanged through DLPack without copies. The gradient flows to the prediction only: the target
is data, as in training.
"""
import numbers

from . import _ddnet

try:
    import torch
except ImportError:  # NumPy-only use
    torch = None


def _is_torch(x):
    return torch is not None and isinstance(x, torch.Tensor)


def _sync(*tensors):
    # Exchange on CUDA: finish PyTorch's queued work on the inputs before ddnet's stream reads
    # them (conservative: ddnet's current stream is not PyTorch's).
    for t in tensors:
        if t.is_cuda:
            torch.cuda.current_stream(t.device).synchronize()
            return


def _to_torch(t, like):
    out = torch.from_dlpack(t)
    return out.reshape(()) if out.numel() == 1 and like is None else out


def _msssim_kwargs(combine, normalize, data_range, window, sigma, weights, check_finite):
    return dict(combine=combine, normalize=normalize, data_range=float(data_range),
                window=int(window), sigma=float(sigma),
                weights=[float(w) for w in (weights or [])], check_finite=bool(check_finite))


if torch is not None:

    class MsssimFunction(torch.autograd.Function):
        """ddnet's fused MS-SSIM (value and analytic gradient) as a torch.autograd.Function."""

        @staticmethod
        def forward(ctx, x, y, kwargs):
            xd, yd = x.detach(), y.detach()
            _sync(xd, yd)
            value, grad = _ddnet.msssim(xd, yd, need_grad=x.requires_grad, **kwargs)
            ctx.save_for_backward(_to_torch(grad, xd) if grad is not None else None)
            return _to_torch(value, None).to(x.dtype)

        @staticmethod
        def backward(ctx, g):
            (grad,) = ctx.saved_tensors
            return (g * grad if grad is not None else None), None, None

    class DDnetLossFunction(torch.autograd.Function):
        """MSE + gamma (1 - MS-SSIM) with ddnet's forward and backward closures."""

        @staticmethod
        def forward(ctx, pred, target, gamma, kwargs):
            pd, td = pred.detach(), target.detach()
            _sync(pd, td)
            total, mse, ms, grad = _ddnet.ddnet_loss(pd, td, gamma=gamma,
                                                     need_grad=pred.requires_grad, **kwargs)
            ctx.save_for_backward(_to_torch(grad, pd) if grad is not None else None)
            ctx.parts = (float(_to_torch(mse, None)), float(_to_torch(ms, None)))
            return _to_torch(total, None).to(pred.dtype)

        @staticmethod
        def backward(ctx, g):
            (grad,) = ctx.saved_tensors
            return (g * grad if grad is not None else None), None, None, None


def msssim(x, y, *, combine="reference", normalize="simple", data_range=0.0, window=11,
           sigma=1.5, weights=None, check_finite=True):
    """MS-SSIM of x (the prediction) against y, shapes (N, C, H, W) or (N, C, D, H, W).

    Defaults reproduce the published 3D-DDnet formula (kernels/msssim.h); combine="textbook",
    normalize="none", data_range=1 give Wang et al.'s. PyTorch tensors: a differentiable 0-d
    tensor. NumPy arrays or ddnet tensors: a float.
    """
    kw = _msssim_kwargs(combine, normalize, data_range, window, sigma, weights, check_finite)
    if _is_torch(x) or _is_torch(y):
        if not (_is_torch(x) and _is_torch(y)):
            raise TypeError("ddnet.msssim: x and y must both be torch tensors, or neither")
        return MsssimFunction.apply(x, y, kw)
    value, _ = _ddnet.msssim(x, y, need_grad=False, **kw)
    return float(value.to("cpu").numpy().reshape(-1)[0])


def ddnet_loss(pred, target, gamma=0.1, *, combine="reference", normalize="simple",
               data_range=0.0, check_finite=True, return_parts=False):
    """3D-DDnet's training loss MSE + gamma (1 - MS-SSIM) of pred against target.

    PyTorch tensors: a differentiable 0-d tensor (with return_parts, also the MSE and MS-SSIM
    values as floats). NumPy arrays or ddnet tensors: a float (or the three floats).
    """
    if not isinstance(gamma, numbers.Real):
        raise TypeError("ddnet.ddnet_loss: gamma must be a number")
    kw = dict(combine=combine, normalize=normalize, data_range=float(data_range),
              check_finite=bool(check_finite))
    if _is_torch(pred) or _is_torch(target):
        if not (_is_torch(pred) and _is_torch(target)):
            raise TypeError("ddnet.ddnet_loss: pred and target must both be torch tensors, or neither")
        total = DDnetLossFunction.apply(pred, target, float(gamma), kw)
        if return_parts:
            parts = total.grad_fn.parts if total.grad_fn is not None else _parts(pred, target, gamma, kw)
            return total, parts[0], parts[1]
        return total
    total, mse, ms, _ = _ddnet.ddnet_loss(pred, target, gamma=float(gamma), need_grad=False, **kw)
    vals = [float(t.to("cpu").numpy().reshape(-1)[0]) for t in (total, mse, ms)]
    return tuple(vals) if return_parts else vals[0]


def _parts(pred, target, gamma, kw):
    _, mse, ms, _ = _ddnet.ddnet_loss(pred.detach(), target.detach(), gamma=float(gamma),
                                      need_grad=False, **kw)
    return float(torch.from_dlpack(mse)), float(torch.from_dlpack(ms))
