#include "bench/echo_support.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace keel::bench::echo {

void UniqueFd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void throw_errno(int error, const char* what) { throw std::system_error(error, std::generic_category(), what); }

namespace {

UniqueFd tcp_socket() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno(errno, "socket");
  return UniqueFd(fd);
}

void set_nodelay(int fd) {
  const int one = 1;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) throw_errno(errno, "TCP_NODELAY");
}

}  // namespace

LoopbackPair connect_loopback() {
  UniqueFd listener = tcp_socket();
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    throw_errno(errno, "bind 127.0.0.1:0");
  if (::listen(listener.get(), 1) != 0) throw_errno(errno, "listen");
  socklen_t length = sizeof address;
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0)
    throw_errno(errno, "getsockname");

  LoopbackPair pair;
  pair.client = tcp_socket();
  // The listener's backlog completes the handshake, so a blocking connect
  // returns before the accept.
  if (::connect(pair.client.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    throw_errno(errno, "connect");
  const int accepted = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
  if (accepted < 0) throw_errno(errno, "accept4");
  pair.server = UniqueFd(accepted);
  set_nodelay(pair.client.get());
  set_nodelay(pair.server.get());
  return pair;
}

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) throw_errno(errno, "O_NONBLOCK");
}

void shut_down_and_close(UniqueFd& fd) {
  if (fd.get() >= 0) ::shutdown(fd.get(), SHUT_RDWR);
  fd.reset();
}

ServerThread::ServerThread(int server_fd, std::function<void(int)> body) {
  int server_cpu = -1;
  if (::sched_getaffinity(0, sizeof caller_cpus_, &caller_cpus_) == 0 && CPU_COUNT(&caller_cpus_) >= 2) {
    int client_cpu = -1;
    for (int cpu = 0; cpu < CPU_SETSIZE && server_cpu < 0; ++cpu) {
      if (!CPU_ISSET(cpu, &caller_cpus_)) continue;
      if (client_cpu < 0) {
        client_cpu = cpu;
      } else {
        server_cpu = cpu;
      }
    }
    cpu_set_t client{};
    CPU_SET(client_cpu, &client);
    pinned_ = ::sched_setaffinity(0, sizeof client, &client) == 0;
  }
  thread_ = std::thread([this, server_fd, server_cpu, body = std::move(body)] {
    if (server_cpu >= 0) {
      cpu_set_t server{};
      CPU_SET(server_cpu, &server);
      ::sched_setaffinity(0, sizeof server, &server);
    }
    try {
      body(server_fd);
    } catch (const std::exception& e) {
      error_ = e.what();
      ::shutdown(server_fd, SHUT_RDWR);
    }
  });
}

void ServerThread::join() {
  if (!thread_.joinable()) return;
  thread_.join();
  if (pinned_) ::sched_setaffinity(0, sizeof caller_cpus_, &caller_cpus_);
}

int count_fds_linked_to(std::string_view target) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) throw_errno(errno, "opendir /proc/self/fd");
  int count = 0;
  const int own = ::dirfd(dir);
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    if (std::atoi(entry->d_name) == own) continue;
    char link[256];
    const ssize_t n = ::readlinkat(own, entry->d_name, link, sizeof link);
    if (n > 0 && std::string_view(link, static_cast<std::size_t>(n)) == target) ++count;
  }
  ::closedir(dir);
  return count;
}

std::uint32_t io_uring_sqes_consumed() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) throw_errno(errno, "opendir /proc/self/fd");
  std::uint32_t total = 0;
  const int own = ::dirfd(dir);
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    char link[64];
    const ssize_t n = ::readlinkat(own, entry->d_name, link, sizeof link);
    if (n <= 0 || std::string_view(link, static_cast<std::size_t>(n)) != "anon_inode:[io_uring]") continue;
    std::ifstream fdinfo(std::string("/proc/self/fdinfo/") + entry->d_name);
    std::string line;
    while (std::getline(fdinfo, line)) {
      if (line.rfind("SqHead:", 0) == 0) {
        total += static_cast<std::uint32_t>(std::stoul(line.substr(7)));
        break;
      }
    }
  }
  ::closedir(dir);
  return total;
}

}  // namespace keel::bench::echo
