// keel_test::Tracked: a test value that counts its copies, moves and
// destructions, in the spirit of Abseil's InstanceTracker. Pass it as an
// event, store it as a resource or a callback context, or capture it in a
// handler, then check what Keel did with it: how many times it was copied or
// moved, and that every value it held was destroyed exactly once.
//
// Tracked is copy- and move-constructible but not assignable, so a test that
// uses it also shows that Keel never assigns the value. AssignableTracked
// adds counted assignment, for storage that assigns (a batch buffer,
// std::vector::erase).
//
//   keel_test::Counts counts;  // first: it must outlive every Tracked
//   auto h = keel::handler(world.registry(), [](keel_test::Tracked e) { ... });
//   h.run(world, keel_test::Tracked(counts, 42));
//   EXPECT_EQ(counts.copies, 0);
//   EXPECT_EQ(counts.live, 0);  // the event it held has been destroyed
//
// A Counts is plain data; each Tracked points at the one it was made with
// (a copy or move points at its source's), and its destructor writes to it.
#pragma once

#include <ostream>

namespace keel_test {

// What has happened to the Tracked objects made with one Counts. Compares
// and prints as a whole: EXPECT_EQ(counts, (Counts{.copies = 1, .live = 2})).
struct Counts {
  int copies = 0;     // copy constructions and copy assignments
  int moves = 0;      // move constructions and move assignments
  int instances = 0;  // objects alive now, moved-from ones included
  int live = 0;       // objects alive now that hold a value (not moved-from)
  int destroyed = 0;  // destructions of objects holding a value; a moved-from
                      // object's destruction is not counted

  friend bool operator==(const Counts&, const Counts&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Counts& c) {
    return os << "{copies " << c.copies << ", moves " << c.moves << ", instances " << c.instances << ", live "
              << c.live << ", destroyed " << c.destroyed << "}";
  }
};

// A value that reports its copies, moves and destruction to a Counts. A
// moved-from Tracked keeps `value` but no longer holds it: it is counted in
// `instances`, not in `live`, and its destruction is not a `destroyed` one.
// Copying a moved-from Tracked gives another moved-from Tracked.
class Tracked {
 public:
  explicit Tracked(Counts& counts, int value = 0) : value(value), counts_(&counts) { join(); }
  Tracked(const Tracked& other) : value(other.value), counts_(other.counts_), moved_from_(other.moved_from_) {
    join();
    ++counts_->copies;
  }
  Tracked(Tracked&& other) noexcept : value(other.value), counts_(other.counts_), moved_from_(other.moved_from_) {
    join();
    ++counts_->moves;
    other.give_up();
  }
  Tracked& operator=(const Tracked&) = delete;
  Tracked& operator=(Tracked&&) = delete;
  ~Tracked() {
    if (!moved_from_) ++counts_->destroyed;
    leave();
  }

  // True once this object has been moved from (and not assigned since).
  bool moved_from() const noexcept { return moved_from_; }

  int value;

 protected:
  // Takes on `other`'s value and state, as an assignment does; the caller
  // counts the copy or move.
  void assign_from(const Tracked& other) noexcept {
    if (this == &other) return;
    leave();
    value = other.value;
    counts_ = other.counts_;
    moved_from_ = other.moved_from_;
    join();
  }
  void give_up() noexcept {
    if (moved_from_) return;
    moved_from_ = true;
    --counts_->live;
  }
  Counts& counts() const noexcept { return *counts_; }

 private:
  void join() noexcept {
    ++counts_->instances;
    if (!moved_from_) ++counts_->live;
  }
  void leave() noexcept {
    --counts_->instances;
    if (!moved_from_) --counts_->live;
  }

  Counts* counts_;
  bool moved_from_ = false;
};

// Tracked with counted copy and move assignment. Assigning over a value that
// is held does not count as a destruction; a self-assignment counts as a copy
// or move and changes nothing else.
class AssignableTracked : public Tracked {
 public:
  using Tracked::Tracked;
  AssignableTracked(const AssignableTracked&) = default;
  AssignableTracked(AssignableTracked&&) noexcept = default;
  AssignableTracked& operator=(const AssignableTracked& other) noexcept {
    assign_from(other);
    ++counts().copies;
    return *this;
  }
  AssignableTracked& operator=(AssignableTracked&& other) noexcept {
    assign_from(other);
    ++counts().moves;
    if (this != &other) other.give_up();
    return *this;
  }
  ~AssignableTracked() = default;
};

}  // namespace keel_test
