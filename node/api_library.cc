// /api/v1: the document library — uploads (multipart or JSON, streamed to the FileStore),
// documents, versions and downloads with Range (node/api_routes.h).
#include <sodium.h>
#include <strings.h>

#include <boost/asio/post.hpp>
#include <filesystem>

#include "node/api_util.h"
#include "node/await.h"
#include "node/multipart.h"

namespace kith::node::api {
namespace {

// The declared media type, or the generic one. A plain function: GCC 12 may destroy a
// temporary of a ?: inside a coroutine twice.
std::string MediaTypeOrDefault(const std::string& declared) {
  if (declared.empty()) return "application/octet-stream";
  return declared;
}

namespace asio = boost::asio;
using nlohmann::json;

constexpr size_t kMaxJsonContent = 1024 * 1024;  // decoded bytes of a JSON upload
// base64 of kMaxJsonContent plus room for the other fields.
constexpr size_t kMaxJsonUploadBody = kMaxJsonContent / 3 * 4 + 8 + 128 * 1024;

// The body of an upload route: multipart into a FileStore upload, or a small JSON body.
class UploadSink final : public BodySink {
 public:
  std::unique_ptr<groups::Upload> upload;    // multipart only
  std::unique_ptr<MultipartSink> multipart;  // multipart only
  std::string json;                          // JSON only
  bool is_json = false;

