// The training loop.
#include "models/train.h"

#include <nlohmann/json.hpp>

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "engine/autograd.h"
#include "engine/prefetch.h"
#include "engine/rng.h"
#include "graph/arena.h"
#include "graph/nn.h"
#include "graph/optim.h"
#include "layers/loss.h"
#include "models/checkpoint.h"
#include "models/ddnet.h"
#include "models/transfer.h"

namespace ddnet::models {

namespace {

std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) {
  g_signal.store(sig);
}

using json = nlohmann::json;

void move_buffers(nn::Module& m, Device device) {
  for (const auto& b : m.named_buffers())
    if (b.tensor->dtype() == DType::f32) *b.tensor = b.tensor->to(device);
}

}  // namespace

TrainResult train(const TrainConfig& c, const SampleSource& samples, bool resume,
                  GradientSync* sync) {
  c.validate();
  namespace fs = std::filesystem;
  const bool root = sync == nullptr || sync->rank() == 0;  // writes the log and checkpoints
  if (sync) sync->check_same("the training configuration", c.to_json());
  const Device device = sync ? sync->device(Device::parse(c.device)) : Device::parse(c.device);
  use_device(device);  // kernels launch on the current device: make it this rank's GPU
  const std::string latest = c.out + "/checkpoint.h5";
  std::ofstream log;
  if (root) {
    fs::create_directories(c.out);
    log.open(c.out + "/train.jsonl", std::ios::app);
    DDNET_CHECK(log.good(), "cannot write ", c.out, "/train.jsonl");
  }

  DDnet net({c.model == "3d" ? 3 : 2, kernels::UpsampleMode::linear, c.seed, c.residual});
  if (!c.donor.empty()) {
    DDnet donor({2, kernels::UpsampleMode::linear, 0, c.residual});
    load_checkpoint(c.donor, donor, nullptr);
    transfer_2d_to_3d(donor, net, parse_transfer_fill(c.fill), 0.1, c.seed);
  }
  nn::Arena arena = nn::pack_parameters(net, device);
  move_buffers(net, device);
  nn::AdamOptions ao;
  ao.lr = c.lr;
  ao.clip_norm = c.clip_norm;
  nn::Adam adam(arena, ao);
  nn::ExponentialLR sched(adam, c.decay);
  const std::int64_t train_items = samples.size(0), val_items = samples.size(1);
  DDNET_CHECK(train_items >= c.batch, "the training split has ", train_items,
              " samples per epoch, fewer than the batch ", c.batch);
  const std::int64_t steps_per_epoch = train_items / c.batch;
  std::int64_t start_epoch = 0, step = 0;
  if (resume) {
    DDNET_CHECK(fs::exists(latest), "--resume: no checkpoint at ", latest);
    const TrainingState st = load_checkpoint(latest, net, &adam);
    start_epoch = st.epoch;
    step = st.step;
    sched.set_epoch(start_epoch);
    std::cerr << "resuming from " << latest << " at epoch " << start_epoch + 1 << ", step " << step
              << "\n";
  }
  auto save = [&](std::int64_t epochs_done, const std::string& path) {
    if (root) save_checkpoint(path, net, &adam, {epochs_done, step, c.seed, 0, c.to_json()});
  };
  if (sync) {
    // Same parameter layout everywhere, then rank 0's parameters and buffers (a resumed run
    // reads one checkpoint on every rank, a fresh one may have drawn differently).
    std::string layout;
    for (const auto& p : net.named_parameters()) layout += p.name + p.tensor->shape().str() + ";";
    sync->check_same("the parameter layout", layout);
    sync->broadcast(arena.params);
    for (const auto& b : net.named_buffers()) sync->broadcast(*b.tensor);
    std::vector<Tensor> params;
    for (const auto& p : net.named_parameters()) params.push_back(*p.tensor);
    sync->attach(arena.grads, params, arena.offsets);
  }

  g_signal = 0;
  auto old_int = std::signal(SIGINT, on_signal);
  auto old_term = std::signal(SIGTERM, on_signal);
  struct Restore {
    decltype(old_int) i, t;
    ~Restore() {
      std::signal(SIGINT, i);
      std::signal(SIGTERM, t);
    }
  } restore{old_int, old_term};

  const bool tty = root && c.progress && isatty(STDERR_FILENO);
  TrainResult result;
  BatchPrefetcher batches(device);  // one copy stream and pinned slots for the whole run
  for (std::int64_t epoch = start_epoch; epoch < c.epochs; ++epoch) {
    net.train();
    if (c.freeze_bn)
      net.for_each_module([](nn::Module& m) {
        if (dynamic_cast<nn::BatchNorm*>(&m)) m.eval();
      });
    double epoch_loss = 0;
    int counted = 0;
    // The next batch is read, normalised (and on CUDA staged in pinned memory and copied on a
    // copy stream) by the prefetcher's worker while this step computes.
    const std::int64_t first = step - epoch * steps_per_epoch;
    batches.start(
        [&samples, &c, epoch](std::int64_t pos) {
          HostBatch hb;
          for (int b = 0; b < c.batch; ++b) {
            Sample s = samples.get(0, epoch, pos * c.batch + b);
            hb.inputs.push_back(std::move(s.input));
            hb.targets.push_back(std::move(s.target));
          }
          return hb;
        },
        first, steps_per_epoch);
    for (std::int64_t pos = first; pos < steps_per_epoch; ++pos) {
      const auto t0 = std::chrono::steady_clock::now();
      const Batch batch = batches.next();
      const Tensor& input = batch.input;
      const Tensor& target = batch.target;
      adam.zero_grad();
      auto loss = F::ddnet_loss(net.forward(input), target, c.loss_gamma);
      if (sync) sync->before_backward();
      loss.total.backward();
      if (sync) sync->after_backward();  // gradients averaged over ranks
      double total = loss.total.item(), mse = loss.mse.item(), ms = loss.msssim.item();
      if (sync) {  // logged (and checked for NaN) as the mean over ranks: every rank agrees
        total = sync->mean(total);
        mse = sync->mean(mse);
        ms = sync->mean(ms);
      }
      if (!std::isfinite(total)) {
        clear_tape();
        result.exit_code = 3;
        result.message =
            detail::concat("step ", step + 1, " (epoch ", epoch + 1, "): the loss is not finite (",
                           !std::isfinite(mse) ? "MSE" : "MS-SSIM", " part: mse ", mse, ", msssim ",
                           ms, "); stopping, the last good checkpoint ", latest, " is kept");
        log << json{{"type", "error"}, {"step", step + 1}, {"message", result.message}}.dump()
            << "\n";
        return result;
      }
      adam.step();
      ++step;
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double vox = static_cast<double>(input.numel()) / secs;
      epoch_loss += total;
      ++counted;
      result.last_loss = total;
      log << json{{"type", "step"},  {"epoch", epoch + 1},  {"step", step},
                  {"loss", total},   {"mse", mse},          {"msssim", ms},
                  {"lr", adam.lr()}, {"voxels_per_s", vox}, {"seconds", secs}}
                 .dump()
          << std::endl;  // flushed: `tail -f train.jsonl` follows the run
      if (c.progress && root) {
        std::fprintf(
            stderr,
            "%sepoch %lld/%d step %lld/%lld  loss %.5f (mse %.5f, 1-msssim %.5f)  %.2f Mvoxel/s%s",
            tty ? "\r" : "", static_cast<long long>(epoch + 1), c.epochs,
            static_cast<long long>(pos + 1), static_cast<long long>(steps_per_epoch), total, mse,
            1 - ms, vox / 1e6, tty ? "   " : "\n");
      }
      if (c.stop_after_steps > 0 && step == c.stop_after_steps) std::raise(SIGINT);
      // Every rank stops at the same step when any of them was signalled.
      const bool stop = sync ? sync->mean(g_signal.load() ? 1.0 : 0.0) > 0 : g_signal.load() != 0;
      if (stop) {
        batches.stop();  // the next batch's dataset reads end before the checkpoint is written
        save(epoch, latest);
        result.message =
            detail::concat("interrupted (signal ", g_signal.load(), ") at step ", step,
                           "; checkpoint written to ", latest, "; continue with --resume");
        log << json{{"type", "interrupted"}, {"step", step}, {"checkpoint", latest}}.dump() << "\n";
        log.flush();
        result.steps = step;
        return result;
      }
    }
    if (tty) std::fprintf(stderr, "\n");
    // validation
    const auto val_t0 = std::chrono::steady_clock::now();
    double val = 0;
    {
      NoGradGuard no_grad;
      net.eval();
      for (std::int64_t i = 0; i < val_items; ++i) {
        const Sample s = samples.get(1, epoch, i);
        val += F::ddnet_loss(net.forward(s.input.to(device)), s.target.to(device), c.loss_gamma)
                   .total.item();
      }
      if (val_items) val /= static_cast<double>(val_items);
      if (sync) val = sync->mean(val);
    }
    result.last_val_loss = val;
    sched.step();
    log << json{{"type", "epoch"},
                {"epoch", epoch + 1},
                {"step", step},
                {"train_loss", counted ? epoch_loss / counted : 0.0},
                {"val_loss", val},
                {"lr", adam.lr()},
                {"val_seconds",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - val_t0).count()}}
               .dump()
        << "\n";
    log.flush();
    if (c.progress && root)
      std::fprintf(stderr, "epoch %lld: validation loss %.5f\n", static_cast<long long>(epoch + 1),
                   val);
    if ((epoch + 1) % c.checkpoint_every == 0 || epoch + 1 == c.epochs) {
      save(epoch + 1, latest);
      save(epoch + 1, detail::concat(c.out, "/checkpoint_epoch", epoch + 1, ".h5"));
    }
  }
  if (sync) {  // the ranks must have stayed in step: the same parameters, bit for bit
    const Tensor host = arena.params.to(Device::cpu());
    const auto* bytes = static_cast<const unsigned char*>(host.raw_data());
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (std::size_t i = 0; i < host.nbytes(); ++i) h = (h ^ bytes[i]) * 1099511628211ull;
    sync->check_same("the trained parameters (checksum)", std::to_string(h));
  }
  save(c.epochs, c.out + "/final.h5");
  result.steps = step;
  result.message = detail::concat("trained ", c.epochs, " epochs (", step, " steps); weights in ",
                                  c.out, "/final.h5");
  return result;
}

}  // namespace ddnet::models
