// The members' pages (node/group_pages.h): a group's library — documents, uploads (a
// multipart form streamed into the FileStore, like the API's uploads), a document's versions
// with links to the API's download route, new versions and removal.
#include <boost/asio/post.hpp>
#include <string>
#include <utility>

#include "node/await.h"
#include "node/group_pages.h"
#include "node/multipart.h"
#include "node/web_util.h"

namespace kith::node::pages {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

constexpr size_t kDocumentsPerPage = 20;

// The body of an upload form: the file part goes into a FileStore upload as it arrives; the
// other fields (csrf_token, title, description) are kept by the MultipartSink.
class PageUploadSink final : public BodySink {
 public:
  std::unique_ptr<groups::Upload> upload;
  std::unique_ptr<MultipartSink> multipart;
  Status Write(std::string_view chunk) override { return multipart->Write(chunk); }
  Status Finish() override { return multipart->Finish(); }
};

int64_t AfterParam(const RequestContext& ctx) {
  auto after = ctx.QueryParam("after");
  if (!after || after->empty() || after->size() > 18) return 0;
  int64_t v = 0;
  for (char c : *after) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + (c - '0');
  }
  return v;
}

// The stored name and type of an uploaded file (plain functions: see HostLabel in
// group_pages.cc on conditional temporaries in coroutines).
std::string StoredFilename(const MultipartFile& file) {
  if (file.filename.empty()) return "file";
  return file.filename;
}

std::string StoredMediaType(const MultipartFile& file) {
  if (file.content_type.empty()) return "application/octet-stream";
  return api::SanitiseMediaType(file.content_type);
}

std::string DownloadPath(const groups::GroupRef& ref, int64_t doc, int64_t version) {
  return "/api/v1/groups/" + ref.Id() + "/documents/" + std::to_string(doc) +
         "/download?version=" + std::to_string(version);
}

}  // namespace

Result<std::unique_ptr<BodySink>> GroupPages::MakeUploadSink(const RequestContext& ctx) {
  if (!AnySession(web_, ctx)) {
    return MakeError(ErrorCode::kUnauthenticated, "sign in to upload documents");
  }
  auto type_field = ctx.request[http::field::content_type];
  auto upload = api_ctx_.files->Begin(api_ctx_.max_upload_bytes);
  if (!upload.ok()) return std::move(upload).error();
  auto sink = std::make_unique<PageUploadSink>();
  sink->upload = std::move(upload).value();
  groups::Upload* raw = sink->upload.get();
  const int64_t limit = api_ctx_.max_upload_bytes;
  auto multipart = MultipartSink::Create(
      std::string_view(type_field.data(), type_field.size()),
      [raw, limit](std::string_view bytes) -> Status {
        Status s = raw->Write(bytes);
        if (!s.ok() && s.error().code == ErrorCode::kTooLarge) {
          return MakeError(ErrorCode::kTooLarge,
                           "the file is larger than the limit of " + FormatSize(limit));
        }
        return s;
      });
  if (!multipart.ok()) return std::move(multipart).error();
  sink->multipart = std::move(multipart).value();
  return std::unique_ptr<BodySink>(std::move(sink));
}

// The library page, with `extra` merged into its data.
static asio::awaitable<Response> LibraryPage(GroupPages& p, RequestContext& ctx,
                                             const SignedIn& who, json extra, http::status status) {
  auto view_or = p.LoadGroup(ctx, who, true, "library");
  if (auto* res = std::get_if<Response>(&view_or)) co_return std::move(*res);
  GroupPages::GroupView& view = std::get<GroupPages::GroupView>(view_or);
  const int64_t after = AfterParam(ctx);
  const groups::GroupRef& ref = view.group.ref;
  auto docs = p.api_context().groups->Documents(ref.Stream(), after, kDocumentsPerPage);
  if (!docs.ok()) co_return p.Failure(&who, docs.error());
  const std::string base = GroupPath(ref);
  json out = json::array();
  for (const groups::Document& d : docs->items) {
    if (d.deleted) continue;
    out.push_back({{"title", d.title},
                   {"path", base + "/library/" + std::to_string(d.id)},
                   {"filename", d.current.filename},
                   {"size", FormatSize(d.current.size)},
                   {"version", d.current.version},
                   {"updated", FormatTime(d.updated_at)},
                   {"author", d.author},
                   {"download_path", DownloadPath(ref, d.id, d.current.version)}});
  }
  json& data = view.data;
  data["page_title"] = (HasErrors(extra) ? "Error: Library – " : "Library – ") + view.group.name;
  data["documents"] = std::move(out);
  data["max_size"] = FormatSize(p.api_context().max_upload_bytes);
  if (docs->next_after) {
    data["pagination"] = {{"next", base + "/library?after=" + std::to_string(*docs->next_after)}};
  }
  for (auto& [k, v] : extra.items()) data[k] = v;
  co_return p.Page(who, status, "group-library", std::move(data));
}

