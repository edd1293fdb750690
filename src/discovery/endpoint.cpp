#include "gatehouse/discovery/endpoint.hpp"

#include <algorithm>
#include <limits>

namespace gatehouse::discovery {

std::string endpoint::key() const {
    bool v6 = address.find(':') != std::string::npos;
    return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

std::vector<endpoint> normalise(std::vector<endpoint> eps) {
    std::stable_sort(eps.begin(), eps.end(), [](const endpoint& a, const endpoint& b) { return a.key() < b.key(); });
    auto last = std::unique(eps.begin(), eps.end(), [](const endpoint& a, const endpoint& b) { return a.key() == b.key(); });
    eps.erase(last, eps.end());
    return eps;
}

endpoint_diff diff(std::span<const endpoint> before, std::span<const endpoint> after) {
    endpoint_diff d;
    std::size_t i = 0, j = 0;
    while (i < before.size() || j < after.size()) {
        if (j == after.size() || (i < before.size() && before[i].key() < after[j].key())) {
            d.removed.push_back(before[i++].key());
        } else if (i == before.size() || after[j].key() < before[i].key()) {
            d.added.push_back(after[j++].key());
        } else {
            if (!(before[i] == after[j])) d.changed.push_back(after[j].key());
            ++i;
            ++j;
        }
    }
    return d;
}

std::uint32_t lowest_priority(std::span<const endpoint> eps) {
    std::uint32_t p = std::numeric_limits<std::uint32_t>::max();
    for (auto& e : eps) p = std::min(p, e.priority);
    return eps.empty() ? 0 : p;
}

}  // namespace gatehouse::discovery
