#include "bench/echo_measure.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "bench/echo_support.h"
#include "benchmark/benchmark.h"

extern char** environ;

namespace keel::bench::echo {

std::int64_t percentile(std::span<std::int64_t> samples, double q) {
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples.size())));
  const std::size_t index = rank == 0 ? 0 : rank - 1;
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(index), samples.end());
  return samples[index];
}

std::vector<std::byte> pattern_chunk() {
  std::vector<std::byte> chunk(kChunkBytes);
  for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = pattern_byte(i);
  return chunk;
}

class RoundTrips::Run final : public RoundTripRun {
 public:
  Run(RoundTrips& trips, std::size_t count, std::vector<std::int64_t>& samples)
      : trips_(trips), left_(count), samples_(samples) {}

  bool next(std::span<const std::byte>& message, std::span<std::byte>& reply) override {
    if (left_ == 0) return false;
    const std::uint64_t round = trips_.round_++;
    std::memcpy(trips_.message_.data(), &round, sizeof round);
    for (std::size_t k = sizeof round; k < trips_.message_.size(); ++k) trips_.message_[k] = pattern_byte(round + k);
    trips_.reply_.fill(std::byte{0});
    message = trips_.message_;
    reply = trips_.reply_;
    start_ = std::chrono::steady_clock::now();
    return true;
  }

  void done() override {
    const auto stop = std::chrono::steady_clock::now();
    samples_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start_).count());
    if (trips_.message_ != trips_.reply_) ++trips_.mismatches_;
    --left_;
  }

  std::size_t left() const { return left_; }

 private:
  RoundTrips& trips_;
  std::size_t left_;
  std::vector<std::int64_t>& samples_;
  std::chrono::steady_clock::time_point start_;
};

void RoundTrips::run(EchoPair& pair, std::size_t count, std::vector<std::int64_t>& samples) {
  Run run(*this, count, samples);
  pair.round_trips(run);
  if (run.left() != 0) throw std::logic_error("an echo's round_trips() returned before its run was over");
}

std::int64_t RoundTrips::run(EchoPair& pair) {
  std::vector<std::int64_t> samples;
  run(pair, 1, samples);
  return samples.front();
}

void InterleavedRoundTrips::run_blocks() {
  for (int turn = 0; turn < 2; ++turn) {
    const bool run_a = (turn == 0) == a_first_;
    EchoPair& pair = run_a ? a_ : b_;
    RoundTrips& trips = run_a ? trips_a_ : trips_b_;
    std::vector<std::int64_t>& samples = run_a ? samples_a_ : samples_b_;
    trips.run(pair, static_cast<std::size_t>(block_), samples);
  }
  a_first_ = !a_first_;
}

