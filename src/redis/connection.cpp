#include "redis/connection.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <random>

namespace gatehouse::redis {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
constexpr unsigned k_failures_to_open = 3;
constexpr std::size_t k_max_queue = 4096;  // outstanding commands per connection; beyond: reset
constexpr auto k_max_backoff = 2000ms;
}  // namespace

connection::connection(asio::io_context& ioc, const store_spec& spec, store_stats& stats, std::atomic<bool>& open_flag)
    : ioc_(ioc),
      spec_(spec),
      stats_(stats),
      open_flag_(open_flag),
      tcp_(ioc),
      unix_(ioc),
      resolver_(ioc),
      probe_timer_(ioc),
      rng_(std::random_device{}()) {}

void connection::close() {
    ++epoch_;
    boost::system::error_code ec;
    tcp_.close(ec);
    unix_.close(ec);
    resolver_.cancel();
    probe_timer_.cancel();
    fail_all("connection closed");
    state_ = state::closed;
}

asio::awaitable<result> connection::call(std::string command, std::chrono::steady_clock::time_point until) {
    return send(std::move(command), until, purpose::caller);
}

asio::awaitable<result> connection::send(std::string command, std::chrono::steady_clock::time_point until, purpose what) {
    if (open_ && what != purpose::probe) co_return result{result::status::unavailable, {}, "breaker open"};
    if (queue_.size() >= k_max_queue) {
        // Redis stopped answering while callers kept coming: start over on a new connection.
        fail_all("too many commands outstanding");
        close();
    }
    const auto start = std::chrono::steady_clock::now();
    until = std::min(until, start + spec_.timeout);
    waiter w(ioc_);
    queue_.push_back({&w, what});
    pending* mine = &queue_.back();  // deque: stays put while others are pushed and popped
    out_ += command;
    if (state_ == state::closed) connect();
    else if (state_ == state::ready) flush();
    w.timer.expires_at(until);
    co_await w.timer.async_wait(asio::as_tuple(asio::use_awaitable));  // the reply cancels it
    if (!w.done) {
        // Not answered in time: stop waiting. The entry stays in the queue (replies come in
        // order) and its reply will be dropped; or the connection resets and drops it.
        for (auto& p : queue_)
            if (&p == mine) p.w = nullptr;
        stats_.timeouts.fetch_add(1, std::memory_order_relaxed);
        failure("timed out after " + std::to_string(spec_.timeout.count()) + " ms");
        co_return result{result::status::timeout, {}, "timed out"};
    }
    if (w.res.ok()) {
        stats_.ok.fetch_add(1, std::memory_order_relaxed);
        stats_.observe(std::chrono::steady_clock::now() - start);
    } else {
        stats_.errors.fetch_add(1, std::memory_order_relaxed);
    }
    co_return std::move(w.res);
}

void connection::finish(waiter* w, result r) {
    if (!w) return;
    w->res = std::move(r);
    w->done = true;
    w->timer.cancel();
}

void connection::connect() {
    state_ = state::connecting;
    const auto& a = spec_.addresses[address_ % spec_.addresses.size()];
    auto epoch = ++epoch_;
    auto self = shared_from_this();
    in_.clear();
    writing_.clear();
    write_busy_ = false;
    auto done = [this, self, epoch, a](boost::system::error_code ec) {
        if (epoch != epoch_) return;
        if (ec) {
            ++address_;  // the next configured address next time
            spdlog::debug("redis {}: connect to {} failed: {}", spec_.name, a.text, ec.message());
            fail_all("connect to " + a.text + " failed: " + ec.message());
            state_ = state::closed;
            failure("connect failed");
            return;
        }
        on_connected();
    };
    if (!a.unix_path.empty()) {
        use_unix_ = true;
        unix_ = asio::local::stream_protocol::socket(ioc_);
        unix_.async_connect(asio::local::stream_protocol::endpoint(a.unix_path), done);
        return;
    }
    use_unix_ = false;
    tcp_ = asio::ip::tcp::socket(ioc_);
    resolver_.async_resolve(a.host, std::to_string(a.port),
                            [this, self, epoch, done](boost::system::error_code ec, asio::ip::tcp::resolver::results_type r) {
                                if (epoch != epoch_) return;
                                if (ec) return done(ec);
                                asio::async_connect(tcp_, r,
                                                    [done](boost::system::error_code ec2, const asio::ip::tcp::endpoint&) { done(ec2); });
                            });
}

void connection::on_connected() {
    state_ = state::ready;
    if (!use_unix_) {
        boost::system::error_code ec;
        tcp_.set_option(asio::ip::tcp::no_delay(true), ec);
    }
    if (!spec_.password.empty()) {
        // First on the wire, so its reply is the first one read.
        std::string auth;
        if (spec_.username.empty()) append_command(auth, {"AUTH", spec_.password});
        else append_command(auth, {"AUTH", spec_.username, spec_.password});
        out_.insert(0, auth);
        queue_.push_front({nullptr, purpose::auth});
    }
    start_read();
    flush();
}

