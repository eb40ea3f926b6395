// Completion-based IO for keel::async tasks: TCP listeners and streams,
// UDP sockets and files, on the runtime's ring. Every operation takes its
// buffer by value and gives it back with the result — on success and on
// error alike — so the kernel never writes into memory a task still uses,
// and the caller reuses the buffer without allocating.
//
//   auto listener = keel::async::TcpListener::bind("127.0.0.1:0").value();
//   keel::async::TcpStream s = (co_await listener.accept()).value();
//   auto [n, buf] = co_await s.recv(keel::Buffer(4096));   // n: std::expected<size_t, std::error_code>
//   if (n && *n > 0) auto [m, back] = co_await s.send_all(std::move(buf));
//   auto f = co_await keel::async::File::open("/etc/hostname");
//
// Cancelling loses nothing: a task destroyed while an operation is in the
// kernel (abort, timeout, scope exit) leaves the operation to the runtime,
// which keeps its buffer until the kernel is done; bytes that recv then
// receives go to the next recv on the same stream, and an fd accepted or
// opened for a task that is gone is closed. So a loop of
// timeout(d, recv_some(s, buf)) reads the peer's byte stream exactly —
// timeout() takes a Task, so the recv goes in a coroutine function of its
// own (recv_some). A send cut short may have sent part of its bytes, and
// how many is not reported.
//
// On io_uring each operation is one submission on the runtime's ring (the
// World's, when it has one); when that ring runs on epoll, the same calls
// run as readiness plus non-blocking system calls (files: plain
// pread/pwrite, which block the thread while they run). Objects are made
// and used on a runtime's thread; the destructor closes the fd. Past
// RuntimeOptions::max_io_operations in progress, an operation fails with
// ENOBUFS, its buffer back.
//
// Not for: blocking work (a task that blocks stops the thread's loop), or
// sharing one stream between tasks that read at once (reads are not
// ordered among themselves). See docs/io.md.
#pragma once

#include <cstddef>
#include <sys/socket.h>

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "async/buffer.h"
#include "async/buffer_pool.h"
#include "async/internal/io_driver.h"
#include "async/internal/io_op.h"
#include "async/internal/transfer_op.h"
#include "async/io_result.h"
#include "async/socket_addr.h"
#include "async/task.h"

namespace keel::async {


// recv_from: also who sent the datagram.
struct RecvFromResult {
  std::expected<std::size_t, std::error_code> result;
  Buffer buffer;
  SocketAddr from;
};

class TcpStream;
class File;
class RecvStream;
class AcceptStream;

namespace internal {

template <class B>
struct FinishBufferOp {
  using Result = IoResult<B>;
  static Result finish(IoDriver&, OpInput& in, std::int32_t rc) {
    Result r{std::size_t{0}, {}};
    if (rc < 0) r.result = std::unexpected(errno_code(-rc));
    else r.result = static_cast<std::size_t>(rc);
    if constexpr (std::is_same_v<B, Buffer>) r.buffer = std::move(in.buffer);
    else r.buffer = std::move(in.bytes);
    return r;
  }
};

struct FinishRecvFrom {
  using Result = RecvFromResult;
  static Result finish(IoDriver&, OpInput& in, std::int32_t rc) {
    RecvFromResult r{std::size_t{0}, std::move(in.buffer), SocketAddr()};
    if (rc < 0) {
      r.result = std::unexpected(errno_code(-rc));
    } else {
      r.result = static_cast<std::size_t>(rc);
      r.from = in.addr;
    }
    return r;
  }
};

struct FinishAccept {
  using Result = std::expected<TcpStream, std::error_code>;
  static Result finish(IoDriver& driver, OpInput& in, std::int32_t rc);
};
struct FinishConnect {
  using Result = std::expected<TcpStream, std::error_code>;
  static Result finish(IoDriver& driver, OpInput& in, std::int32_t rc);
};
struct FinishOpen {
  using Result = std::expected<File, std::error_code>;
  static Result finish(IoDriver& driver, OpInput& in, std::int32_t rc);
};
struct FinishFsync {
  using Result = std::expected<void, std::error_code>;
  static Result finish(IoDriver&, OpInput&, std::int32_t rc) {
    if (rc < 0) return std::unexpected(errno_code(-rc));
    return {};
  }
};

// Owns one IoSource reference (the fd with it).
class SourceHandle {
 public:
  SourceHandle() noexcept = default;
  explicit SourceHandle(IoSource* source) noexcept : source_(source) {}
  SourceHandle(SourceHandle&& other) noexcept : source_(std::exchange(other.source_, nullptr)) {}
  SourceHandle& operator=(SourceHandle&& other) noexcept {
    if (this != &other) {
      IoDriver::close_source(source_);
      source_ = std::exchange(other.source_, nullptr);
    }
    return *this;
  }
  ~SourceHandle() { IoDriver::close_source(source_); }

