#include "groups/search.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <utility>

#include "groups/event.h"

namespace kith::groups {
namespace {

using storage::Database;
using storage::StatementReset;

constexpr size_t kMaxTerms = 16;
constexpr size_t kMaxQueryBytes = 500;
constexpr size_t kMaxOffset = 10000;
// A last term shorter than this is matched as a whole word, not as a prefix: "s"* matches
// most of the index (a 1-letter prefix has no prefix index: every term under it is merged),
// and says little. 2 letters have one (prefix='2 3 4' in migration 0007).
constexpr size_t kMinPrefixChars = 2;
// The ranking step keeps max(kMinCandidates, kCandidatesPerHit * (offset + limit + 1)) matches
// for the permission checks; more only when those leave the page short.
constexpr int64_t kMinCandidates = 128;
constexpr int64_t kCandidatesPerHit = 4;
// Words in a snippet.
constexpr size_t kSnippetTokens = 16;

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

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

// The terms of user text: runs of term characters, invalid UTF-8 bytes dropped, at most
// kMaxTerms.
std::vector<std::string> QueryTerms(std::string_view text) {
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
  return terms;
}

// ---- Ranking: kith_rank(search_fts) ----
//
// FTS5's bm25() reads each match's column sizes from the %_docsize table: a B-tree lookup per
// match, measured at about 3/4 of the cost of a ranked query with thousands of matches. With
// one AND-ed phrase per query term every match holds every phrase, so what tells matches
// apart is where the terms are (title or body) and how often; kith_rank is BM25's term
// frequency part without the document length (b = 0) or the idf (the same for every match of
// an AND query up to which column holds the term): for each phrase and column,
// weight * tf * (k1 + 1) / (tf + k1), weights title 10, body 1, k1 = 1.2; negated, so that
// lower is better as with bm25(). It reads only the position lists FTS5 already has.
void KithRank(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* ctx, int /*argc*/,
              sqlite3_value** /*argv*/) {
  constexpr int kPhrases = 16;
  constexpr double kK1 = 1.2;
  constexpr std::array<double, 2> kWeights = {10.0, 1.0};
  int tf[kPhrases][2] = {};
  int count = 0;
  if (int rc = api->xInstCount(fts, &count); rc != SQLITE_OK) {
    sqlite3_result_error_code(ctx, rc);
    return;
  }
  for (int i = 0; i < count; ++i) {
    int phrase = 0, column = 0, offset = 0;
    if (api->xInst(fts, i, &phrase, &column, &offset) != SQLITE_OK) continue;
    if (phrase >= 0 && phrase < kPhrases && column >= 0 && column < 2) ++tf[phrase][column];
  }
  double score = 0;
  for (const auto& phrase : tf) {
    for (size_t c = 0; c < kWeights.size(); ++c) {
      if (phrase[c] > 0) score += kWeights[c] * phrase[c] * (kK1 + 1) / (phrase[c] + kK1);
    }
  }
  sqlite3_result_double(ctx, -score);
}

// The connection's FTS5 API (nullptr if FTS5 is missing). storage::Statement binds no
// pointers, so this one statement is prepared here.
fts5_api* Fts5Api(Database& db) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db.handle(), "SELECT fts5(?1)", -1, &raw, nullptr) != SQLITE_OK) {
    sqlite3_finalize(raw);
    return nullptr;
  }
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
  fts5_api* api = nullptr;
  sqlite3_bind_pointer(raw, 1, &api, "fts5_api_ptr", nullptr);
  if (sqlite3_step(raw) != SQLITE_ROW) return nullptr;
  return api;
}

// Adds kith_rank to a connection (once per connection: the search statement fails to
// prepare without it, and the caller then registers and retries).
Status RegisterRank(Database& db) {
  fts5_api* api = Fts5Api(db);
  if (api == nullptr) return MakeError(ErrorCode::kInternal, "FTS5 is not available");
  if (api->xCreateFunction(api, "kith_rank", nullptr, KithRank, nullptr) != SQLITE_OK) {
    return MakeError(ErrorCode::kInternal, "cannot register kith_rank");
  }
  return OkStatus();
}

