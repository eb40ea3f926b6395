#include "async/io.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <stdexcept>

namespace keel::async {

// --- SocketAddr ----------------------------------------------------------------

namespace {
// Appended piece by piece: g++ 12 at -O3 warns (-Wrestrict) on the
// operator+ chain that would say the same.
std::string join_host_port(const char* host, bool bracketed, std::uint16_t port) {
  std::string out;
  if (bracketed) out += '[';
  out += host;
  if (bracketed) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}
}  // namespace

std::expected<SocketAddr, std::error_code> SocketAddr::parse(std::string_view text) {
  const auto invalid = std::unexpected(std::make_error_code(std::errc::invalid_argument));
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 >= text.size()) return invalid;
  const std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) return invalid;
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  const std::string literal(bracketed ? host.substr(1, host.size() - 2) : host);
  SocketAddr a;
  if (!a.native_.set_ip(bracketed ? AF_INET6 : AF_INET, literal.c_str(), static_cast<std::uint16_t>(port))) {
    return invalid;
  }
  return a;
}

SocketAddr SocketAddr::from_native(const sockaddr* addr, socklen_t len) noexcept {
  SocketAddr a;
  a.native_.assign(addr, len);
  return a;
}

std::string SocketAddr::to_string() const {
  const int f = family();
  if (f != AF_INET && f != AF_INET6) return {};
  return join_host_port(native_.host().c_str(), f == AF_INET6, port());
}

namespace internal {

namespace {

std::error_code last_error() noexcept { return errno_code(errno); }

// A socket for the current runtime's backend: blocking under io_uring (the
// ring waits for readiness itself), non-blocking under epoll.
std::expected<std::pair<IoDriver*, int>, std::error_code> new_socket(const char* what, int family, int type) {
  IoDriver& driver = IoDriver::current(what);
  const int flags = SOCK_CLOEXEC | (driver.completion_based() ? 0 : SOCK_NONBLOCK);
  const int fd = ::socket(family, type | flags, 0);
  if (fd < 0) return std::unexpected(last_error());
  return std::pair{&driver, fd};
}

SocketAddr name_of(int fd, bool peer) {
  SocketAddr a;
  if (!a.bytes().assign_name_of(fd, peer)) return SocketAddr();
  return a;
}

void set_nodelay_on(int fd) noexcept {
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

}  // namespace

void SourceHandle::throw_unusable(const char* operation) const {
  if (source_ == nullptr) throw std::logic_error(std::string("keel: ") + operation + " on a closed or moved-from object");
  throw std::logic_error(std::string("keel: ") + operation + " after the runtime that made the object was destroyed");
}

FinishAccept::Result FinishAccept::finish(IoDriver& driver, OpInput&, std::int32_t rc) {
  if (rc < 0) return std::unexpected(errno_code(-rc));
  set_nodelay_on(rc);
  return TcpStream(SourceHandle(driver.open_source(rc)));
}

FinishConnect::Result FinishConnect::finish(IoDriver&, OpInput& in, std::int32_t rc) {
  // The connecting socket's source was made for this operation; the
  // stream takes it over, or it closes here.
  SourceHandle source(std::exchange(in.source, nullptr));
  in.owns_source = false;
  if (rc < 0) return std::unexpected(errno_code(-rc));
  set_nodelay_on(source.fd());
  return TcpStream(std::move(source));
}

FinishOpen::Result FinishOpen::finish(IoDriver& driver, OpInput&, std::int32_t rc) {
  if (rc < 0) return std::unexpected(errno_code(-rc));
  return File(SourceHandle(driver.open_source(rc)));
}

}  // namespace internal

using internal::OpInput;
using internal::OpKind;

namespace {

// co_await: the multishot slot has a result queued (or has stopped).
struct NextQueued {
  internal::OpSlot* slot;
  bool await_ready() const noexcept { return !slot->items.empty(); }
  void await_suspend(std::coroutine_handle<> h) { slot->waiter = Waker::for_current_task(h, "a multishot stream's next()"); }
  void await_resume() const noexcept {}
};

}  // namespace

// --- TcpStream -----------------------------------------------------------------

Task<std::expected<TcpStream, std::error_code>> TcpStream::connect(std::string_view address) {
  auto parsed = SocketAddr::parse(address);
  if (!parsed) co_return std::unexpected(parsed.error());
  co_return co_await connect(*parsed);
}

ConnectOp TcpStream::connect(const SocketAddr& address) {
  auto made = internal::new_socket("TcpStream::connect()", address.family(), SOCK_STREAM);
  internal::IoDriver& driver = internal::IoDriver::current("TcpStream::connect()");
  OpInput in;
  in.kind = OpKind::kConnect;
  in.addr = address;
  if (!made) {
    in.error = made.error().value();
    return ConnectOp(driver, std::move(in));
  }
  // The op owns the socket until FinishConnect hands it to the stream.
  in.source = driver.open_source(made->second);
  in.owns_source = true;
  return ConnectOp(driver, std::move(in));
}

std::expected<TcpStream, std::error_code> TcpStream::adopt(int fd) {
  internal::IoDriver& driver = internal::IoDriver::current("TcpStream::adopt()");
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return std::unexpected(internal::errno_code(errno));
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return std::unexpected(internal::errno_code(errno));
  // Blocking under io_uring (the ring waits itself), non-blocking under epoll.
  const int wanted = driver.completion_based() ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK);
  if (wanted != flags && ::fcntl(fd, F_SETFL, wanted) != 0) return std::unexpected(internal::errno_code(errno));
  return TcpStream(internal::SourceHandle(driver.open_source(fd)));
}