  Status Write(std::string_view chunk) override {
    if (!is_json) return multipart->Write(chunk);
    if (json.size() + chunk.size() > kMaxJsonUploadBody) {
      return MakeError(ErrorCode::kTooLarge,
                       "JSON uploads carry at most " + std::to_string(kMaxJsonContent) +
                           " bytes of content; send larger files as multipart/form-data",
                       "too_large");
    }
    json.append(chunk);
    return OkStatus();
  }
  Status Finish() override { return is_json ? OkStatus() : multipart->Finish(); }
};

bool IsJsonType(std::string_view content_type) {
  std::string_view main = content_type.substr(0, content_type.find(';'));
  while (!main.empty() && main.back() == ' ') main.remove_suffix(1);
  return main.size() == 16 && strncasecmp(main.data(), "application/json", 16) == 0;
}

// The file's name as stored: never empty.
std::string StoredFilename(std::string_view name) {
  return name.empty() ? std::string("file") : std::string(name);
}

json NextAfter(const std::optional<int64_t>& next) { return next ? json(*next) : json(nullptr); }

}  // namespace

Result<std::unique_ptr<BodySink>> Api::MakeUploadSink(const RequestContext& ctx) {
  auto viewer = Authenticate(c_, ctx);
  if (!viewer.ok()) return std::move(viewer).error();
  auto type_field = ctx.request[http::field::content_type];
  std::string_view type(type_field.data(), type_field.size());
  auto sink = std::make_unique<UploadSink>();
  if (IsJsonType(type)) {
    sink->is_json = true;
    return std::unique_ptr<BodySink>(std::move(sink));
  }
  auto upload = c_.files->Begin(c_.max_upload_bytes);
  if (!upload.ok()) return std::move(upload).error();
  sink->upload = std::move(upload).value();
  groups::Upload* raw = sink->upload.get();
  const int64_t limit = c_.max_upload_bytes;
  auto multipart = MultipartSink::Create(type, [raw, limit](std::string_view bytes) -> Status {
    Status s = raw->Write(bytes);
    if (!s.ok() && s.error().code == ErrorCode::kTooLarge) {
      return MakeError(ErrorCode::kTooLarge,
                       "the file is larger than the limit of " + std::to_string(limit) + " bytes",
                       "too_large");
    }
    return s;
  });
  if (!multipart.ok()) return std::move(multipart).error();
  sink->multipart = std::move(multipart).value();
  return std::unique_ptr<BodySink>(std::move(sink));
}

asio::awaitable<Response> Api::Upload(RequestContext& ctx, bool new_version) {
  auto call = BeginGroup(ctx, false, GroupAccess::kAny);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  int64_t document = 0;
  if (new_version) {
    auto id = IdParam(ctx, "doc");
    if (!id.ok()) co_return Fail(id.error());
    document = *id;
  }
  auto* sink = dynamic_cast<UploadSink*>(ctx.body_sink.get());
  if (sink == nullptr) {
    co_return Fail(MakeError(ErrorCode::kInternal, "upload route without its body sink"));
  }
  std::optional<std::string> title, description, tags_csv;
  std::optional<std::vector<std::string>> tags;
  std::string filename, media_type;
  std::unique_ptr<groups::Upload> upload;
  if (sink->is_json) {
    auto body = JsonBody(sink->json);
    if (!body.ok()) co_return Fail(body.error());
    auto t = OptString(*body, "title");
    auto d = OptString(*body, "description");
    auto g = OptTags(*body, "tags");
    auto f = OptString(*body, "filename");
    auto m = OptString(*body, "media_type");
    auto content = OptString(*body, "content_base64");
    for (const Error* e :
         {t.ok() ? nullptr : &t.error(), d.ok() ? nullptr : &d.error(),
          g.ok() ? nullptr : &g.error(), f.ok() ? nullptr : &f.error(),
          m.ok() ? nullptr : &m.error(), content.ok() ? nullptr : &content.error()}) {
      if (e) co_return Fail(*e);
    }
    if (!*f || !*content) {
      co_return Fail(
          MakeError(ErrorCode::kInvalidArgument, "filename and content_base64: required"));
    }
    const std::string& b64 = **content;
    std::string bytes(b64.size() / 4 * 3 + 3, '\0');
    size_t len = 0;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), b64.data(),
                          b64.size(), " \t\r\n", &len, nullptr,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
      co_return Fail(MakeError(ErrorCode::kInvalidArgument,
                               "content_base64: not valid base64 (standard alphabet, padded)"));
    }
    bytes.resize(len);
    if (bytes.size() > kMaxJsonContent) {
      co_return Fail(MakeError(ErrorCode::kTooLarge,
                               "JSON uploads carry at most 1 MiB of content; use multipart"));
    }
    auto begun = c_.files->Begin(c_.max_upload_bytes);
    if (!begun.ok()) co_return Fail(begun.error());
    upload = std::move(begun).value();
    if (Status s = upload->Write(std::string_view(bytes)); !s.ok()) {
      if (s.error().code == ErrorCode::kTooLarge) {
        co_return Fail(MakeError(ErrorCode::kTooLarge,
                                 "the file is larger than the limit of " +
                                     std::to_string(c_.max_upload_bytes) + " bytes",
                                 "too_large"));
      }
      co_return Fail(s.error());
    }
    title = *t;
    description = *d;
    tags = *g;
    filename = **f;
    media_type = m->value_or("application/octet-stream");
  } else {
    const MultipartFile* file = sink->multipart->file();
    if (file == nullptr) {
      co_return Fail(MakeError(ErrorCode::kInvalidArgument,
                               "missing file: send one form part with a filename (name=\"file\")",
                               "missing_file"));
    }
    title = sink->multipart->Field("title");
    description = sink->multipart->Field("description");
    if (auto t = sink->multipart->Field("tags")) tags = SplitTags(*t);
    filename = file->filename;
    media_type = MediaTypeOrDefault(file->content_type);
    upload = std::move(sink->upload);
  }
  filename = StoredFilename(filename);
  media_type = SanitiseMediaType(media_type);
  if (filename.size() > groups::kMaxFilename) {
    co_return Fail(
        MakeError(ErrorCode::kInvalidArgument,
                  "filename: at most " + std::to_string(groups::kMaxFilename) + " bytes"));
  }
  // fsync and rename off the I/O thread.
  groups::Upload* raw = upload.get();
  asio::thread_pool* pool = c_.blocking_pool;
  auto stored = co_await AwaitDone<groups::StoredFile>(
      [raw, pool](std::function<void(Result<groups::StoredFile>)> done) {
        asio::post(*pool, [raw, done = std::move(done)] { done(raw->Commit()); });
      });
  if (!stored.ok()) co_return Fail(stored.error());
  groups::Command command;
  command.stream = ref.Stream();
  command.actor = call->viewer.address;
  if (new_version) {
    command.type = std::string(groups::event_type::kFileVersionAdded);
    command.data = json{{"document", document},
                        {"sha256", stored->sha256},
                        {"size", stored->size},
                        {"media_type", media_type},
                        {"filename", filename}};
  } else {
    command.type = std::string(groups::event_type::kFileAdded);
    command.data = json{{"title", title && !title->empty() ? *title : filename},
                        {"description", description.value_or("")},
                        {"tags", tags.value_or(std::vector<std::string>{})},
                        {"sha256", stored->sha256},
                        {"size", stored->size},
                        {"media_type", media_type},
                        {"filename", filename}};
  }
  co_return co_await Submit(std::move(command), true);
}

asio::awaitable<Response> Api::Documents(RequestContext& ctx) {
  auto call = BeginGroup(ctx, false, GroupAccess::kContent);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto page = GetPageParams(ctx);
  if (!page.ok()) co_return Fail(page.error());
  auto docs = c_.groups->Documents(ref.Stream(), page->after, page->limit);
  if (!docs.ok()) co_return Fail(docs.error());
  json out = json::array();
  for (const auto& d : docs->items) out.push_back(DocumentJson(d));
  co_return Json(http::status::ok,
                 json{{"documents", std::move(out)}, {"next_after", NextAfter(docs->next_after)}});
}

asio::awaitable<Response> Api::GetDocument(RequestContext& ctx) {
  auto call = BeginGroup(ctx, false, GroupAccess::kContent);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto id = IdParam(ctx, "doc");
  if (!id.ok()) co_return Fail(id.error());
  auto doc = c_.groups->GetDocument(ref.Stream(), *id);
  if (!doc.ok()) co_return Fail(doc.error());
  auto versions = c_.groups->Versions(ref.Stream(), *id);
  if (!versions.ok()) co_return Fail(versions.error());
  json out = json::array();
  for (const auto& v : *versions) out.push_back(VersionJson(v));
  co_return Json(http::status::ok, json{{"document", DocumentJson(*doc)}, {"versions", out}});
}