// ---- Snippets ----
//
// snippet() needs an FTS5 cursor on the row, i.e. a second MATCH per hit; measured, that
// costs more than the whole ranked query (each MATCH re-reads a prefix term's doclists). So
// snippets are made here, for the page's hits only, with the index's own tokenizer
// (unicode61 remove_diacritics 2, as in migration 0007), so that what is marked is what
// matched.

struct Token {
  int start = 0;  // byte offsets in the text
  int end = 0;
  std::string folded;
};

class Tokenizer {
 public:
  explicit Tokenizer(fts5_api* api) {
    void* context = nullptr;
    if (api == nullptr || api->xFindTokenizer(api, "unicode61", &context, &module_) != SQLITE_OK)
      return;
    const char* args[] = {"remove_diacritics", "2"};
    if (module_.xCreate(context, args, 2, &tokenizer_) != SQLITE_OK) tokenizer_ = nullptr;
  }
  ~Tokenizer() {
    if (tokenizer_ != nullptr) module_.xDelete(tokenizer_);
  }
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  bool ok() const { return tokenizer_ != nullptr; }

  std::vector<Token> Tokens(std::string_view text, int flags) const {
    std::vector<Token> out;
    if (tokenizer_ == nullptr || text.empty()) return out;
    module_.xTokenize(
        tokenizer_, &out, flags, text.data(), static_cast<int>(text.size()),
        [](void* ctx, int /*flags*/, const char* token, int n, int start, int end) -> int {
          static_cast<std::vector<Token>*>(ctx)->push_back(
              {start, end, std::string(token, static_cast<size_t>(n))});
          return SQLITE_OK;
        });
    return out;
  }

 private:
  fts5_tokenizer module_{};
  Fts5Tokenizer* tokenizer_ = nullptr;
};

// What a snippet marks: each query term's tokens (folded); the last one as a prefix when the
// query made it one.
struct Needles {
  std::vector<std::string> words;
  std::string prefix;  // "" when the last term is matched whole

  // The index of the needle `t` matches (words first, then the prefix), or -1.
  int Match(const std::string& t) const {
    for (size_t i = 0; i < words.size(); ++i) {
      if (words[i] == t) return static_cast<int>(i);
    }
    if (!prefix.empty() && t.compare(0, prefix.size(), prefix) == 0) {
      return static_cast<int>(words.size());
    }
    return -1;
  }
};

Needles MakeNeedles(const Tokenizer& tokenizer, const std::vector<std::string>& terms) {
  Needles n;
  for (size_t t = 0; t < terms.size(); ++t) {
    const bool prefix = t + 1 == terms.size() && CodePoints(terms[t]) >= kMinPrefixChars;
    std::vector<Token> tokens = tokenizer.Tokens(terms[t], FTS5_TOKENIZE_QUERY);
    for (size_t k = 0; k < tokens.size(); ++k) {
      if (prefix && k + 1 == tokens.size()) {
        n.prefix = std::move(tokens[k].folded);
      } else {
        n.words.push_back(std::move(tokens[k].folded));
      }
    }
  }
  return n;
}

struct Window {
  size_t first = 0;  // tokens [first, last)
  size_t last = 0;
  int distinct = 0;  // needles matched in the window
  int hits = 0;      // matching tokens in the window
};

