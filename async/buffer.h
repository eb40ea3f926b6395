// PLACEHOLDER until the buffers branch merges (replaced by it).
#pragma once
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string_view>
#include <utility>
namespace keel {
class Bytes;
class Buffer {
 public:
  Buffer() noexcept = default;
  explicit Buffer(std::size_t capacity) : data_(new std::byte[capacity]), capacity_(capacity) {}
  static Buffer copy_of(std::string_view s) { Buffer b(s.size()); std::memcpy(b.data_.get(), s.data(), s.size()); b.size_ = s.size(); return b; }
  Buffer(Buffer&& o) noexcept : data_(std::move(o.data_)), capacity_(std::exchange(o.capacity_, 0)), size_(std::exchange(o.size_, 0)) {}
  Buffer& operator=(Buffer&& o) noexcept { data_ = std::move(o.data_); capacity_ = std::exchange(o.capacity_, 0); size_ = std::exchange(o.size_, 0); return *this; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size_ == 0; }
  std::string_view view() const noexcept { return {reinterpret_cast<const char*>(data_.get()), size_}; }
  std::span<std::byte> spare_capacity() noexcept { return {data_.get() + size_, capacity_ - size_}; }
  void commit(std::size_t n) { if (n > capacity_ - size_) throw std::length_error("commit"); size_ += n; }
  void clear() noexcept { size_ = 0; }
  Bytes freeze() &&;
 private:
  std::shared_ptr<std::byte[]> data_;
  std::size_t capacity_ = 0, size_ = 0;
  friend class Bytes;
};
class Bytes {
 public:
  Bytes() = default;
  std::size_t size() const noexcept { return size_; }
  std::string_view view() const noexcept { return {reinterpret_cast<const char*>(data_.get()), size_}; }
 private:
  friend class Buffer;
  std::shared_ptr<std::byte[]> data_; std::size_t size_ = 0;
};
inline Bytes Buffer::freeze() && { Bytes b; b.data_ = std::move(data_); b.size_ = size_; capacity_ = size_ = 0; return b; }
}  // namespace keel