asio::awaitable<Response> Api::UpdateDocument(RequestContext& ctx) {
  auto call = BeginGroup(ctx, true, GroupAccess::kAny);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto id = IdParam(ctx, "doc");
  if (!id.ok()) co_return Fail(id.error());
  json data{{"document", *id}};
  for (const char* key : {"title", "description"}) {
    auto v = OptString(call->body, key);
    if (!v.ok()) co_return Fail(v.error());
    if (*v) data[key] = **v;
  }
  auto tags = OptTags(call->body, "tags");
  if (!tags.ok()) co_return Fail(tags.error());
  if (*tags) data["tags"] = **tags;
  if (data.size() == 1) {
    co_return Fail(MakeError(ErrorCode::kInvalidArgument,
                             "nothing to change: send title, description or tags"));
  }
  groups::Command command =
      MakeCommand(ref, groups::event_type::kFileUpdated, call->viewer, std::move(data));
  co_return co_await Submit(std::move(command), false);
}

asio::awaitable<Response> Api::DeleteDocument(RequestContext& ctx) {
  auto call = BeginGroup(ctx, false, GroupAccess::kAny);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto id = IdParam(ctx, "doc");
  if (!id.ok()) co_return Fail(id.error());
  groups::Command command =
      MakeCommand(ref, groups::event_type::kFileRemoved, call->viewer, json{{"document", *id}});
  co_return co_await Submit(std::move(command), false);
}

asio::awaitable<Response> Api::Download(RequestContext& ctx) {
  auto call = BeginGroup(ctx, false, GroupAccess::kContent);
  if (!call.ok()) co_return Fail(call.error());
  const groups::GroupRef& ref = call->ref;
  auto id = IdParam(ctx, "doc");
  if (!id.ok()) co_return Fail(id.error());
  const std::string stream = ref.Stream();
  auto doc = c_.groups->GetDocument(stream, *id);
  if (!doc.ok()) co_return Fail(doc.error());
  if (doc->deleted) co_return Fail(MakeError(ErrorCode::kNotFound, "the document was removed"));
  groups::DocumentVersion version = doc->current;
  if (auto wanted = ctx.QueryParam("version")) {
    auto versions = c_.groups->Versions(stream, *id);
    if (!versions.ok()) co_return Fail(versions.error());
    bool found = false;
    for (const auto& v : *versions) {
      if (std::to_string(v.version) == *wanted) {
        version = v;
        found = true;
      }
    }
    if (!found) co_return Fail(MakeError(ErrorCode::kNotFound, "no such version: " + *wanted));
  }
  auto path = co_await c_.replicator->EnsureFile(stream, version.sha256);
  if (!path.ok()) co_return Fail(path.error());
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(*path, ec);
  if (ec) {
    co_return Fail(MakeError(ErrorCode::kInternal, "the stored file cannot be read"));
  }
  const std::string etag = "\"" + version.sha256 + "\"";
  auto common = [&](Response& res) {
    res.set(http::field::etag, etag);
    res.set(http::field::accept_ranges, "bytes");
    res.set(http::field::cache_control, "private, no-cache");
    res.set("X-Content-Type-Options", "nosniff");
  };
  auto if_none_match = ctx.request[http::field::if_none_match];
  if (!if_none_match.empty() &&
      std::string_view(if_none_match.data(), if_none_match.size()).find(etag) !=
          std::string_view::npos) {
    Response res{http::status::not_modified, 11};
    common(res);
    co_return res;
  }
  auto range_header = ctx.request[http::field::range];
  RangeResult range = ParseRange(std::string_view(range_header.data(), range_header.size()), size);
  // If-Range with another validator: send the whole file.
  auto if_range = ctx.request[http::field::if_range];
  if (!if_range.empty() && std::string_view(if_range.data(), if_range.size()) != etag) {
    range.kind = RangeResult::Kind::kFull;
  }
  if (range.kind == RangeResult::Kind::kUnsatisfiable) {
    Response res =
        Fail(MakeError(ErrorCode::kInvalidArgument,
                       "range not satisfiable: the file has " + std::to_string(size) + " bytes",
                       "range_not_satisfiable"));
    res.result(http::status::range_not_satisfiable);
    res.set(http::field::content_range, "bytes */" + std::to_string(size));
    common(res);
    co_return res;
  }
  Response res{http::status::ok, 11};
  common(res);
  res.set(http::field::content_type, SanitiseMediaType(version.media_type));
  res.set(http::field::content_disposition, AttachmentDisposition(version.filename));
  // Whatever the type, never let it run as a page of this origin.
  res.set("Content-Security-Policy", "sandbox; default-src 'none'");
  FileResponse file{*path, 0, size};
  if (range.kind == RangeResult::Kind::kPartial) {
    res.result(http::status::partial_content);
    res.set(http::field::content_range, "bytes " + std::to_string(range.first) + "-" +
                                            std::to_string(range.last) + "/" +
                                            std::to_string(size));
    file.offset = range.first;
    file.length = range.last - range.first + 1;
  }
  ctx.file_response = std::move(file);
  co_return res;
}

}  // namespace kith::node::api
