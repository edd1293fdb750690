#pragma once
// One composition (routes[].compose) running for its exchange: the calls started as their
// dependencies end (independent ones together), each a subrequest through the upstream call
// unit (upstream/subrequest.hpp: breaker, limits, retries, outlier data, upstream metrics), each
// response checked (status, size, JSON, depth) and shaped as it arrives, and the answer merged
// in configuration order once every call has ended. Everything but the exchange's wait is a
// plain function here; the exchange (composition_reply.cpp) waits on `wake` and sends the answer.
//
// Held by a shared_ptr that every call's completion keeps: a call still running when the
// exchange stops waiting (its route timed out, a required call failed) ends into this object
// and nothing else.
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compose/compose_config.hpp"
#include "http/compose_metrics.hpp"
#include "compose/render.hpp"
#include "net/deadlines.hpp"
#include "upstream/subrequest.hpp"

namespace gatehouse::router {
struct compiled_route;
}
namespace gatehouse::cache {
struct entry;
}

namespace gatehouse::http {

class exchange;
struct compose_counts;

// What became of one call.
struct call_outcome {
    enum class state : std::uint8_t { waiting, running, ok, failed, skipped };
    state st = state::waiting;
    int status = 0;           // the upstream's status, or gatehouse's (502, 503, 504) when none came
    std::string_view reason;  // why it failed (timeout, connect, status, invalid_json, too_large, dependency, ...)
    nlohmann::json value;     // the shaped response (foreach: the array of shaped elements)
    std::string whole;        // a spliced call's answer: its checked JSON, without whitespace
    std::vector<std::string> cache_controls;  // each answer's Cache-Control ("" when it had none), foreach elements too
    std::array<std::uint32_t, 4> cache{};     // `cache: true`: its requests by compose_metrics' call_cache result
    net::clock::time_point started{};
    double ms = -1;
    // foreach: the elements it runs over, results in their order
    nlohmann::json elements;
    std::vector<nlohmann::json> results;
    std::size_t next = 0, running = 0, ended = 0;
};

class composition : public std::enable_shared_from_this<composition> {
public:
    composition(exchange& ex, const router::compiled_route& r, compose::request_inputs inputs, net::clock::time_point deadline);
    ~composition();
    composition(const composition&) = delete;
    composition& operator=(const composition&) = delete;

    // The response bytes the compositions of this worker hold now (compose.worker_memory).
    static std::uint64_t worker_bytes();

    // Starts every call whose dependencies have ended; skips those whose dependency failed.
    void start_ready();
    bool finished() const;
    // A call ended since the last look (its wake-up may have come while nobody waited).
    bool take_news() {
        const bool n = news_;
        news_ = false;
        return n;
    }
    // The route's timeout: calls still running fail with reason timeout (504).
    void time_out();
    // The client went away (an HTTP/1.1 close noticed while the calls run): the wait ends.
    void client_left() {
        client_gone_ = true;
        wake.cancel();
    }
    bool client_gone() const { return client_gone_; }
    // The exchange stops waiting: nothing more starts, the exchange is never touched again, and
    // calls still running are cancelled (their connections closed) when `cancel_running`.
    void abandon(bool cancel_running);
    // A required call that failed (null: none).
    const compose::call_config* failed_required() const;
    const call_outcome& outcome(std::size_t i) const { return outcomes_[i]; }
    const compose::compose_config& config() const { return cfg_; }
    net::clock::time_point deadline() const { return deadline_; }

    // The merged answer (config order) with "_errors" when the summary is on and a call failed.
    // Once: the calls' values move into it.
    std::string take_answer_body();
    // Gatehouse-Partial: the optional calls that failed, as a structured field list (empty: none).
    std::string partial_header() const;
    // The most restrictive Cache-Control of the calls' (empty: none to send).
    std::string cache_control() const;
    // The access log's field: "name:status:ms" for each call, comma-separated.
    std::string log_field() const;
    // Into the route's metrics (compose_metrics.hpp): the composition's outcome, each call's.
    void record(compose_counts& counts) const;

