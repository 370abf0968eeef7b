// The Python module `ddnet._ddnet` (python/ddnet/ wraps it): tensors through DLPack and NumPy,
// the fused MS-SSIM and the 3D-DDnet loss with their gradients, trained models and denoising,
// and the HDF5 CT dataset. Long calls release the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "engine/autograd.h"
#include "engine/device.h"
#include "generated/ddnet_config.h"
#include "graph/arena.h"
#include "kernels/msssim_ops.h"
#include "layers/loss.h"
#include "models/checkpoint.h"
#include "models/ddnet.h"
#include "models/denoise.h"
#include "tensor_exchange.h"
#include "tools/model_load.h"

namespace py = pybind11;
using namespace ddnet;
using python::as_tensor;

namespace {

kernels::MsssimOptions msssim_options(const std::string& combine, const std::string& normalize,
                                      double data_range, int window, double sigma,
                                      const std::vector<double>& weights, bool check_finite) {
  kernels::MsssimOptions o;
  if (combine == "reference")
    o.combine = kernels::MsssimCombine::reference;
  else if (combine == "textbook")
    o.combine = kernels::MsssimCombine::textbook;
  else
    throw Error("msssim: combine must be 'reference' or 'textbook', got '" + combine + "'");
  if (normalize == "simple")
    o.normalize = kernels::MsssimNormalize::simple;
  else if (normalize == "none")
    o.normalize = kernels::MsssimNormalize::none;
  else
    throw Error("msssim: normalize must be 'simple' or 'none', got '" + normalize + "'");
  o.data_range = data_range;
  o.window = window;
  o.sigma = sigma;
  o.weights = weights;
  o.check_finite = check_finite;
  return o;
}

// A network with its parameters, as loaded from a checkpoint or freshly initialised.
struct Model {
  tools::LoadedModel m;
  models::DenoiseOptions denoise;
};

std::shared_ptr<Model> load_model(const std::string& path, const std::string& model,
                                  const std::string& normalise, const std::string& device) {
  auto out = std::make_shared<Model>();
  const Device dev = Device::parse(device);
  out->m = tools::load_model(path, model, normalise, dev);
  out->denoise = tools::denoise_options(out->m, dev);
  return out;
}

std::shared_ptr<Model> new_model(int dims, std::uint64_t seed, bool residual,
                                 const std::string& device) {
  if (dims != 2 && dims != 3)
    throw Error("new_model: dims must be 2 or 3, got " + std::to_string(dims));
  auto out = std::make_shared<Model>();
  models::DDnetOptions o;  // the published network (trilinear upsampling)
  o.dims = dims;
  o.seed = seed;
  o.residual = residual;
  const Device dev = Device::parse(device);
  out->m.path = "(new)";
  out->m.config.model = dims == 3 ? "3d" : "2d";
  out->m.config.residual = residual;
  out->m.config.seed = seed;
  out->m.has_config = true;  // saved with it, so load_model rebuilds the same network
  out->m.net = std::make_unique<models::DDnet>(o);
  out->m.arena = nn::pack_parameters(*out->m.net, dev);
  for (const auto& b : out->m.net->named_buffers())  // BatchNorm statistics, as load_model does
    if (b.tensor->dtype() == DType::f32) *b.tensor = b.tensor->to(dev);
  out->m.net->eval();
  out->denoise.device = dev;
  return out;
}

py::array_t<float> denoise(Model& self,
                           const py::array_t<float, py::array::c_style | py::array::forcecast>& hu,
                           const py::object& tile, std::int64_t overlap, std::int64_t batch,
                           double memory_mib) {
  if (hu.ndim() != 3 && hu.ndim() != 2)
    throw Error("Model.denoise: volume must be (slices, rows, cols) or (rows, cols) in HU, got " +
                std::to_string(hu.ndim()) + " dimensions");
  const bool plane = hu.ndim() == 2;
  const std::int64_t d = plane ? 1 : hu.shape(0), h = hu.shape(plane ? 0 : 1),
                     w = hu.shape(plane ? 1 : 2);
  models::DenoiseOptions o = self.denoise;
  o.overlap = overlap;
  o.batch = batch;
  o.memory_mib = memory_mib;
  if (!tile.is_none()) {
    if (py::isinstance<py::int_>(tile)) {
      const auto t = tile.cast<std::int64_t>();
      o.tile = {plane ? 0 : t, t, t};
    } else {
      const auto t = tile.cast<std::vector<std::int64_t>>();
      if (t.size() == 2)
        o.tile = {0, t[0], t[1]};
      else if (t.size() == 3)
        o.tile = {t[0], t[1], t[2]};
      else
        throw Error("Model.denoise: tile is an int, (rows, cols) or (slices, rows, cols)");
    }
  }
  auto* out = new std::vector<float>();
  py::capsule owner(out, [](void* p) { delete static_cast<std::vector<float>*>(p); });
  {
    py::gil_scoped_release nogil;
    *out = models::denoise_volume(*self.m.net, hu.data(), d, h, w, o);
  }
  // The array views the denoiser's own output (no copy); its base owns the vector.
  const auto f = static_cast<py::ssize_t>(sizeof(float));
  if (plane) return py::array_t<float>({h, w}, {w * f, f}, out->data(), owner);
  return py::array_t<float>({d, h, w}, {h * w * f, w * f, f}, out->data(), owner);
}

py::dict scan_dict(const data::ScanInfo& s) {
  py::dict d;
  d["name"] = s.name;
  d["split"] = data::split_name(s.split);
  d["shape"] = py::make_tuple(s.slices, s.rows, s.cols);
  d["has_ldct"] = s.has_ldct;
  d["spacing"] = s.spacing;
  d["origin"] = s.origin;
  d["direction"] = s.direction;
  d["source"] = s.source;
  d["ldct_source"] = s.ldct_source;
  return d;
}

std::size_t scan_index(const data::Dataset& ds, const py::object& scan) {
  if (py::isinstance<py::int_>(scan)) {
    const auto i = scan.cast<std::int64_t>();
    if (i < 0 || i >= static_cast<std::int64_t>(ds.scans().size()))
      throw Error(ds.path() + ": scan index " + std::to_string(i) + " is out of range (" +
                  std::to_string(ds.scans().size()) + " scans)");
    return static_cast<std::size_t>(i);
  }
  const auto name = scan.cast<std::string>();
  for (std::size_t i = 0; i < ds.scans().size(); ++i)
    if (ds.scans()[i].name == name) return i;
  throw Error(ds.path() + ": no scan named '" + name + "'");
}

py::array_t<float> read_scan(const data::Dataset& ds, const py::object& scan, bool ldct,
                             const py::object& slices) {
  const std::size_t i = scan_index(ds, scan);
  const data::ScanInfo& s = ds.scans()[i];
  if (ldct && !s.has_ldct) throw Error(ds.path() + ": scan '" + s.name + "' has no ldct");
  std::vector<std::int64_t> which;
  if (slices.is_none()) {
    for (std::int64_t k = 0; k < s.slices; ++k) which.push_back(k);
  } else {
    which = slices.cast<std::vector<std::int64_t>>();
  }
  py::array_t<float> out({static_cast<py::ssize_t>(which.size()), static_cast<py::ssize_t>(s.rows),
                          static_cast<py::ssize_t>(s.cols)});
  float* dst = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    ds.read_slices(i, ldct, which, dst);
  }
  return out;
}

