#include "observability/call_spans.hpp"

#include <cstring>
#include <random>

#include "observability/trace_context.hpp"

namespace gatehouse::observability {

namespace {

std::uint64_t since(std::chrono::steady_clock::time_point base, std::chrono::steady_clock::time_point t) {
    return t <= base ? 0 : static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t - base).count());
}

// The control thread's random ids (its spans are few: a JWKS fetch now and then).
std::uint64_t control_random(void*) {
    static std::mt19937_64 rng{std::random_device{}()};
    return rng();
}

struct background {
    std::shared_ptr<tracer> t;
    bool generate = false;
    double sample = 0;
};
background& control_tracing() {  // the control thread's only
    static background b;
    return b;
}

// A recorder that pushes to the control thread's ring of `t`: a child of `parent` when given.
call_recorder control_recorder(std::shared_ptr<tracer> t, const char* trace_id, const char* parent) {
    span_record base;
    std::memcpy(base.trace_id, trace_id, 32);
    base.has_parent = parent != nullptr;
    if (parent) std::memcpy(base.parent_id, parent, 16);
    base.kind = span_kind::client;
    return [t = std::move(t), base = std::move(base)](const middleware::client_call& c) {
        span_record r = base;
        describe_call(c, r);
        hex16(control_random(nullptr), r.span_id);
        // Unix times from the steady ones: both ends measured back from now.
        const auto now_ns = unix_now_ns();
        const auto now = std::chrono::steady_clock::now();
        r.start_ns = now_ns - since(c.start, now);
        r.end_ns = now_ns - since(c.end, now);
        t->control_ring().push(r);
    };
}

}  // namespace

void describe_call(const middleware::client_call& c, span_record& r) {
    r.kind = span_kind::client;
    r.db_system.assign(c.db_system);
    if (c.db_system.empty()) {
        r.method.assign(c.operation);
        r.db_operation.clear();
    } else {
        r.db_operation.assign(c.operation);
        r.method.clear();
    }
    r.url_full.assign(c.url);
    r.server_address.assign(c.server_address);
    r.server_port = c.server_port;
    r.peer_address.assign(c.peer_address);
    r.peer_port = c.peer_port;
    r.status_code = c.status;
    r.error_type.assign(c.error_type);
    r.error = !c.error_type.empty();
    r.resend = 0;
    r.upstream.clear();
}

void call_spans::arm(const request_trace& rt) {
    rt_ = rt;
    std::memcpy(record_.trace_id, rt.trace_id, 32);
    std::memcpy(record_.parent_id, rt.parent_id, 16);
    record_.has_parent = true;
}

void call_spans::record(const middleware::client_call& c) {
    describe_call(c, record_);
    hex16(rt_.random(rt_.random_state), record_.span_id);
    record_.start_ns = rt_.wall_base_ns + since(rt_.steady_base, c.start);
    record_.end_ns = rt_.wall_base_ns + since(rt_.steady_base, c.end);
    if (record_.end_ns < record_.start_ns) record_.end_ns = record_.start_ns;
    rt_.t->ring(rt_.worker).push(record_);
}

call_recorder call_spans::detach() { return control_recorder(rt_.t->shared_from_this(), rt_.trace_id, rt_.parent_id); }

void set_background_tracing(std::shared_ptr<tracer> t, bool generate, double sample) {
    auto& b = control_tracing();
    b.t = std::move(t);
    b.generate = generate;
    b.sample = sample;
}

call_recorder background_recorder() {
    auto& b = control_tracing();
    if (!b.t || !b.generate || !sample_new_trace(b.sample, control_random(nullptr))) return {};
    char trace_id[32];
    random_hex(trace_id, 32, &control_random, nullptr);
    return control_recorder(b.t, trace_id, nullptr);
}

}  // namespace gatehouse::observability
