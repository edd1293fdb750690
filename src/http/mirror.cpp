#include "http/mirror.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "gatehouse/http/head.hpp"
#include "upstream/connect.hpp"
#include "upstream/pool.hpp"
#include "util/identity_registry.hpp"

namespace gatehouse::http {

namespace asio = boost::asio;

namespace {

util::identity_registry<mirror_counts> registry;
std::mutex keep_mu;
std::vector<std::shared_ptr<mirror_counts>> keep;  // counters live as long as the process

asio::awaitable<void> mirror(std::shared_ptr<upstream::cluster_state> cluster, std::string request, net::clock::duration timeout,
                             std::shared_ptr<mirror_counts> counts) {
    auto fail = [&] { counts->failed.fetch_add(1, std::memory_order_relaxed); };
    auto ep = cluster->size() == 0 ? upstream::k_no_endpoint : cluster->pick(0, false, upstream::k_no_endpoint);
    if (ep == upstream::k_no_endpoint) co_return fail();
    upstream::lease ls;
    ls.cluster = cluster;
    ls.conn = cluster->acquire(ep);
    auto& uc = *ls.conn;
    if (!uc.reused && co_await upstream::open_connection(*cluster, uc) != upstream::failure::none) co_return fail();
    uc.timer.arm(timeout);
    auto [wec, wn] = co_await uc.io.write(request, {});
    if (wec) co_return fail();
    // The shadow's answer is ignored; its head tells us it took the request. Then the
    // connection closes (the lease's destructor), whatever the body was.
    std::size_t scanned = 0;
    for (;;) {
        if (find_head_end(uc.buf.data(), scanned) != std::string_view::npos) break;
        scanned = uc.buf.size();
        if (uc.buf.size() > 65536) co_return fail();
        auto [ptr, room] = uc.buf.prepare(16384);
        auto [rec, rn] = co_await uc.io.read_some(ptr, room);
        if (rec) co_return fail();
        uc.buf.commit(rn);
    }
    counts->sent.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

std::shared_ptr<mirror_counts> mirror_counts_for(const std::string& route) {
    auto c = registry.get(route, [&] {
        auto m = std::make_shared<mirror_counts>();
        m->route = route;
        return m;
    });
    std::lock_guard lock(keep_mu);
    if (std::find(keep.begin(), keep.end(), c) == keep.end()) keep.push_back(c);
    return c;
}

std::vector<std::shared_ptr<mirror_counts>> all_mirror_counts() { return registry.all(); }

void start_mirror(asio::io_context& ioc, std::shared_ptr<upstream::cluster_state> cluster, std::string request, net::clock::duration timeout,
                  std::shared_ptr<mirror_counts> counts) {
    asio::co_spawn(ioc, mirror(std::move(cluster), std::move(request), timeout, std::move(counts)), asio::detached);
}

}  // namespace gatehouse::http
