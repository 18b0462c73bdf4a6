#include "tests/support/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

extern char** environ;

namespace kith::testing {
namespace {

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

ExitStatus FromWaitStatus(int status) {
  ExitStatus s;
  if (WIFEXITED(status)) s.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) s.signal = WTERMSIG(status);
  return s;
}

}  // namespace

std::optional<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                                const ProcessOptions& options) {
  if (argv.empty()) {
    ADD_FAILURE() << "ChildProcess::Start: empty argv";
    return std::nullopt;
  }
  ChildProcess child;
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/kith-proc-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed: " << std::strerror(errno);
    return std::nullopt;
  }
  child.out_dir_ = pattern;

  // Everything the child needs is prepared before fork: only async-signal-safe calls after.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    std::string name = entry.substr(0, entry.find('='));
    bool drop = false;
    for (const auto& u : options.unset_env) drop = drop || u == name;
    for (const auto& [k, v] : options.env) drop = drop || k == name;
    if (!drop) env_strings.push_back(std::move(entry));
  }
  for (const auto& [k, v] : options.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argvp;
  for (auto& s : args) argvp.push_back(s.data());
  argvp.push_back(nullptr);
  const std::string out_path = (child.out_dir_ / "stdout").string();
  const std::string err_path = (child.out_dir_ / "stderr").string();
  const std::string cwd = options.cwd ? options.cwd->string() : std::string();

  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out_fd < 0 || err_fd < 0 || null_fd < 0) {
    ADD_FAILURE() << "cannot open output files in " << child.out_dir_;
    return std::nullopt;
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(null_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execve(argvp[0], argvp.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  ::close(null_fd);
  if (pid < 0) {
    ADD_FAILURE() << "fork failed: " << std::strerror(errno);
    return std::nullopt;
  }
  child.pid_ = pid;
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      status_(std::move(other.status_)),
      out_dir_(std::exchange(other.out_dir_, {})) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    Release();  // ends our own child first (the members stay alive to be assigned)
    status_.reset();
    pid_ = std::exchange(other.pid_, -1);
    status_ = std::move(other.status_);
    out_dir_ = std::exchange(other.out_dir_, {});
  }
  return *this;
}

ChildProcess::~ChildProcess() { Release(); }

void ChildProcess::Release() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    TryReap(true);
  }
  if (!out_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(out_dir_, ignored);
  }
}

bool ChildProcess::TryReap(bool block) {
  if (status_ || pid_ <= 0) return true;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    status_ = FromWaitStatus(status);
    return true;
  }
  if (r < 0) {  // not our child any more; treat as gone
    status_ = ExitStatus{};
    return true;
  }
  return false;
}

void ChildProcess::Signal(int signal) {
  if (pid_ > 0 && !status_) ::kill(pid_, signal);
}

ExitStatus ChildProcess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (!TryReap(false)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      TryReap(true);
      status_->timed_out = true;
      break;
    }
    // Polling a child's state: back off up to 20 ms between checks.
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
  return *status_;
}

bool ChildProcess::Running() { return !TryReap(false); }

std::string ChildProcess::Stdout() const { return ReadAll(out_dir_ / "stdout"); }
std::string ChildProcess::Stderr() const { return ReadAll(out_dir_ / "stderr"); }

ProcessResult RunProcess(const std::vector<std::string>& argv, const ProcessOptions& options,
                         std::chrono::milliseconds timeout) {
  ProcessResult result;
  auto child = ChildProcess::Start(argv, options);
  if (!child) {
    result.status.code = -1;
    return result;
  }
  result.status = child->Wait(timeout);
  result.out = child->Stdout();
  result.err = child->Stderr();
  return result;
}

// Built with std::filesystem::path: GCC 12 warns falsely (-Warray-bounds) on string + literal.
std::string KithdPath() { return (std::filesystem::path(KITH_BIN_DIR) / "kithd").string(); }
std::string KithctlPath() { return (std::filesystem::path(KITH_BIN_DIR) / "kithctl").string(); }

}  // namespace kith::testing
