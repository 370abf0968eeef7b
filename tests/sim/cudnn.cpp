// ddnet's CUDA emulator: the checking fake cuDNN (include/cudnn.h). Convolutions run on the
// handle's stream as a reference in double (OpenBLAS dgemms over zero-padded copies of the
// operands, or tap by tap when an operand holds a NaN or an infinity; any strides, 4-d and 5-d),
// with cuDNN's alpha/beta contract; every call first checks what real cuDNN would refuse with a
// status or, worse, silently misread (descriptors, shapes, memory ranges and overlaps, workspace,
// algorithm, stream, device) and aborts through sim::fail naming the call and the argument.
//
// What it models of real cuDNN beyond the arithmetic:
//  - an algorithm table per direction: which algorithms a problem supports, the workspace each
//    needs (geometry- and math-type-dependent), which are deterministic, which use tensor cores;
//  - Find*Ex: measures every algorithm under the provided math type and CUDNN_DEFAULT_MATH (as the
//    cuDNN documentation says it does), seeded timings, status ALLOC_FAILED past the workspace
//    given, host-blocking, and its output buffer left clobbered (NaN);
//  - TF32: a tensor-core algorithm run with a math type other than CUDNN_FMA_MATH rounds its
//    operands to TF32 (10-bit mantissa), as Ampere+ GPUs do;
//  - non-deterministic algorithms: partial sums rounded to float and added in a per-call seeded
//    order, so their last bits vary from call to call like atomics' do.
#include <cblas.h>
#include <cudnn.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sim.h"

namespace sim = ::ddnet::sim;

namespace {

using i64 = std::int64_t;

template <class... A>
std::string cat(const A&... a) {
  std::ostringstream os;
  (os << ... << a);
  return os.str();
}

// ---------------------------------------------------------------------------------------------
// Objects. Handles and descriptors are opaque ids (serial << 4 | kind), never reused and never
// dereferenced by anyone: a destroyed, never-created or wrong-kind descriptor is told apart
// exactly, where a freed pointer could be recycled by the next creation.
enum Kind : std::uintptr_t { kHandle = 1, kTensor = 2, kFilter = 3, kConv = 4 };

const char* kind_name(std::uintptr_t k) {
  switch (k) {
    case kHandle:
      return "cuDNN handle";
    case kTensor:
      return "tensor descriptor";
    case kFilter:
      return "filter descriptor";
    case kConv:
      return "convolution descriptor";
    default:
      return "unknown object";
  }
}

struct HandleState {
  int device = 0;
  cudaStream_t stream = nullptr;
  bool stream_set = false;
  std::atomic<bool> busy{false};
};

struct TensorState {
  bool set = false;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int nb = 0;
  int dims[CUDNN_DIM_MAX] = {};
  int strides[CUDNN_DIM_MAX] = {};
};

struct FilterState {
  bool set = false;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW;
  int nb = 0;
  int dims[CUDNN_DIM_MAX] = {};
};

struct ConvState {
  bool set = false;
  int nsp = 0;
  int pad[3] = {}, stride[3] = {}, dil[3] = {};
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;  // real cuDNN's default for a new descriptor
};

struct Registry {
  std::mutex mu;
  std::uintptr_t next_serial = 1;
  std::unordered_map<std::uintptr_t, std::shared_ptr<HandleState>> handles;
  std::unordered_map<std::uintptr_t, TensorState> tensors;
  std::unordered_map<std::uintptr_t, FilterState> filters;
  std::unordered_map<std::uintptr_t, ConvState> convs;
};
Registry& reg() {
  static Registry* r = new Registry;  // never destroyed: used by threads still running at exit
  return *r;
}

std::uintptr_t new_id(Kind k) {  // under reg().mu
  return (reg().next_serial++ << 4) | k;
}

// Fails unless `v` is a live object of kind `want` (caller holds reg().mu).
template <class Map>
typename Map::iterator find_live(Map& m, std::uintptr_t v, Kind want, const std::string& call,
                                 const char* arg) {
  if (v == 0) sim::fail(cat(call, ": ", arg, " is NULL"));
  const std::uintptr_t kind = v & 15, serial = v >> 4;
  if (kind < kHandle || kind > kConv || serial == 0 || serial >= reg().next_serial)
    sim::fail(cat(call, ": ", arg, " (0x", std::hex, v, std::dec,
                  ") was never created by this cuDNN (uninitialised or garbage)"));
  if (kind != want)
    sim::fail(cat(call, ": ", arg, " is a ", kind_name(kind), " where a ", kind_name(want),
                  " is expected"));
  auto it = m.find(v);
  if (it == m.end())
    sim::fail(cat(call, ": ", arg, " (a ", kind_name(want), ") was destroyed before this call"));
  return it;
}

std::uintptr_t idv(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p);
}

TensorState get_tensor(cudnnTensorDescriptor_t d, const std::string& call, const char* arg) {
  std::lock_guard<std::mutex> lock(reg().mu);
  TensorState t = find_live(reg().tensors, idv(d), kTensor, call, arg)->second;
  if (!t.set)
    sim::fail(cat(call, ": ", arg, " was created but never set (cudnnSetTensorNdDescriptor)"));
  return t;
}
FilterState get_filter(cudnnFilterDescriptor_t d, const std::string& call, const char* arg) {
  std::lock_guard<std::mutex> lock(reg().mu);
  FilterState f = find_live(reg().filters, idv(d), kFilter, call, arg)->second;
  if (!f.set)
    sim::fail(cat(call, ": ", arg, " was created but never set (cudnnSetFilterNdDescriptor)"));
  return f;
}
ConvState get_conv(cudnnConvolutionDescriptor_t d, const std::string& call, const char* arg) {
  std::lock_guard<std::mutex> lock(reg().mu);
  ConvState c = find_live(reg().convs, idv(d), kConv, call, arg)->second;
  if (!c.set)
    sim::fail(cat(call, ": ", arg, " was created but never set (cudnnSetConvolutionNdDescriptor)"));
  return c;
}

const char* math_name(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_DEFAULT_MATH:
      return "CUDNN_DEFAULT_MATH";
    case CUDNN_TENSOR_OP_MATH:
      return "CUDNN_TENSOR_OP_MATH";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION:
      return "CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION";
    case CUDNN_FMA_MATH:
      return "CUDNN_FMA_MATH";
  }
  return "(invalid math type)";
}

// ---------------------------------------------------------------------------------------------
// A call: the handle checked and held for its duration (a cuDNN handle is not thread-safe).
class Call {
 public:
  Call(const char* name, cudnnHandle_t handle) : name_(name) {
    sim::count(name);
    {
      std::lock_guard<std::mutex> lock(reg().mu);
      h_ = find_live(reg().handles, idv(handle), kHandle, name_, "handle")->second;
      device_ = h_->device;
      stream_ = h_->stream;
      stream_set_ = h_->stream_set;
    }
    if (h_->busy.exchange(true))
      sim::fail(cat(name_, ": the handle is in use by another host thread at the same time (a ",
                    "cuDNN handle is not thread-safe: use one per thread)"));
    const int cur = sim::current_device();
    if (cur != device_)
      sim::fail(cat(name_, ": the handle belongs to device ", device_, " (current at cudnnCreate) ",
                    "but device ", cur, " is current"));
    const int sd = sim::stream_device(stream_);  // fails on a destroyed stream
    if (sd != device_)
      sim::fail(cat(name_, ": the handle's stream belongs to device ", sd,
                    ", the handle to device ", device_));
    // Allowed, but work on the legacy default stream serialises with the whole device: noted
    // in the coverage counts so that a suite can see it happen.
    if (!stream_set_ || stream_ == nullptr) sim::count("cudnn:null-stream");
  }
  ~Call() { h_->busy.store(false); }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  const std::string& name() const { return name_; }
  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }

 private:
  std::string name_;
  std::shared_ptr<HandleState> h_;
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  bool stream_set_ = false;
};

