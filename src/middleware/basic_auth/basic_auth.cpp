// basic_auth: RFC 7617 credentials checked against crypt(3) hashes (bcrypt $2b$, SHA-crypt $5$
// and $6$, yescrypt $y$) through Debian's libxcrypt. Hash checks are slow on purpose, so they run
// on a small thread pool, never on a worker; a successful check is remembered per worker for a
// few minutes so a busy client costs one hash lookup per request.
#include <crypt.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <list>
#include <memory>
#include <cstring>
#include <sstream>
#include <unordered_map>

#include "gatehouse/config/middleware_spec.hpp"
#include "middleware/basic_auth/basic_auth.hpp"
#include "middleware/common.hpp"
#include "middleware/registry.hpp"
#include "middleware/yaml_reader_access.hpp"
#include "util/base64.hpp"
#include "util/text.hpp"

namespace gatehouse::middleware {

namespace {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

constexpr auto k_cache_ttl = std::chrono::minutes(5);
constexpr std::size_t k_cache_entries = 10000;

// The pool that runs crypt(); shared by every basic_auth instance, created on first use.
asio::thread_pool& hash_pool() {
    static asio::thread_pool pool(2);
    return pool;
}
// Checks queued or running on the pool (all instances; each caps its own: max_pending_checks).
std::atomic<std::int64_t>& hash_queue() {
    static std::atomic<std::int64_t> n{0};
    return n;
}
std::atomic<std::uint64_t>& hash_rejections() {
    static std::atomic<std::uint64_t> n{0};
    return n;
}

bool check_hash(const std::string& hash, const std::string& password) {
    thread_local std::unique_ptr<crypt_data> data = std::make_unique<crypt_data>();
    std::memset(data.get(), 0, sizeof(crypt_data));
    const char* out = crypt_rn(password.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
    if (!out || out[0] == '*') return false;
    // constant-time comparison of the results
    std::size_t n = std::strlen(out);
    if (n != hash.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(out[i] ^ hash[i]);
    return diff == 0;
}

asio::awaitable<bool> check_on_pool(std::string hash, std::string password) { co_return check_hash(hash, password); }

struct basic_auth_spec final : config::middleware_spec {
    std::string realm = "gatehouse";
    std::unordered_map<std::string, std::string> users;  // user -> crypt hash
    std::string consumer_header = "x-consumer";
    bool forward_authorization = false;
    std::int64_t max_pending_checks = 256;  // password checks queued or running for this instance
    std::shared_ptr<const middleware> build(build_services& s, config::diagnostics&) const override;
};

class basic_auth final : public middleware {
public:
    basic_auth(basic_auth_spec s, std::size_t workers) : spec_(std::move(s)), caches_(workers) {
        challenge_ = "Basic realm=\"" + spec_.realm + "\", charset=\"UTF-8\"";
        // An unknown user is checked against a hash as slow as a real one: no timing oracle.
        dummy_hash_ = spec_.users.empty() ? std::string("$6$rounds=5000$gatehouse$") : spec_.users.begin()->second;
    }

    verdict on_request(request_context& ctx, local_reply& reply) const override {
        ctx.remove_upstream_header(spec_.consumer_header);
        auto auth = ctx.header("authorization");
        if (!auth || auth->size() < 6 || !http::iequals(auth->substr(0, 6), "basic ")) return deny(reply, "missing credentials");
        auto decoded = util::base64_decode(auth->substr(6));
        if (!decoded) return deny(reply, "malformed credentials");
        auto colon = decoded->find(':');
        if (colon == std::string::npos) return deny(reply, "malformed credentials");
        auto& st = ctx.state<credentials>();
        st.user = decoded->substr(0, colon);
        st.password = decoded->substr(colon + 1);
        auto& cache = caches_[ctx.worker];
        char hex[64];
        if (auto it = cache.map.find(sha256_hex(*decoded, hex)); it != cache.map.end() && clock::now() < it->second.expires)
            return allow(ctx, st.user);
        // Not cached: a crypt() on the hash pool. Its queue is bounded: beyond it, 503 at once
        // (a flood of wrong passwords must not queue every other login behind it).
        if (pending_->fetch_add(1, std::memory_order_relaxed) >= spec_.max_pending_checks) {
            pending_->fetch_sub(1, std::memory_order_relaxed);
            hash_rejections().fetch_add(1, std::memory_order_relaxed);
            reply = {503, "authentication is busy, retry shortly", {{"Retry-After", "1"}}};
            return verdict::reply;
        }
        hash_queue().fetch_add(1, std::memory_order_relaxed);
        st.queued = pending_;
        return verdict::suspend;
    }

    asio::awaitable<verdict> on_request_async(request_context& ctx, local_reply& reply) const override {
        // Set by on_request; copied, since the bcrypt check runs on another thread.
        const std::string user = ctx.state<credentials>().user, password = ctx.state<credentials>().password;
        auto it = spec_.users.find(user);
        bool known = it != spec_.users.end();
        std::string hash = known ? it->second : dummy_hash_;
        struct dequeue {
            credentials& st;
            ~dequeue() { st.leave_queue(); }
        } leave{ctx.state<credentials>()};
        bool ok = co_await asio::co_spawn(hash_pool(), check_on_pool(hash, password), asio::use_awaitable);
        if (!ok || !known) co_return deny(reply, "invalid credentials");
        auto& cache = caches_[ctx.worker];
        if (cache.map.size() >= k_cache_entries) cache.map.clear();  // bounded; rebuilt on demand
        cache.map[sha256_hex(user + ":" + password)] = {clock::now() + k_cache_ttl};
        co_return allow(ctx, user);
    }

private:
    verdict deny(local_reply& reply, const char* why) const {
        reply = {401, why, {{"WWW-Authenticate", challenge_}}};
        return verdict::reply;
    }
    verdict allow(request_context& ctx, const std::string& user) const {
        ctx.subject = user;
        if (valid_header_value(user)) ctx.add_upstream_header(spec_.consumer_header, user);
        if (!spec_.forward_authorization) ctx.remove_upstream_header("authorization");
        return verdict::next;
    }

    struct entry {
        clock::time_point expires;
    };
    struct alignas(64) cache {
        std::unordered_map<std::string, entry, util::string_hash, std::equal_to<>> map;
    };
    basic_auth_spec spec_;
    std::string challenge_;
    std::string dummy_hash_;
    mutable std::vector<cache> caches_;  // per worker: only that worker touches its cache
    // Checks of this instance queued or running (all workers); shared with the requests that hold
    // a place, which may end after a reload dropped the instance.
    std::shared_ptr<std::atomic<std::int64_t>> pending_ = std::make_shared<std::atomic<std::int64_t>>(0);
    struct credentials {  // per request (request_context::state)
        std::string user, password;
        std::shared_ptr<std::atomic<std::int64_t>> queued;  // the instance's count it holds a place in
        void leave_queue() {
            if (!queued) return;
            queued->fetch_sub(1, std::memory_order_relaxed);
            hash_queue().fetch_sub(1, std::memory_order_relaxed);
            queued.reset();
        }
        ~credentials() { leave_queue(); }
    };
};

std::shared_ptr<const middleware> basic_auth_spec::build(build_services& s, config::diagnostics&) const {
    return std::make_shared<basic_auth>(*this, s.workers);
}

void add_user(basic_auth_spec& spec, const std::string& user, const std::string& hash, const std::string& path, config::source_mark m,
              config::diagnostics& d) {
    if (user.empty() || user.find(':') != std::string::npos) {
        d.error(m, path, "user names must be non-empty and contain no ':'");
        return;
    }
    if (crypt_checksalt(hash.c_str()) != CRYPT_SALT_OK) {
        d.error(m, path, "not a supported password hash (bcrypt $2b$, SHA-crypt $5$/$6$, yescrypt $y$) for user '" + user + "'");
        return;
    }
    spec.users[user] = hash;
}

std::shared_ptr<config::middleware_spec> parse(const YAML::Node& n, const std::string& path, config::diagnostics& d, const YAML::Node&) {
    auto spec = std::make_shared<basic_auth_spec>();
    config::map_reader r(n, path, d, {"realm", "users", "users_file", "consumer_header", "forward_authorization", "max_pending_checks"});
    if (!r.ok()) return nullptr;
    if (auto realm = r.string("realm")) {
        if (!valid_header_value(*realm) || realm->find('"') != std::string::npos)
            r.error("realm", "must not contain quotes or control characters");
        else spec->realm = *realm;
    }
    if (r.has("users")) {
        auto list = r.get("users");
        if (!list.IsSequence()) r.error("users", "expected a list of { user: NAME, hash: CRYPT-HASH }");
        else
            for (std::size_t i = 0; i < list.size(); ++i) {
                std::string ep = r.child_path("users") + "[" + std::to_string(i) + "]";
                config::map_reader u(list[i], ep, d, {"user", "hash"});
                auto user = u.string("user"), hash = u.string("hash");
                if (user && hash) add_user(*spec, *user, *hash, ep, mark(list[i]), d);
                else d.error(mark(list[i]), ep, "needs user and hash");
                u.finish();
            }
    }
    if (auto f = r.string("users_file")) {
        // htpasswd format: one "user:hash" per line; '#' comments.
        spec->watched_files.push_back(*f);
        if (auto text = read_text_file(*f, r.child_path("users_file"), mark(r.get("users_file")), d)) {
            std::istringstream in(*text);
            std::string line;
            int lineno = 0;
            while (std::getline(in, line)) {
                ++lineno;
                if (line.empty() || line[0] == '#') continue;
                auto colon = line.find(':');
                if (colon == std::string::npos) {
                    d.error(mark(r.get("users_file")), r.child_path("users_file"),
                            *f + ":" + std::to_string(lineno) + ": expected user:hash");
                    continue;
                }
                add_user(*spec, line.substr(0, colon), line.substr(colon + 1),
                         r.child_path("users_file") + " (" + *f + ":" + std::to_string(lineno) + ")", mark(r.get("users_file")), d);
            }
        }
    }
    if (!r.has("users") && !r.has("users_file")) d.error(mark(n), path, "needs users or users_file");
    if (auto h = r.string("consumer_header")) {
        if (!is_header_name(*h)) r.error("consumer_header", "not a header name");
        spec->consumer_header = util::ascii_lower(*h);
    }
    if (auto f = r.boolean("forward_authorization")) spec->forward_authorization = *f;
    if (auto m = r.integer("max_pending_checks", 1, 1'000'000)) spec->max_pending_checks = *m;
    r.finish();
    return spec;
}

}  // namespace

void register_basic_auth() { config::register_middleware_type("basic_auth", parse); }

std::uint64_t basic_auth_hash_rejections() { return hash_rejections().load(std::memory_order_relaxed); }
std::int64_t basic_auth_hash_queue() { return hash_queue().load(std::memory_order_relaxed); }

}  // namespace gatehouse::middleware
