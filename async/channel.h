// Channels: bounded FIFO queues that carry messages to a keel::async task,
// with backpressure. Each factory returns a [sender, receiver] pair:
//
//   auto [tx, rx] = keel::async::local::channel<Order>(64);   // tasks of one thread
//   auto [tx, rx] = keel::async::spsc::channel<Tick>(4096);   // one thread to another
//   auto [tx, rx] = keel::async::mpsc::channel<Fill>(1024);   // many threads to one
//
//   co_await tx.send(order);                  // waits while full; the message comes back if closed
//   if (!tx.try_send(order)) { ... }          // never waits: full or closed, message given back
//   while (std::optional<Order> o = co_await rx.recv()) book.apply(*o);   // nullopt: senders gone or closed
//
// Which one. local: tasks on one runtime thread; no atomics, senders
// copyable. spsc: one producer thread (a task or a plain thread) to the
// receiver's runtime; no locked instruction per message. mpsc: senders
// copyable, on any threads; one compare-and-swap per message. A plain
// thread that runs no runtime uses try_send() or send_blocking().
//
// Close. The receiver's close() (or its destruction) refuses further
// sends and wakes parked senders with their messages; what is queued
// still drains. The last sender's destruction closes the sending side.
// Senders cannot close the channel for the others. recv() gives nullopt
// once the channel is closed and empty.
//
// Not for: one value for one waiter (a JoinHandle), broadcasting to many
// receivers, or events between handlers of one World (keel::Inbox).
// Unlike a tokio channel, one Receiver serves one task at a time, and an
// endpoint must outlive the operations awaited on it.
#pragma once

#include <coroutine>
#include <cstddef>
#include <expected>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "async/internal/local_channel.h"
#include "async/internal/mpsc_channel.h"
#include "async/internal/scheduler.h"
#include "async/internal/spsc_channel.h"
#include "async/internal/waiter.h"
#include "async/waker.h"

namespace keel::async {

// Why try_send() did not send.
enum class TrySendFailure { full, closed };

// What send() and send_blocking() give back when the channel is closed.
template <class T>
struct SendError {
  T message;
};

// What try_send() gives back: the message and why.
template <class T>
struct TrySendError {
  T message;
  TrySendFailure reason;
  bool full() const noexcept { return reason == TrySendFailure::full; }
  bool closed() const noexcept { return reason == TrySendFailure::closed; }
};

// Why try_recv() gave nothing: no message now, or none ever again.
enum class TryRecvError { empty, closed };

namespace internal {

template <class T>
inline constexpr bool dependent_false_v = false;

// Instantiated for a channel whose message type is not a plain object type.
template <class T>
struct ChannelCarriesObjects {
  static_assert(dependent_false_v<T>,
                "keel: a channel carries messages by value: the message type (the type in "
                "'ChannelCarriesObjects<T>') must be a non-const object type, not a reference, an array or a const "
                "type. Send a pointer or a std::unique_ptr to hand over an object.");
  static constexpr bool ok = false;
};

// Instantiated for a channel whose message type may throw when moved.
template <class T>
struct ChannelMessageMustBeNothrowMovable {
  static_assert(dependent_false_v<T>,
                "keel: a channel's message type (the type in 'ChannelMessageMustBeNothrowMovable<T>') must have a "
                "noexcept move constructor: a message is moved into and out of the queue while the other side may "
                "be waiting on it, and a throw there would lose it. Mark the move constructor noexcept, or send a "
                "std::unique_ptr<T>.");
  static constexpr bool ok = false;
};

template <class T>
constexpr bool channel_message_fits() {
  if constexpr (!std::is_object_v<T> || std::is_const_v<T> || std::is_volatile_v<T> || std::is_array_v<T>) {
    return ChannelCarriesObjects<T>::ok;
  } else if constexpr (!std::is_nothrow_move_constructible_v<T>) {
    return ChannelMessageMustBeNothrowMovable<T>::ok;
  } else {
    return true;
  }
}

// Instantiated when send_blocking() is called on a local channel.
template <class T>
struct LocalChannelsHaveNoSendBlocking {
  static_assert(dependent_false_v<T>,
                "keel: a local channel is for tasks of one thread and has no send_blocking() (the thread would "
                "wait on itself): co_await send(), or use an spsc or mpsc channel to send from a plain thread.");
  static constexpr bool ok = false;
};

template <class T>
std::expected<void, SendError<T>> send_result(PushResult r, T& message) {
  if (r == PushResult::ok) return {};
  return std::unexpected(SendError<T>{std::move(message)});
}

// co_await sender.send(m). Holds the message until it is queued, or gives
// it back if the channel closes.
template <class Core>
class SendAwaiter {
  using T = typename Core::value_type;