// alpha and beta: host floats for float data, read at the call (the caller's may die after it).
float host_scalar(const Call& c, const void* p, const char* arg) {
  if (!p) sim::fail(cat(c.name(), ": ", arg, " is NULL"));
  sim::DeviceRange r;
  if (sim::find_allocation(p, &r))
    sim::fail(cat(c.name(), ": ", arg, " points to device memory; cuDNN reads the scaling ",
                  "factors from host memory"));
  float v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Layouts: N, C, D, H, W (a 4-d tensor has D = 1), in float elements.
struct Layout {
  int nb = 0;  // as described: 4 or 5
  i64 d[5] = {1, 1, 1, 1, 1};
  i64 s[5] = {0, 0, 0, 0, 0};
  i64 count() const { return d[0] * d[1] * d[2] * d[3] * d[4]; }
  i64 sp() const { return d[2] * d[3] * d[4]; }
  i64 span() const {  // max offset + 1
    i64 m = 0;
    for (int i = 0; i < 5; ++i) m += (d[i] - 1) * s[i];
    return m + 1;
  }
  bool packed() const {
    i64 want = 1;
    for (int i = 4; i >= 0; --i) {
      if (d[i] != 1 && s[i] != want) return false;
      want *= d[i];
    }
    return true;
  }
  std::string str() const {
    std::string a, b;
    for (int i = 0; i < 5; ++i) {
      if (nb == 4 && i == 2) continue;
      a += (a.empty() ? "" : "x") + std::to_string(d[i]);
      b += (b.empty() ? "" : ",") + std::to_string(s[i]);
    }
    return a + " (strides " + b + ")";
  }
};

Layout packed_layout(int nb, const i64 dims[5]) {
  Layout l;
  l.nb = nb;
  i64 st = 1;
  for (int i = 4; i >= 0; --i) {
    l.d[i] = dims[i];
    l.s[i] = st;
    st *= dims[i];
  }
  return l;
}

template <class F>
void for_each_offset(const Layout& l, F&& f) {
  for (i64 a = 0; a < l.d[0]; ++a)
    for (i64 b = 0; b < l.d[1]; ++b)
      for (i64 c = 0; c < l.d[2]; ++c)
        for (i64 e = 0; e < l.d[3]; ++e) {
          const i64 base = a * l.s[0] + b * l.s[1] + c * l.s[2] + e * l.s[3];
          for (i64 g = 0; g < l.d[4]; ++g) f(base + g * l.s[4]);
        }
}

Layout tensor_layout(const TensorState& t, const std::string& call, const char* arg) {
  if (t.nb != 4 && t.nb != 5)
    sim::fail(cat(call, ": ", arg, " has ", t.nb,
                  " dimensions; the emulated cuDNN models 4-d (NCHW) and 5-d (NCDHW) tensors"));
  Layout l;
  l.nb = t.nb;
  for (int i = 0, j = 0; i < 5; ++i) {
    if (t.nb == 4 && i == 2) continue;  // a 4-d tensor: unit depth
    l.d[i] = t.dims[j];
    l.s[i] = t.strides[j];
    ++j;
  }
  return l;
}

// True when no two elements of `l` share memory (an output written through a self-overlapping
// layout would be a race between cuDNN's threads).
bool injective(const Layout& l) {
  std::vector<std::pair<i64, i64>> ax;  // (stride, dim) of the non-unit axes
  for (int i = 0; i < 5; ++i)
    if (l.d[i] > 1) ax.emplace_back(l.s[i], l.d[i]);
  std::sort(ax.begin(), ax.end());
  bool nested = true;
  for (std::size_t i = 1; i < ax.size(); ++i)
    if (ax[i].first < ax[i - 1].first * ax[i - 1].second) nested = false;
  if (nested) return true;
  std::vector<bool> seen(static_cast<std::size_t>(l.span()));
  bool ok = true;
  for_each_offset(l, [&](i64 o) {
    if (seen[static_cast<std::size_t>(o)]) ok = false;
    seen[static_cast<std::size_t>(o)] = true;
  });
  return ok;
}

// Memory an operand covers: elements of `elem` bytes at base + offset * elem.
struct Footprint {
  std::uintptr_t base = 0;
  Layout l;
  i64 elem = 4;
  std::uintptr_t end() const { return base + static_cast<std::uintptr_t>(l.span() * elem); }
  bool dense() const { return l.count() == l.span(); }
};
Footprint tensor_fp(const void* p, const Layout& l) {
  return Footprint{idv(p), l, 4};
}
Footprint bytes_fp(const void* p, std::size_t bytes) {
  Footprint f;
  f.base = idv(p);
  f.l.nb = 1;
  f.l.d[4] = static_cast<i64>(bytes);
  f.l.s[4] = 1;
  f.elem = 1;
  return f;
}

// Whether any byte is covered by both (exact, element by element: channel slices of one buffer
// interleave without sharing an element).
bool overlaps(const Footprint& a, const Footprint& b) {
  const std::uintptr_t lo = std::max(a.base, b.base), hi = std::min(a.end(), b.end());
  if (lo >= hi) return false;
  if (a.dense() && b.dense()) return true;
  const Footprint& sparse = a.dense() ? b : a;
  const Footprint& other = a.dense() ? a : b;
  if (other.dense()) {  // an interval against the sparse one's elements
    bool hit = false;
    for_each_offset(sparse.l, [&](i64 o) {
      const std::uintptr_t e = sparse.base + static_cast<std::uintptr_t>(o * sparse.elem);
      if (e < hi && e + static_cast<std::uintptr_t>(sparse.elem) > lo) hit = true;
    });
    return hit;
  }
  // Cells of the common window covered by a: whole floats when both are float-aligned alike.
  const std::uintptr_t cell =
      a.elem == 4 && b.elem == 4 && (a.base - lo) % 4 == 0 && (b.base - lo) % 4 == 0 ? 4 : 1;
  std::vector<bool> mark((hi - lo + cell - 1) / cell);
  auto paint = [&](const Footprint& f, bool check) {
    bool hit = false;
    for_each_offset(f.l, [&](i64 o) {
      const std::uintptr_t e = f.base + static_cast<std::uintptr_t>(o * f.elem);
      for (std::uintptr_t q = std::max(e, lo);
           q < std::min(e + static_cast<std::uintptr_t>(f.elem), hi); q += cell) {
        if (check && mark[(q - lo) / cell]) hit = true;
        if (!check) mark[(q - lo) / cell] = true;
      }
    });
    return hit;
  };
  paint(a, false);
  return paint(b, true);
}

void check_no_overlap(const Call& c, const char* an, const Footprint& a, const char* bn,
                      const Footprint& b, const char* why) {
  if (overlaps(a, b)) sim::fail(cat(c.name(), ": ", an, " and ", bn, " overlap in memory; ", why));
}

// A data pointer: non-null, float-aligned, every addressed element inside one live allocation of
// the handle's device.
void check_data(const Call& c, const char* arg, const void* p, const Layout& l) {
  if (!p) sim::fail(cat(c.name(), ": ", arg, " is NULL (", l.str(), ")"));
  if (idv(p) % 4 != 0)
    sim::fail(cat(c.name(), ": ", arg, " (", p, ") is not aligned to its 4-byte float elements"));
  const i64 span = l.span();
  if (span > INT_MAX)
    sim::fail(cat(c.name(), ": ", arg, " ", l.str(), " addresses ", span,
                  " elements; cuDNN's legacy API indexes tensors with 32-bit integers"));
  sim::check_device_range(p, static_cast<std::size_t>(span) * 4, c.device(),
                          cat(c.name(), ": ", arg, " ", l.str()));
}

void check_output_layout(const Call& c, const char* arg, const Layout& l) {
  if (!injective(l))
    sim::fail(cat(c.name(), ": ", arg, " ", l.str(),
                  " maps several elements to one address; an output must not overlap itself"));
}

// ---------------------------------------------------------------------------------------------
// Convolution geometry, validated as cuDNN does before it runs anything.
struct Geom {
  int nsp = 2;  // spatial rank: 2 (4-d tensors) or 3 (5-d)
  Layout x, y;  // the forward convolution's input and output
  Layout w;     // the filter (always packed K x C x kD x kH x kW)
  i64 K = 1, C = 1, k[3] = {1, 1, 1};
  i64 pad[3] = {0, 0, 0}, stride[3] = {1, 1, 1}, dil[3] = {1, 1, 1};
  bool flip = false;  // CUDNN_CONVOLUTION: the filter is applied mirrored
  i64 kvol() const { return k[0] * k[1] * k[2]; }
};

// Output extent of one axis (cudnnGetConvolutionNdForwardOutputDim's rule), or -1 when the
// dilated filter does not fit in the padded input.
i64 out_extent(i64 in, i64 k, i64 pad, i64 stride, i64 dil) {
  const i64 ek = (k - 1) * dil + 1;
  if (in + 2 * pad < ek) return -1;
  return (in + 2 * pad - ek) / stride + 1;
}

Layout filter_layout(const FilterState& f, const std::string& call, const char* arg) {
  if (f.nb != 4 && f.nb != 5)
    sim::fail(cat(call, ": ", arg, " has ", f.nb,
                  " dimensions; the emulated cuDNN models 4-d and 5-d filters"));
  if (f.format != CUDNN_TENSOR_NCHW)
    sim::fail(cat(call, ": ", arg, " has format ", static_cast<int>(f.format),
                  "; only CUDNN_TENSOR_NCHW (K x C x [D x] H x W, packed) is modelled, and any "
                  "other would make cuDNN read the weights in another order"));
  i64 dims[5] = {1, 1, 1, 1, 1};
  for (int i = 0, j = 0; i < 5; ++i) {
    if (f.nb == 4 && i == 2) continue;
    dims[i] = f.dims[j++];
  }
  return packed_layout(f.nb, dims);
}

Geom make_geom(const std::string& call, const TensorState& xt, const char* xn,
               const FilterState& wf, const char* wn, const ConvState& cv, const char* cn,
               const TensorState& yt, const char* yn) {
  Geom g;
  g.x = tensor_layout(xt, call, xn);
  g.y = tensor_layout(yt, call, yn);
  g.w = filter_layout(wf, call, wn);
  if (g.y.nb != g.x.nb || g.w.nb != g.x.nb)
    sim::fail(cat(call, ": ", xn, " is ", g.x.nb, "-d, ", wn, " ", g.w.nb, "-d and ", yn, " ",
                  g.y.nb, "-d; all three must have the same rank"));
  g.nsp = g.x.nb - 2;
  if (cv.nsp != g.nsp)
    sim::fail(cat(call, ": ", cn, " has ", cv.nsp, " spatial dimensions (arrayLength) but the ",
                  "tensors are ", g.x.nb, "-d (", g.nsp, " spatial)"));
  if (cv.compute != CUDNN_DATA_FLOAT)
    sim::fail(cat(call, ": ", cn, " has compute type ", static_cast<int>(cv.compute),
                  "; float tensors need CUDNN_DATA_FLOAT"));
  g.K = g.w.d[0];
  g.C = g.w.d[1];
  for (int i = 0; i < 3; ++i) g.k[i] = g.w.d[2 + i];
  for (int i = 0; i < g.nsp; ++i) {
    const int a = 3 - g.nsp + i;
    g.pad[a] = cv.pad[i];
    g.stride[a] = cv.stride[i];
    g.dil[a] = cv.dil[i];
  }
  g.flip = cv.mode == CUDNN_CONVOLUTION;
  if (g.x.d[1] != g.C)
    sim::fail(cat(call, ": ", xn, " ", g.x.str(), " has ", g.x.d[1], " channels but ", wn,
                  " expects ", g.C));
  if (g.y.d[0] != g.x.d[0])
    sim::fail(cat(call, ": ", yn, " ", g.y.str(), " has batch ", g.y.d[0], " but ", xn, " has ",
                  g.x.d[0]));
  if (g.y.d[1] != g.K)
    sim::fail(cat(call, ": ", yn, " ", g.y.str(), " has ", g.y.d[1], " channels but ", wn, " has ",
                  g.K, " filters"));
  for (int a = 3 - g.nsp; a < 3; ++a) {
    const i64 o = out_extent(g.x.d[2 + a], g.k[a], g.pad[a], g.stride[a], g.dil[a]);
    if (o < 1)
      sim::fail(cat(call, ": the filter (", g.k[a], " dilated by ", g.dil[a],
                    ") does not fit in the padded input (", g.x.d[2 + a], " + 2 x ", g.pad[a],
                    ") along spatial axis ", a - (3 - g.nsp)));
    if (g.y.d[2 + a] != o)
      sim::fail(cat(call, ": ", yn, " ", g.y.str(), " has extent ", g.y.d[2 + a],
                    " along spatial axis ", a - (3 - g.nsp), " where the geometry implies ", o,
                    " (floor((", g.x.d[2 + a], " + 2 x ", g.pad[a], " - ",
                    (g.k[a] - 1) * g.dil[a] + 1, ") / ", g.stride[a], ") + 1)"));
  }
  return g;
}

// make_geom over the descriptors a convolution call was given, each named as in its signature.
Geom call_geom(const Call& c, cudnnTensorDescriptor_t x, const char* xn, cudnnFilterDescriptor_t w,
               const char* wn, const ConvState& cv, cudnnTensorDescriptor_t y, const char* yn) {
  return make_geom(c.name(), get_tensor(x, c.name(), xn), xn, get_filter(w, c.name(), wn), wn, cv,
                   "convDesc", get_tensor(y, c.name(), yn), yn);
}

// ---------------------------------------------------------------------------------------------
// The algorithm table.
enum class Op { fwd, bwd_data, bwd_filter };

const char* op_call(Op op) {
  switch (op) {
    case Op::fwd:
      return "cudnnConvolutionForward";
    case Op::bwd_data:
      return "cudnnConvolutionBackwardData";
    case Op::bwd_filter:
      return "cudnnConvolutionBackwardFilter";
  }
  return "";
}
const char* find_call(Op op) {
  switch (op) {
    case Op::fwd:
      return "cudnnFindConvolutionForwardAlgorithmEx";
    case Op::bwd_data:
      return "cudnnFindConvolutionBackwardDataAlgorithmEx";
    case Op::bwd_filter:
      return "cudnnFindConvolutionBackwardFilterAlgorithmEx";
  }
  return "";
}
int algo_count(Op op) {
  switch (op) {
    case Op::fwd:
      return CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
    case Op::bwd_data:
      return CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
    case Op::bwd_filter:
      return CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  }
  return 0;
}

struct AlgoInfo {
  bool ok = true;
  std::string why;  // when not ok
  std::size_t ws = 0;
  bool det = true;
  bool tc = false;  // has a tensor-core (TF32) variant, used unless the math type is FMA
};

i64 next_pow2(i64 v) {
  i64 p = 1;
  while (p < v) p *= 2;
  return p;
}

AlgoInfo algo_info(Op op, int algo, const Geom& g, bool tc_math) {
  AlgoInfo a;
  const i64 n = g.x.d[0], kv = g.kvol(), in_sp = g.x.sp(), out_sp = g.y.sp();
  const bool two_d = g.nsp == 2;
  const bool unit = g.stride[0] == 1 && g.stride[1] == 1 && g.stride[2] == 1 && g.dil[0] == 1 &&
                    g.dil[1] == 1 && g.dil[2] == 1;
  const bool packed = g.x.packed() && g.y.packed();
  auto need = [&a](bool cond, const char* why) {
    if (a.ok && !cond) {
      a.ok = false;
      a.why = why;
    }
  };
  auto fft = [&] {
    need(two_d, "FFT needs a 2-d convolution");
    need(unit, "FFT needs unit stride and dilation");
    need(packed, "FFT needs fully packed tensors");
    const i64 fh = next_pow2(g.x.d[3] + 2 * g.pad[1]), fw = next_pow2(g.x.d[4] + 2 * g.pad[2]);
    need(fh <= 256 && fw <= 256, "FFT needs padded images of at most 256 x 256");
    a.ws = static_cast<std::size_t>(8 * (n * g.C + g.K * g.C + n * g.K) * fh * (fw / 2 + 1));
  };
  auto fft_tiling = [&] {
    need(unit, "FFT tiling needs unit stride and dilation");
    need(packed, "FFT tiling needs fully packed tensors");
    need(g.k[0] <= 16 && g.k[1] <= 16 && g.k[2] <= 16, "FFT tiling needs filters of at most 16");
    a.ws = static_cast<std::size_t>(8 * (g.C * g.K + g.C + g.K) * (two_d ? 32 * 32 : 16 * 16 * 16));
  };
  auto winograd = [&](bool five_too) {
    const bool k3 = g.k[1] == 3 && g.k[2] == 3, k5 = g.k[1] == 5 && g.k[2] == 5;
    need(two_d, "Winograd needs a 2-d convolution");
    need(unit, "Winograd needs unit stride and dilation");
    need(k3 || (five_too && k5),
         five_too ? "Winograd (non-fused) needs 3x3 or 5x5 filters" : "Winograd needs 3x3 filters");
  };
  auto winograd_nonfused_ws = [&] {
    const i64 tiles = ((g.y.d[3] + 3) / 4) * ((g.y.d[4] + 3) / 4);
    return static_cast<std::size_t>(4 * 36 * (g.C * g.K + n * (g.C + g.K) * tiles));
  };
  // A tensor-core algorithm's FMA variant needs more scratch than its TF32 one: a result Find
  // measured with one math type says nothing about the workspace under the other.
  auto gemm_like = [&](i64 base, i64 fma_extra) {
    a.tc = true;
    a.ws = static_cast<std::size_t>(tc_math ? base : base + fma_extra);
  };
  switch (op) {
    case Op::fwd:
      switch (algo) {
        case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM:
          break;
        case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM:
          gemm_like(256 + 16 * kv, 4 * kv * std::min<i64>(out_sp, 65536));
          break;
        case CUDNN_CONVOLUTION_FWD_ALGO_GEMM:
          a.ws = static_cast<std::size_t>(4 * g.C * kv * out_sp);
          break;
        case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT:
          need(false, "DIRECT is not implemented");
          break;
        case CUDNN_CONVOLUTION_FWD_ALGO_FFT:
          fft();
          break;
        case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING:
          fft_tiling();
          break;
        case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD:
          winograd(false);
          break;
        case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED:
          winograd(true);
          a.ws = winograd_nonfused_ws();
          break;
        default:
          need(false, "no such algorithm");
      }
      break;
    case Op::bwd_data:
      switch (algo) {
        case CUDNN_CONVOLUTION_BWD_DATA_ALGO_0:
          a.det = false;
          break;
        case CUDNN_CONVOLUTION_BWD_DATA_ALGO_1:
          gemm_like(256 + 16 * kv, 4 * kv * std::min<i64>(in_sp, 65536));
          break;
        case CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT:
          fft();
          break;
        case CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING:
          fft_tiling();
          break;
        case CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD:
          winograd(false);
          break;
        case CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED:
          winograd(true);
          a.ws = winograd_nonfused_ws();
          break;
        default:
          need(false, "no such algorithm");
      }
      break;
    case Op::bwd_filter:
      switch (algo) {
        case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0:
          a.det = false;
          break;
        case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1:
          // cuDNN's one deterministic 3-d weight-gradient algorithm wants packed tensors.
          need(two_d || packed, "3-d ALGO_1 needs fully packed x and dy");
          gemm_like(256 + 4 * g.C * g.K, 4 * g.C * kv * std::min<i64>(out_sp, 65536));
          break;
        case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT:
          fft();
          break;
        case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3:
          a.det = false;
          a.ws = static_cast<std::size_t>(4 * g.K * g.C * kv);
          break;
        case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD:
          need(false, "WINOGRAD is not implemented for the weight gradient");
          break;
        case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED:
          winograd(true);
          a.ws = winograd_nonfused_ws();
          break;
        case CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING:
          need(two_d, "FFT tiling of the weight gradient needs a 2-d convolution");
          fft_tiling();
          break;
        default:
          need(false, "no such algorithm");
      }
      break;
  }
  if (!a.ok) a.ws = 0;
  return a;
}

std::uint64_t geom_hash(const Geom& g) {
  std::uint64_t h = 0x6a09e667f3bcc908ull;
  auto add = [&h](i64 v) { h = sim::mix(h, static_cast<std::uint64_t>(v)); };
  for (int i = 0; i < 5; ++i) {
    add(g.x.d[i]);
    add(g.y.d[i]);
    add(g.x.s[i]);
    add(g.y.s[i]);
  }
  for (int i = 0; i < 3; ++i) {
    add(g.k[i]);
    add(g.pad[i]);
    add(g.stride[i]);
  }
  add(g.K);
  add(g.C);
  return h;
}

struct Entry {
  int algo = 0;
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  float time = -1.f;
  std::size_t memory = 0;
  bool det = true;
  cudnnMathType_t math = CUDNN_FMA_MATH;
};

// What Find reports: each algorithm under the descriptor's math type and, for those with a
// tensor-core variant, under CUDNN_DEFAULT_MATH too; successes by seeded time, then the rest
// (NOT_SUPPORTED for an algorithm the problem cannot use, ALLOC_FAILED past the workspace).
std::vector<Entry> find_entries(Op op, const Geom& g, cudnnMathType_t desc_math,
                                std::size_t ws_size) {
  std::vector<Entry> ok, bad;
  const std::uint64_t gh = geom_hash(g);
  for (int algo = 0; algo < algo_count(op); ++algo) {
    std::vector<cudnnMathType_t> maths{desc_math};
    if (desc_math != CUDNN_DEFAULT_MATH) maths.push_back(CUDNN_DEFAULT_MATH);
    for (cudnnMathType_t m : maths) {
      const AlgoInfo a = algo_info(op, algo, g, m != CUDNN_FMA_MATH);
      if (m != desc_math && !a.tc) continue;  // same kernel as the entry already made
      Entry e;
      e.algo = algo;
      e.det = a.det;
      e.math = m;
      e.memory = a.ws;
      if (!a.ok) {
        e.status = CUDNN_STATUS_NOT_SUPPORTED;
        bad.push_back(e);
        break;  // one entry for an algorithm the problem cannot use
      }
      if (a.ws > ws_size) {  // what the documentation gives for an insufficient workspace
        e.status = CUDNN_STATUS_ALLOC_FAILED;
        bad.push_back(e);
        continue;
      }
      const bool tf32 = a.tc && m != CUDNN_FMA_MATH;
      const std::uint64_t r = sim::mix(
          sim::seed(), sim::mix(gh, static_cast<std::uint64_t>(static_cast<int>(op) * 1000 +
                                                               algo * 10 + (tf32 ? 1 : 0))));
      e.time = static_cast<float>(0.02 + static_cast<double>(r % 100000) / 10000.0) *
               (tf32 ? 0.6f : 1.f);
      ok.push_back(e);
    }
  }
  std::stable_sort(ok.begin(), ok.end(),
                   [](const Entry& a, const Entry& b) { return a.time < b.time; });
  ok.insert(ok.end(), bad.begin(), bad.end());
  return ok;
}

template <class Perf, class AlgoT>
void write_perf(const std::vector<Entry>& es, int requested, int* returned, Perf* perf) {
  const int n = std::min(requested, static_cast<int>(es.size()));
  for (int i = 0; i < n; ++i) {
    Perf p{};
    p.algo = static_cast<AlgoT>(es[static_cast<std::size_t>(i)].algo);
    p.status = es[static_cast<std::size_t>(i)].status;
    p.time = es[static_cast<std::size_t>(i)].time;
    p.memory = es[static_cast<std::size_t>(i)].memory;
    p.determinism =
        es[static_cast<std::size_t>(i)].det ? CUDNN_DETERMINISTIC : CUDNN_NON_DETERMINISTIC;
    p.mathType = es[static_cast<std::size_t>(i)].math;
    perf[i] = p;
  }
  *returned = n;
}

// ---------------------------------------------------------------------------------------------
// The reference arithmetic, run on the stream's worker with everything copied into it: tap by
// tap (`taps`, `accumulate`) when an operand holds a NaN or an infinity, else as dgemms (the
// fast path below), the same sums in another order.
float to_tf32(float v) {  // round to nearest even on the 10-bit mantissa, as tensor cores do
  if (!std::isfinite(v)) return v;
  std::uint32_t u;
  std::memcpy(&u, &v, 4);
  u += 0xfffu + ((u >> 13) & 1u);
  u &= ~0x1fffu;
  std::memcpy(&v, &u, 4);
  return v;
}

// A part of the convolution's multiply-adds: samples, filters, input channels, output rows.
struct Box {
  i64 n0, n1, k0, k1, c0, c1, r0, r1;
};

// Every multiply-add of the convolution restricted to samples [n0, n1), filters [k0, k1),
// channels [c0, c1) and output rows [r0, r1) (a row: one (depth, height) pair of the output), a run
// of output positions along the width at a time: row(x offset, x step, x dense index, x dense step,
// y offset, y step, y dense index, count, w index) for `count` positions whose x and y move by the
// steps (offsets through the layouts' strides, dense indices into packed buffers; y's dense step is
// 1).
template <class F>
void taps(const Geom& g, const Box& box, F&& row) {
  const i64 n0 = box.n0, n1 = box.n1, k0 = box.k0, k1 = box.k1, r0 = box.r0, r1 = box.r1;
  const Layout &x = g.x, &y = g.y;
  const i64 in_sp = x.sp(), out_sp = y.sp(), kv = g.kvol();
  // Outputs o along axis a that tap q reads inside the input: 0 <= o*s - p + q*d < in.
  auto range = [&](int a, i64 q, i64* lo, i64* hi) {
    const i64 off = q * g.dil[a] - g.pad[a], s = g.stride[a];
    const i64 l = off >= 0 ? 0 : (-off + s - 1) / s;
    const i64 h = x.d[2 + a] - 1 - off < 0 ? 0 : (x.d[2 + a] - 1 - off) / s + 1;
    *lo = l;
    *hi = std::max(l, std::min(h, y.d[2 + a]));
  };
  for (i64 n = n0; n < n1; ++n)
    for (i64 k = k0; k < k1; ++k)
      for (i64 c = box.c0; c < box.c1; ++c)
        for (i64 q0 = 0; q0 < g.k[0]; ++q0)
          for (i64 q1 = 0; q1 < g.k[1]; ++q1)
            for (i64 q2 = 0; q2 < g.k[2]; ++q2) {
              const i64 qf = (q0 * g.k[1] + q1) * g.k[2] + q2;
              const i64 wi = (k * g.C + c) * kv + (g.flip ? kv - 1 - qf : qf);
              i64 lo[3], hi[3];
              range(0, q0, &lo[0], &hi[0]);
              range(1, q1, &lo[1], &hi[1]);
              range(2, q2, &lo[2], &hi[2]);
              if (lo[2] >= hi[2]) continue;
              const i64 i2 = lo[2] * g.stride[2] - g.pad[2] + q2 * g.dil[2];
              for (i64 o0 = lo[0]; o0 < hi[0]; ++o0) {
                const i64 i0 = o0 * g.stride[0] - g.pad[0] + q0 * g.dil[0];
                for (i64 o1 = lo[1]; o1 < hi[1]; ++o1) {
                  const i64 r = o0 * y.d[3] + o1;
                  if (r < r0 || r >= r1) continue;
                  const i64 i1 = o1 * g.stride[1] - g.pad[1] + q1 * g.dil[1];
                  row(n * x.s[0] + c * x.s[1] + i0 * x.s[2] + i1 * x.s[3] + i2 * x.s[4],
                      g.stride[2] * x.s[4],
                      (n * g.C + c) * in_sp + (i0 * x.d[3] + i1) * x.d[4] + i2, g.stride[2],
                      n * y.s[0] + k * y.s[1] + o0 * y.s[2] + o1 * y.s[3] + lo[2] * y.s[4], y.s[4],
                      (n * g.K + k) * out_sp + r * y.d[4] + lo[2], hi[2] - lo[2], wi);
                }
              }
            }
}

struct ConvJob {
  Op op = Op::fwd;
  Geom g;
  const float* a = nullptr;  // fwd: x, w; bwd_data: dy, w; bwd_filter: x, dy
  const float* b = nullptr;
  float* out = nullptr;  // fwd: y; bwd_data: dx; bwd_filter: dw
  float alpha = 1.f, beta = 0.f;
  bool tf32 = false;
  bool det = true;
  std::uint64_t salt = 0;     // the order of a non-deterministic algorithm's partial sums
  void* workspace = nullptr;  // scribbled on, as a real algorithm uses it
  std::size_t ws_bytes = 0;
};

const Layout& out_layout(const ConvJob& j) {
  return j.op == Op::fwd ? j.g.y : j.op == Op::bwd_data ? j.g.x : j.g.w;
}

// out = alpha * acc + beta * out, acc in the dense order of `l`; out is not read when beta = 0.
void store(const Layout& l, float* out, const std::vector<double>& acc, float alpha, float beta) {
  std::size_t i = 0;
  for_each_offset(l, [&](i64 o) {
    double v = static_cast<double>(alpha) * acc[i++];
    if (beta != 0.f) v += static_cast<double>(beta) * static_cast<double>(out[o]);
    out[o] = static_cast<float>(v);
  });
}

template <bool kTf32>
void accumulate(const ConvJob& j, const Box& box, std::vector<double>& acc) {
  auto ld = [](const float* p, i64 o) { return static_cast<double>(kTf32 ? to_tf32(p[o]) : p[o]); };
  const float *a = j.a, *b = j.b;
  double* s = acc.data();
  switch (j.op) {
    case Op::fwd:  // y[o] += x[i] * w
      taps(j.g, box, [&](i64 xo, i64 xs, i64, i64, i64, i64, i64 yd, i64 cnt, i64 wi) {
        const double wv = ld(b, wi);
        for (i64 t = 0; t < cnt; ++t) s[yd + t] += ld(a, xo + t * xs) * wv;
      });
      break;
    case Op::bwd_data:  // dx[i] += dy[o] * w
      taps(j.g, box, [&](i64, i64, i64 xd, i64 xds, i64 yo, i64 ys, i64, i64 cnt, i64 wi) {
        const double wv = ld(b, wi);
        for (i64 t = 0; t < cnt; ++t) s[xd + t * xds] += ld(a, yo + t * ys) * wv;
      });
      break;
    case Op::bwd_filter:  // dw += x[i] * dy[o]
      taps(j.g, box, [&](i64 xo, i64 xs, i64, i64, i64 yo, i64 ys, i64, i64 cnt, i64 wi) {
        double d = 0;
        for (i64 t = 0; t < cnt; ++t) d += ld(a, xo + t * xs) * ld(b, yo + t * ys);
        s[wi] += d;
      });
      break;
  }
}

// Runs `box` on several threads when it is big, split along the axis that owns the output
// elements (filters for y and dw, channels for dx): each element is summed by one thread in the
// sequential order, so the result does not depend on the thread count.
void accumulate_parallel(const ConvJob& j, const Box& box, std::vector<double>& acc) {
  auto one = [&j, &acc](const Box& b) {
    if (j.tf32)
      accumulate<true>(j, b, acc);
    else
      accumulate<false>(j, b, acc);
  };
  const bool by_c = j.op == Op::bwd_data;
  const i64 lo = by_c ? box.c0 : box.k0, hi = by_c ? box.c1 : box.k1;
  const double macs = static_cast<double>(box.n1 - box.n0) * static_cast<double>(box.k1 - box.k0) *
                      static_cast<double>(box.c1 - box.c0) * static_cast<double>(j.g.kvol()) *
                      static_cast<double>(box.r1 - box.r0) * static_cast<double>(j.g.y.d[4]);
  const i64 hw = std::max<i64>(1, std::thread::hardware_concurrency());
  const i64 nt = std::min<i64>({hw, 16, hi - lo, static_cast<i64>(macs / (1 << 22)) + 1});
  if (nt <= 1) return one(box);
  std::vector<std::thread> ts;
  for (i64 t = 0; t < nt; ++t) {
    Box b = box;
    i64& b0 = by_c ? b.c0 : b.k0;
    i64& b1 = by_c ? b.c1 : b.k1;
    b0 = lo + (hi - lo) * t / nt;
    b1 = lo + (hi - lo) * (t + 1) / nt;
    ts.emplace_back(one, b);
  }
  for (std::thread& t : ts) t.join();
}

// ---------------------------------------------------------------------------------------------
// The fast path: the same sums as dgemms (OpenBLAS, double), used whenever every operand value
// (after TF32 rounding) is finite; with a NaN or an infinity anywhere the tap-by-tap reference
// above runs, so that such values propagate exactly as it has them (it never multiplies a
// padding zero, which 0 x inf would turn into a NaN).
//
// Each operand read through the filter taps is copied, TF32-rounded when the algorithm does so,
// into a zero-padded dense double "frame" per sample (channel-major, one frame column per
// position of a padded grid), laid out so that a tap is a constant column offset: the frame
// column of a computed position plus the tap's offset is the column of the element it reads.
// One tap's contribution to a chunk of consecutive frame columns is then one dgemm whose B
// operand is a view into the frame (no im2col); columns between the wanted positions (the
// padding, and the gaps a stride leaves) are computed and dropped.
//  - forward: frame = x padded by `pad` on each side; y position o sits at column o * stride (the
//    position of its first tap), tap q at offset q * dilation; y = sum over taps W_q (K x C) x
//    frame view (C x columns).
//  - backward data: the forward convolution of dy, spread over its frame at o * stride + R with
//    zeros between (R = P + (k - 1) * dilation - pad), by the filter mirrored and transposed
//    (tap q' = k - 1 - q, W'_q' = W_q^T, C x K); dx position i sits at column i + P.
//  - backward filter: dW_q (K x C) = sum over chunks of dy (spread over the chunk's columns as in
//    the forward, zeros elsewhere) x frame view^T.
// A stride s > 1 costs s^dims times the multiply-adds it needs (the spread zeros): strided
// convolutions are test-sized here. The products with the frames' zeros add exact zeros, as
// every operand is finite (and a product of floats cannot overflow a double).
//
// Results do not depend on the thread count, bit for bit: the work is cut into chunks of output
// rows fixed by the problem alone, every dgemm has the same operands and shape whichever thread
// runs it, OpenBLAS runs single-threaded inside our threads, and each output element is summed
// in one fixed order (forward and data gradient: taps in order, each a dgemm over channels; the
// weight gradient: samples, then chunks, in order, each a dgemm over the chunk's positions, one
// thread owning each tap).
constexpr i64 kChunkColumns = 2048;                      // frame columns per dgemm (cache-sized)
constexpr double kFrameBytesMax = double(i64{1} << 31);  // larger frames: the reference path

// Where the elements of a grid (depth x height rows, width columns) sit in a frame: column
// base + (r / rows_per_depth) * m[0] + (r % rows_per_depth) * m[1] + w * m[2] for row r.
struct Map {
  i64 base = 0, m[3] = {0, 0, 0}, h = 1;
  i64 col(i64 r, i64 w) const { return base + (r / h) * m[0] + (r % h) * m[1] + w * m[2]; }
};

struct Fast {
  bool ok = false;
  i64 e[3] = {1, 1, 1};      // the frame's extents
  i64 vol = 1;               // columns per channel
  Map grid;                  // the computed positions: y (forward, weight gradient) or dx
  Map spread;                // where the spread operand goes: x (forward, weight gradient), dy
  std::vector<i64> off;      // per tap (in frame order), its column offset
  std::vector<double> w;     // forward: [tap][K][C]; data gradient: [tap'][C][K]
  std::vector<i64> w_index;  // per tap (in frame order), its index in a filter's kv weights
};

bool all_finite(const Layout& l, const float* p, bool tf32) {
  bool ok = true;
  for_each_offset(l, [&](i64 o) {
    const float v = tf32 ? to_tf32(p[o]) : p[o];
    if (!std::isfinite(v)) ok = false;
  });
  return ok;
}

Fast prepare_fast(const ConvJob& j) {
  Fast f;
  const Geom& g = j.g;
  if (!all_finite(j.op == Op::bwd_data ? g.y : g.x, j.a, j.tf32) ||
      !all_finite(j.op == Op::bwd_filter ? g.y : g.w, j.b, j.tf32))
    return f;
  const bool bwd_data = j.op == Op::bwd_data;
  i64 P[3], R[3];
  for (int a = 0; a < 3; ++a) {
    const i64 reach = (g.k[a] - 1) * g.dil[a];
    if (bwd_data) {
      P[a] = std::max<i64>(0, g.pad[a] - reach);
      R[a] = P[a] + reach - g.pad[a];
      f.e[a] = std::max(g.x.d[2 + a] + P[a] + reach, (g.y.d[2 + a] - 1) * g.stride[a] + R[a] + 1);
    } else {
      f.e[a] = g.x.d[2 + a] + 2 * g.pad[a];
    }
  }
  f.vol = f.e[0] * f.e[1] * f.e[2];
  const double channels = static_cast<double>(std::max(g.C, g.K));
  if (channels * static_cast<double>(f.vol) * 8 > kFrameBytesMax ||
      channels * static_cast<double>(f.vol) > static_cast<double>(INT_MAX))
    return f;
  const i64 plane = f.e[1] * f.e[2];
  const Map dense{0, {plane, f.e[2], 1}, 1};
  auto at = [&](const i64 p[3]) { return (p[0] * f.e[1] + p[1]) * f.e[2] + p[2]; };
  const Map strided{0, {g.stride[0] * plane, g.stride[1] * f.e[2], g.stride[2]}, g.y.d[3]};
  if (bwd_data) {
    f.grid = dense;
    f.grid.base = at(P);
    f.grid.h = g.x.d[3];
    f.spread = strided;
    f.spread.base = at(R);
  } else {
    const i64 pad[3] = {g.pad[0], g.pad[1], g.pad[2]};
    f.grid = strided;
    f.spread = dense;
    f.spread.base = at(pad);
    f.spread.h = g.x.d[3];
  }
  const i64 kv = g.kvol();
  f.off.resize(static_cast<std::size_t>(kv));
  f.w_index.resize(static_cast<std::size_t>(kv));
  for (i64 q0 = 0, t = 0; q0 < g.k[0]; ++q0)
    for (i64 q1 = 0; q1 < g.k[1]; ++q1)
      for (i64 q2 = 0; q2 < g.k[2]; ++q2, ++t) {
        const i64 p[3] = {q0 * g.dil[0], q1 * g.dil[1], q2 * g.dil[2]};
        f.off[static_cast<std::size_t>(t)] = at(p);
        const i64 q = bwd_data ? kv - 1 - t : t;  // the data gradient's taps run mirrored
        f.w_index[static_cast<std::size_t>(t)] = g.flip ? kv - 1 - q : q;
      }
  if (j.op != Op::bwd_filter) {
    const i64 K = g.K, C = g.C;
    f.w.resize(static_cast<std::size_t>(kv * K * C));
    for (i64 t = 0; t < kv; ++t)
      for (i64 k = 0; k < K; ++k)
        for (i64 c = 0; c < C; ++c) {
          float v = j.b[(k * C + c) * kv + f.w_index[static_cast<std::size_t>(t)]];
          if (j.tf32) v = to_tf32(v);
          f.w[static_cast<std::size_t>(bwd_data ? (t * C + c) * K + k : (t * K + k) * C + c)] = v;
        }
  }
  f.ok = true;
  return f;
}

// dst[(c - c0) * ld + map.col(r, w) - col0] = the element (n, c, row r, column w) of `l`, TF32-
// rounded when asked, for channels [c0, c1) and rows [r0, r1); nothing else is written.
void spread(const Layout& l, const float* p, i64 n, i64 c0, i64 c1, i64 r0, i64 r1, const Map& map,
            i64 col0, i64 ld, bool tf32, double* dst) {
  const i64 W = l.d[4];
  for (i64 c = c0; c < c1; ++c)
    for (i64 r = r0; r < r1; ++r) {
      const float* src =
          p + n * l.s[0] + c * l.s[1] + (r / l.d[3]) * l.s[2] + (r % l.d[3]) * l.s[3];
      double* out = dst + (c - c0) * ld + map.col(r, 0) - col0;
      for (i64 w = 0; w < W; ++w) {
        const float v = src[w * l.s[4]];
        out[w * map.m[2]] = static_cast<double>(tf32 ? to_tf32(v) : v);
      }
    }
}

// Chunks of rows [r0, r1) of `map`'s grid (width W): as many whole rows as keep a chunk within
// kChunkColumns frame columns, at least one.
std::vector<std::pair<i64, i64>> chunks(const Map& map, i64 W, i64 r0, i64 r1) {
  std::vector<std::pair<i64, i64>> cs;
  for (i64 a = r0; a < r1;) {
    i64 b = a + 1;
    while (b < r1 && map.col(b, W - 1) + 1 - map.col(a, 0) <= kChunkColumns) ++b;
    cs.emplace_back(a, b);
    a = b;
  }
  return cs;
}

// Runs f(t) for t in [0, nt), t = 0 on the calling thread.
template <class F>
void on_threads(i64 nt, const F& f) {
  if (nt <= 1) return f(0);
  std::vector<std::thread> ts;
  for (i64 t = 1; t < nt; ++t) ts.emplace_back([&f, t] { f(t); });
  f(0);
  for (std::thread& t : ts) t.join();
}

i64 thread_count(i64 items, double macs) {
  const i64 hw = std::max<i64>(1, std::thread::hardware_concurrency());
  return std::max<i64>(1, std::min<i64>({hw, 16, items, static_cast<i64>(macs / (1 << 24)) + 1}));
}

void dgemm(bool trans_b, i64 m, i64 n, i64 k, const double* a, i64 lda, const double* b, i64 ldb,
           double beta, double* c, i64 ldc) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), 1.0, a, static_cast<int>(lda), b,
              static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

