#pragma once
// `workers: auto`: as many workers as the process may really run in parallel, the smaller of the
// CPUs in its affinity mask and its cgroup v2 CPU quota (cpu.max), like Go's GOMAXPROCS and the
// JVM's active processor count. A pod limited to 2 CPUs on a 64-core node gets 2 workers, not 64.
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::server {

// What one cgroup v2 cpu.max file says: "$MAX $PERIOD", $MAX a number of microseconds or "max".
struct cpu_max {
    enum class state { absent, unlimited, limited, invalid } what = state::absent;
    double cpus = 0;  // quota / period when limited ("150000 100000" -> 1.5)
};

// "max 100000" -> unlimited; "200000 100000" -> limited, 2.0; "max" alone -> unlimited (the
// period is optional when writing the file); anything else -> invalid.
cpu_max parse_cpu_max(std::string_view text);

struct worker_choice {
    unsigned workers = 1;
    std::string why;  // "cgroup cpu.max quota 2.0 CPUs; 64 in the affinity mask"
};

// The worker count for `workers: auto`: ceil(the tightest cpu.max quota on the way from the
// process's cgroup up to `cgroup_root`), at least 1, and at most `affinity_cpus`. The process's
// cgroup is the "0::PATH" line of `self_cgroup` (the text of /proc/self/cgroup); in a container
// with its own cgroup namespace PATH is "/", so `cgroup_root`/cpu.max is read. Missing files mean
// no quota (cgroup v1, or the root cgroup); an unreadable line is ignored and named in `why`.
worker_choice auto_workers(unsigned affinity_cpus, const std::string& cgroup_root, std::string_view self_cgroup);

// The same for this process: /sys/fs/cgroup and /proc/self/cgroup.
worker_choice auto_workers(unsigned affinity_cpus);

}  // namespace gatehouse::server