// The window of at most kSnippetTokens tokens with the most distinct needles, then the most
// matches, then the earliest start.
Window BestWindow(const std::vector<Token>& tokens, const std::vector<int>& match, size_t needles) {
  Window best;
  best.last = std::min(tokens.size(), kSnippetTokens);
  best.distinct = -1;
  const size_t starts = tokens.size() > kSnippetTokens ? tokens.size() - kSnippetTokens + 1 : 1;
  std::vector<char> seen(needles + 1);
  for (size_t first = 0; first < starts; ++first) {
    // A window is only worth trying where it starts at a match, or at the text's start.
    if (first > 0 && match[first] < 0) continue;
    Window w{first, std::min(tokens.size(), first + kSnippetTokens), 0, 0};
    std::fill(seen.begin(), seen.end(), 0);
    for (size_t i = w.first; i < w.last; ++i) {
      if (match[i] < 0) continue;
      ++w.hits;
      if (!seen[static_cast<size_t>(match[i])]) {
        seen[static_cast<size_t>(match[i])] = 1;
        ++w.distinct;
      }
    }
    if (w.distinct > best.distinct || (w.distinct == best.distinct && w.hits > best.hits)) {
      best = w;
    }
  }
  // Start a little before the first match when the window has room to spare at its end.
  if (best.first > 0 && best.last == best.first + kSnippetTokens) {
    const size_t back = std::min<size_t>(best.first, 3);
    best.first -= back;
    best.last -= back;
  }
  return best;
}

// A snippet of the title or the body (whichever holds more of the query), about
// kSnippetTokens words, '…' where text was cut.
std::vector<SnippetPart> MakeSnippet(const Tokenizer& tokenizer, const Needles& needles,
                                     const std::string& title, const std::string& body) {
  const size_t count = needles.words.size() + (needles.prefix.empty() ? 0 : 1);
  struct Candidate {
    const std::string* text;
    std::vector<Token> tokens;
    std::vector<int> match;
    Window window;
  };
  std::array<Candidate, 2> candidates{
      Candidate{&title, tokenizer.Tokens(title, FTS5_TOKENIZE_DOCUMENT), {}, {}},
      Candidate{&body, tokenizer.Tokens(body, FTS5_TOKENIZE_DOCUMENT), {}, {}}};
  for (Candidate& c : candidates) {
    c.match.reserve(c.tokens.size());
    for (const Token& t : c.tokens) c.match.push_back(needles.Match(t.folded));
    c.window = BestWindow(c.tokens, c.match, count);
  }
  // The body unless the title holds more (a person's or group's body says more than a name).
  const Candidate& chosen =
      candidates[0].window.distinct > candidates[1].window.distinct ||
              (candidates[0].window.distinct == candidates[1].window.distinct &&
               candidates[0].window.hits > candidates[1].window.hits) ||
              candidates[1].tokens.empty()
          ? candidates[0]
          : candidates[1];
  std::vector<SnippetPart> parts;
  if (chosen.tokens.empty()) return parts;
  const std::string& text = *chosen.text;
  auto add = [&parts](std::string piece, bool match) {
    if (piece.empty()) return;
    if (!parts.empty() && parts.back().match == match) {
      parts.back().text += piece;
    } else {
      parts.push_back({std::move(piece), match});
    }
  };
  const Window& w = chosen.window;
  size_t at = w.first == 0 ? 0 : static_cast<size_t>(chosen.tokens[w.first].start);
  if (w.first > 0) add("…", false);
  for (size_t i = w.first; i < w.last; ++i) {
    const Token& t = chosen.tokens[i];
    const auto start = static_cast<size_t>(t.start);
    const auto end = static_cast<size_t>(t.end);
    if (start > at) add(text.substr(at, start - at), false);
    add(text.substr(start, end - start), chosen.match[i] >= 0);
    at = end;
  }
  if (w.last == chosen.tokens.size()) {
    add(text.substr(at), false);  // the text's tail (punctuation after the last word)
  } else {
    add("…", false);
  }
  return parts;
}

