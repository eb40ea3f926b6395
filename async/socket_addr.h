// SocketAddr: an IPv4 or IPv6 address and port, as the socket calls take
// it — what TcpListener::bind, TcpStream::connect and UdpSocket speak.
//
//   auto a = keel::async::SocketAddr::parse("127.0.0.1:6379");   // or "[::1]:6379"
//   if (!a) return a.error();                                   // std::errc::invalid_argument
//   std::uint16_t p = a->port();
//   std::string s = a->to_string();                             // "127.0.0.1:6379"
//
// Numeric addresses only: resolving names blocks, which a loop must not do.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <expected>
#include <string>
#include <string_view>
#include <system_error>

namespace keel::async {

class SocketAddr {
 public:
  SocketAddr() noexcept { std::memset(&storage_, 0, sizeof storage_); }

  // "a.b.c.d:port" or "[v6]:port"; std::errc::invalid_argument otherwise.
  static std::expected<SocketAddr, std::error_code> parse(std::string_view text);
  // From what accept(2) or recvfrom(2) filled in.
  static SocketAddr from_native(const sockaddr* addr, socklen_t len) noexcept;

  std::uint16_t port() const noexcept;
  bool is_ipv6() const noexcept { return storage_.ss_family == AF_INET6; }
  // "127.0.0.1:8080", "[::1]:8080"; "" for an empty address.
  std::string to_string() const;

  const sockaddr* native() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t native_size() const noexcept { return len_; }
  int family() const noexcept { return storage_.ss_family; }

  friend bool operator==(const SocketAddr& a, const SocketAddr& b) noexcept {
    return a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, a.len_) == 0;
  }

 private:
  sockaddr_storage storage_;
  socklen_t len_ = 0;
};

}  // namespace keel::async
