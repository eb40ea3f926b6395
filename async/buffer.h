// Buffer and Bytes: owned memory for completion-based IO. A Buffer is one
// fixed allocation that one owner fills; freezing it gives Bytes, an
// immutable, reference-counted view that is copied, sliced and sent to
// other threads without copying the bytes.
//
//   keel::Buffer buf(4096);                        // capacity 4096, size 0
//   std::span<std::byte> room = buf.spare_capacity();
//   buf.commit(fill(room));                        // the bytes written join the contents
//   keel::Bytes msg = std::move(buf).freeze();     // no allocation: the block changes hands
//   keel::Bytes header = msg.slice(0, 16);         // shares the block
//
// Why not std::vector<char>: io_uring reads into memory after the call
// that submits the read returns, so an IO operation takes the Buffer by
// value and gives it back with its result, on success and on error alike.
// A Buffer never reallocates (its bytes stay where the kernel was told
// they are) and never zero-fills (the kernel writes them); its size, the
// initialised prefix, grows only by a completed read, commit() or append(),
// and nothing reads past it. Bytes is to Buffer what tokio's Bytes is to
// BytesMut; its count is atomic, so Bytes may cross threads. For buffers
// reused without allocation, see keel::BufferPool (async/buffer_pool.h).
//
// Not for: growable strings (std::string), or memory shared for writing
// (a Buffer has one owner, and Bytes cannot be written).
#pragma once

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <utility>

#include "async/internal/buffer_storage.h"

namespace keel {

class Buffer;
class Bytes;

namespace internal {
struct BufferAccess;

template <class T>
inline constexpr bool buffer_dependent_false_v = false;

// Instantiated when freeze() is called on a Buffer that is not an rvalue.
template <class Self>
struct FreezeConsumesTheBuffer {
  static_assert(buffer_dependent_false_v<Self>,
                "keel: freeze() consumes the Buffer: call std::move(buffer).freeze(). Frozen in place, the Buffer "
                "could still write into bytes that the Bytes share; moved, it is left empty.");
  static constexpr bool ok = false;
};
}  // namespace internal

// Immutable, shared bytes: a frozen Buffer, or a slice of one. Copies share
// the storage (an atomic count); the storage goes — or its pool slot comes
// back — with the last copy or slice. One Bytes object is used by one
// thread at a time; copies of it may live on any threads.
class Bytes {
 public:
  // Empty: size 0, no storage.
  Bytes() noexcept = default;

  // Bytes holding a copy of `bytes`: one allocation (none when empty).
  static Bytes copy_of(std::string_view bytes);

