#include "identity/member_import.h"

#include <gtest/gtest.h>

#include "identity/member_store.h"
#include "identity/password.h"
#include "identity_test_util.h"

namespace kith::identity {
namespace {

using testing::Await;

TEST(CsvTest, ParsesQuotesCommasNewlinesAndCrlf) {
  auto records = ParseCsv(
      "\xEF\xBB\xBF"
      "a,b,c\r\n"
      "\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n"
      "\r\n"
      "1,,3\n"
      "last,row,no-newline");
  ASSERT_TRUE(records.ok()) << records.error().message;
  ASSERT_EQ(records->size(), 4u);
  EXPECT_EQ((*records)[0].fields, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ((*records)[1].fields, (std::vector<std::string>{"x, y", "say \"hi\"", "two\nlines"}));
  EXPECT_EQ((*records)[1].line, 2u);
  EXPECT_EQ((*records)[2].fields, (std::vector<std::string>{"1", "", "3"}));
  EXPECT_EQ((*records)[2].line, 5u);  // the quoted newline and the blank line count
  EXPECT_EQ((*records)[3].line, 6u);
}

TEST(CsvTest, RefusesBrokenQuoting) {
  auto unterminated = ParseCsv("a,b\n\"open,field\n");
  ASSERT_FALSE(unterminated.ok());
  EXPECT_NE(unterminated.error().message.find("line 2"), std::string::npos);
  EXPECT_FALSE(ParseCsv("a,\"b\"x\n").ok());
  EXPECT_FALSE(ParseCsv("a,b\"c\"\n").ok());
}

TEST(MemberCsvTest, HeaderIsChecked) {
  EXPECT_FALSE(ParseMemberCsv("").ok());
  auto missing = ParseMemberCsv("handle,display_name,email\n");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("organisation"), std::string::npos);
  auto unknown = ParseMemberCsv("handle,display_name,email,organisation,job_title,shoe_size\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("shoe_size"), std::string::npos);
  EXPECT_TRUE(ParseMemberCsv("email,handle,job_title,organisation,display_name\n").ok());
}

TEST(MemberCsvTest, RowsAreValidatedWithLineNumbers) {
  auto parsed = ParseMemberCsv(
      "handle,display_name,email,organisation,job_title,password\n"
      "alice,Alice,alice@example.org,Council A,Officer,\n"
      "bad handle,Bob,bob@example.org,Council A,Officer,\n"
      "carol,Carol,not-an-email,Council A,Officer,\n"
      "ALICE,Alice Again,alice2@example.org,Council A,Officer,\n"
      "dave,Dave,Alice@Example.org,Council A,Officer,\n"
      "erin,Erin,erin@example.org,Council A,Officer,short\n"
      "frank,Frank,frank@example.org,\"Council, B\",Officer\n"
      "gina,Gina,gina@example.org,Council A,Officer,gina-password-1\n"
      "hugo,Hugo,hugo@example.org,Council A,Officer,a strong passphrase\n");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->total_rows, 9u);
  std::vector<size_t> lines;
  for (const auto& r : parsed->rejected) lines.push_back(r.line);
  EXPECT_EQ(lines, (std::vector<size_t>{3, 4, 5, 6, 7, 8, 9}));
  EXPECT_NE(parsed->rejected[0].reason.find("handle"), std::string::npos);
  EXPECT_NE(parsed->rejected[1].reason.find("email"), std::string::npos);
  EXPECT_NE(parsed->rejected[2].reason.find("repeats line 2"), std::string::npos);
  EXPECT_NE(parsed->rejected[3].reason.find("repeats line 2"), std::string::npos);
  EXPECT_NE(parsed->rejected[4].reason.find("password"), std::string::npos);
  EXPECT_NE(parsed->rejected[5].reason.find("fields"), std::string::npos);
  EXPECT_NE(parsed->rejected[6].reason.find("password"), std::string::npos);
  ASSERT_EQ(parsed->rows.size(), 2u);
  EXPECT_EQ(parsed->rows[1].member.handle, "hugo");
  EXPECT_FALSE(parsed->rows[1].password.empty());
}

class MemberImportTest : public testing::StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    members_ = std::make_unique<MemberStore>(*store_, clock_);
    PasswordHasher::Options options;
    options.params = PasswordHashParams::Minimum();
    options.threads = 2;
    hasher_ = std::make_unique<PasswordHasher>(options);
  }
  Result<ImportReport> Import(const std::string& csv) {
    return Await<ImportReport>(
        [&](Done<ImportReport> done) { ImportMembersCsv(*members_, *hasher_, csv, done); });
  }
  FakeClock clock_;
  std::unique_ptr<MemberStore> members_;
  std::unique_ptr<PasswordHasher> hasher_;
};

