// The training loop (train.h): a Trainer builds the network, optimiser and log of one run, resumes
// it from its checkpoint, and runs epochs of steps, each epoch closed by validation, the log
// record and the checkpoints.
#include "models/train.h"

#include <nlohmann/json.hpp>

#include <sys/resource.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/parallel.h"
#include "engine/prefetch.h"
#include "engine/rng.h"
#include "engine/workspace.h"
#include "graph/arena.h"
#include "graph/nn.h"
#include "graph/optim.h"
#include "kernels/reduce_ops.h"
#include "layers/loss.h"
#include "models/checkpoint.h"
#include "models/ddnet.h"
#include "models/recalibrate.h"
#include "models/transfer.h"

namespace ddnet::models {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// User + system CPU time of the whole process (every thread), in seconds.
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) {
  g_signal.store(sig);
}

// SIGINT and SIGTERM set g_signal while it lives; the previous handlers come back after.
class SignalGuard {
 public:
  SignalGuard() {
    g_signal = 0;
    old_int_ = std::signal(SIGINT, on_signal);
    old_term_ = std::signal(SIGTERM, on_signal);
  }
  ~SignalGuard() {
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
  }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

 private:
  void (*old_int_)(int) = nullptr;
  void (*old_term_)(int) = nullptr;
};

void move_buffers(nn::Module& m, Device device) {
  for (const auto& b : m.named_buffers())
    if (b.tensor->dtype() == DType::f32) *b.tensor = b.tensor->to(device);
}

// Setup: every rank has the same configuration; this rank's device becomes the current one.
Device setup_device(const TrainConfig& c, GradientSync* sync) {
  if (sync) sync->check_same("the training configuration", c.to_json());
  const Device device = sync ? sync->device(Device::parse(c.device)) : Device::parse(c.device);
  use_device(device);  // kernels launch on the current device: make it this rank's GPU
  return device;
}

// Setup: <out>/train.jsonl opened for appending, on the rank that writes (closed elsewhere).
std::ofstream open_log(const TrainConfig& c, bool root) {
  std::ofstream log;
  if (root) {
    fs::create_directories(c.out);
    log.open(c.out + "/train.jsonl", std::ios::app);
    DDNET_CHECK(log.good(), "cannot write ", c.out, "/train.jsonl");
  }
  return log;
}

// Setup: the donor's 2D weights transferred into `net` (when one is given), then the parameters
// packed into one arena on the device, and the buffers moved there.
nn::Arena prepare_parameters(DDnet& net, const TrainConfig& c, Device device) {
  if (!c.donor.empty()) {
    DDnet donor({2, kernels::UpsampleMode::linear, 0, c.residual});
    load_checkpoint(c.donor, donor, nullptr);
    transfer_2d_to_3d(donor, net, parse_transfer_fill(c.fill), 0.1, c.seed);
  }
  nn::Arena arena = nn::pack_parameters(net, device);
  move_buffers(net, device);
  return arena;
}

nn::AdamOptions adam_options(const TrainConfig& c) {
  nn::AdamOptions ao;
  ao.lr = c.lr;
  ao.clip_norm = c.clip_norm;
  return ao;
}

std::int64_t steps_per_epoch(const TrainConfig& c, const SampleSource& samples) {
  const std::int64_t train_items = samples.size(0);
  DDNET_CHECK(train_items >= c.batch, "the training split has ", train_items,
              " samples per epoch, fewer than the batch ", c.batch);
  return train_items / c.batch;
}

struct StepLoss {
  double total = 0, mse = 0, msssim = 0;
};

