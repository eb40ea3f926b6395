// Pattern 43: socket-address bytes (async/internal/native_address.h) are
// written as the family they say they hold and read only as that family;
// what the kernel fills in is clamped to sockaddr_storage. Under ASan and
// UBSan: every accessor on every kind of content, oversize and truncated
// lengths, and the round trip through the kernel (getsockname).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstddef>

#include "async/internal/native_address.h"
#include "async/socket_addr.h"

namespace {

using keel::async::SocketAddr;
using keel::async::internal::NativeAddress;

TEST(NativeAddress, WritesAndReadsEachFamilyAsItself) {
  NativeAddress v4;
  ASSERT_TRUE(v4.set_ip(AF_INET, "10.1.2.3", 8080));
  EXPECT_EQ(v4.family(), AF_INET);
  EXPECT_EQ(v4.size(), sizeof(sockaddr_in));
  EXPECT_EQ(v4.port(), 8080);
  EXPECT_EQ(v4.host(), "10.1.2.3");
  NativeAddress v6;
  ASSERT_TRUE(v6.set_ip(AF_INET6, "fe80::1", 9));
  EXPECT_EQ(v6.family(), AF_INET6);
  EXPECT_EQ(v6.size(), sizeof(sockaddr_in6));
  EXPECT_EQ(v6.port(), 9);
  EXPECT_EQ(v6.host(), "fe80::1");
}

TEST(NativeAddress, ARefusedLiteralLeavesItEmpty) {
  NativeAddress a;
  ASSERT_TRUE(a.set_ip(AF_INET, "127.0.0.1", 1));
  EXPECT_FALSE(a.set_ip(AF_INET, "::1", 2));
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.family(), AF_UNSPEC);
  EXPECT_EQ(a.port(), 0);
  EXPECT_EQ(a.host(), "");
  EXPECT_FALSE(a.set_ip(AF_UNIX, "x", 3));
  EXPECT_EQ(SocketAddr().to_string(), "");
}

// More bytes than sockaddr_storage holds are cut to it; fewer than the
// family's struct are read as the family only through its length.
TEST(NativeAddress, KernelLengthsAreClampedToTheStorage) {
  std::array<std::byte, sizeof(sockaddr_storage) + 64> big{};
  sockaddr_in source{};
  source.sin_family = AF_INET;
  source.sin_port = htons(77);
  std::memcpy(big.data(), &source, sizeof source);
  NativeAddress a;
  a.assign(reinterpret_cast<const sockaddr*>(big.data()), static_cast<socklen_t>(big.size()));
  EXPECT_EQ(a.size(), sizeof(sockaddr_storage));
  EXPECT_EQ(a.port(), 77);
  sockaddr_storage out{};
  EXPECT_EQ(a.copy_to(out), sizeof(sockaddr_storage));
  NativeAddress b;
  b.assign(out, sizeof(sockaddr_in));
  EXPECT_EQ(b.port(), 77);
  EXPECT_FALSE(a == b);  // same port, different lengths
}

TEST(NativeAddress, NamesWhatTheKernelBound) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  NativeAddress want;
  ASSERT_TRUE(want.set_ip(AF_INET, "127.0.0.1", 0));
  ASSERT_EQ(::bind(fd, want.get(), want.size()), 0);
  NativeAddress got;
  ASSERT_TRUE(got.assign_name_of(fd, false));
  EXPECT_EQ(got.host(), "127.0.0.1");
  EXPECT_NE(got.port(), 0);
  EXPECT_FALSE(got.assign_name_of(fd, true));  // not connected: no peer
  ::close(fd);
  EXPECT_FALSE(got.assign_name_of(fd, false));  // closed
}

}  // namespace
