#include "bench/virtual_baseline.h"

namespace keel::bench {

VirtualReactor::~VirtualReactor() = default;

namespace {
struct VirtualRequote final : VirtualReactor {
  explicit VirtualRequote(std::int64_t instrument) : instrument(instrument) {}
  void run(ReactorCounter& counter) override {
    ++seen;
    counter.total += instrument;
  }
  std::int64_t instrument;
  std::int64_t seen = 0;
};
}  // namespace

std::unique_ptr<VirtualReactor> make_virtual_requote(std::int64_t instrument) {
  return std::make_unique<VirtualRequote>(instrument);
}

}  // namespace keel::bench
