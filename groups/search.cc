#include "groups/search.h"

#include <array>
#include <utility>

#include "groups/event.h"

namespace kith::groups {
namespace {

using storage::Database;
using storage::StatementReset;

constexpr size_t kMaxTerms = 16;
constexpr size_t kMaxQueryBytes = 500;
constexpr size_t kMaxOffset = 10000;

constexpr std::array<std::string_view, 5> kKindNames = {"person", "group", "thread", "post",
                                                        "document"};

Error Invalid(std::string_view field, std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::string(field) + ": " + message,
                   "invalid_argument");
}

// Decodes one UTF-8 code point at `i`; returns its length, or 0 for an invalid sequence.
size_t DecodeUtf8(std::string_view s, size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  size_t len = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
    min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
    min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

// Part of a term: ASCII letters and digits, and non-ASCII code points other than the common
// spaces and punctuation blocks (the FTS5 unicode61 tokenizer does the exact split; quoting
// makes whatever is left harmless).
bool IsTermChar(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
  }
  if (cp <= 0xBF) return cp == 0xAA || cp == 0xB5 || cp == 0xBA;  // Latin-1 punctuation
  if (cp == 0xD7 || cp == 0xF7) return false;                     // × ÷
  if (cp >= 0x2000 && cp <= 0x206F) return false;                 // general punctuation
  if (cp >= 0x3000 && cp <= 0x3003) return false;                 // CJK space, marks
  if (cp == 0xFEFF) return false;
  return true;
}

std::vector<SnippetPart> SplitSnippet(const std::string& text) {
  std::vector<SnippetPart> parts;
  bool match = false;
  std::string current;
  auto flush = [&] {
    if (!current.empty()) parts.push_back({std::move(current), match});
    current.clear();
  };
  for (char c : text) {
    if (c == '\x02') {
      flush();
      match = true;
    } else if (c == '\x03') {
      flush();
      match = false;
    } else {
      current.push_back(c);
    }
  }
  flush();
  return parts;
}

// Permission rules and filters live in the WHERE clause so that LIMIT/OFFSET count only hits
// the viewer may see. Parameters: ?1 match, ?2 kinds (",person,group," or ""), ?3 viewer is of
// this node, ?4 viewer, ?5 organisation, ?6 node, ?7 this node's domain, ?8 visibility,
// ?9 limit, ?10 offset.
constexpr std::string_view kSearchSql = R"sql(
WITH top AS (
  SELECT d.id AS id, bm25(search_fts, 10.0, 1.0) AS score
  FROM search_fts CROSS JOIN search_docs d INDEXED BY search_docs_acl ON d.id = search_fts.rowid
  WHERE search_fts MATCH ?1
    AND (?2 = '' OR instr(?2, ',' || d.kind || ',') > 0)
    AND (   (d.kind = 'person'
             AND (d.visibility = 'network' OR (d.visibility = 'node' AND ?3 = 1)))
         OR (d.kind = 'group'
             AND (d.visibility IN ('public', 'restricted')
                  OR EXISTS (SELECT 1 FROM group_members m
                             WHERE m.stream_id = d.stream_id AND m.member = ?4)))
         OR (d.kind IN ('thread', 'post', 'document')
             AND (d.visibility = 'public'
                  OR EXISTS (SELECT 1 FROM group_members m
                             WHERE m.stream_id = d.stream_id AND m.member = ?4))))
    AND (?5 = '' OR (d.kind = 'person' AND d.organisation = ?5 COLLATE NOCASE))
    AND (?6 = '' OR IFNULL(d.domain, ?7) = ?6)
    AND (?8 = '' OR d.visibility = ?8)
  ORDER BY score, d.id
  LIMIT ?9 OFFSET ?10)
SELECT d.kind, d.title, d.address, d.item_id, d.thread_id, d.organisation, d.job_title,
       IFNULL(d.domain, ?7), d.visibility,
       snippet(search_fts, -1, char(2), char(3), '…', 16), top.score,
       CASE WHEN d.kind = 'post'
            THEN (SELECT t.title FROM threads t WHERE t.stream_id = d.stream_id
                  AND t.id = d.thread_id) END
FROM search_fts CROSS JOIN top CROSS JOIN search_docs d
WHERE search_fts MATCH ?1 AND top.id = search_fts.rowid AND d.id = top.id
ORDER BY top.score, top.id
)sql";

}  // namespace

std::string_view SearchKindName(SearchKind kind) { return kKindNames[static_cast<size_t>(kind)]; }

Result<SearchKind> ParseSearchKind(std::string_view name) {
  for (size_t i = 0; i < kKindNames.size(); ++i) {
    if (kKindNames[i] == name) return static_cast<SearchKind>(i);
  }
  return Invalid("kind", "must be one of person, group, thread, post, document");
}

