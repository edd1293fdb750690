// The YAML config loader on whole documents (src/config/loader.cpp and every middleware's and
// discovery provider's parser, registered as in main.cpp). Operators' files are trusted more than
// requests, but `gatehouse check` and a hot reload must answer any file with diagnostics, never
// a crash or a hang; a config that loads has no errors, and every error names the file.
#include <string>

#include "fuzz_check.hpp"
#include "gatehouse/config/config.hpp"

#include "discovery/registry.hpp"
#include "middleware/registry.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    gatehouse::middleware::register_all();
    gatehouse::discovery::register_all();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto res = gatehouse::config::load_string(std::string(gatehouse::fuzz::as_text(data, size)), "fuzz.yaml");
    FUZZ_CHECK(res.config.has_value() != res.diags.has_errors());
    for (auto& d : res.diags.all()) {
        FUZZ_CHECK(!d.message.empty());
        FUZZ_CHECK(d.to_string().starts_with("fuzz.yaml:"));
    }
    return 0;
}
