// keel_test::allocations() and keel_test::deallocations(): how many times
// the global operator new and operator delete ran on this thread, so a
// test can check that a stretch of code allocates nothing (or frees what
// it should). Linking this library replaces every form of the global
// operator new and delete (plain, sized, aligned, array) with counting
// ones over malloc and free; tests/rt/mailbox_test.cc counts the same way.
//
//   const std::size_t before = keel_test::allocations();
//   pool.try_acquire();                           // the code under test
//   EXPECT_EQ(keel_test::allocations(), before);  // nothing allocated
//
// The counts are per thread: allocations by other threads (a runtime's
// helper, a test's std::thread) do not disturb a check on this one.
#pragma once

#include <cstddef>

namespace keel_test {

std::size_t allocations() noexcept;
std::size_t deallocations() noexcept;

}  // namespace keel_test
