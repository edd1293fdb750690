#pragma once
// A request whose head and body are all in hand, sent through an upstream::call on the worker's
// event loop with nobody waiting for it: the mirror (routes[].mirror) and the cache's background
// refresh (request_context::request_in_background). Being a call, it is admitted by the breaker
// and limits.max_requests, retried per its options, teaches the breaker and outlier detection,
// and is counted in the gatehouse_upstream_* metrics like any proxied request.
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "upstream/call.hpp"

namespace gatehouse::upstream {

struct subrequest {
    std::string request;  // the HTTP/1.1 head and body, as they go on the wire
    call_options options;
    // The response body is read and kept up to this many bytes (more is a failure); with 0 the
    // body is not read and the connection is not reused.
    std::size_t max_body = 0;
    std::shared_ptr<const void> keep;  // what the options point into (the snapshot of a retry policy)
    // Optional: emitting it (terminal) ends the call where it waits (connect, send, read); `done`
    // is then not called. A composition cancels its calls this way when its client goes away.
    std::shared_ptr<boost::asio::cancellation_signal> cancel;
};

struct subresponse {
    bool ok = false;       // a response head came (and its body, within max_body)
    bool too_large = false;  // the body was larger than max_body
    upstream_error error;  // why not
    int status = 0;
    std::vector<std::pair<std::string, std::string>> fields;
    std::string body;
    // An HTTP/2 upstream's trailers (grpc-status and grpc-message of a gRPC call), once the body
    // was read whole.
    std::vector<std::pair<std::string, std::string>> trailers;
};
using subrequest_done = std::function<void(subresponse&&)>;

// Writes a request whose head and body are in hand (`request`, which it does not copy): the head
// and body in one write, as often as the call asks; an HTTP/2 upstream gets it as a stream, the
// head's fields as a header list (subrequest_h2.cpp). A subrequest's sender, and a translated
// gRPC call's (http/transcode_stream.cpp).
class buffered_sender final : public request_sender {
public:
    buffered_sender(const std::string& request, bool tls) : request_(request), tls_(tls) {}
    boost::asio::awaitable<upstream_error> send(upstream_connection& uc, net::clock::duration timeout) override;
    boost::asio::awaitable<upstream_error> send_stream(h2_connection& c, const std::shared_ptr<h2_stream>& s,
                                                       net::clock::duration timeout) override;

private:
    const std::string& request_;
    bool tls_;
};

// Starts it on `ioc` (the worker's, which owns `cluster`); `done` runs there when it ends.
void start_subrequest(boost::asio::io_context& ioc, std::shared_ptr<cluster_state> cluster, subrequest r, subrequest_done done);

}  // namespace gatehouse::upstream
