#pragma once
// An OpenAPI 3.0 or 3.1 description compiled for request validation: its paths as templates the
// router's matcher reads, each operation's parameters and request body with their schemas
// compiled into one schema_set. OAS 3.0 schemas are normalised onto JSON Schema 2020-12 first
// (nullable, boolean exclusiveMinimum/Maximum, example, $ref siblings). Loaded on the control
// thread; immutable afterwards and shared by every worker.
#include <memory>
#include <string>
#include <vector>

#include "gatehouse/config/config.hpp"
#include "gatehouse/router/path_variables.hpp"
#include "openapi/schema.hpp"
#include "openapi/spec_document.hpp"

namespace gatehouse::openapi {

enum class param_in : std::uint8_t { path, query, header, cookie };
enum class param_style : std::uint8_t { simple, label, matrix, form, space_delimited, pipe_delimited, deep_object };

struct parameter {
    std::string name;  // as in the spec (header names lower-cased)
    param_in in = param_in::query;
    param_style style = param_style::form;
    bool explode = true;
    bool required = false;
    std::optional<std::uint32_t> schema;
    // What the schema says the value is, for deserialising and coercing the text:
    // t_array/t_object/t_integer/t_number/t_boolean/t_string bits of its `type` (0: any).
    std::uint8_t types = 0;
    std::uint8_t item_types = 0;  // an array's items
    bool json_content = false;    // `content: {application/json: ...}`: the value is JSON text
    std::string pointer;          // where it is in the spec (messages)
};

struct media_type {
    std::string type;  // "application/json", "application/*", "*/*"
    std::optional<std::uint32_t> schema;
};

// What an operation answers with one status code ("200"), a range ("2XX") or "default".
struct response_spec {
    std::string code;
    std::vector<media_type> content;
};

struct operation {
    std::string method;  // upper case
    std::vector<parameter> parameters;
    bool has_body = false;
    bool body_required = false;
    std::vector<media_type> body;
    std::vector<response_spec> responses;

    // The response description for a status: the exact code, then its range, then "default".
    const response_spec* response_for(int status) const;
};

struct path_item {
    std::string text;  // "/pets/{petId}"
    std::vector<config::template_segment> segments;
    std::vector<operation> operations;
};

struct api_spec {
    std::string file;
    json document;     // the spec file as read (before 3.0 normalisation), for GET /openapi.json?spec=NAME
    int version = 31;  // 30 or 31
    schema_set schemas{dialect{.openapi = true}};
    std::vector<path_item> paths;  // literal paths before templated ones

    // The path item for a request path (after server_base), and its template's values.
    const path_item* find_path(std::string_view path, router::path_variables& vars) const;
};

// Loads and compiles `path`. On failure: null, and one message per problem, each starting with
// the spec file's "file:line:col: " (or the file's name when no position applies).
std::shared_ptr<const api_spec> load_api_spec(const std::string& path, std::vector<std::string>& errors);

}  // namespace gatehouse::openapi
