// IO operation slots under ASan (async/internal/io_driver.h, patterns 38,
// 42 and 44 in docs/soundness.md): a slot owns everything the kernel may
// touch — the buffer, the address, the message header, the path — until
// the operation's final completion; slots sit in chunks that never move;
// a completion names its slot by index and generation, so one that names
// a slot's earlier operation (or a free slot) is ignored; and the reap a
// runtime's shutdown runs takes operation completions only, leaving the
// World's readiness completions for its next poll.
//
// The memory is where ASan watches it: every buffer is a heap Buffer whose
// bytes are checked when it comes back, task frames come from the heap
// (the runtime gets no arena classes), so a slot freed or reused under a
// pending operation is a heap-use-after-free when the completion touches
// it, and a buffer released twice is a double free.
#include <gtest/gtest.h>
#include <dirent.h>
#include <fcntl.h>
#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "async/buffer.h"
#include "async/io.h"
#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/timer.h"
#include "rt/internal/uring_operations.h"
#include "rt/uring.h"
#include "rt/world.h"
#include "tests/async/io_fixture.h"
#include "tests/rt/fd.h"

namespace {

using keel::Buffer;
using keel::Bytes;
using keel::async::File;
using keel::async::IoResult;
using keel::async::JoinHandle;
using keel::async::Runtime;
using keel::async::Task;
using keel::async::TcpListener;
using keel::async::TcpStream;
using keel::async::UdpSocket;
using keel::async::internal::IoDriver;
using keel::async::internal::IoSource;
using keel::async::internal::OpKind;
using keel::async::internal::OpSlot;
using keel::async::internal::OpState;
using keel::internal::CompletionKind;
using keel::internal::encode_user_data;
using keel_test::address_of;
using keel_test::connected_pair;
using keel_test::heap_frames;
using keel_test::open_fds;
using keel_test::pattern;
using keel_test::recv_into;
using keel_test::settled;
using namespace std::chrono_literals;

class IoSlots : public keel_test::IoFixture {};

// --- pattern 38: completions named by index and generation ----------------------

// Completions that name the slot of a pending recv with an older or a later
// generation, a free slot with its own generation, and a slot never made
// reach the driver's sink; each is ignored: the recv stays in the kernel
// with its buffer untouched, and completes with the peer's bytes later.
// Without the generation check, the first one (result 0) would end the
// recv as end of stream; without the in-kernel check, the free slot's
// would be settled as an operation.
TEST(IoSlotsUring, CompletionsForAnOldGenerationAFreeSlotOrAnUnmadeSlotAreIgnored) {
  if (const auto why = keel_test::refusal(keel::Backend::IoUring)) GTEST_SKIP() << *why;
  keel::WorldBuilder wb;
  wb.install_driver(keel::UringInstaller{.entries = 64, .backend = keel::Backend::IoUring});
  keel::World world = std::move(wb).build();
  Runtime rt(world, heap_frames());
  IoDriver& driver = rt.io_driver();
  ASSERT_TRUE(driver.completion_based());

  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);  // blocking: the ring waits
  keel_test::Fd peer(fds[1]);
  IoSource* source = driver.open_source(fds[0]);  // owns fds[0]

  // A slot used and released once, so the recv's slot is its second use.
  OpSlot* earlier = driver.acquire();
  ASSERT_NE(earlier, nullptr);
  driver.finish(earlier);
  OpSlot* slot = driver.acquire();
  ASSERT_EQ(slot, earlier) << "the free list hands back the slot just released";
  slot->kind = OpKind::kRecv;
  slot->source = source;
  IoDriver::ref(source);
  slot->buffer = Buffer(64);
  ASSERT_TRUE(driver.start(slot));
  rt.tick(0ms);  // submitted
  const std::uint32_t index = slot->index;
  const std::uint32_t generation = slot->generation;
  ASSERT_GT(generation, 1u);
  OpSlot* free_slot = driver.acquire();  // the next slot of the chunk, then given back: free, generation 2
  driver.finish(free_slot);

