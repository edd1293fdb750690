#pragma once
// routes[].compose, as the loader checked it: the calls of a composition, what each sends (its
// path, method, body and forwarded fields, with references to the request and to other calls'
// responses) and how its response is shaped into the answer (select, fields, into, merge).
// Shared by the route's snapshots; never changed after load.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gatehouse/config/diagnostics.hpp"
#include "gatehouse/config/units.hpp"

namespace gatehouse::compose {

// One step into a JSON value: a member, or an array element ([i]).
struct json_step {
    std::string key;
    std::size_t index = 0;
    bool is_index = false;
    bool operator==(const json_step&) const = default;
};
using json_path = std::vector<json_step>;

// What a `{...}` reference reads: another call's (shaped) response, the route's path template
// variables, the query, a request header, a JWT claim, or the current foreach element.
enum class source { call, path, query, header, claim, item };

struct reference {
    source from = source::call;
    std::string name;  // the call, variable, query parameter, header (lower-case) or claim
    json_path steps;   // into the call's response or the element (source::call, source::item)
};

// Text with references in it ("/users/{path.id}").
struct text_part {
    std::string literal;
    std::optional<reference> ref;
};
using text_template = std::vector<text_part>;

struct fields_rule {
    std::vector<std::string> allow, deny;  // members kept (allow), or dropped (deny)
    std::vector<std::pair<std::string, std::string>> rename;
    bool empty() const { return allow.empty() && deny.empty() && rename.empty(); }
};

enum class merge_mode { replace, append };

struct foreach_config {
    reference over;  // an array in another call's response
    std::size_t max = 50;
    std::size_t concurrency = 8;
};

// A call's request body: none, the client's, or JSON built from references (strings holding
// them; a string that is one whole reference takes the referenced value with its type).
struct body_config {
    enum class kind { none, client, json } k = kind::none;
    nlohmann::json json;
};

struct call_config {
    std::string name, upstream, method = "GET";
    std::string path_text;
    text_template path;
    bool required = false;
    bool status_from = false;  // a required call's 4xx becomes the answer's status
    std::string into;          // nest under this key (empty: merge at the root)
    json_path select;          // take this member of the response
    fields_rule fields;
    merge_mode merge = merge_mode::replace;
    std::optional<config::duration> timeout;
    std::vector<std::string> forward;  // client fields passed on (lower-case)
    body_config body;
    std::optional<foreach_config> foreach;
    bool cache = false;  // answers go through the response cache (src/cache/) with the upstream's freshness
    std::vector<std::size_t> after;  // the calls whose responses it references (their indices)
    // Its answer goes into the merged answer as it came, checked but never parsed (shape.hpp,
    // mark_spliced): set at load.
    bool spliced = false;
    config::source_mark mark;
};

struct compose_config {
    std::uint64_t max_body = 1 << 20;     // per call
    std::uint64_t max_total = 8 << 20;    // all calls' bodies together
    std::size_t max_depth = 32;           // JSON nesting of a call's response
    std::uint64_t worker_memory = 64 << 20;  // response bytes all compositions on a worker may hold before new ones get a 503
    bool errors_summary = true;           // "_errors" in a partial answer
    std::vector<call_config> calls;
};

inline constexpr std::size_t k_max_calls = 32;

}  // namespace gatehouse::compose
