#pragma once
// routes[].mirror: a copy of a request sent to another upstream, fire-and-forget. It runs as an
// upstream subrequest on the worker (admitted by the shadow's breaker and limits, counted in its
// metrics), never delays or changes the client's answer, reads the shadow's response head and
// drops the connection. Only requests whose whole body is in hand
// (no body, or a Content-Length body of at most 64 KiB that arrived with the head) are
// mirrored; others are counted as skipped.
#include <boost/asio/io_context.hpp>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "upstream/call.hpp"

namespace gatehouse::http {

struct mirror_counts {
    std::string route;
    std::atomic<std::uint64_t> sent{0}, failed{0}, skipped{0};
};

// The counters of a route's mirror (kept across reloads, by route name).
std::shared_ptr<mirror_counts> mirror_counts_for(const std::string& route);
std::vector<std::shared_ptr<mirror_counts>> all_mirror_counts();

// `keep`: what the options point into (the copy's CLIENT span when the request is traced).
void start_mirror(boost::asio::io_context& ioc, std::shared_ptr<upstream::cluster_state> cluster, std::string request,
                  const upstream::call_options& o, std::shared_ptr<mirror_counts> counts, std::shared_ptr<const void> keep = {});

}  // namespace gatehouse::http