  IoSource* get() const noexcept { return source_; }
  int fd() const noexcept { return source_ != nullptr ? source_->fd : -1; }
  // The driver to run operations on: the source's (an object is used by
  // the runtime that made it), or std::logic_error once that runtime is gone.
  IoDriver& driver(const char* operation) const {
    if (source_ == nullptr || source_->driver == nullptr) [[unlikely]] throw_unusable(operation);
    return *source_->driver;
  }
  explicit operator bool() const noexcept { return source_ != nullptr; }

 private:
  [[noreturn]] void throw_unusable(const char* operation) const;

  IoSource* source_ = nullptr;
};

}  // namespace internal

using BufferOp = internal::TransferOp<Buffer>;
using BytesOp = internal::TransferOp<Bytes>;
using SendToOp = internal::IoOp<internal::FinishBufferOp<Buffer>>;
using SendBytesToOp = internal::IoOp<internal::FinishBufferOp<Bytes>>;
using RecvFromOp = internal::IoOp<internal::FinishRecvFrom>;
using AcceptOp = internal::IoOp<internal::FinishAccept>;
using ConnectOp = internal::IoOp<internal::FinishConnect>;
using OpenOp = internal::IoOp<internal::FinishOpen>;
using FsyncOp = internal::IoOp<internal::FinishFsync>;

// A connected TCP stream. Move-only; the destructor closes it (and cancels
// its operations still in the kernel).
class TcpStream {
 public:
  TcpStream() noexcept = default;

  // co_await: the connected stream, or the error (ECONNREFUSED, ...).
  // `address` as SocketAddr::parse takes it; an unparsable one is EINVAL.
  static Task<std::expected<TcpStream, std::error_code>> connect(std::string_view address);
  static ConnectOp connect(const SocketAddr& address);
  // Takes over a connected socket made elsewhere (closed with the stream);
  // its blocking mode is set for this runtime's backend. EBADF or ENOTSOCK
  // for an fd that is not a socket (the fd is then not taken).
  static std::expected<TcpStream, std::error_code> adopt(int fd);

  // Reads into the buffer's spare capacity (after its initialized bytes)
  // and gives the buffer back: 0 bytes is the end of the stream. A buffer
  // with no spare capacity fails with ENOBUFS.
  BufferOp recv(Buffer buffer);
  // One send: it may move fewer bytes than the buffer has (reported).
  BufferOp send(Buffer buffer);
  BytesOp send(Bytes bytes);
  // As send(Bytes), without copying the bytes into the kernel where it
  // offers zero-copy send (IORING_OP_SEND_ZC); elsewhere a plain send. The
  // bytes stay referenced until the kernel's notification that it no
  // longer reads them, which may come after this operation's result.
  BytesOp send_zc(Bytes bytes);
  // Received bytes as buffers from `pool` (multishot on io_uring); see
  // RecvStream. The pool must outlive it.
  RecvStream recv_stream(BufferPool& pool, std::size_t quota = 16);
  // Sends every byte, in as many sends as it takes; the count is all of
  // them, or the error of the send that failed (the bytes sent before it
  // are gone to the peer). One operation: the runtime submits the next
  // send from the completion of a short one, without resuming the task.
  BufferOp send_all(Buffer buffer);
  BytesOp send_all(Bytes bytes);

