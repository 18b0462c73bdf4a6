#include "node/templates.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

namespace kith::node {

// Defined in the generated templates_data.cc (node/embed_templates.cmake).
const std::vector<std::pair<std::string_view, std::string_view>>& BuiltInTemplates();

namespace {

// Largest override template file read from disk.
constexpr std::uintmax_t kMaxTemplateBytes = 1 << 20;
// Includes nest at most this deep (a template that includes itself stops here).
constexpr int kMaxIncludeDepth = 16;

enum class NodeKind { kText, kVariable, kSection, kInverted, kInclude };

struct TemplateNode {
  NodeKind kind = NodeKind::kText;
  std::string text;                    // kText: the text; others: the name as written
  std::vector<std::string> path;       // kVariable/kSection/kInverted: the dotted name split
  bool raw = false;                    // kVariable: the last part ends in "_html"
  std::vector<TemplateNode> children;  // kSection/kInverted
  int line = 0;
};

bool ValidNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits "a.b.c" into its parts; "." alone is the current value (no parts). False when a part
// is empty or holds a character other than letters, digits, '_' and '-'.
bool SplitName(std::string_view name, std::vector<std::string>& parts) {
  parts.clear();
  if (name == ".") return true;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string_view part =
        name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (part.empty() || !std::all_of(part.begin(), part.end(), ValidNameChar)) return false;
    parts.emplace_back(part);
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

class Parser {
 public:
  Parser(std::string_view file, std::string_view text) : file_(file), text_(text) {}

  Result<std::vector<TemplateNode>> Parse() {
    std::vector<TemplateNode> root;
    // The open sections, innermost last: the node being filled and where it was opened.
    std::vector<TemplateNode*> stack;
    auto current = [&]() -> std::vector<TemplateNode>& {
      return stack.empty() ? root : stack.back()->children;
    };
    size_t pos = 0;
    while (pos < text_.size()) {
      size_t open = text_.find("{{", pos);
      if (open == std::string_view::npos) open = text_.size();
      if (open > pos) {
        TemplateNode node;
        node.kind = NodeKind::kText;
        node.text = std::string(text_.substr(pos, open - pos));
        node.line = LineAt(pos);
        current().push_back(std::move(node));
      }
      if (open == text_.size()) break;
      const int line = LineAt(open);
      size_t close = text_.find("}}", open + 2);
      if (close == std::string_view::npos) return Fail(line, "unclosed tag \"{{\"");
      std::string_view tag = text_.substr(open + 2, close - open - 2);
      pos = close + 2;
      if (tag.empty()) return Fail(line, "empty tag \"{{}}\"");
      const char sigil = tag.front();
      if (sigil == '!') continue;  // a comment
      if (sigil == '{' || sigil == '&') {
        return Fail(line,
                    "unescaped output is not supported; pass HTML under a key ending in _html");
      }
      if (sigil == '=') return Fail(line, "changing delimiters is not supported");
      const bool has_sigil = sigil == '#' || sigil == '^' || sigil == '/' || sigil == '>';
      std::string_view name = Trim(has_sigil ? tag.substr(1) : tag);
      if (name.empty()) return Fail(line, "tag without a name");
      if (sigil == '>') {
        if (!std::all_of(name.begin(), name.end(), ValidNameChar)) {
          return Fail(line, "bad template name in include: \"" + std::string(name) + "\"");
        }
        TemplateNode node;
        node.kind = NodeKind::kInclude;
        node.text = std::string(name);
        node.line = line;
        current().push_back(std::move(node));
        continue;
      }
      std::vector<std::string> parts;
      if (!SplitName(name, parts)) {
        return Fail(line, "bad name \"" + std::string(name) +
                              "\" (letters, digits, '_', '-', joined by '.')");
      }
      if (sigil == '/') {
        if (stack.empty()) {
          return Fail(line, "closing tag \"{{/" + std::string(name) + "}}\" without a section");
        }
        if (stack.back()->text != name) {
          return Fail(line, "closing tag \"{{/" + std::string(name) + "}}\" does not match \"{{" +
                                (stack.back()->kind == NodeKind::kSection ? "#" : "^") +
                                stack.back()->text + "}}\" opened on line " +
                                std::to_string(stack.back()->line));
        }
        stack.pop_back();
        continue;
      }
      TemplateNode node;
      node.kind = sigil == '#'   ? NodeKind::kSection
                  : sigil == '^' ? NodeKind::kInverted
                                 : NodeKind::kVariable;
      node.text = std::string(name);
      node.raw = !parts.empty() && EndsWith(parts.back(), "_html");
      node.path = std::move(parts);
      node.line = line;
      auto& list = current();
      list.push_back(std::move(node));
      if (list.back().kind != NodeKind::kVariable) stack.push_back(&list.back());
    }
    if (!stack.empty()) {
      return Fail(stack.back()->line, "section \"" + stack.back()->text + "\" is never closed");
    }
    return root;
  }

 private:
  int LineAt(size_t pos) {
    // Positions only grow, so count incrementally.
    line_count_ += static_cast<int>(std::count(text_.begin() + static_cast<long>(line_pos_),
                                               text_.begin() + static_cast<long>(pos), '\n'));
    line_pos_ = pos;
    return line_count_;
  }

  Error Fail(int line, std::string message) {
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string(file_) + ":" + std::to_string(line) + ": " + message);
  }

  std::string_view file_;
  std::string_view text_;
  size_t line_pos_ = 0;
  int line_count_ = 1;
};

void AppendEscaped(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '=':
        out += "&#61;";
        break;
      case '`':
        out += "&#96;";
        break;
      default:
        out += c;
    }
  }
}

