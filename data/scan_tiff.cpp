// TIFF slices through ITK: a folder of 2-D TIFF files read in natural name order as one volume
// (TIFF carries no slice spacing, origin or orientation), and a volume written as one TIFF file
// per slice (float32, or int16 of rounded HU). Built only when configure found ITK
// (DDNET_HAVE_ITK).
#if DDNET_HAVE_ITK

#include <itkTIFFImageIO.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "data/atomic_file.h"
#include "data/scan_io.h"
#include "data/scan_io_internal.h"
#include "data/scan_itk.h"
#include "engine/error.h"

namespace ddnet::data::scan_internal {

namespace {

struct TiffFile {
  fs::path file;
  std::size_t rows = 0, cols = 0;
};

}  // namespace

Volume read_tiff_folder(const fs::path& dir, const std::string& shown) {
  std::vector<TiffFile> files;
  for (const fs::path& f : folder_files(dir)) {
    if (!is_tiff_name(f)) continue;
    auto io = itk::TIFFImageIO::New();
    check_tiff_directories(f, f.string());
    std::string why;
    DDNET_CHECK(can_read_file(io.GetPointer(), f, &why), "read_scan: ", f.string(),
                " is not a readable TIFF file (corrupt, truncated, or another format)", why);
    io->SetFileName(f.string());
    try {
      io->ReadImageInformation();
    } catch (const itk::ExceptionObject& e) {
      DDNET_FAIL("read_scan: cannot read the header of ", f.string(), ": ", describe(e));
    }
    DDNET_CHECK(io->GetNumberOfDimensions() == 2 || io->GetDimensions(2) == 1,
                "read_scan: ", f.string(), " has ", io->GetDimensions(2),
                " pages; a folder of TIFF slices needs one 2-D slice per file");
    DDNET_CHECK(io->GetNumberOfComponents() == 1, "read_scan: ", f.string(), " has ",
                io->GetNumberOfComponents(),
                " components per pixel (colour); expected grey-value slices");
    files.push_back({f, io->GetDimensions(1), io->GetDimensions(0)});
  }
  DDNET_CHECK(!files.empty(), "read_scan: folder ", shown, " holds no .tif/.tiff files");
  check_one_size(
      files, [](const TiffFile& f) { return std::make_pair(f.rows, f.cols); },
      "TIFF slices in " + shown);
  Volume v;
  for (std::size_t k = 0; k < files.size(); ++k) {
    Volume s = read_image_file(files[k].file, ScanFormat::tiff, files[k].file.string());
    DDNET_CHECK(s.slices == 1 && s.rows == static_cast<std::int64_t>(files[k].rows) &&
                    s.cols == static_cast<std::int64_t>(files[k].cols),
                "read_scan: ", files[k].file.string(), " changed size while being read");
    if (k == 0) {
      v = Volume(static_cast<std::int64_t>(files.size()), s.rows, s.cols);
      v.spacing = {1.0, s.spacing[1], s.spacing[2]};  // TIFF has no slice spacing
    }
    std::copy(s.voxels.begin(), s.voxels.end(), v.slice(static_cast<std::int64_t>(k)));
  }
  v.source = shown;
  return v;
}

void write_tiff_slices(const Volume& v, const fs::path& dir, const ScanWriteOptions& o,
                       const std::string& shown) {
  const auto cols = static_cast<std::size_t>(v.cols), rows = static_cast<std::size_t>(v.rows);
  for (std::int64_t k = 0; k < v.slices; ++k) {
    const fs::path file = dir / slice_name(k, v.slices, ".tif");
    auto io = itk::TIFFImageIO::New();
    const float* in = v.slice(k);
    if (o.tiff_int16) {
      auto img = make_image<std::int16_t, 2>(cols, rows, 1);
      set_geometry(img.GetPointer(), v, v.origin);
      for (std::int64_t n = 0; n < v.slice_size(); ++n)
        img->GetBufferPointer()[n] =
            to_int16(static_cast<double>(in[n]), in[n], k * v.slice_size() + n, v, shown,
                     " (write float32 TIFF)");
      write_image(img.GetPointer(), io.GetPointer(), file, false, shown);
    } else {
      auto img = make_image<float, 2>(cols, rows, 1);
      set_geometry(img.GetPointer(), v, v.origin);
      std::copy(in, in + v.slice_size(), img->GetBufferPointer());
      write_image(img.GetPointer(), io.GetPointer(), file, false, shown);
    }
  }
}

}  // namespace ddnet::data::scan_internal

#endif  // DDNET_HAVE_ITK
