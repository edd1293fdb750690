// The middleware chain of a request: the request phase in order (the listener's chain, then the
// route's), a middleware's reply, and the response and trailer phases in reverse order.
#include <chrono>

#include "http/exchange.hpp"
#include "http/session_host.hpp"
#include "net/listener_state.hpp"

namespace gatehouse::http {

bool exchange::select_chain() {
    const auto& r = *route;
    route_chain = r.index < snap->route_chains.size() ? &snap->route_chains[r.index] : nullptr;
    if (route_chain && route_chain->empty()) route_chain = nullptr;
    if (!r.config.middleware_replace && !snap->listener_chains.empty()) {
        auto it = snap->listener_chains.find(listener_.cfg.name);
        if (it != snap->listener_chains.end() && !it->second.empty()) listener_chain = &it->second;
    }
    return has_chain();
}

void exchange::start_chain() {
    const auto& r = *route;
    mctx.method = req.method;
    mctx.host = req.authority;
    mctx.path = path;
    mctx.query = req.query;
    mctx.client_address = real_client();
    mctx.secure = facts().secure;
    mctx.has_body = req.has_body;
    mctx.fields = req.fields;
    mctx.worker = w_.id();
    mctx.ioc = &w_.ioc();
    mctx.now = std::chrono::system_clock::now();
    mctx.mono = std::chrono::steady_clock::now();
    mctx.route = r.config.name;
    mctx.request_id = request_id;
    mctx.trace = tracing_ ? &call_spans_ : nullptr;
    mctx.upstream = &chain_calls_;
    mctx.deadline = mctx.mono + r.config.timeout.value_or(snap->config.limits.request_timeout);
}

const middleware::middleware& exchange::chain_at(std::size_t i) const {
    const std::size_t listener_size = listener_chain ? listener_chain->size() : 0;
    return i < listener_size ? *(*listener_chain)[i] : *(*route_chain)[i - listener_size];
}

// From `at` on, until a middleware replies or suspends (`at` is then its index).
exchange::chain_step exchange::run_chain_until(std::size_t& at) {
    for (const std::size_t n = chain_size(); at < n; ++at) {
        mctx.select(at);
        switch (chain_at(at).on_request(mctx, mreply)) {
            case middleware::verdict::next: continue;
            case middleware::verdict::reply: return chain_step::reply;
            case middleware::verdict::suspend: return chain_step::suspend;
        }
    }
    return chain_step::done;
}

// The middleware at `at` suspended: its asynchronous part, then the rest of the chain.
boost::asio::awaitable<bool> exchange::run_chain_from(std::size_t at, bool& written) {
    for (;;) {
        mctx.select(at);
        const auto v = co_await chain_at(at).on_request_async(mctx, mreply);
        auto step = chain_step::reply;
        if (v != middleware::verdict::reply) {
            ++at;
            step = run_chain_until(at);
        }
        if (step == chain_step::done) co_return true;
        if (step == chain_step::reply) {
            written = co_await send_chain_reply();
            co_return false;
        }
    }
}

// The body a body phase sees, up to `limit` (see request_context::want_body): in place while
// the codec holds it all (a small body that came with its head: nothing copied), else taken
// from the codec into held_body_ as it comes (the codec's buffer and the HTTP/2 stream window
// stay small) and handed to the upstream call's sender, which sends it before the rest.
boost::asio::awaitable<body_status> exchange::gather_body(std::size_t limit, bool partial, std::string_view& body) {
    if (req.content_length && *req.content_length > limit && !partial) co_return body_status::too_large;
    held_body_.clear();
    // (a gRPC-Web text body: decoded, as the upstream gets it)
    downstream& src = grpc_web_ && grpc_protocol == grpc::protocol::web_text ? static_cast<downstream&>(web_body_) : d_;
    for (;;) {
        const auto ready = src.body_ready();
        if (held_body_.empty() && (src.body_done() || (partial && ready.size() >= limit))) {
            if (ready.size() > limit && !partial) co_return body_status::too_large;
            body = ready.substr(0, std::min(ready.size(), limit));
            co_return body_status::ok;
        }
        const auto take = partial ? std::min(ready.size(), limit - held_body_.size()) : ready.size();
        if (!partial && held_body_.size() + take > limit) co_return body_status::too_large;
        held_body_.append(ready.substr(0, take));
        src.consume_body(take);
        const bool whole = src.body_done() && src.body_ready().empty();
        if (whole || (partial && held_body_.size() == limit)) {
            sender_.hold(held_body_, whole);
            body = held_body_;
            co_return body_status::ok;
        }
        const auto st = co_await src.read_body();
        if (st != body_status::ok) co_return st;
    }
}

boost::asio::awaitable<bool> exchange::run_body_phase(bool& answered) {
    answered = false;
    std::string_view body;
    auto st = body_status::ok;
    if (req.has_body) st = co_await gather_body(mctx.body_wanted(), mctx.body_partial(), body);
    if (st != body_status::ok) {
        answered = true;
        if (st == body_status::gone) co_return false;
        mreply = st == body_status::too_large ? middleware::local_reply(413, "request body too large")
                 : st == body_status::timeout ? middleware::local_reply(408, "request body timeout")
                                              : middleware::local_reply(400, "malformed request body");
        co_return co_await send_chain_reply();
    }
    const std::size_t added_before = mctx.added_headers().size();
    std::size_t index = 0;
    for (const auto* chain : {listener_chain, route_chain}) {
        if (!chain) continue;
        for (auto& m : *chain) {
            mctx.select(index++);
            auto v = m->on_request_body(mctx, body, mreply);
            if (v == middleware::verdict::suspend) v = co_await m->on_request_body_async(mctx, body, mreply);
            if (v != middleware::verdict::reply) continue;
            answered = true;
            co_return co_await send_chain_reply();
        }
    }
    if (mctx.added_headers().size() > added_before) add_late_fields(added_before);
    co_return true;
}

// A middleware answered: its whole response, or an error in the core's shape with its fields;
// the response chain sees it first (response fields such as WWW-Authenticate ride on it).
boost::asio::awaitable<bool> exchange::send_chain_reply() {
    run_response_chain(mreply.status);
    if (mreply.full) co_return co_await send_full(*mreply.full);
    std::erase_if(mreply.headers, [this](const auto& h) { return medit.removes(h.first); });
    for (auto& h : medit.add) mreply.headers.emplace_back(std::string(h.first), h.second);
    std::erase_if(mreply.headers, [](const auto& h) { return !middleware::valid_header_value(h.second); });
    co_return co_await send_error(mreply.status, mreply.message, mreply.headers);
}

// The chain in reverse order, each middleware selected: the route's from its end, then the
// listener's (indices as in run_chain).
template <class F>
void exchange::each_in_reverse(F&& f) {
    const std::size_t first_route = listener_chain ? listener_chain->size() : 0;
    if (route_chain)
        for (std::size_t i = route_chain->size(); i-- > 0;) {
            mctx.select(first_route + i);
            f(*(*route_chain)[i]);
        }
    if (listener_chain)
        for (std::size_t i = listener_chain->size(); i-- > 0;) {
            mctx.select(i);
            f(*(*listener_chain)[i]);
        }
}

void exchange::run_response_chain(int s, field_list fields) {
    if (!has_chain()) return;
    medit.status = s;
    medit.fields = fields;
    each_in_reverse([this](const middleware::middleware& m) { m.on_response_headers(mctx, medit); });
    medit.fields = {};
}

void exchange::run_trailer_chain(middleware::trailer_edit& edit) {
    each_in_reverse([this, &edit](const middleware::middleware& m) { m.on_response_trailers(mctx, edit); });
}

}  // namespace gatehouse::http
