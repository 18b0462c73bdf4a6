// Markdown to HTML for forum posts, with cmark in safe mode: raw HTML and dangerous URLs
// (javascript:, data: other than images, ...) are dropped, never passed through.
#pragma once

#include <string>
#include <string_view>

namespace kith::groups {

// Renders CommonMark `markdown` as an HTML fragment. Thread-safe.
std::string RenderMarkdown(std::string_view markdown);

}  // namespace kith::groups
