// Request and its arena: plain storage helpers, no parsing.
#include "core/protocol/request.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace kiln::protocol {

char* Arena::Allocate(size_t n) {
  if (blocks_.empty() || blocks_.back().size - blocks_.back().used < n) {
    Block b;
    b.size = std::max(kBlockSize, n);
    b.data = std::make_unique_for_overwrite<char[]>(b.size);  // written before read: no zeroing
    blocks_.push_back(std::move(b));
  }
  Block& b = blocks_.back();
  char* p = b.data.get() + b.used;
  b.used += n;
  used_total_ += n;
  return p;
}

std::string_view Arena::Copy(std::string_view s) {
  char* p = Allocate(s.size());
  if (!s.empty()) {
    std::memcpy(p, s.data(), s.size());
  }
  return std::string_view(p, s.size());
}

std::string_view Arena::Join(std::string_view a, std::string_view sep, std::string_view b) {
  const size_t n = a.size() + sep.size() + b.size();
  char* p = Allocate(n);
  char* w = p;
  for (std::string_view part : {a, sep, b}) {
    if (!part.empty()) {
      std::memcpy(w, part.data(), part.size());
      w += part.size();
    }
  }
  return std::string_view(p, n);
}

void Arena::Reset() {
  if (blocks_.size() > 1) {
    blocks_.erase(blocks_.begin() + 1, blocks_.end());
  }
  if (!blocks_.empty()) {
    blocks_.front().used = 0;
  }
  used_total_ = 0;
}

void Request::OwnHead(const char* buf, size_t len) {
  if (len > head_store_capacity_) {
    // Not value-initialised: every byte used is copied in below.
    head_store_ = std::make_unique_for_overwrite<char[]>(len);
    head_store_capacity_ = len;
  }
  if (len > 0) std::memcpy(head_store_.get(), buf, len);
  // Compared as integers: the views may point anywhere (arena, connection strings, literals).
  const uintptr_t from = reinterpret_cast<uintptr_t>(buf);
  char* const to = head_store_.get();
  auto rebase = [&](std::string_view& v) {
    const uintptr_t at = reinterpret_cast<uintptr_t>(v.data());
    if (at - from < len) v = std::string_view(to + (at - from), v.size());
  };
  for (Var& v : vars) {
    rebase(v.name);
    rebase(v.value);
  }
}

namespace {

// Many CGI names share a length (REQUEST_URI, REMOTE_ADDR, SERVER_PORT...): their last bytes
// tell them apart before memcmp is called.
bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && (a.empty() || a.back() == b.back()) && a == b;
}

}  // namespace

// A scan, newest first. A hash index built per request was tried (issue 20) and cost more
// than it saved on the hello-world path: ~10 variables and ~9 lookups per request.
std::optional<std::string_view> Request::Get(std::string_view name) const {
  for (auto it = vars.rbegin(); it != vars.rend(); ++it) {
    if (SameName(it->name, name)) {
      return it->value;
    }
  }
  return std::nullopt;
}

void Request::Set(std::string_view name, std::string_view value) {
  for (auto it = vars.rbegin(); it != vars.rend(); ++it) {
    if (it->name == name) {
      it->value = value;
      return;
    }
  }
  vars.push_back({name, value});
}

size_t Request::EncodedVarsSize() const {
  size_t n = 0;
  for (const Var& v : vars) {
    n += 4 + v.name.size() + v.value.size();
  }
  return n;
}

void Request::Clear() {
  modifier1 = modifier2 = 0;
  vars.clear();
  head_bytes = 0;
  arena.Reset();
}

}  // namespace kiln::protocol
