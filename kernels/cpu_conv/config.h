// The switches of the CPU convolutions' float32 fast paths (this folder: tiled FFTs, a direct
// AVX2 weight gradient, oneDNN), in one object. It is read once from the environment, on first
// use; `ddnet info` prints its summary; tests and benchmarks change it in a scope with
// ScopedConfig. float64 never takes a fast path: it always runs the im2col + BLAS code of
// kernels/conv_cpu.cpp, and so does float32 under Config::pinned(), the reference that CUDA
// results and tests compare against whatever the machine.
#pragma once

#include <cstdint>
#include <string>

namespace ddnet::kernels::cpu_conv {

enum class Backend { dnnl, im2col };  // DDNET_CPU_CONV=dnnl|im2col
enum class Wgrad { direct, dnnl };    // DDNET_CPU_WGRAD=direct|dnnl (the weight gradient)
// The direct weight gradient's vectorisation (wgrad.h); automatic picks by channel count.
enum class WgradVariant { automatic, position_lanes, channel_lanes };
// automatic: the cost model of fft.cpp decides; always: wherever supported; never: off.
enum class FftMode { automatic, always, never };  // DDNET_CPU_CONV_FFT=auto|on|off
enum class FftPrecision { f32, f64 };             // DDNET_CPU_CONV_FFT_PRECISION=float|double

struct Config {
  Backend backend = Backend::dnnl;  // dnnl where the build has oneDNN, else im2col
  Wgrad wgrad = Wgrad::direct;
  WgradVariant wgrad_variant = WgradVariant::automatic;
  FftMode fft = FftMode::automatic;
  FftPrecision fft_precision = FftPrecision::f32;
  std::int64_t fft_max_tile = 0;  // caps the FFT tile on every axis (0: none; tests)

  // The defaults, changed by the four environment variables above; a value they do not know is
  // an error naming the variable.
  static Config from_environment();
  // im2col + BLAS only: the machine-independent reference.
  static Config pinned();
  // One line: how float32 CPU convolutions run here, and the variables that change it.
  std::string summary() const;
  bool uses_fast_paths() const { return backend == Backend::dnnl; }
};

// The configuration in force (from_environment() until set_config is called).
Config config();
// Replaces it; backend dnnl in a build without oneDNN is an error.
void set_config(const Config& c);

// Sets a configuration for the lifetime of the object, then restores the previous one.
class ScopedConfig {
 public:
  explicit ScopedConfig(const Config& c) : saved_(config()) { set_config(c); }
  ~ScopedConfig() { set_config(saved_); }
  ScopedConfig(const ScopedConfig&) = delete;
  ScopedConfig& operator=(const ScopedConfig&) = delete;

 private:
  Config saved_;
};

}  // namespace ddnet::kernels::cpu_conv
