#include "observability/otlp_encode.hpp"

#include <charconv>
#include <cstring>

#include "util/json_escape.hpp"

namespace gatehouse::observability {

namespace {

// Field numbers (opentelemetry/proto/{collector/trace,trace,common,resource}/v1/*.proto).
enum : unsigned {
    k_request_resource_spans = 1,  // ExportTraceServiceRequest
    k_rs_resource = 1,             // ResourceSpans
    k_rs_scope_spans = 2,
    k_resource_attributes = 1,  // Resource
    k_ss_scope = 1,             // ScopeSpans
    k_ss_spans = 2,
    k_scope_name = 1,  // InstrumentationScope
    k_scope_version = 2,
    k_span_trace_id = 1,  // Span
    k_span_span_id = 2,
    k_span_parent_span_id = 4,
    k_span_name = 5,
    k_span_kind = 6,
    k_span_start = 7,
    k_span_end = 8,
    k_span_attributes = 9,
    k_span_status = 15,
    k_span_flags = 16,
    k_status_message = 2,  // Status
    k_status_code = 3,
    k_kv_key = 1,  // KeyValue
    k_kv_value = 2,
    k_any_string = 1,  // AnyValue
    k_any_int = 3,
};
enum : unsigned { wire_varint = 0, wire_fixed64 = 1, wire_len = 2, wire_fixed32 = 5 };
constexpr int k_status_error = 2;  // Status.StatusCode.STATUS_CODE_ERROR

// Every attribute of a span, semantic conventions for HTTP (v1.23+ names), as (key, text) or
// (key, integer).
template <class Text, class Int>
void each_attribute(const span_record& s, Text&& text, Int&& integer) {
    if (!s.method.empty()) text("http.request.method", s.method);
    if (s.status_code) integer("http.response.status_code", s.status_code);
    if (!s.error_type.empty()) text("error.type", s.error_type);
    if (s.kind == span_kind::server) {
        if (!s.route.empty()) text("http.route", s.route);
        if (!s.url_path.empty()) text("url.path", s.url_path);
        if (!s.url_query.empty()) text("url.query", s.url_query);
        if (!s.url_scheme.empty()) text("url.scheme", s.url_scheme);
        if (!s.server_address.empty()) text("server.address", s.server_address);
        if (s.server_port) integer("server.port", s.server_port);
        if (!s.client_address.empty()) text("client.address", s.client_address);
        return;
    }
    if (!s.upstream.empty()) text("gatehouse.upstream", s.upstream);
    if (!s.peer_address.empty()) {
        text("server.address", s.peer_address);
        integer("server.port", s.peer_port);
        text("network.peer.address", s.peer_address);
        integer("network.peer.port", s.peer_port);
    }
    if (s.resend) integer("http.request.resend_count", s.resend);
}

// The span's name (semantic conventions): "{method} {route}" for the SERVER span, "{method}" for a CLIENT one.
std::string span_name(const span_record& s) {
    std::string n = s.method.empty() ? std::string("HTTP") : s.method;
    if (s.kind == span_kind::server && !s.route.empty()) n += ' ' + s.route;
    return n;
}

int hex_value(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

// --- protobuf -----------------------------------------------------------------------------

void tag(std::string& out, unsigned field, unsigned wire) { append_varint(out, (field << 3) | wire); }

void put_bytes(std::string& out, unsigned field, std::string_view b) {
    tag(out, field, wire_len);
    append_varint(out, b.size());
    out += b;
}

void put_hex_id(std::string& out, unsigned field, const char* hex, std::size_t digits) {
    tag(out, field, wire_len);
    append_varint(out, digits / 2);
    char bytes[16];
    for (std::size_t i = 0; i < digits; i += 2) bytes[i / 2] = static_cast<char>(hex_value(hex[i]) * 16 + hex_value(hex[i + 1]));
    out.append(bytes, digits / 2);
}

void put_fixed(std::string& out, unsigned field, std::uint64_t v, int bytes) {
    tag(out, field, bytes == 8 ? wire_fixed64 : wire_fixed32);
    char buf[8];
    for (int i = 0; i < bytes; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);  // little-endian
    out.append(buf, static_cast<std::size_t>(bytes));
}

void put_varint_field(std::string& out, unsigned field, std::uint64_t v) {
    tag(out, field, wire_varint);
    append_varint(out, v);
}

// A nested message: written into `scratch`, then appended with its length.
template <class F>
void put_message(std::string& out, unsigned field, std::string& scratch, F&& body) {
    scratch.clear();
    body(scratch);
    put_bytes(out, field, scratch);
}

std::size_t varint_size(std::uint64_t v) {
    std::size_t n = 1;
    for (; v >= 0x80; v >>= 7) ++n;
    return n;
}

std::size_t bytes_field_size(std::size_t len) { return 1 + varint_size(len) + len; }  // field numbers < 16: one tag byte

// A KeyValue as field `field` of the enclosing message (Span.attributes, Resource.attributes),
// its lengths computed first so that it is written straight into `out`.
void put_text_attribute(std::string& out, unsigned field, std::string_view key, std::string_view value) {
    const auto any = bytes_field_size(value.size());
    tag(out, field, wire_len);
    append_varint(out, bytes_field_size(key.size()) + bytes_field_size(any));
    put_bytes(out, k_kv_key, key);
    tag(out, k_kv_value, wire_len);
    append_varint(out, any);
    put_bytes(out, k_any_string, value);
}

void put_int_attribute(std::string& out, unsigned field, std::string_view key, std::int64_t value) {
    const auto v = static_cast<std::uint64_t>(value);
    const auto any = 1 + varint_size(v);
    tag(out, field, wire_len);
    append_varint(out, bytes_field_size(key.size()) + bytes_field_size(any));
    put_bytes(out, k_kv_key, key);
    tag(out, k_kv_value, wire_len);
    append_varint(out, any);
    put_varint_field(out, k_any_int, v);
}

void put_span(std::string& out, const span_record& s) {
    put_hex_id(out, k_span_trace_id, s.trace_id, 32);
    put_hex_id(out, k_span_span_id, s.span_id, 16);
    if (s.has_parent) put_hex_id(out, k_span_parent_span_id, s.parent_id, 16);
    put_bytes(out, k_span_name, span_name(s));
    put_varint_field(out, k_span_kind, static_cast<unsigned>(s.kind));
    put_fixed(out, k_span_start, s.start_ns, 8);
    put_fixed(out, k_span_end, s.end_ns, 8);
    each_attribute(
        s, [&](std::string_view k, std::string_view v) { put_text_attribute(out, k_span_attributes, k, v); },
        [&](std::string_view k, std::int64_t v) { put_int_attribute(out, k_span_attributes, k, v); });
    if (s.error) {
        std::string status;
        put_bytes(status, k_status_message, s.error_type);
        put_varint_field(status, k_status_code, k_status_error);
        put_bytes(out, k_span_status, status);
    }
    put_fixed(out, k_span_flags, 0x100 | 1, 4);  // sampled; "has is-remote" known, not remote
}

// --- JSON ---------------------------------------------------------------------------------

void json_string(std::string& out, std::string_view s) {
    out += '"';
    util::append_json_escaped(out, s);
    out += '"';
}

void json_number_string(std::string& out, std::uint64_t v) {
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out += '"';
    out.append(buf, p);
    out += '"';
}

void json_attributes(std::string& out, const span_record& s) {
    bool first = true;
    auto open = [&](std::string_view k) {
        out += first ? "{\"key\":" : ",{\"key\":";
        first = false;
        json_string(out, k);
    };
    out += "\"attributes\":[";
    each_attribute(
        s,
        [&](std::string_view k, std::string_view v) {
            open(k);
            out += ",\"value\":{\"stringValue\":";
            json_string(out, v);
            out += "}}";
        },
        [&](std::string_view k, std::int64_t v) {
            open(k);
            out += ",\"value\":{\"intValue\":";
            json_number_string(out, static_cast<std::uint64_t>(v));
            out += "}}";
        });
    out += ']';
}

void json_span(std::string& out, const span_record& s) {
    out += "{\"traceId\":\"";
    out.append(s.trace_id, 32);
    out += "\",\"spanId\":\"";
    out.append(s.span_id, 16);
    out += '"';
    if (s.has_parent) {
        out += ",\"parentSpanId\":\"";
        out.append(s.parent_id, 16);
        out += '"';
    }
    out += ",\"flags\":257,\"name\":";
    json_string(out, span_name(s));
    out += ",\"kind\":";
    out += static_cast<char>('0' + static_cast<int>(s.kind));
    out += ",\"startTimeUnixNano\":";
    json_number_string(out, s.start_ns);
    out += ",\"endTimeUnixNano\":";
    json_number_string(out, s.end_ns);
    out += ',';
    json_attributes(out, s);
    if (s.error) {
        out += ",\"status\":{\"code\":2,\"message\":";
        json_string(out, s.error_type);
        out += '}';
    }
    out += '}';
}

}  // namespace

void append_varint(std::string& out, std::uint64_t v) {
    char buf[10];
    std::size_t n = 0;
    for (; v >= 0x80; v >>= 7) buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
    buf[n++] = static_cast<char>(v);
    out.append(buf, n);
}

void encode_otlp_protobuf(std::span<const span_record* const> spans, const attribute_list& resource, std::string& out) {
    // The spans are written once, into `scope` (a ScopeSpans' content); the enclosing messages'
    // lengths are computed from it, so the bulk is copied only into `out`.
    std::string res, scope, scratch;
    for (auto& [k, v] : resource) put_text_attribute(res, k_resource_attributes, k, v);
    scope.reserve(64 + spans.size() * 320);
    put_message(scope, k_ss_scope, scratch, [](std::string& m) {
        put_bytes(m, k_scope_name, "gatehouse");
        put_bytes(m, k_scope_version, GATEHOUSE_VERSION);
    });
    for (const auto* s : spans) put_message(scope, k_ss_spans, scratch, [s](std::string& m) { put_span(m, *s); });
    const auto resource_spans = bytes_field_size(res.size()) + bytes_field_size(scope.size());  // ResourceSpans' length
    out.reserve(out.size() + resource_spans + 16);
    tag(out, k_request_resource_spans, wire_len);
    append_varint(out, resource_spans);
    put_bytes(out, k_rs_resource, res);
    put_bytes(out, k_rs_scope_spans, scope);
}

void encode_otlp_json(std::span<const span_record* const> spans, const attribute_list& resource, std::string& out) {
    out += "{\"resourceSpans\":[{\"resource\":{\"attributes\":[";
    bool first = true;
    for (auto& [k, v] : resource) {
        out += first ? "{\"key\":" : ",{\"key\":";
        first = false;
        json_string(out, k);
        out += ",\"value\":{\"stringValue\":";
        json_string(out, v);
        out += "}}";
    }
    out += "]},\"scopeSpans\":[{\"scope\":{\"name\":\"gatehouse\",\"version\":\"" GATEHOUSE_VERSION "\"},\"spans\":[";
    first = true;
    for (const auto* s : spans) {
        if (!first) out += ',';
        first = false;
        json_span(out, *s);
    }
    out += "]}]}]}";
}

}  // namespace gatehouse::observability
