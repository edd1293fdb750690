#include "observability/otlp_encode.hpp"

#include <cassert>
#include <charconv>
#include <cstring>
#include <vector>

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
    if (!s.db_system.empty()) text("db.system.name", s.db_system);
    if (!s.db_operation.empty()) text("db.operation.name", s.db_operation);
    if (!s.url_full.empty()) text("url.full", s.url_full);
    if (!s.server_address.empty()) {
        text("server.address", s.server_address);
        if (s.server_port) integer("server.port", s.server_port);
    } else if (!s.peer_address.empty()) {
        text("server.address", s.peer_address);
        integer("server.port", s.peer_port);
    }
    if (!s.peer_address.empty()) {
        text("network.peer.address", s.peer_address);
        integer("network.peer.port", s.peer_port);
    }
    if (s.resend) integer("http.request.resend_count", s.resend);
}

// The span's name (semantic conventions): "{method} {route}" for the SERVER span, "{method}" for
// an HTTP CLIENT one, "{db.operation.name}" (else "{db.system.name}") for a database call.
std::string span_name(const span_record& s) {
    if (!s.db_system.empty()) return s.db_operation.empty() ? s.db_system : s.db_operation;
    std::string n = s.method.empty() ? std::string("HTTP") : s.method;
    if (s.kind == span_kind::server && !s.route.empty()) n += ' ' + s.route;
    return n;
}