 public:
  SendAwaiter(Core* core, T message) noexcept : core_(core), message_(std::move(message)) {}
  SendAwaiter(const SendAwaiter&) = delete;
  SendAwaiter& operator=(const SendAwaiter&) = delete;
  ~SendAwaiter() {
    if (parked_) core_->unpark_sender(waiter_);
  }

  bool await_ready() noexcept {
    result_ = core_->try_push(message_);
    return result_ != PushResult::full;
  }
  bool await_suspend(std::coroutine_handle<> h) {
    waiter_.message = &message_;
    waiter_.waker = Waker::for_current_task(h, "a channel's send()");
    const bool suspended = core_->park_sender(waiter_);
    parked_ = true;  // also when not suspended: finish_send() reads how the wait ended
    return suspended;
  }
  std::expected<void, SendError<T>> await_resume() {
    if (parked_) {
      parked_ = false;
      result_ = core_->finish_send(waiter_);
    }
    return send_result(result_, message_);
  }

 private:
  Core* core_;
  T message_;
  SendWaiter<T> waiter_;
  PushResult result_ = PushResult::full;
  bool parked_ = false;
};

// co_await receiver.recv().
template <class Core>
class RecvAwaiter {
  using T = typename Core::value_type;

 public:
  explicit RecvAwaiter(Core* core) noexcept : core_(core) {}
  RecvAwaiter(const RecvAwaiter&) = delete;
  RecvAwaiter& operator=(const RecvAwaiter&) = delete;
  ~RecvAwaiter() {
    if (parked_) core_->unpark_receiver();
  }

  bool await_ready() {
    if (core_->receiver_parked) [[unlikely]] {
      throw std::logic_error("keel: a channel's Receiver is awaited by one task at a time");
    }
    take(core_->try_pop());
    return value_.has_value() || core_->drained();
  }
  bool await_suspend(std::coroutine_handle<> h) {
    if (core_->park_receiver(Waker::for_current_task(h, "a channel's recv()"))) {
      parked_ = true;
      return true;
    }
    take(core_->try_pop());
    return false;
  }
  std::optional<T> await_resume() noexcept {
    if (parked_) {
      core_->unpark_receiver();
      parked_ = false;
      take(core_->take_after_wake());
    }
    return std::move(value_);
  }

 private:
  // Messages need only be move constructible, not assignable.
  void take(std::optional<T>&& message) noexcept {
    if (message) value_.emplace(std::move(*message));
  }

  Core* core_;
  std::optional<T> value_;
  bool parked_ = false;
};

// The sending end of a channel whose shared state is a Core.
template <class Core>
class Sender {
  using T = typename Core::value_type;

 public:
  // Empty (moved from): every operation but destruction and assignment is undefined.
  Sender(Sender&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}
  Sender& operator=(Sender&& other) noexcept {
    if (this != &other) {
      reset();
      core_ = std::exchange(other.core_, nullptr);
    }
    return *this;
  }
  // mpsc and local senders are copies of one sending side: the channel
  // closes for the receiver when the last one goes.
  Sender(const Sender& other) noexcept
    requires Core::kCopyableSender
      : core_(other.core_) {
    core_->add_sender();
  }
  Sender& operator=(const Sender& other) noexcept
    requires Core::kCopyableSender
  {
    if (this != &other) {
      other.core_->add_sender();
      reset();
      core_ = other.core_;
    }
    return *this;
  }
  ~Sender() { reset(); }

  // co_await tx.send(m): queues m, waiting while the channel is full.
  // Gives {} once queued, or SendError holding m when the channel is (or
  // becomes, while waiting) closed. Destroying the waiting task takes its
  // place in line back; m is then destroyed with it, unsent.
  [[nodiscard]] SendAwaiter<Core> send(T message) const noexcept { return SendAwaiter<Core>(core_, std::move(message)); }

  // Queues m if there is room now: contextually true when sent, otherwise
  // the error holds m and says full or closed. Never waits.
  std::expected<void, TrySendError<T>> try_send(T message) const noexcept {
    const internal::PushResult r = core_->try_push(message);
    if (r == internal::PushResult::ok) return {};
    return std::unexpected(TrySendError<T>{
        std::move(message), r == internal::PushResult::full ? TrySendFailure::full : TrySendFailure::closed});
  }

  // For a plain thread (spsc, mpsc): queues m, blocking the thread while
  // the channel is full. Throws std::logic_error when called from a task
  // (co_await send() there: blocking would stop every task of the thread).
  std::expected<void, SendError<T>> send_blocking(T message) const {
    if constexpr (!Core::kCrossThread) {
      static_cast<void>(LocalChannelsHaveNoSendBlocking<T>::ok);
      return {};
    } else {
      if (Scheduler::current() != nullptr) {
        throw std::logic_error("keel: send_blocking() was called from a task; co_await send() instead");
      }
      while (true) {
        PushResult r = core_->try_push(message);
        if (r == PushResult::full) {
          SendWaiter<T> waiter;
          waiter.message = &message;
          waiter.thread = true;
          if (core_->park_sender(waiter)) core_->wait_sender(waiter);
          r = core_->finish_send(waiter);
        }
        if (r != PushResult::full) return send_result(r, message);
      }
    }
  }

