#include "compose/graph.hpp"

#include <algorithm>

#include "compose/reference.hpp"

namespace gatehouse::compose {

namespace {

void body_references(const nlohmann::json& j, std::vector<reference>& out) {
    if (j.is_string()) {
        std::string error;
        if (auto t = parse_template(j.get<std::string>(), error))
            for (auto& p : *t)
                if (p.ref) out.push_back(*p.ref);
    } else if (j.is_structured()) {
        for (const auto& v : j) body_references(v, out);
    }
}

// The name a call's shaped response has for its first member: the field after rename, when
// fields.allow lists what survives.
bool exposes(const call_config& c, const std::string& member) {
    if (c.fields.allow.empty()) return std::find(c.fields.deny.begin(), c.fields.deny.end(), member) == c.fields.deny.end();
    for (auto& [from, to] : c.fields.rename)
        if (to == member && std::find(c.fields.allow.begin(), c.fields.allow.end(), from) != c.fields.allow.end()) return true;
    const bool renamed = std::any_of(c.fields.rename.begin(), c.fields.rename.end(), [&](auto& r) { return r.first == member; });
    return !renamed && std::find(c.fields.allow.begin(), c.fields.allow.end(), member) != c.fields.allow.end();
}

}  // namespace

std::vector<reference> references_of(const call_config& c) {
    std::vector<reference> out;
    for (auto& p : c.path)
        if (p.ref) out.push_back(*p.ref);
    if (c.body.k == body_config::kind::json) body_references(c.body.json, out);
    if (c.foreach) out.push_back(c.foreach->over);
    return out;
}

std::vector<graph_problem> link_calls(std::vector<call_config>& calls) {
    std::vector<graph_problem> problems;
    for (std::size_t i = 0; i < calls.size(); ++i) {
        auto& c = calls[i];
        c.after.clear();
        for (const auto& r : references_of(c)) {
            if (r.from == source::item && !c.foreach) problems.push_back({i, "{item...} is only for a call with foreach"});
            if (r.from != source::call) continue;
            auto it = std::find_if(calls.begin(), calls.end(), [&](const call_config& o) { return o.name == r.name; });
            if (it == calls.end()) {
                problems.push_back({i, "references '" + r.name + "', which is not a call of this composition"});
                continue;
            }
            const auto j = static_cast<std::size_t>(it - calls.begin());
            if (j == i) {
                problems.push_back({i, "references its own response"});
                continue;
            }
            if (!r.steps.empty() && !r.steps.front().is_index && !it->foreach && !exposes(*it, r.steps.front().key))
                problems.push_back({i, "references '" + r.name + "." + r.steps.front().key + "', a field call '" + r.name +
                                           "' does not keep (its fields.allow/deny)"});
            c.after.push_back(j);
        }
        std::sort(c.after.begin(), c.after.end());
        c.after.erase(std::unique(c.after.begin(), c.after.end()), c.after.end());
    }
    // Kahn's algorithm: what is left once no call without pending dependencies remains is a cycle.
    std::vector<std::size_t> pending(calls.size());
    for (std::size_t i = 0; i < calls.size(); ++i) pending[i] = calls[i].after.size();
    std::vector<bool> done(calls.size());
    for (bool progress = true; progress;) {
        progress = false;
        for (std::size_t i = 0; i < calls.size(); ++i) {
            if (done[i] || pending[i] != 0) continue;
            done[i] = progress = true;
            for (std::size_t k = 0; k < calls.size(); ++k)
                if (std::find(calls[k].after.begin(), calls[k].after.end(), i) != calls[k].after.end()) --pending[k];
        }
    }
    for (std::size_t i = 0; i < calls.size(); ++i)
        if (!done[i]) problems.push_back({i, "call '" + calls[i].name + "' is part of a reference cycle"});
    return problems;
}

std::vector<std::size_t> run_order(const std::vector<call_config>& calls) {
    std::vector<std::size_t> order;
    std::vector<bool> placed(calls.size());
    while (order.size() < calls.size()) {
        const auto before = order.size();
        for (std::size_t i = 0; i < calls.size(); ++i) {
            if (placed[i]) continue;
            const bool ready = std::all_of(calls[i].after.begin(), calls[i].after.end(), [&](std::size_t j) { return placed[j]; });
            if (!ready) continue;
            placed[i] = true;
            order.push_back(i);
        }
        if (order.size() == before) break;  // a cycle: link_calls reported it
    }
    return order;
}

}  // namespace gatehouse::compose