  // shutdown(2): SHUT_WR ends the peer's reads; now, without a wait.
  std::error_code shutdown(int how = SHUT_WR) noexcept;
  // TCP_NODELAY (Keel sets it on every stream it makes).
  std::error_code set_nodelay(bool on) noexcept;

  SocketAddr local_addr() const;
  SocketAddr peer_addr() const;
  int fd() const noexcept { return source_.fd(); }
  bool is_open() const noexcept { return static_cast<bool>(source_); }

 private:
  friend struct internal::FinishAccept;
  friend struct internal::FinishConnect;
  friend class RecvStream;
  explicit TcpStream(internal::SourceHandle source) noexcept : source_(std::move(source)) {}

  internal::SourceHandle source_;
};

class TcpListener;

// The connections a listener accepts, as a stream: on io_uring one
// multishot accept serves them all (armed while fewer than `quota`
// accepted connections wait to be taken; stopped at the quota, armed again
// as they are taken), on epoll one accept per next(). A connection the
// kernel accepted is never lost: it waits here until next() takes it, and
// is closed if the stream goes first.
//
//   auto incoming = listener.incoming();
//   while (auto s = co_await incoming.next()) keel::async::spawn(serve(std::move(*s))).detach();
class AcceptStream {
 public:
  AcceptStream(AcceptStream&& other) noexcept
      : driver_(other.driver_),
        source_(std::exchange(other.source_, nullptr)),
        slot_(std::exchange(other.slot_, nullptr)) {}
  AcceptStream& operator=(AcceptStream&&) = delete;
  AcceptStream(const AcceptStream&) = delete;
  ~AcceptStream();

  // The next connection, or the error the kernel gave (EMFILE when out of
  // fds: later calls accept again once fds are free).
  Task<std::expected<TcpStream, std::error_code>> next();
  // Whether one multishot accept serves it (io_uring), or one accept per next().
  bool multishot() const noexcept { return slot_ != nullptr; }

 private:
  friend class TcpListener;
  AcceptStream(TcpListener& listener, internal::IoDriver& driver, std::size_t quota);

  internal::IoDriver* driver_;
  internal::IoSource* source_ = nullptr;  // a reference: tells whether the runtime is still there
  internal::OpSlot* slot_ = nullptr;      // io_uring: the multishot accept's
};

// Received bytes as a stream of buffers from a BufferPool: on io_uring one
// multishot recv (IORING_OP_RECV with a provided-buffer ring the pool lends
// buffers to) serves every read — no submission per read; on epoll one
// recv per next(). When `quota` filled buffers wait to be taken the
// multishot is stopped, and armed again as they are taken, so a fast peer
// is held back by TCP instead of growing memory (completions already under
// way when it stops still queue: the pool is the hard bound). When the
// pool runs dry the kernel ends the multishot (ENOBUFS); next() waits for
// a buffer to come back and arms it again — no error reaches the caller.
// The kernel is lent at most `quota` buffers, so one stream holds at most
// about twice its quota, and streams whose quotas add up to the pool's
// size can share it.
//
//   keel::BufferPool pool(16 * 1024, 64);
//   auto rx = stream.recv_stream(pool);
//   for (;;) { auto b = co_await rx.next(); if (!b || b->size() == 0) break; use(b->view()); }
//
// Bytes received for a stream that goes are kept for the next recv on the
// TcpStream. The pool must outlive the RecvStream; the TcpStream may move
// (the RecvStream holds its fd's state, not the object), and closing it
// ends the RecvStream's reads. Do not mix it with recv() on the same
// TcpStream while it runs.
class RecvStream {
 public:
  RecvStream(RecvStream&& other) noexcept
      : pool_(other.pool_),
        driver_(other.driver_),
        source_(std::exchange(other.source_, nullptr)),
        slot_(std::exchange(other.slot_, nullptr)) {}
  RecvStream& operator=(RecvStream&&) = delete;
  RecvStream(const RecvStream&) = delete;
  ~RecvStream();

