// discovery: { etcd: { endpoints: [http://127.0.0.1:2379], prefix: /services/inventory/ } }
// Through etcd's JSON gateway over Beast (no gRPC): read the prefix at revision R
// (/v3/kv/range), then watch from R+1 with progress notifications (/v3/watch, one long
// streamed response) and apply events as they arrive. A compaction, a cancelled watch or a
// revision that went backwards reads the prefix again (the manager publishes only a changed
// set). Errors reconnect with exponential backoff and full jitter, rotating over the
// configured endpoints; the last good set stays in service meanwhile.
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <random>

#include "config/yaml_reader.hpp"
#include "discovery/dns/resolver.hpp"
#include "discovery/etcd/etcd_events.hpp"
#include "discovery/registry.hpp"
#include "gatehouse/util/net.hpp"
#include "util/base64.hpp"

namespace gatehouse::discovery {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using nlohmann::json;
using namespace std::chrono_literals;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

struct etcd_url {
    bool https = false;
    std::string host;
    std::uint16_t port = 2379;
    std::string text;
};

struct etcd_settings {
    std::vector<etcd_url> endpoints;
    std::string prefix;
    std::string ca, cert, key;      // https
    config::duration timeout = 5s;  // connect and each request except the watch stream
};

std::optional<etcd_url> parse_url(const std::string& s) {
    etcd_url u;
    u.text = s;
    std::string_view rest = s;
    if (rest.starts_with("http://")) rest.remove_prefix(7);
    else if (rest.starts_with("https://")) {
        rest.remove_prefix(8);
        u.https = true;
    } else {
        return std::nullopt;
    }
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.find('/') != std::string_view::npos) return std::nullopt;
    auto hp = config::parse_host_port(rest);
    if (hp) {
        u.host = hp->host;
        u.port = hp->port;
    } else {
        u.host = std::string(rest);
    }
    if (u.host.empty() || u.port == 0) return std::nullopt;
    return u;
}

class etcd_provider : public provider, public std::enable_shared_from_this<etcd_provider> {
public:
    etcd_provider(provider_services& s, etcd_settings cfg)
        : control_(s.control), out_(s.out), cfg_(std::move(cfg)), backoff_timer_(s.control) {
        if (std::any_of(cfg_.endpoints.begin(), cfg_.endpoints.end(), [](auto& u) { return u.https; })) tls_ = make_tls();
        std::random_device rd;
        rng_.seed(rd());
        next_ = rng_() % cfg_.endpoints.size();
    }
    void start() { asio::co_spawn(control_, run(shared_from_this()), asio::detached); }
    void stop() override {
        stopped_ = true;
        backoff_timer_.cancel();
        if (active_) {
            boost::system::error_code ec;
            active_->socket().cancel(ec);
            active_->socket().close(ec);
        }
        if (resolver_) resolver_->shutdown();
    }

private:
    std::shared_ptr<asio::ssl::context> make_tls() {
        auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
        ctx->set_verify_mode(asio::ssl::verify_peer);
        if (cfg_.ca.empty()) ctx->set_default_verify_paths();
        else ctx->load_verify_file(cfg_.ca);
        if (!cfg_.cert.empty()) {
            ctx->use_certificate_chain_file(cfg_.cert);
            ctx->use_private_key_file(cfg_.key, asio::ssl::context::pem);
        }
        return ctx;
    }

