// Test-only: validates JSON documents against a schema with gatehouse's validator, for the
// differential test against python3-jsonschema (tests/integration/test_json_schema_differential.py).
// Usage: gatehouse_json_schema_eval SCHEMA.json < DOCUMENTS.jsonl; prints 1 (valid) or 0 per line,
// or exits 2 when the schema is refused.
#include <fstream>
#include <iostream>
#include <string>

#include "openapi/schema.hpp"

int main(int argc, char** argv) {
    using namespace gatehouse::openapi;
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " SCHEMA.json < DOCUMENTS.jsonl\n";
        return 2;
    }
    std::ifstream in(argv[1]);
    auto schema = json::parse(in, nullptr, false);
    if (schema.is_discarded()) {
        std::cerr << "schema is not JSON\n";
        return 2;
    }
    schema_set set;
    set.add_document("urn:gatehouse:cli", std::move(schema));
    std::vector<schema_diagnostic> diags;
    auto id = set.compile("urn:gatehouse:cli", "", diags);
    if (!id) {
        for (auto& d : diags) std::cerr << d.pointer << " " << d.keyword << ": " << d.reason << "\n";
        return 2;
    }
    std::string line;
    while (std::getline(std::cin, line)) {
        gatehouse::json_tape::tape doc;  // as the middleware parses a client's body
        gatehouse::json_tape::refusal why;
        if (!doc.parse(line, 10'000, why)) {
            std::cerr << "document is not JSON\n";
            return 2;
        }
        std::cout << (set.validate(*id, doc.root(), {.max_steps = 10'000'000, .max_errors = 20}).valid ? "1\n" : "0\n");
    }
    return 0;
}
