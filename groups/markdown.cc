#include "groups/markdown.h"

#include <cmark.h>

#include <cstdlib>
#include <memory>

namespace kith::groups {

std::string RenderMarkdown(std::string_view markdown) {
  // CMARK_OPT_SAFE is the default since cmark 0.29; say it anyway so intent is explicit.
  std::unique_ptr<char, decltype(&std::free)> html(
      cmark_markdown_to_html(markdown.data(), markdown.size(), CMARK_OPT_SAFE | CMARK_OPT_SMART),
      &std::free);
  return html ? std::string(html.get()) : std::string();
}

}  // namespace kith::groups
