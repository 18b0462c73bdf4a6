#include "identity/node_keys.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "storage/database.h"
#include "storage/migrations.h"
#include "storage/store.h"
#include "tests/support/temp_dir.h"

namespace kith::identity {
namespace {

using kith::testing::TempDir;

std::vector<uint8_t> FromBase64Url(const std::string& text) {
  std::vector<uint8_t> out(text.size());
  size_t len = 0;
  EXPECT_EQ(sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len,
                              nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
            0);
  out.resize(len);
  return out;
}

nlohmann::json Rfc8037Vector() {
  std::ifstream in(std::string(KITH_VECTORS_DIR) + "/rfc8037-jws-ed25519.json");
  return nlohmann::json::parse(in);
}

Ed25519PublicKey VectorPublicKey() {
  auto x = FromBase64Url(Rfc8037Vector()["jwk"]["x"].get<std::string>());
  Ed25519PublicKey pk{};
  EXPECT_EQ(x.size(), pk.size());
  std::copy(x.begin(), x.end(), pk.begin());
  return pk;
}

int Mode(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return static_cast<int>(st.st_mode & 0777);
}

class NodeKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    auto db = storage::Database::Open({.path = dir_ / "kith.db"});
    ASSERT_TRUE(db.ok()) << db.error().message;
    db_.emplace(std::move(db).value());
    auto migrated = storage::Migrate(*db_);
    ASSERT_TRUE(migrated.ok()) << migrated.error().message;
  }
  TempDir dir_{"keys"};
  std::optional<storage::Database> db_;
  FakeClock clock_{1'750'000'000};
};

TEST(KeyIdTest, MatchesRfc8037Thumbprint) {
  // RFC 8037 Appendix A.3: the RFC 7638 thumbprint of the Appendix A.1 key.
  EXPECT_EQ(KeyIdFor(VectorPublicKey()), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
}

TEST(KeyIdTest, FingerprintIsSha256OfTheRawKey) {
  const Ed25519PublicKey pk = VectorPublicKey();
  std::array<uint8_t, 32> digest{};
  crypto_hash_sha256(digest.data(), pk.data(), pk.size());
  char b64[64];
  sodium_bin2base64(b64, sizeof b64, digest.data(), digest.size(),
                    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
  EXPECT_EQ(Fingerprint(pk), std::string("SHA256:") + b64);
  EXPECT_EQ(Fingerprint(pk).size(), 7u + 43u);
}

TEST_F(NodeKeysTest, CreateInitialWritesAPrivateKeyFileAndRow) {
  auto key = NodeKeyring::CreateInitial(dir_.path(), *db_, clock_);
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key->kid, KeyIdFor(key->public_key));
  EXPECT_EQ(key->created_at, 1'750'000'000);
  EXPECT_EQ(key->status, "current");
  const auto file = dir_.path() / "keys" / (key->kid + ".key");
  EXPECT_EQ(Mode(dir_.path() / "keys"), 0700);
  EXPECT_EQ(Mode(file), 0600);
  EXPECT_EQ(std::filesystem::file_size(file), 32u);
  EXPECT_FALSE(std::filesystem::exists(file.string() + ".tmp"));

  auto ring = NodeKeyring::Load(dir_.path(), *db_);
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  EXPECT_EQ((*ring)->current().kid, key->kid);
  EXPECT_EQ((*ring)->current().public_key, key->public_key);
  ASSERT_EQ((*ring)->Published(1'750'000'000).size(), 1u);

  const std::string message = "kith signs this";
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(message.data()),
                                       message.size());
  const Ed25519Signature sig = (*ring)->Sign(bytes);
  EXPECT_EQ(
      crypto_sign_verify_detached(sig.data(), bytes.data(), bytes.size(), key->public_key.data()),
      0);
}

TEST_F(NodeKeysTest, CreateInitialTwiceIsAConflict) {
  ASSERT_TRUE(NodeKeyring::CreateInitial(dir_.path(), *db_, clock_).ok());
  auto second = NodeKeyring::CreateInitial(dir_.path(), *db_, clock_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kConflict);
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_ / "keys")) ++files;
  EXPECT_EQ(files, 1);
}

TEST_F(NodeKeysTest, LoadSignsLikeTheRfc8037Vector) {
  // Install the RFC 8037 key as the node's key, then check Sign reproduces the JWS signature.
  const auto vector = Rfc8037Vector();
  const Ed25519PublicKey pk = VectorPublicKey();
  const std::string kid = KeyIdFor(pk);
  auto insert = db_->Prepare(
      "INSERT INTO node_keys (kid, public_key, created_at, status) VALUES (?1, ?2, 1, 'current')");
  ASSERT_TRUE(insert.ok());
  ASSERT_TRUE(insert->Bind(1, std::string_view(kid)).BindBlob(2, pk).Run().ok());
  std::filesystem::create_directory(dir_ / "keys");
  const auto seed = FromBase64Url(vector["jwk"]["d"].get<std::string>());
  const auto file = dir_.path() / "keys" / (kid + ".key");
  {
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(seed.data()),
              static_cast<std::streamsize>(seed.size()));
  }
  std::filesystem::permissions(
      file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  auto ring = NodeKeyring::Load(dir_.path(), *db_);
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  const std::string jws = vector["jws_compact"].get<std::string>();
  const std::string signing_input = jws.substr(0, jws.rfind('.'));
  const auto sig = (*ring)->Sign(
      std::span(reinterpret_cast<const uint8_t*>(signing_input.data()), signing_input.size()));
  const auto expected = FromBase64Url(jws.substr(jws.rfind('.') + 1));
  EXPECT_EQ(std::vector<uint8_t>(sig.begin(), sig.end()), expected);
}

TEST_F(NodeKeysTest, LoadRefusesAKeyFileOthersCanRead) {
  auto key = NodeKeyring::CreateInitial(dir_.path(), *db_, clock_);
  ASSERT_TRUE(key.ok());
  const auto file = dir_.path() / "keys" / (key->kid + ".key");
  ASSERT_EQ(::chmod(file.c_str(), 0640), 0);
  auto ring = NodeKeyring::Load(dir_.path(), *db_);
  ASSERT_FALSE(ring.ok());
  EXPECT_NE(ring.error().message.find(file.string()), std::string::npos) << ring.error().message;
  EXPECT_NE(ring.error().message.find("0640"), std::string::npos) << ring.error().message;
  EXPECT_NE(ring.error().message.find("chmod 600"), std::string::npos) << ring.error().message;
}

TEST_F(NodeKeysTest, LoadNamesAMissingKeyFile) {
  auto key = NodeKeyring::CreateInitial(dir_.path(), *db_, clock_);
  ASSERT_TRUE(key.ok());
  const auto file = dir_.path() / "keys" / (key->kid + ".key");
  std::filesystem::remove(file);
  auto ring = NodeKeyring::Load(dir_.path(), *db_);
  ASSERT_FALSE(ring.ok());
  EXPECT_NE(ring.error().message.find(file.string()), std::string::npos) << ring.error().message;
}

TEST_F(NodeKeysTest, LoadRefusesAKeyFileThatDoesNotMatchTheDatabase) {
  auto key = NodeKeyring::CreateInitial(dir_.path(), *db_, clock_);
  ASSERT_TRUE(key.ok());
  const auto file = dir_.path() / "keys" / (key->kid + ".key");
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << std::string(32, 'x');
  }
  auto ring = NodeKeyring::Load(dir_.path(), *db_);
  ASSERT_FALSE(ring.ok());
  EXPECT_NE(ring.error().message.find("does not match"), std::string::npos) << ring.error().message;
}

TEST_F(NodeKeysTest, LoadWithoutAnyKeyIsNotFound) {
  auto ring = NodeKeyring::Load(dir_.path(), *db_);
  ASSERT_FALSE(ring.ok());
  EXPECT_EQ(ring.error().code, ErrorCode::kNotFound);
}

TEST_F(NodeKeysTest, PublishedKeepsSupersededKeysUntilNotAfter) {
  auto key = NodeKeyring::CreateInitial(dir_.path(), *db_, clock_);
  ASSERT_TRUE(key.ok());
  // An older key, superseded and valid until 2'000'000'000, and a retired one.
  auto insert = db_->Prepare(
      "INSERT INTO node_keys (kid, public_key, created_at, not_after, status) "
      "VALUES (?1, ?2, 1, ?3, ?4)");
  ASSERT_TRUE(insert.ok());
  Ed25519PublicKey other{};
  other[0] = 1;
  ASSERT_TRUE(insert->Bind(1, "old")
                  .BindBlob(2, other)
                  .Bind(3, int64_t{2'000'000'000})
                  .Bind(4, "retiring")
                  .Run()
                  .ok());
  insert->Reset();
  ASSERT_TRUE(insert->Bind(1, "gone")
                  .BindBlob(2, other)
                  .Bind(3, int64_t{2'000'000'000})
                  .Bind(4, "retired")
                  .Run()
                  .ok());
  auto ring = NodeKeyring::Load(dir_.path(), *db_);
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  EXPECT_EQ((*ring)->current().kid, key->kid);
  EXPECT_EQ((*ring)->Published(1'999'999'999).size(), 2u);
  ASSERT_EQ((*ring)->Published(2'000'000'000).size(), 1u);
  EXPECT_EQ((*ring)->Published(2'000'000'000)[0].kid, key->kid);
}

// Rotation goes through the Store's writer, as in the daemon; a separate connection creates the
// first key and loads keyrings, as `kithctl init` and kithd's start do.
class NodeKeyRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    auto store = storage::Store::Open({.path = dir_ / "kith.db"});
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    auto db = storage::Database::Open({.path = dir_ / "kith.db"});
    ASSERT_TRUE(db.ok()) << db.error().message;
    db_.emplace(std::move(db).value());
  }
  void TearDown() override {
    if (store_) store_->Close();
  }

  std::shared_ptr<const NodeKeyring> LoadRing() {
    auto ring = NodeKeyring::Load(dir_.path(), *db_);
    EXPECT_TRUE(ring.ok()) << ring.error().message;
    return ring.ok() ? *ring : nullptr;
  }

  std::vector<std::string> KeyFiles() const {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir_ / "keys", ec)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string StatusOf(const std::string& kid) {
    auto stmt = db_->Prepare("SELECT status FROM node_keys WHERE kid = ?1");
    EXPECT_TRUE(stmt.ok());
    stmt->Bind(1, kid);
    auto row = stmt->Step();
    EXPECT_TRUE(row.ok() && *row) << kid;
    return row.ok() && *row ? stmt->ColumnText(0) : "";
  }

  TempDir dir_{"rotate"};
  std::unique_ptr<storage::Store> store_;
  std::optional<storage::Database> db_;
  FakeClock clock_{1'750'000'000};
};

TEST_F(NodeKeyRotationTest, RotateSignsWithTheNewKeyAndPublishesTheOldUntilNotAfter) {
  auto first = NodeKeyring::CreateInitial(dir_.path(), *db_, clock_);
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto before = LoadRing();
  ASSERT_TRUE(before);

  clock_.Advance(std::chrono::seconds(100));
  auto rotation = NodeKeyring::Rotate(dir_.path(), *store_, clock_, std::chrono::hours(24));
  ASSERT_TRUE(rotation.ok()) << rotation.error().message;
  const NodeKey& fresh = rotation->new_key;
  EXPECT_NE(fresh.kid, first->kid);
  EXPECT_EQ(fresh.kid, KeyIdFor(fresh.public_key));
  EXPECT_EQ(fresh.created_at, 1'750'000'100);
  ASSERT_EQ(rotation->superseded.size(), 1u);
  EXPECT_EQ(rotation->superseded[0].kid, first->kid);
  EXPECT_EQ(rotation->superseded[0].status, "retiring");
  EXPECT_EQ(rotation->superseded[0].not_after, 1'750'000'100 + 86'400);
  EXPECT_EQ(Mode(NodeKeyring::KeyFile(dir_.path(), fresh.kid)), 0600);
  EXPECT_TRUE(std::filesystem::exists(NodeKeyring::KeyFile(dir_.path(), first->kid)));

  // The keyring loaded before is unchanged; a fresh load signs with the new key.
  EXPECT_EQ(before->current().kid, first->kid);
  auto after = LoadRing();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->current().kid, fresh.kid);
  const std::string message = "rotated";
  const auto* bytes = reinterpret_cast<const uint8_t*>(message.data());
  auto sig = after->Sign(std::span(bytes, message.size()));
  EXPECT_EQ(crypto_sign_verify_detached(sig.data(), bytes, message.size(), fresh.public_key.data()),
            0);

  auto published = after->Published(clock_.UnixSeconds());
  ASSERT_EQ(published.size(), 2u);
  EXPECT_EQ(after->Published(1'750'000'100 + 86'399).size(), 2u);
  published = after->Published(1'750'000'100 + 86'400);
  ASSERT_EQ(published.size(), 1u);
  EXPECT_EQ(published[0].kid, fresh.kid);

  auto list = store_->Read([](storage::Database& db) { return NodeKeyring::List(db); });
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].kid, fresh.kid);  // newest first
  EXPECT_EQ((*list)[0].status, "current");
  EXPECT_FALSE((*list)[0].not_after.has_value());
  EXPECT_EQ((*list)[1].status, "retiring");
}

TEST_F(NodeKeyRotationTest, RotatingTwiceKeepsBothOldKeysUntilTheirOwnNotAfter) {
  auto first = NodeKeyring::CreateInitial(dir_.path(), *db_, clock_);
  ASSERT_TRUE(first.ok());
  auto second = NodeKeyring::Rotate(dir_.path(), *store_, clock_, std::chrono::seconds(1000));
  ASSERT_TRUE(second.ok()) << second.error().message;
  clock_.Advance(std::chrono::seconds(10));
  auto third = NodeKeyring::Rotate(dir_.path(), *store_, clock_, std::chrono::seconds(50));
  ASSERT_TRUE(third.ok()) << third.error().message;
  ASSERT_EQ(third->superseded.size(), 1u);
  EXPECT_EQ(third->superseded[0].kid, second->new_key.kid);

  auto ring = LoadRing();
  ASSERT_TRUE(ring);
  EXPECT_EQ(ring->current().kid, third->new_key.kid);
  EXPECT_EQ(ring->Published(1'750'000'010).size(), 3u);
  EXPECT_EQ(ring->Published(1'750'000'060).size(), 2u);  // the second key's overlap is over
  EXPECT_EQ(ring->Published(1'750'001'000).size(), 1u);
}

TEST_F(NodeKeyRotationTest, PurgeRetiresExpiredKeysAndWipesTheirFiles) {
  auto first = NodeKeyring::CreateInitial(dir_.path(), *db_, clock_);
  ASSERT_TRUE(first.ok());
  auto rotation = NodeKeyring::Rotate(dir_.path(), *store_, clock_, std::chrono::seconds(60));
  ASSERT_TRUE(rotation.ok()) << rotation.error().message;
  const auto old_file = NodeKeyring::KeyFile(dir_.path(), first->kid);

  // Still inside the overlap: nothing to purge.
  clock_.Advance(std::chrono::seconds(59));
  auto early = NodeKeyring::PurgeExpired(dir_.path(), *store_, clock_);
  ASSERT_TRUE(early.ok()) << early.error().message;
  EXPECT_TRUE(early->empty());
  EXPECT_TRUE(std::filesystem::exists(old_file));
  EXPECT_EQ(StatusOf(first->kid), "retiring");

  clock_.Advance(std::chrono::seconds(1));
  auto purged = NodeKeyring::PurgeExpired(dir_.path(), *store_, clock_);
  ASSERT_TRUE(purged.ok()) << purged.error().message;
  ASSERT_EQ(purged->size(), 1u);
  EXPECT_EQ((*purged)[0], first->kid);
  EXPECT_FALSE(std::filesystem::exists(old_file));
  EXPECT_EQ(StatusOf(first->kid), "retired");
  EXPECT_EQ(StatusOf(rotation->new_key.kid), "current");
  EXPECT_EQ(KeyFiles(), std::vector<std::string>{rotation->new_key.kid + ".key"});

  auto ring = LoadRing();
  ASSERT_TRUE(ring);
  ASSERT_EQ(ring->Published(0).size(), 1u);  // retired keys are never published
  EXPECT_EQ(ring->Published(0)[0].kid, rotation->new_key.kid);

  // Idempotent.
  auto again = NodeKeyring::PurgeExpired(dir_.path(), *store_, clock_);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(again->empty());
}

TEST_F(NodeKeyRotationTest, FailedRotationLeavesNoFileAndChangesNothing) {
  // No key yet: the write job fails, and the new key's file is removed again.
  ASSERT_TRUE(std::filesystem::create_directory(dir_ / "keys"));
  auto rotation = NodeKeyring::Rotate(dir_.path(), *store_, clock_, std::chrono::seconds(60));
  ASSERT_FALSE(rotation.ok());
  EXPECT_EQ(rotation.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(KeyFiles().empty());

  auto first = NodeKeyring::CreateInitial(dir_.path(), *db_, clock_);
  ASSERT_TRUE(first.ok());
  for (auto overlap : {std::chrono::seconds(-1), std::chrono::seconds(367 * 24 * 3600)}) {
    auto bad = NodeKeyring::Rotate(dir_.path(), *store_, clock_, overlap);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(KeyFiles(), std::vector<std::string>{first->kid + ".key"});
  EXPECT_EQ(StatusOf(first->kid), "current");
}

}  // namespace
}  // namespace kith::identity
