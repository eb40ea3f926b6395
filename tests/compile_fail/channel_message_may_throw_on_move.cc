// Must not compile: a message whose move constructor may throw (a throw
// while another thread waits on the slot would lose the message).
// Expected: the channel static_assert, naming the type.
#include "async/channel.h"

struct Legacy {
  Legacy() = default;
  Legacy(Legacy&&) {}
};

int main() {
  auto ch = keel::async::mpsc::channel<Legacy>(4);
  static_cast<void>(ch);
}
