#pragma once
// One request to an HTTP/2 upstream: a stream on a pooled, multiplexed connection
// (h2_connection.hpp). The connection's nghttp2 callbacks fill it (the response head, DATA,
// trailers, the close) and wake whoever waits on it: the upstream call for the head, the relay for
// the body, the request body's pump for room. Owned by the call; the connection holds it while
// the stream is open, so a call that ends early leaves nothing dangling (its stream is reset).
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/http/stream.hpp"
#include "http1/head.hpp"
#include "net/deadlines.hpp"

namespace gatehouse::upstream {

class h2_connection;

// A head's fields as nghttp2 decoded them: names and values back to back in one string (its
// capacity kept), viewed once the head is complete.
class h2_fields {
public:
    void clear() {
        bytes_.clear();
        spans_.clear();
        views_.clear();
    }
    void release_memory() {  // a head that was far larger than usual gives its memory back
        if (bytes_.capacity() > 16 * 1024) std::string().swap(bytes_);
    }
    void add(std::string_view name, std::string_view value) {
        spans_.push_back({static_cast<std::uint32_t>(bytes_.size()), static_cast<std::uint32_t>(name.size()),
                          static_cast<std::uint32_t>(value.size())});
        bytes_.append(name);
        bytes_.append(value);
    }
    std::size_t bytes() const { return bytes_.size(); }
    std::size_t size() const { return spans_.size(); }
    // The fields as views (valid until the next clear() or add()).
    const std::vector<http1::field_view>& view();

private:
    struct span {
        std::uint32_t at, name, value;
    };
    std::string bytes_;
    std::vector<span> spans_;
    std::vector<http1::field_view> views_;
};

struct h2_stream final : http::body_watcher {
    explicit h2_stream(boost::asio::io_context& ioc)
        : wake(ioc, boost::asio::steady_timer::time_point::max()), pump_wake(ioc, boost::asio::steady_timer::time_point::max()) {}
    h2_stream(const h2_stream&) = delete;
    // Back to a new stream's state for the next request on its connection (h2_connection::
    // new_stream), keeping the buffers' capacity up to a limit.
    void reset();

    std::shared_ptr<h2_connection> conn;
    std::int32_t id = -1;

    // The response, as it arrives. `status` is the head's (a 1xx until the final one).
    int status = 0;
    h2_fields fields, trailers;
    bool head_ready = false;   // a head (interim or final) is complete and not yet taken
    bool final_head = false;   // the final (non-1xx) head came
    bool ended = false;        // END_STREAM from the upstream
    bool closed = false;       // the stream is over (ended, reset either way, or the connection lost)
    bool refused = false;      // never processed by the upstream (REFUSED_STREAM, above a GOAWAY's last id): safe to send again
    bool header_error = false; // a field nghttp2 or we refused: the stream was reset
    std::uint32_t error_code = 0;  // RST_STREAM's (or the connection's) code
    std::string body;          // DATA received and not yet consumed
    std::size_t handed = 0;    // taken out of `body` by the relay, credited at its next take (or when abandoned)
    bool abandoned = false;    // the call let it go: DATA still arriving is credited at once

    // The request body: taken from `source` as it arrives (a full-duplex client stream: the body
    // goes on while the response comes), or offered as `pending` views (a body in hand, or the
    // pieces an HTTP/1 client's sender reads).
    http::downstream* source = nullptr;
    void body_arrived() override;
    std::string_view pending;  // offered, not yet copied into DATA frames
    std::string kept;          // a body in hand, copied: it outlives the call's hold on the client's
    // The request's header list as submitted: nghttp2 points into it (NGHTTP2_NV_FLAG_NO_COPY_*)
    // until the HEADERS frame is written or dropped unsent; the connection holds the stream
    // until then (its close callback comes after either).
    std::string head;
    bool body_end = false;     // the last piece is offered (with trailers when `out_trailers` has any)
    bool deferred = false;     // nghttp2 asked for data we had not: resume when some is offered
    bool body_open = false;    // the request has a body that is still going out
    std::vector<std::pair<std::string, std::string>> out_trailers;
    void set_trailers(const http::trailers& t);  // lower-cased copies (HTTP/2 field names)
    std::uint64_t sent_bytes = 0;
    // A streamed body's bytes as they went into DATA frames, kept until the upstream's first head
    // (`keep_resend`, set by the sender): a stream refused unprocessed (REFUSED_STREAM, above a
    // GOAWAY's last id) goes again on another, from this copy and then from the client. A copy
    // that would outgrow k_resend_limit is dropped (that call fails with the refused stream).
    static constexpr std::size_t k_resend_limit = 64 * 1024;
    std::string resend;
    bool keep_resend = false;
    void keep_sent(const std::uint8_t* p, std::size_t n) {
        if (!keep_resend || n == 0) return;
        if (resend.size() + n > k_resend_limit) return processed();
        resend.append(reinterpret_cast<const char*>(p), n);
    }
    void processed() {  // the upstream answered (or the copy outgrew its limit): no resend
        keep_resend = false;
        std::string().swap(resend);
    }
    bool resendable() const { return refused && keep_resend; }

    // Waits: the call or the relay on `wake` (with a deadline), the pump on `pump_wake`.
    boost::asio::steady_timer wake, pump_wake;
    int waiters = 0, pump_waiters = 0;
    void notify() {
        if (waiters) wake.cancel();
        if (pump_waiters) pump_wake.cancel();
    }
};

}  // namespace gatehouse::upstream
