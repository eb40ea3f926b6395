// Forward declarations of Keel's rt types, for headers that only name them
// (keeps compile times down; include the concept's header to use one).
//
//   #include "rt/fwd.h"
//   void install_feed(keel::WorldBuilder& wb);
//   struct Session { keel::ResourceId book; };
#pragma once

#include <cstddef>

namespace keel {

// The four generation-checked handles are aliases of one class
// (rt/internal/handle.h), told apart by their tags.
namespace internal {
template <class Tag>
class Handle;
struct DataSourceTag;
struct ReactorTokenTag;
struct TimerTokenTag;
struct WatchTag;
}  // namespace internal

class ConfigError;
class Registry;
class ResourceId;
class Shutdown;
class World;
class WorldBuilder;
template <class E>
class Handler;
template <class E, std::size_t Bytes>
class InlineHandler;
template <class T>
class Res;
template <class T>
class ResMut;
template <class P>
class Opt;
template <class T>
class Local;
class Seq;
class RegistryRef;
template <class F>
class HandlerTemplate;
template <class F>
class CallbackTemplate;

// Composition (pipeline.h, batch_pipeline.h, dag.h, fan_out.h).
template <class In, class Chain>
class Pipeline;
template <class In, class Chain>
class BatchPipeline;
template <class E, class... Handlers>
class FanOut;
template <class E>
class Broadcast;
class BroadcastToken;

// Systems and reactors (system.h, scheduler.h, reactor.h, mailbox.h).
template <class F>
class System;
class SystemId;
class Scheduler;
class SchedulerInstaller;
using DataSource = internal::Handle<internal::DataSourceTag>;
using ReactorToken = internal::Handle<internal::ReactorTokenTag>;
class ReactorNotify;
template <class Key>
class SourceRegistry;
template <class E>
class Inbox;
template <class E>
class Address;

// Drivers (uring.h, timer.h, signal.h).
class Uring;
class UringPoller;
class UringWaker;
class UringError;
struct UringInstaller;
using Watch = internal::Handle<internal::WatchTag>;
struct Readiness;
class TimerWheel;
class TimerPoller;
using TimerToken = internal::Handle<internal::TimerTokenTag>;
struct TimerInstaller;
struct SignalInstaller;
class SignalSource;

namespace testing {
class TestHarness;
}

}  // namespace keel
