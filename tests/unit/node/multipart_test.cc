#include "node/multipart.h"

#include <gtest/gtest.h>

#include <string>

namespace kith::node {
namespace {

const std::string kType = "multipart/form-data; boundary=XyZ123";

std::string Body(const std::string& file_content) {
  return "preamble to ignore\r\n"
         "--XyZ123\r\n"
         "Content-Disposition: form-data; name=\"title\"\r\n"
         "\r\n"
         "Annual report\r\n"
         "--XyZ123\r\n"
         "Content-Disposition: form-data; name=\"tags\"\r\n"
         "\r\n"
         "budget, 2026\r\n"
         "--XyZ123\r\n"
         "Content-Disposition: form-data; name=\"file\"; "
         "filename=\"C:\\\\docs\\\\r\xc3\xa9port.pdf\"\r\n"
         "Content-Type: application/pdf\r\n"
         "\r\n" +
         file_content +
         "\r\n"
         "--XyZ123--\r\n"
         "epilogue\r\n";
}

struct Parsed {
  Status status;
  std::string file;
  std::unique_ptr<MultipartSink> sink;
};

// Feeds `body` split at the given positions.
Parsed Parse(const std::string& body, std::vector<size_t> cuts, MultipartLimits limits = {},
             const std::string& type = kType) {
  Parsed out;
  auto sink = MultipartSink::Create(
      type,
      [&out](std::string_view bytes) {
        out.file.append(bytes);
        return OkStatus();
      },
      limits);
  if (!sink.ok()) {
    out.status = sink.error();
    return out;
  }
  out.sink = std::move(sink.value());
  size_t at = 0;
  cuts.push_back(body.size());
  for (size_t cut : cuts) {
    Status s = out.sink->Write(std::string_view(body).substr(at, cut - at));
    if (!s.ok()) {
      out.status = s;
      return out;
    }
    at = cut;
  }
  out.status = out.sink->Finish();
  return out;
}

TEST(MultipartTest, ParsesFieldsAndFileInOneChunk) {
  std::string content = "%PDF-1.7\r\n--XyZ12 not a delimiter\r\n\r\n-XyZ123 nor this: one dash";
  Parsed p = Parse(Body(content), {});
  ASSERT_TRUE(p.status.ok()) << p.status.error().message;
  EXPECT_EQ(p.file, content);
  ASSERT_NE(p.sink->file(), nullptr);
  EXPECT_EQ(p.sink->file()->field_name, "file");
  EXPECT_EQ(p.sink->file()->filename, "r\xc3\xa9port.pdf");
  EXPECT_EQ(p.sink->file()->content_type, "application/pdf");
  EXPECT_EQ(p.sink->file()->size, static_cast<int64_t>(content.size()));
  EXPECT_EQ(p.sink->Field("title"), "Annual report");
  EXPECT_EQ(p.sink->Field("tags"), "budget, 2026");
  EXPECT_EQ(p.sink->Field("missing"), std::nullopt);
}

TEST(MultipartTest, EveryChunkBoundaryGivesTheSameResult) {
  std::string content;
  for (int i = 0; i < 300; ++i) content += static_cast<char>(i * 7 % 256);
  content += "\r\n--XyZ12";  // a partial delimiter inside the data
  std::string body = Body(content);
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    Parsed p = Parse(body, {cut});
    ASSERT_TRUE(p.status.ok()) << "cut at " << cut << ": " << p.status.error().message;
    ASSERT_EQ(p.file, content) << "cut at " << cut;
    ASSERT_EQ(p.sink->Field("title"), "Annual report") << "cut at " << cut;
  }
  // Byte by byte.
  std::vector<size_t> every;
  for (size_t i = 1; i < body.size(); ++i) every.push_back(i);
  Parsed p = Parse(body, every);
  ASSERT_TRUE(p.status.ok()) << p.status.error().message;
  EXPECT_EQ(p.file, content);
  EXPECT_EQ(p.sink->Field("tags"), "budget, 2026");
}

TEST(MultipartTest, BodyStartingWithTheDelimiterAndNoFile) {
  std::string body = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--";
  Parsed p = Parse(body, {}, {}, "multipart/form-data; boundary=\"b\"");
  ASSERT_TRUE(p.status.ok()) << p.status.error().message;
  EXPECT_EQ(p.sink->file(), nullptr);
  EXPECT_EQ(p.sink->Field("a"), "1");
}

TEST(MultipartTest, FilenameStarIsDecoded) {
  std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''na%C3%AFve.txt\r\n"
      "\r\nhello\r\n--b--\r\n";
  Parsed p = Parse(body, {}, {}, "multipart/form-data; boundary=b");
  ASSERT_TRUE(p.status.ok()) << p.status.error().message;
  ASSERT_NE(p.sink->file(), nullptr);
  EXPECT_EQ(p.sink->file()->filename, "na\xc3\xafve.txt");
  EXPECT_EQ(p.file, "hello");
}

TEST(MultipartTest, BadContentTypesAndBoundaries) {
  EXPECT_EQ(Parse("", {}, {}, "application/json").status.error().code,
            ErrorCode::kUnsupportedMediaType);
  Status missing = Parse("", {}, {}, "multipart/form-data").status;
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("boundary"), std::string::npos);
  EXPECT_FALSE(Parse("", {}, {}, "multipart/form-data; boundary=").status.ok());
  EXPECT_FALSE(
      Parse("", {}, {}, "multipart/form-data; boundary=" + std::string(71, 'a')).status.ok());
  EXPECT_FALSE(Parse("", {}, {}, "multipart/form-data; boundary=\"unclosed").status.ok());
}

