#include "redis/store.hpp"

#include <boost/asio/post.hpp>
#include <set>

#include "config/yaml_reader.hpp"
#include "gatehouse/middleware/middleware.hpp"
#include "gatehouse/config/units.hpp"
#include "redis/connection.hpp"
#include "util/identity_registry.hpp"
#include "util/read_file.hpp"

namespace gatehouse::redis {

namespace asio = boost::asio;

std::string store_spec::identity() const {
    std::string id = name + "|" + username + "|" + password + "|" + std::to_string(timeout.count()) + "|" +
                     std::to_string(connections_per_worker) + "|" + key_prefix;
    for (auto& a : addresses) id += "|" + a.text;
    return id;
}

namespace {

std::optional<address> parse_address(const std::string& text) {
    address a;
    a.text = text;
    if (text.starts_with("unix:")) {
        a.unix_path = text.substr(5);
        if (a.unix_path.empty() || a.unix_path.front() != '/') return std::nullopt;
        return a;
    }
    auto hp = config::parse_host_port(text);
    if (!hp || hp->host.empty() || hp->port == 0) return std::nullopt;
    a.host = hp->host;
    a.port = hp->port;
    return a;
}

std::optional<std::string> read_secret(const std::string& path) {
    auto s = util::read_file(path);
    if (!s) return std::nullopt;
    while (!s->empty() && (s->back() == '\n' || s->back() == '\r')) s->pop_back();  // `echo secret > file`
    return s;
}

}  // namespace

std::vector<store_spec> parse_stores(const YAML::Node& section, const std::string& path, config::diagnostics& d,
                                     std::vector<std::string>* watched) {
    std::vector<store_spec> out;
    if (!section.IsSequence()) {
        d.error(config::mark_of(section), path, "expected a list of { name, address, ... }");
        return out;
    }
    std::set<std::string> names;
    for (std::size_t i = 0; i < section.size(); ++i) {
        std::string ep = path + "[" + std::to_string(i) + "]";
        config::map_reader r(section[i], ep, d, {"name", "address", "username", "password_file", "timeout", "pool", "key_prefix"});
        if (!r.ok()) continue;
        store_spec s;
        s.mark = config::mark_of(section[i]);
        bool ok = true;
        if (auto n = r.string("name"); n && !n->empty()) s.name = *n;
        else {
            d.error(s.mark, ep + ".name", "required");
            ok = false;
        }
        if (!s.name.empty() && !names.insert(s.name).second) {
            r.error("name", "duplicate redis name '" + s.name + "'");
            ok = false;
        }
        std::vector<std::string> addrs;
        if (r.has("address")) {
            auto n = r.get("address");
            if (n.IsScalar()) addrs.push_back(n.Scalar());
            else if (auto l = r.string_list("address")) addrs = *l;
        } else {
            d.error(s.mark, ep + ".address", "required: host:port, unix:/path, or a list of them for failover");
            ok = false;
        }
        for (auto& t : addrs) {
            if (auto a = parse_address(t)) s.addresses.push_back(*a);
            else {
                r.error("address", "'" + t + "': expected host:port or unix:/absolute/path");
                ok = false;
            }
        }
        if (auto u = r.string("username")) s.username = *u;
        if (auto f = r.string("password_file")) {
            s.password_file = *f;
            if (watched) watched->push_back(*f);
            if (auto pw = read_secret(*f)) s.password = *pw;
            else {
                r.error("password_file", "cannot read " + *f);
                ok = false;
            }
        }
        if (!s.username.empty() && s.password_file.empty()) r.error("username", "needs password_file");
        if (auto t = r.duration_value("timeout")) {
            if (t->count() <= 0 || *t > std::chrono::seconds(10)) r.error("timeout", "expected a duration between 1ms and 10s");
            else s.timeout = *t;
        }
        if (r.has("pool")) {
            config::map_reader p(r.get("pool"), r.child_path("pool"), d, {"connections_per_worker"});
            if (auto c = p.integer("connections_per_worker", 1, 16)) s.connections_per_worker = static_cast<std::size_t>(*c);
            p.finish();
        }
        if (auto k = r.string("key_prefix")) s.key_prefix = *k;
        r.finish();
        if (ok) out.push_back(std::move(s));
    }
    return out;
}

void store_stats::observe(std::chrono::nanoseconds d) {
    double s = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < k_bounds.size() && s > k_bounds[i]) ++i;
    latency[i].fetch_add(1, std::memory_order_relaxed);
    latency_sum_us.fetch_add(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count()),
                             std::memory_order_relaxed);
}

