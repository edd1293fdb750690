#pragma once
// A subrequest (subrequest.hpp) to an HTTP/2 upstream: its HTTP/1.1 request text (gatehouse's
// own, made by the request writer) submitted as a stream, and the answer's body read from it.
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "upstream/call.hpp"

namespace gatehouse::upstream {

// The head's fields as a header list (request line and Host to pseudo-fields, nothing
// connection-specific), the body (after the head) from a copy the stream keeps.
upstream_error submit_buffered(h2_connection& c, const std::shared_ptr<h2_stream>& s, const std::string& request, bool tls);
// The stream's body into `out` until its end: false when it is larger than `max`, cut, or
// silent for `idle`.
boost::asio::awaitable<bool> read_stream_body(h2_stream& s, std::size_t max, net::clock::duration idle, std::string& out);

}  // namespace gatehouse::upstream