TEST_F(MemberImportTest, ImportsThousandsInOneTransaction) {
  std::string csv = "handle,display_name,email,organisation,job_title,password\r\n";
  for (int i = 0; i < 3000; ++i) {
    const std::string n = std::to_string(i);
    csv += "user" + n + ",\"User " + n + ", Jr\",user" + n + "@example.org,Council,Officer," +
           (i % 500 == 0 ? "a long enough passphrase" : "") + "\r\n";
  }
  const auto batches_before = store_->writer().GetStats().batches;
  auto report = Import(csv);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_TRUE(report->committed) << report->Summary();
  EXPECT_EQ(report->imported, 3000u);
  EXPECT_EQ(report->Summary(), "imported 3000 members");
  EXPECT_EQ(*members_->Count(), 3000);
  EXPECT_EQ(store_->writer().GetStats().batches - batches_before, 1u);
  auto with_pw = members_->GetByHandle("user500");
  ASSERT_TRUE(with_pw.ok());
  EXPECT_TRUE(with_pw->has_password);
  EXPECT_EQ(with_pw->display_name, "User 500, Jr");
  EXPECT_FALSE(members_->GetByHandle("user501")->has_password);
}

TEST_F(MemberImportTest, AnyRejectedRowMeansNothingIsImported) {
  auto report = Import(
      "handle,display_name,email,organisation,job_title\n"
      "alice,Alice,alice@example.org,A,B\n"
      "bob,Bob,bob@example,A,B\n");
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->committed);
  EXPECT_EQ(report->imported, 0u);
  ASSERT_EQ(report->rejected.size(), 1u);
  EXPECT_EQ(report->rejected[0].line, 3u);
  EXPECT_EQ(report->Summary(), "1 of 2 rows rejected; nothing was imported");
  EXPECT_EQ(*members_->Count(), 0);
}

TEST_F(MemberImportTest, ConflictsWithExistingMembersRejectTheWholeFile) {
  NewMember existing;
  existing.handle = "bob";
  existing.display_name = "Bob";
  existing.email = "bob@example.org";
  ASSERT_TRUE(Await<Member>([&](Done<Member> d) { members_->Add(existing, d); }).ok());
  auto report = Import(
      "handle,display_name,email,organisation,job_title\n"
      "alice,Alice,alice@example.org,A,B\n"
      "carol,Carol,BOB@example.org,A,B\n"
      "Bob,Bobby,bobby@example.org,A,B\n");
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_FALSE(report->committed);
  ASSERT_EQ(report->rejected.size(), 2u);
  EXPECT_EQ(report->rejected[0].line, 3u);
  EXPECT_NE(report->rejected[0].reason.find("email"), std::string::npos);
  EXPECT_EQ(report->rejected[1].line, 4u);
  EXPECT_NE(report->rejected[1].reason.find("handle"), std::string::npos);
  EXPECT_EQ(*members_->Count(), 1);
  EXPECT_EQ(members_->GetByHandle("alice").error().code, ErrorCode::kNotFound);
}

TEST_F(MemberImportTest, MalformedCsvIsAnError) {
  auto report = Import("handle,display_name,email,organisation,job_title\n\"alice,A");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code, ErrorCode::kInvalidArgument);
  auto empty = Import("handle,display_name,email,organisation,job_title\n");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->committed);
  EXPECT_EQ(empty->imported, 0u);
}

}  // namespace
}  // namespace kith::identity
