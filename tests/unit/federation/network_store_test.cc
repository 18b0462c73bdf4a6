#include "federation/network_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <memory>

#include "federation/network_operator.h"
#include "federation/trust_chain.h"
#include "identity/node_keys.h"
#include "tests/support/statement_fixture.h"
#include "tests/support/temp_dir.h"

namespace kith::federation {
namespace {

constexpr char kBase[] = "https://is.example";
constexpr char kCouncil[] = "https://council.example";
constexpr char kHealth[] = "https://health.example";

class NetworkStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::Store::Options options;
    options.path = dir_ / "kith.db";
    auto store = storage::Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    networks_ = MakeStore();
    fed_.AddLeaf(kCouncil);
    fed_.AddLeaf(kHealth);
  }

  std::unique_ptr<NetworkStore> MakeStore() {
    return std::make_unique<NetworkStore>(*store_, clock_, dir_.path(), kBase, false);
  }

  NewNetworkMember Leaf(const std::string& id) {
    NewNetworkMember m;
    m.entity_id = id;
    m.organisation = "Org of " + id;
    m.keys = {fed_.entity(id).key->public_jwk()};
    return m;
  }

  // The network's key as a verifier sees it: from its own entity configuration.
  std::vector<identity::PublicJwk> NetworkKeys(const std::string& name) {
    auto config = networks_->EntityConfiguration(name);
    EXPECT_TRUE(config.ok()) << config.error().message;
    auto parsed = ParseEntityStatement(*config, clock_);
    EXPECT_TRUE(parsed.ok()) << parsed.error().message;
    return parsed->statement.jwks;
  }

  void Advance(int64_t seconds) { clock_.Advance(std::chrono::seconds(seconds)); }