  // True once the receiver closed the channel or is gone.
  bool is_closed() const noexcept { return core_->is_closed(); }

 private:
  template <class, class>
  friend struct ChannelFactory;
  explicit Sender(Core* core) noexcept : core_(core) {}

  void reset() noexcept {
    if (core_ != nullptr) Core::drop_sender(std::exchange(core_, nullptr));
  }

  Core* core_;
};

// The receiving end of a channel whose shared state is a Core. One task
// (or one thread, for try_recv) uses it at a time.
template <class Core>
class Receiver {
  using T = typename Core::value_type;

 public:
  Receiver(Receiver&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}
  Receiver& operator=(Receiver&& other) noexcept {
    if (this != &other) {
      reset();
      core_ = std::exchange(other.core_, nullptr);
    }
    return *this;
  }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;
  // Closes the channel; queued messages are destroyed with its last endpoint.
  ~Receiver() { reset(); }

  // co_await rx.recv(): the oldest message, waiting while the channel is
  // empty; nullopt once it is closed (by close() or by its last sender's
  // end) and empty. Throws std::logic_error if another task is already
  // waiting on this receiver.
  [[nodiscard]] RecvAwaiter<Core> recv() noexcept { return RecvAwaiter<Core>(core_); }

  // The oldest message if one is queued; otherwise empty or closed (closed
  // and nothing left). While a recv() is waiting on this receiver, the
  // messages are that recv()'s: try_recv() says empty.
  std::expected<T, TryRecvError> try_recv() noexcept {
    if (!core_->receiver_parked) [[likely]] {
      if (std::optional<T> m = core_->try_pop()) return std::move(*m);
      if (core_->drained()) return std::unexpected(TryRecvError::closed);
    }
    return std::unexpected(TryRecvError::empty);
  }

  // Refuses further sends (they give their message back) and wakes the
  // senders waiting on a full channel with theirs; the queued messages
  // still drain, then recv() gives nullopt. Idempotent.
  void close() noexcept { core_->close(); }

  std::size_t capacity() const noexcept { return core_->capacity(); }

 private:
  template <class, class>
  friend struct ChannelFactory;
  explicit Receiver(Core* core) noexcept : core_(core) {}

  void reset() noexcept {
    if (core_ != nullptr) Core::drop_receiver(std::exchange(core_, nullptr));
  }

  Core* core_;
};

template <class T, class Core>
struct ChannelFactory {
  static std::pair<Sender<Core>, Receiver<Core>> make(std::size_t capacity) {
    Core* core = new Core(capacity);
    return {Sender<Core>(core), Receiver<Core>(core)};
  }
};

// A message type that does not fit stops here with one static_assert;
// the stand-in pair keeps `auto [tx, rx] = ...` from adding errors.
template <class T, template <class> class Core>
auto make_channel(std::size_t capacity) {
  if constexpr (channel_message_fits<T>()) {
    return ChannelFactory<T, Core<T>>::make(capacity);
  } else {
    return std::pair<int, int>{};
  }
}

}  // namespace internal

namespace local {
template <class T>
using Sender = internal::Sender<internal::LocalChannel<T>>;
template <class T>
using Receiver = internal::Receiver<internal::LocalChannel<T>>;

// A channel for tasks of one thread, holding at most `capacity` messages:
// a std::pair<Sender<T>, Receiver<T>>. Every factory throws
// std::length_error for a capacity of 0 (or above 2^40).
template <class T>
auto channel(std::size_t capacity) {
  return internal::make_channel<T, internal::LocalChannel>(capacity);
}
}  // namespace local

namespace spsc {
template <class T>
using Sender = internal::Sender<internal::SpscChannel<T>>;
template <class T>
using Receiver = internal::Receiver<internal::SpscChannel<T>>;

// A channel from one thread (a task, or a plain thread) to a task on
// another, holding at most `capacity` messages. The Sender is move-only.
template <class T>
auto channel(std::size_t capacity) {
  return internal::make_channel<T, internal::SpscChannel>(capacity);
}
}  // namespace spsc

namespace mpsc {
template <class T>
using Sender = internal::Sender<internal::MpscChannel<T>>;
template <class T>
using Receiver = internal::Receiver<internal::MpscChannel<T>>;

// A channel from any number of threads to a task, holding at most
// `capacity` messages. Copy the Sender for each producer.
template <class T>
auto channel(std::size_t capacity) {
  return internal::make_channel<T, internal::MpscChannel>(capacity);
}
}  // namespace mpsc

}  // namespace keel::async
