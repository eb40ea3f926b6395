// Cancellation in tasks: a session token in a World resource, a child
// token per activity, a feed reader that checks its token between
// batches, an order writer that waits for its token to flush, a quoting
// loop that a supervisor aborts, and a kill switch — a readiness handler
// on a pipe — that cancels the whole session. docs/cancellation.md quotes
// this file; the numbered comments match its sections.
//
//   bazel run //examples/async_timers:cancellation
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "async/cancel.h"
#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/timer.h"
#include "rt/handler.h"
#include "rt/uring.h"
#include "rt/world.h"

using namespace std::chrono_literals;

// 4. The session's token, a World resource: handlers reach it like any other.
struct Session {
  keel::async::CancellationToken token;
};

// 3. A reader that works in steps checks its token between them, and
// stops where a step ends.
keel::async::Task<int> read_feed(keel::async::CancellationToken stop) {
  keel::async::Interval tick(1ms);
  int batches = 0;
  while (!stop.is_cancelled()) {
    co_await tick.next();
    ++batches;
  }
  co_return batches;
}

// 3. A task with nothing else to do waits for its token.
keel::async::Task<void> flush_on_stop(keel::async::CancellationToken stop, std::vector<std::string>& log) {
  co_await stop.cancelled();
  log.push_back("orders flushed");
}

// 6. A task that waits on something else — here a long sleep — is ended
// by a supervisor that waits on the token and aborts it.
keel::async::Task<void> quote_forever(std::vector<std::string>& log) {
  struct Withdraw {
    std::vector<std::string>* log;
    ~Withdraw() { log->push_back("quotes withdrawn"); }
  } withdraw{&log};
  while (true) co_await keel::async::sleep(1h);
}

keel::async::Task<void> supervise(keel::async::CancellationToken stop, std::vector<std::string>& log) {
  keel::async::JoinHandle<void> quoting = keel::async::spawn(quote_forever(log));
  co_await stop.cancelled();
  quoting.abort();  // destroyed at its sleep: its destructors run now
}

// 4. The kill switch: a readiness handler that cancels the session.
void on_kill_switch(keel::Res<Session> session, const keel::Readiness& ready) {
  char byte;
  while (::read(ready.fd, &byte, 1) > 0) {
  }
  session->token.cancel();
}

keel::async::Task<void> trade(keel::World& world, int kill_switch, std::vector<std::string>& log) {
  const keel::async::CancellationToken& session = world.resource<Session>().token;
  // 2. One child per activity: each can be cancelled alone, all with the session.
  keel::async::CancellationToken feed = session.child();
  keel::async::CancellationToken orders = session.child();
  keel::async::JoinHandle<int> reader = keel::async::spawn(read_feed(feed));
  keel::async::JoinHandle<void> writer = keel::async::spawn(flush_on_stop(orders, log));
  keel::async::JoinHandle<void> quoting = keel::async::spawn(supervise(session.child(), log));

  co_await keel::async::sleep(5ms);
  feed.cancel();  // the feed alone: the session and the orders go on
  co_await reader;
  log.push_back(std::string("feed stopped; session cancelled: ") + (session.is_cancelled() ? "yes" : "no"));

  co_await keel::async::sleep(5ms);
  const char byte = 'k';
  if (::write(kill_switch, &byte, 1) != 1) log.push_back("kill switch failed");
  co_await writer;
  co_await quoting;
  log.push_back(std::string("session cancelled: ") + (session.is_cancelled() ? "yes" : "no"));
}

int main() {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return 1;
  keel::WorldBuilder wb;
  wb.install_driver(keel::UringInstaller{});
  wb.emplace<Session>();
  keel::World world = std::move(wb).build();
  auto& uring = world.resource<keel::Uring>();
  const keel::Watch kill_switch = uring.watch(fds[0], keel::Readable, keel::handler(world.registry(), on_kill_switch));

  keel::async::Runtime runtime(world);
  std::vector<std::string> log;
  runtime.block_on(trade(world, fds[1], log));
  for (const std::string& line : log) std::cout << line << "\n";
  uring.unwatch(kill_switch);
  ::close(fds[1]);
  ::close(fds[0]);
}
