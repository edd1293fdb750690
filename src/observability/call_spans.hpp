#pragma once
// CLIENT spans for the external calls middleware make (docs/observability.md, "Tracing"): a
// Redis command of the shared rate limiter, a JWKS fetch of the JWT middleware. A call made for
// a traced request is a child of its SERVER span; a call the control thread makes on its own (a
// JWKS refresh) starts a trace of its own, sampled like a trace gatehouse starts for a request.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "gatehouse/middleware/middleware.hpp"
#include "observability/tracing.hpp"

namespace gatehouse::observability {

using call_recorder = std::function<void(const middleware::client_call&)>;

// A span record's CLIENT fields from a call's description (ids and times aside).
void describe_call(const middleware::client_call& c, span_record& r);

// The request side: one per exchange, armed for each sampled request (no allocation once its
// record's strings have grown; record() pushes to the worker's own ring, no lock).
class call_spans final : public middleware::call_tracer {
public:
    struct request_trace {
        const char* trace_id;   // 32 hex digits
        const char* parent_id;  // the SERVER span's 16
        tracer* t;
        unsigned worker;
        std::uint64_t (*random)(void*);
        void* random_state;
        std::uint64_t wall_base_ns;  // the SERVER span's start on both clocks
        std::chrono::steady_clock::time_point steady_base;
    };
    void arm(const request_trace& rt);
    void record(const middleware::client_call& c) override;
    call_recorder detach() override;

private:
    span_record record_;
    request_trace rt_{};
};

// The control thread's tracing, set with each snapshot (null tracer: none): for its own calls.
void set_background_tracing(std::shared_ptr<tracer> t, bool generate, double sample);
// On the control thread: a recorder for one call made in the background, or null when that call
// is not sampled (tracing.generate off, or not drawn by tracing.sample, or no otlp export).
call_recorder background_recorder();

}  // namespace gatehouse::observability