bool Truthy(const nlohmann::json* value) {
  if (value == nullptr || value->is_null()) return false;
  if (value->is_boolean()) return value->get<bool>();
  if (value->is_string()) return !value->get_ref<const std::string&>().empty();
  if (value->is_array() || value->is_object()) return !value->empty();
  if (value->is_number_integer() || value->is_number_unsigned()) return value->get<double>() != 0;
  if (value->is_number_float()) return value->get<double>() != 0.0;
  return true;
}

}  // namespace

struct Templates::Parsed {
  std::string file;  // where it came from, for error messages
  std::vector<TemplateNode> nodes;
};

namespace {

// The renderer: walks the parsed nodes with a stack of data contexts. A template over the map
// type only because Templates::Parsed is private to Templates.
template <class Map>
class TemplateRenderer {
 public:
  explicit TemplateRenderer(const Map& templates) : templates_(templates) {}

  Status Render(const std::vector<TemplateNode>& nodes, std::string& out, int depth) {
    for (const TemplateNode& node : nodes) {
      switch (node.kind) {
        case NodeKind::kText:
          out += node.text;
          break;
        case NodeKind::kVariable: {
          const nlohmann::json* value = Lookup(node.path);
          if (value == nullptr || value->is_null()) break;
          if (value->is_string()) {
            const auto& s = value->get_ref<const std::string&>();
            if (node.raw) {
              out += s;
            } else {
              AppendEscaped(out, s);
            }
          } else if (value->is_boolean()) {
            out += value->get<bool>() ? "true" : "false";
          } else if (value->is_number()) {
            out += value->dump();
          }
          // Arrays and objects print nothing: a template names the field it wants.
          break;
        }
        case NodeKind::kSection: {
          const nlohmann::json* value = Lookup(node.path);
          if (!Truthy(value)) break;
          if (value->is_array()) {
            for (const auto& element : *value) {
              stack_.push_back(&element);
              Status s = Render(node.children, out, depth);
              stack_.pop_back();
              KITH_RETURN_IF_ERROR(s);
            }
          } else if (value->is_boolean()) {
            KITH_RETURN_IF_ERROR(Render(node.children, out, depth));
          } else {
            stack_.push_back(value);
            Status s = Render(node.children, out, depth);
            stack_.pop_back();
            KITH_RETURN_IF_ERROR(s);
          }
          break;
        }
        case NodeKind::kInverted:
          if (!Truthy(Lookup(node.path))) KITH_RETURN_IF_ERROR(Render(node.children, out, depth));
          break;
        case NodeKind::kInclude: {
          auto it = templates_.find(node.text);
          if (it == templates_.end()) {
            return MakeError(ErrorCode::kInternal, "unknown template \"" + node.text + "\"");
          }
          if (depth >= kMaxIncludeDepth) {
            return MakeError(ErrorCode::kInternal,
                             "includes nested deeper than " + std::to_string(kMaxIncludeDepth) +
                                 " at template \"" + node.text + "\" (an include loop?)");
          }
          KITH_RETURN_IF_ERROR(Render(it->second->nodes, out, depth + 1));
          break;
        }
      }
    }
    return OkStatus();
  }

  void Push(const nlohmann::json* value) { stack_.push_back(value); }

 private:
  // Mustache lookup: the first part is searched from the innermost context outwards; the rest
  // are resolved inside what it found (and never fall back outwards).
  const nlohmann::json* Lookup(const std::vector<std::string>& path) const {
    if (stack_.empty()) return nullptr;
    if (path.empty()) return stack_.back();
    const nlohmann::json* found = nullptr;
    for (auto it = stack_.rbegin(); it != stack_.rend(); ++it) {
      const nlohmann::json* frame = *it;
      if (!frame->is_object()) continue;
      auto member = frame->find(path.front());
      if (member != frame->end()) {
        found = &*member;
        break;
      }
    }
    for (size_t i = 1; found != nullptr && i < path.size(); ++i) {
      if (!found->is_object()) return nullptr;
      auto member = found->find(path[i]);
      found = member == found->end() ? nullptr : &*member;
    }
    return found;
  }

