#include "http/mirror.hpp"

#include "upstream/subrequest.hpp"
#include "util/identity_registry.hpp"

namespace gatehouse::http {

namespace asio = boost::asio;

namespace {

util::identity_registry<mirror_counts> registry;  // counters live as long as the process (get_kept)

}  // namespace

std::shared_ptr<mirror_counts> mirror_counts_for(const std::string& route) {
    return registry.get_kept(route, [&] {
        auto m = std::make_shared<mirror_counts>();
        m->route = route;
        return m;
    });
}

std::vector<std::shared_ptr<mirror_counts>> all_mirror_counts() { return registry.all(); }

void start_mirror(asio::io_context& ioc, std::shared_ptr<upstream::cluster_state> cluster, std::string request,
                  const upstream::call_options& o, std::shared_ptr<mirror_counts> counts, std::shared_ptr<const void> keep) {
    // The shadow's answer is ignored: its head tells us it took the request. Then the connection
    // closes, whatever the body was.
    upstream::subrequest r;
    r.request = std::move(request);
    r.options = o;
    r.keep = std::move(keep);
    upstream::start_subrequest(ioc, std::move(cluster), std::move(r), [counts = std::move(counts)](upstream::subresponse&& resp) {
        (resp.ok ? counts->sent : counts->failed).fetch_add(1, std::memory_order_relaxed);
    });
}

}  // namespace gatehouse::http