  keel::internal::UringOperations ops(rt.ring());
  const std::uint64_t stale[] = {
      encode_user_data(CompletionKind::kOperation, index, generation - 1),
      encode_user_data(CompletionKind::kOperation, index, generation + 1),
      encode_user_data(CompletionKind::kOperation, free_slot->index, free_slot->generation),
      encode_user_data(CompletionKind::kOperation, 1000000, 1),
  };
  for (int round = 0; round < 100; ++round) {
    for (std::uint64_t user_data : stale) {
      io_uring_sqe* sqe = ops.sqe();
      ASSERT_NE(sqe, nullptr);
      io_uring_prep_nop(sqe);
      io_uring_sqe_set_data64(sqe, user_data);
    }
    rt.tick(0ms);
    rt.tick(0ms);
    ASSERT_EQ(slot->state, OpState::kInFlight) << "round " << round;
    ASSERT_EQ(slot->buffer.size(), 0u);
    ASSERT_EQ(slot->buffer.capacity(), 64u);
  }
  EXPECT_EQ(free_slot->state, OpState::kFree);
  EXPECT_EQ(driver.in_use(), 1u);

  ASSERT_EQ(::write(peer.get(), "slots", 5), 5);
  for (int i = 0; i < 10000 && slot->state != OpState::kDone; ++i) rt.tick(1ms);
  ASSERT_EQ(slot->state, OpState::kDone);
  EXPECT_EQ(slot->result, 5);
  EXPECT_EQ(slot->buffer.view(), "slots");
  driver.finish(slot);
  IoDriver::close_source(source);
  EXPECT_EQ(driver.in_use(), 0u);
}

// --- pattern 38: abandoned operations and their slots ---------------------------

// Thousands of recvs aborted while in the kernel (or still queued for it),
// each followed at once by another recv that takes a free slot — often the
// one the previous round's orphan just gave back, under its next generation.
// Every byte the peer sends reaches exactly one recv, in order: a
// completion taken for a later operation in the same slot would lose or
// repeat bytes, and a buffer freed before its final completion is written
// after the free.
TEST_P(IoSlots, RecvsAbortedAndRestartedInReusedSlotsLoseNoByte) {
  std::string got;
  rt().block_on([](IoDriver& driver, std::string& got) -> Task<void> {
    auto [server, client] = co_await connected_pair();
    constexpr int kRounds = 3000;
    for (int i = 0; i < kRounds; ++i) {
      JoinHandle<IoResult<Buffer>> first = keel::async::spawn(recv_into(server, Buffer(16)));
      for (int y = 0; y < i % 3; ++y) co_await keel::async::yield_now();
      first.abort();
      JoinHandle<IoResult<Buffer>> second = keel::async::spawn(recv_into(server, Buffer(16)));
      if (i % 4 == 0) {
        co_await keel::async::yield_now();
        second.abort();
        second = keel::async::spawn(recv_into(server, Buffer(16)));
      }
      auto [sent, _] = co_await client.send_all(Buffer::copy_of(pattern(static_cast<std::size_t>(i) * 3, 3)));
      CO_ASSERT_TRUE(sent.has_value());
      auto [n, b] = co_await second;
      CO_ASSERT_TRUE(n && *n > 0);
      got += b.view();
      while (got.size() < static_cast<std::size_t>(i + 1) * 3) {
        auto [m, more] = co_await server.recv(Buffer(16));
        CO_ASSERT_TRUE(m && *m > 0);
        got += more.view();
      }
    }
    EXPECT_TRUE(co_await settled(driver));
  }(rt().io_driver(), got));
  EXPECT_EQ(got, pattern(0, 3000 * 3));
}

