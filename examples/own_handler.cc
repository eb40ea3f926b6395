// Handler types of your own: a line reader that owns its buffer and the
// half line left between two reads, watched on a pipe like any keel
// handler; and a report class derived from keel::Handler<keel::Instant>,
// scheduled as a std::unique_ptr on a virtual clock. docs/handlers.md
// ("Your own handler type") quotes this file; the numbered comments match
// what it prints.
//
//   bazel run //examples:own_handler
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rt/handler.h"
#include "rt/testing.h"
#include "rt/timer.h"
#include "rt/uring.h"
#include "rt/world.h"

using namespace std::chrono_literals;

struct Line {
  std::string_view text;
};

struct Tape {
  std::vector<std::string> lines;
};

// What happens to each complete line: an ordinary keel handler.
void record_line(keel::ResMut<Tape> tape, const Line& line) {
  tape->lines.emplace_back(line.text);
  std::cout << "   line: " << line.text << "\n";
}

// A handler type of your own. It owns a read buffer and the half line left
// over between two readiness events: state that every run shares, which a
// function's parameters would not hold as plainly. It takes the handler
// that consumes each line, so that handler's parameters are resolved once,
// by keel::handler().
template <class OnLine>
class LineReader {
 public:
  using event_type = const keel::Readiness&;  // what run() takes

  explicit LineReader(OnLine on_line) : on_line_(std::move(on_line)) {}

  void run(keel::World& world, const keel::Readiness& ready) {
    for (ssize_t n; (n = ::read(ready.fd, buffer_.data(), buffer_.size())) > 0;) {
      partial_.append(buffer_.data(), static_cast<std::size_t>(n));
    }
    std::size_t start = 0;
    for (std::size_t end; (end = partial_.find('\n', start)) != std::string::npos; start = end + 1) {
      on_line_.run(world, Line{std::string_view(partial_).substr(start, end - start)});
    }
    partial_.erase(0, start);  // keep the half line for the next readiness
  }

  // const: Keel names handlers through const references. noexcept: Keel
  // calls it from noexcept functions, so a throw would end the program.
  std::string_view name() const noexcept { return "LineReader"; }

 private:
  std::array<char, 4096> buffer_{};  // more than the 64 inline bytes: watch() boxes the reader, once
  std::string partial_;
  OnLine on_line_;
};

// A class derived from keel::Handler<E>, passed as std::unique_ptr. It
// resolves a resource itself, so it also checks the World itself: Keel
// stamps the handlers it builds, not this class.
class Report final : public keel::Handler<keel::Instant> {
 public:
  explicit Report(const keel::Registry& registry)
      : tape_(&registry.resolve<Tape>()), built_for_(registry.serial()) {}

  void run(keel::World& world, keel::Instant at) override {
    if (world.serial() != built_for_) {
      throw keel::ConfigError("keel: handler 'Report' was built for another World; build it from this World's "
                              "registry()");
    }
    std::cout << "   report at " << (at - keel::Instant{}) / 1ms << " ms: " << tape_->lines.size() << " lines\n";
  }

  // The override must be noexcept, like keel::Handler<E>::name().
  std::string_view name() const noexcept override { return "Report"; }

 private:
  Tape* tape_;
  std::uint64_t built_for_;
};

int main() {
  keel::WorldBuilder wb;
  wb.emplace<Tape>();
  keel::UringPoller io = wb.install_driver(keel::UringInstaller{.entries = 8});
  keel::TimerPoller timers = wb.install_driver(keel::TimerInstaller{});
  keel::World world = std::move(wb).build();
  const keel::Registry& reg = world.registry();
  keel::Uring& uring = world.resource<keel::Uring>();
  keel::TimerWheel& wheel = world.resource<keel::TimerWheel>();

  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
  const auto write_text = [&](std::string_view text) {
    if (::write(fds[1], text.data(), text.size()) != static_cast<ssize_t>(text.size()))
      throw std::runtime_error("write");
  };
  const auto poll_until_lines = [&](std::size_t count) {
    for (int i = 0; i < 100 && world.resource<Tape>().lines.size() < count; ++i) io.poll(world, 100ms);
  };

  std::cout << "1. a LineReader on a pipe\n";
  keel::Watch reader = uring.watch(fds[0], keel::Readable, LineReader(keel::handler(reg, record_line)));
  write_text("B 101\nS 10");  // a line and a half
  poll_until_lines(1);
  write_text("2\n");  // the other half
  poll_until_lines(2);

  std::cout << "2. a Report, scheduled as a std::unique_ptr\n";
  keel::testing::VirtualClock clock;
  wheel.schedule(clock.now() + 1s, std::make_unique<Report>(reg));
  timers.poll(world, clock.advance(1s));

  std::cout << "3. a Report run on another World\n";
  keel::World other = [] {
    keel::WorldBuilder b;
    b.emplace<Tape>();
    return std::move(b).build();
  }();
  try {
    Report(reg).run(other, clock.now());
  } catch (const keel::ConfigError& e) {
    std::cout << "   " << e.what() << "\n";
  }

  uring.unwatch(reader);  // destroys the LineReader and its buffer
  std::cout << "4. unwatched: " << uring.size() << " watches, " << world.resource<Tape>().lines.size()
            << " lines on the tape\n";
  ::close(fds[0]);
  ::close(fds[1]);
}
