#include "identity/password.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>

namespace kith::identity {
namespace {

std::string AsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Error Weak(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message), "weak_password");
}

Error Busy() {
  return MakeError(ErrorCode::kUnavailable, "the password hasher is busy; try again shortly",
                   "busy");
}

}  // namespace

std::optional<size_t> Utf8CodePoints(std::string_view text) {
  size_t count = 0;
  size_t i = 0;
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  while (i < text.size()) {
    const unsigned char c = s[i];
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + len > text.size()) return std::nullopt;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    static constexpr uint32_t kMinForLen[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLen[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return std::nullopt;
    i += len;
    ++count;
  }
  return count;
}

Status CheckPasswordRules(std::string_view password, std::string_view handle,
                          std::string_view email) {
  if (password.size() > kMaxPasswordBytes)
    return Weak("the password is longer than " + std::to_string(kMaxPasswordBytes) + " bytes");
  auto points = Utf8CodePoints(password);
  if (!points) return Weak("the password is not valid UTF-8");
  if (*points < kMinPasswordCodePoints)
    return Weak("the password must have at least " + std::to_string(kMinPasswordCodePoints) +
                " characters");
  const std::string lower = AsciiLower(password);
  const std::string lower_email = AsciiLower(email);
  const std::string local = lower_email.substr(0, lower_email.find('@'));
  struct Part {
    std::string text;
    const char* what;
  };
  for (const Part& part :
       {Part{AsciiLower(handle), "the handle"}, Part{lower_email, "the email address"},
        Part{local, "the email address"}}) {
    if (part.text.empty()) continue;
    if (lower == part.text) return Weak(std::string("the password must not be ") + part.what);
    if (part.text.size() >= 4 && lower.find(part.text) != std::string::npos)
      return Weak(std::string("the password must not contain ") + part.what);
  }
  return OkStatus();
}

SecretString& SecretString::operator=(SecretString&& other) noexcept {
  if (this != &other) {
    Wipe();
    value_ = std::move(other.value_);
    other.Wipe();
  }
  return *this;
}

void SecretString::Wipe() {
  // Wipe the whole buffer, including bytes beyond size() left by earlier contents.
  if (value_.capacity() > 0) {
    value_.resize(value_.capacity());
    sodium_memzero(value_.data(), value_.size());
  }
  value_.clear();
}

PasswordHashParams PasswordHashParams::Interactive() {
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}
PasswordHashParams PasswordHashParams::Moderate() {
  return {crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
}
PasswordHashParams PasswordHashParams::Minimum() {
  return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
}

PasswordHasher::PasswordHasher(Options options) : options_(options) {
  if (sodium_init() < 0) std::abort();  // libsodium unusable: nothing safe to do
  options_.threads = std::clamp<size_t>(options_.threads, 1, 64);
  for (size_t i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { Run(); });
}

PasswordHasher::~PasswordHasher() {
  std::deque<Item> rejected;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    rejected.swap(queue_);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  for (auto& item : rejected) item.reject();
}

size_t PasswordHasher::QueueDepth() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void PasswordHasher::Enqueue(std::function<void()> work, std::function<void()> reject) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && queue_.size() < options_.max_queue) {
      queue_.push_back(Item{std::move(work), std::move(reject)});
      cv_.notify_one();
      return;
    }
  }
  reject();
}

void PasswordHasher::Run() {
  for (;;) {
    Item item;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    item.work();
  }
}

const std::string& PasswordHasher::DummyHash() {
  std::call_once(dummy_once_, [this] {
    char out[crypto_pwhash_STRBYTES];
    static constexpr char kDummy[] = "kith dummy password for timing";
    if (crypto_pwhash_str(out, kDummy, sizeof kDummy - 1, options_.params.opslimit,
                          options_.params.memlimit) == 0)
      dummy_hash_ = out;
  });
  return dummy_hash_;
}

void PasswordHasher::Hash(SecretString password, std::function<void(Result<std::string>)> done) {
  if (password.empty() || password.size() > kMaxPasswordBytes) {
    done(MakeError(ErrorCode::kInvalidArgument, "the password is empty or too long"));
    return;
  }
  auto shared_pw = std::make_shared<SecretString>(std::move(password));
  auto shared_done = std::make_shared<std::function<void(Result<std::string>)>>(std::move(done));
  Enqueue(
      [this, shared_pw, shared_done] {
        char out[crypto_pwhash_STRBYTES];
        if (crypto_pwhash_str(out, shared_pw->view().data(), shared_pw->size(),
                              options_.params.opslimit, options_.params.memlimit) != 0) {
          (*shared_done)(MakeError(ErrorCode::kInternal, "Argon2id ran out of memory"));
          return;
        }
        (*shared_done)(std::string(out));
      },
      [shared_done] { (*shared_done)(Busy()); });
}

void PasswordHasher::Verify(std::string stored_hash, SecretString password,
                            std::function<void(Result<PasswordCheck>)> done) {
  if (password.size() > kMaxPasswordBytes) {
    done(PasswordCheck{});  // cannot match anything we stored
    return;
  }
  auto shared_pw = std::make_shared<SecretString>(std::move(password));
  auto shared_done = std::make_shared<std::function<void(Result<PasswordCheck>)>>(std::move(done));
  Enqueue(
      [this, shared_pw, shared_done, hash = std::move(stored_hash)] {
        const bool dummy = hash.empty();
        const std::string& against = dummy ? DummyHash() : hash;
        PasswordCheck check;
        if (!against.empty()) {
          check.matches = crypto_pwhash_str_verify(against.c_str(), shared_pw->view().data(),
                                                   shared_pw->size()) == 0;
        }
        if (dummy) {
          check.matches = false;
        } else if (check.matches) {
          check.needs_rehash =
              crypto_pwhash_str_needs_rehash(hash.c_str(), options_.params.opslimit,
                                             options_.params.memlimit) != 0;
        }
        (*shared_done)(check);
      },
      [shared_done] { (*shared_done)(Busy()); });
}

}  // namespace kith::identity