// Accepts, connects and file reads aborted while they wait, with what
// they waited for arriving after: the slots settle (an accepted or
// connecting socket closed, a read's buffer freed once), and the next
// operation of each kind gets what came. On io_uring the file is a FIFO,
// so the read waits in the kernel; on epoll files are read at once.
TEST_P(IoSlots, AcceptConnectAndReadAtAbortedWhileWaitingThenServedAfter) {
  const std::string fifo = ::testing::TempDir() + "/keel_io_slots_fifo_" + keel::to_string(GetParam()).data();
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  keel_test::Fd fifo_writer(::open(fifo.c_str(), O_RDWR | O_CLOEXEC));  // a writer: opening for reading does not wait
  ASSERT_GE(fifo_writer.get(), 0);
  const std::size_t before = open_fds();
  rt().block_on([](IoDriver& driver, int writer, std::string fifo, bool uring) -> Task<void> {
    TcpListener listener = TcpListener::bind("127.0.0.1:0").value();
    for (int i = 0; i < 200; ++i) {
      auto accepting = keel::async::spawn([](TcpListener& l) -> Task<bool> { co_return (co_await l.accept()).has_value(); }(listener));
      co_await keel::async::yield_now();
      accepting.abort();
      // Two clients: the aborted accept may have taken (and closed) one.
      auto a = co_await TcpStream::connect(address_of(listener));
      auto b = co_await TcpStream::connect(address_of(listener));
      CO_ASSERT_TRUE(a && b);
      auto accepted = co_await listener.accept();
      CO_ASSERT_TRUE(accepted.has_value());
    }
    CO_ASSERT_TRUE(co_await settled(driver));

    // A listener whose accept queue is full: further connects wait for a SYN-ACK.
    TcpListener full = TcpListener::bind("127.0.0.1:0", 0).value();
    auto queued = co_await TcpStream::connect(address_of(full));
    CO_ASSERT_TRUE(queued.has_value());
    for (int i = 0; i < 50; ++i) {
      auto connecting = keel::async::spawn([](std::string at) -> Task<bool> {
        co_return (co_await TcpStream::connect(at)).has_value();
      }(address_of(full)));
      co_await keel::async::yield_now();
      co_await keel::async::yield_now();
      EXPECT_FALSE(connecting.is_finished());
      connecting.abort();
    }
    CO_ASSERT_TRUE(co_await settled(driver));

    File file = (co_await File::open(fifo)).value();
    for (int i = 0; i < (uring ? 200 : 0); ++i) {
      auto reading = keel::async::spawn([](File& f) -> Task<IoResult<Buffer>> { co_return co_await f.read_at(Buffer(32), 0); }(file));
      co_await keel::async::yield_now();
      reading.abort();
      CO_ASSERT_TRUE(co_await settled(driver));  // the cancelled read took nothing
      const std::string data = pattern(static_cast<std::size_t>(i), 7);
      CO_ASSERT_TRUE(::write(writer, data.data(), data.size()) == 7);
      auto [n, b] = co_await file.read_at(Buffer(32), 0);
      CO_ASSERT_TRUE(n.has_value());
      EXPECT_EQ(b.view(), data);
    }
  }(rt().io_driver(), fifo_writer.get(), fifo, uring()));
  EXPECT_EQ(open_fds(), before);
  ::unlink(fifo.c_str());
}

// More operations in flight than one chunk of slots holds: the table grows
// (its vector of chunks reallocates) while the kernel holds pointers into
// the first chunks' slots and buffers. Every recv then completes with its
// own peer's bytes.
TEST_P(IoSlots, TheSlotTableGrowsUnderOperationsInFlight) {
  constexpr int kPairs = 200;  // 400 recvs: seven chunks of 64 slots
  rt().block_on([]() -> Task<void> {
    std::vector<std::pair<TcpStream, TcpStream>> pairs;
    pairs.reserve(kPairs);  // the recvs hold references into it
    std::vector<JoinHandle<IoResult<Buffer>>> recvs;
    for (int i = 0; i < kPairs; ++i) {
      pairs.push_back(co_await connected_pair());
      recvs.push_back(keel::async::spawn(recv_into(pairs.back().first, Buffer(32))));
      recvs.push_back(keel::async::spawn(recv_into(pairs.back().second, Buffer(32))));
    }
    co_await keel::async::yield_now();
    EXPECT_GE(keel::async::Runtime::current()->io_driver().in_use(), 2u * kPairs);
    for (int i = 0; i < kPairs; ++i) {
      auto& [server, client] = pairs[static_cast<std::size_t>(i)];
      co_await client.send_all(Buffer::copy_of("to-server-" + std::to_string(i)));
      co_await server.send_all(Buffer::copy_of("to-client-" + std::to_string(i)));
    }
    for (int i = 0; i < kPairs; ++i) {
      auto [n, b] = co_await recvs[2 * static_cast<std::size_t>(i)];
      EXPECT_EQ(b.view(), "to-server-" + std::to_string(i));
      auto [m, c] = co_await recvs[2 * static_cast<std::size_t>(i) + 1];
      EXPECT_EQ(c.view(), "to-client-" + std::to_string(i));
    }
  }());
}

