// `workers: auto` and the cgroup v2 CPU quota: cpu.max lines, and the walk from the process's
// cgroup to the root on a fake cgroup tree.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "server/worker_count.hpp"

using gatehouse::server::auto_workers;
using gatehouse::server::cpu_max;
using gatehouse::server::parse_cpu_max;

namespace {

// A fresh directory standing for /sys/fs/cgroup.
std::string cgroup_root(const std::string& name) {
    auto dir = std::filesystem::path(testing::TempDir()) / ("cgroup-" + name);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir.string();
}

void write_cpu_max(const std::string& dir, const std::string& line) {
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/cpu.max") << line;
}

}  // namespace

TEST(CpuMax, ParsesQuotaAndPeriod) {
    auto unlimited = parse_cpu_max("max 100000\n");
    EXPECT_EQ(unlimited.what, cpu_max::state::unlimited);
    auto two = parse_cpu_max("200000 100000\n");
    ASSERT_EQ(two.what, cpu_max::state::limited);
    EXPECT_DOUBLE_EQ(two.cpus, 2.0);
    auto fractional = parse_cpu_max("150000 100000");
    ASSERT_EQ(fractional.what, cpu_max::state::limited);
    EXPECT_DOUBLE_EQ(fractional.cpus, 1.5);
    auto quarter = parse_cpu_max("25000 100000\n");
    ASSERT_EQ(quarter.what, cpu_max::state::limited);
    EXPECT_DOUBLE_EQ(quarter.cpus, 0.25);
    EXPECT_EQ(parse_cpu_max("max").what, cpu_max::state::unlimited);
    auto no_period = parse_cpu_max("300000");
    ASSERT_EQ(no_period.what, cpu_max::state::limited);
    EXPECT_DOUBLE_EQ(no_period.cpus, 3.0);
}

TEST(CpuMax, GarbageIsInvalid) {
    for (const char* line :
         {"", "\n", "lots 100000", "200000 0", "200000 soon", "-1 100000", "0 100000", "2e5 100000", "200000 100000 7", "200000  100000"})
        EXPECT_EQ(parse_cpu_max(line).what, cpu_max::state::invalid) << "'" << line << "'";
}

TEST(AutoWorkers, NoFileMeansTheAffinityMask) {
    auto root = cgroup_root("none");
    auto c = auto_workers(64, root, "0::/\n");
    EXPECT_EQ(c.workers, 64u);
    EXPECT_EQ(c.why, "64 in the affinity mask; no cgroup cpu.max quota");
    EXPECT_EQ(auto_workers(8, root + "/missing", "").workers, 8u);  // no cgroup v2 at all
}

TEST(AutoWorkers, MaxMeansTheAffinityMask) {
    auto root = cgroup_root("max");
    write_cpu_max(root, "max 100000\n");
    EXPECT_EQ(auto_workers(64, root, "0::/\n").workers, 64u);
}

TEST(AutoWorkers, AQuotaLimitsWorkersAndSaysWhy) {
    auto root = cgroup_root("two");
    write_cpu_max(root, "200000 100000\n");
    auto c = auto_workers(64, root, "0::/\n");
    EXPECT_EQ(c.workers, 2u);
    EXPECT_EQ(c.why, "cgroup cpu.max quota 2.0 CPUs; 64 in the affinity mask");
}

TEST(AutoWorkers, AFractionalQuotaRoundsUpAndIsAtLeastOne) {
    auto root = cgroup_root("frac");
    write_cpu_max(root, "150000 100000\n");
    EXPECT_EQ(auto_workers(64, root, "0::/\n").workers, 2u);
    write_cpu_max(root, "10000 100000\n");
    auto tenth = auto_workers(64, root, "0::/\n");
    EXPECT_EQ(tenth.workers, 1u);
    EXPECT_EQ(tenth.why, "cgroup cpu.max quota 0.1 CPUs; 64 in the affinity mask");
}

TEST(AutoWorkers, TheAffinityMaskWinsWhenSmaller) {
    auto root = cgroup_root("mask");
    write_cpu_max(root, "800000 100000\n");
    EXPECT_EQ(auto_workers(3, root, "0::/\n").workers, 3u);
}

TEST(AutoWorkers, GarbageIsIgnoredAndNamed) {
    auto root = cgroup_root("garbage");
    write_cpu_max(root, "whatever\n");
    auto c = auto_workers(4, root, "0::/\n");
    EXPECT_EQ(c.workers, 4u);
    EXPECT_NE(c.why.find("ignored " + root + "/cpu.max: not a cpu.max line"), std::string::npos) << c.why;
}

TEST(AutoWorkers, TheTightestQuotaFromTheProcessCgroupUpToTheRootCounts) {
    // a systemd service without its own cgroup namespace: /proc/self/cgroup names the path
    auto root = cgroup_root("tree");
    write_cpu_max(root + "/system.slice", "300000 100000\n");
    write_cpu_max(root + "/system.slice/gatehouse.service", "max 100000\n");
    auto c = auto_workers(64, root, "0::/system.slice/gatehouse.service\n");
    EXPECT_EQ(c.workers, 3u);
    write_cpu_max(root + "/system.slice/gatehouse.service", "120000 100000\n");
    EXPECT_EQ(auto_workers(64, root, "0::/system.slice/gatehouse.service\n").workers, 2u);
    // cgroup v1 lines are not ours; a path outside the namespace root reads the root's file only
    EXPECT_EQ(auto_workers(64, root, "4:memory:/x\n1:cpu:/\n").workers, 64u);
    write_cpu_max(root, "100000 100000\n");
    EXPECT_EQ(auto_workers(64, root, "0::/../../elsewhere\n").workers, 1u);
}
