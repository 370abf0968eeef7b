"""ddnet.msssim and ddnet.ddnet_loss: parity with the published PyTorch formula, gradients, and
a PyTorch training loop that uses them."""
import numpy as np
import pytest

import ddnet

torch = pytest.importorskip("torch")


def pair(shape, seed=1, noise=0.1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(*shape, generator=g, dtype=torch.float64)
    x = (y + (torch.rand(*shape, generator=g, dtype=torch.float64) - 0.5) * noise).clamp(0, 1)
    return x.to(dtype), y.to(dtype)


def test_msssim_matches_the_published_formula_value_and_gradient(published_msssim):
    x, y = pair((1, 1, 16, 40, 40))
    xa = x.clone().requires_grad_(True)
    ours = ddnet.msssim(xa, y)
    ours.backward()
    # The published formula in float64 (what float32 PyTorch approximates).
    xb = x.double().clone().requires_grad_(True)
    ref = published_msssim(xb, y.double())
    ref.backward()
    assert ours.shape == () and ours.dtype == torch.float32
    assert abs(ours.item() - ref.item()) < 2e-6
    rel = (xa.grad.double() - xb.grad).norm() / xb.grad.norm()
    assert rel < 1e-5, f"gradient differs from the published formula's by {rel:.2e}"


def test_msssim_on_numpy_gives_the_same_value():
    x, y = pair((1, 1, 16, 32, 32))
    v_np = ddnet.msssim(x.numpy(), y.numpy())
    v_t = ddnet.msssim(x, y).item()
    assert isinstance(v_np, float) and abs(v_np - v_t) < 1e-7


def test_msssim_gradcheck_in_double():
    x, y = pair((1, 1, 12, 24, 24), dtype=torch.float64)
    x.requires_grad_(True)
    f = lambda a: ddnet.msssim(a, y)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-6, rtol=1e-4, nondet_tol=0.0)


def test_loss_matches_mse_plus_published_msssim(published_msssim):
    x, y = pair((1, 1, 16, 32, 32), seed=3)
    xa = x.double().clone().requires_grad_(True)
    total, mse, ms = ddnet.ddnet_loss(xa, y.double(), gamma=0.1, return_parts=True)
    total.backward()
    xb = x.double().clone().requires_grad_(True)
    ref = torch.mean((xb - y.double()) ** 2) + 0.1 * (1 - published_msssim(xb, y.double()))
    ref.backward()
    assert abs(total.item() - ref.item()) < 1e-10
    assert abs(mse - torch.mean((x.double() - y.double()) ** 2).item()) < 1e-12
    assert 0 < ms <= 1
    assert torch.allclose(xa.grad, xb.grad, rtol=1e-8, atol=1e-12)


def test_loss_on_numpy_and_its_errors():
    x, y = pair((1, 1, 16, 32, 32))
    total, mse, ms = ddnet.ddnet_loss(x.numpy(), y.numpy(), return_parts=True)
    assert abs(total - (mse + 0.1 * (1 - ms))) < 1e-6
    with pytest.raises(ddnet.Error, match="shape"):
        ddnet.ddnet_loss(x.numpy(), y.numpy()[:, :, :8])
    bad = x.clone()
    bad[0, 0, 1, 2, 3] = float("nan")
    with pytest.raises(ddnet.Error, match="NaN|finite"):
        ddnet.ddnet_loss(bad, y)
    with pytest.raises(TypeError):
        ddnet.ddnet_loss(x, y.numpy())


def tiny_net(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv3d(1, 8, 3, padding=1), torch.nn.LeakyReLU(0.01),
        torch.nn.Conv3d(8, 8, 3, padding=1), torch.nn.LeakyReLU(0.01),
        torch.nn.Conv3d(8, 1, 3, padding=1))


def test_a_pytorch_training_loop_with_our_loss(published_msssim):
    clean, _ = pair((2, 1, 16, 32, 32), seed=5, noise=0)
    g = torch.Generator().manual_seed(9)
    noisy = (clean + 0.08 * torch.randn(clean.shape, generator=g)).clamp(0, 1)
    net = tiny_net(0)
    net_ref = tiny_net(0)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    opt_ref = torch.optim.Adam(net_ref.parameters(), lr=2e-3)
    losses = []
    for step in range(25):
        opt.zero_grad()
        out = net(noisy) + noisy
        loss = ddnet.ddnet_loss(out, clean)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        # The same loop with the published loss in PyTorch: the same trajectory.
        opt_ref.zero_grad()
        out_ref = net_ref(noisy) + noisy
        ref = torch.mean((out_ref - clean) ** 2) + 0.1 * (1 - published_msssim(out_ref, clean))
        ref.backward()
        opt_ref.step()
        if step == 0:
            assert abs(loss.item() - ref.item()) < 1e-5
    assert losses[-1] < 0.8 * losses[0], f"loss did not fall: {losses[0]:.5f} -> {losses[-1]:.5f}"
    assert abs(losses[-1] - ref.item()) < 0.02 * losses[-1]
    for p, q in zip(net.parameters(), net_ref.parameters()):
        assert torch.allclose(p, q, atol=2e-3), "our loss's training drifted from the published one"
