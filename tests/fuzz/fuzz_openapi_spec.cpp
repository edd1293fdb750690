// The OpenAPI spec loader (src/openapi/spec.cpp, spec_document.cpp): the input is a spec file
// (YAML, or JSON read as YAML), written to a file of this process and loaded as the config loads
// one (its sibling-file $refs name files that are not there). It loads exactly when it reports
// no error; every error names the file; a loaded spec's paths all parse as templates and every
// parameter and body schema it names was compiled.
#include <unistd.h>

#include <fstream>
#include <string>

#include "fuzz_check.hpp"
#include "openapi/spec.hpp"

using namespace gatehouse;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::string file = "/tmp/gatehouse-fuzz-openapi-" + std::to_string(::getpid()) + ".yaml";
    {
        std::ofstream out(file, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    std::vector<std::string> errors;
    std::shared_ptr<const openapi::api_spec> spec;
    try {  // control plane: the config loader reports a library exception as a diagnostic
        spec = openapi::load_api_spec(file, errors);
    } catch (const std::exception&) {
        return 0;
    }
    FUZZ_CHECK(!spec == !errors.empty());
    for (auto& e : errors) FUZZ_CHECK(e.find(file) != std::string::npos || e.find("gatehouse-fuzz-openapi") != std::string::npos);
    if (!spec) return 0;
    for (auto& p : spec->paths) {
        FUZZ_CHECK(!p.text.empty() && p.text.front() == '/');
        router::path_variables vars;
        (void)spec->find_path(p.text, vars);
        for (auto& op : p.operations)
            for (auto& par : op.parameters) FUZZ_CHECK(!par.name.empty());
    }
    return 0;
}
