#include "groups/file_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/unit/identity/identity_test_util.h"

namespace kith::groups {
namespace {

namespace fs = std::filesystem;
using identity::testing::TempDir;

constexpr std::string_view kAbcSha256 =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

size_t CountFiles(const fs::path& dir) {
  size_t n = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) ++n;
  }
  return n;
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class FileStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto files = FileStore::Open(dir_.path() / "files");
    ASSERT_TRUE(files.ok()) << files.error().message;
    files_ = std::move(files).value();
  }
  fs::path Tmp() const { return dir_.path() / "files" / "tmp"; }

  TempDir dir_;
  std::unique_ptr<FileStore> files_;
};

TEST_F(FileStoreTest, OpenCreatesPrivateDirectories) {
  for (const char* sub : {"", "sha256", "tmp"}) {
    struct stat st {};
    ASSERT_EQ(::stat((dir_.path() / "files" / sub).c_str(), &st), 0) << sub;
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0700u) << sub;
  }
}

TEST_F(FileStoreTest, CommitStoresByContent) {
  auto upload = files_->Begin(1024);
  ASSERT_TRUE(upload.ok()) << upload.error().message;
  ASSERT_TRUE((*upload)->Write("a").ok());
  ASSERT_TRUE((*upload)->Write(std::string_view("bc")).ok());
  EXPECT_EQ((*upload)->size(), 3);
  EXPECT_EQ(CountFiles(Tmp()), 1u);
  auto stored = (*upload)->Commit(kAbcSha256);
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  EXPECT_EQ(stored->sha256, kAbcSha256);
  EXPECT_EQ(stored->size, 3);
  auto path = files_->PathOf(kAbcSha256);
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(*path, dir_.path() / "files" / "sha256" / "ba" / "78" / std::string(kAbcSha256));
  EXPECT_EQ(ReadAll(*path), "abc");
  EXPECT_TRUE(*files_->Has(kAbcSha256));
  EXPECT_EQ(CountFiles(Tmp()), 0u);
  upload->reset();
  EXPECT_TRUE(fs::exists(*path));  // destroying a committed upload keeps the file
  EXPECT_FALSE((*files_->Has(std::string(64, '0'))));

  // Without an expected hash, the computed one is returned; the same content again is kept.
  auto again = files_->Begin(1024);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Write("abc").ok());
  auto second = (*again)->Commit();
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->sha256, kAbcSha256);
  EXPECT_EQ(CountFiles(dir_.path() / "files"), 1u);
  EXPECT_FALSE((*again)->Commit().ok());  // once only
}

TEST_F(FileStoreTest, EmptyFileAndLargeChunks) {
  auto empty = files_->Begin(0);
  ASSERT_TRUE(empty.ok());
  auto stored = (*empty)->Commit();
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  EXPECT_EQ(stored->sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

  auto big = files_->Begin(8 << 20);
  ASSERT_TRUE(big.ok());
  const std::vector<uint8_t> chunk(1 << 20, 0x61);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE((*big)->Write(std::span<const uint8_t>(chunk)).ok());
  auto done = (*big)->Commit();
  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ(done->size, 8 << 20);
  EXPECT_EQ(fs::file_size(*files_->PathOf(done->sha256)), 8u << 20);
}

TEST_F(FileStoreTest, HashMismatchStoresNothing) {
  auto upload = files_->Begin(1024);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Write("abd").ok());
  auto stored = (*upload)->Commit(kAbcSha256);
  ASSERT_FALSE(stored.ok());
  EXPECT_EQ(stored.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(stored.error().message.find("content does not match sha256"), std::string::npos);
  EXPECT_FALSE(*files_->Has(kAbcSha256));
  upload->reset();
  EXPECT_EQ(CountFiles(dir_.path() / "files"), 0u);
}

TEST_F(FileStoreTest, SizeLimit) {
  auto upload = files_->Begin(5);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Write("12345").ok());
  auto over = (*upload)->Write("6");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, ErrorCode::kTooLarge);
  EXPECT_FALSE((*upload)->Write("").ok());  // unusable afterwards
  EXPECT_FALSE((*upload)->Commit().ok());
  upload->reset();
  EXPECT_EQ(CountFiles(dir_.path() / "files"), 0u);
}

TEST_F(FileStoreTest, TemporaryFilesAreCleaned) {
  {
    auto upload = files_->Begin(1024);
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE((*upload)->Write("half").ok());
    EXPECT_EQ(CountFiles(Tmp()), 1u);
  }
  EXPECT_EQ(CountFiles(Tmp()), 0u);
  // Left over by a crash: removed at the next open.
  std::ofstream(Tmp() / "upload-crashed") << "junk";
  EXPECT_EQ(CountFiles(Tmp()), 1u);
  files_.reset();
  auto reopened = FileStore::Open(dir_.path() / "files");
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  EXPECT_EQ(CountFiles(Tmp()), 0u);
}

TEST_F(FileStoreTest, ConcurrentIdenticalUploads) {
  const std::string content(100000, 'k');
  constexpr int kThreads = 6;
  std::vector<Result<StoredFile>> results(kThreads, MakeError(ErrorCode::kInternal, "not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto upload = files_->Begin(1 << 20);
      if (!upload.ok()) {
        results[i] = upload.error();
        return;
      }
      for (size_t off = 0; off < content.size(); off += 4096) {
        auto w = (*upload)->Write(std::string_view(content).substr(off, 4096));
        if (!w.ok()) {
          results[i] = w.error();
          return;
        }
      }
      results[i] = (*upload)->Commit();
    });
  }
  for (auto& t : threads) t.join();
  std::string sha;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.error().message;
    if (sha.empty()) sha = r->sha256;
    EXPECT_EQ(r->sha256, sha);
  }
  EXPECT_EQ(CountFiles(dir_.path() / "files"), 1u);
  EXPECT_EQ(ReadAll(*files_->PathOf(sha)), content);
}

TEST_F(FileStoreTest, HashesAreChecked) {
  EXPECT_TRUE(IsSha256Hex(kAbcSha256));
  EXPECT_FALSE(IsSha256Hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
  EXPECT_FALSE(IsSha256Hex("abc"));
  EXPECT_FALSE(IsSha256Hex("../../../../etc/passwd"));
  EXPECT_EQ(files_->PathOf("../x").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(files_->Has("").error().code, ErrorCode::kInvalidArgument);
}

TEST(FileStoreOpenTest, RefusesAFileInPlaceOfTheDirectory) {
  TempDir dir;
  std::ofstream(dir.path() / "files") << "not a directory";
  auto files = FileStore::Open(dir.path() / "files");
  ASSERT_FALSE(files.ok());
  EXPECT_NE(files.error().message.find("files"), std::string::npos);
}

}  // namespace
}  // namespace kith::groups