// With every slot in use, one more operation fails with ENOBUFS and its
// buffer comes back whole; it never shares a slot. The waiting recvs then
// complete with their own peers' bytes.
TEST_P(IoSlots, AFullSlotTableRefusesWithTheBufferBack) {
  rt_.reset();
  rt_.emplace(*world_, heap_frames(4));
  rt().block_on([]() -> Task<void> {
    auto [a, b] = co_await connected_pair();
    auto [c, d] = co_await connected_pair();
    TcpStream* streams[] = {&a, &b, &c, &d};
    std::vector<JoinHandle<IoResult<Buffer>>> recvs;
    for (TcpStream* s : streams) recvs.push_back(keel::async::spawn(recv_into(*s, Buffer(8))));
    co_await keel::async::yield_now();
    EXPECT_EQ(keel::async::Runtime::current()->io_driver().in_use(), 4u);
    auto [n, back] = co_await a.send(Buffer::copy_of("refused"));
    CO_ASSERT_TRUE(!n);
    EXPECT_EQ(n.error(), std::errc::no_buffer_space);
    EXPECT_EQ(back.view(), "refused");
    // Each stream's peer writes a byte of its own, past the runtime's slots.
    TcpStream* peers[] = {&b, &a, &d, &c};
    for (int i = 0; i < 4; ++i) {
      const char tag = static_cast<char>('w' + i);
      CO_ASSERT_TRUE(::send(peers[i]->fd(), &tag, 1, MSG_NOSIGNAL) == 1);
    }
    for (int i = 0; i < 4; ++i) {
      auto [m, got] = co_await recvs[static_cast<std::size_t>(i)];
      EXPECT_EQ(m.value_or(0), 1u);
      EXPECT_EQ(got.view(), std::string(1, static_cast<char>('w' + i)));
    }
  }());
}

