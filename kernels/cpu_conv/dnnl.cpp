// oneDNN convolutions for float32 on the CPU. Per geometry (and batch strides) the forward,
// backward-data and backward-weights primitive descriptors are created once with format `any`
// (oneDNN picks its blocked layouts), together with the buffers in those layouts; each call
// reorders the user's NC(D)HW tensors in and out. 2D geometries (D = 1, kD = 1) use 4-d
// descriptors.
#include "kernels/cpu_conv/dnnl.h"

#include "generated/ddnet_config.h"

#if DDNET_WITH_DNNL

#include <dnnl.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/error.h"
#include "engine/parallel.h"
#include "engine/workspace.h"

namespace ddnet::kernels::cpu_conv::dnnl_path {

namespace {

using dnnl::memory;
using dims = memory::dims;

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

bool is_2d(const ConvGeometry& g) {
  return g.in[0] == 1 && g.out[0] == 1 && g.k[0] == 1 && g.pad[0] == 0;
}

dims spatial(const ConvGeometry& g, const std::int64_t v[3]) {
  return is_2d(g) ? dims{v[1], v[2]} : dims{v[0], v[1], v[2]};
}

dims act_dims(const ConvGeometry& g, std::int64_t c, const std::int64_t sp[3]) {
  dims d = {g.n, c};
  for (auto v : spatial(g, sp)) d.push_back(v);
  return d;
}

// The user's layout: each sample's (C, D, H, W) contiguous, samples batch_stride apart.
memory::desc user_desc(const ConvGeometry& g, std::int64_t c, const std::int64_t sp[3],
                       std::int64_t batch_stride) {
  const dims d = act_dims(g, c, sp);
  dims strides;  // built innermost first
  std::int64_t acc = 1;
  for (auto it = d.rbegin(); it + 1 != d.rend(); ++it) {
    strides.push_back(acc);
    acc *= *it;
  }
  strides.push_back(batch_stride ? batch_stride : acc);
  std::reverse(strides.begin(), strides.end());
  return memory::desc(d, memory::data_type::f32, strides);
}

memory::desc any_desc(const dims& d) {
  return memory::desc(d, memory::data_type::f32, memory::format_tag::any);
}

struct Entry {
  std::mutex mu;  // one call at a time uses the cached buffers
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd;
  dnnl::convolution_backward_weights::primitive_desc bwd_w_pd;
  memory::desc user_x, user_y, user_w;
  dims wdims;
};

std::string key(const ConvGeometry& g, ConvStrides s) {
  return g.str() + "|" + std::to_string(s.x) + "|" + std::to_string(s.y);
}

Entry& entry(const ConvGeometry& g, ConvStrides s) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<Entry>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& e = cache[key(g, s)];
  if (e) return *e;
  e = std::make_unique<Entry>();
  const dims xd = act_dims(g, g.cin, g.in), yd = act_dims(g, g.cout, g.out);
  e->wdims = {g.cout, g.cin};
  for (auto v : spatial(g, g.k)) e->wdims.push_back(v);
  const dims strides = spatial(g, g.stride), pad = spatial(g, g.pad);
  // padding on the right so that oneDNN's output size equals ours (floor division)
  dims pad_r(pad.size());
  const dims in_sp = spatial(g, g.in), out_sp = spatial(g, g.out), k_sp = spatial(g, g.k);
  for (std::size_t a = 0; a < pad.size(); ++a)
    pad_r[a] = (out_sp[a] - 1) * strides[a] + k_sp[a] - in_sp[a] - pad[a];
  const memory::desc bias_md({g.cout}, memory::data_type::f32, memory::format_tag::x);
  const ScopedCpuThreads planned(cpu_threads_planned());  // engine/parallel.h: the same plan
  try {
    dnnl::convolution_forward::desc fd(
        dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, any_desc(xd),
        any_desc(e->wdims), bias_md, any_desc(yd), strides, pad, pad_r);
    e->fwd_pd = dnnl::convolution_forward::primitive_desc(fd, cpu_engine());
    dnnl::convolution_backward_data::desc bd(dnnl::algorithm::convolution_direct, any_desc(xd),
                                             any_desc(e->wdims), any_desc(yd), strides, pad, pad_r);
    e->bwd_data_pd = dnnl::convolution_backward_data::primitive_desc(bd, cpu_engine(), e->fwd_pd);
    dnnl::convolution_backward_weights::desc wd(dnnl::algorithm::convolution_direct, any_desc(xd),
                                                any_desc(e->wdims), bias_md, any_desc(yd), strides,
                                                pad, pad_r);
    e->bwd_w_pd = dnnl::convolution_backward_weights::primitive_desc(wd, cpu_engine(), e->fwd_pd);
  } catch (const dnnl::error& err) {
    DDNET_FAIL("oneDNN cannot make a convolution for ", g.str(), ": ", err.what());
  }
  e->user_x = user_desc(g, g.cin, g.in, s.x);
  e->user_y = user_desc(g, g.cout, g.out, s.y);
  e->user_w = memory::desc(e->wdims, memory::data_type::f32,
                           is_2d(g) ? memory::format_tag::oihw : memory::format_tag::oidhw);
  return *e;
}

// The user's buffer as oneDNN memory in `want`'s layout: the buffer itself when the layouts
// match, else a reordered copy (when `copy_in`) into a fresh buffer.
memory as(const memory::desc& user, void* ptr, const memory::desc& want, dnnl::stream& st,
          bool copy_in) {
  memory u(user, cpu_engine(), ptr);
  if (user == want) return u;
  memory m(want, cpu_engine());
  if (copy_in) dnnl::reorder(u, m).execute(st, u, m);
  return m;
}

// Bytes of the reordered copy as() makes (0 when the layouts match).
std::int64_t copy_bytes(const memory::desc& user, const memory::desc& want) {
  return user == want ? 0 : static_cast<std::int64_t>(want.get_size());
}
template <class PD>
std::int64_t scratchpad_bytes(const PD& pd) {
  return static_cast<std::int64_t>(pd.scratchpad_desc().get_size());
}

void copy_out(memory& m, const memory::desc& user, void* ptr, dnnl::stream& st) {
  memory u(user, cpu_engine(), ptr);
  if (m.get_data_handle() == ptr) return;
  dnnl::reorder(m, u).execute(st, m, u);
}

}  // namespace