void single_threaded_blas() {
  // Our threads split the work; OpenBLAS's own pool on top of them would oversubscribe the cores
  // (its spinning workers then crawl) and could not be seen by ThreadSanitizer.
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// A frame view's columns [first, first + count) + the largest tap offset must lie in the frame
// (OpenBLAS reads it uninstrumented: an overrun would go unnoticed by AddressSanitizer).
void check_view(const Fast& f, i64 first, i64 count) {
  if (first < 0 || first + count + f.off.back() > f.vol)
    sim::fail(cat("cudnn fast path: internal error: frame view [", first, ", ", first + count,
                  ") + ", f.off.back(), " outside a frame of ", f.vol, " columns"));
}

// Forward and data gradient: out = sum over taps of A_t (rows [m0, m1) x inner [l0, l1) of the
// M x L matrices in f.w) x the frame view of the spread operand (its channels [l0, l1)).
void fast_correlate(const ConvJob& j, const Fast& f, const Box& box, std::vector<double>& acc) {
  const Geom& g = j.g;
  const bool fwd = j.op == Op::fwd;
  const Layout& in = fwd ? g.x : g.y;   // spread over the frame
  const Layout& out = fwd ? g.y : g.x;  // computed
  const i64 M = fwd ? g.K : g.C, L = fwd ? g.C : g.K;
  const i64 m0 = fwd ? box.k0 : 0, m1 = fwd ? box.k1 : g.C;
  const i64 l0 = fwd ? 0 : box.k0, l1 = fwd ? g.C : box.k1;
  const i64 in_r0 = fwd ? 0 : box.r0, in_r1 = fwd ? in.d[2] * in.d[3] : box.r1;
  const i64 out_r0 = fwd ? box.r0 : 0, out_r1 = fwd ? box.r1 : out.d[2] * out.d[3];
  const i64 rows = m1 - m0, inner = l1 - l0, W = out.d[4], kv = g.kvol();
  if (rows <= 0 || inner <= 0 || out_r1 <= out_r0) return;
  const auto cs = chunks(f.grid, W, out_r0, out_r1);
  std::vector<double> frame;
  const double macs = static_cast<double>(rows * inner * kv) * static_cast<double>(f.vol);
  const i64 nt = thread_count(static_cast<i64>(cs.size()), macs);
  for (i64 n = box.n0; n < box.n1; ++n) {
    frame.assign(static_cast<std::size_t>(inner * f.vol), 0.0);
    spread(in, j.a, n, l0, l1, in_r0, in_r1, f.spread, 0, f.vol, j.tf32, frame.data());
    std::atomic<std::size_t> next{0};
    on_threads(nt, [&](i64) {
      std::vector<double> o(static_cast<std::size_t>(rows * kChunkColumns));
      for (std::size_t i = next++; i < cs.size(); i = next++) {
        const i64 ra = cs[i].first, rb = cs[i].second;
        const i64 first = f.grid.col(ra, 0), N = f.grid.col(rb - 1, W - 1) + 1 - first;
        if (o.size() < static_cast<std::size_t>(rows * N))
          o.resize(static_cast<std::size_t>(rows * N));
        check_view(f, first, N);
        for (i64 t = 0; t < kv; ++t)
          dgemm(false, rows, N, inner, f.w.data() + (t * M + m0) * L + l0, L,
                frame.data() + first + f.off[static_cast<std::size_t>(t)], f.vol, t ? 1.0 : 0.0,
                o.data(), N);
        for (i64 m = 0; m < rows; ++m)
          for (i64 r = ra; r < rb; ++r) {
            double* dst = acc.data() + ((n * M + m0 + m) * out.d[2] * out.d[3] + r) * W;
            const double* src = o.data() + m * N + f.grid.col(r, 0) - first;
            for (i64 w = 0; w < W; ++w) dst[w] = src[w * f.grid.m[2]];
          }
      }
    });
  }
}

// Weight gradient: dW_t = sum over samples and chunks of dy (spread over the chunk) x view^T.
void fast_filter(const ConvJob& j, const Fast& f, const Box& box, std::vector<double>& acc) {
  const Geom& g = j.g;
  const i64 rows = box.k1 - box.k0, C = g.C, W = g.y.d[4], kv = g.kvol();
  if (rows <= 0 || box.r1 <= box.r0) return;
  const auto cs = chunks(f.grid, W, box.r0, box.r1);
  std::vector<double> frame;
  std::vector<double> dw(static_cast<std::size_t>(kv * rows * C), 0.0);
  const double macs = static_cast<double>(rows * C * kv) * static_cast<double>(f.vol);
  const i64 nt = thread_count(kv, macs);
  for (i64 n = box.n0; n < box.n1; ++n) {
    frame.assign(static_cast<std::size_t>(C * f.vol), 0.0);
    spread(g.x, j.a, n, 0, C, 0, g.x.d[2] * g.x.d[3], f.spread, 0, f.vol, j.tf32, frame.data());
    on_threads(nt, [&](i64 t) {  // thread t owns taps [t0, t1)
      const i64 t0 = kv * t / nt, t1 = kv * (t + 1) / nt;
      std::vector<double> dy;
      for (const auto& ch : cs) {
        const i64 first = f.grid.col(ch.first, 0);
        const i64 N = f.grid.col(ch.second - 1, W - 1) + 1 - first;
        dy.assign(static_cast<std::size_t>(rows * N), 0.0);
        spread(g.y, j.b, n, box.k0, box.k1, ch.first, ch.second, f.grid, first, N, j.tf32,
               dy.data());
        check_view(f, first, N);
        for (i64 q = t0; q < t1; ++q)
          dgemm(true, rows, C, N, dy.data(), N,
                frame.data() + first + f.off[static_cast<std::size_t>(q)], f.vol, 1.0,
                dw.data() + q * rows * C, C);
      }
    });
  }
  for (i64 q = 0; q < kv; ++q)
    for (i64 k = 0; k < rows; ++k)
      for (i64 c = 0; c < C; ++c)
        acc[static_cast<std::size_t>(((box.k0 + k) * C + c) * kv +
                                     f.w_index[static_cast<std::size_t>(q)])] =
            dw[static_cast<std::size_t>((q * rows + k) * C + c)];
}

void run_conv(const ConvJob& j) {
  if (j.workspace && j.ws_bytes)
    std::memset(j.workspace, 0xff, std::min<std::size_t>(j.ws_bytes, std::size_t{16} << 20));
  const Geom& g = j.g;
  const i64 n = g.x.d[0], rows = g.y.d[2] * g.y.d[3];
  const std::size_t size = static_cast<std::size_t>(out_layout(j).count());
  const Fast fast = prepare_fast(j);
  if (fast.ok) single_threaded_blas();
  auto part = [&](i64 n0, i64 n1, i64 k0, i64 k1, i64 r0, i64 r1, std::vector<double>& out) {
    const Box box{n0, n1, k0, k1, 0, g.C, r0, r1};
    if (!fast.ok)
      accumulate_parallel(j, box, out);
    else if (j.op == Op::bwd_filter)
      fast_filter(j, fast, box, out);
    else
      fast_correlate(j, fast, box, out);
  };
  std::vector<double> acc(size, 0.0);
  if (j.det) {
    part(0, n, 0, g.K, 0, rows, acc);
  } else {
    // Partial sums (by filter block for the data gradient, by sample and block of output rows
    // for the weight gradient) rounded to float and added in a seeded order, like atomicAdd's.
    struct Range {
      i64 n0, n1, k0, k1, r0, r1;
    };
    std::vector<Range> parts;
    if (j.op == Op::bwd_data) {
      const i64 G = std::min<i64>(g.K, 4);
      for (i64 q = 0; q < G; ++q) parts.push_back({0, n, q * g.K / G, (q + 1) * g.K / G, 0, rows});
    } else {
      const i64 G = std::min<i64>(rows, 4);
      for (i64 b = 0; b < n; ++b)
        for (i64 q = 0; q < G; ++q)
          parts.push_back({b, b + 1, 0, g.K, q * rows / G, (q + 1) * rows / G});
    }
    std::uint64_t r = j.salt;
    for (std::size_t i = parts.size(); i > 1; --i) {
      r = sim::mix(r, i);
      std::swap(parts[i - 1], parts[static_cast<std::size_t>(r % i)]);
    }
    std::vector<float> sum(size, 0.f);
    std::vector<double> p(size);
    for (const Range& q : parts) {
      std::fill(p.begin(), p.end(), 0.0);
      part(q.n0, q.n1, q.k0, q.k1, q.r0, q.r1, p);
      for (std::size_t i = 0; i < size; ++i) sum[i] += static_cast<float>(p[i]);
    }
    for (std::size_t i = 0; i < size; ++i) acc[i] = static_cast<double>(sum[i]);
  }
  store(out_layout(j), j.out, acc, j.alpha, j.beta);
}

void fill_nan(const Layout& l, float* out) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for_each_offset(l, [&](i64 o) { out[o] = nan; });
}

