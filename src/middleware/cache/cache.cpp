// cache: an RFC 9111 shared cache in front of the route's upstream (docs/middleware.md "cache").
//
// on_request looks the request up: a fresh entry is answered here (a full response: 200, or 304
// when the client's own validators match); a stale one is served while it may be
// (max-stale, stale-while-revalidate with one background refresh per key) or revalidated with
// the entry's validators; a miss leads a fill, or joins the running fill of its key and waits
// (lock_timeout) to be served from what it stores. on_response_headers decides from the
// upstream's head whether the response is stored, and taps its body as it streams to the client;
// a 304 to our validators becomes the refreshed entry, an error becomes the stale entry while
// stale-if-error allows. Every response of the route says what happened in Cache-Status (RFC
// 9211); hits carry Age.
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>
#include <charconv>

#include "cache/entry.hpp"
#include "cache/key.hpp"
#include "cache/store.hpp"
#include "gatehouse/config/middleware_spec.hpp"
#include "grpc/content_type.hpp"
#include "middleware/cache/cache_state.hpp"
#include "middleware/common.hpp"
#include "middleware/registry.hpp"
#include "middleware/timer_waiter.hpp"
#include "middleware/yaml_reader_access.hpp"

namespace gatehouse::middleware::cache {

namespace asio = boost::asio;
using namespace gatehouse::cache;

namespace {

void append_int(std::string& out, std::int64_t v) {
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, p);
}

// A gRPC (or gRPC-Web) call, by its content-type.
bool grpc_request(const request_context& ctx) {
    for (auto& f : ctx.fields)
        if (f.name.size() == 12 && http::iequals(f.name, "content-type")) return grpc::is_grpc(f.value);
    return false;
}

class cache_middleware final : public middleware {
public:
    explicit cache_middleware(const cache_spec& s) : spec_(s), counts_(route_counts_for(s.owner, s.workers)) {}

    verdict on_request(request_context& ctx, local_reply& reply) const override {
        auto& st = ctx.state<request_state>();
        st.request_time = ctx.now;
        const bool get = ctx.method == "GET", head = ctx.method == "HEAD";
        if (!get && !head && grpc_request(ctx)) {  // a call, not a resource: nothing to store or invalidate
            st.fwd = forward::bypass;
            st.outcome = result::bypass;
            return verdict::next;
        }
        if (!get && !head) {
            st.fwd = forward::method;
            st.outcome = result::bypass;
            if (unsafe(ctx.method)) {  // §4.4: its success invalidates the target
                auto& w = st.work_for();
                build_url(w.url, ctx.secure, ctx.host, ctx.path, ctx.query, spec_.key);
                w.secure = ctx.secure;
                w.host.assign(ctx.host);
                st.invalidate = true;
            }
            return verdict::next;
        }
        st.head = head;
        if (ctx.has_body) {  // a response to a request with a body never serves one without
            st.fwd = forward::bypass;
            st.outcome = result::bypass;
            return verdict::next;
        }
        const auto rcc = request_directives_of(ctx.fields);
        st.authorized = ctx.header("authorization").has_value();
        auto& url = scratch_url();
        auto& extras = scratch_extras();
        auto& key = scratch_key();
        build_url(url, ctx.secure, ctx.host, ctx.path, ctx.query, spec_.key);
        build_extras(extras, ctx.fields, spec_.key);
        if (!extras.empty()) {
            key.assign(url);
            key += ' ';
            key += extras;
        }
        const std::string_view key_view = extras.empty() ? std::string_view(url) : std::string_view(key);
        if (rcc.no_store) {
            st.fwd = forward::request;
            st.outcome = result::bypass;
            st.no_store = true;
            return verdict::next;
        }
        auto found = store::instance().find(url, extras, key_view, ctx.fields);
        st.fwd = found.url_known ? forward::vary_miss : forward::uri_miss;
        if (found.hit) {
            auto decision = judge(*found.hit, rcc, ctx.now);
            if (decision == use::fresh || decision == use::stale_ok || decision == use::stale_refresh) {
                if (decision == use::stale_refresh) refresh_in_background(ctx, found.hit, url, extras);
                st.outcome = decision == use::fresh ? result::hit : result::stale;
                serve(ctx.fields, st, found.hit, reply.full.emplace(), ctx.now);
                reply.status = reply.full->status;
                return verdict::reply;
            }
            // Kept either way: stale-if-error may still serve it.
            st.fwd = rcc.no_cache ? forward::request : forward::stale;
            st.entry = found.hit;
            if (decision == use::revalidate) send_validators(ctx, *found.hit);
        }
        if (rcc.only_if_cached) {  // §5.2.1.7
            reply = {504, "not in cache (only-if-cached)"};
            st.outcome = result::miss;
            return verdict::reply;
        }
        auto& w = st.work_for();
        w.url = url;
        w.extras = extras;
        w.key = key_view;
        st.outcome = result::miss;
        if (found.uncacheable && !st.entry) {
            // Its last answer could not be stored: straight to the origin, queueing behind no
            // one. The request's fields are not kept (the common case costs nothing more); an
            // answer that is storable now lifts the mark, and is stored if it needs no Vary values.
            st.passed = true;
            return verdict::next;
        }
        w.keep_request_fields(ctx.fields);
        if (head) return verdict::next;  // HEAD is not stored
        // Coalescing: lead the fill (or revalidation) of this key, or join the running one and wait.
        auto* ioc = ctx.ioc;
        w.joined = store::instance().join_or_lead(
            w.key, [ioc] { return std::make_shared<timer_waiter>(*ioc); }, st.fill, w.waiter);
        return w.joined ? verdict::suspend : verdict::next;
    }

