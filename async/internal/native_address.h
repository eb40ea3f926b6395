// NativeAddress: the kernel's socket-address bytes — a sockaddr_storage and
// its length — behind typed accessors, so that SocketAddr and the IO
// objects never reinterpret those bytes themselves.
//
//   internal::NativeAddress a;
//   if (!a.set_ip(AF_INET, "127.0.0.1", 8080)) return invalid;
//   ::bind(fd, a.get(), a.size());
//   std::uint16_t p = a.port();                 // 8080
//
// Not for user code: async/socket_addr.h wraps it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace keel::async::internal {

class NativeAddress {
 public:
  NativeAddress() noexcept { std::memset(&storage_, 0, sizeof storage_); }

  // An IPv4 (AF_INET) or IPv6 (AF_INET6) literal and a port; false, and
  // the address left empty, when `host` is not a literal of that family.
  bool set_ip(int family, const char* host, std::uint16_t port) noexcept {
    *this = NativeAddress();
    // SAFETY: sockaddr_storage is sized and aligned for every sockaddr_in*
    // (its purpose, POSIX); the family written below names which one the
    // bytes hold, and every reader checks it first.
    if (family == AF_INET) {
      auto* v4 = reinterpret_cast<sockaddr_in*>(&storage_);
      v4->sin_family = AF_INET;
      v4->sin_port = htons(port);
      if (inet_pton(AF_INET, host, &v4->sin_addr) != 1) return clear();
      len_ = sizeof(sockaddr_in);
      return true;
    }
    if (family == AF_INET6) {
      auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage_);
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(port);
      if (inet_pton(AF_INET6, host, &v6->sin6_addr) != 1) return clear();
      len_ = sizeof(sockaddr_in6);
      return true;
    }
    return false;
  }

  // What the kernel filled in (accept, recvfrom, getsockname): at most
  // sizeof(sockaddr_storage) bytes are kept.
  void assign(const sockaddr* addr, socklen_t len) noexcept {
    *this = NativeAddress();
    if (len > sizeof storage_) len = sizeof storage_;
    std::memcpy(&storage_, addr, len);
    len_ = len;
  }
  void assign(const sockaddr_storage& addr, socklen_t len) noexcept {
    // SAFETY: sockaddr_storage begins with the common sockaddr header.
    assign(reinterpret_cast<const sockaddr*>(&addr), len);
  }

  // getsockname(2) (or getpeername(2) when `peer`); false on error.
  bool assign_name_of(int fd, bool peer) noexcept {
    sockaddr_storage out{};
    socklen_t len = sizeof out;
    // SAFETY: the kernel writes at most `len` bytes of a sockaddr into `out`.
    auto* as_sockaddr = reinterpret_cast<sockaddr*>(&out);
    const int rc = peer ? ::getpeername(fd, as_sockaddr, &len) : ::getsockname(fd, as_sockaddr, &len);
    if (rc != 0) return false;
    assign(out, len);
    return true;
  }

  // Copies the address into kernel-facing storage; returns its length.
  socklen_t copy_to(sockaddr_storage& out) const noexcept {
    std::memcpy(&out, &storage_, len_);
    return len_;
  }

  int family() const noexcept { return len_ == 0 ? AF_UNSPEC : storage_.ss_family; }

  std::uint16_t port() const noexcept {
    // SAFETY: read only as the family the bytes say they hold.
    if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    return 0;
  }

  // "127.0.0.1", "::1"; empty for an address that is not IP.
  std::string host() const {
    char text[INET6_ADDRSTRLEN] = {};
    // SAFETY: as port().
    if (family() == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text, sizeof text);
    } else if (family() == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text, sizeof text);
    }
    return text;
  }

  // For bind(2), connect(2), sendto(2).
  const sockaddr* get() const noexcept {
    // SAFETY: sockaddr_storage begins with the common sockaddr header.
    return reinterpret_cast<const sockaddr*>(&storage_);
  }
  socklen_t size() const noexcept { return len_; }

  friend bool operator==(const NativeAddress& a, const NativeAddress& b) noexcept {
    return a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, a.len_) == 0;
  }

 private:
  bool clear() noexcept {
    *this = NativeAddress();
    return false;
  }

  sockaddr_storage storage_;
  socklen_t len_ = 0;
};

}  // namespace keel::async::internal