std::string FtsQuery(std::string_view text) {
  std::vector<std::string> terms;
  std::string current;
  size_t i = 0;
  while (i < text.size() && terms.size() < kMaxTerms) {
    char32_t cp = 0;
    const size_t len = DecodeUtf8(text, i, cp);
    if (len == 0) {  // invalid byte: dropped, ends a term
      if (!current.empty()) terms.push_back(std::move(current));
      current.clear();
      ++i;
      continue;
    }
    if (IsTermChar(cp)) {
      current.append(text.substr(i, len));
    } else if (!current.empty()) {
      terms.push_back(std::move(current));
      current.clear();
    }
    i += len;
  }
  if (!current.empty() && terms.size() < kMaxTerms) terms.push_back(std::move(current));
  std::string query;
  for (size_t t = 0; t < terms.size(); ++t) {
    if (t > 0) query += ' ';
    query += '"';
    query += terms[t];  // holds no '"': only letters, digits and non-ASCII code points
    query += '"';
  }
  if (!query.empty()) query += '*';
  return query;
}

Searcher::Searcher(storage::Store& store, std::string domain)
    : store_(store), domain_(std::move(domain)) {}

Result<SearchPage> Searcher::Search(std::string_view viewer, std::string_view query,
                                    const SearchFilters& filters, size_t limit, size_t offset) {
  if (limit < 1 || limit > 100) return Invalid("limit", "must be 1..100");
  if (offset > kMaxOffset) return Invalid("offset", "must be 0..10000");
  if (query.size() > kMaxQueryBytes) return Invalid("q", "is longer than 500 bytes");
  if (!filters.visibility.empty()) {
    static constexpr std::array<std::string_view, 5> kVisibilities = {"network", "node", "public",
                                                                      "restricted", "private"};
    bool known = false;
    for (auto v : kVisibilities) known = known || v == filters.visibility;
    if (!known)
      return Invalid("visibility", "must be network, node, public, restricted or private");
  }
  if (filters.organisation.size() > 800) return Invalid("organisation", "is too long");
  if (filters.node.size() > 262) return Invalid("node", "is too long");

  SearchPage page;
  const std::string match = FtsQuery(query);
  if (match.empty()) return page;
  std::string kinds;
  if (!filters.kinds.empty()) {
    kinds = ",";
    for (SearchKind k : filters.kinds) {
      kinds += SearchKindName(k);
      kinds += ',';
    }
  }
  bool viewer_local = false;
  if (!viewer.empty()) {
    auto domain = AddressDomain(viewer);
    viewer_local = domain.ok() && *domain == domain_;
  }

  return store_.Read([&](Database& db) -> Result<SearchPage> {
    auto stmt = db.Cached(kSearchSql);
    if (!stmt.ok()) return stmt.error();
    StatementReset reset{*stmt};
    (*stmt)
        ->Bind(1, match)
        .Bind(2, kinds)
        .Bind(3, int64_t{viewer_local ? 1 : 0})
        .Bind(4, viewer)
        .Bind(5, filters.organisation)
        .Bind(6, filters.node)
        .Bind(7, domain_)
        .Bind(8, filters.visibility)
        .Bind(9, static_cast<int64_t>(limit + 1))
        .Bind(10, static_cast<int64_t>(offset));
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      if (page.hits.size() == limit) {
        page.more = true;
        break;
      }
      const storage::Statement& s = **stmt;
      SearchHit hit;
      auto kind = ParseSearchKind(s.ColumnText(0));
      if (!kind.ok()) continue;
      hit.kind = *kind;
      hit.title = s.ColumnText(1);
      const std::string address = s.ColumnText(2);
      hit.organisation = s.ColumnText(5);
      hit.job_title = s.ColumnText(6);
      hit.node = s.ColumnText(7);
      hit.visibility = s.ColumnText(8);
      hit.snippet = SplitSnippet(s.ColumnText(9));
      hit.score = s.ColumnDouble(10);
      switch (hit.kind) {
        case SearchKind::kPerson:
          // Local members are indexed by handle (the index does not know the node's domain).
          hit.address = address.find('@') == std::string::npos ? address + "@" + domain_ : address;
          break;
        case SearchKind::kGroup:
          hit.group = address;
          break;
        case SearchKind::kThread:
          hit.group = address;
          hit.thread_id = s.ColumnInt(3);
          hit.post_id = hit.thread_id;
          break;
        case SearchKind::kPost:
          hit.group = address;
          hit.post_id = s.ColumnInt(3);
          hit.thread_id = s.ColumnInt(4);
          hit.title = s.ColumnText(11);
          break;
        case SearchKind::kDocument:
          hit.group = address;
          hit.document_id = s.ColumnInt(3);
          break;
      }
      page.hits.push_back(std::move(hit));
    }
    return page;
  });
}

}  // namespace kith::groups