// The document page, with `extra` merged into its data.
static asio::awaitable<Response> DocPage(GroupPages& p, RequestContext& ctx, const SignedIn& who,
                                         json extra, http::status status) {
  auto view_or = p.LoadGroup(ctx, who, true, "library");
  if (auto* res = std::get_if<Response>(&view_or)) co_return std::move(*res);
  GroupPages::GroupView& view = std::get<GroupPages::GroupView>(view_or);
  auto id = api::IdParam(ctx, "doc");
  const Error not_found = MakeError(ErrorCode::kNotFound, "there is no such document");
  if (!id.ok()) co_return p.Failure(&who, not_found);
  const groups::GroupRef& ref = view.group.ref;
  auto doc = p.api_context().groups->GetDocument(ref.Stream(), *id);
  if (!doc.ok()) co_return p.Failure(&who, doc.error());
  if (doc->deleted)
    co_return p.Failure(&who, MakeError(ErrorCode::kNotFound, "this document was removed"));
  auto versions = p.api_context().groups->Versions(ref.Stream(), *id);
  if (!versions.ok()) co_return p.Failure(&who, versions.error());
  json vs = json::array();
  for (auto it = versions->rbegin(); it != versions->rend(); ++it) {
    vs.push_back({{"version", it->version},
                  {"filename", it->filename},
                  {"size", FormatSize(it->size)},
                  {"media_type", it->media_type},
                  {"author", it->author},
                  {"when", FormatTime(it->created_at)},
                  {"current", it->version == doc->current.version},
                  {"download_path", DownloadPath(ref, *id, it->version)}});
  }
  const bool facilitator = view.role && *view.role >= groups::Role::kFacilitator;
  const bool writable = view.role.has_value() && view.group.status == groups::GroupStatus::kActive;
  const std::string doc_path = GroupPath(ref, "/library/" + std::to_string(*id));
  json& data = view.data;
  data["page_title"] = (HasErrors(extra) ? "Error: " : "") + doc->title + " – " + view.group.name;
  data["document"] = {{"id", doc->id},
                      {"title", doc->title},
                      {"description", doc->description},
                      {"tags", doc->tags},
                      {"author", doc->author},
                      {"created", FormatTime(doc->created_at)},
                      {"updated", FormatTime(doc->updated_at)},
                      {"filename", doc->current.filename},
                      {"size", FormatSize(doc->current.size)},
                      {"download_path", DownloadPath(ref, *id, doc->current.version)},
                      {"versions_path", doc_path + "/versions"},
                      {"remove_path", doc_path + "/remove"}};
  data["versions"] = std::move(vs);
  data["can_add_version"] = writable;
  data["can_remove"] = writable && (facilitator || doc->author == who.viewer.address);
  data["library_path"] = GroupPath(ref, "/library");
  data["max_size"] = FormatSize(p.api_context().max_upload_bytes);
  for (auto& [k, v] : extra.items()) data[k] = v;
  co_return p.Page(who, status, "group-document", std::move(data));
}

asio::awaitable<Response> GroupPages::Library(RequestContext& ctx) {
  auto who_or = RequireMember(ctx);
  if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
  co_return co_await LibraryPage(*this, ctx, std::get<SignedIn>(who_or), json::object(),
                                 http::status::ok);
}

asio::awaitable<Response> GroupPages::DocumentPage(RequestContext& ctx) {
  auto who_or = RequireMember(ctx);
  if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
  co_return co_await DocPage(*this, ctx, std::get<SignedIn>(who_or), json::object(),
                             http::status::ok);
}

