#include "server/worker.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "server/memory_guard.hpp"

#include <boost/asio/post.hpp>
#include <random>
#include <unistd.h>

#include "observability/access_log.hpp"
#include "observability/trace_context.hpp"
#include "server/listen_socket.hpp"

#include "http1/session.hpp"

namespace gatehouse::server {

namespace asio = boost::asio;
using namespace std::chrono_literals;

worker::worker(unsigned id, std::shared_ptr<const snapshot> snap) : id_(id), ticker_(ioc_) {
    std::random_device rd;
    rng_[0] = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ (id + 1);
    rng_[1] = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ 0x9e3779b97f4a7c15ull;
    install(std::move(snap));
}

worker::~worker() = default;

std::uint64_t worker::random() {
    // xorshift128+
    std::uint64_t s1 = rng_[0];
    const std::uint64_t s0 = rng_[1];
    rng_[0] = s0;
    s1 ^= s1 << 23;
    rng_[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return rng_[1] + s0;
}

std::string_view worker::new_request_id(char (&buf)[32]) {
    observability::hex16(random(), buf);
    observability::hex16(random(), buf + 16);
    return {buf, 32};
}

void worker::add_listener(int fd, config::listener_config cfg, std::string key, std::shared_ptr<observability::listener_stats> stats,
                          std::shared_ptr<connection_count> open) {
    asio::ip::tcp::acceptor acc(ioc_);
    acc.assign(is_ipv6_socket(fd) ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), fd);
    auto l = std::make_shared<listener_state>(std::move(acc), std::move(cfg), std::move(key), std::move(stats), std::move(open));
    listeners_.push_back(l);
    if (running_ && !accepting_stopped_) start_accept(l);
}

void worker::post_add_listener(int fd, config::listener_config cfg, std::string key, std::shared_ptr<observability::listener_stats> stats,
                               std::shared_ptr<connection_count> open) {
    asio::post(ioc_, [this, fd, cfg = std::move(cfg), key = std::move(key), stats = std::move(stats), open = std::move(open)]() mutable {
        if (accepting_stopped_) {
            ::close(fd);
            return;
        }
        add_listener(fd, std::move(cfg), std::move(key), std::move(stats), std::move(open));
    });
}

void worker::post_update_listener(std::string key, config::listener_config cfg, std::shared_ptr<observability::listener_stats> stats) {
    asio::post(ioc_, [this, key = std::move(key), cfg = std::move(cfg), stats = std::move(stats)] {
        // Sessions copy what they need at accept time; new connections see the new settings.
        for (auto& l : listeners_)
            if (l->key == key) {
                l->cfg = cfg;
                l->stats = stats;
            }
    });
}

void worker::post_remove_listener(std::string key) {
    asio::post(ioc_, [this, key = std::move(key)] {
        std::erase_if(listeners_, [&](const std::shared_ptr<listener_state>& l) {
            if (l->key != key) return false;
            boost::system::error_code ec;
            l->acceptor.close(ec);
            return true;
        });
    });
}

void worker::post_collect_stats(std::function<void(std::vector<endpoint_stats>)> done) {
    asio::post(ioc_, [this, done = std::move(done)] {
        std::vector<endpoint_stats> out;
        for (auto& c : clusters_) c->collect(out);
        done(std::move(out));
    });
}

void worker::install(std::shared_ptr<const snapshot> snap) {
    std::unordered_map<std::string, std::shared_ptr<upstream::cluster_state>> next;
    std::vector<std::shared_ptr<upstream::cluster_state>> list;
    for (std::size_t i = 0; i < snap->clusters.size(); ++i) {
        auto& c = snap->clusters[i];
        auto it = by_identity_.find(c->identity);
        std::shared_ptr<upstream::cluster_state> st;
        if (it != by_identity_.end()) st = it->second;
        else st = make_cluster(c, *snap, i);
        next[c->identity] = st;
        list.push_back(st);
    }
    for (auto& [identity, st] : by_identity_)
        if (!next.count(identity)) st->retire();  // leased connections finish, then close
    by_identity_ = std::move(next);
    clusters_ = std::move(list);
    batch_.set_wait(snap->config.event_loop.batch_wait);
    if (snap_ && snap_->access_log && snap_->access_log != snap->access_log) snap_->access_log->submit(id_);
    // This worker's own reference: a shared_ptr whose control block belongs to this worker (it
    // owns one reference to the shared snapshot and points at it), so the copy every request
    // makes is an atomic add on a line no other core writes. Copying the control thread's
    // pointer itself would make every worker's requests contend on one cache line.
    auto mine = std::make_shared<const std::shared_ptr<const snapshot>>(std::move(snap));
    snap_ = std::shared_ptr<const snapshot>(mine, mine->get());
}

std::shared_ptr<upstream::cluster_state> worker::cluster_for(const snapshot& s, std::size_t index) {
    if (&s == snap_.get()) return clusters_[index];
    // The request began on an older snapshot: find the same upstream by identity, or give it a
    // private, retired state so its connections close when it is done.
    auto& def = s.clusters[index];
    auto it = by_identity_.find(def->identity);
    if (it != by_identity_.end()) return it->second;
    auto st = make_cluster(def, s, index);
    st->retire();
    return st;
}

std::shared_ptr<upstream::cluster_state> worker::make_cluster(const std::shared_ptr<const cluster>& def, const snapshot& s,
                                                              std::size_t index) {
    auto it = endpoint_sets_.find(def->name);
    return std::make_shared<upstream::cluster_state>(def, ioc_, deadlines_, random(),
                                                     index < s.cluster_stats.size() ? s.cluster_stats[index] : nullptr, id_,
                                                     it == endpoint_sets_.end() ? nullptr : it->second);
}

void worker::post_endpoints(std::string upstream, std::shared_ptr<const discovery::endpoint_set> set) {
    asio::post(ioc_, [this, upstream = std::move(upstream), set = std::move(set)]() mutable {
        for (auto& [identity, st] : by_identity_)
            if (st->def().name == upstream) st->update(set);
        endpoint_sets_[upstream] = std::move(set);
    });
}

void worker::post_snapshot(std::shared_ptr<const snapshot> snap, std::function<void()> installed) {
    asio::post(ioc_, [this, snap = std::move(snap), installed = std::move(installed)]() mutable {
        install(std::move(snap));
        if (installed) installed();
    });
}

void worker::post_soft_drain() {
    asio::post(ioc_, [this] { draining_ = true; });
}

void worker::post_stop_accepting() {
    asio::post(ioc_, [this] {
        draining_ = true;
        if (accepting_stopped_) return;
        accepting_stopped_ = true;
        // close() releases this process's reference only: after a binary upgrade the next
        // process holds the same listening sockets and keeps accepting on them.
        for (auto& l : listeners_) {
            boost::system::error_code ec;
            l->acceptor.close(ec);
        }
        listeners_.clear();
        for (auto& c : clusters_) c->close_idle();
        deadlines_.tick(coarse_now(), true);  // connections idle for a while close now, the rest soon
        spdlog::info("worker {} draining: stopped accepting, {} connection(s) left", id_, sessions_);
    });
}

namespace {}  // namespace

bool worker::shed_for_memory() {
    auto& m = memory();
    if (!m.over.load(std::memory_order_relaxed)) return false;
    m.rejected.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void worker::start_accept(const std::shared_ptr<listener_state>& l) {
    l->acceptor.async_accept(l->peer, [this, l](boost::system::error_code ec, asio::ip::tcp::socket sock) {
        if (ec) {
            if (ec == asio::error::operation_aborted || !l->acceptor.is_open()) return;
            if (out_of_resources(ec)) {
                accept_backoff(l, ec);
                return;
            }
            spdlog::warn("worker {}: accept on {} failed: {}", id_, l->cfg.name, ec.message());
        } else {
            if (l->exhausted.failures) {
                auto secs = std::chrono::duration<double>(clock::now() - l->exhausted.since).count();
                spdlog::warn("worker {}: accepting on {} again after {} failed accepts over {:.1f} s", id_, l->cfg.name,
                             l->exhausted.failures, secs);
                l->exhausted = {};
            }
            // Even when accepting has just stopped: this connection was accepted already, and
            // dropping it would reset a client whose request may be on its way. It gets its
            // request answered (with Connection: close while draining).
            if (l->admit(snap_->config.limits.max_connections)) {
                http1::start_session(*this, l, std::move(sock), l->peer);
            } else {
                // Over a max_connections limit: closed at once (HTTP-EDGE-CASES #61), counted.
                if (l->stats) l->stats->at(id_).rejected.add();
                boost::system::error_code ignored;
                sock.close(ignored);
            }
            if (!ticking_) tick();  // the tick had stopped for a drained worker: deadlines need it
        }
        if (!accepting_stopped_ && l->acceptor.is_open()) start_accept(l);
    });
}

std::uint64_t resident_bytes() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    const int n = std::fscanf(f, "%lu %lu", &size, &resident);
    std::fclose(f);
    return n == 2 ? static_cast<std::uint64_t>(resident) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

std::uint64_t release_free_heap() {
    // Resident bytes beyond those in use right after the last trim (code, stacks, what malloc
    // keeps): a trim walks every free chunk with its arena locked, so it runs again only when
    // that excess grew by the margin, not every time a large, fragmented heap has free bytes.
    static std::uint64_t excess_after_trim = 0;  // the control thread's
    const struct mallinfo2 mi = ::mallinfo2();
    const std::uint64_t in_use = mi.uordblks + mi.hblkhd, free = mi.fordblks;
    const std::uint64_t margin = std::max<std::uint64_t>(std::uint64_t{512} << 10, in_use / 16);
    const auto excess = [in_use] {
        const auto rss = resident_bytes();
        return rss > in_use ? rss - in_use : 0;
    };
    if (free < margin || excess() < excess_after_trim + margin) return 0;
    ::malloc_trim(0);
    excess_after_trim = excess();
    return free;
}

bool worker::out_of_resources(const boost::system::error_code& ec) {
    return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space || ec == asio::error::no_memory ||
           ec == boost::system::error_code(ENFILE, boost::system::system_category());
}

// fd exhaustion (EMFILE/ENFILE) and the like: the pending connection stays in the backlog and
// the listening socket stays readable, so accepting again at once would spin. Back off, doubling
// from 10 ms to 1 s; existing connections are served meanwhile. One log line when an episode
// starts (and one when it ends), the failures counted in between.
void worker::accept_backoff(const std::shared_ptr<listener_state>& l, const boost::system::error_code& ec) {
    auto& ex = l->exhausted;
    if (ex.failures++ == 0) {
        ex.since = clock::now();
        ex.backoff = 10ms;
        spdlog::error(
            "worker {}: accept on {} failed: {}; backing off (up to 1 s) until it succeeds, failures counted in "
            "gatehouse_accept_failures_total",
            id_, l->cfg.name, ec.message());
    } else {
        ex.backoff = std::min<std::chrono::milliseconds>(ex.backoff * 2, 1s);
    }
    if (l->stats) l->stats->at(id_).accept_failures.add();
    auto t = std::make_shared<asio::steady_timer>(ioc_, ex.backoff);
    t->async_wait([this, l, t](boost::system::error_code) {
        if (!accepting_stopped_ && l->acceptor.is_open()) start_accept(l);
    });
}

void worker::tick() {
    ticking_ = true;
    ticker_.expires_after(100ms);
    ticker_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        auto now = clock::now();
        deadlines_.tick(now, accepting_stopped_);
        if (snap_->access_log) snap_->access_log->submit(id_);
        for (auto& c : clusters_) c->watch_idle_connections();
        if (now - last_sweep_ >= 1s) {
            last_sweep_ = now;
            for (auto& c : clusters_) c->sweep(now);
        }
        if (accepting_stopped_ && sessions_ == 0) {
            for (auto& c : clusters_) c->close_idle();
            if (snap_->access_log) snap_->access_log->submit(id_);
            ticking_ = false;
            return;  // nothing left: the io_context runs out of work and run() returns
        }
        tick();
    });
}

void worker::run(std::function<void(bool failed)> on_exit) {
    running_ = true;
    for (auto& l : listeners_) start_accept(l);
    tick();
    bool failed = false;
    net::idle_batch::scope batching(&batch_);
    try {
        ioc_.run();
    } catch (const std::exception& e) {
        failed = true;
        spdlog::critical("worker {} stopped by an exception: {}", id_, e.what());
    } catch (...) {
        failed = true;
        spdlog::critical("worker {} stopped by an exception", id_);
    }
    if (failed) {
        // Nobody runs this worker's event loop any more: its SO_REUSEPORT sockets must not stay
        // open, or the kernel would keep handing them new connections nobody accepts. The
        // daemon then drains the other workers and exits non-zero (docs/operations.md).
        for (auto& l : listeners_) {
            boost::system::error_code ec;
            l->acceptor.close(ec);
        }
    }
    on_exit(failed);
}

void worker::post_fault_for_tests() {
    asio::post(ioc_, [] { throw std::runtime_error("injected by POST /-/test/worker-exception"); });
}

}  // namespace gatehouse::server