std::atomic<std::uint64_t> g_calls{0};

// ---------------------------------------------------------------------------------------------
// The three convolutions share their checks: operands, overlaps, workspace, algorithm.
struct Operands {
  const char* an;  // names of the two inputs and the output, as in the API
  const char* bn;
  const char* on;
  const void* a;
  const void* b;
  void* out;
};

Layout op_layout(const Geom& g, Op op, int which) {                // which: 0 = a, 1 = b, 2 = out
  static const int map[3][3] = {{0, 2, 1}, {1, 2, 0}, {0, 1, 2}};  // 0 = x, 1 = y, 2 = w
  const int m = map[static_cast<int>(op)][which];
  return m == 0 ? g.x : m == 1 ? g.y : g.w;
}

void check_operands(const Call& c, const Geom& g, Op op, const Operands& o) {
  const Layout la = op_layout(g, op, 0), lb = op_layout(g, op, 1), lo = op_layout(g, op, 2);
  check_data(c, o.an, o.a, la);
  check_data(c, o.bn, o.b, lb);
  check_data(c, o.on, o.out, lo);
  check_output_layout(c, o.on, lo);
  const char* why = "cuDNN convolutions do not run in place and read inputs while writing";
  check_no_overlap(c, o.an, tensor_fp(o.a, la), o.on, tensor_fp(o.out, lo), why);
  check_no_overlap(c, o.bn, tensor_fp(o.b, lb), o.on, tensor_fp(o.out, lo), why);
}

