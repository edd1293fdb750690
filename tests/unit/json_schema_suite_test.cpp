// The JSON-Schema-Test-Suite's draft 2020-12 files (shared/testdata, pinned; never copied here)
// against gatehouse's validator: every case of every group passes, except groups whose schema
// the compiler refuses on purpose, and those are listed below with the reason (the same list is
// in docs/middleware.md, "openapi").
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "openapi/schema.hpp"

namespace fs = std::filesystem;
using gatehouse::openapi::json;
using gatehouse::openapi::schema_diagnostic;
using gatehouse::openapi::schema_set;

namespace {

const fs::path k_suite = GATEHOUSE_JSON_SCHEMA_SUITE;

// Groups whose schemas are refused at compile time, by file: the group's description and why.
const std::map<std::string, std::set<std::string>> k_refused = {
    {"dynamicRef.json", {"*"}},       // $dynamicRef is not supported
    {"vocabulary.json", {"*"}},       // $vocabulary is not supported
    {"defs.json", {"*"}},             // validates against the remote 2020-12 metaschema
    {"ref.json", {"remote ref, containing refs itself"}},  // the remote 2020-12 metaschema
    {"unevaluatedItems.json", {"unevaluatedItems with $dynamicRef"}},
    {"unevaluatedProperties.json", {"unevaluatedProperties with $dynamicRef"}},
};

std::optional<json> load(const fs::path& p) {
    std::ifstream in(p);
    if (!in) return std::nullopt;
    auto j = json::parse(in, nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
}

// refRemote's documents: http://localhost:1234/X is remotes/X.
std::optional<json> remote(const std::string& uri) {
    constexpr std::string_view prefix = "http://localhost:1234/";
    if (!uri.starts_with(prefix)) return std::nullopt;
    return load(k_suite / "remotes" / uri.substr(prefix.size()));
}

struct tally {
    int passed = 0, refused_cases = 0, refused_groups = 0;
};

bool expected_refusal(const std::string& file, const std::string& group) {
    auto f = k_refused.find(file);
    if (f == k_refused.end()) return false;
    return f->second.contains("*") || f->second.contains(group);
}

void run_file(const fs::path& path, tally& t, std::vector<std::string>& refusals) {
    auto groups = load(path);
    ASSERT_TRUE(groups && groups->is_array()) << path;
    auto file = path.filename().string();
    for (auto& g : *groups) {
        auto group = g["description"].get<std::string>();
        schema_set set({}, remote);
        set.add_document("urn:gatehouse:suite", g["schema"]);
        std::vector<schema_diagnostic> diags;
        auto id = set.compile("urn:gatehouse:suite", "", diags);
        if (!id) {
            std::string why = diags.empty() ? "?" : diags[0].pointer + " " + diags[0].keyword + ": " + diags[0].reason;
            refusals.push_back(file + ": " + group + " (" + why + ")");
            EXPECT_TRUE(expected_refusal(file, group)) << file << ": \"" << group << "\" refused: " << why;
            ++t.refused_groups;
            t.refused_cases += static_cast<int>(g["tests"].size());
            continue;
        }
        for (auto& c : g["tests"]) {
            auto r = set.validate(*id, c["data"]);
            EXPECT_EQ(r.valid, c["valid"].get<bool>())
                << file << ": " << group << ": " << c["description"].get<std::string>();
            if (r.valid == c["valid"].get<bool>()) ++t.passed;
            // The same document as text through the body's parser (json/tape.hpp).
            auto text = c["data"].dump();
            gatehouse::json_tape::tape doc;
            gatehouse::json_tape::refusal why;
            ASSERT_TRUE(doc.parse(text, 1000, why)) << text;
            EXPECT_EQ(set.validate(*id, doc.root()).valid, c["valid"].get<bool>())
                << "parsed: " << file << ": " << group << ": " << c["description"].get<std::string>();
        }
    }
}

}  // namespace

// The pinned data lives outside the repository (tests/unit/CMakeLists.txt finds it); a build
// that has none says so loudly instead of failing on a missing directory.
#define REQUIRE_SUITE()                                                                                          \
    if (!fs::is_directory(k_suite / "tests" / "draft2020-12"))                                                   \
    GTEST_SKIP() << "JSON-Schema-Test-Suite not found at " << k_suite << " (configure with GATEHOUSE_TESTDATA_DIR)"

TEST(JsonSchemaSuite, EveryCaseOfEverySupportedKeywordPasses) {
    REQUIRE_SUITE();
    tally t;
    std::vector<std::string> refusals;
    std::vector<fs::path> files;
    for (auto& e : fs::directory_iterator(k_suite / "tests" / "draft2020-12"))
        if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (auto& f : files) run_file(f, t, refusals);
    for (auto& r : refusals) std::printf("refused: %s\n", r.c_str());
    std::printf("draft2020-12: %d cases pass; %d groups (%d cases) refused at compile time\n", t.passed,
                t.refused_groups, t.refused_cases);
    EXPECT_GT(t.passed, 1000);
}

// The optional files, for the record (docs/middleware.md lists what differs); not asserted.
TEST(JsonSchemaSuite, OptionalFilesReport) {
    REQUIRE_SUITE();
    std::vector<std::string> refusals;
    for (auto& e : fs::directory_iterator(k_suite / "tests" / "draft2020-12" / "optional")) {
        if (!e.is_regular_file()) continue;
        auto groups = load(e.path());
        for (auto& g : *groups) {
            schema_set set({}, remote);
            set.add_document("urn:gatehouse:suite", g["schema"]);
            std::vector<schema_diagnostic> diags;
            auto id = set.compile("urn:gatehouse:suite", "", diags);
            if (!id) {
                std::printf("optional refused: %s: %s (%s)\n", e.path().filename().c_str(),
                            g["description"].get<std::string>().c_str(), diags.empty() ? "" : diags[0].reason.c_str());
                continue;
            }
            for (auto& c : g["tests"])
                if (set.validate(*id, c["data"]).valid != c["valid"].get<bool>())
                    std::printf("optional differs: %s: %s: %s\n", e.path().filename().c_str(),
                                g["description"].get<std::string>().c_str(), c["description"].get<std::string>().c_str());
        }
    }
}