    static asio::awaitable<void> run(std::shared_ptr<etcd_provider> self) {
        int failures = 0;
        while (!self->stopped_) {
            const auto& url = self->cfg_.endpoints[self->next_ % self->cfg_.endpoints.size()];
            bool synced = false;
            std::string error = co_await self->session(url, synced);
            if (self->stopped_) co_return;
            if (synced) failures = 0;     // it worked for a while: start the backoff again
            if (error.empty()) continue;  // resync at once (compaction, restore)
            self->out_.fail("etcd " + url.text + ": " + error);
            ++self->next_;
            // full jitter: uniform in [0, min(cap, base * 2^n)]
            auto cap = std::min<std::int64_t>(5000, 100ll << std::min(failures, 6));
            ++failures;
            auto delay = std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(cap / 4, cap)(self->rng_));
            self->backoff_timer_.expires_after(delay);
            co_await self->backoff_timer_.async_wait(use_nothrow);
        }
    }

    // One connection: range, then watch until something ends it. Empty result: resync now.
    asio::awaitable<std::string> session(etcd_url url, bool& synced) {
        std::string ip = url.host;
        if (!util::ip_address::parse(ip)) {
            if (!resolver_)
                resolver_ = dns::resolver::create(control_, {}, std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.timeout));
            auto addrs = co_await lookup(url.host);
            if (addrs.empty()) co_return "cannot resolve " + url.host;
            ip = addrs.front();
        }
        boost::system::error_code aec;
        auto addr = asio::ip::make_address(ip, aec);
        if (aec) co_return "bad address " + ip;
        beast::tcp_stream stream(control_);
        active_ = &stream;
        struct clear_active {
            etcd_provider* p;
            ~clear_active() { p->active_ = nullptr; }
        } guard{this};
        stream.expires_after(cfg_.timeout);
        auto [cec] = co_await stream.async_connect(asio::ip::tcp::endpoint(addr, url.port), use_nothrow);
        if (cec) co_return "connect: " + cec.message();
        stream.socket().set_option(asio::socket_base::keep_alive(true), aec);
        if (!url.https) co_return co_await talk(stream, stream, url, synced);
        asio::ssl::stream<beast::tcp_stream&> tls(stream, *tls_);
        if (!util::ip_address::parse(url.host)) SSL_set_tlsext_host_name(tls.native_handle(), url.host.c_str());
        tls.set_verify_callback(asio::ssl::host_name_verification(url.host));
        stream.expires_after(cfg_.timeout);
        auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::client, use_nothrow);
        if (hec) co_return "TLS: " + hec.message();
        co_return co_await talk(tls, stream, url, synced);
    }

    struct lookup_op {
        std::shared_ptr<dns::resolver> r;
        std::string host;
        template <class Handler>
        void operator()(Handler h) {
            auto hp = std::make_shared<Handler>(std::move(h));
            r->lookup(host, dns::family::any, [hp](std::string error, std::vector<dns::address> addrs) {
                std::vector<std::string> out;
                if (error.empty())
                    for (auto& a : addrs) out.push_back(a.ip);
                (*hp)(std::move(out));
            });
        }
    };
    asio::awaitable<std::vector<std::string>> lookup(std::string host) {
        lookup_op op{resolver_, std::move(host)};
        co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::vector<std::string>)>(std::move(op),
                                                                                                               asio::use_awaitable);
    }

    template <class Stream>
    asio::awaitable<std::string> post(Stream& s, beast::tcp_stream& tcp, const etcd_url& url, const char* target, const json& body) {
        http::request<http::string_body> req{http::verb::post, target, 11};
        req.set(http::field::host, url.host + ":" + std::to_string(url.port));
        req.set(http::field::content_type, "application/json");
        req.set(http::field::user_agent, "gatehouse");
        req.body() = body.dump();
        req.prepare_payload();
        tcp.expires_after(cfg_.timeout);
        auto [wec, wn] = co_await http::async_write(s, req, use_nothrow);
        if (wec) co_return "write: " + wec.message();
        co_return std::string{};
    }

    template <class Stream>
    asio::awaitable<std::string> talk(Stream& s, beast::tcp_stream& tcp, const etcd_url& url, bool& synced) {
        const json range_key{{"key", util::base64_encode(cfg_.prefix)}, {"range_end", util::base64_encode(etcd::prefix_end(cfg_.prefix))}};
        if (auto e = co_await post(s, tcp, url, "/v3/kv/range", range_key); !e.empty()) co_return e;
        beast::flat_buffer buf;
        {
            http::response_parser<http::string_body> p;
            p.body_limit(64 << 20);
            auto [rec, rn] = co_await http::async_read(s, buf, p, use_nothrow);
            if (rec) co_return "range: " + rec.message();
            if (p.get().result_int() != 200)
                co_return "range: HTTP " + std::to_string(p.get().result_int()) + " " + p.get().body().substr(0, 200);
            json j = json::parse(p.get().body(), nullptr, false);
            etcd::key_state fresh;
            std::string error;
            if (!etcd::read_range(j, fresh, error)) co_return "range: " + error;
            if (fresh.revision < state_.revision)
                spdlog::warn("etcd {}: revision {} is older than the {} seen before (restored?); re-read the prefix", url.text,
                             fresh.revision, state_.revision);
            state_ = std::move(fresh);
            warn_invalid();
            co_await publish();
            if (stopped_) co_return std::string{};
        }
        json create{{"create_request",
                     {{"key", range_key["key"]},
                      {"range_end", range_key["range_end"]},
                      {"start_revision", state_.revision + 1},
                      {"progress_notify", true}}}};
        if (auto e = co_await post(s, tcp, url, "/v3/watch", create); !e.empty()) co_return e;
        http::response_parser<http::string_body> p;
        p.body_limit(boost::none);
        auto [hec, hn] = co_await http::async_read_header(s, buf, p, use_nothrow);
        if (hec) co_return "watch: " + hec.message();
        if (p.get().result_int() != 200) co_return "watch: HTTP " + std::to_string(p.get().result_int());
        synced = true;
        // The stream stays open; progress notifications come every few minutes, so no read
        // deadline (a dead peer shows as a reset; TCP keep-alive finds silent ones).
        tcp.expires_never();
        for (;;) {
            auto [ec, n] = co_await http::async_read_some(s, buf, p, use_nothrow);
            if (stopped_) co_return std::string{};
            auto& body = p.get().body();
            std::vector<std::string_view> messages;
            auto used = etcd::split_json_stream(body, messages);
            bool changed = false;
            for (auto m : messages) {
                json j = json::parse(m, nullptr, false);
                std::string error;
                switch (etcd::apply_watch_message(j, state_, error)) {
                    case etcd::watch_action::none: break;
                    case etcd::watch_action::changed: changed = true; break;
                    case etcd::watch_action::resync:
                        spdlog::info("etcd {}: {}; reading the prefix again", url.text, error);
                        co_return std::string{};
                    case etcd::watch_action::error: co_return "watch: " + error;
                }
            }
            body.erase(0, used);
            if (changed) {
                warn_invalid();
                co_await publish();
                if (stopped_) co_return std::string{};
            }
            if (ec) co_return "watch: " + ec.message();
            if (p.is_done()) co_return "watch: the stream ended";
        }
    }

    void warn_invalid() {
        for (auto& [k, why] : state_.invalid)
            if (warned_[k] != why) {
                warned_[k] = why;
                spdlog::warn("etcd key {}: {}; left out", k, why);
            }
        std::erase_if(warned_, [&](auto& kv) { return !state_.invalid.count(kv.first); });
    }

    struct resolve_op {
        std::shared_ptr<dns::resolver> r;
        std::vector<endpoint_spec> specs;
        template <class Handler>
        void operator()(Handler h) {
            auto hp = std::make_shared<Handler>(std::move(h));
            dns::resolve_endpoints(r, specs, dns::family::any, [hp](std::string error, std::vector<endpoint> eps, std::chrono::seconds) {
                (*hp)(std::move(error), std::move(eps));
            });
        }
    };

    asio::awaitable<void> publish() {
        auto specs = state_.endpoints();
        if (!dns::all_literal(specs) && !resolver_)
            resolver_ = dns::resolver::create(control_, {}, std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.timeout));
        resolve_op op{resolver_, std::move(specs)};
        auto [error, eps] = co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::string, std::vector<endpoint>)>(
            std::move(op), asio::use_awaitable);
        if (stopped_) co_return;
        if (error.empty()) out_.publish(std::move(eps));
        else out_.fail(std::move(error));
    }

    asio::io_context& control_;
    sink& out_;
    etcd_settings cfg_;
    std::shared_ptr<asio::ssl::context> tls_;
    asio::steady_timer backoff_timer_;
    std::shared_ptr<dns::resolver> resolver_;
    beast::tcp_stream* active_ = nullptr;
    etcd::key_state state_;
    std::map<std::string, std::string> warned_;
    std::mt19937_64 rng_;
    std::size_t next_ = 0;
    bool stopped_ = false;
};