store::store(store_spec spec, std::size_t workers) : spec_(std::move(spec)), workers_(workers) {}

store::~store() {
    // Each connection belongs to its worker's thread: close it there.
    for (auto& w : workers_)
        for (auto& c : w.conns) {
            auto& ioc = c->ioc();
            asio::post(ioc, [c] { c->close(); });
        }
}

namespace {
// error.type of a command: the error's prefix for a Redis error reply ("NOSCRIPT", "WRONGTYPE"),
// else what went wrong on our side; empty when it succeeded. Low cardinality by construction.
std::string_view error_type_of(const result& r) {
    switch (r.st) {
        case result::status::ok: break;
        case result::status::timeout: return "timeout";
        case result::status::unavailable: return "unavailable";  // the breaker is open: not sent
        case result::status::error: return "connection";
    }
    if (!r.reply.is_error()) return {};
    std::string_view t = r.reply.text;
    t = t.substr(0, t.find(' '));
    return t.empty() || t.size() > 32 ? std::string_view("redis_error") : t;
}
}  // namespace

// The command's CLIENT span (OpenTelemetry database conventions for Redis).
void store::record_call(middleware::call_tracer& trace, const result& r, std::string_view operation, const address& to,
                        std::chrono::steady_clock::time_point started) {
    middleware::client_call call;
    call.db_system = "redis";
    call.operation = operation;
    call.server_address = to.unix_path.empty() ? std::string_view(to.host) : std::string_view(to.unix_path);
    call.server_port = to.unix_path.empty() ? to.port : 0;
    call.error_type = error_type_of(r);
    call.start = started;
    call.end = std::chrono::steady_clock::now();
    trace.record(call);
}

connection& store::conn_for(std::size_t worker, asio::io_context& ioc) {
    auto& w = workers_[worker % workers_.size()];
    if (w.conns.empty())
        for (std::size_t i = 0; i < spec_.connections_per_worker; ++i)
            w.conns.push_back(std::make_shared<connection>(ioc, spec_, stats_, w.open));
    auto& c = *w.conns[w.next++ % w.conns.size()];
    return c;
}

asio::awaitable<result> store::call(std::size_t worker, asio::io_context& ioc, std::string command,
                                    std::chrono::steady_clock::time_point until, middleware::call_tracer* trace) {
    auto& c = conn_for(worker, ioc);
    const auto started = std::chrono::steady_clock::now();
    // What the span needs, taken before the command moves and the connection may move on to
    // its next address.
    const address* to = trace ? &c.current_address() : nullptr;
    const std::string operation = trace ? std::string(command_name(command)) : std::string();
    result r;
    if (!c.available()) {
        stats_.unavailable.fetch_add(1, std::memory_order_relaxed);
        r = result{result::status::unavailable, {}, "breaker open"};
    } else {
        r = co_await c.call(std::move(command), until);
    }
    if (trace) record_call(*trace, r, operation, *to, started);
    co_return r;
}

bool store::available(std::size_t worker) const {
    auto& w = workers_[worker % workers_.size()];
    for (auto& c : w.conns)
        if (c->available()) return true;
    return w.conns.empty();
}

bool store::all_available() const {
    for (auto& w : workers_)
        if (w.open.load(std::memory_order_relaxed)) return false;
    return true;
}

nlohmann::json store::status() const {
    nlohmann::json addrs = nlohmann::json::array();
    for (auto& a : spec_.addresses) addrs.push_back(a.text);
    std::size_t open = 0;
    for (auto& w : workers_) open += w.open.load(std::memory_order_relaxed) ? 1 : 0;
    return {{"name", spec_.name},
            {"addresses", addrs},
            {"mode", open == 0 ? "shared" : "fallback"},
            {"workers_in_fallback", open},
            {"timeout_ms", spec_.timeout.count()},
            {"commands",
             {{"ok", stats_.ok.load()},
              {"error", stats_.errors.load()},
              {"timeout", stats_.timeouts.load()},
              {"unavailable", stats_.unavailable.load()}}}};
}

namespace {
util::identity_registry<store> stores;
}

std::shared_ptr<store> get_store(const store_spec& spec, std::size_t workers) {
    return stores.get(spec.identity() + "|" + std::to_string(workers), [&] { return std::make_shared<store>(spec, workers); });
}

std::vector<std::shared_ptr<store>> all_stores() { return stores.all(); }

}  // namespace gatehouse::redis