BufferOp TcpStream::recv(Buffer buffer) {
  return BufferOp(source_.driver("TcpStream::recv()"), OpKind::kRecv, source_.get(), std::move(buffer));
}

BufferOp TcpStream::send(Buffer buffer) {
  return BufferOp(source_.driver("TcpStream::send()"), OpKind::kSend, source_.get(), std::move(buffer));
}

BytesOp TcpStream::send(Bytes bytes) {
  return BytesOp(source_.driver("TcpStream::send()"), OpKind::kSendBytes, source_.get(), std::move(bytes));
}

BufferOp TcpStream::send_all(Buffer buffer) {
  return BufferOp(source_.driver("TcpStream::send_all()"), OpKind::kSend, source_.get(), std::move(buffer), 0, true);
}

BytesOp TcpStream::send_all(Bytes bytes) {
  return BytesOp(source_.driver("TcpStream::send_all()"), OpKind::kSendBytes, source_.get(), std::move(bytes), 0, true);
}

BytesOp TcpStream::send_zc(Bytes bytes) {
  internal::IoDriver& driver = source_.driver("TcpStream::send_zc()");
  const OpKind kind = driver.send_zc_supported() ? OpKind::kSendZc : OpKind::kSendBytes;
  return BytesOp(driver, kind, source_.get(), std::move(bytes));
}

std::error_code TcpStream::shutdown(int how) noexcept {
  if (::shutdown(fd(), how) != 0) return internal::errno_code(errno);
  return {};
}

std::error_code TcpStream::set_nodelay(bool on) noexcept {
  const int value = on ? 1 : 0;
  if (::setsockopt(fd(), IPPROTO_TCP, TCP_NODELAY, &value, sizeof value) != 0) return internal::errno_code(errno);
  return {};
}

SocketAddr TcpStream::local_addr() const { return internal::name_of(fd(), false); }
SocketAddr TcpStream::peer_addr() const { return internal::name_of(fd(), true); }

// --- RecvStream ----------------------------------------------------------------

RecvStream TcpStream::recv_stream(BufferPool& pool, std::size_t quota) {
  return RecvStream(*this, pool, source_.driver("TcpStream::recv_stream()"), quota);
}

RecvStream::RecvStream(TcpStream& stream, BufferPool& pool, internal::IoDriver& driver, std::size_t quota)
    : pool_(&pool), driver_(&driver), source_(stream.source_.get()) {
  internal::IoDriver::ref(source_);
  // Without a ring (epoll, or the kernel refused one) next() reads one buffer at a time.
  if (driver.completion_based()) slot_ = driver.open_recv_multishot(source_, pool, quota);
}

RecvStream::~RecvStream() {
  if (source_ == nullptr) return;
  if (slot_ != nullptr && source_->driver != nullptr) driver_->drop_multishot(slot_);
  internal::IoDriver::unref(source_);
}