// The memory of one step, read from the device's caching allocator (the CPU's too, except in
// builds with AddressSanitizer, which bypass it): what the step holds after the forward pass
// (the activations the tape keeps, and the loss) and its peak, both above what was held before
// the step (parameters, gradients, Adam's moments, the batch), in the bytes the tensors asked
// for, so the figures do not depend on the allocator's block sizes or caching (the same on every
// device). Logged beside them: the reserved peak (blocks obtained from the device, cached ones
// included) and the convolution workspaces' peak (engine/workspace.h; the CPU's are outside the
// allocator). The prefetch thread allocates the next batch from the same allocator meanwhile,
// which adds at most one batch (docs/memory.md).
struct StepMemory {
  explicit StepMemory(const Device& d)
      : alloc(d.is_cuda() ? &cuda_allocator(d.index()) : &host_allocator()),
        counted(d.is_cuda() || host_caching_enabled()) {
    if (!counted) return;
    base = alloc->stats().requested_bytes;
    alloc->reset_peak_stats();
    reset_workspace_peak();
  }
  void after_forward() {
    if (counted) held = alloc->stats().requested_bytes - base;
  }
  void after_step(std::int64_t batch_voxels) {
    voxels = batch_voxels;
    if (!counted) return;
    const AllocatorStats s = alloc->stats();
    peak = s.peak_requested_bytes - base;
    reserved_peak = s.peak_reserved_bytes;
    workspace_peak = workspace_stats().peak_bytes;
  }
  double per_voxel(std::int64_t bytes) const {
    return voxels > 0 ? static_cast<double>(bytes) / static_cast<double>(voxels) : 0;
  }
  CachingAllocator* alloc;
  bool counted;
  std::int64_t base = 0, held = 0, peak = 0, voxels = 0;
  std::int64_t reserved_peak = 0;  // what the allocator had obtained from the device at most
  // Convolution workspaces at most (engine/workspace.h): on a GPU cuDNN's, also inside `peak`;
  // on the CPU oneDNN's, the FFT path's (kept per thread) and the weight-gradient path's.
  std::int64_t workspace_peak = 0;
};

// One run of the training loop. Built in place: the optimiser refers to the arena, the
// scheduler to the optimiser.
class Trainer {
 public:
  Trainer(const TrainConfig& c, const SampleSource& samples, GradientSync* sync)
      : c_(c),
        samples_(samples),
        sync_(sync),
        root_(sync == nullptr || sync->rank() == 0),
        device_(setup_device(c, sync)),
        latest_(c.out + "/checkpoint.h5"),
        log_(open_log(c, root_)),
        net_({c.model == "3d" ? 3 : 2, kernels::UpsampleMode::linear, c.seed, c.residual,
              c.memory == "lean", c.recompute_from_level}),
        arena_(prepare_parameters(net_, c, device_)),
        adam_(arena_, adam_options(c)),
        sched_(adam_, c.decay),
        steps_per_epoch_(steps_per_epoch(c, samples)),
        val_items_(samples.size(1)),
        tty_(root_ && c.progress && isatty(STDERR_FILENO)) {}

  void resume();
  void attach_sync();
  TrainResult run();

 private:
  bool train_epoch(std::int64_t epoch, BatchPrefetcher& batches);
  bool train_step(std::int64_t epoch, std::int64_t pos, BatchPrefetcher& batches);
  struct Validation {
    double loss = 0, mse = 0, msssim = 0;  // means over the validation items (and ranks)
  };
  Validation validate(std::int64_t epoch);
  void recalibrate();
  void end_epoch(std::int64_t epoch);
  int stop_signal() const;
  void stop_non_finite(std::int64_t epoch, const StepLoss& loss);
  void stop_non_finite_gradient(std::int64_t epoch, std::int64_t pos, const StepLoss& loss);
  void check_resume_position(const TrainingState& st) const;
  void stop_interrupted(std::int64_t epoch, BatchPrefetcher& batches, int sig);
  void log_step(std::int64_t epoch, std::int64_t pos, const StepLoss& loss, double secs,
                double voxels_per_s, const StepMemory& mem);
  void log_epoch(std::int64_t epoch, const Validation& val, double val_secs, double recal_secs);
  void check_ranks_agree();
  void save(std::int64_t epochs_done, const std::string& path);

