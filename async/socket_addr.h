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

#include "async/internal/native_address.h"

namespace keel::async {

class SocketAddr {
 public:
  SocketAddr() noexcept = default;

  // "a.b.c.d:port" or "[v6]:port"; std::errc::invalid_argument otherwise.
  static std::expected<SocketAddr, std::error_code> parse(std::string_view text);
  // From what accept(2) or recvfrom(2) filled in.
  static SocketAddr from_native(const sockaddr* addr, socklen_t len) noexcept;

  std::uint16_t port() const noexcept { return native_.port(); }
  bool is_ipv6() const noexcept { return native_.family() == AF_INET6; }
  // "127.0.0.1:8080", "[::1]:8080"; "" for an empty address.
  std::string to_string() const;

  const sockaddr* native() const noexcept { return native_.get(); }
  socklen_t native_size() const noexcept { return native_.size(); }
  int family() const noexcept { return native_.family(); }
  // The bytes themselves, for the IO layer.
  const internal::NativeAddress& bytes() const noexcept { return native_; }
  internal::NativeAddress& bytes() noexcept { return native_; }

  friend bool operator==(const SocketAddr& a, const SocketAddr& b) noexcept = default;

 private:
  internal::NativeAddress native_;
};

}  // namespace keel::async