// ---- The query ----
//
// Three steps in one statement:
//  1. `ranked`: every match ranked by kith_rank, the best ?11 kept (a bounded sort; -1: all);
//  2. `top`: of those, the ones the viewer may see and the filters let through — permission
//     rules and filters live in this WHERE clause, so that LIMIT/OFFSET count only visible
//     hits;
//  3. the page's rows with what a hit shows (the text for the snippet, the thread's title for
//     a post, tags and the group's status) and how many rows step 1 kept (on a row of NULLs
//     when no hit is left, so that "no match at all" is not run twice).
// When step 2 leaves fewer than offset + limit + 1 rows and step 1 was cut at ?11, the caller
// runs it again without the cut: the page is then exactly what ranking every match gives.
// Parameters: ?1 match, ?2 kinds (",person,group," or ""), ?3 viewer is of this node,
// ?4 viewer, ?5 organisation, ?6 node, ?7 this node's domain, ?8 visibility, ?9 limit,
// ?10 offset, ?11 candidates (-1: all).
constexpr std::string_view kSearchSql = R"sql(
WITH ranked AS MATERIALIZED (
  SELECT rowid AS id, kith_rank(search_fts) AS score
  FROM search_fts WHERE search_fts MATCH ?1
  ORDER BY score, rowid
  LIMIT ?11),
top AS MATERIALIZED (
  SELECT r.id AS id, r.score AS score
  FROM ranked r CROSS JOIN search_docs d INDEXED BY search_docs_acl ON d.id = r.id
  WHERE (?2 = '' OR instr(?2, ',' || d.kind || ',') > 0)
    AND (   (d.kind = 'person'
             AND (d.visibility = 'network' OR (d.visibility = 'node' AND ?3 = 1)))
         OR (d.kind = 'group'
             AND ((d.visibility IN ('public', 'restricted')
                   AND (?3 = 1 OR NOT EXISTS (SELECT 1 FROM groups sg WHERE
                        sg.stream_id = d.stream_id AND sg.network IS NOT NULL)))
                  OR EXISTS (SELECT 1 FROM group_members m
                             WHERE m.stream_id = d.stream_id AND m.member = ?4)))
         OR (d.kind IN ('thread', 'post', 'document')
             AND ((d.visibility = 'public'
                   AND (?3 = 1 OR NOT EXISTS (SELECT 1 FROM groups sg WHERE
                        sg.stream_id = d.stream_id AND sg.network IS NOT NULL)))
                  OR EXISTS (SELECT 1 FROM group_members m
                             WHERE m.stream_id = d.stream_id AND m.member = ?4))))
    AND (?5 = '' OR (d.kind = 'person' AND d.organisation = ?5 COLLATE NOCASE))
    AND (?6 = '' OR IFNULL(d.domain, ?7) = ?6)
    AND (?8 = '' OR d.visibility = ?8)
  ORDER BY r.score, r.id
  LIMIT ?9 OFFSET ?10)
SELECT d.kind, d.title, d.address, d.item_id, d.thread_id, d.organisation, d.job_title,
       IFNULL(d.domain, ?7), d.visibility, d.body, top.score,
       CASE WHEN d.kind = 'post'
            THEN (SELECT t.title FROM threads t WHERE t.stream_id = d.stream_id
                  AND t.id = d.thread_id) END,
       CASE d.kind
         WHEN 'group' THEN IFNULL(
           (SELECT g.tags FROM groups g WHERE g.stream_id = d.stream_id),
           (SELECT l.tags FROM directory_groups l
            WHERE l.stream_id = d.stream_id AND l.ref = d.address))
         WHEN 'document' THEN
           (SELECT c.tags FROM documents c WHERE c.stream_id = d.stream_id AND c.id = d.item_id)
       END,
       CASE WHEN d.kind = 'person' THEN NULL ELSE IFNULL(
           (SELECT g.status FROM groups g WHERE g.stream_id = d.stream_id),
           (SELECT l.status FROM directory_groups l
            WHERE d.kind = 'group' AND l.stream_id = d.stream_id AND l.ref = d.address)) END,
       c.n
FROM (SELECT count(*) AS n FROM ranked) AS c
  LEFT JOIN top ON 1
  LEFT JOIN search_docs d ON d.id = top.id
