#pragma once
// The dependency graph of a composition's calls: a call that references another call's response
// (in its path, body or foreach.over) runs after it; calls with no path between them run in
// parallel. Built and checked at load: a reference to an unknown call, to a field its fields.allow
// drops, or a cycle is a config error.
#include <string>
#include <vector>

#include "compose/compose_config.hpp"

namespace gatehouse::compose {

struct graph_problem {
    std::size_t call = 0;  // the call the problem is reported at
    std::string message;
};

// Fills every call's `after` (sorted, unique) and returns what is wrong (empty: a DAG).
std::vector<graph_problem> link_calls(std::vector<call_config>& calls);

// Every reference a call makes (path, body strings, foreach.over).
std::vector<reference> references_of(const call_config& c);

// The calls in an order where each comes after what it references (config order breaks ties).
std::vector<std::size_t> run_order(const std::vector<call_config>& calls);

}  // namespace gatehouse::compose