void connection::flush() {
    if (write_busy_ || out_.empty() || state_ != state::ready) return;
    write_busy_ = true;
    writing_.swap(out_);
    out_.clear();
    auto self = shared_from_this();
    auto epoch = epoch_;
    auto done = [this, self, epoch](boost::system::error_code ec, std::size_t) {
        if (epoch != epoch_) return;
        write_busy_ = false;
        writing_.clear();
        if (ec) {
            fail_all("write failed: " + ec.message());
            close();
            failure("write failed");
            return;
        }
        flush();
    };
    if (use_unix_) asio::async_write(unix_, asio::buffer(writing_), done);
    else asio::async_write(tcp_, asio::buffer(writing_), done);
}

void connection::start_read() {
    auto self = shared_from_this();
    auto epoch = epoch_;
    std::size_t old = in_.size();
    in_.resize(old + 16384);
    auto done = [this, self, epoch, old](boost::system::error_code ec, std::size_t n) {
        if (epoch != epoch_) return;
        in_.resize(old + n);
        if (ec) {
            fail_all("connection lost: " + ec.message());
            close();
            failure("connection lost");
            return;
        }
        std::size_t at = 0;
        for (;;) {
            value v;
            std::size_t used = 0;
            auto st = parse(std::string_view(in_).substr(at), v, used);
            if (st == parse_status::incomplete) break;
            if (st == parse_status::bad) {
                spdlog::warn("redis {}: not a RESP reply; reconnecting", spec_.name);
                fail_all("protocol error");
                close();
                failure("protocol error");
                return;
            }
            at += used;
            on_reply(std::move(v));
            if (epoch != epoch_) return;  // the reply closed the connection (AUTH refused)
        }
        in_.erase(0, at);
        start_read();
    };
    auto buf = asio::buffer(in_.data() + old, in_.size() - old);
    if (use_unix_) unix_.async_read_some(buf, done);
    else tcp_.async_read_some(buf, done);
}

void connection::on_reply(value v) {
    if (queue_.empty()) {  // a reply nobody asked for
        fail_all("unexpected reply");
        close();
        return;
    }
    pending p = queue_.front();
    queue_.pop_front();
    if (p.what == purpose::auth) {
        if (v.is_error()) {
            spdlog::error("redis {}: AUTH refused: {}", spec_.name, v.text);
            fail_all("AUTH refused: " + v.text);
            close();
            failure("AUTH refused");
        }
        return;
    }
    success();
    finish(p.w, result{result::status::ok, std::move(v), {}});
}

void connection::fail_all(const std::string& why) {
    auto q = std::move(queue_);
    queue_.clear();
    out_.clear();
    for (auto& p : q) finish(p.w, result{result::status::error, {}, why});
}

void connection::failure(const std::string& why) {
    if (++failures_ < k_failures_to_open || open_) {
        if (open_ && !probing_) schedule_probe();
        return;
    }
    open_ = true;
    open_flag_.store(true, std::memory_order_relaxed);
    spdlog::warn("redis {}: {} failures in a row ({}): not used until it answers a PING", spec_.name, failures_, why);
    backoff_ = 100ms;
    schedule_probe();
}

void connection::success() {
    failures_ = 0;
    if (!open_) return;
    open_ = false;
    open_flag_.store(false, std::memory_order_relaxed);
    probe_timer_.cancel();
    spdlog::info("redis {}: answering again; back in use", spec_.name);
}

void connection::schedule_probe() {
    probing_ = true;
    // Full jitter on an exponential backoff: replicas and workers do not probe in step.
    auto ms = static_cast<std::uint64_t>(backoff_.count());
    rng_ = rng_ * 6364136223846793005ULL + 1442695040888963407ULL;
    auto wait = std::chrono::milliseconds(ms / 2 + (rng_ >> 33) % (ms / 2 + 1));
    backoff_ = std::min<std::chrono::milliseconds>(backoff_ * 2, k_max_backoff);
    probe_timer_.expires_after(wait);
    auto self = shared_from_this();
    probe_timer_.async_wait([this, self](boost::system::error_code ec) {
        probing_ = false;
        if (ec || !open_) return;
        probe();
    });
}

void connection::probe() {
    auto self = shared_from_this();
    probing_ = true;
    asio::co_spawn(
        ioc_,
        [self]() -> asio::awaitable<void> {
            std::string ping;
            append_command(ping, {"PING"});
            auto r = co_await self->send(std::move(ping), std::chrono::steady_clock::now() + self->spec_.timeout, purpose::probe);
            self->probing_ = false;
            if (r.ok() && !r.reply.is_error()) co_return;  // success() closed the breaker
            if (self->open_) self->schedule_probe();
        },
        asio::detached);
}

}  // namespace gatehouse::redis
