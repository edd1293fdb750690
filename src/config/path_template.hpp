#pragma once
// The syntax of match.path_template ("/users/{id}/files/{rest=**}") and of the {path.NAME}
// references to its variables (rewrite.path, header rules), checked at load: a bad template or a
// reference to a variable the route does not define never reaches a snapshot.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/config/config.hpp"

namespace gatehouse::config {

// The segments of a template, or nullopt with the reason in `error`. Rules: starts with '/';
// a variable is a whole segment, `{name}` (one non-empty segment) or `{name=**}` (the rest of the
// path, last only); names are unique letters, digits and '_'; at most
// router::k_max_path_variables of them; literal segments are written as the normalised path
// has them (no '.', '..', '//', escapes of unreserved characters or lower-case hex).
std::optional<std::vector<template_segment>> parse_path_template(std::string_view text, std::string& error);

// The names of a template's variables, in order.
std::vector<std::string> template_variables(const std::vector<template_segment>& segments);

// One {path.NAME} reference at text[open] ('{'): the name, checked against `variables` (null:
// the middleware is not on a route, so no template can define it). nullopt and `error` when
// the reference is malformed or names nothing; `end` is the index after the closing '}'.
std::optional<std::string> parse_path_reference(std::string_view text, std::size_t open, const std::vector<std::string>* variables,
                                                std::size_t& end, std::string& error);

// rewrite.path: literal text and {path.NAME} references. The literal parts may hold only what a
// normalised path may (no '{', '}', '?', '#', spaces or control characters); it starts with '/'.
std::optional<std::vector<template_part>> parse_rewrite_path(std::string_view text, const std::vector<std::string>* variables,
                                                             std::string& error);

}  // namespace gatehouse::config