  testing::TempDir dir_{"network_store"};
  FakeClock clock_{1'700'000'000};
  testing::FederationFixture fed_{clock_};
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<NetworkStore> networks_;
};

TEST_F(NetworkStoreTest, CreateWritesKeyFileAndRow) {
  auto network = networks_->Create("uk", "UK public services", "");
  ASSERT_TRUE(network.ok()) << network.error().message;
  EXPECT_EQ(network->entity_id, "https://is.example/networks/uk");
  EXPECT_TRUE(network->IsAnchor());
  EXPECT_EQ(network->statement_lifetime, 86400);
  EXPECT_EQ(network->fingerprint.rfind("SHA256:", 0), 0u);

  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "keys" / "network-uk.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(st.st_size, 32);
  ASSERT_EQ(::stat((dir_ / "keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700);
  // No temporary file left behind.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "keys")) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);

  auto by_name = networks_->FindNetwork("uk");
  ASSERT_TRUE(by_name.ok() && by_name->has_value());
  EXPECT_EQ((*by_name)->kid, network->kid);
  EXPECT_EQ((*by_name)->fingerprint, network->fingerprint);
  EXPECT_EQ((*by_name)->display_name, "UK public services");
  auto by_id = networks_->FindNetwork("https://is.example/networks/uk");
  ASSERT_TRUE(by_id.ok() && by_id->has_value());
  EXPECT_EQ((*by_id)->name, "uk");
  auto none = networks_->FindNetwork("scot");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  // The key in the configuration is the one whose fingerprint the operator hands out.
  auto keys = NetworkKeys("uk");
  ASSERT_EQ(keys.size(), 1u);
  ASSERT_TRUE(keys[0].ed25519().has_value());
  EXPECT_EQ(identity::Fingerprint(*keys[0].ed25519()), network->fingerprint);
  EXPECT_EQ(keys[0].kid(), network->kid);
}

TEST_F(NetworkStoreTest, CreateRefusesBadNamesDuplicatesAndBadSuperiors) {
  for (const char* bad : {"", "UK", "u k", "uk_1", "uk/1", "ü",
                          "a234567890123456789012345678901234567890123456789012345678901234"}) {
    auto r = networks_->Create(bad, "", "");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << bad;
  }
  ASSERT_TRUE(networks_->Create("uk-2", "", "").ok());
  const std::filesystem::path key = dir_ / "keys" / "network-uk-2.key";
  auto before = networks_->FindNetwork("uk-2");
  auto again = networks_->Create("uk-2", "", "");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  // The refused Create did not replace the live network's key.
  EXPECT_EQ(NetworkKeys("uk-2")[0].kid(), (*before)->kid);

  auto superior = networks_->Create("scot", "", "http://anchor.example/networks/uk");
  ASSERT_FALSE(superior.ok());
  EXPECT_EQ(superior.error().code, ErrorCode::kInvalidArgument);  // http not allowed here
  auto lifetime = networks_->Create("short", "", "", 10);
  ASSERT_FALSE(lifetime.ok());
  EXPECT_EQ(lifetime.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(NetworkStoreTest, IntermediateConfigurationNamesItsSuperior) {
  auto scot = networks_->Create("scot", "Scotland", "https://anchor.example/networks/uk");
  ASSERT_TRUE(scot.ok()) << scot.error().message;
  EXPECT_FALSE(scot->IsAnchor());
  auto config = networks_->EntityConfiguration("scot", 3600);
  ASSERT_TRUE(config.ok()) << config.error().message;
  auto parsed = ParseEntityStatement(*config, clock_);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const EntityStatement& s = parsed->statement;
  EXPECT_EQ(s.iss, scot->entity_id);
  EXPECT_EQ(s.sub, scot->entity_id);
  EXPECT_EQ(s.exp - s.iat, 3600);
  EXPECT_EQ(s.authority_hints, std::vector<std::string>{"https://anchor.example/networks/uk"});
  EXPECT_EQ(FetchEndpointOf(s), scot->FetchEndpoint());
  EXPECT_EQ(ListEndpointOf(s), scot->ListEndpoint());
  EXPECT_EQ(WithdrawnEndpointOf(s), scot->WithdrawnEndpoint());
  EXPECT_EQ(s.metadata["federation_entity"]["organization_name"], "Scotland");
  EXPECT_TRUE(VerifyStatementSignature(*parsed, s.jwks).ok());
}

TEST_F(NetworkStoreTest, MembersGetStatementsThatMakeAValidChain) {
  ASSERT_TRUE(networks_->Create("uk", "UK", "").ok());
  auto added = networks_->AddMember("uk", Leaf(kCouncil));
  ASSERT_TRUE(added.ok()) << added.error().message;
  EXPECT_EQ(added->organisation, "Org of https://council.example");
  EXPECT_EQ(added->added_at, clock_.UnixSeconds());
  ASSERT_TRUE(added->statement_exp.has_value());
  EXPECT_EQ(*added->statement_exp, clock_.UnixSeconds() + 86400);

  auto statement = networks_->SubordinateStatement("uk", kCouncil);
  ASSERT_TRUE(statement.ok()) << statement.error().message;
  auto parsed = ParseEntityStatement(*statement, clock_);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->statement.iss, "https://is.example/networks/uk");
  EXPECT_EQ(parsed->statement.sub, kCouncil);
  ASSERT_EQ(parsed->statement.jwks.size(), 1u);
  EXPECT_EQ(parsed->statement.jwks[0].kid(), fed_.entity(kCouncil).key->kid());
  EXPECT_TRUE(VerifyStatementSignature(*parsed, NetworkKeys("uk")).ok());

  // The chain a member node would build: leaf configuration, our statement, our configuration.
  auto network = networks_->FindNetwork("uk");
  TrustAnchor anchor{(*network)->entity_id, (*network)->fingerprint};
  auto anchor_config = networks_->EntityConfiguration("uk");
  ASSERT_TRUE(anchor_config.ok());
  auto chain = VerifyTrustChain({fed_.Configuration(kCouncil), *statement, *anchor_config},
                                {anchor}, clock_);
  ASSERT_TRUE(chain.ok()) << chain.error().message;
  EXPECT_EQ(chain->subject, kCouncil);
  EXPECT_EQ(chain->anchor, anchor.entity_id);
  // A wrong fingerprint fails.
  anchor.fingerprint = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  EXPECT_FALSE(
      VerifyTrustChain({fed_.Configuration(kCouncil), *statement, *anchor_config}, {anchor}, clock_)
          .ok());

  auto unknown = networks_->SubordinateStatement("uk", kHealth);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  auto no_network = networks_->SubordinateStatement("scot", kCouncil);
  ASSERT_FALSE(no_network.ok());
  EXPECT_EQ(no_network.error().code, ErrorCode::kNotFound);
}

TEST_F(NetworkStoreTest, StatementIsKeptUntilHalfItsLifeThenReissued) {
  ASSERT_TRUE(networks_->Create("uk", "", "", 1000).ok());
  ASSERT_TRUE(networks_->AddMember("uk", Leaf(kCouncil)).ok());
  auto first = networks_->SubordinateStatement("uk", kCouncil);
  ASSERT_TRUE(first.ok());
  Advance(400);
  auto same = networks_->SubordinateStatement("uk", kCouncil);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, *first);
  auto due = networks_->ReissueDue();
  ASSERT_TRUE(due.ok());
  EXPECT_EQ(*due, 0);

  Advance(100);  // half the lifetime is gone
  auto fresh = networks_->SubordinateStatement("uk", kCouncil);
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(*fresh, *first);
  auto parsed = ParseEntityStatement(*fresh, clock_);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->statement.iat, clock_.UnixSeconds());
  auto member = networks_->FindMember("uk", kCouncil);
  ASSERT_TRUE(member.ok() && member->has_value());
  EXPECT_EQ((*member)->statement_exp, clock_.UnixSeconds() + 1000);

  ASSERT_TRUE(networks_->AddMember("uk", Leaf(kHealth)).ok());
  Advance(600);
  due = networks_->ReissueDue();
  ASSERT_TRUE(due.ok());
  EXPECT_EQ(*due, 2);
  due = networks_->ReissueDue();
  ASSERT_TRUE(due.ok());
  EXPECT_EQ(*due, 0);
}

TEST_F(NetworkStoreTest, RemoveWithdrawsAndReAddRestores) {
  ASSERT_TRUE(networks_->Create("uk", "", "").ok());
  ASSERT_TRUE(networks_->AddMember("uk", Leaf(kCouncil)).ok());
  ASSERT_TRUE(networks_->AddMember("uk", Leaf(kHealth)).ok());
  auto ids = networks_->MemberIds("uk");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<std::string>{kCouncil, kHealth}));

  Advance(10);
  ASSERT_TRUE(networks_->RemoveMember("uk", kCouncil).ok());
  const int64_t removed_at = clock_.UnixSeconds();
  auto again = networks_->RemoveMember("uk", kCouncil);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(networks_->RemoveMember("nope", kCouncil).error().code, ErrorCode::kNotFound);

  ids = networks_->MemberIds("uk");
  EXPECT_EQ(*ids, std::vector<std::string>{kHealth});
  EXPECT_EQ(networks_->SubordinateStatement("uk", kCouncil).error().code, ErrorCode::kNotFound);

  auto jwt = networks_->WithdrawnListJwt("uk");
  ASSERT_TRUE(jwt.ok()) << jwt.error().message;
  auto list = ParseWithdrawnList(*jwt, "https://is.example/networks/uk", NetworkKeys("uk"), clock_);
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->withdrawn.size(), 1u);
  EXPECT_EQ(list->withdrawn[0].sub, kCouncil);
  EXPECT_EQ(list->withdrawn[0].at, removed_at);
  EXPECT_EQ(list->exp - list->iat, 600);

