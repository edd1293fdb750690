#include "http/composition.hpp"

#include <algorithm>
#include <cstring>

#include "cache/entry.hpp"
#include "compose/shape.hpp"
#include "http/compose_metrics.hpp"
#include "http/exchange.hpp"
#include "http/session_host.hpp"
#include "observability/trace_context.hpp"
#include "openapi/json_limits.hpp"
#include "json/tape.hpp"
#include "util/json_minify.hpp"

namespace gatehouse::http {

using compose::call_config;
using state = call_outcome::state;

composition::composition(exchange& ex, const router::compiled_route& r, compose::request_inputs inputs, net::clock::time_point deadline)
    : wake(ex.host().ioc()),
      ex_(&ex),
      route_(r),
      cfg_(*r.config.compose),
      keep_(ex.snap),
      inputs_(std::move(inputs)),
      base_options_(ex.call_options_for(r)),
      deadline_(deadline),
      outcomes_(cfg_.calls.size()),
      results_(cfg_.calls.size(), nullptr) {}

namespace {
thread_local std::uint64_t held_by_worker = 0;  // compositions live and die on their worker's thread
}

composition::~composition() { held_by_worker -= total_bytes_; }

std::uint64_t composition::worker_bytes() { return held_by_worker; }

bool composition::finished() const {
    return std::none_of(outcomes_.begin(), outcomes_.end(), [](auto& o) { return o.st == state::waiting || o.st == state::running; });
}

const call_config* composition::failed_required() const {
    for (std::size_t i = 0; i < outcomes_.size(); ++i)
        if (cfg_.calls[i].required && (outcomes_[i].st == state::failed || outcomes_[i].st == state::skipped)) return &cfg_.calls[i];
    return nullptr;
}

compose::render_context composition::context(const nlohmann::json* item) const { return {inputs_, cfg_.calls, results_, item}; }

void composition::start_ready() {
    for (bool again = true; again && ex_;) {  // a skip may make another call ready (or skipped)
        again = false;
        for (std::size_t i = 0; i < outcomes_.size(); ++i) {
            if (outcomes_[i].st != state::waiting) continue;
            bool ready = true, broken = false;
            for (auto j : cfg_.calls[i].after) {
                ready = ready && outcomes_[j].st == state::ok;
                broken = broken || outcomes_[j].st == state::failed || outcomes_[j].st == state::skipped;
            }
            if (broken) {
                outcomes_[i].st = state::skipped;
                outcomes_[i].reason = "dependency";
                again = true;
            } else if (ready) {
                start_call(i);
            }
        }
    }
}

void composition::start_call(std::size_t i) {
    auto& o = outcomes_[i];
    const auto& c = cfg_.calls[i];
    o.st = state::running;
    o.started = net::clock::now();
    if (!c.foreach) {
        start_element(i);
        return;
    }
    auto over = compose::resolve(c.foreach->over, context(nullptr));
    if (!over || !over->is_array()) return fail(i, 502, "reference");
    if (over->size() > c.foreach->max) return fail(i, 502, "too_many");
    o.elements = std::move(*over);
    o.results.assign(o.elements.size(), nullptr);
    if (o.elements.empty()) return succeed(i, nlohmann::json::array());
    while (o.st == state::running && o.next < o.elements.size() && o.running < c.foreach->concurrency) start_element(i);
}

// One request of call `i`: the call itself, or its next foreach element.
void composition::start_element(std::size_t i) {
    auto& o = outcomes_[i];
    const auto& c = cfg_.calls[i];
    const nlohmann::json* item = c.foreach ? &o.elements[o.next] : nullptr;
    ++o.next;
    ++o.running;
    std::string missing;
    const auto ctx = context(item);
    auto path = compose::render_path(c.path, ctx, missing);
    if (!path) return fail(i, 502, "reference");
    std::optional<nlohmann::json> body;
    if (c.body.k == compose::body_config::kind::json) {
        body = compose::render_body(c.body.json, ctx, missing);
        if (!body) return fail(i, 502, "reference");
    }
    send(i, *path, body ? &*body : nullptr);
}

upstream::call_options composition::options_for(const call_config& c) const {
    auto o = base_options_;
    o.random = ex_->host().random();
    const auto left = std::max(deadline_ - net::clock::now(), net::clock::duration(std::chrono::milliseconds(1)));
    o.timeout = std::min<net::clock::duration>(c.timeout ? net::clock::duration(*c.timeout) : left, left);
    o.is_head = c.method == "HEAD";
    o.retryable = o.retry && std::find(o.retry->methods.begin(), o.retry->methods.end(), c.method) != o.retry->methods.end();
    o.replayable = true;  // the whole request is in hand
    return o;
}

void composition::send(std::size_t i, const std::string& path, const nlohmann::json* body) {
    const auto& c = cfg_.calls[i];
    std::string body_text;
    if (body) body_text = body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    else if (c.body.k == compose::body_config::kind::client) body_text = ex_->compose_body_;
    send_request(i, outcomes_[i].next - 1, path, body_text);
}

void composition::send_request(std::size_t i, std::size_t element, const std::string& path, const std::string& body) {
    const auto& c = cfg_.calls[i];
    cache_plan plan;
    if (c.cache && consult_cache(i, element, path, body, plan) != cache_step::send) return;
    upstream::subrequest sr;
    sr.request = request_text(c, path, body, plan.stale.get());
    sr.options = options_for(c);
    sr.max_body = static_cast<std::size_t>(cfg_.max_body);
    sr.keep = keep_;
    auto& sent = sent_.emplace_back();
    sent.cancel = std::make_shared<boost::asio::cancellation_signal>();
    sr.cancel = sent.cancel;
    const std::size_t unit = sent_.size() - 1;
    if (c.cache) {
        sent.cache_url = std::move(plan.url);
        sent.stale = std::move(plan.stale);
        sent.request_time = std::chrono::system_clock::now();
    }
    const auto& cluster_name = ex_->snap->clusters[route_.compose_upstreams[i]]->name;
    if (auto traced = ex_->trace_subrequest(sr.options, sr.request, cluster_name, keep_)) sr.keep = std::move(traced);
    upstream::start_subrequest(ex_->host().ioc(), ex_->host().cluster_for(*ex_->snap, route_.compose_upstreams[i]), std::move(sr),
                               [self = shared_from_this(), i, element, unit, lead = std::move(plan.lead)](upstream::subresponse&& r) {
                                   self->on_response(i, element, unit, std::move(r));
                               });
}

// The call's request head: gatehouse's forwarding fields (the request id, X-Forwarded-*, its own
// traceparent span), the client fields `forward` lists, and the body's framing.
std::string composition::request_text(const call_config& c, const std::string& path, const std::string& body,
                                      const cache::entry* validators) const {
    auto& ex = *ex_;
    std::string out;
    out.reserve(256 + body.size());
    out += c.method;
    out += ' ';
    out += path;
    out += " HTTP/1.1\r\nHost: ";
    out += ex.snap->clusters[route_.compose_upstreams[&c - cfg_.calls.data()]]->name;
    out += "\r\nAccept: application/json\r\n";
    for (const auto& name : c.forward)
        for (const auto& [n, v] : inputs_.fields)
            if (n == name) out.append(n).append(": ").append(v).append("\r\n");
    out.append("X-Request-Id: ").append(ex.request_id).append("\r\n");
    out.append("X-Forwarded-For: ").append(inputs_.client_address).append("\r\n");
    out.append("X-Forwarded-Proto: ").append(ex.facts().secure ? "https" : "http").append("\r\n");
    if (!inputs_.authority.empty()) out.append("X-Forwarded-Host: ").append(inputs_.authority).append("\r\n");
    if (validators) {  // revalidating a stale stored answer (RFC 9111 §4.3.1)
        if (!validators->etag.empty()) out.append("If-None-Match: ").append(validators->etag).append("\r\n");
        if (!validators->last_modified.empty()) out.append("If-Modified-Since: ").append(validators->last_modified).append("\r\n");
    }
    if (ex.has_trace) {
        char span[16];
        observability::hex16(ex.host().random(), span);
        ex.traceparent_.clear();
        observability::append_traceparent(ex.traceparent_, ex.trace_id, span, ex.trace_flags);
        out.append("traceparent: ").append(ex.traceparent_).append("\r\n");
    }
    if (!body.empty() || c.method == "POST" || c.method == "PUT" || c.method == "PATCH") {
        if (c.body.k == compose::body_config::kind::json) out += "Content-Type: application/json\r\n";
        else if (!inputs_.content_type.empty()) out.append("Content-Type: ").append(inputs_.content_type).append("\r\n");
        out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    }
    out += "\r\n";
    out += body;
    return out;
}

void composition::on_response(std::size_t i, std::size_t element, std::size_t unit, upstream::subresponse&& r) {
    if (unit < sent_.size()) sent_[unit].ended = true;
    auto& o = outcomes_[i];
    if (o.st != state::running) return;  // it failed (a sibling element, the route's timeout) meanwhile
    --o.running;
    if (unit < sent_.size() && sent_[unit].stale) revalidated(i, unit, r);
    if (unit < sent_.size() && !sent_[unit].cache_url.empty()) ++o.cache[static_cast<std::size_t>(call_cache::miss)];
    nlohmann::json value;
    const auto why = accept(i, r, value);
    if (!why.empty()) return fail(i, r.ok && r.status / 100 != 2 ? r.status : r.error ? r.error.status() : 502, why);
    if (r.status == 204 || r.body.empty()) value = nullptr;
    if (cfg_.calls[i].spliced && outcomes_[i].whole.empty() && value.is_null()) outcomes_[i].whole = "null";
    std::string cc;  // every answer's, so one element's no-store is not overwritten by the next one's max-age
    for (auto& [n, v] : r.fields)
        if (iequals(n, "cache-control")) cc = v;
    o.cache_controls.push_back(std::move(cc));
    if (unit < sent_.size() && !sent_[unit].cache_url.empty()) keep_in_cache(i, sent_[unit].cache_url, sent_[unit].request_time, r);
    value = compose::shape(cfg_.calls[i], std::move(value));
    if (!cfg_.calls[i].foreach) return succeed(i, std::move(value));
    o.results[element] = std::move(value);
    if (++o.ended == o.elements.size()) return succeed(i, nlohmann::json(std::move(o.results)));
    if (ex_ && o.next < o.elements.size()) start_element(i);
}

std::string_view composition::accept(std::size_t i, upstream::subresponse& r, nlohmann::json& out) {
    if (r.error) return upstream::failure_name(r.error.kind);
    if (r.too_large) return "too_large";
    if (!r.ok) return "invalid_body";
    if (r.status / 100 != 2) return "status";
    if (r.status == 204 || r.body.empty()) return {};  // no body (a HEAD call, an empty 2xx): null
    total_bytes_ += r.body.size();
    held_by_worker += r.body.size();
    if (total_bytes_ > cfg_.max_total) return "too_large";
    if (cfg_.calls[i].spliced) return accept_whole(i, r, out);
    // The depth in one pass over the bytes, then the plain parser: the parser with a callback
    // costs three times as much (callgrind: 13 k instructions for a 50-byte document).
    openapi::json_refusal why;
    auto doc = openapi::parse_bounded(r.body, cfg_.max_depth, why);
    if (why == openapi::json_refusal::too_deep) return "too_deep";
    if (!doc) return "invalid_json";
    out = std::move(*doc);
    return {};
}

// The answer checked by the JSON parser the openapi middleware uses (the worker's tape: strict
// RFC 8259, nlohmann's choices) and kept as its bytes without whitespace. A document that repeats
// a member name is parsed into a tree after all (`out`), so that the answer keeps only the last
// value of the name, as a parsed call's does.
std::string_view composition::accept_whole(std::size_t i, upstream::subresponse& r, nlohmann::json& out) {
    json_tape::refusal why;
    bool repeated = false;
    {
        json_tape::tape_lease lease;
        if (!lease.doc.parse(r.body, cfg_.max_depth, why)) return why == json_tape::refusal::too_deep ? "too_deep" : "invalid_json";
        repeated = json_tape::has_repeated_names(lease.doc);
    }
    if (repeated) {
        out = nlohmann::json::parse(r.body, nullptr, false);
        return out.is_discarded() ? "invalid_json" : std::string_view{};
    }
    util::append_minified(outcomes_[i].whole, r.body);
    return {};
}

void composition::fail(std::size_t i, int status, std::string_view reason) {
    auto& o = outcomes_[i];
    o.st = state::failed;
    o.status = status;
    o.reason = reason;
    ended(i);
}

void composition::succeed(std::size_t i, nlohmann::json value) {
    auto& o = outcomes_[i];
    o.st = state::ok;
    if (o.status == 0) o.status = 200;
    o.value = std::move(value);
    results_[i] = &o.value;
    ended(i);
}

void composition::ended(std::size_t i) {
    auto& o = outcomes_[i];
    o.ms = std::chrono::duration<double, std::milli>(net::clock::now() - o.started).count();
    news_ = true;
    wake.cancel();
}

void composition::abandon(bool cancel_running) {
    ex_ = nullptr;
    if (!cancel_running) return;
    for (std::size_t i = 0; i < outcomes_.size(); ++i)
        if (outcomes_[i].st == state::running) fail(i, 0, "cancelled");
    for (std::size_t u = 0; u < sent_.size(); ++u) {
        if (sent_[u].ended) continue;
        sent_[u].ended = true;
        auto signal = sent_[u].cancel;  // held here: the call it ends may drop its copy
        signal->emit(boost::asio::cancellation_type::terminal);
    }
}

void composition::time_out() {
    for (std::size_t i = 0; i < outcomes_.size(); ++i) {
        if (outcomes_[i].st == state::running) {
            fail(i, 504, "timeout");
        } else if (outcomes_[i].st == state::waiting) {
            outcomes_[i].st = state::skipped;
            outcomes_[i].reason = "timeout";
        }
    }
}

std::string composition::take_answer_body() {
    auto answer = nlohmann::json::object();
    auto errors = nlohmann::json::object();
    std::vector<std::pair<std::string_view, const std::string*>> spliced;  // into, bytes
    for (std::size_t i = 0; i < outcomes_.size(); ++i) {
        auto& o = outcomes_[i];
        const auto& c = cfg_.calls[i];
        if (o.st == state::ok && c.spliced && !o.whole.empty()) {
            answer.erase(c.into);  // the later call wins, as merge() has it
            spliced.emplace_back(c.into, &o.whole);
        } else if (o.st == state::ok) {
            results_[i] = nullptr;
            compose::merge(answer, c, std::move(o.value));  // moved, not copied: nothing reads it after
            std::erase_if(spliced, [&](auto& s) { return answer.contains(s.first); });
        } else {
            auto& e = errors[c.name];
            if (o.status != 0) e["status"] = o.status;
            e["reason"] = o.reason;
        }
    }
    if (cfg_.errors_summary && !errors.empty()) answer["_errors"] = std::move(errors);
    if (spliced.empty()) return answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return with_spliced(answer, spliced);
}

// The answer's members in the order nlohmann's object keeps them (sorted by name), the spliced
// calls' bytes among them: the same document as without splicing, but that a spliced value keeps
// the upstream's member order and escapes (the same JSON value, written as it came).
std::string composition::with_spliced(const nlohmann::json& answer, std::vector<std::pair<std::string_view, const std::string*>>& spliced) {
    std::sort(spliced.begin(), spliced.end());
    std::size_t size = 2 + answer.size() * 16;
    for (const auto& s : spliced) size += s.first.size() + s.second->size() + 4;
    std::string out;
    out.reserve(size);
    out += '{';
    const auto member = [&](std::string_view name) {
        if (out.size() > 1) out += ',';
        const bool plain = std::all_of(name.begin(), name.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
        if (plain) {
            out.append(1, '"').append(name).append("\":");
            return;
        }
        out += nlohmann::json(name).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // escaped as nlohmann does (UTF-8 kept)
        out += ':';
    };
    auto next = spliced.begin();
    for (const auto& [name, value] : answer.items()) {
        for (; next != spliced.end() && next->first < name; ++next) {
            member(next->first);
            out += *next->second;
        }
        member(name);
        out += value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    for (; next != spliced.end(); ++next) {
        member(next->first);
        out += *next->second;
    }
    out += '}';
    return out;
}

std::string composition::partial_header() const {
    std::string out;
    for (std::size_t i = 0; i < outcomes_.size(); ++i) {
        const auto& o = outcomes_[i];
        if (o.st == state::ok) continue;
        if (!out.empty()) out += ", ";
        out.append(cfg_.calls[i].name).append(";reason=").append(o.reason);
    }
    return out;
}

// no-store wins; else the smallest max-age, private when any call's is.
std::string composition::cache_control() const {
    bool no_store = false, is_private = false, all_fresh = true;
    long max_age = -1;
    for (const auto& o : outcomes_) {
        if (o.st != state::ok) continue;
        for (const auto& cc : o.cache_controls) {
            no_store = no_store || cc.find("no-store") != std::string::npos || cc.find("no-cache") != std::string::npos;
            is_private = is_private || cc.find("private") != std::string::npos;
            const auto at = cc.find("max-age=");
            if (at == std::string::npos) {
                all_fresh = false;
                continue;
            }
            const long age = std::max(0L, std::strtol(cc.c_str() + at + 8, nullptr, 10));  // a negative one is stale
            max_age = max_age < 0 ? age : std::min(max_age, age);
        }
    }
    if (no_store) return "no-store";
    if (!all_fresh || max_age < 0) return {};
    return (is_private ? "private, max-age=" : "max-age=") + std::to_string(max_age);
}

std::string composition::log_field() const {
    std::string out;
    for (std::size_t i = 0; i < outcomes_.size(); ++i) {
        const auto& o = outcomes_[i];
        if (!out.empty()) out += ',';
        out.append(cfg_.calls[i].name).append(":").append(std::to_string(o.status));
        if (o.ms >= 0) out.append(":").append(std::to_string(static_cast<long>(o.ms))).append("ms");
        if (o.st != state::ok) out.append(":").append(o.reason);
    }
    return out;
}

void composition::record(compose_counts& counts) const {
    const bool all_ok = std::all_of(outcomes_.begin(), outcomes_.end(), [](auto& o) { return o.st == state::ok; });
    (failed_required() ? counts.failed : all_ok ? counts.complete : counts.partial).fetch_add(1, std::memory_order_relaxed);
    for (std::size_t i = 0; i < outcomes_.size() && i < counts.calls.size(); ++i) {
        const auto& o = outcomes_[i];
        if (o.st == state::waiting || o.st == state::running) continue;  // never started: a required call failed first
        auto& c = counts.calls[i];
        c.outcomes[call_outcome_slot(o.st == state::ok ? std::string_view{} : o.reason)].fetch_add(1, std::memory_order_relaxed);
        for (std::size_t k = 0; k < o.cache.size(); ++k)
            if (o.cache[k] != 0) c.cache[k].fetch_add(o.cache[k], std::memory_order_relaxed);
        if (o.ms >= 0) c.observe(o.ms);
    }
}

}  // namespace gatehouse::http