// A send_all continued through many short sends owns its Buffer until its
// final completion, whether it finishes or its task is aborted midway
// while the peer reads slowly: the bytes the peer gets are the message's
// first bytes, in order, nothing is sent after the abort, and the buffer
// is freed once (a double free or a send from freed bytes under ASan).
TEST_P(IoSlots, SendAllsContinuedOrAbortedMidwaySendAPrefixAndFreeTheirBytesOnce) {
  rt().block_on([](IoDriver& driver) -> Task<void> {
    constexpr std::size_t kMessage = 512 * 1024;
    for (int round = 0; round < 40; ++round) {
      auto [server, client] = co_await connected_pair();
      const int small = 32 * 1024;
      CO_ASSERT_TRUE(::setsockopt(client.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
      CO_ASSERT_TRUE(::setsockopt(server.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
      JoinHandle<IoResult<Buffer>> sender = keel::async::spawn([](TcpStream& s) -> Task<IoResult<Buffer>> {
        co_return co_await s.send_all(Buffer::copy_of(pattern(0, kMessage)));
      }(client));
      // The peer takes a little, so that the send goes on in short pieces.
      std::string got;
      const std::size_t first = 16 * 1024 * static_cast<std::size_t>(1 + round % 8);
      while (got.size() < first) {
        auto [n, b] = co_await server.recv(Buffer(4096));
        CO_ASSERT_TRUE(n && *n > 0);
        got += b.view();
      }
      const bool abort = round % 2 == 0;
      if (abort) {
        sender.abort();
        CO_ASSERT_TRUE(co_await settled(driver));
      }
      auto reader = keel::async::spawn([](TcpStream& s, std::string got) -> Task<std::string> {
        for (;;) {
          auto [n, b] = co_await s.recv(Buffer(64 * 1024));
          if (!n || *n == 0) co_return got;
          got += b.view();
        }
      }(server, std::move(got)));
      if (!abort) {
        auto [sent, back] = co_await sender;
        CO_ASSERT_TRUE(sent.has_value());
        EXPECT_EQ(*sent, kMessage);
        EXPECT_EQ(back.view(), pattern(0, kMessage));
      }
      client.shutdown();
      const std::string all = co_await reader;
      EXPECT_EQ(all, pattern(0, all.size())) << "round " << round;
      if (abort) {
        EXPECT_LT(all.size(), kMessage) << "round " << round;
      } else {
        EXPECT_EQ(all.size(), kMessage) << "round " << round;
      }
    }
    EXPECT_TRUE(co_await settled(driver));
  }(rt().io_driver()));
}

// --- pattern 42: the reap takes operation completions only ----------------------

// What a readiness handler saw.
struct Seen {
  int runs = 0;
  bool readable = false;
  std::uint64_t count = 0;  // the eventfd's count, read by the handler
};

auto read_count(Seen* seen) {
  return [seen](const keel::Readiness& r) {
    ++seen->runs;
    seen->readable = r.readable();
    eventfd_t value = 0;
    if (eventfd_read(r.fd, &value) == 0) seen->count += value;
  };
}

// A World on io_uring (8 SQ entries) whose Uring watches an eventfd; a
// first poll has armed the watch and enabled the ring.
class WatchedEventfdOnARing : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto why = keel_test::refusal(keel::Backend::IoUring)) GTEST_SKIP() << *why;
    keel::WorldBuilder wb;
    poller_.emplace(wb.install_driver(keel::UringInstaller{.entries = 8, .backend = keel::Backend::IoUring}));
    world_.emplace(std::move(wb).build());
    world_->resource<keel::Uring>().watch(event.get(), keel::Readable, read_count(&seen));
    EXPECT_EQ(poller_->poll(*world_, 0ms), 0u);
  }

  keel_test::Fd event = keel_test::make_eventfd();
  Seen seen;
  std::optional<keel::UringPoller> poller_;
  std::optional<keel::World> world_;
};

// UringOperations::reap collects a readiness completion and an operation's
// together: the operation's goes to the sink once, and the readiness stays
// for the World's next poll, whose handler sees it — the watch's multishot
// poll does not fire again for a readiness it reported, so a reap that
// dropped it would lose it for good.
TEST_F(WatchedEventfdOnARing, AReapLeavesReadinessForThePollAndDeliversOperationsOnce) {
  keel::UringPoller& poller = *poller_;
  keel::World& world = *world_;
  keel::Uring& uring = world.resource<keel::Uring>();

  struct Sink {
    std::vector<std::uint64_t> delivered;
    static void take(void* self, const keel::internal::Completion& c) {
      static_cast<Sink*>(self)->delivered.push_back(c.user_data);
    }
  } sink;
  keel::internal::UringOperations ops(uring);
  ops.set_sink(&Sink::take, &sink);
  for (std::uint32_t round = 1; round <= 50; ++round) {
    keel_test::signal_eventfd(event.get());
    io_uring_sqe* sqe = ops.sqe();
    ASSERT_NE(sqe, nullptr);
    io_uring_prep_nop(sqe);
    const std::uint64_t user_data = encode_user_data(CompletionKind::kOperation, round, 1);
    io_uring_sqe_set_data64(sqe, user_data);
    int delivered = 0;
    for (int i = 0; i < 100 && delivered == 0; ++i) {
      delivered = ops.reap(100ms);
      ASSERT_GE(delivered, 0);
    }
    ASSERT_EQ(sink.delivered.size(), round);
    EXPECT_EQ(sink.delivered.back(), user_data);
    EXPECT_EQ(seen.runs, static_cast<int>(round) - 1) << "a reap ran a readiness handler";
    EXPECT_EQ(poller.poll(world, 0ms), 1u);
    EXPECT_EQ(seen.runs, static_cast<int>(round));
    EXPECT_TRUE(seen.readable);
    EXPECT_EQ(seen.count, round);
    EXPECT_EQ(sink.delivered.size(), round) << "the poll delivered a reaped operation again";
  }
  ops.set_sink(nullptr, nullptr);
}

// UringOperations::wait_for_operations reads the CQ itself (RingBackend::
// drain): each operation's completion goes to the callback once, also the
// completions of operations the callback submits while the CQ is being
// read (NOPs, posted at once: the drain reads the tail again for each
// CQE); a readiness read in the same wait stays for the World's next poll,
// whose handler sees it.
TEST_F(WatchedEventfdOnARing, ADirectWaitHandsOperationsOnOnceAndLeavesReadinessForThePoll) {
  keel::UringPoller& poller = *poller_;
  keel::World& world = *world_;
  keel::Uring& uring = world.resource<keel::Uring>();

  std::vector<std::uint64_t> delivered;
  keel::internal::UringOperations ops(uring);
  ops.set_sink([](void* d, const keel::internal::Completion& c) {
    static_cast<std::vector<std::uint64_t>*>(d)->push_back(c.user_data);
  }, &delivered);
  std::uint32_t next = 1;
  const auto submit_nop = [&] {
    io_uring_sqe* sqe = ops.sqe();
    ASSERT_NE(sqe, nullptr);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, encode_user_data(CompletionKind::kOperation, next++, 1));
  };
  for (int round = 1; round <= 50; ++round) {
    keel_test::signal_eventfd(event.get());
    submit_nop();
    bool chained = false;
    std::optional<keel::internal::UringOperations::DirectWait> done;
    for (int i = 0; i < 100 && (!done || done->delivered == 0); ++i) {
      done = ops.wait_for_operations([&](const keel::internal::Completion& c) {
        delivered.push_back(c.user_data);
        if (!chained) {
          chained = true;
          for (int k = 0; k < 12; ++k) submit_nop();  // more than the SQ holds: submitted from inside
        }
      });
      ASSERT_TRUE(done.has_value()) << "a wait with nothing queued fell back to a poll";
    }
    EXPECT_EQ(seen.runs, round - 1) << "the wait ran a readiness handler";
    // What the wait did not read comes with the next waits or the poll.
    for (int i = 0; i < 100 && delivered.size() < next - 1; ++i) {
      if (!ops.wait_for_operations([&](const keel::internal::Completion& c) { delivered.push_back(c.user_data); })) {
        static_cast<void>(poller.poll(world, 0ms));
      }
    }
    for (int i = 0; i < 100 && seen.runs < round; ++i) static_cast<void>(poller.poll(world, 10ms));
    EXPECT_EQ(seen.runs, round);
    EXPECT_EQ(seen.count, static_cast<std::uint64_t>(round));
  }
  ASSERT_EQ(delivered.size(), next - 1);
  std::sort(delivered.begin(), delivered.end());
  for (std::uint32_t i = 1; i < next; ++i) {
    EXPECT_EQ(delivered[i - 1], encode_user_data(CompletionKind::kOperation, i, 1)) << "an operation's completion was lost or came twice";
  }
  ops.set_sink(nullptr, nullptr);
}

