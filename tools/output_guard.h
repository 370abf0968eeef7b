// No output of `ddnet` replaces one of its inputs: the check prepare, denoise and train make of
// their output paths against their input paths before any work.
#pragma once

#include <string>
#include <vector>

namespace ddnet::tools {

// Whether writing `output` (a file, or a folder replaced whole) would replace or remove `input`:
// the same file or folder (same device and inode, or the same path spelled differently:
// "./a.mha", "dir/../a.mha", a symbolic link), or `input` inside the folder `output`.
bool output_replaces(const std::string& output, const std::string& input);

// Throws, naming the option and both paths, when `output` would replace one of `inputs`.
void check_output_not_input(const std::string& option, const std::string& output,
                            const std::vector<std::string>& inputs);

}  // namespace ddnet::tools
