#include "server/worker_count.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "util/read_file.hpp"

namespace gatehouse::server {

namespace {

std::optional<std::uint64_t> number(std::string_view s) {
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

// The "0::PATH" line of /proc/self/cgroup (cgroup v2's unified hierarchy), or "/" without one.
std::string unified_path(std::string_view self_cgroup) {
    while (!self_cgroup.empty()) {
        auto eol = self_cgroup.find('\n');
        auto line = self_cgroup.substr(0, eol);
        // A cgroup outside the namespace's root shows as "/../x": only the root's file is ours then.
        if (line.starts_with("0::")) return line.find("/..") == std::string_view::npos ? std::string(line.substr(3)) : "/";
        if (eol == std::string_view::npos) break;
        self_cgroup.remove_prefix(eol + 1);
    }
    return "/";
}

std::string cpus_text(double cpus) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", cpus);
    return buf;
}

}  // namespace

cpu_max parse_cpu_max(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    auto space = text.find(' ');
    auto quota = text.substr(0, space);
    std::uint64_t period = 100000;  // the kernel's default, when only the quota was written
    if (space != std::string_view::npos) {
        auto p = number(text.substr(space + 1));
        if (!p || *p == 0) return {cpu_max::state::invalid, 0};
        period = *p;
    }
    if (quota == "max") return {cpu_max::state::unlimited, 0};
    auto q = number(quota);
    if (!q || *q == 0) return {cpu_max::state::invalid, 0};
    return {cpu_max::state::limited, static_cast<double>(*q) / static_cast<double>(period)};
}

worker_choice auto_workers(unsigned affinity_cpus, const std::string& cgroup_root, std::string_view self_cgroup) {
    affinity_cpus = std::max(1u, affinity_cpus);
    std::optional<double> tightest;
    std::string problem;
    // From the process's own cgroup up to the root: a parent's quota limits its children too.
    std::string rel = unified_path(self_cgroup);
    for (;;) {
        while (rel.size() > 1 && rel.back() == '/') rel.pop_back();
        const std::string dir = rel == "/" || rel.empty() ? cgroup_root : cgroup_root + rel;
        const std::string file = dir + "/cpu.max";
        if (auto text = util::read_file(file)) {
            auto m = parse_cpu_max(*text);
            if (m.what == cpu_max::state::limited && (!tightest || m.cpus < *tightest)) tightest = m.cpus;
            if (m.what == cpu_max::state::invalid && problem.empty()) problem = "; ignored " + file + ": not a cpu.max line";
        }
        if (rel == "/" || rel.empty()) break;
        auto slash = rel.rfind('/');
        rel = slash == 0 || slash == std::string::npos ? "/" : rel.substr(0, slash);
    }
    const std::string mask = std::to_string(affinity_cpus) + " in the affinity mask";
    if (!tightest) return {affinity_cpus, mask + "; no cgroup cpu.max quota" + problem};
    const auto by_quota = static_cast<unsigned>(std::max(1.0, std::ceil(*tightest - 1e-9)));
    return {std::min(by_quota, affinity_cpus), "cgroup cpu.max quota " + cpus_text(*tightest) + " CPUs; " + mask + problem};
}

worker_choice auto_workers(unsigned affinity_cpus) {
    return auto_workers(affinity_cpus, "/sys/fs/cgroup", util::read_file("/proc/self/cgroup").value_or(std::string()));
}

}  // namespace gatehouse::server
