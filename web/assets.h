#pragma once
// The page's files, embedded at build time from web/assets/ by
// embed_assets.cmake (see CMakeLists.txt). Served only by exact name.
#include <span>
#include <string_view>

namespace provaudit::web {

struct Asset {
  std::string_view name;          // "/app.js"
  std::string_view content_type;
  std::string_view data;
};

std::span<const Asset> embeddedAssets();  // defined in the generated assets_embedded.cc
const Asset* findAsset(std::string_view name);

}  // namespace provaudit::web
