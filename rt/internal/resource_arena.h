// ResourceArena: owns the World's resources in type-erased form.
//
// Resources are placement-constructed into large blocks (so that resources
// registered together sit together in cache) and never move: a resource's
// address is its ResourceId for the life of the World. Each resource records
// how to destroy itself; the arena destroys them in reverse order of
// construction, each exactly once, then frees the blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace keel::internal {

class ResourceArena {
 public:
  ResourceArena() = default;
  ResourceArena(const ResourceArena&) = delete;
  ResourceArena& operator=(const ResourceArena&) = delete;
  ~ResourceArena() { destroy_all(); }

  // Constructs a T from args in the arena and returns it. If T's constructor
  // throws, nothing of T is kept (its space is reused by the next resource
  // unless the constructor itself emplaced resources after it) and the
  // exception propagates.
  template <class T, class... Args>
  T* emplace(Args&&... args) {
    void* place = allocate(sizeof(T), alignof(T));
    T* object;
    try {
      // SAFETY: `place` is fresh storage of sizeof(T) bytes aligned for T,
      // owned by this arena and not yet holding an object.
      object = ::new (place) T(std::forward<Args>(args)...);
    } catch (...) {
      release_failed_allocation(place, sizeof(T));
      throw;
    }
    records_.push_back(Record{object, &destroy_as<T>});
    return object;
  }

  std::size_t size() const noexcept { return records_.size(); }

  // Destroys every resource, newest first, exactly once. Idempotent.
  void destroy_all() noexcept {
    while (!records_.empty()) {
      const Record record = records_.back();
      records_.pop_back();
      record.destroy(record.object);
    }
    blocks_.clear();
    oversized_.clear();
    cursor_ = nullptr;
    end_ = nullptr;
  }

 private:
  static constexpr std::size_t kBlockBytes = 64 * 1024;
  static constexpr std::size_t kBlockAlign = 64;
  // Larger resources get a block of their own so that they do not waste the
  // tail of a shared one.
  static constexpr std::size_t kOversized = kBlockBytes / 4;

  struct Record {
    void* object;
    void (*destroy)(void*) noexcept;
  };

  struct AlignedDelete {
    std::size_t align;
    void operator()(std::byte* p) const noexcept { ::operator delete[](p, std::align_val_t{align}); }
  };
  using Block = std::unique_ptr<std::byte[], AlignedDelete>;

  template <class T>
  static void destroy_as(void* object) noexcept {
    // SAFETY: `object` was produced by emplace<T> (the record pairs the
    // pointer with this very instantiation) and is destroyed once: the
    // record is popped before the call.
    static_cast<T*>(object)->~T();
  }

  static Block new_block(std::size_t bytes, std::size_t align) {
    const std::size_t a = align < kBlockAlign ? kBlockAlign : align;
    // SAFETY: the aligned operator new[] is paired with the aligned operator
    // delete[] of the same alignment, which AlignedDelete carries with the
    // pointer; `a` is a power of two (alignof values and kBlockAlign are).
    return Block(static_cast<std::byte*>(::operator new[](bytes, std::align_val_t{a})), AlignedDelete{a});
  }

  void* allocate(std::size_t bytes, std::size_t align) {
    if (bytes >= kOversized || align > kBlockAlign) {
      oversized_.push_back(new_block(bytes == 0 ? 1 : bytes, align));
      return oversized_.back().get();
    }
    std::byte* p = align_up(cursor_, align);
    if (cursor_ == nullptr || p + bytes > end_) {
      blocks_.push_back(new_block(kBlockBytes, kBlockAlign));
      cursor_ = blocks_.back().get();
      end_ = cursor_ + kBlockBytes;
      p = align_up(cursor_, align);
    }
    cursor_ = p + bytes;
    return p;
  }

  // Gives back the space of an emplace whose constructor threw. That
  // constructor may have emplaced other resources (one taking the
  // WorldBuilder), which then sit after `place` and stay alive: shared-block
  // space is reclaimed only when nothing was allocated after it.
  void release_failed_allocation(void* place, std::size_t bytes) noexcept {
    // SAFETY: `place` came from allocate(sizeof(T)) and no object lives there
    // (its constructor threw). Only `place`'s own oversized block is freed,
    // and shared-block space only while the cursor still ends at it, so no
    // live resource's bytes are handed out again.
    auto* p = static_cast<std::byte*>(place);
    for (auto it = oversized_.rbegin(); it != oversized_.rend(); ++it) {
      if (it->get() == p) {
        oversized_.erase(std::next(it).base());
        return;
      }
    }
    if (cursor_ == p + bytes) cursor_ = p;
  }

  static std::byte* align_up(std::byte* p, std::size_t align) noexcept {
    if (p == nullptr) return nullptr;
    // SAFETY: pure address arithmetic within (or one past) the current block;
    // the caller checks the result against end_ before using it.
    const auto bits = reinterpret_cast<std::uintptr_t>(p);
    const auto aligned = (bits + align - 1) & ~(static_cast<std::uintptr_t>(align) - 1);
    return p + (aligned - bits);
  }

  std::vector<Record> records_;
  std::vector<Block> blocks_;
  std::vector<Block> oversized_;
  std::byte* cursor_ = nullptr;
  std::byte* end_ = nullptr;
};

// The only way out of erased storage: a ResourceId's address viewed as the
// type it was registered as.
template <class T>
T* resource_cast(void* address) noexcept {
  // SAFETY: callers pass an address that the Registry recorded for
  // TypeKey::of<T>() (or type_index<T>()), i.e. one produced by
  // ResourceArena::emplace<T>. The object is alive until the World dies.
  return static_cast<T*>(address);
}

}  // namespace keel::internal
