// freeze() consumes its Buffer: freezing one by name (an lvalue) is
// refused with the fix, since the Buffer could still write into the bytes
// the Bytes share.
#include "async/buffer.h"

keel::Bytes publish(keel::Buffer& buf) { return buf.freeze(); }
