// The CPU convolutions' switches (see config.h): parsed once from the environment.
#include "kernels/cpu_conv/config.h"

#include <cstdlib>
#include <mutex>

#include "engine/error.h"
#include "kernels/cpu_conv/dnnl.h"
#include "kernels/cpu_conv/fft.h"
#include "kernels/cpu_conv/wgrad.h"

namespace ddnet::kernels::cpu_conv {

namespace {

// The variable's value, or "" when unset.
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::mutex& config_mutex() {
  static std::mutex m;
  return m;
}

Config& current() {  // guarded by config_mutex()
  static Config c = Config::from_environment();
  return c;
}

}  // namespace

Config Config::from_environment() {
  Config c;
  c.backend = dnnl_path::compiled() ? Backend::dnnl : Backend::im2col;
  if (const std::string v = env("DDNET_CPU_CONV"); !v.empty()) {
    DDNET_CHECK(v == "dnnl" || v == "im2col", "DDNET_CPU_CONV='", v, "': expected dnnl or im2col");
    DDNET_CHECK(v == "im2col" || dnnl_path::compiled(),
                "DDNET_CPU_CONV=dnnl: this build has no oneDNN (use im2col)");
    c.backend = v == "dnnl" ? Backend::dnnl : Backend::im2col;
  }
  if (const std::string v = env("DDNET_CPU_WGRAD"); !v.empty()) {
    DDNET_CHECK(v == "direct" || v == "dnnl", "DDNET_CPU_WGRAD='", v, "': expected direct or dnnl");
    c.wgrad = v == "dnnl" ? Wgrad::dnnl : Wgrad::direct;
  }
  if (const std::string v = env("DDNET_CPU_CONV_FFT"); !v.empty()) {
    DDNET_CHECK(v == "auto" || v == "on" || v == "off", "DDNET_CPU_CONV_FFT='", v,
                "': expected auto, on or off");
    c.fft = v == "on" ? FftMode::always : v == "off" ? FftMode::never : FftMode::automatic;
  }
  if (const std::string v = env("DDNET_CPU_CONV_FFT_PRECISION"); !v.empty()) {
    DDNET_CHECK(v == "float" || v == "double", "DDNET_CPU_CONV_FFT_PRECISION='", v,
                "': expected float or double");
    c.fft_precision = v == "double" ? FftPrecision::f64 : FftPrecision::f32;
  }
  return c;
}

Config Config::pinned() {
  Config c;
  c.backend = Backend::im2col;
  return c;
}

std::string Config::summary() const {
  const char* vars =
      " (DDNET_CPU_CONV, DDNET_CPU_WGRAD, DDNET_CPU_CONV_FFT, "
      "DDNET_CPU_CONV_FFT_PRECISION)";
  if (backend == Backend::im2col) return std::string("im2col + BLAS") + vars;
  ConvGeometry wide;  // stride 1, a 3-wide kernel: what the FFT and direct paths take
  wide.k[2] = 3;
  std::string s = "oneDNN; weight gradient ";
  if (wgrad == Wgrad::dnnl)
    s += "oneDNN";
  else
    s += direct_wgrad::supports(wide) ? "direct AVX2" : "oneDNN (this CPU has no AVX2/FMA)";
  s += "; tiled FFTs for wide kernels ";
  if (!fft::supports(wide)) return s + "not built (no FFTW)" + vars;
  s += fft == FftMode::never ? "off" : fft == FftMode::always ? "always" : "auto";
  s += fft_precision == FftPrecision::f32 ? ", float spectra" : ", double spectra";
  return s + vars;
}

Config config() {
  std::lock_guard<std::mutex> lock(config_mutex());
  return current();
}

void set_config(const Config& c) {
  DDNET_CHECK(c.backend != Backend::dnnl || dnnl_path::compiled(),
              "CPU convolution backend dnnl: this build has no oneDNN");
  DDNET_CHECK(c.fft_max_tile >= 0, "CPU convolution FFT tile cap ", c.fft_max_tile,
              ": expected 0 (none) or more");
  std::lock_guard<std::mutex> lock(config_mutex());
  current() = c;
}

}  // namespace ddnet::kernels::cpu_conv