    asio::awaitable<verdict> on_request_async(request_context& ctx, local_reply& reply) const override {
        auto& st = ctx.state<request_state>();
        auto& w = *st.work;
        auto waiter = std::static_pointer_cast<timer_waiter>(w.waiter);
        if (!waiter->woken.load(std::memory_order_acquire)) {
            auto until = std::min(ctx.deadline, std::chrono::steady_clock::now() + spec_.lock_timeout);
            waiter->timer.expires_at(until);
            co_await waiter->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        if (!waiter->woken.load(std::memory_order_acquire)) store::instance().leave_fill(w.key, w.joined, waiter.get());
        w.joined.reset();
        const auto now = std::chrono::system_clock::now();
        // Served from what the leader stored, or on to the origin (not storable, failed, timed
        // out). The request's views are still valid: the chain runs before its head is consumed.
        auto found = store::instance().find(w.url, w.extras, w.key, ctx.fields);
        if (found.hit && judge(*found.hit, request_directives_of(ctx.fields), now) == use::fresh) {
            st.outcome = result::coalesced;
            st.collapsed = true;
            st.entry.reset();
            serve(ctx.fields, st, found.hit, reply.full.emplace(), now);
            reply.status = reply.full->status;
            co_return verdict::reply;
        }
        co_return verdict::next;
    }

    void on_response_headers(request_context& ctx, response_edit& edit) const override {
        auto* st = ctx.find_state<request_state>();
        if (!st) return;
        for (auto& f : edit.fields) {  // tags are for gatehouse, not for clients
            if (f.name.size() == 13 && http::iequals(f.name, "surrogate-key")) edit.remove.push_back("surrogate-key");
            else if (f.name.size() == 9 && http::iequals(f.name, "cache-tag")) edit.remove.push_back("cache-tag");
        }
        if (st->served) {
            add_hit_fields(*st, edit);
            return;
        }
        if (st->invalidate) {
            if (edit.status >= 200 && edit.status < 400) invalidate(*st, edit);
        } else if (st->entry && (edit.status == 304 || edit.status >= 500) && on_revalidated(*st, edit)) {
            return;
        } else if (st->work && !st->head && !st->no_store) {
            consider_storing(*st, edit);
        }
        release_fill(*st);  // a stored response releases its waiters when its body is in (the tap)
        add_forward_fields(*st, edit);
    }

    void on_complete(const request_context& ctx, int) const noexcept override {
        auto* st = const_cast<request_context&>(ctx).find_state<request_state>();
        if (!st) return;
        if (st->work) st->work->tap.abandon();  // a body that did not end: nothing stored
        release_fill(*st);
        counts_->at(ctx.worker).v[static_cast<std::size_t>(st->outcome)].add();
    }

private:
    enum class use { fresh, stale_ok, stale_refresh, revalidate, miss };

    // What an entry may be used for by this request (§4.2, §4.2.4, RFC 5861, §5.2.1).
    use judge(const entry& e, const request_directives& rcc, sys_time now) const {
        const auto age = current_age(e.age, now);
        const bool fresh = fresh_at(e, now);
        const bool validator = e.has_validator();
        if (rcc.no_cache) return validator ? use::revalidate : use::miss;
        if (fresh) {
            bool ok = true;
            if (rcc.max_age.present && (rcc.max_age.invalid || age > seconds(rcc.max_age.value))) ok = false;
            if (rcc.min_fresh.present && !rcc.min_fresh.invalid && e.lifetime - age < seconds(rcc.min_fresh.value)) ok = false;
            if (ok) return use::fresh;
            return validator ? use::revalidate : use::miss;
        }
        const auto staleness = age - e.lifetime;
        if (!e.must_revalidate && !e.no_cache) {
            if (rcc.max_stale_any || (rcc.max_stale.present && !rcc.max_stale.invalid && staleness <= seconds(rcc.max_stale.value)))
                return use::stale_ok;
            if (staleness < e.stale_while_revalidate && !(rcc.max_age.present && age > seconds(rcc.max_age.value)))
                return use::stale_refresh;
        }
        return validator ? use::revalidate : use::miss;
    }

    // The entry as this request's answer: 304 when the client's validators match a fresh entry.
    // `request_fields`: the request's, as received (a copy once its own buffer has moved on).
    void serve(http::field_list request_fields, request_state& st, std::shared_ptr<const entry> e, full_response& out, sys_time now) const {
        const auto age = current_age(e->age, now);
        st.age = age.count();
        st.ttl = (e->lifetime - age).count();
        st.served = true;
        out.status = e->status;
        if (e->status == 200 && client_validators_match(request_fields, *e)) out.status = 304;
        out.fields = e->fields;
        if (out.status != 304 && e->body) out.body = *e->body;
        out.keep = std::move(e);
    }

    static bool client_validators_match(http::field_list request_fields, const entry& e) {
        if (auto inm = field(request_fields, "if-none-match")) return !e.etag.empty() && etag_list_matches(*inm, e.etag);
        auto ims = field(request_fields, "if-modified-since");
        if (!ims || e.last_modified.empty()) return false;
        auto since = parse_http_date(*ims);
        auto modified = parse_http_date(e.last_modified);
        return since && modified && *modified <= *since;
    }

    // Our validators replace the client's: the answer to them is ours to judge (§4.3.1).
    static void send_validators(request_context& ctx, const entry& e) {
        ctx.remove_upstream_header("if-none-match");
        ctx.remove_upstream_header("if-modified-since");
        ctx.remove_upstream_header("if-match");
        ctx.remove_upstream_header("if-unmodified-since");
        ctx.remove_upstream_header("if-range");
        ctx.remove_upstream_header("range");
        if (!e.etag.empty()) ctx.add_upstream_header("If-None-Match", e.etag);
        if (!e.last_modified.empty()) ctx.add_upstream_header("If-Modified-Since", e.last_modified);
    }

    // stale-while-revalidate: once per key, the request goes to the origin in the background
    // with the entry's validators; a 304 refreshes the entry, a storable answer replaces it.
    void refresh_in_background(request_context& ctx, const std::shared_ptr<const entry>& e, const std::string& url,
                               const std::string& extras) const {
        std::string key = extras.empty() ? url : url + " " + extras;
        if (!store::instance().claim_refresh(key)) return;
        send_validators(ctx, *e);
        // The request's fields as they were, for the Vary values of a replacing response.
        auto fields = std::make_shared<request_work>();
        fields->keep_request_fields(ctx.fields);
        const storing how{ctx.header("authorization").has_value(), spec_.cache_authorized, spec_.fresh};
        auto max_entry = store::instance().settings().max_entry_bytes;
        ctx.request_in_background(max_entry, [e, key, url, extras, fields, how](background_response&& r) {
            if (r.ok) {
                std::vector<http::field> views;
                for (auto& [n, v] : r.fields) views.push_back({n, v});
                if (r.status == 304) store::instance().insert(refreshed(*e, views, how.fresh, r.request_time, r.response_time));
                else store_response(url, extras, {r.status, views, std::move(r.body), r.request_time, r.response_time}, fields->fields, how);
            }
            store::instance().end_refresh(key);
        });
    }

    // A 304 to our validators: the refreshed entry answers. An error while stale-if-error holds:
    // the stale entry answers. True when the response was replaced.
    bool on_revalidated(request_state& st, response_edit& edit) const {
        const auto now = std::chrono::system_clock::now();
        st.fwd_status = edit.status;
        if (edit.status == 304 && !edit.fields.empty()) {
            auto e = refreshed(*st.entry, edit.fields, spec_.fresh, st.request_time, now);
            std::shared_ptr<const entry> stored = e;
            store::instance().insert(stored);
            release_fill(st);
            st.outcome = result::revalidated;
            serve(st.work->fields, st, stored, edit.replace.emplace(), now);
            add_hit_fields(st, edit);
            return true;
        }
        const auto& e = *st.entry;
        const auto staleness = current_age(e.age, now) - e.lifetime;
        if (e.must_revalidate || staleness >= e.stale_if_error) return false;
        release_fill(st);
        st.outcome = result::stale;
        st.stale_if_error = true;
        serve(st.work->fields, st, st.entry, edit.replace.emplace(), now);
        add_hit_fields(st, edit);
        return true;
    }

    // A response to a miss (or a revalidation answered in full): stored if RFC 9111 allows and
    // it fits; then its body is tapped as it streams.
    void consider_storing(request_state& st, response_edit& edit) const {
        if (edit.fields.empty()) return;  // gatehouse's own error answer
        auto facts = examine(edit.status, edit.fields, st.authorized, spec_.cache_authorized, spec_.fresh);
        if (facts.not_storable) {
            // The answer says so for anyone (not only this request's Authorization): later
            // misses of the key need not wait for each other's answers.
            if (!st.passed && std::string_view(facts.not_storable) != "authorization") uncacheable(st);
            return;
        }
        const auto limit = store::instance().settings().max_entry_bytes;
        if (auto cl = edit.field("content-length")) {
            std::uint64_t n = 0;
            if (std::from_chars(cl->data(), cl->data() + cl->size(), n).ec == std::errc{} && n > limit) {
                if (!st.passed) uncacheable(st);
                return;
            }
        }
        auto& w = *st.work;
        if (st.passed && (edit.field("vary") || st.head)) {  // the fields were not kept: next time
            store::instance().clear_uncacheable(w.key);
            return;
        }
        auto e = make_entry(w.url, w.extras, edit.status, edit.fields, w.fields, facts, spec_.fresh, st.request_time,
                            std::chrono::system_clock::now());
        w.tap.begin(std::move(e), limit, st.fill, w.key);
        st.fill.reset();  // the tap ends the fill when the body is in (or is abandoned)
        edit.tap = &w.tap;
        st.stored = true;
    }

    static void uncacheable(const request_state& st) {
        if (st.work && !st.work->key.empty()) store::instance().mark_uncacheable(st.work->key, k_hit_for_miss);
    }

    // §4.4: a successful unsafe request invalidates its target, and Location / Content-Location
    // when they name the same host.
    void invalidate(request_state& st, const response_edit& edit) const {
        auto& w = *st.work;
        store::instance().purge_url(w.url);
        for (std::string_view name : {"location", "content-location"}) {
            auto v = edit.field(name);
            if (!v || v->empty()) continue;
            std::string target;
            if (v->front() == '/') target = normalise_url(std::string(w.secure ? "https://" : "http://") + w.host + std::string(*v));
            else target = normalise_url(*v);
            auto base = normalise_url(std::string(w.secure ? "https://" : "http://") + w.host + "/");
            if (!target.empty() && target.starts_with(base)) store::instance().purge_url(target);
        }
    }

    void release_fill(request_state& st) const {
        if (!st.fill) return;
        store::instance().end_fill(st.work->key, st.fill);
        st.fill.reset();
    }

    void add_hit_fields(request_state& st, response_edit& edit) const {
        auto& age = edit.add.emplace_back("Age");
        append_int(age.second, st.age);
        auto& cs = edit.add.emplace_back("Cache-Status");
        if (st.outcome == result::revalidated || st.stale_if_error) {
            cs.second.assign("gatehouse; fwd=stale; fwd-status=");
            append_int(cs.second, st.fwd_status);
            if (st.outcome == result::revalidated) cs.second += "; stored";
            else cs.second += "; detail=stale-if-error";
        } else {
            cs.second.assign("gatehouse; hit; ttl=");
            append_int(cs.second, st.ttl);
            if (st.collapsed) cs.second += "; collapsed";
        }
    }

    void add_forward_fields(const request_state& st, response_edit& edit) const {
        auto& cs = edit.add.emplace_back("Cache-Status", "gatehouse; fwd=");
        cs.second += to_string(st.fwd);
        if (st.fwd != forward::method && st.fwd != forward::bypass && edit.status > 0 && !edit.fields.empty()) {
            cs.second += "; fwd-status=";
            append_int(cs.second, edit.status);
        }
        if (st.stored) cs.second += "; stored";
    }

    static bool unsafe(std::string_view m) { return m != "GET" && m != "HEAD" && m != "OPTIONS" && m != "TRACE"; }
    static std::string& scratch_url() {
        thread_local std::string s;
        return s;
    }
    static std::string& scratch_key() {
        thread_local std::string s;
        return s;
    }
    static std::string& scratch_extras() {
        thread_local std::string s;
        return s;
    }

    cache_spec spec_;
    std::shared_ptr<route_counts> counts_;
};

}  // namespace

std::shared_ptr<const middleware> cache_spec::build(build_services& s, config::diagnostics&) const {
    store::instance().configure(store_limits);
    auto copy = *this;
    copy.workers = s.workers;
    return std::make_shared<cache_middleware>(copy);
}

}  // namespace gatehouse::middleware::cache
