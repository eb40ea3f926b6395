// Async IO on owned buffers (docs/io.md): accept and echo; buffers reused
// without allocating (clear(), a BufferPool, frozen Bytes); errors that
// give the buffer back (a full buffer, a reset, out of fds at accept);
// timeouts around recv that lose no byte; multishot accept and recv; UDP
// and files; the backend in use; the limits. Every socket is on 127.0.0.1
// with a port the kernel picks.
//
//   bazel run //examples/io
//   bazel run //examples/io -- --backend=epoll
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <expected>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "async/buffer.h"
#include "async/buffer_pool.h"
#include "async/io.h"
#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/timer.h"
#include "examples/flags.h"
#include "rt/uring.h"
#include "rt/world.h"

ABSL_FLAG(std::string, backend, "auto", "the poll source: auto, io_uring or epoll");

namespace {

using keel::Buffer;
using keel::Bytes;
using keel::async::File;
using keel::async::IoResult;
using keel::async::Task;
using keel::async::TcpListener;
using keel::async::TcpStream;
using keel::async::UdpSocket;
using namespace std::chrono_literals;

// A connected pair on 127.0.0.1: {the accepted side, the connecting side}.
// The connect completes through the listener's backlog, before the accept.
Task<std::pair<TcpStream, TcpStream>> connected_pair() {
  TcpListener listener = TcpListener::bind("127.0.0.1:0").value();
  TcpStream client = (co_await TcpStream::connect(listener.local_addr())).value();
  TcpStream server = (co_await listener.accept()).value();
  co_return std::pair{std::move(server), std::move(client)};
}

// Reads until `buffer` holds `size` bytes, the stream ends, or an error.
Task<Buffer> read_exactly(TcpStream& stream, Buffer buffer, std::size_t size) {
  while (buffer.size() < size) {
    auto [n, back] = co_await stream.recv(std::move(buffer));
    buffer = std::move(back);
    if (!n || *n == 0) break;
  }
  co_return buffer;
}

// Byte i of a test stream: no chunk size lines up with its period.
char pattern_at(std::size_t i) { return static_cast<char>('a' + (i * 7 + i / 251) % 26); }

// 1. Accept and echo -------------------------------------------------------------------------------

// Echoes one connection through one buffer until the peer closes its side.
Task<std::size_t> echo(TcpStream stream) {
  Buffer buffer(4096);
  std::size_t echoed = 0;
  for (;;) {
    auto [received, filled] = co_await stream.recv(std::move(buffer));
    if (!received || *received == 0) co_return echoed;  // an error, or the end of the stream
    auto [sent, back] = co_await stream.send_all(std::move(filled));
    if (!sent) co_return echoed;
    echoed += *sent;
    buffer = std::move(back);  // the same allocation, for the next read
    buffer.clear();
  }
}

// Accepts `connections` connections and echoes each in a task of its own.
Task<void> serve(TcpListener listener, int connections) {
  for (int i = 0; i < connections;) {
    auto accepted = co_await listener.accept();
    if (!accepted) continue;  // section 3: the errors worth telling apart
    keel::async::spawn(echo(std::move(*accepted))).detach();
    ++i;
  }
}

Task<void> accept_and_echo() {
  TcpListener listener = TcpListener::bind("127.0.0.1:0").value();  // port 0: the kernel picks a free one
  const keel::async::SocketAddr at = listener.local_addr();
  keel::async::JoinHandle<void> server = keel::async::spawn(serve(std::move(listener), 1));
  TcpStream client = (co_await TcpStream::connect(at)).value();
  auto [sent, request] = co_await client.send_all(Buffer::copy_of("hello, keel"));
  Buffer reply = co_await read_exactly(client, Buffer(64), request.size());  // the echo may come in pieces
  if (sent && reply.view() == request.view()) {
    std::printf("1. echoed '%s' (%zu bytes) from %s\n", std::string(reply.view()).c_str(), *sent,
                at.to_string().c_str());
  }
  co_await server;
}

// 2. Reuse without allocating ----------------------------------------------------------------------

// Round trips through one request buffer and one reply buffer: cleared, never reallocated.
Task<int> round_trips(TcpStream& stream, int count) {
  Buffer request(64);
  Buffer reply(64);
  int matched = 0;
  for (int i = 0; i < count; ++i) {
    request.clear();
    request.append(i % 2 == 0 ? "ping" : "pong");
    auto [sent, request_back] = co_await stream.send_all(std::move(request));
    request = std::move(request_back);
    if (!sent) break;
    reply.clear();
    reply = co_await read_exactly(stream, std::move(reply), request.size());
    if (reply.view() == request.view()) ++matched;
  }
  co_return matched;
}

// Reads into buffers from a pool and forwards each read frozen: no copy, no allocation.
Task<std::size_t> forward(TcpStream& from, TcpStream& to, keel::BufferPool& pool) {
  std::size_t forwarded = 0;
  for (;;) {
    Buffer buffer = co_await pool.acquire();  // waits while every buffer is out
    auto [n, filled] = co_await from.recv(std::move(buffer));
    if (!n || *n == 0) co_return forwarded;     // `filled` goes back to the pool here
    Bytes chunk = std::move(filled).freeze();  // the pool's slot changes hands
    auto [sent, chunk_back] = co_await to.send_all(std::move(chunk));
    if (!sent) co_return forwarded;
    forwarded += *sent;
  }  // `chunk_back`, the last reference, goes: the slot is back in the pool
}

// Sends all of `message` without copying it into the kernel where io_uring offers zero-copy sends.
Task<bool> send_all_zc(TcpStream& stream, Bytes message) {
  for (std::size_t done = 0; done < message.size();) {
    auto [n, shared] = co_await stream.send_zc(message.slice(done, message.size() - done));
    if (!n) co_return false;
    done += *n;
  }
  co_return true;
}

Task<void> write_pattern(TcpStream& stream, std::size_t total) {
  constexpr std::size_t kChunk = 16 * 1024;
  for (std::size_t off = 0; off < total; off += kChunk) {
    Buffer chunk(kChunk);
    for (std::size_t i = 0; i < kChunk; ++i) chunk.spare_capacity()[i] = std::byte(pattern_at(off + i));
    chunk.commit(kChunk);
    auto [n, back] = co_await stream.send_all(std::move(chunk));
    if (!n) break;
  }
  stream.shutdown();  // SHUT_WR: the reader sees the end of the stream
}

Task<bool> read_pattern(TcpStream& stream, std::size_t total) {
  std::size_t got = 0;
  bool same = true;
  Buffer buffer(8192);
  for (;;) {
    auto [n, back] = co_await stream.recv(std::move(buffer));
    buffer = std::move(back);
    if (!n || *n == 0) break;
    for (char c : buffer.view()) same = same && c == pattern_at(got++);
    buffer.clear();
  }
  co_return same && got == total;
}

Task<void> reuse() {
  {
    TcpListener listener = TcpListener::bind("127.0.0.1:0").value();
    const keel::async::SocketAddr at = listener.local_addr();
    keel::async::JoinHandle<void> server = keel::async::spawn(serve(std::move(listener), 1));
    TcpStream client = (co_await TcpStream::connect(at)).value();
    const int matched = co_await round_trips(client, 1000);
    std::printf("2. %d round trips through one request and one reply buffer\n", matched);
    co_await server;
  }
  {
    // writer -> [a] -> forward() -> [b] -> reader
    auto [a_server, a_client] = co_await connected_pair();
    auto [b_server, b_client] = co_await connected_pair();
    keel::BufferPool pool(4096, 4);
    constexpr std::size_t kTotal = 256 * 1024;
    auto writer = keel::async::spawn(write_pattern(a_client, kTotal));
    auto reader = keel::async::spawn(read_pattern(b_server, kTotal));
    const std::size_t forwarded = co_await forward(a_server, b_client, pool);
    b_client.shutdown();
    co_await writer;
    const bool exact = co_await reader;
    std::printf("2. forwarded %zu bytes%s through a pool of %zu buffers; %zu of them free again\n", forwarded,
                exact ? ", in order," : " (MISMATCH)", pool.size(), pool.available());
  }
  {
    auto [server, client] = co_await connected_pair();
    const Bytes message = Bytes::copy_of(std::string(64 * 1024, 'q'));
    auto reader = keel::async::spawn(read_exactly(server, Buffer(message.size()), message.size()));
    const bool sent = co_await send_all_zc(client, message);
    const Buffer got = co_await reader;
    std::printf("2. send_zc: %zu bytes %s; one Bytes shared by every send, never copied in user space\n",
                got.size(), sent && got.view() == message.view() ? "arrived" : "MISSING");
  }
}

// 3. Errors keep the buffer ------------------------------------------------------------------------

bool out_of_fds(std::error_code error) {
  return error == std::errc::too_many_files_open || error == std::errc::too_many_files_open_in_system;
}

// The next connection; out of fds, tries again after a pause: meanwhile the
// connection waits in the listener's backlog, and the listener stays usable.
Task<std::expected<TcpStream, std::error_code>> accept_when_fds_free(TcpListener& listener, int& refused) {
  for (;;) {
    auto accepted = co_await listener.accept();
    if (accepted || !out_of_fds(accepted.error())) co_return accepted;
    ++refused;
    co_await keel::async::sleep(1ms);  // accepting again at once would spin until an fd is free
  }
}

Task<void> errors() {
  auto [server, client] = co_await connected_pair();

  // A buffer with no spare capacity: nothing to read into (0 bytes would mean the end).
  Buffer full = Buffer::copy_of("a message as long as its buffer");
  auto [no_room, full_back] = co_await server.recv(std::move(full));
  if (!no_room && no_room.error() == std::errc::no_buffer_space) {
    std::printf("3. full buffer: %s; its %zu bytes came back\n", no_room.error().message().c_str(),
                full_back.size());
  }

  // The peer aborts the connection (SO_LINGER 0: its close sends a reset).
  Buffer partial(64);
  partial.append("35=D|55=");  // the start of a message, waiting for the rest
  const linger reset_on_close{1, 0};
  ::setsockopt(client.fd(), SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close);
  client = TcpStream();  // closes it
  auto [reset, partial_back] = co_await server.recv(std::move(partial));
  if (!reset && reset.error() == std::errc::connection_reset) {
    std::printf("3. reset: %s; the buffer came back holding '%s'\n", reset.error().message().c_str(),
                std::string(partial_back.view()).c_str());
  }

  // Out of fds at accept: the connection waits in the backlog until one is free.
  TcpListener listener = TcpListener::bind("127.0.0.1:0").value();
  TcpStream waiting = (co_await TcpStream::connect(listener.local_addr())).value();
  rlimit saved{};
  ::getrlimit(RLIMIT_NOFILE, &saved);
  const int lowest_free = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // every fd below it is open
  ::close(lowest_free);
  rlimit no_more = saved;
  no_more.rlim_cur = static_cast<rlim_t>(lowest_free);  // no fd may be opened at all
  ::setrlimit(RLIMIT_NOFILE, &no_more);
  int refused = 0;
  auto accepting = keel::async::spawn(accept_when_fds_free(listener, refused));
  while (refused == 0 && !accepting.is_finished()) co_await keel::async::sleep(1ms);
  ::setrlimit(RLIMIT_NOFILE, &saved);  // fds are free again
  auto accepted = co_await accepting;
  if (accepted) std::printf("3. accept: out of fds at first, then the waiting connection once fds were free\n");
}

// 4. Timeouts that lose nothing ------------------------------------------------------------------

// timeout() takes a Task: the recv, in a coroutine function of its own.
Task<IoResult<Buffer>> recv_some(TcpStream& stream, Buffer buffer) {
  co_return co_await stream.recv(std::move(buffer));
}

// Reads the stream to its end, each recv bounded by a timeout.
Task<std::string> read_with_timeouts(TcpStream& stream, int& timeouts) {
  std::string got;
  for (;;) {
    auto r = co_await keel::async::timeout(500us, recv_some(stream, Buffer(256)));
    if (!r) {  // timed out: bytes the cancelled recv received go to the next recv
      ++timeouts;
      continue;
    }
    auto& [n, buffer] = *r;
    if (!n || *n == 0) co_return got;  // an error, or the end of the stream
    got += buffer.view();
  }
}

// Sends `chunks` short chunks, each after a pause longer than the reader's timeout.
Task<std::string> trickle(TcpStream& stream, int chunks) {
  std::string sent;
  for (int i = 0; i < chunks; ++i) {
    co_await keel::async::sleep(2ms);
    const std::string chunk = "chunk " + std::to_string(i) + ";";
    auto [n, back] = co_await stream.send_all(Buffer::copy_of(chunk));
    if (!n) break;
    sent += chunk;
  }
  stream.shutdown();
  co_return sent;
}

Task<void> timeouts() {
  auto [server, client] = co_await connected_pair();
  auto writer = keel::async::spawn(trickle(client, 8));
  int timed_out = 0;
  const std::string got = co_await read_with_timeouts(server, timed_out);
  const std::string sent = co_await writer;
  std::printf("4. %zu bytes in 8 chunks, %s; %d recvs timed out and were tried again\n", got.size(),
              got == sent ? "every byte in order" : "MISMATCH", timed_out);
}

// 5. Multishot: incoming() and recv_stream() -----------------------------------------------------

// Accepts `connections` connections through one AcceptStream.
Task<int> accept_all(TcpListener& listener, int connections, bool& multishot) {
  auto incoming = listener.incoming();  // io_uring: one multishot accept serves them all
  multishot = incoming.multishot();
  int served = 0;
  while (served < connections) {
    auto accepted = co_await incoming.next();
    if (!accepted) break;
    keel::async::spawn(echo(std::move(*accepted))).detach();
    ++served;
  }
  co_return served;
}

// Reads the stream to its end through buffers of `pool`.
Task<std::size_t> receive_all(TcpStream& stream, keel::BufferPool& pool, bool& multishot) {
  auto rx = stream.recv_stream(pool, /*quota=*/2);  // at most 2 filled buffers wait to be taken
  multishot = rx.multishot();
  std::size_t received = 0;
  bool same = true;
  for (;;) {
    std::expected<Buffer, std::error_code> chunk = co_await rx.next();
    if (!chunk || chunk->size() == 0) break;  // an error, or the end of the stream
    for (char c : chunk->view()) same = same && c == pattern_at(received++);
  }  // each chunk goes back to the pool as the loop moves on
  co_return same ? received : 0;
}

Task<void> say_hello(keel::async::SocketAddr at) {
  TcpStream s = (co_await TcpStream::connect(at)).value();
  auto [sent, request] = co_await s.send_all(Buffer::copy_of("hello"));
  co_await read_exactly(s, Buffer(16), request.size());
}

struct MultishotUse {
  bool accept = false;
  bool recv = false;
};

Task<MultishotUse> multishot() {
  MultishotUse use;
  {
    TcpListener listener = TcpListener::bind("127.0.0.1:0").value();
    std::vector<keel::async::JoinHandle<void>> clients;
    for (int i = 0; i < 3; ++i) clients.push_back(keel::async::spawn(say_hello(listener.local_addr())));
    const int served = co_await accept_all(listener, 3, use.accept);
    for (auto& c : clients) co_await c;
    std::printf("5. incoming: %d connections accepted and echoed\n", served);
  }
  {
    auto [server, client] = co_await connected_pair();
    constexpr std::size_t kTotal = 1 << 20;
    keel::BufferPool pool(4096, 4);  // 16 KiB in all, for a 1 MiB stream
    auto writer = keel::async::spawn(write_pattern(client, kTotal));
    const std::size_t received = co_await receive_all(server, pool, use.recv);
    co_await writer;
    std::printf("5. recv_stream: %zu bytes%s through a pool of %zu buffers of %zu bytes\n", received,
                received == kTotal ? " in order" : " (MISMATCH or short)", pool.size(), pool.buffer_size());
  }
  co_return use;
}

// 6. UDP and files -------------------------------------------------------------------------------

Task<void> datagrams() {
  UdpSocket a = UdpSocket::bind("127.0.0.1:0").value();
  UdpSocket b = UdpSocket::bind("127.0.0.1:0").value();
  auto [sent, ping] = co_await a.send_to(Bytes::copy_of("ping"), b.local_addr());
  keel::async::RecvFromResult got = co_await b.recv_from(Buffer(1500));  // one datagram
  if (!got.result) co_return;
  auto [replied, pong] = co_await b.send_to(Buffer::copy_of("pong"), got.from);  // to whoever sent it
  keel::async::RecvFromResult reply = co_await a.recv_from(Buffer(1500));
  if (sent && replied && got.from == a.local_addr() && reply.buffer.view() == "pong") {
    std::printf("6. udp: '%s' from its sender, '%s' back\n", std::string(got.buffer.view()).c_str(),
                std::string(reply.buffer.view()).c_str());
  }
}

Task<void> files(std::string path) {
  {
    File out = (co_await File::create(path)).value();
    auto [n, hello] = co_await out.write_at(Buffer::copy_of("hello "), 0);
    auto [m, world_back] = co_await out.write_at(Bytes::copy_of("world"), 6);
    if (!n || !m || !co_await out.fsync()) co_return;
  }  // closed here
  File in = (co_await File::open(path)).value();
  auto [n, contents] = co_await in.read_at(Buffer(64), 0);
  auto [end, rest] = co_await in.read_at(Buffer(64), contents.size());
  if (n && end && *end == 0) {
    std::printf("6. file: read back '%s', then 0 bytes at the end\n", std::string(contents.view()).c_str());
  }
  auto missing = co_await File::open(path + ".missing");
  if (!missing) std::printf("6. file: a missing file is %s\n", missing.error().message().c_str());
}

// 8. Limits --------------------------------------------------------------------------------------

Task<void> wait_for_datagram(UdpSocket& socket) {
  keel::async::RecvFromResult got = co_await socket.recv_from(Buffer(64));
  static_cast<void>(got);
}

// With RuntimeOptions::max_io_operations = 1: a second operation is refused while the first waits.
Task<void> one_operation_at_a_time(UdpSocket& socket) {
  UdpSocket quiet = UdpSocket::bind("127.0.0.1:0").value();
  auto waiting = keel::async::spawn(wait_for_datagram(quiet));
  co_await keel::async::yield_now();  // it starts its recv: the one slot is in use
  auto [n, back] = co_await socket.send_to(Bytes::copy_of("x"), quiet.local_addr());
  if (!n && n.error() == std::errc::no_buffer_space) {
    std::printf("8. max_io_operations = 1: a second operation failed with %s, its %zu byte back\n",
                n.error().message().c_str(), back.size());
  }
  waiting.abort();  // its slot is free once the kernel has let go of the recv
  for (;;) {
    auto [m, again] = co_await socket.send_to(std::move(back), quiet.local_addr());
    if (m || m.error() != std::errc::no_buffer_space) {
      if (m) std::printf("8. sent once the first operation's slot was free\n");
      break;
    }
    back = std::move(again);
    co_await keel::async::sleep(1ms);
  }
}

void limits(keel::Backend backend) {
  std::optional<UdpSocket> outlives;  // declared before the World and the Runtime: it outlives both
  {
    keel::WorldBuilder wb;
    wb.install_driver(keel::UringInstaller{.entries = 64, .backend = backend});
    keel::World world = std::move(wb).build();
    keel::async::RuntimeOptions options;
    options.max_io_operations = 1;
    keel::async::Runtime rt(world, options);
    outlives = UdpSocket::bind("127.0.0.1:0").value();
    rt.block_on(one_operation_at_a_time(*outlives));
  }
  try {
    static_cast<void>(outlives->send_to(Bytes::copy_of("late"), outlives->local_addr()));
  } catch (const std::logic_error& e) {
    std::printf("8. after its runtime: %s\n", e.what());
  }
}  // `outlives` closes its fd: all an object can do without its runtime

}  // namespace

int main(int argc, char** argv) {
  examples::parse_flags(argc, argv, "Async IO on owned buffers, on io_uring or epoll (docs/io.md).");
  const keel::Backend backend = examples::backend_flag(FLAGS_backend);
  {
    // 7. The flag chooses the backend; no other line of this file depends on it.
    keel::WorldBuilder wb;
    wb.install_driver(keel::UringInstaller{.entries = 256, .backend = backend});
    keel::World world = std::move(wb).build();
    keel::async::Runtime rt(world);  // on the World's ring, whichever backend answers
    rt.block_on(accept_and_echo());
    rt.block_on(reuse());
    rt.block_on(errors());
    rt.block_on(timeouts());
    const MultishotUse use = rt.block_on(multishot());
    rt.block_on(datagrams());
    const std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("keel_io_example_" + std::to_string(::getpid()));
    rt.block_on(files(path.string()));
    std::filesystem::remove(path);
    std::printf("7. backend: %s; multishot accept: %s, multishot recv: %s\n",
                std::string(keel::to_string(rt.ring().backend())).c_str(), use.accept ? "yes" : "no",
                use.recv ? "yes" : "no");
  }
  limits(backend);
  return 0;
}
