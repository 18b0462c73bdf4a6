// Search: one SQLite FTS5 index (migration 0007, tables `search_docs` + `search_fts`) over
//  * people: local members with directory visibility network or node (active ones), and
//    remote profiles from peers' directory streams;
//  * groups: every group known here (owned or mirrored, private ones included — filtered at
//    query time) and remote listings from directory streams;
//  * group content of groups owned or mirrored here: thread titles, post bodies (replies and
//    first posts), document titles, descriptions and tags.
// The index is kept by SQL triggers on the projection tables, so it changes in the same
// transaction as the projection (a crash cannot leave them apart); a deleted post or removed
// document leaves the index with its tombstone.
//
// Permission rules (applied inside the query, so pagination counts only visible hits):
//  * a person with visibility `network`: everyone; `node`: viewers of this node only; hidden
//    and disabled members are never indexed;
//  * a group listing: public and restricted ones for everyone; a private group only for its
//    members;
//  * group content: a public group's for everyone; a restricted or private group's only for
//    its members;
//  * a group scoped to a network (Group::network) and its content: as above for viewers of this
//    node and members; hidden from other viewers (members of peers signed in here), since
//    groups/ cannot tell which peers reach the network.
//
// Thread-safety: Searcher is thread-safe (each call borrows a reader connection).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/result.h"
#include "storage/store.h"

namespace kith::groups {

enum class SearchKind { kPerson, kGroup, kThread, kPost, kDocument };

std::string_view SearchKindName(SearchKind kind);  // "person" | "group" | "thread" | "post" |
                                                   // "document"
Result<SearchKind> ParseSearchKind(std::string_view name);

// Turns user text into a safe FTS5 query: every term (a run of letters/digits, by Unicode
// code point) becomes a quoted string, terms are ANDed, the last one is a prefix match when it
// has at least 2 characters ("road tra" → "road" "tra"*; "james s" → "james" "s": a 1-letter
// prefix would match most of the index). FTS5 operators typed by the user (AND, OR, NOT,
// NEAR, '*',
// '-', '^', ':', quotes, parentheses) are plain text. At most 16 terms (the rest is ignored);
// invalid UTF-8 bytes are dropped. Returns "" when the text holds no term.
std::string FtsQuery(std::string_view text);

struct SearchFilters {
  std::vector<SearchKind> kinds;  // empty: all kinds
  std::string organisation;       // people: exact organisation (case-insensitive); "" = any.
                                  // When set, only people are returned.
  std::string node;               // the domain of the person or group; "" = any
  std::string visibility;         // people: "network" | "node"; groups/content: "public" |
                                  // "restricted" | "private"; "" = any
};

// One piece of a snippet: text as stored (not HTML-escaped), and whether it matched.
struct SnippetPart {
  std::string text;
  bool match = false;
};

struct SearchHit {
  SearchKind kind = SearchKind::kPerson;
  std::string title;  // person: display name; group: name; thread/post: thread title;
                      // document: title
  std::vector<SnippetPart> snippet;  // of the best matching text, about 16 words
  double score = 0;  // lower is better (results are in this order); see Searcher::Search
  // Link target:
  std::string address;            // person: "handle@domain"
  std::string group;              // group, thread, post, document: "slug@domain"
  int64_t thread_id = 0;          // thread, post
  int64_t post_id = 0;            // post (a thread hit has post_id == thread_id)
  int64_t document_id = 0;        // document
  std::string organisation;       // person
  std::string job_title;          // person
  std::string node;               // domain of the person / group
  std::string visibility;         // person: network|node; group/content: public|restricted|private
  std::vector<std::string> tags;  // group, document: its tags (as the group / file has them)
  bool archived = false;          // group: archived; thread, post, document: in an archived
                                  // group. Archived groups stay findable (safe harbour).
};

struct SearchPage {
  std::vector<SearchHit> hits;
  bool more = false;  // a further page exists (offset + limit)
};

class Searcher {
 public:
  // `domain` is this node's domain.
  Searcher(storage::Store& store, std::string domain);

  // Ranked hits for `query` that `viewer`
  // ("handle@domain" of the signed-in member, local or remote; "" = anonymous, who sees what
  // everyone sees) may see, after `offset` visible hits, at most `limit` (1..100).
  // kInvalidArgument for limit out of range, a negative or > 10,000 offset, a query over
  // 500 bytes or bad filters. A query without terms returns an empty page (not an error).
  //
  // Ranking: BM25's term-frequency part with titles weighing 10 and bodies 1, without the
  // document length (reading it costs a lookup per match; see search.cc), so matches with
  // the terms in the title come first. Every match is ranked; permissions are checked on
  // the best ones first and on all of them when those leave the page short, so a page is
  // never short while visible hits exist. Snippets are made for the page's hits only.
  Result<SearchPage> Search(std::string_view viewer, std::string_view query,
                            const SearchFilters& filters, size_t limit, size_t offset);

 private:
  storage::Store& store_;
  std::string domain_;
};

}  // namespace kith::groups