  const TrainConfig& c_;
  const SampleSource& samples_;
  GradientSync* sync_;
  const bool root_;  // writes the log and checkpoints
  const Device device_;
  const std::string latest_;
  std::ofstream log_;
  DDnet net_;
  nn::Arena arena_;
  nn::Adam adam_;
  nn::ExponentialLR sched_;
  const std::int64_t steps_per_epoch_, val_items_;
  const bool tty_;
  bool memory_reported_ = false;
  CpuShare cpu_share_;  // the CPU threads follow the cores other processes leave free
  std::int64_t start_epoch_ = 0, step_ = 0;
  double epoch_loss_ = 0;  // the sum of this epoch's step losses,
  int counted_ = 0;        // over this many steps
  TrainResult result_;
};

// Resume: the network, optimiser, epoch and step of <out>/checkpoint.h5.
void Trainer::resume() {
  DDNET_CHECK(fs::exists(latest_), "--resume: no checkpoint at ", latest_);
  const TrainingState st = load_checkpoint(latest_, net_, &adam_);
  check_resume_position(st);
  start_epoch_ = st.epoch;
  step_ = st.step;
  sched_.set_epoch(start_epoch_);
  std::cerr << "resuming from " << latest_ << " at epoch " << start_epoch_ + 1 << ", step " << step_
            << "\n";
}

namespace {

// The settings in which a checkpoint's configuration (JSON) differs from `c`, as
// " (settings that differ from the checkpoint's: key a -> b, ...)", or "".
std::string differing_settings(const std::string& checkpoint_json, const TrainConfig& c) {
  json was, now = json::parse(c.to_json());
  try {
    was = json::parse(checkpoint_json);
  } catch (const json::exception&) {
    return "";
  }
  std::string out;
  for (const auto& item : now.items()) {
    const std::string& key = item.key();
    if (key != "out" && key != "progress" && key != "stop_after_steps" && was.contains(key) &&
        was[key] != item.value())
      out += (out.empty() ? "" : ", ") + key + " " + was[key].dump() + " -> " + item.value().dump();
  }
  return out.empty() ? "" : " (settings that differ from the checkpoint's: " + out + ")";
}

}  // namespace

// Resume: the checkpoint's position (epochs done, steps done, steps per epoch) must fit this
// configuration; a different sample count or batch would index samples out of range or label
// the weights with the wrong epoch.
void Trainer::check_resume_position(const TrainingState& st) const {
  const std::string diff = differing_settings(st.config_json, c_);
  DDNET_CHECK(st.epoch >= 0 && st.step >= 0, "--resume: ", latest_, " holds epoch ", st.epoch,
              " and step ", st.step, ": not a position (a corrupt checkpoint?)");
  DDNET_CHECK(st.steps_per_epoch == 0 || st.steps_per_epoch == steps_per_epoch_,
              "--resume: ", latest_, " was written with ", st.steps_per_epoch,
              " steps per epoch, this configuration makes ", steps_per_epoch_, diff,
              "; resume with the checkpoint's settings, or start a new run in another --out");
  const std::int64_t within = st.step - st.epoch * steps_per_epoch_;
  DDNET_CHECK(within >= 0 && within <= steps_per_epoch_, "--resume: ", latest_, " is at step ",
              st.step, " after ", st.epoch, " epochs, which does not fit ", steps_per_epoch_,
              " steps per epoch", diff,
              "; resume with the checkpoint's settings, or start a new run in another --out");
  DDNET_CHECK(st.epoch < c_.epochs, "--resume: ", latest_, " has already trained ", st.epoch,
              " epochs",
              st.epoch == c_.epochs ? "" : detail::concat(", more than epochs ", c_.epochs),
              "; nothing is left to train (raise epochs to continue)");
}

