// The upstream call's phases for an HTTP/2 upstream (call.hpp): instead of leasing a connection,
// a try takes a place on one of the endpoint's multiplexed connections (opening one when all are
// full), submits the request as a stream and waits for its response head on that stream. The
// policy around the phases (endpoints, retries, outcomes) is the same as for HTTP/1.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>

#include "upstream/call.hpp"
#include "upstream/h2_connection.hpp"

namespace gatehouse::upstream {

namespace asio = boost::asio;

asio::awaitable<upstream_error> request_sender::send_stream(h2_connection&, const std::shared_ptr<h2_stream>&, net::clock::duration) {
    co_return upstream_error{failure::framing};  // a sender that only writes HTTP/1 bytes
}

void call::note_endpoint(const std::shared_ptr<endpoint_state>& ep) {
    if (last_ep_ != ep) last_ep_ = ep;
    try_ep_ = ep.get();
    ep_health_ = ep->health;
}

// Phases 2-4 on a stream: a place on a connection (opened, or its opening awaited, when new),
// the request through the sender, the response head.
asio::awaitable<upstream_error> call::try_stream(request_sender& sender) {
    bool fresh = false;
    stream_conn_ = cluster_->stream_room(ep_, fresh);
    if (!stream_conn_) {
        upstream_error e{failure::over_limit};
        e.limit = static_cast<std::uint8_t>(limit_kind::max_connections);
        co_return e;
    }
    stream_ep_ = cluster_->endpoint_ptr(ep_);
    note_endpoint(stream_ep_);
    if (fresh) {
        auto f = co_await stream_conn_->open(*cluster_);
        if (stream_conn_->fell_back()) {
            release_stream();
            co_return upstream_error{};  // nothing sent: the try goes on in HTTP/1.1 (try_upstream)
        }
        if (f != failure::none) co_return upstream_error{f};
    } else if (stream_conn_->opening()) {
        const bool up = co_await stream_conn_->wait_open(net::clock::now() + try_timeout_);
        if (!up) co_return upstream_error{failure::connect};
    }
    stream_ = stream_conn_->new_stream(cluster_->ioc());
    sent_ = net::clock::now();  // the upstream's time runs from the request's start
    auto err = co_await sender.send_stream(*stream_conn_, stream_, try_timeout_);
    if (!err) err = co_await read_stream_head(sender);
    co_return err;
}

// The response head on the stream; 1xx interim heads go to the sender, as on HTTP/1.
asio::awaitable<upstream_error> call::read_stream_head(request_sender& sender) {
    auto& s = *stream_;
    const auto until = net::clock::now() + try_timeout_;
    for (;;) {
        if (s.head_ready && s.final_head) {
            if (!stream_head_to_head()) co_return upstream_error{failure::framing};
            co_return upstream_error{};
        }
        if (s.head_ready) {
            // An interim head, taken out of the stream before it is passed on: the final head
            // may arrive while the client takes this one, into the stream's own fields.
            std::swap(interim_fields_, s.fields);
            s.fields.clear();
            s.head_ready = false;
            head_.status = s.status;
            head_.version = 20;
            head_.reason = {};
            head_.fields = interim_fields_.view();
            auto r = co_await sender.interim(head_);
            if (r == interim_result::caller_gone) co_return upstream_error{failure::client_gone};
            if (r == interim_result::passed) interim_passed_ = true;
            continue;
        }
        if (s.closed) co_return stream_failure();
        if (net::clock::now() >= until) co_return upstream_error{failure::timeout};
        s.wake.expires_at(until);
        ++s.waiters;
        co_await s.wake.async_wait(asio::as_tuple(asio::use_awaitable));
        --s.waiters;
    }
}

// Why a stream closed before its head: refused streams were never processed (sent again on a
// fresh connection when the request can be: the keep-alive race's resend).
upstream_error call::stream_failure() const {
    if (stream_->header_error) return upstream_error{failure::framing};
    if (stream_->refused) return upstream_error{failure::closed, true};
    return upstream_error{failure::closed};
}

// The stream's head as the call's response head: fields viewed in the stream's storage, the
// body delimited by END_STREAM (or a Content-Length the relay passes on).
bool call::stream_head_to_head() {
    auto& s = *stream_;
    head_.status = s.status;
    head_.version = 20;
    head_.reason = {};
    head_.fields = s.fields.view();
    head_.keep_alive = true;
    head_.connection = {};
    head_.has_content_length = false;
    head_.content_length = 0;
    for (auto& f : head_.fields) {
        if (f.name != "content-length") continue;
        std::uint64_t n = 0;
        auto [p, ec] = std::from_chars(f.value.data(), f.value.data() + f.value.size(), n);
        if (ec != std::errc{} || p != f.value.data() + f.value.size() || (head_.has_content_length && n != head_.content_length))
            return false;
        head_.has_content_length = true;
        head_.content_length = n;
    }
    const bool bodiless = o_.is_head || s.status == 204 || s.status == 304 || s.status < 200;
    head_.framing = bodiless ? http1::body_framing::none
                    : head_.has_content_length ? http1::body_framing::content_length
                                               : http1::body_framing::until_close;
    return true;
}

void call::release_stream() {
    if (stream_ && stream_->source) {  // before anything else: the client's stream must not call a gone stream
        stream_->source->watch_body(nullptr);
        stream_->source = nullptr;
    }
    if (stream_ && stream_->id < 0) stream_.reset();  // never submitted: its place is still reserved
    if (stream_) {
        stream_conn_->abandon(*stream_);
        stream_.reset();
    } else {
        stream_conn_->unreserve();
    }
    cluster_->stream_released(*stream_ep_);
    stream_conn_.reset();
    stream_ep_.reset();
}

}  // namespace gatehouse::upstream