struct etcd_spec : config::discovery_spec {
    etcd_settings cfg;
    std::shared_ptr<provider> start(provider_services& s) const override {
        auto p = std::make_shared<etcd_provider>(s, cfg);
        p->start();
        return p;
    }
};

std::shared_ptr<config::discovery_spec> parse(const YAML::Node& n, const std::string& path, config::diagnostics& d) {
    config::map_reader r(n, path, d, {"endpoints", "prefix", "ca", "cert", "key", "timeout"});
    if (!r.ok()) return nullptr;
    auto spec = std::make_shared<etcd_spec>();
    auto& c = spec->cfg;
    if (auto list = r.string_list("endpoints")) {
        for (auto& s : *list) {
            if (auto u = parse_url(s)) c.endpoints.push_back(*u);
            else r.error("endpoints", "expected http://host:port or https://host:port, found '" + s + "'");
        }
    }
    if (c.endpoints.empty() && !r.has("endpoints"))
        d.error(config::mark_of(n), path + ".endpoints", "required (for example [http://127.0.0.1:2379])");
    if (auto p = r.string("prefix")) c.prefix = *p;
    if (c.prefix.empty())
        d.error(config::mark_of(n), path + ".prefix", "required: every key under it is one endpoint (for example /services/inventory/)");
    if (auto v = r.string("ca")) c.ca = *v;
    if (auto v = r.string("cert")) c.cert = *v;
    if (auto v = r.string("key")) c.key = *v;
    if (c.cert.empty() != c.key.empty()) d.error(config::mark_of(n), path, "cert and key go together");
    if (auto v = r.duration_value("timeout")) {
        if (v->count() <= 0) r.error("timeout", "must be greater than zero");
        else c.timeout = *v;
    }
    bool any_https = std::any_of(c.endpoints.begin(), c.endpoints.end(), [](auto& u) { return u.https; });
    if (!any_https && (!c.ca.empty() || !c.cert.empty()))
        d.warning(config::mark_of(n), path, "ca/cert/key are used only with https:// endpoints");
    for (auto* f : {&c.ca, &c.cert, &c.key}) {
        if (f->empty()) continue;
        if (FILE* fp = std::fopen(f->c_str(), "r")) std::fclose(fp);
        else d.error(config::mark_of(n), path, "cannot read '" + *f + "'");
    }
    r.finish();
    std::string eps;
    for (auto& u : c.endpoints) eps += u.text + ",";
    spec->identity = "etcd|" + eps + "|" + c.prefix + "|" + c.ca + "|" + c.cert + "|" + c.key + "|" + std::to_string(c.timeout.count());
    spec->describe = "etcd " + (c.endpoints.empty() ? std::string{} : c.endpoints.front().text) + " prefix " + c.prefix;
    return spec;
}

}  // namespace

void register_etcd() { config::register_discovery_type("etcd", parse); }

}  // namespace gatehouse::discovery