// Same parameter layout everywhere, then rank 0's parameters and buffers (a resumed run reads
// one checkpoint on every rank, a fresh one may have drawn differently).
void Trainer::attach_sync() {
  std::string layout;
  for (const auto& p : net_.named_parameters()) layout += p.name + p.tensor->shape().str() + ";";
  sync_->check_same("the parameter layout", layout);
  sync_->broadcast(arena_.params);
  for (const auto& b : net_.named_buffers()) sync_->broadcast(*b.tensor);
  std::vector<Tensor> params;
  for (const auto& p : net_.named_parameters()) params.push_back(*p.tensor);
  sync_->attach(arena_.grads, params, arena_.offsets);
}

TrainResult Trainer::run() {
  BatchPrefetcher batches(device_);  // one copy stream and pinned slots for the whole run
  for (std::int64_t epoch = start_epoch_; epoch < c_.epochs; ++epoch) {
    if (!train_epoch(epoch, batches)) return result_;
    end_epoch(epoch);
  }
  if (sync_) check_ranks_agree();
  save(c_.epochs, c_.out + "/final.h5");
  result_.steps = step_;
  result_.message = detail::concat("trained ", c_.epochs, " epochs (", step_,
                                   " steps); weights in ", c_.out, "/final.h5");
  return result_;
}

// One epoch's steps; false when the run stopped (non-finite loss or a signal).
bool Trainer::train_epoch(std::int64_t epoch, BatchPrefetcher& batches) {
  net_.train();
  if (c_.freeze_bn)
    net_.for_each_module([](nn::Module& m) {
      if (dynamic_cast<nn::BatchNorm*>(&m)) m.eval();
    });
  epoch_loss_ = 0;
  counted_ = 0;
  // The next batch is read, normalised (and on CUDA staged in pinned memory and copied on a
  // copy stream) by the prefetcher's worker while this step computes.
  const std::int64_t first = step_ - epoch * steps_per_epoch_;
  batches.start(
      [this, epoch](std::int64_t pos) {
        HostBatch hb;
        for (int b = 0; b < c_.batch; ++b) {
          Sample s = samples_.get(0, epoch, pos * c_.batch + b);
          hb.inputs.push_back(std::move(s.input));
          hb.targets.push_back(std::move(s.target));
        }
        return hb;
      },
      first, steps_per_epoch_);
  for (std::int64_t pos = first; pos < steps_per_epoch_; ++pos)
    if (!train_step(epoch, pos, batches)) return false;
  if (tty_) std::fprintf(stderr, "\n");
  return true;
}

// One optimiser step on the next batch; false when the run stopped.
bool Trainer::train_step(std::int64_t epoch, std::int64_t pos, BatchPrefetcher& batches) {
  if (!device_.is_cuda()) cpu_share_.update();
  const auto t0 = Clock::now();
  const Batch batch = batches.next();
  adam_.zero_grad();
  StepMemory mem(device_);
  auto loss = F::ddnet_loss(net_.forward(batch.input), batch.target, c_.loss_gamma);
  mem.after_forward();
  if (sync_) sync_->before_backward();
  loss.total.backward();
  if (sync_) sync_->after_backward();  // gradients averaged over ranks
  mem.after_step(batch.input.numel());
  StepLoss l{loss.total.item(), loss.mse.item(), loss.msssim.item()};
  if (sync_) {  // logged (and checked for NaN) as the mean over ranks: every rank agrees
    l.total = sync_->mean(l.total);
    l.mse = sync_->mean(l.mse);
    l.msssim = sync_->mean(l.msssim);
  }
  if (!std::isfinite(l.total)) {
    stop_non_finite(epoch, l);
    return false;
  }
  // A finite loss can still have a non-finite gradient (one that overflows on its way back,
  // then inf - inf): one step would make every parameter and moment NaN. One reduction over the
  // gradient arena, which clipping reuses.
  const Tensor norm_sq = kernels::sum_sq(arena_.grads);
  if (!std::isfinite(norm_sq.item())) {
    stop_non_finite_gradient(epoch, pos, l);
    return false;
  }
  adam_.step(norm_sq);
  ++step_;
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  epoch_loss_ += l.total;
  ++counted_;
  result_.last_loss = l.total;
  log_step(epoch, pos, l, secs, static_cast<double>(batch.input.numel()) / secs, mem);
  if (c_.stop_after_steps > 0 && step_ == c_.stop_after_steps) std::raise(SIGINT);
  if (const int sig = stop_signal()) {
    stop_interrupted(epoch, batches, sig);
    return false;
  }
  return true;
}

