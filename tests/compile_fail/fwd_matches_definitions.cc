// Must compile: rt/fwd.h's declarations, seen before every public header,
// agree with the definitions (a class declared as a struct, a wrong
// template parameter list or a missing name fails here).
#include "rt/fwd.h"
//
#include "rt/batch_pipeline.h"
#include "rt/callback.h"
#include "rt/dag.h"
#include "rt/fan_out.h"
#include "rt/handler.h"
#include "rt/inline_handler.h"
#include "rt/mailbox.h"
#include "rt/pipeline.h"
#include "rt/reactor.h"
#include "rt/scheduler.h"
#include "rt/signal.h"
#include "rt/system.h"
#include "rt/testing.h"
#include "rt/timer.h"
#include "rt/uring.h"
#include "rt/world.h"

// Each forward-declared name is usable as an incomplete type from fwd.h alone.
void takes_forward_declared(keel::World*, keel::Uring*, keel::TimerWheel*, keel::ReactorNotify*, keel::Scheduler*,
                            keel::BroadcastToken*, keel::SignalSource*);