  // A buffer of received bytes (size 0: end of stream), or the error.
  Task<std::expected<Buffer, std::error_code>> next();
  // Whether one multishot recv serves it (io_uring), or one recv per next().
  bool multishot() const noexcept { return slot_ != nullptr; }

 private:
  friend class TcpStream;
  RecvStream(TcpStream& stream, BufferPool& pool, internal::IoDriver& driver, std::size_t quota);

  BufferPool* pool_;
  internal::IoDriver* driver_;
  internal::IoSource* source_ = nullptr;
  internal::OpSlot* slot_ = nullptr;  // io_uring: the multishot recv's
};

// How a TcpListener listens. With reuse_port (SO_REUSEPORT), listeners on
// several threads bind the same address and the kernel spreads incoming
// connections among them: one listener per thread in a thread-per-core
// server, each accepting on its own ring. Every listener sharing the
// address must set it.
struct ListenOptions {
  int backlog = 1024;
  bool reuse_port = false;
};

// A listening TCP socket.
class TcpListener {
 public:
  TcpListener() noexcept = default;
  // socket + SO_REUSEADDR + bind + listen, now. "127.0.0.1:0" picks a free
  // port (local_addr() says which). Needs the thread's runtime.
  static std::expected<TcpListener, std::error_code> bind(std::string_view address, int backlog = 1024);
  static std::expected<TcpListener, std::error_code> bind(const SocketAddr& address, int backlog = 1024);
  static std::expected<TcpListener, std::error_code> bind(const SocketAddr& address, ListenOptions options);

  // co_await: the next connection. EMFILE/ENFILE when out of fds: the
  // listener stays usable, and accepts again once fds are free.
  AcceptOp accept();
  // Connections as a stream (multishot on io_uring); see AcceptStream.
  // The listener may move; closing it ends the stream's accepts.
  AcceptStream incoming(std::size_t quota = 64);

  SocketAddr local_addr() const;
  int fd() const noexcept { return source_.fd(); }

 private:
  friend class AcceptStream;
  explicit TcpListener(internal::SourceHandle source) noexcept : source_(std::move(source)) {}
  internal::SourceHandle source_;
};

// A UDP socket.
class UdpSocket {
 public:
  UdpSocket() noexcept = default;
  static std::expected<UdpSocket, std::error_code> bind(std::string_view address);
  static std::expected<UdpSocket, std::error_code> bind(const SocketAddr& address);

  // One datagram into the buffer's spare capacity (a longer one is cut).
  RecvFromOp recv_from(Buffer buffer);
  SendToOp send_to(Buffer buffer, const SocketAddr& to);
  SendBytesToOp send_to(Bytes bytes, const SocketAddr& to);

  SocketAddr local_addr() const;
  int fd() const noexcept { return source_.fd(); }

 private:
  explicit UdpSocket(internal::SourceHandle source) noexcept : source_(std::move(source)) {}
  internal::SourceHandle source_;
};

// A file, read and written at offsets.
class File {
 public:
  File() noexcept = default;
  // co_await: the file opened for reading, or the error (ENOENT, ...).
  static OpenOp open(std::string path);
  // co_await: the file created (or truncated) for writing, mode 0644.
  static OpenOp create(std::string path);

  // Reads into the buffer's spare capacity from `offset`; 0 bytes: end of file.
  BufferOp read_at(Buffer buffer, std::uint64_t offset);
  // One write; it may be short (reported).
  BufferOp write_at(Buffer buffer, std::uint64_t offset);
  BytesOp write_at(Bytes bytes, std::uint64_t offset);
  FsyncOp fsync();

  int fd() const noexcept { return source_.fd(); }
  bool is_open() const noexcept { return static_cast<bool>(source_); }

 private:
  friend struct internal::FinishOpen;
  explicit File(internal::SourceHandle source) noexcept : source_(std::move(source)) {}
  internal::SourceHandle source_;
};

}  // namespace keel::async