TEST(MultipartTest, BadBodies) {
  auto err = [](const std::string& body, MultipartLimits limits = {}) {
    Parsed p = Parse(body, {}, limits, "multipart/form-data; boundary=b");
    EXPECT_FALSE(p.status.ok()) << body;
    return p.status.ok() ? std::string() : p.status.error().message;
  };
  EXPECT_NE(err("").find("closing boundary"), std::string::npos);
  EXPECT_NE(err("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end")
                .find("closing boundary"),
            std::string::npos);
  EXPECT_NE(err("--b\r\nnot a header\r\n\r\nx\r\n--b--").find("header"), std::string::npos);
  EXPECT_NE(err("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--").find("Content-Disposition"),
            std::string::npos);
  EXPECT_NE(err("--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--").find("name"),
            std::string::npos);
  EXPECT_NE(err("--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\nx\r\n"
                "--b\r\nContent-Disposition: form-data; name=\"g\"; filename=\"b\"\r\n\r\ny\r\n"
                "--b--")
                .find("more than one file"),
            std::string::npos);
  EXPECT_NE(err("--bXX\r\n").find("delimiter"), std::string::npos);
  MultipartLimits small;
  small.max_header_bytes = 64;
  EXPECT_NE(err("--b\r\nContent-Disposition: form-data; name=\"" + std::string(100, 'n') +
                    "\"\r\n\r\nx\r\n--b--",
                small)
                .find("headers larger"),
            std::string::npos);
  small = {};
  small.max_field_bytes = 10;
  Parsed p = Parse("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n" +
                       std::string(20, 'v') + "\r\n--b--",
                   {}, small, "multipart/form-data; boundary=b");
  ASSERT_FALSE(p.status.ok());
  EXPECT_EQ(p.status.error().code, ErrorCode::kTooLarge);
  small = {};
  small.max_parts = 2;
  std::string many;
  for (int i = 0; i < 3; ++i)
    many += "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n";
  EXPECT_NE(err(many + "--b--", small).find("parts"), std::string::npos);
  small = {};
  small.max_preamble_bytes = 100;
  EXPECT_NE(err(std::string(1000, 'p'), small).find("no multipart boundary"), std::string::npos);
}

TEST(MultipartTest, FileWriterErrorStopsTheParse) {
  auto sink = MultipartSink::Create("multipart/form-data; boundary=b", [](std::string_view) {
    return Status(MakeError(ErrorCode::kTooLarge, "file larger than the limit"));
  });
  ASSERT_TRUE(sink.ok());
  Status s = sink.value()->Write(
      "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n" +
      std::string(100, 'x'));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kTooLarge);
  EXPECT_FALSE(sink.value()->Write("more").ok());
  EXPECT_FALSE(sink.value()->Finish().ok());
}

}  // namespace
}  // namespace kith::node
