#pragma once
// OTLP trace export requests (opentelemetry-proto, collector/trace/v1 ExportTraceServiceRequest)
// written by hand, in both encodings OTLP/HTTP allows: binary protobuf and OTLP/JSON (hex ids,
// lowerCamelCase names, 64-bit integers as strings, enums as numbers).
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "observability/tracing.hpp"

namespace gatehouse::observability {

using attribute_list = std::vector<std::pair<std::string, std::string>>;

// One request holding `spans` under one resource (`resource` attributes) and one scope
// (gatehouse and its version). Appends to `out`.
void encode_otlp_protobuf(std::span<const span_record* const> spans, const attribute_list& resource, std::string& out);
void encode_otlp_json(std::span<const span_record* const> spans, const attribute_list& resource, std::string& out);

// Protobuf primitives (exposed for the tests).
void append_varint(std::string& out, std::uint64_t v);

}  // namespace gatehouse::observability
