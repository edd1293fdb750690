#pragma once
// Endpoints as discovery publishes them: complete, immutable sets per upstream, handed to the
// workers only when they changed. No Asio here: workers turn addresses into sockets themselves.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace gatehouse::discovery {

struct endpoint {
    std::string address;  // an IP literal (no brackets)
    std::uint16_t port = 0;
    std::uint32_t weight = 1;
    std::uint32_t priority = 0;  // lower is preferred (SRV); the lowest group present takes traffic
    std::string zone;            // when the source says (etcd/file "zone")
    std::string name;            // as the source named it ("users-b.internal:8080"), for logs
    std::string source;          // where it came from ("static", "dns A orders.svc", "etcd /services/x/a")

    // Identity in pools and diffs: the socket address.
    std::string key() const;
    bool operator==(const endpoint&) const = default;
};

struct endpoint_set {
    std::uint64_t version = 0;        // grows with every published change of this upstream
    std::vector<endpoint> endpoints;  // sorted by key(), no duplicate keys
};

// Sorts by key and keeps the first of endpoints sharing one (a name listed twice, an address
// reached through two records).
std::vector<endpoint> normalise(std::vector<endpoint> eps);

struct endpoint_diff {
    std::vector<std::string> added, removed, changed;  // keys; changed: same key, other weight/priority/...
    bool empty() const { return added.empty() && removed.empty() && changed.empty(); }
};
// Both sides normalised.
endpoint_diff diff(std::span<const endpoint> before, std::span<const endpoint> after);

// The priority group that takes traffic: the lowest priority value present (SRV, RFC 2782).
std::uint32_t lowest_priority(std::span<const endpoint> eps);

}  // namespace gatehouse::discovery
