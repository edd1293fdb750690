#pragma once
// JSON Schema 2020-12 (the dialect of OpenAPI 3.1) compiled once into a flat table of nodes, and
// evaluated against documents a client sent. Compilation is control plane (a spec load); the
// evaluation is data plane: no exceptions, no allocation beyond the error list unless the schema
// asks for unevaluated* annotations, a step budget per call, and a constant bound on nesting
// (k_max_eval_depth) so that no input reaches the stack's end. `pattern` and
// `patternProperties` run on RE2 (linear time). docs/middleware.md, "openapi", lists what is
// supported and what `check` refuses.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "json/tape.hpp"

namespace re2 {
class RE2;
}

namespace gatehouse::openapi {

using json = nlohmann::json;

// Why a schema was refused: where (the document's URI and a JSON pointer into it, which the spec
// loader turns into file:line:col), the keyword and the reason.
struct schema_diagnostic {
    std::string document;  // the URI the document was loaded under
    std::string pointer;   // JSON pointer of the schema object or keyword value
    std::string keyword;
    std::string reason;
};

// One failed assertion: where in the instance (a JSON pointer), which keyword, and what it wants,
// in words that never repeat the client's value.
struct schema_error {
    std::string pointer;
    std::string keyword;
    std::string detail;
};

struct eval_limits {
    std::size_t max_steps = 100'000;  // node evaluations, comparisons and pattern matches
    std::size_t max_errors = 20;
};

// Evaluation nests once per subschema applied (properties, items, $ref ...); past this depth the
// instance is refused with keyword "depth". The instance's own depth is bounded while parsing
// (json/tape.hpp), so only a schema that recurses through $ref gets near it.
inline constexpr std::size_t k_max_eval_depth = 256;

// The outcome of validate(): `valid`, and when not, the first max_errors failures; `exhausted`
// when the step budget or depth bound cut the evaluation short (then invalid).
struct validation_result {
    bool valid = true;
    bool exhausted = false;
    std::vector<schema_error> errors;
};

// Fetches a document named by a URI (a sibling file of the spec; the test suite's remotes):
// nothing when there is none.
using document_loader = std::function<std::optional<json>(const std::string& uri)>;

// Options for what compiles.
struct dialect {
    // OpenAPI keywords allowed beside the schema keywords as annotations: discriminator, xml,
    // externalDocs, example, and x-* extensions.
    bool openapi = false;
};

// A set of compiled schemas drawn from one or more documents, sharing their $ref targets.
class schema_set {
public:
    schema_set(dialect d = {}, document_loader loader = {});
    ~schema_set();
    schema_set(schema_set&&) noexcept;
    schema_set& operator=(schema_set&&) noexcept;

    // Adds a document under `uri` (absolute: file:///..., urn:..., http://...). The set keeps
    // its own copy; compile() then reaches its schemas by pointer.
    void add_document(const std::string& uri, json doc);

    // Compiles the schema at `pointer` in the document added under `uri`; the id of its node,
    // or nothing (and diagnostics) when a keyword is refused or a $ref cannot be resolved.
    std::optional<std::uint32_t> compile(const std::string& uri, std::string_view pointer,
                                         std::vector<schema_diagnostic>& diagnostics);

    // `instance` as parsed from a client's text (json/tape.hpp), or an nlohmann/json value (a
    // parameter's, copied into a tape first).
    validation_result validate(std::uint32_t schema, json_tape::value instance, const eval_limits& limits = {}) const;
    validation_result validate(std::uint32_t schema, const json& instance, const eval_limits& limits = {}) const;

    struct node;

private:
    struct compiler;
    struct evaluator;
    dialect dialect_;
    document_loader loader_;
    std::deque<std::pair<std::string, json>> documents_;  // stable addresses
    std::unordered_map<std::string, const json*> resources_;  // absolute URI (no fragment) -> schema
    std::unordered_map<std::string, std::pair<const json*, std::string>> anchors_;  // uri#name -> schema, base
    std::unordered_map<const json*, std::uint32_t> compiled_;
    std::vector<node> nodes_;
};

}  // namespace gatehouse::openapi
