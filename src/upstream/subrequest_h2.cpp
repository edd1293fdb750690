// A subrequest to an HTTP/2 upstream (subrequest_h2.hpp). The request text is gatehouse's own
// (the mirror's copy of the proxied head, a composition call's, a policy check's), scanned back
// by the strict request scanner: a subrequest is off the client's request path, and one form of
// it serves both protocols.
#include "upstream/subrequest_h2.hpp"

#include "net/hpack_policy.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <vector>

#include "gatehouse/http/fields.hpp"
#include "upstream/h2_connection.hpp"

namespace gatehouse::upstream {

namespace asio = boost::asio;

namespace {

bool connection_specific(std::string_view name) {
    for (std::string_view n : {"host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"})
        if (http::iequals(name, n)) return true;
    return false;
}

}  // namespace

upstream_error submit_buffered(h2_connection& c, const std::shared_ptr<h2_stream>& s, const std::string& request, bool tls) {
    const auto end = http1::find_head_end(request, 0);
    http1::request_head head;
    if (end == std::string::npos || http1::scan_request(std::string_view(request).substr(0, end), http1::scan_limits{}, head))
        return upstream_error{failure::framing};
    // Names lower-cased into one string the header list points into (nghttp2 copies it).
    std::string names;
    for (auto& f : head.fields)
        if (!connection_specific(f.name)) names += f.name;
    for (auto& ch : names) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    auto nv = [](std::string_view n, std::string_view v) {
        return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                          reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(), NGHTTP2_NV_FLAG_NONE};
    };
    std::vector<nghttp2_nv> list{nv(":method", head.method), nv(":scheme", tls ? "https" : "http"), nv(":authority", head.host),
                                 nv(":path", head.target)};
    std::size_t at = 0;
    bool te_trailers = false;
    for (auto& f : head.fields) {
        if (http::iequals(f.name, "te")) te_trailers = http::list_contains(f.value, "trailers");
        if (connection_specific(f.name)) continue;
        list.push_back(nv(std::string_view(names).substr(at, f.name.size()), f.value));
        list.back().flags = net::index_flag(f.name);
        at += f.name.size();
    }
    if (te_trailers) list.push_back(nv("te", "trailers"));
    s->kept.assign(request, end, std::string::npos);
    s->pending = s->kept;
    s->body_end = true;
    if (!c.submit(s, list, !s->kept.empty())) return upstream_error{failure::closed, true};
    return upstream_error{};
}

asio::awaitable<bool> read_stream_body(h2_stream& s, std::size_t max, net::clock::duration idle, std::string& out) {
    for (;;) {
        if (!s.body.empty()) {
            out += s.body;
            s.conn->consume(s, s.body.size());
            s.body.clear();
            if (out.size() > max) co_return false;
        }
        if (s.ended) co_return true;
        if (s.closed) co_return false;
        const auto until = net::clock::now() + idle;
        s.wake.expires_at(until);
        ++s.waiters;
        co_await s.wake.async_wait(asio::as_tuple(asio::use_awaitable));
        --s.waiters;
        if (s.body.empty() && !s.ended && !s.closed && net::clock::now() >= until) co_return false;
    }
}

}  // namespace gatehouse::upstream