  Bytes(const Bytes& other) noexcept : block_(other.block_), data_(other.data_), size_(other.size_) {
    if (block_ != nullptr) internal::retain(block_);
  }
  Bytes& operator=(const Bytes& other) noexcept {
    if (this != &other) {
      if (other.block_ != nullptr) internal::retain(other.block_);
      reset();
      block_ = other.block_;
      data_ = other.data_;
      size_ = other.size_;
    }
    return *this;
  }
  // The source is left empty.
  Bytes(Bytes&& other) noexcept
      : block_(std::exchange(other.block_, nullptr)),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  Bytes& operator=(Bytes&& other) noexcept {
    if (this != &other) {
      reset();
      block_ = std::exchange(other.block_, nullptr);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~Bytes() { reset(); }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::string_view view() const noexcept { return internal::as_chars(data_, size_); }
  std::span<const std::byte> span() const noexcept { return {data_, size_}; }

  // Bytes [offset, offset + length) of these, sharing their storage (an
  // empty slice holds none). Throws std::out_of_range when the range does
  // not lie within size().
  Bytes slice(std::size_t offset, std::size_t length) const {
    if (offset > size_ || length > size_ - offset) {
      throw std::out_of_range("keel: Bytes::slice(offset, length) reaches past the end of the Bytes");
    }
    if (length == 0) return Bytes();
    internal::retain(block_);
    return Bytes(block_, data_ + offset, length);
  }

  // How many Bytes (copies and slices) share this storage; 0 when empty.
  // A snapshot when copies live on other threads.
  std::size_t use_count() const noexcept { return internal::owners(block_); }

 private:
  friend class Buffer;
  friend struct internal::BufferAccess;
  // Adopts one count of `block`.
  Bytes(internal::BlockHeader* block, const std::byte* data, std::size_t size) noexcept
      : block_(block), data_(data), size_(size) {}

  void reset() noexcept {
    if (block_ != nullptr) internal::release_shared(std::exchange(block_, nullptr));
    data_ = nullptr;
    size_ = 0;
  }

  internal::BlockHeader* block_ = nullptr;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// A fixed allocation with one owner: `capacity()` bytes, of which the first
// `size()` are initialised. Move-only; the bytes never move.
class Buffer {
 public:
  // Empty: capacity 0, no storage.
  Buffer() noexcept = default;
  // `capacity` uninitialised bytes in one allocation (header included;
  // none for 0). Throws std::length_error above 2^48, std::bad_alloc.
  explicit Buffer(std::size_t capacity)
      : block_(capacity == 0 ? nullptr : internal::allocate_heap_block(capacity)) {}
  // A Buffer of exactly bytes.size() capacity, holding a copy of them.
  static Buffer copy_of(std::string_view bytes) {
    Buffer out(bytes.size());
    out.append(bytes);
    return out;
  }

  // The source is left empty (capacity 0).
  Buffer(Buffer&& other) noexcept
      : block_(std::exchange(other.block_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  Buffer& operator=(Buffer&& other) noexcept {
    if (this != &other) {
      reset();
      block_ = std::exchange(other.block_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  // Frees the storage, or gives a pooled slot back to its pool.
  ~Buffer() { reset(); }

  // Initialised bytes.
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return block_ == nullptr ? 0 : block_->capacity; }
  bool empty() const noexcept { return size_ == 0; }
  std::string_view view() const noexcept { return internal::as_chars(data(), size_); }
  std::span<std::byte> span() noexcept { return {data(), size_}; }
  std::span<const std::byte> span() const noexcept { return {data(), size_}; }

  // Forgets the contents (size 0); the capacity stays.
  void clear() noexcept { size_ = 0; }

  // The uninitialised tail, capacity() - size() bytes, to write into
  // before commit(). Its bytes hold whatever was there (a pooled slot's
  // previous contents, or nothing defined): reading one before writing it
  // is the caller's bug. Valid until the Buffer is moved or destroyed.
  std::span<std::byte> spare_capacity() noexcept {
    return block_ == nullptr ? std::span<std::byte>() : std::span<std::byte>(block_->data + size_, block_->capacity - size_);
  }
  // The next n bytes of spare_capacity() were written: they join the
  // contents. Throws std::length_error past capacity() (nothing changes).
  void commit(std::size_t n) {
    if (n > capacity() - size_) {
      throw std::length_error("keel: Buffer::commit(n) goes past the Buffer's capacity");
    }
    size_ += n;
  }
  // Copies as much of `bytes` as fits after the contents; returns how many
  // (bytes.size() when all of it fit). Never allocates.
  std::size_t append(std::string_view bytes) noexcept {
    const std::size_t n = bytes.size() < capacity() - size_ ? bytes.size() : capacity() - size_;
    if (n == 0) return 0;
    internal::copy_chars(block_->data + size_, bytes.substr(0, n));
    size_ += n;
    return n;
  }
  // Drops the first n bytes and moves the rest to the front: for a parser
  // that keeps an incomplete tail for the next read. Throws
  // std::out_of_range when n > size() (nothing changes).
  void consume(std::size_t n) {
    if (n > size_) throw std::out_of_range("keel: Buffer::consume(n) drops more bytes than the Buffer holds");
    if (n == 0) return;
    size_ -= n;
    internal::move_bytes(block_->data, block_->data + n, size_);
  }

  // Consumes the Buffer into Bytes of its contents: no allocation, no copy
  // (the storage changes hands). Freezing an empty Buffer gives empty Bytes
  // and lets the storage go.
  Bytes freeze() && { return std::move(*this).freeze(size_); }
  // The same, keeping the first n bytes. Throws std::out_of_range when
  // n > size() (the Buffer is left as it was).
  Bytes freeze(std::size_t n) && {
    if (n > size_) throw std::out_of_range("keel: Buffer::freeze(n) keeps more bytes than the Buffer holds");
    if (n == 0) {
      reset();
      return Bytes();
    }
    size_ = 0;
    internal::BlockHeader* block = std::exchange(block_, nullptr);
    return Bytes(block, block->data, n);
  }
  // An lvalue (or const) Buffer cannot be frozen: see the message.
  template <class Self = Buffer>
  Bytes freeze(std::size_t = 0) const& {
    static_cast<void>(internal::FreezeConsumesTheBuffer<Self>::ok);
    return Bytes();
  }

 private:
  friend struct internal::BufferAccess;
  // Adopts a block whose only owner is the caller (refs 1). The tag keeps
  // Buffer(0) from meaning a null block.
  struct Adopt {};
  Buffer(Adopt, internal::BlockHeader* block) noexcept : block_(block) {}

  std::byte* data() const noexcept { return block_ == nullptr ? nullptr : block_->data; }
  void reset() noexcept {
    if (block_ != nullptr) internal::release_exclusive(std::exchange(block_, nullptr));
    size_ = 0;
  }

  internal::BlockHeader* block_ = nullptr;
  std::size_t size_ = 0;
};

inline Bytes Bytes::copy_of(std::string_view bytes) { return Buffer::copy_of(bytes).freeze(); }

namespace internal {

// For the IO layer (async/io.h, async/internal/op_*), not for user code:
// the memory a Buffer lends the kernel, and what a completed read did.
struct BufferAccess {
  // The start of the Buffer's storage: capacity() bytes the kernel may
  // write (a read fills from data + size() for an append). Null when empty.
  static std::byte* data(Buffer& buffer) noexcept { return buffer.data(); }
  static std::size_t capacity(const Buffer& buffer) noexcept { return buffer.capacity(); }
  // After a completed read: the first n bytes are initialised. Throws
  // std::length_error when n > capacity().
  static void set_size(Buffer& buffer, std::size_t n) {
    if (n > buffer.capacity()) throw std::length_error("keel: a read cannot fill a Buffer past its capacity");
    buffer.size_ = n;
  }
  // The bytes of a write: read-only.
  static const std::byte* data(const Bytes& bytes) noexcept { return bytes.data_; }

  // For BufferPool: a Buffer owning `block` (refs 1), and back.
  static Buffer adopt(BlockHeader* block) noexcept { return Buffer(Buffer::Adopt{}, block); }
  static const BlockHeader* block_of(const Buffer& buffer) noexcept { return buffer.block_; }
  static const BlockHeader* block_of(const Bytes& bytes) noexcept { return bytes.block_; }
};

}  // namespace internal

}  // namespace keel
