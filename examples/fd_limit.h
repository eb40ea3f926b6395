// The servers among the examples hold an fd per connection: this raises
// the process's soft limit on open fds towards what their
// --max_connections needs, so that the kernel does not refuse connections
// before the server's own limit does.
//
//   examples::raise_fd_limit(config.max_connections + 64);
//
// Not for: raising the hard limit (that takes privileges: ulimit -Hn).
#pragma once

#include <cstddef>

namespace examples {

// Raises the soft RLIMIT_NOFILE towards `wanted`, at most to the hard
// limit. Returns the limit in force.
std::size_t raise_fd_limit(std::size_t wanted);

}  // namespace examples