// A runtime destroyed with operations in flight reaps their final
// completions on the World's ring; a watch of the World's whose fd became
// ready meanwhile runs at the World's next poll, for that readiness.
TEST_P(IoSlots, ARuntimeReapingItsOperationsLeavesTheWorldsReadinessForItsPoll) {
  keel_test::Fd event = keel_test::make_eventfd();
  Seen seen;
  world_->resource<keel::Uring>().watch(event.get(), keel::Readable, read_count(&seen));
  std::vector<TcpStream> keep;
  keep.reserve(64);  // the recvs hold references into it
  for (int round = 0; round < 20; ++round) {
    rt_.emplace(*world_, heap_frames());
    rt().block_on([](std::vector<TcpStream>& keep) -> Task<void> {
      for (int i = 0; i < 8; ++i) {
        auto [a, b] = co_await connected_pair();
        keep.push_back(std::move(a));
        keep.push_back(std::move(b));
        keel::async::spawn(recv_into(keep[keep.size() - 2], Buffer(64))).detach();
        keel::async::spawn(recv_into(keep.back(), Buffer(64))).detach();
      }
      co_await keel::async::yield_now();
    }(keep));
    keel_test::signal_eventfd(event.get());
    rt_.reset();  // reaps 16 recvs' final completions
    keep.clear();
    EXPECT_EQ(seen.runs, round);
    std::size_t ran = 0;
    for (int i = 0; i < 100 && ran == 0; ++i) ran = (*poller_).poll(*world_, 10ms);
    EXPECT_EQ(seen.runs, round + 1);
    EXPECT_TRUE(seen.readable);
    EXPECT_EQ(seen.count, static_cast<std::uint64_t>(round + 1));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, IoSlots, ::testing::Values(keel::Backend::IoUring, keel::Backend::Epoll),
                         keel_test::backend_name);

// --- pattern 44: completed operations held until the next poll (epoll) ----------

class IoSlotsHeld : public keel_test::IoFixture {
 protected:
  IoSlotsHeld() : IoFixture(small_allowance()) {}
  static keel::async::RuntimeOptions small_allowance() {
    keel::async::RuntimeOptions options = heap_frames();
    options.epoll_bytes_per_poll = 8 * 1024;
    return options;
  }
};

// On epoll a recv that moves more than the 8 KiB allowed between two polls
// is held, done, until the next poll. Its task is aborted while it is
// held, and its slot is taken at once by a recv that waits: the held bytes
// go to the next recv on their stream, and the poll that ends the hold
// wakes nobody, because the slot's generation moved on. (On io_uring no
// operation is held; the same steps must keep the same bytes.)
TEST_P(IoSlotsHeld, HeldRecvsAbortedKeepTheirBytesAndTheSlotsNextOperationIsNotWoken) {
  constexpr std::size_t kPiece = 12 * 1024;
  constexpr std::size_t kRounds = 200;
  std::string got;
  rt().block_on([](IoDriver& driver, std::string& got) -> Task<void> {
    auto [server, client] = co_await connected_pair();
    auto [idle_server, idle_client] = co_await connected_pair();
    for (std::size_t i = 0; i < kRounds; ++i) {
      // Sent past the runtime, so only the recv counts against the allowance.
      const std::string piece = pattern(i * kPiece, kPiece);
      CO_ASSERT_TRUE(::send(client.fd(), piece.data(), piece.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(kPiece));
      JoinHandle<IoResult<Buffer>> held = keel::async::spawn(recv_into(server, Buffer(64 * 1024)));
      co_await keel::async::yield_now();  // it runs, and is held, before the loop polls
      EXPECT_FALSE(held.is_finished()) << "the recv moved past the allowance and was not held";
      held.abort();
      JoinHandle<IoResult<Buffer>> waiting = keel::async::spawn(recv_into(idle_server, Buffer(16)));
      co_await keel::async::yield_now();  // it takes the freed slot and waits for a byte
      co_await keel::async::sleep(10us);  // polls: the hold ends
      CO_ASSERT_TRUE(::send(idle_client.fd(), "x", 1, MSG_NOSIGNAL) == 1);
      auto [one, byte] = co_await waiting;
      CO_ASSERT_TRUE(one.has_value());
      EXPECT_EQ(*one, 1u) << "the recv that took the held slot ended before its byte came";
      EXPECT_EQ(byte.view(), "x");
      while (got.size() < (i + 1) * kPiece) {
        auto [n, b] = co_await server.recv(Buffer(64 * 1024));
        CO_ASSERT_TRUE(n && *n > 0);
        got += b.view();
      }
    }
    EXPECT_TRUE(co_await settled(driver));
  }(rt().io_driver(), got));
  EXPECT_EQ(got.size(), kRounds * kPiece);
  EXPECT_TRUE(got == pattern(0, kRounds * kPiece)) << "a held recv's bytes were lost or reordered";
}

INSTANTIATE_TEST_SUITE_P(Backends, IoSlotsHeld, ::testing::Values(keel::Backend::IoUring, keel::Backend::Epoll),
                         keel_test::backend_name);

}  // namespace
