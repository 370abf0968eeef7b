// InVesalius .inv3 reader.
#include "data/inv3.h"

#include <zlib.h>

#include <cstring>
#include <map>
#include <regex>
#include <vector>

#include "engine/error.h"

namespace ddnet::data {

namespace {

// The members of a gzipped tar, by base name (InVesalius puts them in one temporary folder).
std::map<std::string, std::vector<char>> read_tar_gz(const std::string& path,
                                                     const std::vector<std::string>& wanted) {
  gzFile f = gzopen(path.c_str(), "rb");
  DDNET_CHECK(f != nullptr, path, ": cannot open");
  struct Close {
    gzFile f;
    ~Close() { gzclose(f); }
  } close{f};
  auto read_exact = [&](char* dst, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
      const int r =
          gzread(f, dst + got, static_cast<unsigned>(std::min<std::size_t>(n - got, 1u << 30)));
      if (r <= 0) return false;
      got += static_cast<std::size_t>(r);
    }
    return true;
  };
  std::map<std::string, std::vector<char>> out;
  char header[512];
  while (read_exact(header, 512)) {
    if (header[0] == '\0') break;  // end-of-archive blocks
    // ustar: name [0, 100), size in octal [124, 136), type [156], prefix [345, 500)
    std::string name(header, strnlen(header, 100));
    const char* size_field = header + 124;
    std::uint64_t size = 0;
    for (int i = 0; i < 12 && size_field[i]; ++i) {
      if (size_field[i] == ' ') continue;
      DDNET_CHECK(size_field[i] >= '0' && size_field[i] <= '7', path,
                  ": not a gzipped tar (corrupt member header for '", name, "')");
      size = size * 8 + static_cast<std::uint64_t>(size_field[i] - '0');
    }
    const std::string base = name.substr(name.find_last_of('/') + 1);
    const bool keep =
        header[156] != '5' && std::find(wanted.begin(), wanted.end(), base) != wanted.end();
    std::vector<char> data(keep ? size : 0);
    const std::uint64_t padded = (size + 511) / 512 * 512;
    if (keep) {
      DDNET_CHECK(read_exact(data.data(), size), path, ": truncated inside member '", name, "'");
      std::vector<char> pad(padded - size);
      DDNET_CHECK(pad.empty() || read_exact(pad.data(), pad.size()), path,
                  ": truncated after member '", name, "'");
      out[base] = std::move(data);
    } else {
      DDNET_CHECK(gzseek(f, static_cast<z_off_t>(padded), SEEK_CUR) >= 0, path,
                  ": truncated inside member '", name, "'");
    }
  }
  return out;
}

// The value after <key>NAME</key> in a plist: the next element's text, or, for an <array>, the
// texts of its elements.
std::vector<std::string> plist_values(const std::string& xml, const std::string& key,
                                      const std::string& path) {
  const std::string tag = "<key>" + key + "</key>";
  const auto at = xml.find(tag);
  DDNET_CHECK(at != std::string::npos, path, ": main.plist has no '", key, "'");
  std::string rest = xml.substr(at + tag.size());
  const std::regex element(R"(^\s*<(\w+)>([^<]*)</\1>)");
  const std::regex array_open(R"(^\s*<array>)");
  std::smatch m;
  std::vector<std::string> values;
  if (std::regex_search(rest, m, array_open)) {
    rest = m.suffix();
    while (std::regex_search(rest, m, element)) {
      values.push_back(m[2]);
      rest = m.suffix();
    }
  } else if (std::regex_search(rest, m, element)) {
    values.push_back(m[2]);
  }
  DDNET_CHECK(!values.empty(), path, ": main.plist: cannot read the value of '", key, "'");
  return values;
}

// The <dict> after <key>NAME</key>, as text.
std::string plist_dict(const std::string& xml, const std::string& key, const std::string& path) {
  const std::string tag = "<key>" + key + "</key>";
  const auto at = xml.find(tag);
  DDNET_CHECK(at != std::string::npos, path, ": main.plist has no '", key, "'");
  const auto open = xml.find("<dict>", at), close = xml.find("</dict>", at);
  DDNET_CHECK(open != std::string::npos && close != std::string::npos && open < close, path,
              ": main.plist: '", key, "' is not a dict");
  return xml.substr(open, close - open);
}

}  // namespace

Volume read_inv3(const std::string& path) {
  auto first = read_tar_gz(path, {"main.plist"});
  DDNET_CHECK(first.count("main.plist"), path,
              ": no main.plist inside (not an InVesalius .inv3 project?)");
  const std::string plist(first["main.plist"].begin(), first["main.plist"].end());
  const std::string matrix = plist_dict(plist, "matrix", path);
  const std::string dtype = plist_values(matrix, "dtype", path).at(0);
  const std::string file = plist_values(matrix, "filename", path).at(0);
  const auto shape = plist_values(matrix, "shape", path);
  const auto spacing = plist_values(plist, "spacing", path);
  DDNET_CHECK(shape.size() == 3 && spacing.size() == 3, path,
              ": main.plist: expected a 3-D matrix shape and 3 spacings");
  DDNET_CHECK(dtype == "int16" || dtype == "float32" || dtype == "uint16", path, ": matrix dtype '",
              dtype, "' is not supported (int16, uint16, float32)");
  Volume v(std::stoll(shape[0]), std::stoll(shape[1]), std::stoll(shape[2]));
  // InVesalius lists spacing as (x, y, z); ours is (z, y, x).
  v.spacing = {std::stod(spacing[2]), std::stod(spacing[1]), std::stod(spacing[0])};
  v.source = path;
  DDNET_CHECK(v.numel() > 0, path, ": empty matrix");

  auto members = read_tar_gz(path, {file});
  DDNET_CHECK(members.count(file), path, ": main.plist names '", file,
              "' but the archive does not hold it");
  const std::vector<char>& raw = members[file];
  const std::size_t elem = dtype == "float32" ? 4 : 2;
  DDNET_CHECK(raw.size() == static_cast<std::size_t>(v.numel()) * elem, path, ": ", file, " has ",
              raw.size(), " bytes, the shape ", shape[0], "x", shape[1], "x", shape[2], " of ",
              dtype, " needs ", static_cast<std::size_t>(v.numel()) * elem);
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  for (std::size_t i = 0; i < v.voxels.size(); ++i) {  // little-endian on disk
    const unsigned char* b = bytes + i * elem;
    if (dtype == "int16") {
      v.voxels[i] = static_cast<float>(static_cast<std::int16_t>(b[0] | (b[1] << 8)));
    } else if (dtype == "uint16") {
      v.voxels[i] = static_cast<float>(static_cast<std::uint16_t>(b[0] | (b[1] << 8)));
    } else {
      const std::uint32_t u =
          static_cast<std::uint32_t>(b[0]) | (static_cast<std::uint32_t>(b[1]) << 8) |
          (static_cast<std::uint32_t>(b[2]) << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
      float x;
      std::memcpy(&x, &u, 4);
      v.voxels[i] = x;
    }
  }
  return v;
}

}  // namespace ddnet::data
