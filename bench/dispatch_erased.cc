#include "bench/dispatch_fixture.h"

namespace keel::bench {

std::unique_ptr<keel::Handler<const Quote&>> make_boxed_on_quote(const keel::Registry& registry) {
  return keel::boxed(keel::handler(registry, keel::fn<&on_quote>));
}

keel::InlineHandler<const Quote&, 64> make_inline_on_quote(const keel::Registry& registry) {
  return keel::handler(registry, keel::fn<&on_quote>);
}

}  // namespace keel::bench