namespace {

constexpr int kWarmUpRoundTrips = 1000;
// Round trips per iteration of a one-pair round-trip case: one entry into
// the pair's client loop (EchoPair::round_trips) per iteration.
constexpr std::size_t kRoundTripsPerIteration = 100;
constexpr std::size_t kWarmUpChunks = 64;
// Bytes of each received piece compared with the pattern while timing.
constexpr std::size_t kStreamSampleBytes = 64;

const char* mode_name(Mode mode) { return mode == Mode::OneThread ? "one_thread" : "two_threads"; }

void skip(benchmark::State& state, const std::string& why) {
  state.SkipWithError(why.c_str());
  for (auto _ : state) {
  }
}

void round_trip_case(benchmark::State& state, MakeEchoPair make, Mode mode) {
  // Before the pair: the buffers outlive anything the pair has in flight.
  RoundTrips trips;
  std::vector<std::int64_t> samples;
  samples.reserve(static_cast<std::size_t>(state.max_iterations) * kRoundTripsPerIteration);
  std::unique_ptr<EchoPair> pair;
  try {
    pair = make(mode);
    std::vector<std::int64_t> warm_up;
    trips.run(*pair, static_cast<std::size_t>(kWarmUpRoundTrips), warm_up);
  } catch (const std::exception& e) {
    skip(state, e.what());
    return;
  }
  const std::uint32_t sqes_before = io_uring_sqes_consumed();
  try {
    for (auto _ : state) trips.run(*pair, kRoundTripsPerIteration, samples);
  } catch (const std::exception& e) {
    // SkipWithError stops the timer; the framework discards the run.
    state.SkipWithError(e.what());
    return;
  }
  const std::uint32_t sqes = io_uring_sqes_consumed() - sqes_before;
  if (trips.mismatches() != 0) {
    state.SkipWithError("a reply differed from its message");
    return;
  }
  state.counters["p50_ns"] = static_cast<double>(percentile(samples, 0.50));
  state.counters["p99_ns"] = static_cast<double>(percentile(samples, 0.99));
  state.counters["ring_sqes"] = static_cast<double>(sqes) / static_cast<double>(samples.size());
}

void stream_case(benchmark::State& state, MakeEchoPair make, Mode mode) {
  const std::vector<std::byte> chunk = pattern_chunk();
  std::unique_ptr<EchoPair> pair;
  try {
    pair = make(mode);
    StreamCheck warm_up(kCheckAll);
    pair->stream(chunk, kWarmUpChunks, warm_up);
    if (warm_up.received_bytes() != kWarmUpChunks * kChunkBytes || warm_up.mismatches() != 0) {
      skip(state, "the warm-up stream came back wrong");
      return;
    }
  } catch (const std::exception& e) {
    skip(state, e.what());
    return;
  }
  const std::uint32_t sqes_before = io_uring_sqes_consumed();
  try {
    for (auto _ : state) {
      StreamCheck check(kStreamSampleBytes);
      pair->stream(chunk, kStreamChunks, check);
      if (check.received_bytes() != kStreamBytes || check.mismatches() != 0) {
        state.SkipWithError("the stream came back wrong (a count or a sample differed)");
        break;
      }
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  const std::uint32_t sqes = io_uring_sqes_consumed() - sqes_before;
  const auto iterations = static_cast<std::int64_t>(state.iterations());
  state.SetBytesProcessed(iterations * static_cast<std::int64_t>(kStreamBytes));
  state.counters["ring_sqes"] =
      static_cast<double>(sqes) / static_cast<double>(iterations * static_cast<std::int64_t>(kStreamChunks));
}

// --- the table -------------------------------------------------------------------

// Every row's figures: per implementation and mode, per "case.counter",
// the values of the runs (one per repetition) or, where the console was
// given aggregates only, the median aggregates.
class Table {
 public:
  void add(const std::string& implementation, const std::string& mode, const std::string& figure, bool aggregate,
           double value) {
    const std::pair key(implementation, mode);
    if (!rows_.contains(key)) order_.push_back(key);
    Values& values = rows_[key][figure];
    (aggregate ? values.medians : values.runs).push_back(value);
  }

  // One line per value: implementation mode figure r|m value.
  std::string serialize() const {
    std::ostringstream out;
    out.precision(17);
    for (const auto& key : order_) {
      for (const auto& [figure, values] : rows_.at(key)) {
        for (double v : values.runs) out << key.first << ' ' << key.second << ' ' << figure << " r " << v << '\n';
        for (double v : values.medians) out << key.first << ' ' << key.second << ' ' << figure << " m " << v << '\n';
      }
    }
    return out.str();
  }

  void deserialize(const std::string& text) {
    std::istringstream in(text);
    std::string implementation, mode, figure, kind;
    double value;
    while (in >> implementation >> mode >> figure >> kind >> value) add(implementation, mode, figure, kind == "m", value);
  }

  // Rows in the order the implementations were registered, then any from
  // another binary in the order they came; one thread before two.
  void print(std::ostream& out, const std::vector<std::string>& registered) const {
    if (order_.empty()) return;
    std::vector<std::pair<std::string, std::string>> order = order_;
    const auto rank = [&](const std::pair<std::string, std::string>& key) {
      const auto found = std::find(registered.begin(), registered.end(), key.first);
      const auto first_seen = std::find_if(order_.begin(), order_.end(), [&](const auto& k) { return k.first == key.first; });
      return std::tuple(found - registered.begin(), first_seen - order_.begin(), key.second != "one_thread");
    };
    std::stable_sort(order.begin(), order.end(), [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
    out << "\n| implementation | threads | round trip p50 ns | p99 ns | SQEs per round trip | stream GB/s | SQEs per "
           "64 KiB |\n|---|---|---|---|---|---|---|\n";
    for (const auto& key : order) {
      const auto& figures = rows_.at(key);
      out << "| " << key.first << " | " << (key.second == "one_thread" ? "1" : "2") << " | "
          << cell(figures, "round_trip.p50_ns", 1, 0) << " | " << cell(figures, "round_trip.p99_ns", 1, 0) << " | "
          << cell(figures, "round_trip.ring_sqes", 1, 2) << " | " << cell(figures, "stream.bytes_per_second", 1e-9, 2)
          << " | " << cell(figures, "stream.ring_sqes", 1, 2) << " |\n";
    }
    out << "\nEach cell: the median over the runs (repetitions), [min-max] where there were several; "
           "from the median aggregates where only those were reported.\n";
  }

 private:
  struct Values {
    std::vector<double> runs;
    std::vector<double> medians;
  };
  using Figures = std::map<std::string, Values>;

  static std::string cell(const Figures& figures, const std::string& figure, double scale, int decimals) {
    const auto found = figures.find(figure);
    if (found == figures.end()) return "-";
    std::vector<double> values = found->second.runs.empty() ? found->second.medians : found->second.runs;
    if (values.empty()) return "-";
    std::sort(values.begin(), values.end());
    const auto format = [&](double v) {
      char text[32];
      std::snprintf(text, sizeof text, "%.*f", decimals, v * scale);
      return std::string(text);
    };
    const std::size_t n = values.size();
    const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    std::string text = format(median);
    if (n > 1) text += " [" + format(values.front()) + "-" + format(values.back()) + "]";
    return text;
  }

  std::vector<std::pair<std::string, std::string>> order_;
  std::map<std::pair<std::string, std::string>, Figures> rows_;
};

// The usual console output, and every finished run's counters into the
// table. Benchmark names are echo/<implementation>/<case>/<mode>.
class TableReporter : public benchmark::ConsoleReporter {
 public:
  explicit TableReporter(Table& table)
      : ConsoleReporter(::isatty(STDOUT_FILENO) ? OO_ColorTabular : OO_Tabular), table_(table) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const bool aggregate = run.run_type == Run::RT_Aggregate;
      if (aggregate && run.aggregate_name != "median") continue;
      std::vector<std::string> parts;
      std::istringstream name(run.run_name.function_name);
      for (std::string part; std::getline(name, part, '/');) parts.push_back(part);
      if (parts.size() != 4 || parts[0] != "echo") continue;
      for (const auto& [counter, value] : run.counters) {
        table_.add(parts[1], parts[3], parts[2] + "." + counter, aggregate, value.value);
      }
    }
  }

 private:
  Table& table_;
};

// The implementations registered in this binary, in order: the table's order.
std::vector<std::string>& registered_implementations() {
  static std::vector<std::string> names;
  return names;
}

constexpr int kRowsFd = 3;
constexpr const char* kRowsFdVariable = "KEEL_ECHO_ROWS_FD";

std::string directory_of_this_binary() {
  char path[4096];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return ".";
  const std::string self(path, static_cast<std::size_t>(n));
  return self.substr(0, self.rfind('/'));
}

// Runs `name` (beside this binary) with `args` and KEEL_ECHO_ROWS_FD=3 on a
// pipe, and adds the rows it sends to `table`. A --benchmark_out=<file>
// becomes <file>.<name>, so the child does not overwrite this binary's.
void run_other_configuration(const char* name, const std::vector<std::string>& args, Table& table) {
  const std::string path = directory_of_this_binary() + "/" + name;
  if (::access(path.c_str(), X_OK) != 0) {
    std::cout << "\n(" << path << " is missing: its rows are not in the table)\n";
    return;
  }
  std::vector<std::string> child_args{path};
  for (const std::string& arg : args) {
    const std::string out = "--benchmark_out=";
    child_args.push_back(arg.rfind(out, 0) == 0 ? arg + "." + name : arg);
  }
  std::vector<char*> argv;
  for (std::string& arg : child_args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::string variable = std::string(kRowsFdVariable) + "=" + std::to_string(kRowsFd);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  envp.push_back(variable.data());
  envp.push_back(nullptr);

  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) throw_errno(errno, "pipe2");
  UniqueFd read_end(ends[0]);
  // Above kRowsFd, so the dup2 below never sees the same number twice.
  UniqueFd write_end(::fcntl(ends[1], F_DUPFD_CLOEXEC, kRowsFd + 1));
  ::close(ends[1]);
  if (write_end.get() < 0) throw_errno(errno, "fcntl F_DUPFD_CLOEXEC");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), kRowsFd);
  std::cout.flush();
  pid_t pid;
  const int spawned = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  write_end.reset();
  if (spawned != 0) throw_errno(spawned, "posix_spawn");
  std::string rows;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(read_end.get(), buffer, sizeof buffer)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    rows.append(buffer, static_cast<std::size_t>(n));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) std::cout << "\n(" << name << " failed: status " << status << ")\n";
  table.deserialize(rows);
}

}  // namespace