void check_workspace(const Call& c, const Geom& g, Op op, const Operands& o, void* ws,
                     std::size_t bytes) {
  if (bytes == 0) return;
  if (!ws) sim::fail(cat(c.name(), ": workSpace is NULL but workSpaceSizeInBytes is ", bytes));
  sim::check_device_range(ws, bytes, c.device(), cat(c.name(), ": workSpace of ", bytes, " bytes"));
  const Footprint w = bytes_fp(ws, bytes);
  const char* why = "the algorithm overwrites its workspace";
  check_no_overlap(c, "workSpace", w, o.an, tensor_fp(o.a, op_layout(g, op, 0)), why);
  check_no_overlap(c, "workSpace", w, o.bn, tensor_fp(o.b, op_layout(g, op, 1)), why);
  check_no_overlap(c, "workSpace", w, o.on, tensor_fp(o.out, op_layout(g, op, 2)), why);
}

void check_algo(const Call& c, Op op, int algo, const AlgoInfo& a, cudnnMathType_t math,
                std::size_t bytes) {
  if (algo < 0 || algo >= algo_count(op))
    sim::fail(cat(c.name(), ": algo ", algo, " is not an algorithm of this direction (0..",
                  algo_count(op) - 1, ")"));
  if (!a.ok)
    sim::fail(cat(c.name(), ": algo ", algo, " does not support this problem (", a.why,
                  "); Find never reports it as a success here, so it was not chosen by Find for "
                  "these descriptors"));
  if (a.ws > bytes)
    sim::fail(cat(c.name(), ": algo ", algo, " with math type ", math_name(math), " needs ", a.ws,
                  " bytes of workspace but workSpaceSizeInBytes is ", bytes,
                  " (a Find result's memory is the workspace under the math type in its "
                  "mathType field, which may differ from the descriptor's: run with that math "
                  "type, or pick a result whose mathType is the descriptor's)"));
}

