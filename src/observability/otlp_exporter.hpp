#pragma once
// The control thread's side of tracing: every 100 ms it looks at the workers' span rings and,
// when a batch is full (otlp.batch.max_batch) or the oldest span waited otlp.batch.delay, encodes
// one batch and POSTs it to the OTLP/HTTP endpoint. One export at a time, asynchronous, bounded
// by otlp.timeout: a slow or dead collector fills the rings (whose overflow is dropped and
// counted), never a worker. Host names are resolved through c-ares (discovery/dns), never a
// blocking getaddrinfo; an https:// endpoint gets an asynchronous TLS handshake on the same loop,
// its certificate verified (a failure is a failed export, counted like any other).
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "observability/tracing.hpp"

namespace gatehouse::discovery::dns {
class resolver;
}

namespace gatehouse::observability {

class otlp_exporter : public std::enable_shared_from_this<otlp_exporter> {
public:
    explicit otlp_exporter(boost::asio::io_context& control);
    ~otlp_exporter();
    // The tracer of the snapshot in force (null: export off). Earlier ones are drained until no
    // snapshot uses them and they are empty.
    void use(std::shared_ptr<tracer> t);
    void start();
    // Before the process exits (every worker gone): what the rings hold is exported, batch after
    // batch, for at most the current settings' timeout; then `done` runs.
    void flush(std::function<void()> done);

    std::uint64_t exported() const { return exported_.load(std::memory_order_relaxed); }  // spans the collector accepted
    std::uint64_t dropped() const;                                                        // queue full or export failed
    std::uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }  // export requests that failed

    // The completion of one export (public for the coroutine that runs it).
    void export_done(bool ok, std::size_t spans, const std::string& why);

private:
    struct source {
        std::shared_ptr<tracer> t;
        std::chrono::steady_clock::time_point last_export;
    };
    void tick();
    bool maybe_export(source& s, std::chrono::steady_clock::time_point now);
    void send(const tracer& t, std::string request, std::size_t spans);
    void continue_flush();
    void finish_flush();

    boost::asio::io_context& control_;
    boost::asio::steady_timer timer_, flush_timer_;
    std::function<void()> flushed_;
    std::vector<source> sources_;  // [0] is the current one when there is one
    std::shared_ptr<tracer> current_;
    std::shared_ptr<discovery::dns::resolver> resolver_;
    bool in_flight_ = false, flushing_ = false;
    std::uint64_t retired_dropped_ = 0;
    std::atomic<std::uint64_t> exported_{0}, failed_spans_{0}, failures_{0}, retired_dropped_pub_{0};
    std::vector<const span_record*> batch_;
};

}  // namespace gatehouse::observability