bool compiled() {
  return true;
}

void conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                  float* y, ConvStrides s) {
  Entry& e = entry(g, s);
  std::lock_guard<std::mutex> lock(e.mu);
  const ScopedWorkspace counted(
      copy_bytes(e.user_x, e.fwd_pd.src_desc()) + copy_bytes(e.user_w, e.fwd_pd.weights_desc()) +
      copy_bytes(e.user_y, e.fwd_pd.dst_desc()) + scratchpad_bytes(e.fwd_pd));
  dnnl::stream st(cpu_engine());
  memory xm = as(e.user_x, const_cast<float*>(x), e.fwd_pd.src_desc(), st, true);
  memory wm = as(e.user_w, const_cast<float*>(w), e.fwd_pd.weights_desc(), st, true);
  memory ym = as(e.user_y, y, e.fwd_pd.dst_desc(), st, false);
  std::vector<float> zeros;
  if (!bias) zeros.assign(static_cast<std::size_t>(g.cout), 0.f);
  memory bm(e.fwd_pd.bias_desc(), cpu_engine(), const_cast<float*>(bias ? bias : zeros.data()));
  dnnl::convolution_forward(e.fwd_pd).execute(
      st, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, ym}});
  copy_out(ym, e.user_y, y, st);
  st.wait();
}