Task<std::expected<Buffer, std::error_code>> RecvStream::next() {
  if (source_->driver == nullptr) throw std::logic_error("keel: RecvStream::next() after its runtime was destroyed");
  internal::OpSlot* slot = slot_;
  // Bytes kept from abandoned reads, or a read of an earlier stream still
  // in the kernel: a plain recv, which waits for that read and takes the
  // kept bytes first, keeps the byte order.
  if (slot == nullptr || !source_->leftovers.empty() || source_->orphaned_reads > 0) {
    Buffer buffer = co_await pool_->acquire();
    auto [n, b] = co_await BufferOp(*driver_, OpKind::kRecv, source_, std::move(buffer));
    if (!n) co_return std::unexpected(n.error());
    co_return std::move(b);
  }
  while (slot->items.empty()) {
    // The end came already: end of stream, or the error that ended it.
    if (slot->finished) {
      if (slot->result < 0) co_return std::unexpected(internal::errno_code(-slot->result));
      co_return Buffer();
    }
    if (driver_->top_up(slot) == 0) {
      // Every buffer of the pool is out: wait for one to come back.
      Buffer back = co_await pool_->acquire();
      driver_->lend(slot, std::move(back));
      continue;
    }
    if (!driver_->arm(slot)) co_return std::unexpected(internal::errno_code(EBUSY));
    co_await NextQueued{slot};
  }
  internal::MultishotItem item = std::move(slot->items.front());
  slot->items.pop_front();
  if (item.result < 0) co_return std::unexpected(internal::errno_code(-item.result));
  // Taking one may bring the queue under its quota: receive again.
  if (!driver_->arm(slot)) co_return std::unexpected(internal::errno_code(EBUSY));
  co_return std::move(item.buffer);
}

// --- TcpListener ---------------------------------------------------------------

std::expected<TcpListener, std::error_code> TcpListener::bind(std::string_view address, int backlog) {
  auto parsed = SocketAddr::parse(address);
  if (!parsed) return std::unexpected(parsed.error());
  return bind(*parsed, backlog);
}

std::expected<TcpListener, std::error_code> TcpListener::bind(const SocketAddr& address, int backlog) {
  return bind(address, ListenOptions{.backlog = backlog});
}

std::expected<TcpListener, std::error_code> TcpListener::bind(const SocketAddr& address, ListenOptions options) {
  auto made = internal::new_socket("TcpListener::bind()", address.family(), SOCK_STREAM);
  if (!made) return std::unexpected(made.error());
  auto [driver, fd] = *made;
  internal::SourceHandle source(driver->open_source(fd));
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (options.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
    return std::unexpected(internal::errno_code(errno));
  }
  if (::bind(fd, address.native(), address.native_size()) != 0 || ::listen(fd, options.backlog) != 0) {
    return std::unexpected(internal::errno_code(errno));
  }
  return TcpListener(std::move(source));
}

AcceptOp TcpListener::accept() {
  OpInput in;
  in.kind = OpKind::kAccept;
  in.source = source_.get();
  return AcceptOp(source_.driver("TcpListener::accept()"), std::move(in));
}

SocketAddr TcpListener::local_addr() const { return internal::name_of(fd(), false); }

AcceptStream TcpListener::incoming(std::size_t quota) {
  return AcceptStream(*this, source_.driver("TcpListener::incoming()"), quota);
}

// --- AcceptStream --------------------------------------------------------------

AcceptStream::AcceptStream(TcpListener& listener, internal::IoDriver& driver, std::size_t quota)
    : driver_(&driver), source_(listener.source_.get()) {
  internal::IoDriver::ref(source_);
  if (!driver.completion_based()) return;
  slot_ = driver.acquire();
  if (slot_ == nullptr) return;  // no slot free: next() accepts one at a time
  slot_->kind = OpKind::kAcceptMulti;
  slot_->state = internal::OpState::kIdle;
  slot_->quota = static_cast<std::uint32_t>(std::max<std::size_t>(quota, 1));
  slot_->source = source_;
  internal::IoDriver::ref(source_);
}

AcceptStream::~AcceptStream() {
  if (source_ == nullptr) return;
  // The runtime may have gone first: then so did the slot.
  if (slot_ != nullptr && source_->driver != nullptr) driver_->drop_multishot(slot_);
  internal::IoDriver::unref(source_);
}


