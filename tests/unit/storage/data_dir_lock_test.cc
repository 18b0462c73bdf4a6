#include "storage/data_dir_lock.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "tests/support/temp_dir.h"

namespace kith::storage {
namespace {

TEST(DataDirLockTest, SecondAcquireFailsUntilReleased) {
  testing::TempDir dir("lock");
  EXPECT_FALSE(DataDirLock::IsHeld(dir.path()));
  {
    auto first = DataDirLock::Acquire(dir.path());
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_TRUE(DataDirLock::IsHeld(dir.path()));

    // flock belongs to the open file description, so a second open in this process conflicts
    // just as another kithd would.
    auto second = DataDirLock::Acquire(dir.path());
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, ErrorCode::kConflict);
    EXPECT_NE(second.error().message.find(dir.path().string()), std::string::npos);
    EXPECT_NE(second.error().message.find("kithd"), std::string::npos);

    struct stat st {};
    ASSERT_EQ(::stat((dir / "kithd.lock").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  // Released with its owner.
  EXPECT_FALSE(DataDirLock::IsHeld(dir.path()));
  auto third = DataDirLock::Acquire(dir.path());
  EXPECT_TRUE(third.ok());
}

TEST(DataDirLockTest, MissingDirectoryIsAnError) {
  testing::TempDir dir("lock");
  auto lock = DataDirLock::Acquire(dir / "missing");
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.error().code, ErrorCode::kInternal);
  EXPECT_NE(lock.error().message.find("kithd.lock"), std::string::npos);
  EXPECT_FALSE(DataDirLock::IsHeld(dir / "missing"));
}

}  // namespace
}  // namespace kith::storage