void run_convolution(Op op, const Call& c, const Geom& g, const ConvState& cv, int algo,
                     const Operands& o, void* ws, std::size_t bytes, float alpha, float beta) {
  sim::count(cat(op_call(op), ":algo", algo, cv.math == CUDNN_FMA_MATH ? ":fma" : ":tc-allowed"));
  check_operands(c, g, op, o);
  const AlgoInfo a = algo_info(op, algo, g, cv.math != CUDNN_FMA_MATH);
  check_algo(c, op, algo, a, cv.math, bytes);
  check_workspace(c, g, op, o, ws, bytes);
  ConvJob j;
  j.op = op;
  j.g = g;
  j.a = static_cast<const float*>(o.a);
  j.b = static_cast<const float*>(o.b);
  j.out = static_cast<float*>(o.out);
  j.alpha = alpha;
  j.beta = beta;
  j.tf32 = a.tc && cv.math != CUDNN_FMA_MATH;
  j.det = a.det;
  j.salt = sim::mix(sim::seed(), g_calls.fetch_add(1) + 0x9e3779b97f4a7c15ull);
  j.workspace = ws;
  j.ws_bytes = a.ws;
  sim::enqueue(c.stream(), op_call(op), [j] { run_conv(j); });
}

// Find*Ex: the same checks as a run (any algorithm), the table, the output clobbered, and the
// host blocked until the stream has done it (real Find synchronizes to time the algorithms).
template <class Perf, class AlgoT>
void find(Op op, const Call& c, const Geom& g, const ConvState& cv, const Operands& o,
          int requested, int* returned, Perf* perf, void* ws, std::size_t bytes) {
  if (requested < 1)
    sim::fail(cat(c.name(), ": requestedAlgoCount is ", requested, "; it must be at least 1"));
  if (!returned) sim::fail(cat(c.name(), ": returnedAlgoCount is NULL"));
  if (!perf) sim::fail(cat(c.name(), ": perfResults is NULL"));
  check_operands(c, g, op, o);
  check_workspace(c, g, op, o, ws, bytes);
  const std::vector<Entry> es = find_entries(op, g, cv.math, bytes);
  write_perf<Perf, AlgoT>(es, requested, returned, perf);
  const Layout lo = op_layout(g, op, 2);
  float* out = static_cast<float*>(o.out);
  sim::enqueue(c.stream(), find_call(op), [lo, out] { fill_nan(lo, out); });
  const cudaError_t e = cudaStreamSynchronize(c.stream());
  if (e != cudaSuccess)
    sim::fail(
        cat(c.name(), ": synchronizing the handle's stream failed (", cudaGetErrorName(e), ")"));
}

std::size_t workspace_size(Op op, const std::string& call, const Geom& g, const ConvState& cv,
                           int algo) {
  const AlgoInfo a = algo_info(op, algo, g, cv.math != CUDNN_FMA_MATH);
  if (algo < 0 || algo >= algo_count(op) || !a.ok)
    sim::fail(cat(call, ": algo ", algo, " does not support this problem (",
                  a.ok ? "no such algorithm" : a.why, ")"));
  return a.ws;
}