asio::awaitable<Response> GroupPages::Upload(RequestContext& ctx, bool new_version) {
  auto who_or = RequireMember(ctx);
  if (auto* res = std::get_if<Response>(&who_or)) co_return std::move(*res);
  const SignedIn& who = std::get<SignedIn>(who_or);
  auto* sink = dynamic_cast<PageUploadSink*>(ctx.body_sink.get());
  if (sink == nullptr) {
    co_return Failure(&who, MakeError(ErrorCode::kInternal, "upload route without its body sink"));
  }
  if (!identity::SessionStore::CheckCsrf(who.session,
                                         sink->multipart->Field("csrf_token").value_or(""))) {
    co_return ErrorPage(web_, http::status::forbidden, "This form has expired",
                        "The form was out of date or not sent from this site, so nothing was "
                        "changed. Go back, reload the page and try again.",
                        &who.session);
  }
  auto ref = api::GroupParam(ctx);
  if (!ref.ok()) co_return Failure(&who, ref.error());
  int64_t document = 0;
  if (new_version) {
    auto id = api::IdParam(ctx, "doc");
    if (!id.ok()) {
      co_return Failure(&who, MakeError(ErrorCode::kNotFound, "there is no such document"));
    }
    document = *id;
  }
  const MultipartFile* file = sink->multipart->file();
  const std::string title = Trim(sink->multipart->Field("title").value_or(""));
  const std::string description = sink->multipart->Field("description").value_or("");
  json extra{{"upload_title", title}, {"upload_description", description}};
  if (file == nullptr || (file->filename.empty() && file->size == 0)) {
    AddFieldError(extra, "file", "Select a file to upload");
  } else if (file->filename.size() > groups::kMaxFilename) {
    AddFieldError(extra, "file", "The file's name must be at most 255 characters");
  }
  if (HasErrors(extra)) {
    if (new_version) {
      co_return co_await DocPage(*this, ctx, who, std::move(extra), http::status::bad_request);
    }
    co_return co_await LibraryPage(*this, ctx, who, std::move(extra), http::status::bad_request);
  }
  const std::string filename = StoredFilename(*file);
  const std::string media_type = StoredMediaType(*file);
  // fsync and rename off the I/O thread.
  groups::Upload* raw = sink->upload.get();
  asio::thread_pool* pool = api_ctx_.blocking_pool;
  auto stored = co_await AwaitDone<groups::StoredFile>(
      [raw, pool](std::function<void(Result<groups::StoredFile>)> done) {
        asio::post(*pool, [raw, done = std::move(done)] { done(raw->Commit()); });
      });
  if (!stored.ok()) co_return Failure(&who, stored.error());
  groups::Command command;
  if (new_version) {
    command = MakeCommand(*ref, groups::event_type::kFileVersionAdded, who,
                          json{{"document", document},
                               {"sha256", stored->sha256},
                               {"size", stored->size},
                               {"media_type", media_type},
                               {"filename", filename}});
  } else {
    command = MakeCommand(*ref, groups::event_type::kFileAdded, who,
                          json{{"title", title.empty() ? filename : title},
                               {"description", description},
                               {"tags", json::array()},
                               {"sha256", stored->sha256},
                               {"size", stored->size},
                               {"media_type", media_type},
                               {"filename", filename}});
    if (Status s = groups::ValidateEventData(command.type, command.data); !s.ok()) {
      AddFieldError(extra, s.error().message.rfind("description", 0) == 0 ? "description" : "title",
                    s.error().message);
      co_return co_await LibraryPage(*this, ctx, who, std::move(extra), http::status::bad_request);
    }
  }
  // Named, not temporaries in a conditional: GCC 12 destroys those twice around a co_await.
  std::string back = GroupPath(*ref, "/library");
  if (new_version) back += "/" + std::to_string(document);
  std::string notice = new_version ? "version" : "uploaded";
  co_return co_await SubmitThenRedirect(who, std::move(command), std::move(back),
                                        std::move(notice));
}

asio::awaitable<Response> GroupPages::RemoveDocument(RequestContext& ctx) {
  auto call_or = BeginGroupForm(ctx);
  if (auto* res = std::get_if<Response>(&call_or)) co_return std::move(*res);
  const GroupFormCall& call = std::get<GroupFormCall>(call_or);
  const SignedIn& who = call.who;
  const groups::GroupRef& ref = call.ref;
  auto id = api::IdParam(ctx, "doc");
  if (!id.ok())
    co_return Failure(&who, MakeError(ErrorCode::kNotFound, "there is no such document"));
  groups::Command command =
      MakeCommand(ref, groups::event_type::kFileRemoved, who, json{{"document", *id}});
  co_return co_await SubmitThenRedirect(who, std::move(command), GroupPath(ref, "/library"),
                                        std::string("removed"));
}

}  // namespace kith::node::pages