// The signal that stops the run at this step, 0 for none: every rank stops at the same step when
// any of them was signalled, and names the same signal (SIGTERM when any rank had it).
int Trainer::stop_signal() const {
  const int local = g_signal.load();
  if (!sync_) return local;
  if (sync_->mean(local ? 1.0 : 0.0) == 0) return 0;
  return sync_->mean(local == SIGTERM ? 1.0 : 0.0) > 0 ? SIGTERM : SIGINT;
}

void Trainer::stop_non_finite(std::int64_t epoch, const StepLoss& l) {
  clear_tape();
  result_.exit_code = 3;
  result_.message =
      detail::concat("step ", step_ + 1, " (epoch ", epoch + 1, "): the loss is not finite (",
                     !std::isfinite(l.mse) ? "MSE" : "MS-SSIM", " part: mse ", l.mse, ", msssim ",
                     l.msssim, "); stopping, the last good checkpoint ", latest_, " is kept");
  log_ << json{{"type", "error"}, {"step", step_ + 1}, {"message", result_.message}}.dump() << "\n";
}

// Names the first parameter whose gradient is not finite and the samples of the batch.
void Trainer::stop_non_finite_gradient(std::int64_t epoch, std::int64_t pos, const StepLoss& l) {
  clear_tape();
  const Tensor grads = arena_.grads.to(Device::cpu());
  const float* g = grads.data<float>();
  std::string where = "the squared norm overflows";
  for (std::size_t k = 0; k < arena_.layout.size(); ++k) {
    const std::int64_t begin = arena_.offsets[k], n = arena_.layout[k].tensor->numel();
    std::int64_t i = 0;
    while (i < n && std::isfinite(g[begin + i])) ++i;
    if (i < n) {
      where =
          detail::concat("first in ", arena_.layout[k].name, ", element ", i, ": ", g[begin + i]);
      break;
    }
  }
  std::string batch;
  for (int b = 0; b < c_.batch; ++b) {
    const std::string name = samples_.get(0, epoch, pos * c_.batch + b).name;
    batch += (b ? ", " : "") + (name.empty() ? "?" : name);
  }
  result_.exit_code = 3;
  result_.message = detail::concat(
      "step ", step_ + 1, " (epoch ", epoch + 1, "): the gradient is not finite (", where,
      ") though the loss is (", l.total, "); batch: ", batch, "; stopping before the update, the ",
      "last good checkpoint ", latest_, " is kept");
  log_ << json{{"type", "error"}, {"step", step_ + 1}, {"message", result_.message}}.dump() << "\n";
}

void Trainer::stop_interrupted(std::int64_t epoch, BatchPrefetcher& batches, int sig) {
  batches.stop();  // the next batch's dataset reads end before the checkpoint is written
  save(epoch, latest_);
  result_.exit_code = 128 + sig;  // as a shell reports a process the signal ended: 130, 143
  result_.message = detail::concat("interrupted (", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                                   ", signal ", sig, ") at step ", step_,
                                   "; checkpoint written to ", latest_, "; continue with --resume");
  log_ << json{{"type", "interrupted"}, {"step", step_}, {"checkpoint", latest_}}.dump() << "\n";
  log_.flush();
  result_.steps = step_;
}