std::size_t* nonnull(std::size_t* p, const char* call) {
  if (!p) sim::fail(cat(call, ": sizeInBytes is NULL"));
  return p;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The C API.
extern "C" {

size_t cudnnGetVersion(void) {
  sim::count("cudnnGetVersion");
  return CUDNN_VERSION;
}

const char* cudnnGetErrorString(cudnnStatus_t status) {
  sim::count("cudnnGetErrorString");
  switch (status) {
#define DDNET_SIM_STATUS(s) \
  case s:                   \
    return #s;
    DDNET_SIM_STATUS(CUDNN_STATUS_SUCCESS)
    DDNET_SIM_STATUS(CUDNN_STATUS_NOT_INITIALIZED)
    DDNET_SIM_STATUS(CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH)
    DDNET_SIM_STATUS(CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH)
    DDNET_SIM_STATUS(CUDNN_STATUS_DEPRECATED)
    DDNET_SIM_STATUS(CUDNN_STATUS_LICENSE_ERROR)
    DDNET_SIM_STATUS(CUDNN_STATUS_RUNTIME_IN_PROGRESS)
    DDNET_SIM_STATUS(CUDNN_STATUS_RUNTIME_FP_OVERFLOW)
    DDNET_SIM_STATUS(CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED)
    DDNET_SIM_STATUS(CUDNN_STATUS_BAD_PARAM)
    DDNET_SIM_STATUS(CUDNN_STATUS_INVALID_VALUE)
    DDNET_SIM_STATUS(CUDNN_STATUS_BAD_PARAM_NULL_POINTER)
    DDNET_SIM_STATUS(CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER)
    DDNET_SIM_STATUS(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED)
    DDNET_SIM_STATUS(CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND)
    DDNET_SIM_STATUS(CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT)
    DDNET_SIM_STATUS(CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH)
    DDNET_SIM_STATUS(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH)
    DDNET_SIM_STATUS(CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES)
    DDNET_SIM_STATUS(CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE)
    DDNET_SIM_STATUS(CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH)
    DDNET_SIM_STATUS(CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE)
    DDNET_SIM_STATUS(CUDNN_STATUS_NOT_SUPPORTED)
    DDNET_SIM_STATUS(CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN)
    DDNET_SIM_STATUS(CUDNN_STATUS_NOT_SUPPORTED_SHAPE)
    DDNET_SIM_STATUS(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE)
    DDNET_SIM_STATUS(CUDNN_STATUS_NOT_SUPPORTED_LAYOUT)
    DDNET_SIM_STATUS(CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER)
    DDNET_SIM_STATUS(CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART)
    DDNET_SIM_STATUS(CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH)
    DDNET_SIM_STATUS(CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING)
    DDNET_SIM_STATUS(CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE)
    DDNET_SIM_STATUS(CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT)
    DDNET_SIM_STATUS(CUDNN_STATUS_NOT_SUPPORTED_PADDING)
    DDNET_SIM_STATUS(CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM)
    DDNET_SIM_STATUS(CUDNN_STATUS_NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API)
    DDNET_SIM_STATUS(CUDNN_STATUS_NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE)
    DDNET_SIM_STATUS(CUDNN_STATUS_INTERNAL_ERROR)
    DDNET_SIM_STATUS(CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED)
    DDNET_SIM_STATUS(CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE)
    DDNET_SIM_STATUS(CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED)
    DDNET_SIM_STATUS(CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED)
    DDNET_SIM_STATUS(CUDNN_STATUS_INTERNAL_ERROR_BAD_LAUNCH_PARAM)
    DDNET_SIM_STATUS(CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED)
    DDNET_SIM_STATUS(CUDNN_STATUS_EXECUTION_FAILED)
    DDNET_SIM_STATUS(CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER)
    DDNET_SIM_STATUS(CUDNN_STATUS_EXECUTION_FAILED_CUBLAS)
    DDNET_SIM_STATUS(CUDNN_STATUS_EXECUTION_FAILED_CUDART)
    DDNET_SIM_STATUS(CUDNN_STATUS_EXECUTION_FAILED_CURAND)
#undef DDNET_SIM_STATUS
  }
  return "CUDNN_STATUS_UNKNOWN (not a cuDNN status)";
}

// Handles ----------------------------------------------------------------------------------------
cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) {
  sim::count("cudnnCreate");
  if (!handle) sim::fail("cudnnCreate: handle is NULL");
  auto h = std::make_shared<HandleState>();
  h->device = sim::current_device();  // a handle belongs to the device current now
  std::lock_guard<std::mutex> lock(reg().mu);
  const std::uintptr_t id = new_id(kHandle);
  reg().handles.emplace(id, std::move(h));
  *handle = reinterpret_cast<cudnnHandle_t>(id);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  sim::count("cudnnDestroy");
  std::shared_ptr<HandleState> h;
  {
    std::lock_guard<std::mutex> lock(reg().mu);
    auto it = find_live(reg().handles, idv(handle), kHandle, "cudnnDestroy", "handle");
    h = it->second;
    reg().handles.erase(it);
  }
  if (h->busy.load()) sim::fail("cudnnDestroy: the handle is in use by another host thread");
  // Real cudnnDestroy synchronizes the handle's device before it frees its resources.
  const int cur = sim::current_device();
  if (cur != h->device) cudaSetDevice(h->device);
  cudaDeviceSynchronize();
  if (cur != h->device) cudaSetDevice(cur);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t streamId) {
  sim::count("cudnnSetStream");
  std::lock_guard<std::mutex> lock(reg().mu);
  HandleState& h =
      *find_live(reg().handles, idv(handle), kHandle, "cudnnSetStream", "handle")->second;
  const int sd = sim::stream_device(streamId);  // fails on a destroyed or foreign stream
  if (sd != h.device)
    sim::fail(cat("cudnnSetStream: streamId belongs to device ", sd,
                  " but the handle was created on device ", h.device,
                  " (make one handle per device)"));
  h.stream = streamId;
  h.stream_set = true;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetStream(cudnnHandle_t handle, cudaStream_t* streamId) {
  sim::count("cudnnGetStream");
  if (!streamId) sim::fail("cudnnGetStream: streamId is NULL");
  std::lock_guard<std::mutex> lock(reg().mu);
  *streamId =
      find_live(reg().handles, idv(handle), kHandle, "cudnnGetStream", "handle")->second->stream;
  return CUDNN_STATUS_SUCCESS;
}

// Descriptors ------------------------------------------------------------------------------------
cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* tensorDesc) {
  sim::count("cudnnCreateTensorDescriptor");
  if (!tensorDesc) sim::fail("cudnnCreateTensorDescriptor: tensorDesc is NULL");
  std::lock_guard<std::mutex> lock(reg().mu);
  const std::uintptr_t id = new_id(kTensor);
  reg().tensors.emplace(id, TensorState{});
  *tensorDesc = reinterpret_cast<cudnnTensorDescriptor_t>(id);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetTensorNdDescriptor(cudnnTensorDescriptor_t tensorDesc,
                                         cudnnDataType_t dataType, int nbDims, const int dimA[],
                                         const int strideA[]) {
  const char* call = "cudnnSetTensorNdDescriptor";
  sim::count(call);
  if (dataType != CUDNN_DATA_FLOAT)
    sim::fail(cat(call, ": dataType ", static_cast<int>(dataType),
                  "; the emulated cuDNN models CUDNN_DATA_FLOAT only"));
  if (nbDims < 3 || nbDims > CUDNN_DIM_MAX)
    sim::fail(cat(call, ": nbDims is ", nbDims, "; cuDNN takes 3 to ", CUDNN_DIM_MAX));
  if (!dimA || !strideA) sim::fail(cat(call, ": dimA or strideA is NULL"));
  for (int i = 0; i < nbDims; ++i) {
    if (dimA[i] <= 0) sim::fail(cat(call, ": dimA[", i, "] is ", dimA[i], "; dims must be > 0"));
    if (strideA[i] <= 0)
      sim::fail(cat(call, ": strideA[", i, "] is ", strideA[i], "; strides must be > 0"));
  }
  std::lock_guard<std::mutex> lock(reg().mu);
  TensorState& t = find_live(reg().tensors, idv(tensorDesc), kTensor, call, "tensorDesc")->second;
  t.set = true;
  t.type = dataType;
  t.nb = nbDims;
  for (int i = 0; i < nbDims; ++i) {
    t.dims[i] = dimA[i];
    t.strides[i] = strideA[i];
  }
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t tensorDesc) {
  sim::count("cudnnDestroyTensorDescriptor");
  if (!tensorDesc) return CUDNN_STATUS_SUCCESS;  // as real cuDNN: destroying NULL is a no-op
  std::lock_guard<std::mutex> lock(reg().mu);
  reg().tensors.erase(find_live(reg().tensors, idv(tensorDesc), kTensor,
                                "cudnnDestroyTensorDescriptor", "tensorDesc"));
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* filterDesc) {
  sim::count("cudnnCreateFilterDescriptor");
  if (!filterDesc) sim::fail("cudnnCreateFilterDescriptor: filterDesc is NULL");
  std::lock_guard<std::mutex> lock(reg().mu);
  const std::uintptr_t id = new_id(kFilter);
  reg().filters.emplace(id, FilterState{});
  *filterDesc = reinterpret_cast<cudnnFilterDescriptor_t>(id);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetFilterNdDescriptor(cudnnFilterDescriptor_t filterDesc,
                                         cudnnDataType_t dataType, cudnnTensorFormat_t format,
                                         int nbDims, const int filterDimA[]) {
  const char* call = "cudnnSetFilterNdDescriptor";
  sim::count(call);
  if (dataType != CUDNN_DATA_FLOAT)
    sim::fail(cat(call, ": dataType ", static_cast<int>(dataType),
                  "; the emulated cuDNN models CUDNN_DATA_FLOAT only"));
  if (format != CUDNN_TENSOR_NCHW && format != CUDNN_TENSOR_NHWC &&
      format != CUDNN_TENSOR_NCHW_VECT_C)
    sim::fail(cat(call, ": format ", static_cast<int>(format), " is not a cudnnTensorFormat_t"));
  if (nbDims < 3 || nbDims > CUDNN_DIM_MAX)
    sim::fail(cat(call, ": nbDims is ", nbDims, "; cuDNN takes 3 to ", CUDNN_DIM_MAX));
  if (!filterDimA) sim::fail(cat(call, ": filterDimA is NULL"));
  for (int i = 0; i < nbDims; ++i)
    if (filterDimA[i] <= 0)
      sim::fail(cat(call, ": filterDimA[", i, "] is ", filterDimA[i], "; dims must be > 0"));
  std::lock_guard<std::mutex> lock(reg().mu);
  FilterState& f = find_live(reg().filters, idv(filterDesc), kFilter, call, "filterDesc")->second;
  f.set = true;
  f.type = dataType;
  f.format = format;
  f.nb = nbDims;
  for (int i = 0; i < nbDims; ++i) f.dims[i] = filterDimA[i];
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t filterDesc) {
  sim::count("cudnnDestroyFilterDescriptor");
  if (!filterDesc) return CUDNN_STATUS_SUCCESS;
  std::lock_guard<std::mutex> lock(reg().mu);
  reg().filters.erase(find_live(reg().filters, idv(filterDesc), kFilter,
                                "cudnnDestroyFilterDescriptor", "filterDesc"));
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* convDesc) {
  sim::count("cudnnCreateConvolutionDescriptor");
  if (!convDesc) sim::fail("cudnnCreateConvolutionDescriptor: convDesc is NULL");
  std::lock_guard<std::mutex> lock(reg().mu);
  const std::uintptr_t id = new_id(kConv);
  reg().convs.emplace(id, ConvState{});
  *convDesc = reinterpret_cast<cudnnConvolutionDescriptor_t>(id);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t convDesc) {
  sim::count("cudnnDestroyConvolutionDescriptor");
  if (!convDesc) return CUDNN_STATUS_SUCCESS;
  std::lock_guard<std::mutex> lock(reg().mu);
  reg().convs.erase(find_live(reg().convs, idv(convDesc), kConv,
                              "cudnnDestroyConvolutionDescriptor", "convDesc"));
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t convDesc,
                                          cudnnMathType_t mathType) {
  const char* call = "cudnnSetConvolutionMathType";
  sim::count(call);
  if (mathType != CUDNN_DEFAULT_MATH && mathType != CUDNN_TENSOR_OP_MATH &&
      mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION && mathType != CUDNN_FMA_MATH)
    sim::fail(cat(call, ": mathType ", static_cast<int>(mathType), " is not a cudnnMathType_t"));
  std::lock_guard<std::mutex> lock(reg().mu);
  find_live(reg().convs, idv(convDesc), kConv, call, "convDesc")->second.math = mathType;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionMathType(cudnnConvolutionDescriptor_t convDesc,
                                          cudnnMathType_t* mathType) {
  const char* call = "cudnnGetConvolutionMathType";
  sim::count(call);
  if (!mathType) sim::fail(cat(call, ": mathType is NULL"));
  std::lock_guard<std::mutex> lock(reg().mu);
  *mathType = find_live(reg().convs, idv(convDesc), kConv, call, "convDesc")->second.math;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionNdDescriptor(cudnnConvolutionDescriptor_t convDesc,
                                              int arrayLength, const int padA[],
                                              const int filterStrideA[], const int dilationA[],
                                              cudnnConvolutionMode_t mode,
                                              cudnnDataType_t computeType) {
  const char* call = "cudnnSetConvolutionNdDescriptor";
  sim::count(call);
  if (arrayLength < 2 || arrayLength > 3)
    sim::fail(cat(call, ": arrayLength is ", arrayLength,
                  "; the emulated cuDNN models 2 and 3 spatial dimensions"));
  if (!padA || !filterStrideA || !dilationA)
    sim::fail(cat(call, ": padA, filterStrideA or dilationA is NULL"));
  for (int i = 0; i < arrayLength; ++i) {
    if (padA[i] < 0) sim::fail(cat(call, ": padA[", i, "] is ", padA[i], "; must be >= 0"));
    if (filterStrideA[i] <= 0)
      sim::fail(cat(call, ": filterStrideA[", i, "] is ", filterStrideA[i], "; must be > 0"));
    if (dilationA[i] <= 0)
      sim::fail(cat(call, ": dilationA[", i, "] is ", dilationA[i], "; must be > 0"));
  }
  if (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION)
    sim::fail(cat(call, ": mode ", static_cast<int>(mode), " is not a cudnnConvolutionMode_t"));
  if (computeType != CUDNN_DATA_FLOAT)
    sim::fail(cat(call, ": computeType ", static_cast<int>(computeType),
                  "; the emulated cuDNN models CUDNN_DATA_FLOAT only"));
  std::lock_guard<std::mutex> lock(reg().mu);
  ConvState& c = find_live(reg().convs, idv(convDesc), kConv, call, "convDesc")->second;
  c.set = true;
  c.nsp = arrayLength;
  for (int i = 0; i < arrayLength; ++i) {
    c.pad[i] = padA[i];
    c.stride[i] = filterStrideA[i];
    c.dil[i] = dilationA[i];
  }
  c.mode = mode;
  c.compute = computeType;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionNdForwardOutputDim(const cudnnConvolutionDescriptor_t convDesc,
                                                    const cudnnTensorDescriptor_t inputTensorDesc,
                                                    const cudnnFilterDescriptor_t filterDesc,
                                                    int nbDims, int tensorOuputDimA[]) {
  const std::string call = "cudnnGetConvolutionNdForwardOutputDim";
  sim::count(call);
  const ConvState cv = get_conv(convDesc, call, "convDesc");
  const TensorState xt = get_tensor(inputTensorDesc, call, "inputTensorDesc");
  const FilterState wf = get_filter(filterDesc, call, "filterDesc");
  if (!tensorOuputDimA) sim::fail(cat(call, ": tensorOuputDimA is NULL"));
  if (nbDims != xt.nb || wf.nb != xt.nb || cv.nsp != xt.nb - 2)
    sim::fail(cat(call, ": nbDims ", nbDims, ", input ", xt.nb, "-d, filter ", wf.nb,
                  "-d and convolution ", cv.nsp, " spatial dims disagree"));
  if (xt.dims[1] != wf.dims[1])
    sim::fail(cat(call, ": the input has ", xt.dims[1], " channels, the filter ", wf.dims[1]));
  tensorOuputDimA[0] = xt.dims[0];
  tensorOuputDimA[1] = wf.dims[0];
  for (int i = 0; i < cv.nsp; ++i) {
    const i64 o = out_extent(xt.dims[2 + i], wf.dims[2 + i], cv.pad[i], cv.stride[i], cv.dil[i]);
    if (o < 1) sim::fail(cat(call, ": the filter does not fit the padded input on axis ", i));
    tensorOuputDimA[2 + i] = static_cast<int>(o);
  }
  return CUDNN_STATUS_SUCCESS;
}

// Forward ----------------------------------------------------------------------------------------
cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc, const void* x,
    const cudnnFilterDescriptor_t wDesc, const void* w, const cudnnConvolutionDescriptor_t convDesc,
    const cudnnTensorDescriptor_t yDesc, void* y, const int requestedAlgoCount,
    int* returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t* perfResults, void* workSpace,
    size_t workSpaceSizeInBytes) {
  Call c("cudnnFindConvolutionForwardAlgorithmEx", handle);
  const ConvState cv = get_conv(convDesc, c.name(), "convDesc");
  const Geom g = call_geom(c, xDesc, "xDesc", wDesc, "wDesc", cv, yDesc, "yDesc");
  find<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(
      Op::fwd, c, g, cv, Operands{"x", "w", "y", x, w, y}, requestedAlgoCount, returnedAlgoCount,
      perfResults, workSpace, workSpaceSizeInBytes);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc, const cudnnFilterDescriptor_t wDesc,
    const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t yDesc,
    cudnnConvolutionFwdAlgo_t algo, size_t* sizeInBytes) {
  Call c("cudnnGetConvolutionForwardWorkspaceSize", handle);
  const ConvState cv = get_conv(convDesc, c.name(), "convDesc");
  const Geom g = call_geom(c, xDesc, "xDesc", wDesc, "wDesc", cv, yDesc, "yDesc");
  *nonnull(sizeInBytes, "cudnnGetConvolutionForwardWorkspaceSize") =
      workspace_size(Op::fwd, c.name(), g, cv, algo);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t handle, const void* alpha,
                                      const cudnnTensorDescriptor_t xDesc, const void* x,
                                      const cudnnFilterDescriptor_t wDesc, const void* w,
                                      const cudnnConvolutionDescriptor_t convDesc,
                                      cudnnConvolutionFwdAlgo_t algo, void* workSpace,
                                      size_t workSpaceSizeInBytes, const void* beta,
                                      const cudnnTensorDescriptor_t yDesc, void* y) {
  Call c("cudnnConvolutionForward", handle);
  const ConvState cv = get_conv(convDesc, c.name(), "convDesc");
  const Geom g = call_geom(c, xDesc, "xDesc", wDesc, "wDesc", cv, yDesc, "yDesc");
  run_convolution(Op::fwd, c, g, cv, algo, Operands{"x", "w", "y", x, w, y}, workSpace,
                  workSpaceSizeInBytes, host_scalar(c, alpha, "alpha"),
                  host_scalar(c, beta, "beta"));
  return CUDNN_STATUS_SUCCESS;
}

// Backward data ----------------------------------------------------------------------------------
cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithmEx(
    cudnnHandle_t handle, const cudnnFilterDescriptor_t wDesc, const void* w,
    const cudnnTensorDescriptor_t dyDesc, const void* dy,
    const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t dxDesc, void* dx,
    const int requestedAlgoCount, int* returnedAlgoCount,
    cudnnConvolutionBwdDataAlgoPerf_t* perfResults, void* workSpace, size_t workSpaceSizeInBytes) {
  Call c("cudnnFindConvolutionBackwardDataAlgorithmEx", handle);
  const ConvState cv = get_conv(convDesc, c.name(), "convDesc");
  const Geom g = call_geom(c, dxDesc, "dxDesc", wDesc, "wDesc", cv, dyDesc, "dyDesc");
  find<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(
      Op::bwd_data, c, g, cv, Operands{"dy", "w", "dx", dy, w, dx}, requestedAlgoCount,
      returnedAlgoCount, perfResults, workSpace, workSpaceSizeInBytes);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(
    cudnnHandle_t handle, const cudnnFilterDescriptor_t wDesc, const cudnnTensorDescriptor_t dyDesc,
    const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t dxDesc,
    cudnnConvolutionBwdDataAlgo_t algo, size_t* sizeInBytes) {
  Call c("cudnnGetConvolutionBackwardDataWorkspaceSize", handle);
  const ConvState cv = get_conv(convDesc, c.name(), "convDesc");
  const Geom g = call_geom(c, dxDesc, "dxDesc", wDesc, "wDesc", cv, dyDesc, "dyDesc");
  *nonnull(sizeInBytes, "cudnnGetConvolutionBackwardDataWorkspaceSize") =
      workspace_size(Op::bwd_data, c.name(), g, cv, algo);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t handle, const void* alpha,
                                           const cudnnFilterDescriptor_t wDesc, const void* w,
                                           const cudnnTensorDescriptor_t dyDesc, const void* dy,
                                           const cudnnConvolutionDescriptor_t convDesc,
                                           cudnnConvolutionBwdDataAlgo_t algo, void* workSpace,
                                           size_t workSpaceSizeInBytes, const void* beta,
                                           const cudnnTensorDescriptor_t dxDesc, void* dx) {
  Call c("cudnnConvolutionBackwardData", handle);
  const ConvState cv = get_conv(convDesc, c.name(), "convDesc");
  const Geom g = call_geom(c, dxDesc, "dxDesc", wDesc, "wDesc", cv, dyDesc, "dyDesc");
  run_convolution(Op::bwd_data, c, g, cv, algo, Operands{"dy", "w", "dx", dy, w, dx}, workSpace,
                  workSpaceSizeInBytes, host_scalar(c, alpha, "alpha"),
                  host_scalar(c, beta, "beta"));
  return CUDNN_STATUS_SUCCESS;
}

// Backward filter --------------------------------------------------------------------------------
cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithmEx(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc, const void* x,
    const cudnnTensorDescriptor_t dyDesc, const void* y,
    const cudnnConvolutionDescriptor_t convDesc, const cudnnFilterDescriptor_t dwDesc, void* dw,
    const int requestedAlgoCount, int* returnedAlgoCount,
    cudnnConvolutionBwdFilterAlgoPerf_t* perfResults, void* workSpace,
    size_t workSpaceSizeInBytes) {
  Call c("cudnnFindConvolutionBackwardFilterAlgorithmEx", handle);
  const ConvState cv = get_conv(convDesc, c.name(), "convDesc");
  const Geom g = call_geom(c, xDesc, "xDesc", dwDesc, "dwDesc", cv, dyDesc, "dyDesc");
  find<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(
      Op::bwd_filter, c, g, cv, Operands{"x", "dy", "dw", x, y, dw}, requestedAlgoCount,
      returnedAlgoCount, perfResults, workSpace, workSpaceSizeInBytes);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc, const cudnnTensorDescriptor_t dyDesc,
    const cudnnConvolutionDescriptor_t convDesc, const cudnnFilterDescriptor_t gradDesc,
    cudnnConvolutionBwdFilterAlgo_t algo, size_t* sizeInBytes) {
  Call c("cudnnGetConvolutionBackwardFilterWorkspaceSize", handle);
  const ConvState cv = get_conv(convDesc, c.name(), "convDesc");
  const Geom g = call_geom(c, xDesc, "xDesc", gradDesc, "gradDesc", cv, dyDesc, "dyDesc");
  *nonnull(sizeInBytes, "cudnnGetConvolutionBackwardFilterWorkspaceSize") =
      workspace_size(Op::bwd_filter, c.name(), g, cv, algo);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t handle, const void* alpha,
                                             const cudnnTensorDescriptor_t xDesc, const void* x,
                                             const cudnnTensorDescriptor_t dyDesc, const void* dy,
                                             const cudnnConvolutionDescriptor_t convDesc,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void* workSpace,
                                             size_t workSpaceSizeInBytes, const void* beta,
                                             const cudnnFilterDescriptor_t dwDesc, void* dw) {
  Call c("cudnnConvolutionBackwardFilter", handle);
  const ConvState cv = get_conv(convDesc, c.name(), "convDesc");
  const Geom g = call_geom(c, xDesc, "xDesc", dwDesc, "dwDesc", cv, dyDesc, "dyDesc");
  run_convolution(Op::bwd_filter, c, g, cv, algo, Operands{"x", "dy", "dw", x, dy, dw}, workSpace,
                  workSpaceSizeInBytes, host_scalar(c, alpha, "alpha"),
                  host_scalar(c, beta, "beta"));
  return CUDNN_STATUS_SUCCESS;
}

// Bias -------------------------------------------------------------------------------------------
cudnnStatus_t cudnnConvolutionBackwardBias(cudnnHandle_t handle, const void* alpha,
                                           const cudnnTensorDescriptor_t dyDesc, const void* dy,
                                           const void* beta, const cudnnTensorDescriptor_t dbDesc,
                                           void* db) {
  Call c("cudnnConvolutionBackwardBias", handle);
  const Layout ly = tensor_layout(get_tensor(dyDesc, c.name(), "dyDesc"), c.name(), "dyDesc");
  const Layout lb = tensor_layout(get_tensor(dbDesc, c.name(), "dbDesc"), c.name(), "dbDesc");
  if (lb.nb != ly.nb || lb.d[0] != 1 || lb.d[1] != ly.d[1] || lb.sp() != 1)
    sim::fail(cat(c.name(), ": dbDesc ", lb.str(), " must be 1 x C x 1 x 1",
                  ly.nb == 5 ? " x 1" : "", " with dyDesc's C (", ly.str(), ")"));
  const float a = host_scalar(c, alpha, "alpha"), b = host_scalar(c, beta, "beta");
  check_data(c, "dy", dy, ly);
  check_data(c, "db", db, lb);
  check_no_overlap(c, "dy", tensor_fp(dy, ly), "db", tensor_fp(db, lb),
                   "the bias gradient is written while dy is read");
  const float* src = static_cast<const float*>(dy);
  float* dst = static_cast<float*>(db);
  sim::enqueue(c.stream(), "cudnnConvolutionBackwardBias", [ly, lb, src, dst, a, b] {
    std::vector<double> acc(static_cast<std::size_t>(ly.d[1]), 0.0);
    for (i64 n = 0; n < ly.d[0]; ++n)
      for (i64 k = 0; k < ly.d[1]; ++k)
        for (i64 d = 0; d < ly.d[2]; ++d)
          for (i64 h = 0; h < ly.d[3]; ++h)
            for (i64 w = 0; w < ly.d[4]; ++w)
              acc[static_cast<std::size_t>(k)] += static_cast<double>(
                  src[n * ly.s[0] + k * ly.s[1] + d * ly.s[2] + h * ly.s[3] + w * ly.s[4]]);
    store(lb, dst, acc, a, b);
  });
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnAddTensor(cudnnHandle_t handle, const void* alpha,
                             const cudnnTensorDescriptor_t aDesc, const void* A, const void* beta,
                             const cudnnTensorDescriptor_t cDesc, void* C) {
  Call c("cudnnAddTensor", handle);
  const Layout la = tensor_layout(get_tensor(aDesc, c.name(), "aDesc"), c.name(), "aDesc");
  const Layout lc = tensor_layout(get_tensor(cDesc, c.name(), "cDesc"), c.name(), "cDesc");
  if (la.nb != lc.nb) sim::fail(cat(c.name(), ": aDesc is ", la.nb, "-d and cDesc ", lc.nb, "-d"));
  for (int i = 0; i < 5; ++i)
    if (la.d[i] != 1 && la.d[i] != lc.d[i])
      sim::fail(cat(c.name(), ": aDesc ", la.str(), " does not broadcast to cDesc ", lc.str(),
                    " (each dimension of A must be 1 or C's)"));
  const float a = host_scalar(c, alpha, "alpha"), b = host_scalar(c, beta, "beta");
  check_data(c, "A", A, la);
  check_data(c, "C", C, lc);
  check_output_layout(c, "C", lc);
  check_no_overlap(c, "A", tensor_fp(A, la), "C", tensor_fp(C, lc),
                   "C is written while A is read (broadcast)");
  Layout bcast = la;  // A read at C's coordinates: stride 0 where A has extent 1
  for (int i = 0; i < 5; ++i) {
    bcast.d[i] = lc.d[i];
    if (la.d[i] == 1) bcast.s[i] = 0;
  }
  const float* src = static_cast<const float*>(A);
  float* dst = static_cast<float*>(C);
  sim::enqueue(c.stream(), "cudnnAddTensor", [bcast, lc, src, dst, a, b] {
    std::vector<double> acc;
    acc.reserve(static_cast<std::size_t>(lc.count()));
    for_each_offset(bcast, [&](i64 o) { acc.push_back(static_cast<double>(src[o])); });
    store(lc, dst, acc, a, b);
  });
  return CUDNN_STATUS_SUCCESS;
}

}  // extern "C"