data::Volume volume_from(const py::object& obj, const std::string& what) {
  const auto a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(obj);
  if (!a) throw Error(what + ": not an array of numbers");
  if (a.ndim() != 3)
    throw Error(what + ": must be (slices, rows, cols), got " + std::to_string(a.ndim()) +
                " dimensions");
  data::Volume v(a.shape(0), a.shape(1), a.shape(2));
  std::copy(a.data(), a.data() + a.size(), v.voxels.begin());
  return v;
}

}  // namespace

PYBIND11_MODULE(_ddnet, m) {
  m.doc() = "ddnet: the 3D-DDnet engine (C++/CUDA) from Python";
  // ddnet's errors (they name the file, dataset or argument) as ddnet.Error, a RuntimeError.
  py::register_exception<Error>(m, "Error", PyExc_RuntimeError);

  m.attr("__version__") = DDNET_VERSION;
  m.def(
      "build_info",
      [] {
        py::dict d;
        d["version"] = DDNET_VERSION;
        d["cuda"] = bool(DDNET_WITH_CUDA);
        d["cudnn"] = bool(DDNET_WITH_CUDNN);
        d["nccl"] = bool(DDNET_WITH_NCCL);
        d["mpi"] = bool(DDNET_WITH_MPI);
        d["onednn"] = bool(DDNET_WITH_DNNL);
        d["cuda_devices"] = cuda_device_count();
        d["cuda_unavailable"] = cuda_unavailable_reason();
        return d;
      },
      "What this build has (CUDA, cuDNN, ...) and how many CUDA devices it sees.");

  py::class_<Tensor>(m, "Tensor",
                     "A ddnet tensor (CPU or CUDA). Exchange it without copies: "
                     "torch.from_dlpack(t), numpy.from_dlpack(t), t.numpy().")
      .def_property_readonly("shape", [](const Tensor& t) { return t.shape().to_vector(); })
      .def_property_readonly("strides", [](const Tensor& t) { return t.strides().to_vector(); })
      .def_property_readonly("dtype",
                             [](const Tensor& t) { return std::string(dtype_name(t.dtype())); })
      .def_property_readonly("device", [](const Tensor& t) { return t.device().str(); })
      .def_property_readonly(
          "data_ptr",
          [](const Tensor& t) { return reinterpret_cast<std::uintptr_t>(t.raw_data()); })
      .def("numpy", &python::to_numpy, "A NumPy view of a CPU tensor (no copy).")
      .def(
          "to",
          [](const Tensor& t, const std::string& device) { return t.to(Device::parse(device)); },
          py::arg("device"))
      .def(
          "__dlpack__", [](const Tensor& t, const py::object&) { return python::to_dlpack(t); },
          py::arg("stream") = py::none())
      .def("__dlpack_device__", &python::dlpack_device)
      .def("__repr__", &Tensor::str);

  m.def(
      "as_tensor", [](const py::object& o) { return as_tensor(o, "as_tensor"); }, py::arg("obj"),
      "A ddnet view of a NumPy array, a DLPack-capable tensor (PyTorch, CuPy, ...) or a "
      "DLPack capsule, without a copy; other array-likes are copied into float32.");
  m.def(
      "from_dlpack", [](const py::object& o) { return as_tensor(o, "from_dlpack"); },
      py::arg("obj"));
  m.def("to_dlpack", &python::to_dlpack, py::arg("tensor"));

  m.def(
      "msssim",
      [](const py::object& x, const py::object& y, bool need_grad, const std::string& combine,
         const std::string& normalize, double data_range, int window, double sigma,
         const std::vector<double>& weights, bool check_finite) {
        const Tensor xt = as_tensor(x, "msssim: x"), yt = as_tensor(y, "msssim: y");
        const auto o =
            msssim_options(combine, normalize, data_range, window, sigma, weights, check_finite);
        kernels::MsssimForward r;
        {
          py::gil_scoped_release nogil;
          r = kernels::msssim(xt, yt, o, need_grad);
        }
        return py::make_tuple(r.value, need_grad ? py::cast(r.grad_x) : py::none());
      },
      py::arg("x"), py::arg("y"), py::arg("need_grad") = false, py::arg("combine") = "reference",
      py::arg("normalize") = "simple", py::arg("data_range") = 0.0, py::arg("window") = 11,
      py::arg("sigma") = 1.5, py::arg("weights") = std::vector<double>{},
      py::arg("check_finite") = true,
      "Fused MS-SSIM of x against y: (value, d value / d x or None), both ddnet tensors on x's "
      "device.");

  m.def(
      "ddnet_loss",
      [](const py::object& pred, const py::object& target, double gamma, bool need_grad,
         const std::string& combine, const std::string& normalize, double data_range,
         bool check_finite) {
        // pred as a leaf of ddnet's tape: the loss's own backward closures give d total / d pred.
        Tensor p = as_tensor(pred, "ddnet_loss: pred");
        const Tensor t = as_tensor(target, "ddnet_loss: target");
        const auto o = msssim_options(combine, normalize, data_range, 11, 1.5, {}, check_finite);
        Tensor leaf = p.as_strided(p.shape(), p.strides(), p.storage_offset());
        if (need_grad) leaf.set_requires_grad(true);
        Tensor total, mse, ms, grad;
        {
          py::gil_scoped_release nogil;
          F::LossParts parts;
          if (need_grad) {
            parts = F::ddnet_loss(leaf, t, gamma, o);
            parts.total.backward();
            grad = leaf.grad();
          } else {
            NoGradGuard no_grad;
            parts = F::ddnet_loss(leaf, t, gamma, o);
          }
          total = parts.total;
          mse = parts.mse;
          ms = parts.msssim;
        }
        return py::make_tuple(total, mse, ms, need_grad ? py::cast(grad) : py::none());
      },
      py::arg("pred"), py::arg("target"), py::arg("gamma") = 0.1, py::arg("need_grad") = false,
      py::arg("combine") = "reference", py::arg("normalize") = "simple",
      py::arg("data_range") = 0.0, py::arg("check_finite") = true,
      "3D-DDnet's loss MSE + gamma (1 - MS-SSIM): (total, mse, msssim, d total / d pred or None).");

  py::class_<Model, std::shared_ptr<Model>>(m, "Model", "A 2D-DDnet or 3D-DDnet with its weights.")
      .def_property_readonly("dims", [](const Model& s) { return s.m.net->dims(); })
      .def_property_readonly("path", [](const Model& s) { return s.m.path; })
      .def_property_readonly("device", [](const Model& s) { return s.denoise.device.str(); })
      .def_property_readonly("normalise", [](const Model& s) { return s.denoise.normalise; })
      .def_property_readonly(
          "config_json",
          [](const Model& s) { return s.m.has_config ? s.m.config.to_json() : std::string(); })
      .def("denoise", &denoise, py::arg("volume"), py::arg("tile") = py::none(),
           py::arg("overlap") = 32, py::arg("batch") = 1, py::arg("memory_mib") = 0.0,
           "Denoises a (slices, rows, cols) (or (rows, cols)) float volume in HU; returns HU. "
           "tile: None (whole volume, or what memory_mib allows), an int, (rows, cols) or "
           "(slices, rows, cols), multiples of 16.")
      .def(
          "forward",
          [](Model& s, const py::object& x) {
            const Tensor xt = as_tensor(x, "Model.forward: x");
            s.m.net->eval();  // running statistics, as denoise uses them
            NoGradGuard no_grad;
            py::gil_scoped_release nogil;
            return s.m.net->forward(xt.to(s.denoise.device));
          },
          py::arg("x"),
          "The network's output for a normalised (N, 1, [D,] H, W) tensor (eval mode).")
      .def(
          "save",
          [](Model& s, const std::string& path) {
            models::TrainingState st;
            if (s.m.has_config) st.config_json = s.m.config.to_json();
            models::save_checkpoint(path, *s.m.net, nullptr, st);
          },
          py::arg("path"), "Writes the weights as a checkpoint (atomic, checksummed).");

  m.def(
      "load_model", &load_model, py::arg("checkpoint"), py::arg("model") = "",
      py::arg("normalise") = "", py::arg("device") = "cpu",
      "A trained checkpoint (or published/bare weights) on `device`, as `ddnet denoise` loads it.");
  m.def("new_model", &new_model, py::arg("dims") = 3, py::arg("seed") = 0,
        py::arg("residual") = false, py::arg("device") = "cpu",
        "A freshly initialised 2D-DDnet (dims=2) or 3D-DDnet (dims=3).");

  py::class_<data::Dataset, std::shared_ptr<data::Dataset>>(
      m, "Dataset", "ddnet's HDF5 CT dataset (docs/dataset.md).")
      .def_property_readonly("path", &data::Dataset::path)
      .def_property_readonly("scans",
                             [](const data::Dataset& ds) {
                               py::list l;
                               for (const auto& s : ds.scans()) l.append(scan_dict(s));
                               return l;
                             })
      .def("read", &read_scan, py::arg("scan"), py::arg("ldct") = false,
           py::arg("slices") = py::none(),
           "A scan (name or index) as a float32 (slices, rows, cols) array in HU: ndct, or ldct; "
           "`slices` picks some. Checksums and finiteness are verified.")
      .def("__len__", [](const data::Dataset& ds) { return ds.scans().size(); });

  m.def(
      "read_dataset",
      [](const std::string& path, bool allow_external) {
        return std::make_shared<data::Dataset>(data::Dataset::open(path, allow_external));
      },
      py::arg("path"), py::arg("allow_external") = false,
      "Opens and validates a dataset written by `ddnet prepare` (or write_dataset).");
  m.def(
      "write_dataset",
      [](const std::string& path, const py::list& scans) {
        data::DatasetWriter w(path);
        for (const auto& item : scans) {
          const auto s = item.cast<py::dict>();
          const auto name = s["name"].cast<std::string>();
          data::Volume nd = volume_from(s["ndct"], "write_dataset: scan '" + name + "' ndct");
          if (s.contains("spacing")) nd.spacing = s["spacing"].cast<std::array<double, 3>>();
          data::Volume ld;
          const bool has_ld = s.contains("ldct") && !s["ldct"].is_none();
          if (has_ld) {
            ld = volume_from(s["ldct"], "write_dataset: scan '" + name + "' ldct");
            ld.spacing = nd.spacing;
          }
          const auto split = s.contains("split") ? s["split"].cast<std::string>() : "train";
          w.add_scan(name, data::parse_split(split), nd, has_ld ? &ld : nullptr,
                     has_ld ? "python" : "");
        }
        w.commit();
      },
      py::arg("path"), py::arg("scans"),
      "Writes a dataset atomically: scans is a list of dicts with name, ndct, and optionally "
      "ldct, split ('train'|'val'|'test'), spacing (3 floats, mm).");
}