  const Map& templates_;
  std::vector<const nlohmann::json*> stack_;
};

// Every include names a known template; else the file and line of the first that does not.
template <class Map>
Status CheckIncludes(const std::string& file, const std::vector<TemplateNode>& nodes,
                     const Map& templates) {
  for (const TemplateNode& node : nodes) {
    if (node.kind == NodeKind::kInclude && !templates.contains(node.text)) {
      return MakeError(ErrorCode::kInvalidArgument, file + ":" + std::to_string(node.line) +
                                                        ": include of unknown template \"" +
                                                        node.text + "\"");
    }
    KITH_RETURN_IF_ERROR(CheckIncludes(file, node.children, templates));
  }
  return OkStatus();
}

Result<std::string> ReadOverride(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return MakeError(ErrorCode::kInvalidArgument, path.string() + ": " + ec.message());
  if (size > kMaxTemplateBytes) {
    return MakeError(ErrorCode::kInvalidArgument, path.string() + ": larger than " +
                                                      std::to_string(kMaxTemplateBytes) + " bytes");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(ErrorCode::kInvalidArgument, path.string() + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) {
    return MakeError(ErrorCode::kInvalidArgument, path.string() + ": read failed");
  }
  return text.str();
}

}  // namespace

Templates::Templates() = default;
Templates::~Templates() = default;

Result<std::unique_ptr<Templates>> Templates::Load(const std::filesystem::path& override_dir) {
  std::unique_ptr<Templates> t(new Templates());  // the constructor is private
  auto add = [&](std::string name, std::string file, std::string_view text) -> Status {
    auto nodes = Parser(file, text).Parse();
    if (!nodes.ok()) return std::move(nodes).error();
    auto parsed = std::make_unique<Parsed>();
    parsed->file = std::move(file);
    parsed->nodes = std::move(nodes.value());
    t->templates_[std::move(name)] = std::move(parsed);
    return OkStatus();
  };
  for (const auto& [name, text] : BuiltInTemplates()) {
    KITH_RETURN_IF_ERROR(
        add(std::string(name), "node/templates/" + std::string(name) + ".html (built in)", text));
  }
  if (!override_dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(override_dir, ec)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "web.templates_dir: " + override_dir.string() + " is not a directory");
    }
    std::vector<std::filesystem::path> files;
    for (std::filesystem::directory_iterator it(override_dir, ec), end; !ec && it != end;
         it.increment(ec)) {
      const auto& path = it->path();
      if (path.extension() != ".html") continue;
      const std::string stem = path.stem().string();
      if (stem.empty() || stem.front() == '.' ||
          !std::all_of(stem.begin(), stem.end(), ValidNameChar)) {
        continue;  // not a template name (e.g. an editor's backup file)
      }
      files.push_back(path);
    }
    if (ec) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "web.templates_dir: " + override_dir.string() + ": " + ec.message());
    }
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
      auto text = ReadOverride(path);
      if (!text.ok()) return std::move(text).error();
      KITH_RETURN_IF_ERROR(add(path.stem().string(), path.string(), text.value()));
    }
  }
  for (const auto& [name, parsed] : t->templates_) {
    KITH_RETURN_IF_ERROR(CheckIncludes(parsed->file, parsed->nodes, t->templates_));
  }
  if (!t->templates_.contains("layout")) {
    return MakeError(ErrorCode::kInvalidArgument, "no template named \"layout\"");
  }
  return t;
}

Result<std::string> Templates::Render(std::string_view name, const nlohmann::json& data) const {
  auto it = templates_.find(name);
  if (it == templates_.end()) {
    return MakeError(ErrorCode::kNotFound, "unknown template \"" + std::string(name) + "\"");
  }
  TemplateRenderer<decltype(templates_)> renderer(templates_);
  renderer.Push(&data);
  std::string out;
  KITH_RETURN_IF_ERROR(renderer.Render(it->second->nodes, out, 0));
  return out;
}

Result<std::string> Templates::RenderPage(std::string_view name, const nlohmann::json& data) const {
  if (name == "layout") {
    return MakeError(ErrorCode::kNotFound, "\"layout\" is not a page");
  }
  auto content = Render(name, data);
  if (!content.ok()) return content;
  nlohmann::json page = data.is_object() ? data : nlohmann::json::object();
  page["content_html"] = std::move(content.value());
  return Render("layout", page);
}

}  // namespace kith::node
