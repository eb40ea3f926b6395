// Must compile: every form of handler that Uring::watch()/on_wake(),
// TimerWheel::schedule(), Broadcast<E>::add() and fan_out() take — a handler
// type of the user's own (name() with or without noexcept), a
// std::unique_ptr to a class derived from keel::Handler<E> or
// keel::Handler<const E&>, keel handlers and plain functions. The positive
// control of the boxed_* compile-fail tests.
#include <memory>
#include <string_view>

#include "rt/fan_out.h"
#include "rt/timer.h"
#include "rt/uring.h"

struct Quote {
  int price = 0;
};

struct OnReady {
  using event_type = const keel::Readiness&;
  void run(keel::World&, const keel::Readiness&) {}
  std::string_view name() const noexcept { return "OnReady"; }
};
struct OnReadyByValue {
  using event_type = keel::Readiness;
  void run(keel::World&, keel::Readiness) {}
  std::string_view name() const { return "OnReadyByValue"; }  // not noexcept: accepted
};
struct DerivedReady final : keel::Handler<const keel::Readiness&> {
  void run(keel::World&, const keel::Readiness&) override {}
  std::string_view name() const noexcept override { return "DerivedReady"; }
};
struct DerivedWoken : keel::Handler<keel::Woken> {
  void run(keel::World&, keel::Woken) override {}
  std::string_view name() const noexcept override { return "DerivedWoken"; }
};
struct OnTimeout {
  using event_type = const keel::Instant&;
  void run(keel::World&, const keel::Instant&) {}
  std::string_view name() const noexcept { return "OnTimeout"; }
};
struct DerivedTimeout : keel::Handler<keel::Instant> {
  void run(keel::World&, keel::Instant) override {}
  std::string_view name() const noexcept override { return "DerivedTimeout"; }
};
struct OnQuote {
  using event_type = const Quote&;
  void run(keel::World&, const Quote&) {}
  std::string_view name() const noexcept { return "OnQuote"; }
};
struct DerivedQuote : keel::Handler<const Quote&> {
  void run(keel::World&, const Quote&) override {}
  std::string_view name() const noexcept override { return "DerivedQuote"; }
};
struct DerivedQuoteByValue : keel::Handler<Quote> {
  void run(keel::World&, Quote) override {}
  std::string_view name() const noexcept override { return "DerivedQuoteByValue"; }
};

void on_ready(const keel::Readiness&) {}

void build(keel::Uring& uring, keel::TimerWheel& wheel, keel::Broadcast<Quote>& subscribers, int fd,
           keel::Instant at) {
  uring.watch(fd, keel::Readable, OnReady{});
  uring.watch(fd, keel::Readable, OnReadyByValue{});
  uring.watch(fd, keel::Readable, std::make_unique<DerivedReady>());
  uring.watch(fd, keel::Readable, on_ready);
  (void)uring.try_watch(fd, keel::Readable, [](const keel::Readiness&) {});
  uring.on_wake(std::make_unique<DerivedWoken>());

  wheel.schedule(at, OnTimeout{});
  wheel.schedule(at, std::make_unique<DerivedTimeout>());
  wheel.schedule_periodic(at, std::chrono::milliseconds(1), [](keel::Instant) {});

  subscribers.add(OnQuote{});
  subscribers.add(std::make_unique<DerivedQuote>());
  (void)keel::fan_out(OnQuote{}, std::make_unique<DerivedQuote>(), 
                      keel::cloned(std::make_unique<DerivedQuoteByValue>()));
}
