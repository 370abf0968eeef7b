// `ddnet prepare`: scans -> the HDF5 dataset (data/prepare.h).
#include <filesystem>
#include <iostream>
#include <memory>
#include <vector>

#include "data/prepare.h"
#include "engine/error.h"
#include "engine/interrupt.h"
#include "tools/commands.h"
#include "tools/output_guard.h"

namespace ddnet::tools {

Command add_prepare(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "prepare",
      "Import scans (DICOM, NIfTI, MHA/MHD, NRRD, TIFF, InVesalius .inv3) into an HDF5 dataset, "
      "simulating low-dose partners where there are none");
  auto o = std::make_shared<data::PrepareOptions>();
  auto slabs = std::make_shared<std::string>();
  auto no_sim = std::make_shared<bool>(false);
  cmd->add_option("inputs", o->inputs,
                  "Scans, low/standard-dose pair folders (LQ/HQ, ldct/ndct), or roots of pairs")
      ->required();
  cmd->add_option("--out", o->out, "The dataset file to write")->required();
  cmd->add_flag("--no-simulate", *no_sim, "Keep scans without a low-dose partner as ndct only");
  cmd->add_option("--dose", o->lowdose.dose_fraction, "Simulated dose as a fraction of full dose")
      ->capture_default_str();
  cmd->add_option("--photons", o->lowdose.incident_photons,
                  "Full-dose incident photons per detector bin and view")
      ->capture_default_str();
  cmd->add_option("--electronic-noise", o->lowdose.electronic_noise,
                  "Electronic noise (standard deviation, photon counts)")
      ->capture_default_str();
  cmd->add_option("--geometry", o->lowdose.geometry, "parallel or fan")->capture_default_str();
  cmd->add_option("--filter", o->lowdose.filter, "ramp or shepp-logan")->capture_default_str();
  cmd->add_option("--views", o->lowdose.views, "Projection angles (0: automatic)")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the noise and of by-scan splits")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--val-fraction", o->val_fraction, "Share of scans for validation")
      ->capture_default_str();
  cmd->add_option("--test-fraction", o->test_fraction, "Share of scans for testing")
      ->capture_default_str();
  cmd->add_option("--slabs", *slabs,
                  "Cut every scan into slabs along z instead of splitting by scan, from slice 0: "
                  "e.g. test:24,val:16,train:rest");
  return {cmd, [o, slabs, no_sim] {
            o->simulate = !*no_sim;
            o->lowdose.seed = o->seed;
            if (!slabs->empty()) o->slabs = data::parse_slabs(*slabs);
            // The output, before any work: a new file or one to replace, never an input.
            check_output_not_input("--out", o->out, o->inputs);
            std::error_code ec;
            DDNET_CHECK(!std::filesystem::is_directory(o->out, ec), "--out ", o->out,
                        " is a folder: give the name of the dataset file to write (e.g. ",
                        (std::filesystem::path(o->out) / "ct.h5").string(), ")");
            // SIGINT / SIGTERM: the dataset's temporary file goes, --out is left as it was, and
            // the exit code is 130 / 143.
            InterruptScope interrupts;
            std::vector<data::PreparedScan> written;
            try {
              written = data::prepare_dataset(
                  *o, [](const std::string& line) { std::cerr << "prepare: " << line << "\n"; });
            } catch (const Interrupted& e) {
              std::cerr << "ddnet prepare: " << e.what() << "; temporary file removed, " << o->out
                        << " left as it was\n";
              return e.exit_code();
            }
            std::cout << "wrote " << written.size() << " scans to " << o->out << "\n";
            return 0;
          }};
}

}  // namespace ddnet::tools
