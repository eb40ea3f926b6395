// The market maker's wire format: one quote per UDP datagram, 48 bytes,
// host byte order (feed and loop share a machine), and the decoder the
// Keel side runs first in its ingest pipeline.
//
//   std::array<std::byte, mm::kQuoteBytes> out;
//   mm::encode(mm::WireQuote{.instrument = 3, .seq = 7, ...}, out.data());
//   std::expected<mm::Quote, mm::Malformed> q = mm::decode(mm::Datagram{out.data(), out.size()});
//
// decode() checks what the bytes alone can tell (length, magic); validate()
// in market_maker.cc checks what needs the World (a known instrument, an
// uncrossed book). Either failure names one mm::Malformed kind, the same
// kinds the feed counts when it corrupts a datagram on purpose.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <expected>
#include <string_view>
#include <type_traits>

namespace mm {

inline constexpr std::uint32_t kMagic = 0x4B51544B;  // "KTQK" in memory on little-endian machines
inline constexpr std::size_t kQuoteBytes = 48;

// The datagram's layout (memcpy'd, never cast from the receive buffer).
struct WireQuote {
  std::uint32_t magic = kMagic;
  std::uint16_t instrument = 0;
  std::uint16_t flags = 0;
  std::uint64_t seq = 0;      // the feed's sequence, one per datagram sent (corrupted ones too)
  std::int64_t send_ns = 0;   // steady_clock, ns since its epoch, read just before sending
  std::int64_t bid_px = 0;    // prices in ticks
  std::int64_t ask_px = 0;
  std::uint32_t bid_qty = 0;  // sizes in lots
  std::uint32_t ask_qty = 0;
};
static_assert(sizeof(WireQuote) == kQuoteBytes && std::is_trivially_copyable_v<WireQuote>);

// What the ingest pipeline carries once a datagram has decoded.
struct Quote {
  std::uint16_t instrument = 0;
  std::uint64_t seq = 0;
  std::int64_t send_ns = 0;
  std::int64_t bid_px = 0;
  std::int64_t ask_px = 0;
  std::uint32_t bid_qty = 0;
  std::uint32_t ask_qty = 0;
};

// Why a datagram was dropped. The feed corrupts datagrams in these four
// ways, in turn; the loop counts the drops by the same kinds.
enum class Malformed : std::uint8_t {
  kBadLength,          // not 48 bytes
  kBadMagic,           // not our protocol
  kUnknownInstrument,  // an instrument id the loop has no book for
  kCrossed,            // bid >= ask, or a non-positive price or size
};
inline constexpr std::size_t kMalformedKinds = 4;
using MalformedCounts = std::array<std::uint64_t, kMalformedKinds>;

constexpr std::string_view to_string(Malformed m) noexcept {
  switch (m) {
    case Malformed::kBadLength:
      return "bad length";
    case Malformed::kBadMagic:
      return "bad magic";
    case Malformed::kUnknownInstrument:
      return "unknown instrument";
    case Malformed::kCrossed:
      return "crossed or empty";
  }
  return "?";
}

// A received datagram: a view into the receiver's buffer, valid while the
// pipeline runs on it.
struct Datagram {
  const std::byte* data = nullptr;
  std::size_t size = 0;
};

inline void encode(const WireQuote& q, std::byte* out) noexcept { std::memcpy(out, &q, sizeof q); }

// Bytes -> Quote: length and magic only. Hot path: a compare, a memcpy.
inline std::expected<Quote, Malformed> decode(const Datagram& d) noexcept {
  if (d.size != kQuoteBytes) return std::unexpected(Malformed::kBadLength);
  WireQuote w;
  std::memcpy(&w, d.data, sizeof w);
  if (w.magic != kMagic) return std::unexpected(Malformed::kBadMagic);
  return Quote{.instrument = w.instrument,
               .seq = w.seq,
               .send_ns = w.send_ns,
               .bid_px = w.bid_px,
               .ask_px = w.ask_px,
               .bid_qty = w.bid_qty,
               .ask_qty = w.ask_qty};
}

}  // namespace mm
