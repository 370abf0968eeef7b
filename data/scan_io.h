// Scan import and export through ITK: DICOM series, NIfTI, MetaImage, NRRD and TIFF, to and from
// data::Volume (float32 HU, (slices, rows, cols), spacing/origin/direction). ITK stays out of this
// header; a build configured without ITK keeps the API and throws a clear error naming the file.
//
// Reading (read_scan):
//   - a folder of DICOM files holding one series (or "folder#<SeriesInstanceUID>" to pick one of
//     several); slices are ordered by ImagePositionPatient along the slice normal and must be
//     evenly spaced, of one size and one orientation; rescale slope/intercept are applied (HU).
//     A single DICOM file (one slice, or a multi-frame volume) is read as well.
//   - NIfTI (.nii, .nii.gz), MetaImage (.mha, .mhd), NRRD (.nrrd, .nhdr), one multi-page TIFF
//     (.tif, .tiff), or a folder of 2-D TIFF slices in natural name order (slice2 before slice10).
//   - any scalar pixel type becomes float32. A 2-D image (one slice) is accepted as a 1-slice
//     volume (slice spacing 1 mm, or what a DICOM file says): whether one slice is enough is the
//     caller's call. Vector/RGB pixels, a 4th dimension of more than one, NaN/Inf values, and
//     files shorter than their header promises (ITK alone would read zeros) are errors.
//   - DICOM stores the slice axis as row x column: a left-handed volume written as DICOM reads
//     back with its slices in reverse order and the origin at its last slice (same voxel
//     positions).
//   - TIFF carries no slice spacing, origin or orientation: a TIFF folder or multi-page file reads
//     with slice spacing 1 mm, origin 0 and identity direction (in-plane spacing from the TIFF
//     resolution tags when present). A multi-page TIFF cut short reads as the pages before the
//     cut (libtiff stops at the last intact directory); a cut 2-D slice is an error.
// DICOM metadata: a series read fills Volume::dicom with its first file's patient, study,
// frame-of-reference, equipment, acquisition and series attributes (the list in scan_dicom.cpp).
// Writing DICOM writes those back (other keys are ignored), keeps the study and frame-of-reference
// UIDs (new ones, one per series, when absent) and always makes a new series UID and a new SOP
// instance UID per file (root 2.25, UUID-derived), so the output is a new series in the source's
// study; SeriesDescription is the map's (default "ddnet"), ImageType DERIVED\SECONDARY when the
// map came from a source. Other formats carry no such metadata.
// Writing (write_scan): a single file is written under a temporary name in a temporary folder
// beside it and renamed into place (header files last); a folder (DICOM series, TIFF slices) is
// built beside the target and renamed onto it. An existing target folder is replaced only when
// it holds nothing but slice files ddnet would write (slice_NNNN.dcm / .tif).
#pragma once

#include <string>

#include "data/volume.h"

namespace ddnet::data {

// False in builds configured without ITK; then read_scan/write_scan throw.
bool have_itk();

enum class ScanFormat { dicom, nifti, mha, nrrd, tiff };
const char* format_name(ScanFormat f);        // "DICOM", "NIfTI", "MetaImage", "NRRD", "TIFF"
ScanFormat parse_format(const std::string&);  // dicom | nifti | mha | mhd | nrrd | tiff

// The format of `path`: by extension for a file (.nii .nii.gz .mha .mhd .nrrd .nhdr .tif .tiff
// .dcm .dicom .ima, or a DICOM preamble), by contents for a folder (DICOM files, else TIFF files;
// "folder#uid" is DICOM). A path that does not exist is judged by its extension (for writing).
ScanFormat format_from_path(const std::string& path);

struct ScanWriteOptions {
  // DICOM: stored int16 = round((HU - intercept) / slope), written with these RescaleSlope and
  // RescaleIntercept; a value outside int16 after rescaling is an error naming it.
  double rescale_slope = 1.0;
  double rescale_intercept = 0.0;
  bool tiff_int16 = false;  // TIFF: int16 slices of rounded HU instead of float32
  bool compress = true;     // MetaImage and NRRD: zlib (NIfTI compresses when named .nii.gz)
};

Volume read_scan(const std::string& path);
void write_scan(const Volume& v, const std::string& path, ScanFormat format,
                const ScanWriteOptions& options = {});
void write_scan(const Volume& v, const std::string& path);  // format from the path
// Throws, as write_scan would, when `path` cannot take a scan of `format` (a folder named for a
// single file, or an existing folder holding other files than a series of ours): a command
// checks its output before the work.
void check_scan_target(const std::string& path, ScanFormat format);

}  // namespace ddnet::data
