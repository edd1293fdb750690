#pragma once
// How a call's response becomes part of the answer (KrakenD's target, allow/deny, mapping and
// group): select a member, keep/drop/rename fields (of an object, or of each object of an array),
// then merge into the answer under `into` or at the root. Merging happens in configuration order
// once every call has ended, so the answer never depends on which response came first.
#include <nlohmann/json.hpp>

#include "compose/compose_config.hpp"

namespace gatehouse::compose {

// select, then fields. A missing select member gives null.
nlohmann::json shape(const call_config& c, nlohmann::json response);

// Into the answer (an object): under c.into (append: arrays concatenated, other values added to
// the array), or each member at the root (a non-object at the root goes under "collection", as
// KrakenD has it).
void merge(nlohmann::json& answer, const call_config& c, nlohmann::json value);

// Sets `spliced` on the calls whose answer can go into the merged answer as its bytes: under an
// `into` no other call writes (and not "_errors"), taken whole (no select, fields, foreach or
// append), read by no other call, not cached. Such an answer is checked as JSON
// (util/json_check.hpp) and copied, never built into a tree only to be written out again: the
// same answer, minus a parse and a serialisation per call. Needs `after` (graph.hpp).
void mark_spliced(std::vector<call_config>& calls);

}  // namespace gatehouse::compose