void conv_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx,
                        bool accumulate, ConvStrides s) {
  Entry& e = entry(g, s);
  std::lock_guard<std::mutex> lock(e.mu);
  const ScopedWorkspace counted(copy_bytes(e.user_y, e.bwd_data_pd.diff_dst_desc()) +
                                copy_bytes(e.user_w, e.bwd_data_pd.weights_desc()) +
                                copy_bytes(e.user_x, e.bwd_data_pd.diff_src_desc()) +
                                scratchpad_bytes(e.bwd_data_pd) +
                                (accumulate ? static_cast<std::int64_t>(e.user_x.get_size()) : 0));
  dnnl::stream st(cpu_engine());
  memory dym = as(e.user_y, const_cast<float*>(dy), e.bwd_data_pd.diff_dst_desc(), st, true);
  memory wm = as(e.user_w, const_cast<float*>(w), e.bwd_data_pd.weights_desc(), st, true);
  // accumulate: compute into a scratch in the user's layout, then add.
  std::vector<float> scratch;
  float* target = dx;
  if (accumulate) {
    scratch.resize(static_cast<std::size_t>(e.user_x.get_size() / sizeof(float)));
    target = scratch.data();
  }
  memory dxm = as(e.user_x, target, e.bwd_data_pd.diff_src_desc(), st, false);
  dnnl::convolution_backward_data(e.bwd_data_pd)
      .execute(st, {{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, dxm}});
  copy_out(dxm, e.user_x, target, st);
  st.wait();
  if (accumulate)
    for (std::size_t i = 0; i < scratch.size(); ++i) dx[i] += scratch[i];
}

void conv_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw,
                          float* dbias, bool accumulate, ConvStrides s) {
  Entry& e = entry(g, s);
  std::lock_guard<std::mutex> lock(e.mu);
  const ScopedWorkspace counted(copy_bytes(e.user_x, e.bwd_w_pd.src_desc()) +
                                copy_bytes(e.user_y, e.bwd_w_pd.diff_dst_desc()) +
                                copy_bytes(e.user_w, e.bwd_w_pd.diff_weights_desc()) +
                                scratchpad_bytes(e.bwd_w_pd) +
                                static_cast<std::int64_t>(sizeof(float)) *
                                    ((accumulate ? g.cout * g.cin * g.kvol() : 0) + g.cout));
  dnnl::stream st(cpu_engine());
  memory xm = as(e.user_x, const_cast<float*>(x), e.bwd_w_pd.src_desc(), st, true);
  memory dym = as(e.user_y, const_cast<float*>(dy), e.bwd_w_pd.diff_dst_desc(), st, true);
  const std::size_t wn = static_cast<std::size_t>(g.cout * g.cin * g.kvol());
  std::vector<float> dw_scratch(accumulate ? wn : 0), db_scratch(static_cast<std::size_t>(g.cout));
  float* dw_target = accumulate ? dw_scratch.data() : dw;
  memory dwm = as(e.user_w, dw_target, e.bwd_w_pd.diff_weights_desc(), st, false);
  memory dbm(e.bwd_w_pd.diff_bias_desc(), cpu_engine(), db_scratch.data());
  dnnl::convolution_backward_weights(e.bwd_w_pd)
      .execute(st, {{DNNL_ARG_SRC, xm},
                    {DNNL_ARG_DIFF_DST, dym},
                    {DNNL_ARG_DIFF_WEIGHTS, dwm},
                    {DNNL_ARG_DIFF_BIAS, dbm}});
  copy_out(dwm, e.user_w, dw_target, st);
  st.wait();
  if (accumulate)
    for (std::size_t i = 0; i < wn; ++i) dw[i] += dw_scratch[i];
  if (dbias)
    for (std::int64_t c = 0; c < g.cout; ++c)
      dbias[c] = accumulate ? dbias[c] + db_scratch[static_cast<std::size_t>(c)]
                            : db_scratch[static_cast<std::size_t>(c)];
}

}  // namespace ddnet::kernels::cpu_conv::dnnl_path

#else

#include "engine/error.h"

namespace ddnet::kernels::cpu_conv::dnnl_path {
bool compiled() {
  return false;
}
void conv_forward(const ConvGeometry&, const float*, const float*, const float*, float*,
                  ConvStrides) {
  DDNET_FAIL("this build has no oneDNN");
}
void conv_backward_data(const ConvGeometry&, const float*, const float*, float*, bool,
                        ConvStrides) {
  DDNET_FAIL("this build has no oneDNN");
}
void conv_backward_filter(const ConvGeometry&, const float*, const float*, float*, float*, bool,
                          ConvStrides) {
  DDNET_FAIL("this build has no oneDNN");
}
}  // namespace ddnet::kernels::cpu_conv::dnnl_path

#endif