// Two lower-case hex digits to their byte, by table: ids are most of a span's bytes to convert.
struct hex_pairs {
    std::uint8_t value[256];
    constexpr hex_pairs() : value{} {
        for (int c = 0; c < 256; ++c)
            value[c] = static_cast<std::uint8_t>((c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : 0);
    }
};
constexpr hex_pairs k_hex{};

// --- protobuf -----------------------------------------------------------------------------
// Every message's length is computed first, so the request is written in one pass into a buffer
// sized once, without a capacity check per byte (callgrind: an append per varint cost more
// instructions than the rest of a sampled request). Field numbers below 16 take one tag byte.

std::size_t varint_size(std::uint64_t v) {
    std::size_t n = 1;
    for (; v >= 0x80; v >>= 7) ++n;
    return n;
}
std::size_t len_field(std::size_t len) { return 1 + varint_size(len) + len; }  // tag + length + content
std::size_t text_kv_size(std::string_view k, std::string_view v) { return len_field(k.size()) + len_field(len_field(v.size())); }
std::size_t int_kv_size(std::string_view k, std::int64_t v) {
    return len_field(k.size()) + len_field(1 + varint_size(static_cast<std::uint64_t>(v)));
}
std::size_t status_size(const span_record& s) { return len_field(s.error_type.size()) + 2; }

struct pb_writer {
    char* p;
    void varint(std::uint64_t v) {
        for (; v >= 0x80; v >>= 7) *p++ = static_cast<char>((v & 0x7f) | 0x80);
        *p++ = static_cast<char>(v);
    }
    void tag(unsigned field, unsigned wire) { varint((field << 3) | wire); }
    void length(unsigned field, std::size_t len) {
        tag(field, wire_len);
        varint(len);
    }
    void bytes(unsigned field, std::string_view b) {
        length(field, b.size());
        std::memcpy(p, b.data(), b.size());
        p += b.size();
    }
    void fixed(unsigned field, std::uint64_t v, int n) {
        tag(field, n == 8 ? wire_fixed64 : wire_fixed32);
        for (int i = 0; i < n; ++i) *p++ = static_cast<char>((v >> (8 * i)) & 0xff);  // little-endian
    }
    void hex_id(unsigned field, const char* hex, std::size_t digits) {
        length(field, digits / 2);
        for (std::size_t i = 0; i < digits; i += 2)
            *p++ = static_cast<char>(k_hex.value[static_cast<unsigned char>(hex[i])] << 4 |
                                     k_hex.value[static_cast<unsigned char>(hex[i + 1])]);
    }
    // A KeyValue as field `field` of the enclosing message (Span.attributes, Resource.attributes).
    void text_kv(unsigned field, std::string_view k, std::string_view v) {
        length(field, text_kv_size(k, v));
        bytes(k_kv_key, k);
        length(k_kv_value, len_field(v.size()));
        bytes(k_any_string, v);
    }
    void int_kv(unsigned field, std::string_view k, std::int64_t v) {
        length(field, int_kv_size(k, v));
        bytes(k_kv_key, k);
        length(k_kv_value, 1 + varint_size(static_cast<std::uint64_t>(v)));
        tag(k_any_int, wire_varint);
        varint(static_cast<std::uint64_t>(v));
    }
};

std::size_t span_size(const span_record& s, std::string_view name) {
    std::size_t n = len_field(16) + len_field(8) + (s.has_parent ? len_field(8) : 0) + len_field(name.size()) + 2 + 9 + 9;
    each_attribute(
        s, [&](std::string_view k, std::string_view v) { n += len_field(text_kv_size(k, v)); },
        [&](std::string_view k, std::int64_t v) { n += len_field(int_kv_size(k, v)); });
    if (s.error) n += len_field(status_size(s));
    return n + 2 + 4;  // flags: field 16 takes a two-byte tag
}

void put_span(pb_writer& w, const span_record& s, std::string_view name) {
    w.hex_id(k_span_trace_id, s.trace_id, 32);
    w.hex_id(k_span_span_id, s.span_id, 16);
    if (s.has_parent) w.hex_id(k_span_parent_span_id, s.parent_id, 16);
    w.bytes(k_span_name, name);
    w.tag(k_span_kind, wire_varint);
    w.varint(static_cast<unsigned>(s.kind));
    w.fixed(k_span_start, s.start_ns, 8);
    w.fixed(k_span_end, s.end_ns, 8);
    each_attribute(
        s, [&](std::string_view k, std::string_view v) { w.text_kv(k_span_attributes, k, v); },
        [&](std::string_view k, std::int64_t v) { w.int_kv(k_span_attributes, k, v); });
    if (s.error) {
        w.length(k_span_status, status_size(s));
        w.bytes(k_status_message, s.error_type);
        w.tag(k_status_code, wire_varint);
        w.varint(k_status_error);
    }
    w.fixed(k_span_flags, 0x100 | 1, 4);  // sampled; "has is-remote" known, not remote
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
    pb_writer w{buf};
    w.varint(v);
    out.append(buf, static_cast<std::size_t>(w.p - buf));
}

void encode_otlp_protobuf(std::span<const span_record* const> spans, const attribute_list& resource, std::string& out) {
    std::vector<std::size_t> sizes;
    sizes.reserve(spans.size());
    std::size_t res = 0, scope = 0;
    for (auto& [k, v] : resource) res += len_field(text_kv_size(k, v));
    const std::string_view version = GATEHOUSE_VERSION;
    const auto scope_info = len_field(9) + len_field(version.size());  // InstrumentationScope: name, version
    scope += len_field(scope_info);
    for (const auto* s : spans) {
        sizes.push_back(span_size(*s, span_name(*s)));
        scope += len_field(sizes.back());
    }
    const auto resource_spans = len_field(res) + len_field(scope);
    const auto start = out.size();
    out.resize(start + len_field(resource_spans));
    pb_writer w{out.data() + start};
    w.length(k_request_resource_spans, resource_spans);
    w.length(k_rs_resource, res);
    for (auto& [k, v] : resource) w.text_kv(k_resource_attributes, k, v);
    w.length(k_rs_scope_spans, scope);
    w.length(k_ss_scope, scope_info);
    w.bytes(k_scope_name, "gatehouse");
    w.bytes(k_scope_version, version);
    for (std::size_t i = 0; i < spans.size(); ++i) {
        w.length(k_ss_spans, sizes[i]);
        put_span(w, *spans[i], span_name(*spans[i]));
    }
    assert(w.p == out.data() + out.size());
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
