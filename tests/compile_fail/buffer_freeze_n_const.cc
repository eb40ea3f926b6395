// freeze(n) of a const Buffer: nothing can be moved out of it; refused
// with the same sentence as an lvalue.
#include "async/buffer.h"

keel::Bytes header(const keel::Buffer& buf) { return buf.freeze(16); }