// Validation: the mean loss and its parts over the validation split (and over ranks), without
// gradients.
Trainer::Validation Trainer::validate(std::int64_t epoch) {
  NoGradGuard no_grad;
  net_.eval();
  Validation v;
  for (std::int64_t i = 0; i < val_items_; ++i) {
    const Sample s = samples_.get(1, epoch, i);
    const F::LossParts l =
        F::ddnet_loss(net_.forward(s.input.to(device_)), s.target.to(device_), c_.loss_gamma);
    v.loss += l.total.item();
    v.mse += l.mse.item();
    v.msssim += l.msssim.item();
  }
  if (val_items_) {
    const auto n = static_cast<double>(val_items_);
    v.loss /= n;
    v.mse /= n;
    v.msssim /= n;
  }
  if (sync_) {
    v.loss = sync_->mean(v.loss);
    v.mse = sync_->mean(v.mse);
    v.msssim = sync_->mean(v.msssim);
  }
  return v;
}

// BatchNorm recalibration (TrainConfig::bn_recalibrate): over bn_recalibrate of this rank's
// whole training volumes, spread evenly over them (all of them when there are fewer).
void Trainer::recalibrate() {
  const std::int64_t available = samples_.whole_size();
  const std::int64_t n = std::min(c_.bn_recalibrate, available);
  recalibrate_batch_norm(
      net_, [this](const Tensor& x) { return net_.forward(x); }, n,
      [&](std::int64_t i) { return samples_.whole(i * available / n).input; }, device_);
}

// After an epoch's steps: BatchNorm recalibration (when asked for), validation, the
// learning-rate schedule, the log, the checkpoints.
void Trainer::end_epoch(std::int64_t epoch) {
  const auto recal_t0 = Clock::now();
  if (c_.bn_recalibrate > 0) recalibrate();
  const double recal_secs = std::chrono::duration<double>(Clock::now() - recal_t0).count();
  const auto val_t0 = Clock::now();
  const Validation val = validate(epoch);
  result_.last_val_loss = val.loss;
  sched_.step();
  log_epoch(epoch, val, std::chrono::duration<double>(Clock::now() - val_t0).count(), recal_secs);
  if ((epoch + 1) % c_.checkpoint_every == 0 || epoch + 1 == c_.epochs) {
    save(epoch + 1, latest_);
    save(epoch + 1, detail::concat(c_.out, "/checkpoint_epoch", epoch + 1, ".h5"));
  }
}

// Logging: a train.jsonl record per step (flushed: `tail -f train.jsonl` follows the run) and
// the progress line on stderr.
void Trainer::log_step(std::int64_t epoch, std::int64_t pos, const StepLoss& l, double secs,
                       double vox, const StepMemory& mem) {
  json rec{{"type", "step"},   {"epoch", epoch + 1},  {"step", step_},
           {"loss", l.total},  {"mse", l.mse},        {"msssim", l.msssim},
           {"lr", adam_.lr()}, {"voxels_per_s", vox}, {"seconds", secs}};
  if (!device_.is_cuda()) rec["cpu_threads"] = cpu_threads();
  if (mem.counted) {
    rec["memory"] = {{"base_bytes", mem.base},
                     {"held_after_forward_bytes", mem.held},
                     {"peak_bytes", mem.peak},
                     {"held_after_forward_per_voxel", mem.per_voxel(mem.held)},
                     {"peak_per_voxel", mem.per_voxel(mem.peak)},
                     {"reserved_peak_bytes", mem.reserved_peak},
                     {"workspace_peak_bytes", mem.workspace_peak},
                     {"workspace_peak_per_voxel", mem.per_voxel(mem.workspace_peak)}};
    if (!memory_reported_ && root_) {  // once per run
      memory_reported_ = true;
      std::fprintf(stderr,
                   "memory per step (%s): held after forward %.1f MiB (%.0f B/voxel), peak %.1f "
                   "MiB (%.0f B/voxel), above %.1f MiB of parameters, gradients, moments and "
                   "batch; convolution workspaces at most %.1f MiB (%.0f B/voxel)\n",
                   device_.str().c_str(), static_cast<double>(mem.held) / (1 << 20),
                   mem.per_voxel(mem.held), static_cast<double>(mem.peak) / (1 << 20),
                   mem.per_voxel(mem.peak), static_cast<double>(mem.base) / (1 << 20),
                   static_cast<double>(mem.workspace_peak) / (1 << 20),
                   mem.per_voxel(mem.workspace_peak));
    }
  }
  log_ << rec.dump() << std::endl;
  if (c_.progress && root_) {
    std::fprintf(
        stderr,
        "%sepoch %lld/%d step %lld/%lld  loss %.5f (mse %.5f, 1-msssim %.5f)  %.2f Mvoxel/s%s",
        tty_ ? "\r" : "", static_cast<long long>(epoch + 1), c_.epochs,
        static_cast<long long>(pos + 1), static_cast<long long>(steps_per_epoch_), l.total, l.mse,
        1 - l.msssim, vox / 1e6, tty_ ? "   " : "\n");
  }
}

