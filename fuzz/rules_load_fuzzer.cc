// Fuzz target: rule-file loading (toml++ parsing, then rule validation and RE2
// compilation in analyze::RuleSet::load).
//
// The scratch directory holds a copy of the bundled rules; the input replaces
// one of them (u8 selector, then the file's text), so cross-file checks run on
// an otherwise valid set. Inputs above MAX_RULE_FILE are skipped to keep
// executions cheap (the bundled files are < 12 KiB).
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "analyze/rules.h"
#include "fuzz/fuzz_util.h"
#include "fuzz/temp_dir.h"

namespace {
using namespace provaudit;

constexpr std::size_t MAX_RULE_FILE = 64 * 1024;

struct RuleFile {
  std::string name;
  std::vector<std::uint8_t> bundled;
};

struct Scratch {
  fuzz::TempDir dir;
  std::vector<RuleFile> files;
  std::size_t replaced = 0;  // index of the file currently holding fuzz input; files.size() = none

  Scratch() {
    for (const auto& entry : std::filesystem::directory_iterator(analyze::RuleSet::defaultDir())) {
      if (entry.path().extension() != ".toml") continue;
      std::ifstream in(entry.path(), std::ios::binary);
      RuleFile f{entry.path().filename().string(),
                 std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>())};
      dir.write(f.name, f.bundled);
      files.push_back(std::move(f));
    }
    std::sort(files.begin(), files.end(), [](const RuleFile& a, const RuleFile& b) { return a.name < b.name; });
    replaced = files.size();
    if (files.empty()) std::abort();  // the bundled rules were not found
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > MAX_RULE_FILE + 1) return 0;
  static Scratch scratch;
  fuzz::InputReader in(data, size);
  const std::size_t which = in.u8() % scratch.files.size();
  if (scratch.replaced != which && scratch.replaced < scratch.files.size()) {
    const RuleFile& old = scratch.files[scratch.replaced];
    scratch.dir.write(old.name, old.bundled);  // restore the bundled copy
  }
  scratch.dir.write(scratch.files[which].name, in.rest());
  scratch.replaced = which;
  auto [rules, errors] = analyze::RuleSet::load(scratch.dir.path().string());
  if (rules && errors.empty()) {
    (void)rules->ruleCount();
    (void)rules->matchUserAgent("Linksys/SPA-2102-5.2.10 (88012BA05556)");
    (void)rules->matchUrl("/spa000e08555555.cfg?ccert=Installed");
    (void)rules->severity("cert-clone");
  }
  for (const auto& e : errors) (void)e.str();
  return 0;
}