  auto members = networks_->Members("uk");
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 2u);
  EXPECT_EQ((*members)[0].withdrawn_at, removed_at);
  EXPECT_FALSE((*members)[0].statement_exp.has_value());

  Advance(10);
  auto readded = networks_->AddMember("uk", Leaf(kCouncil));
  ASSERT_TRUE(readded.ok());
  EXPECT_FALSE(readded->withdrawn_at.has_value());
  EXPECT_EQ(readded->added_at, clock_.UnixSeconds());
  EXPECT_TRUE(networks_->SubordinateStatement("uk", kCouncil).ok());
  list = ParseWithdrawnList(*networks_->WithdrawnListJwt("uk"), "https://is.example/networks/uk",
                            NetworkKeys("uk"), clock_);
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->withdrawn.empty());
}

TEST_F(NetworkStoreTest, AddMemberRefusesBadInput) {
  ASSERT_TRUE(networks_->Create("uk", "", "").ok());
  auto unknown = networks_->AddMember("scot", Leaf(kCouncil));
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  auto no_keys = Leaf(kCouncil);
  no_keys.keys.clear();
  EXPECT_EQ(networks_->AddMember("uk", no_keys).error().code, ErrorCode::kInvalidArgument);
  auto bad_id = Leaf(kCouncil);
  bad_id.entity_id = "http://council.example";  // http not allowed
  EXPECT_EQ(networks_->AddMember("uk", bad_id).error().code, ErrorCode::kInvalidArgument);
  bad_id.entity_id = "https://council.example/?x=1";
  EXPECT_EQ(networks_->AddMember("uk", bad_id).error().code, ErrorCode::kInvalidArgument);
  auto self = Leaf(kCouncil);
  self.entity_id = "https://is.example/networks/uk";
  EXPECT_EQ(networks_->AddMember("uk", self).error().code, ErrorCode::kInvalidArgument);
  auto leaf_with_path = Leaf(kCouncil);
  leaf_with_path.max_path_length = 1;
  EXPECT_EQ(networks_->AddMember("uk", leaf_with_path).error().code, ErrorCode::kInvalidArgument);
  auto control = Leaf(kCouncil);
  control.organisation = "bad\x01name";
  EXPECT_EQ(networks_->AddMember("uk", control).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(NetworkStoreTest, IntermediateStatementCarriesMaxPathLength) {
  ASSERT_TRUE(networks_->Create("uk", "", "").ok());
  fed_.AddNetwork("https://scot.example/networks/scot", {"https://is.example/networks/uk"});
  NewNetworkMember scot;
  scot.entity_id = "https://scot.example/networks/scot";
  scot.organisation = "Scotland";
  scot.keys = {fed_.entity(scot.entity_id).key->public_jwk()};
  scot.intermediate = true;
  scot.max_path_length = 0;
  auto added = networks_->AddMember("uk", scot);
  ASSERT_TRUE(added.ok()) << added.error().message;
  EXPECT_TRUE(added->intermediate);
  EXPECT_EQ(added->max_path_length, 0);
  auto statement = networks_->SubordinateStatement("uk", scot.entity_id);
  ASSERT_TRUE(statement.ok());
  auto parsed = ParseEntityStatement(*statement, clock_);
  ASSERT_TRUE(parsed.ok());
  ASSERT_TRUE(parsed->statement.constraints.has_value());
  EXPECT_EQ(parsed->statement.constraints->max_path_length, 0);
}

TEST_F(NetworkStoreTest, KeyFileWithLooseModeIsRefused) {
  ASSERT_TRUE(networks_->Create("uk", "", "").ok());
  ASSERT_EQ(::chmod((dir_ / "keys" / "network-uk.key").c_str(), 0644), 0);
  auto fresh = MakeStore();  // no cached key
  auto config = fresh->EntityConfiguration("uk");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(config.error().message.find("chmod 600"), std::string::npos);
}

TEST_F(NetworkStoreTest, RecordMemberContact) {
  ASSERT_TRUE(networks_->Create("uk", "", "").ok());
  ASSERT_TRUE(networks_->AddMember("uk", Leaf(kCouncil)).ok());
  ASSERT_TRUE(networks_->RecordMemberContact("uk", kCouncil, false, "connection refused").ok());
  auto m = networks_->FindMember("uk", kCouncil);
  EXPECT_EQ((*m)->last_error, "connection refused");
  EXPECT_FALSE((*m)->last_contact_at.has_value());
  Advance(5);
  ASSERT_TRUE(networks_->RecordMemberContact("uk", kCouncil, true).ok());
  m = networks_->FindMember("uk", kCouncil);
  EXPECT_EQ((*m)->last_error, "");
  EXPECT_EQ((*m)->last_contact_at, clock_.UnixSeconds());
  EXPECT_EQ(networks_->RecordMemberContact("uk", kHealth, true).error().code, ErrorCode::kNotFound);
}

TEST_F(NetworkStoreTest, TrustAnchors) {
  ASSERT_TRUE(networks_->Trust({"https://anchor.example/networks/uk", "SHA256:abc"}).ok());
  ASSERT_TRUE(networks_->Trust({"https://other.example/networks/x", "SHA256:def"}).ok());
  ASSERT_TRUE(networks_->Trust({"https://anchor.example/networks/uk", "SHA256:xyz"}).ok());
  auto anchors = networks_->TrustedAnchors();
  ASSERT_TRUE(anchors.ok());
  ASSERT_EQ(anchors->size(), 2u);
  EXPECT_EQ((*anchors)[0].entity_id, "https://anchor.example/networks/uk");
  EXPECT_EQ((*anchors)[0].fingerprint, "SHA256:xyz");
  auto records = networks_->TrustedAnchorRecords();
  ASSERT_TRUE(records.ok());
  EXPECT_EQ((*records)[0].added_at, clock_.UnixSeconds());

  EXPECT_EQ(networks_->Trust({"not a url", "SHA256:abc"}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(networks_->Trust({"https://a.example", ""}).error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(networks_->Untrust("https://other.example/networks/x").ok());
  EXPECT_EQ(networks_->Untrust("https://other.example/networks/x").error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(networks_->TrustedAnchors()->size(), 1u);
}

TEST_F(NetworkStoreTest, AuthorityHintsAreReplacedAsAWhole) {
  auto hints = networks_->AuthorityHints();
  ASSERT_TRUE(hints.ok());
  EXPECT_TRUE(hints->empty());
  ASSERT_TRUE(
      networks_->SetAuthorityHints({"https://b.example/networks/y", "https://a.example/networks/x"})
          .ok());
  EXPECT_EQ(
      *networks_->AuthorityHints(),
      (std::vector<std::string>{"https://a.example/networks/x", "https://b.example/networks/y"}));
  ASSERT_TRUE(networks_->SetAuthorityHints({"https://b.example/networks/y"}).ok());
  EXPECT_EQ(*networks_->AuthorityHints(), std::vector<std::string>{"https://b.example/networks/y"});
  EXPECT_FALSE(networks_->SetAuthorityHints({"ftp://x"}).ok());
  ASSERT_TRUE(networks_->SetAuthorityHints({}).ok());
  EXPECT_TRUE(networks_->AuthorityHints()->empty());
}

TEST_F(NetworkStoreTest, PeerNetworksExpire) {
  const int64_t now = clock_.UnixSeconds();
  ASSERT_TRUE(networks_
                  ->ReplacePeerNetworks(kCouncil, {{kCouncil, "https://x.example/networks/scot",
                                                    "https://x.example/networks/uk", now + 100},
                                                   {kCouncil, "https://x.example/networks/uk",
                                                    "https://x.example/networks/uk", now + 100}})
                  .ok());
  ASSERT_TRUE(networks_
                  ->ReplacePeerNetworks(kHealth, {{kHealth, "https://x.example/networks/uk",
                                                   "https://x.example/networks/uk", now + 50}})
                  .ok());
  EXPECT_EQ(networks_->PeerNetworks()->size(), 3u);
  EXPECT_TRUE(*networks_->PeerInNetwork(kCouncil, "https://x.example/networks/scot"));
  EXPECT_TRUE(*networks_->PeerInNetwork(kHealth, "https://x.example/networks/uk"));
  EXPECT_FALSE(*networks_->PeerInNetwork(kHealth, "https://x.example/networks/scot"));
  Advance(50);
  EXPECT_FALSE(*networks_->PeerInNetwork(kHealth, "https://x.example/networks/uk"));
  EXPECT_TRUE(*networks_->PeerInNetwork(kCouncil, "https://x.example/networks/uk"));
  // Replacing with nothing removes the peer's rows.
  ASSERT_TRUE(networks_->ReplacePeerNetworks(kCouncil, {}).ok());
  EXPECT_FALSE(*networks_->PeerInNetwork(kCouncil, "https://x.example/networks/uk"));
  EXPECT_EQ(networks_->PeerNetworks()->size(), 1u);
}

// --- NetworkOperator ---------------------------------------------------------------------

class NetworkOperatorTest : public NetworkStoreTest {
 protected:
  void SetUp() override {
    NetworkStoreTest::SetUp();
    ASSERT_TRUE(networks_->Create("uk", "", "").ok());
    ASSERT_TRUE(networks_->AddMember("uk", Leaf(kCouncil)).ok());
    ASSERT_TRUE(networks_->AddMember("uk", Leaf(kHealth)).ok());
  }

  NetworkOperator::Report Sweep() {
    NetworkOperator op(*networks_, clock_, false);
    auto report = op.Sweep(fed_.fetcher());
    EXPECT_TRUE(report.ok()) << report.error().message;
    return report.ok() ? *report : NetworkOperator::Report{};
  }

  NetworkMember Member(const char* id) { return **networks_->FindMember("uk", id); }
};

TEST_F(NetworkOperatorTest, RecordsContactAndErrors) {
  fed_.fetcher().PutError(testing::FederationFixture::ConfigurationUrl(kHealth),
                          MakeError(ErrorCode::kUnavailable, "connection refused"));
  Advance(7);
  auto report = Sweep();
  EXPECT_EQ(report.contacted, 1);
  EXPECT_EQ(report.failed, 1);
  EXPECT_EQ(report.keys_updated, 0);
  EXPECT_EQ(Member(kCouncil).last_contact_at, clock_.UnixSeconds());
  EXPECT_EQ(Member(kCouncil).last_error, "");
  EXPECT_FALSE(Member(kHealth).last_contact_at.has_value());
  EXPECT_NE(Member(kHealth).last_error.find("connection refused"), std::string::npos);
  ASSERT_EQ(report.errors.size(), 1u);
}

TEST_F(NetworkOperatorTest, ReissuesDueStatements) {
  Advance(86400 / 2 + 1);
  fed_.PublishAll();
  auto report = Sweep();
  EXPECT_EQ(report.reissued, 2);
  EXPECT_EQ(report.contacted, 2);
  EXPECT_EQ(Member(kCouncil).statement_exp, clock_.UnixSeconds() + 86400);
}

TEST_F(NetworkOperatorTest, KeyRotationSignedByRegisteredKeyIsRecorded) {
  auto new_key = identity::Ed25519SigningKey::Generate();
  testing::StatementOptions options;
  options.jwks = std::vector<identity::PublicJwk>{fed_.entity(kCouncil).key->public_jwk(),
                                                  new_key->public_jwk()};
  fed_.fetcher().Put(testing::FederationFixture::ConfigurationUrl(kCouncil),
                     fed_.Configuration(kCouncil, options));
  auto report = Sweep();
  EXPECT_EQ(report.keys_updated, 1);
  EXPECT_EQ(report.contacted, 2);
  EXPECT_EQ(Member(kCouncil).keys.size(), 2u);
  // The statement now vouches for both keys.
  auto parsed = ParseEntityStatement(*networks_->SubordinateStatement("uk", kCouncil), clock_);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->statement.jwks.size(), 2u);

  // Signed by the new key alone (now registered) and listing only it: the old key goes.
  options.jwks = std::vector<identity::PublicJwk>{new_key->public_jwk()};
  options.sign_with = new_key.get();
  fed_.fetcher().Put(testing::FederationFixture::ConfigurationUrl(kCouncil),
                     fed_.Configuration(kCouncil, options));
  report = Sweep();
  EXPECT_EQ(report.keys_updated, 1);
  ASSERT_EQ(Member(kCouncil).keys.size(), 1u);
  EXPECT_EQ(Member(kCouncil).keys[0].kid(), new_key->kid());
}

TEST_F(NetworkOperatorTest, ConfigurationSignedByUnregisteredKeyChangesNothing) {
  auto intruder = identity::Ed25519SigningKey::Generate();
  testing::StatementOptions options;
  options.jwks = std::vector<identity::PublicJwk>{intruder->public_jwk()};
  options.sign_with = intruder.get();
  fed_.fetcher().Put(testing::FederationFixture::ConfigurationUrl(kCouncil),
                     fed_.Configuration(kCouncil, options));
  auto report = Sweep();
  EXPECT_EQ(report.keys_updated, 0);
  EXPECT_EQ(report.failed, 1);
  ASSERT_EQ(Member(kCouncil).keys.size(), 1u);
  EXPECT_EQ(Member(kCouncil).keys[0].kid(), fed_.entity(kCouncil).key->kid());
  EXPECT_NE(Member(kCouncil).last_error.find("not registered"), std::string::npos);
}

TEST_F(NetworkOperatorTest, FetchMemberConfigurationChecksSelfSigned) {
  auto config = FetchMemberConfiguration(fed_.fetcher(), kCouncil, clock_, false);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->statement.sub, kCouncil);
  EXPECT_FALSE(config->organisation.empty());

  // About someone else.
  testing::StatementOptions other;
  other.edit = [](EntityStatement& s) { s.sub = s.iss = kHealth; };
  fed_.fetcher().Put(testing::FederationFixture::ConfigurationUrl(kCouncil),
                     fed_.Configuration(kCouncil, other));
  auto wrong = FetchMemberConfiguration(fed_.fetcher(), kCouncil, clock_, false);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("not about itself"), std::string::npos);

  // Signed by a key it does not list.
  auto stranger = identity::Ed25519SigningKey::Generate();
  testing::StatementOptions forged;
  forged.sign_with = stranger.get();
  fed_.fetcher().Put(testing::FederationFixture::ConfigurationUrl(kCouncil),
                     fed_.Configuration(kCouncil, forged));
  auto unsigned_ = FetchMemberConfiguration(fed_.fetcher(), kCouncil, clock_, false);
  ASSERT_FALSE(unsigned_.ok());
  EXPECT_EQ(unsigned_.error().code, ErrorCode::kUnauthenticated);

  auto missing = FetchMemberConfiguration(fed_.fetcher(), "https://nobody.example", clock_, false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace kith::federation