ORDER BY top.score, top.id
)sql";

// The tags of a JSON array text; anything else gives none.
std::vector<std::string> ParseTags(const std::string& text) {
  std::vector<std::string> tags;
  if (text.empty()) return tags;
  const nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!value.is_array()) return tags;
  for (const auto& tag : value) {
    if (tag.is_string()) tags.push_back(tag.get<std::string>());
  }
  return tags;
}

}  // namespace

std::string_view SearchKindName(SearchKind kind) { return kKindNames[static_cast<size_t>(kind)]; }

Result<SearchKind> ParseSearchKind(std::string_view name) {
  for (size_t i = 0; i < kKindNames.size(); ++i) {
    if (kKindNames[i] == name) return static_cast<SearchKind>(i);
  }
  return Invalid("kind", "must be one of person, group, thread, post, document");
}

std::string FtsQuery(std::string_view text) {
  const std::vector<std::string> terms = QueryTerms(text);
  std::string query;
  for (size_t t = 0; t < terms.size(); ++t) {
    if (t > 0) query += ' ';
    query += '"';
    query += terms[t];  // holds no '"': only letters, digits and non-ASCII code points
    query += '"';
  }
  if (!terms.empty() && CodePoints(terms.back()) >= kMinPrefixChars) query += '*';
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

  const std::vector<std::string> terms = QueryTerms(query);
  // The first pass ranks every match but checks permissions only on the best few; see
  // kSearchSql.
  const auto wanted = static_cast<int64_t>(offset + limit + 1);
  const int64_t first_cut = std::max<int64_t>(kMinCandidates, kCandidatesPerHit * wanted);

  return store_.Read([&](Database& db) -> Result<SearchPage> {
    auto stmt = db.Cached(kSearchSql);
    if (!stmt.ok()) {
      // kith_rank is added to a connection the first time a search runs on it.
      if (auto added = RegisterRank(db); !added.ok()) return added.error();
      stmt = db.Cached(kSearchSql);
      if (!stmt.ok()) return stmt.error();
    }
    StatementReset reset{*stmt};
    std::optional<Tokenizer> tokenizer;
    Needles needles;
    for (const int64_t cut : {first_cut, int64_t{-1}}) {
      page = SearchPage{};
      (*stmt)->Reset();
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
          .Bind(10, static_cast<int64_t>(offset))
          .Bind(11, cut);
      int64_t rows = 0;
      int64_t candidates = -1;  // rows the ranking step kept (known once a row came back)
      for (;;) {
        auto row = (*stmt)->Step();
        if (!row.ok()) return row.error();
        if (!*row) break;
        const storage::Statement& s = **stmt;
        candidates = s.ColumnInt(14);
        if (s.ColumnIsNull(0)) continue;  // no hit: only the count
        ++rows;
        if (page.hits.size() == limit) {
          page.more = true;
          break;
        }
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
        if (!tokenizer) {
          tokenizer.emplace(Fts5Api(db));
          needles = MakeNeedles(*tokenizer, terms);
        }
        hit.snippet = MakeSnippet(*tokenizer, needles, hit.title, s.ColumnText(9));
        hit.score = s.ColumnDouble(10);
        hit.tags = ParseTags(s.ColumnText(12));
        hit.archived = s.ColumnText(13) == "archived";
        switch (hit.kind) {
          case SearchKind::kPerson:
            // Local members are indexed by handle (the index does not know the node's domain).
            hit.address =
                address.find('@') == std::string::npos ? address + "@" + domain_ : address;
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
      // A full page, or every match was ranked and checked: done. Otherwise visible hits may
      // lie beyond the cut (the best ones were not the viewer's to see, or filtered out).
      if (rows == static_cast<int64_t>(limit + 1) || cut < 0) break;
      if (candidates < cut) break;
    }
    return page;
  });
}

}  // namespace kith::groups
