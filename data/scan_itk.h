// Private to the ITK side of scan import/export (scan_itk.cpp, scan_dicom.cpp, scan_tiff.cpp):
// the float image type read into, ITK's error text on one line, and building and writing images
// with a Volume's geometry. Included only where DDNET_HAVE_ITK is set.
#pragma once

#include <itkImage.h>
#include <itkImageFileWriter.h>
#include <itkImageIOBase.h>

#include <array>
#include <cstddef>
#include <filesystem>
#include <string>

#include "data/volume.h"
#include "engine/error.h"

namespace ddnet::data::scan_internal {

namespace fs = std::filesystem;

using Image3 = itk::Image<float, 3>;

// ITK's description without its "ITK ERROR: Class(0x...): " prefix, on one line.
std::string describe(const itk::ExceptionObject& e);
// io->CanReadFile, with an exception from it (ITK's TIFF reader throws on some corrupt files)
// answered false and its description in *why (": ..."; empty otherwise).
bool can_read_file(itk::ImageIOBase* io, const fs::path& file, std::string* why);

template <class Image>
void set_geometry(Image* img, const Volume& v, const std::array<double, 3>& origin) {
  constexpr unsigned D = Image::ImageDimension;
  typename Image::SpacingType sp;
  typename Image::PointType org;
  typename Image::DirectionType dir;
  const double spacing_xyz[3] = {v.spacing[2], v.spacing[1], v.spacing[0]};
  for (unsigned a = 0; a < D; ++a) {
    sp[a] = spacing_xyz[a];
    org[a] = origin[a];
    for (unsigned b = 0; b < D; ++b) dir[a][b] = v.direction[a * 3 + b];
  }
  img->SetSpacing(sp);
  img->SetOrigin(org);
  img->SetDirection(dir);
}

template <class Pixel, unsigned D>
typename itk::Image<Pixel, D>::Pointer make_image(std::size_t cols, std::size_t rows,
                                                  std::size_t slices) {
  using Image = itk::Image<Pixel, D>;
  typename Image::SizeType size;
  size[0] = cols;
  size[1] = rows;
  if constexpr (D == 3) size[2] = slices;
  (void)slices;
  typename Image::RegionType region;
  region.SetSize(size);
  auto img = Image::New();
  img->SetRegions(region);
  img->Allocate();
  return img;
}

template <class Image>
void write_image(const Image* img, itk::ImageIOBase* io, const fs::path& file, bool compress,
                 const std::string& shown) {
  auto writer = itk::ImageFileWriter<Image>::New();
  writer->SetImageIO(io);
  writer->SetFileName(file.string());
  writer->SetInput(img);
  writer->SetUseCompression(compress);
  try {
    writer->Update();
  } catch (const itk::ExceptionObject& e) {
    DDNET_FAIL("write_scan: cannot write ", shown, ": ", describe(e));
  }
}

}  // namespace ddnet::data::scan_internal