    // A cached call's request that waited for a concurrent miss of the same key (compose_cache.cpp).
    void resume_after_fill(std::size_t i, std::size_t element, const std::string& path, const std::string& body);

    boost::asio::steady_timer wake;

private:
    void start_call(std::size_t i);
    void start_element(std::size_t i);
    void send(std::size_t i, const std::string& path, const nlohmann::json* body);
    // One request of call i (element: its foreach element, else 0).
    void send_request(std::size_t i, std::size_t element, const std::string& path, const std::string& body);
    std::string request_text(const compose::call_config& c, const std::string& path, const std::string& body,
                             const cache::entry* validators) const;
    upstream::call_options options_for(const compose::call_config& c) const;
    void on_response(std::size_t i, std::size_t element, std::size_t unit, upstream::subresponse&& r);
    // The response as JSON, or why it is not acceptable.
    std::string_view accept(std::size_t i, upstream::subresponse& r, nlohmann::json& out);
    std::string_view accept_whole(std::size_t i, upstream::subresponse& r, nlohmann::json& out);  // a spliced call's: checked, kept as bytes
    static std::string with_spliced(const nlohmann::json& answer, std::vector<std::pair<std::string_view, const std::string*>>& spliced);
    void fail(std::size_t i, int status, std::string_view reason);
    void succeed(std::size_t i, nlohmann::json value);
    void ended(std::size_t i);
    compose::render_context context(const nlohmann::json* item) const;
    // `cache: true` (compose_cache.cpp): the call's URL in the store's form, the fields its request
    // sends (for the answers' Vary). consult_cache answers a request from a fresh stored answer
    // (posted, as a call ends), makes it wait for a concurrent miss of the same key (the store's
    // coalescing: resume_after_fill runs when that one ended), or lets it go to the origin, with
    // the stale entry's validators when there is one and leading the key's fill when nobody does.
    struct cache_plan {
        std::string url;
        std::shared_ptr<const cache::entry> stale;  // revalidated: a 304 refreshes and answers it
        std::shared_ptr<void> lead;                 // the fill this request leads: ended once its answer is in
    };
    enum class cache_step { answered, waiting, send };
    std::string cache_url(std::size_t i, std::string_view path) const;
    std::vector<http::field> sent_fields(const compose::call_config& c) const;
    cache_step consult_cache(std::size_t i, std::size_t element, const std::string& path, const std::string& body,
                             cache_plan& plan);
    // Answers from a fresh stored answer (nullopt); else the stale one found (or null): one lookup.
    std::optional<std::shared_ptr<const cache::entry>> answer_from_cache(std::size_t i, std::size_t element, const std::string& url,
                                                                         call_cache result);
    // A response to a cached call's request: a 304 to the stale entry's validators becomes the
    // refreshed entry's answer; a storable one is kept (takes r.body, so after accept()).
    void revalidated(std::size_t i, std::size_t unit, upstream::subresponse& r);
    void keep_in_cache(std::size_t i, const std::string& url, std::chrono::system_clock::time_point request_time,
                       upstream::subresponse& r);

    exchange* ex_;
    const router::compiled_route& route_;
    const compose::compose_config& cfg_;
    std::shared_ptr<const void> keep_;  // the snapshot the route and its config live in
    compose::request_inputs inputs_;
    upstream::call_options base_options_;  // the route's, taken before the client's body is read (the head's views end)
    net::clock::time_point deadline_;
    std::vector<call_outcome> outcomes_;
    std::vector<const nlohmann::json*> results_;  // what references read: ok calls' values
    struct in_flight {
        std::shared_ptr<boost::asio::cancellation_signal> cancel;
        bool ended = false;  // its completion came: nothing left to cancel
        std::string cache_url;  // `cache: true`: where its answer is stored (empty: not cached)
        std::shared_ptr<const cache::entry> stale;  // sent with its validators
        std::chrono::system_clock::time_point request_time{};
    };
    std::vector<in_flight> sent_;  // one per request sent
    std::uint64_t total_bytes_ = 0;
    bool news_ = false;
    bool client_gone_ = false;
};

}  // namespace gatehouse::http