Task<std::expected<TcpStream, std::error_code>> AcceptStream::next() {
  if (slot_ == nullptr) {
    OpInput in;
    in.kind = OpKind::kAccept;
    in.source = source_;
    co_return co_await AcceptOp(*driver_, std::move(in));
  }
  if (source_->driver == nullptr) throw std::logic_error("keel: AcceptStream::next() after its runtime was destroyed");
  internal::OpSlot* slot = slot_;
  while (slot->items.empty()) {
    if (!driver_->arm(slot)) co_return std::unexpected(internal::errno_code(EBUSY));
    co_await NextQueued{slot};
  }
  const std::int32_t rc = slot->items.front().result;
  slot->items.pop_front();
  // Taking one may bring the queue under its quota: accept again.
  if (!driver_->arm(slot)) co_return std::unexpected(internal::errno_code(EBUSY));
  OpInput none;
  co_return internal::FinishAccept::finish(*driver_, none, rc);
}

// --- UdpSocket -----------------------------------------------------------------

std::expected<UdpSocket, std::error_code> UdpSocket::bind(std::string_view address) {
  auto parsed = SocketAddr::parse(address);
  if (!parsed) return std::unexpected(parsed.error());
  return bind(*parsed);
}

std::expected<UdpSocket, std::error_code> UdpSocket::bind(const SocketAddr& address) {
  auto made = internal::new_socket("UdpSocket::bind()", address.family(), SOCK_DGRAM);
  if (!made) return std::unexpected(made.error());
  auto [driver, fd] = *made;
  internal::SourceHandle source(driver->open_source(fd));
  if (::bind(fd, address.native(), address.native_size()) != 0) return std::unexpected(internal::errno_code(errno));
  return UdpSocket(std::move(source));
}

RecvFromOp UdpSocket::recv_from(Buffer buffer) {
  OpInput in;
  in.kind = OpKind::kRecvFrom;
  in.source = source_.get();
  in.buffer = std::move(buffer);
  return RecvFromOp(source_.driver("UdpSocket::recv_from()"), std::move(in));
}

SendToOp UdpSocket::send_to(Buffer buffer, const SocketAddr& to) {
  OpInput in;
  in.kind = OpKind::kSendTo;
  in.source = source_.get();
  in.buffer = std::move(buffer);
  in.addr = to;
  return SendToOp(source_.driver("UdpSocket::send_to()"), std::move(in));
}

SendBytesToOp UdpSocket::send_to(Bytes bytes, const SocketAddr& to) {
  OpInput in;
  in.kind = OpKind::kSendBytesTo;
  in.source = source_.get();
  in.bytes = std::move(bytes);
  in.addr = to;
  return SendBytesToOp(source_.driver("UdpSocket::send_to()"), std::move(in));
}

SocketAddr UdpSocket::local_addr() const { return internal::name_of(fd(), false); }

// --- File ----------------------------------------------------------------------

OpenOp File::open(std::string path) {
  OpInput in;
  in.kind = OpKind::kOpen;
  in.path = std::move(path);
  in.open_flags = O_RDONLY | O_CLOEXEC;
  return OpenOp(internal::IoDriver::current("File::open()"), std::move(in));
}

OpenOp File::create(std::string path) {
  OpInput in;
  in.kind = OpKind::kOpen;
  in.path = std::move(path);
  in.open_flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
  in.open_mode = 0644;
  return OpenOp(internal::IoDriver::current("File::create()"), std::move(in));
}

BufferOp File::read_at(Buffer buffer, std::uint64_t offset) {
  return BufferOp(source_.driver("File::read_at()"), OpKind::kReadAt, source_.get(), std::move(buffer), offset);
}

BufferOp File::write_at(Buffer buffer, std::uint64_t offset) {
  return BufferOp(source_.driver("File::write_at()"), OpKind::kWriteAt, source_.get(), std::move(buffer), offset);
}

BytesOp File::write_at(Bytes bytes, std::uint64_t offset) {
  return BytesOp(source_.driver("File::write_at()"), OpKind::kWriteBytesAt, source_.get(), std::move(bytes), offset);
}

FsyncOp File::fsync() {
  OpInput in;
  in.kind = OpKind::kFsync;
  in.source = source_.get();
  return FsyncOp(source_.driver("File::fsync()"), std::move(in));
}

}  // namespace keel::async
