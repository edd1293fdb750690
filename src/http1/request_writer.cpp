// A forwarded request (http/forwarded_request.hpp) as an HTTP/1.1 request head: the request
// line, Host, the client's fields that pass (their lines as received when the client spoke
// HTTP/1: field_copier), gatehouse's, the Connection options (upgrade, te), the body's framing.
#include <charconv>

#include "http1/field_copier.hpp"
#include "http1/request_writer.hpp"

namespace gatehouse::http1 {

using namespace std::string_view_literals;

void append_request_head(std::string& out, const http::forwarded_request& f) {
    out += f.method;
    out += ' ';
    out += f.path;
    if (f.has_query) {
        out += '?';
        out += f.query;
    }
    out += " HTTP/1.1\r\nHost: "sv;
    out += f.authority;
    out += "\r\n"sv;
    if (const auto* lines = f.source.records<field_view>()) {
        field_copier fields(out);
        for (auto i : f.kept) fields.keep(lines[i]);
        fields.flush();
    } else {
        for (auto i : f.kept) append_field(out, f.source[i].name, f.source[i].value);
    }
    for (auto& a : f.added) append_field(out, a.name, a.value);
    // TE is hop-by-hop: only "trailers" goes on, with the connection option it needs (RFC 9110
    // §10.1.4).
    if (!f.upgrade.empty()) {
        out += f.te_trailers ? "Connection: upgrade, te\r\nTE: trailers\r\n"sv : "Connection: upgrade\r\n"sv;
        append_field(out, "Upgrade", f.upgrade);
    } else if (f.te_trailers) {
        out += "Connection: te\r\nTE: trailers\r\n"sv;
    }
    out += "X-Forwarded-For: "sv;
    if (!f.forwarded_for_claim.empty()) {
        out += f.forwarded_for_claim;
        out += ", "sv;
    }
    out += f.peer;
    out += "\r\nX-Forwarded-Proto: "sv;
    out += f.forwarded_proto;
    if (!f.forwarded_host.empty()) {
        out += "\r\nX-Forwarded-Host: "sv;
        out += f.forwarded_host;
    }
    out += "\r\nX-Request-Id: "sv;
    out += f.request_id;
    out += "\r\n"sv;
    if (!f.traceparent.empty()) {
        out += "traceparent: "sv;
        out += f.traceparent;
        out += "\r\n"sv;
    }
    if (f.content_length) {
        append_content_length(out, *f.content_length);
    } else if (f.has_body) {
        out += "Transfer-Encoding: chunked\r\n"sv;
    }
    out += "\r\n"sv;
}

}  // namespace gatehouse::http1
