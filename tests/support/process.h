// Child processes for tests: spawn kithd/kithctl (or anything) with a deadline, capture
// their output, signal them, and always reap them.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kith::testing {

// How a finished process ended.
struct ExitStatus {
  int code = -1;           // exit code when exited normally, else -1
  int signal = 0;          // terminating signal, else 0
  bool timed_out = false;  // the deadline passed; the process was SIGKILLed
  bool exited() const { return signal == 0 && !timed_out && code >= 0; }
};

// The outcome of RunProcess.
struct ProcessResult {
  ExitStatus status;
  std::string out;  // everything written to stdout
  std::string err;  // everything written to stderr
};

struct ProcessOptions {
  // Extra environment variables (NAME, value) on top of the parent's environment.
  std::vector<std::pair<std::string, std::string>> env;
  // Environment variables to remove from the child's environment.
  std::vector<std::string> unset_env;
  std::optional<std::filesystem::path> cwd;
};

// A running child process whose stdout and stderr go to files in a private temp directory.
// The destructor SIGKILLs a child that is still running and reaps it, so a failing test never
// leaks processes. Not thread-safe.
class ChildProcess {
 public:
  // Starts `argv[0]` (a path, not looked up in PATH) with arguments argv[1..].
  // Returns nullopt (and adds a gtest failure naming the reason) when it cannot start.
  static std::optional<ChildProcess> Start(const std::vector<std::string>& argv,
                                           const ProcessOptions& options = {});

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();

  pid_t pid() const { return pid_; }

  // Sends `signal` (no-op once reaped).
  void Signal(int signal);

  // Waits until the process ends or `timeout` passes; on timeout it is SIGKILLed and
  // ExitStatus::timed_out is set. Safe to call again after it returned (returns the same).
  ExitStatus Wait(std::chrono::milliseconds timeout);

  // Whether the process is still running (reaps it if it has ended).
  bool Running();

  // What the process wrote so far.
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  // Kills a still-running child and removes its output folder (destructor, move-assignment).
  void Release();
  ChildProcess() = default;
  bool TryReap(bool block);
  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
  std::filesystem::path out_dir_;
};

// Runs a process to completion with a deadline and returns its status and output.
ProcessResult RunProcess(const std::vector<std::string>& argv, const ProcessOptions& options = {},
                         std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Paths of the programs under test (KITH_BIN_DIR).
std::string KithdPath();
std::string KithctlPath();

}  // namespace kith::testing