// Logging: the epoch's record (mean training loss, the validation loss and its parts, time:
// the validation's wall time, the BatchNorm recalibration's when it ran, and the process's CPU
// time so far, which a busy machine does not inflate) and its line.
void Trainer::log_epoch(std::int64_t epoch, const Validation& val, double val_secs,
                        double recal_secs) {
  json rec{{"type", "epoch"},
           {"epoch", epoch + 1},
           {"step", step_},
           {"train_loss", counted_ ? epoch_loss_ / counted_ : 0.0},
           {"val_loss", val.loss},
           {"val_mse", val.mse},
           {"val_msssim", val.msssim},
           {"lr", adam_.lr()},
           {"val_seconds", val_secs},
           {"process_cpu_seconds", process_cpu_seconds()}};
  if (c_.bn_recalibrate > 0) rec["bn_recalibrate_seconds"] = recal_secs;
  log_ << rec.dump() << "\n";
  log_.flush();
  if (c_.progress && root_)
    std::fprintf(stderr, "epoch %lld: validation loss %.5f (mse %.6f, msssim %.4f)\n",
                 static_cast<long long>(epoch + 1), val.loss, val.mse, val.msssim);
}

// The ranks must have stayed in step: the same parameters, bit for bit.
void Trainer::check_ranks_agree() {
  const Tensor host = arena_.params.to(Device::cpu());
  const auto* bytes = static_cast<const unsigned char*>(host.raw_data());
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (std::size_t i = 0; i < host.nbytes(); ++i) h = (h ^ bytes[i]) * 1099511628211ull;
  sync_->check_same("the trained parameters (checksum)", std::to_string(h));
}

void Trainer::save(std::int64_t epochs_done, const std::string& path) {
  if (root_)
    save_checkpoint(path, net_, &adam_,
                    {epochs_done, step_, c_.seed, 0, c_.to_json(), steps_per_epoch_});
}

}  // namespace

Sample SampleSource::whole(std::int64_t index) const {
  DDNET_FAIL(
      "this sample source has no whole training volumes (item ", index,
      "): BatchNorm recalibration (bn_recalibrate) needs a dataset loader or synthetic data");
}

TrainResult train(const TrainConfig& c, const SampleSource& samples, bool resume,
                  GradientSync* sync) {
  c.validate();
  DDNET_CHECK(c.bn_recalibrate == 0 || samples.whole_size() > 0, "bn_recalibrate ",
              c.bn_recalibrate,
              ": the training data has no whole volumes to recalibrate BatchNorm on");
  Trainer t(c, samples, sync);
  if (resume) t.resume();
  if (sync) t.attach_sync();
  SignalGuard signals;
  return t.run();
}

}  // namespace ddnet::models