void interleaved_round_trip_case(benchmark::State& state, MakeEchoPair make_a, MakeEchoPair make_b) {
  // 200 round trips per block: a few milliseconds, shorter than the
  // stretches the VM's speed holds for.
  constexpr int kBlock = 200;
  std::unique_ptr<EchoPair> a;
  std::unique_ptr<EchoPair> b;
  try {
    a = make_a(Mode::OneThread);
    b = make_b(Mode::OneThread);
    InterleavedRoundTrips warm_up(*a, *b, kWarmUpRoundTrips / 2);
    warm_up.run_blocks();
  } catch (const std::exception& e) {
    skip(state, e.what());
    return;
  }
  InterleavedRoundTrips trips(*a, *b, kBlock);
  try {
    for (auto _ : state) trips.run_blocks();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  if (trips.mismatches() != 0) {
    state.SkipWithError("a reply differed from its message");
    return;
  }
  const auto a_p50 = static_cast<double>(percentile(trips.samples_a(), 0.50));
  const auto b_p50 = static_cast<double>(percentile(trips.samples_b(), 0.50));
  state.counters["a_p50_ns"] = a_p50;
  state.counters["b_p50_ns"] = b_p50;
  state.counters["p50_ratio"] = a_p50 / b_p50;
  // The p90 ratio too: a ratio that holds across the distribution, not
  // only at its middle.
  state.counters["p90_ratio"] = static_cast<double>(percentile(trips.samples_a(), 0.90)) /
                                static_cast<double>(percentile(trips.samples_b(), 0.90));
}

void interleaved_stream_case(benchmark::State& state, MakeEchoPair make_a, MakeEchoPair make_b) {
  // A quarter of a stream case's bytes per block (16 MiB): a few
  // milliseconds, as a round-trip block.
  constexpr std::size_t kBlockChunks = kStreamChunks / 4;
  const std::vector<std::byte> chunk = pattern_chunk();
  std::unique_ptr<EchoPair> pairs[2];
  try {
    pairs[0] = make_a(Mode::OneThread);
    pairs[1] = make_b(Mode::OneThread);
    for (auto& pair : pairs) {
      StreamCheck warm_up(kCheckAll);
      pair->stream(chunk, kWarmUpChunks, warm_up);
    }
  } catch (const std::exception& e) {
    skip(state, e.what());
    return;
  }
  // Each block's bytes per nanosecond (GB/s), per pair.
  std::vector<double> rates[2];
  bool a_first = true;
  try {
    for (auto _ : state) {
      for (int turn = 0; turn < 2; ++turn) {
        const int which = (turn == 0) == a_first ? 0 : 1;
        StreamCheck check(kStreamSampleBytes);
        const auto start = std::chrono::steady_clock::now();
        pairs[which]->stream(chunk, kBlockChunks, check);
        const auto stop = std::chrono::steady_clock::now();
        if (check.received_bytes() != kBlockChunks * kChunkBytes || check.mismatches() != 0) {
          state.SkipWithError("the stream came back wrong (a count or a sample differed)");
          return;
        }
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start).count();
        rates[which].push_back(static_cast<double>(kBlockChunks * kChunkBytes) / static_cast<double>(ns));
      }
      a_first = !a_first;
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  const auto median = [](std::vector<double>& v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  const double a_rate = median(rates[0]);
  const double b_rate = median(rates[1]);
  state.counters["a_GBps"] = a_rate;
  state.counters["b_GBps"] = b_rate;
  state.counters["rate_ratio"] = a_rate / b_rate;
}

void register_echo_benchmarks(const std::string& name, MakeEchoPair make) {
  registered_implementations().push_back(name);
  for (const Mode mode : {Mode::OneThread, Mode::TwoThreads}) {
    const std::string suffix = std::string("/") + mode_name(mode);
    benchmark::RegisterBenchmark(("echo/" + name + "/round_trip" + suffix).c_str(),
                                 [make, mode](benchmark::State& state) { round_trip_case(state, make, mode); })
        ->UseRealTime();
  }
  for (const Mode mode : {Mode::OneThread, Mode::TwoThreads}) {
    const std::string suffix = std::string("/") + mode_name(mode);
    benchmark::RegisterBenchmark(("echo/" + name + "/stream" + suffix).c_str(),
                                 [make, mode](benchmark::State& state) { stream_case(state, make, mode); })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
}

void register_interleaved_round_trips(const std::string& name_a, MakeEchoPair make_a, const std::string& name_b,
                                      MakeEchoPair make_b) {
  benchmark::RegisterBenchmark(("echo_ab/" + name_a + "_vs_" + name_b + "/round_trip/one_thread").c_str(),
                               [make_a, make_b](benchmark::State& state) {
                                 interleaved_round_trip_case(state, make_a, make_b);
                               })
      ->UseRealTime();
}

void register_interleaved_streams(const std::string& name_a, MakeEchoPair make_a, const std::string& name_b,
                                  MakeEchoPair make_b) {
  benchmark::RegisterBenchmark(("echo_ab/" + name_a + "_vs_" + name_b + "/stream/one_thread").c_str(),
                               [make_a, make_b](benchmark::State& state) {
                                 interleaved_stream_case(state, make_a, make_b);
                               })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

int echo_main(int argc, char** argv, const char* other_configuration) {
  const std::vector<std::string> args(argv + 1, argv + argc);  // before Initialize takes its flags out
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  Table table;
  TableReporter reporter(table);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  if (std::getenv(kRowsFdVariable) != nullptr) {
    const std::string rows = table.serialize();
    std::size_t written = 0;
    while (written < rows.size()) {
      const ssize_t n = ::write(kRowsFd, rows.data() + written, rows.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return 1;
      written += static_cast<std::size_t>(n);
    }
    return 0;
  }
  if (other_configuration != nullptr) run_other_configuration(other_configuration, args, table);
  table.print(std::cout, registered_implementations());
  return 0;
}

}  // namespace keel::bench::echo
