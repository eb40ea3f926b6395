// Batch pipelines: a pipeline that owns a buffer of input items, filled by
// the IO layer and then run item by item. Use one when events arrive in
// bursts (a recvmmsg, a ring's worth of completions) and you want them in a
// contiguous buffer you fill without a call per item; use build() when they
// arrive one at a time.
//
//   auto batch = keel::pipeline<RawMsg>(reg).then(decode).map(send).build_batch(1024);
//   batch.push(msg);                                                    // false when full
//   batch.fill(n, [&](std::size_t k) { return parse(datagram[k]); });  // many at once
//   std::size_t ran = batch.run(world);  // each item independently; empties the buffer
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "rt/error.h"
#include "rt/handler.h"
#include "rt/internal/fixed_capacity_buffer.h"
#include "rt/pipeline.h"

namespace keel {
namespace internal {

// Instantiated when a batch's items cannot be moved without a possible throw.
template <class Item>
struct BatchItemMustBeNothrowMovable {
  static_assert(dependent_false<Item>,
                "keel: a batch pipeline's item type (the type in 'BatchItemMustBeNothrowMovable<T>') must be "
                "nothrow move constructible, so that a run stopped by an exception can keep the items it did not "
                "reach. Give it a noexcept move constructor, or batch pointers to the items.");
  static constexpr bool ok = false;
};

// Instantiated when unfilled() is asked of an item type that raw bytes cannot make.
template <class Item>
struct UnfilledNeedsATriviallyCopyableItem {
  static_assert(dependent_false<Item>,
                "keel: unfilled() lends empty slots for raw bytes (recvmmsg, memcpy) to be written into, which only "
                "makes objects of a trivially copyable type; the item type is the one in 'UnfilledNeedsATriviallyCopyableItem<T>'. Use push() or fill() for it.");
  static constexpr bool ok = false;
};

}  // namespace internal

// A pipeline with its own input buffer of capacity() items, allocated once
// when it is built and never grown. Fill it with push(), emplace(), fill()
// or unfilled()+commit(); run(world) passes each item through the chain in
// order (an item that ends empty or in error does not stop the rest) and
// empties the buffer. Nothing is allocated after build_batch().
template <class In, class Chain>
class BatchPipeline {
 public:
  using value_type = std::remove_cvref_t<In>;

  BatchPipeline(const Registry& registry, Chain chain, std::string_view name, std::size_t capacity)
      : built_for_(registry), chain_(std::move(chain)), name_(name), buffer_(capacity) {
    if constexpr (!std::is_nothrow_move_constructible_v<value_type>) {
      static_cast<void>(internal::BatchItemMustBeNothrowMovable<value_type>::ok);
    }
  }

  // Adds an item; false when the buffer is full, and then the item is not
  // taken (neither copied nor moved from).
  bool push(const value_type& item) { return buffer_.emplace_back(item); }
  bool push(value_type&& item) { return buffer_.emplace_back(std::move(item)); }
  // Constructs an item in the buffer; false when full.
  template <class... Args>
  bool emplace(Args&&... args) {
    return buffer_.emplace_back(std::forward<Args>(args)...);
  }

  // Adds generate(0), generate(1), ... up to `count` items or until the
  // buffer is full; returns how many it added. One capacity check for the
  // lot, so a simple generator compiles to a plain (often vectorized) loop.
  // If generate throws, the items it made before are kept.
  template <class Generate>
  std::size_t fill(std::size_t count, Generate&& generate) {
    return buffer_.fill(count, generate);
  }

  // The empty slots, for the kernel or memcpy to write items into; then
  // commit(n) adds the first n of them. Only for trivially copyable items.
  template <class Item = value_type>
  std::span<Item> unfilled() noexcept {
    if constexpr (internal::is_byte_writable<Item>) {
      return buffer_.unfilled();
    } else {
      static_cast<void>(internal::UnfilledNeedsATriviallyCopyableItem<Item>::ok);
      return {};
    }
  }
  template <class Item = value_type>
  void commit(std::size_t count) noexcept {
    if constexpr (internal::is_byte_writable<Item>) {
      buffer_.commit(count);
    } else {
      static_cast<void>(internal::UnfilledNeedsATriviallyCopyableItem<Item>::ok);
    }
  }

  // The buffered items, in the order they will run; the memory does not
  // move for the life of the batch.
  std::span<const value_type> items() const noexcept { return buffer_.items(); }
  std::size_t size() const noexcept { return buffer_.size(); }
  std::size_t capacity() const noexcept { return buffer_.capacity(); }
  // Destroys the buffered items without running them. Not from inside a
  // step of this batch's run (ConfigError): the run still reads them.
  void clear() {
    refuse_while_running("clear()");
    buffer_.drop_front(buffer_.size());
  }

  // Runs every buffered item through the chain, in order, and returns how
  // many ran. With pipeline<T> each item is moved into the chain; with
  // pipeline<const T&> the steps see the buffered item itself. Items added
  // while the batch runs (by a step) wait for the next run. If a step
  // throws, the exception propagates: the item that threw and those before
  // it are gone, those after it stay buffered for the next run.
  std::size_t run(World& world) {
    internal::check_world(built_for_, world, name_);
    refuse_while_running("run()");
    running_ = true;
    const std::size_t count = buffer_.size();
    // Read once: the buffer never moves, and the chain's stores could
    // otherwise make the compiler reload the bounds per item.
    value_type* const items = buffer_.data();
    std::size_t i = 0;
    internal::DropOutput discard;
    try {
      for (; i < count; ++i) {
        if constexpr (std::is_lvalue_reference_v<In>) {
          chain_.run_into(world, static_cast<In>(items[i]), discard);
        } else {
          chain_.run_into(world, std::move(items[i]), discard);
        }
      }
    } catch (...) {
      running_ = false;
      buffer_.drop_front(i + 1);
      throw;
    }
    running_ = false;
    buffer_.drop_front(count);
    return count;
  }

  std::string_view name() const noexcept { return name_; }

 private:
  // A step that reaches its own batch could otherwise destroy or move the
  // items the running loop is about to read.
  void refuse_while_running(std::string_view what) const {
    if (running_) {
      throw ConfigError("keel: " + std::string(what) + " called on batch pipeline '" + std::string(name_) +
                        "' from inside its own run(); push() is allowed there and the item waits for the next run");
    }
  }

  internal::WorldStamp built_for_;
  Chain chain_;
  std::string_view name_;
  internal::FixedCapacityBuffer<value_type> buffer_;
  bool running_ = false;
};

}  // namespace keel
