#include "http1/error_reply.hpp"

#include "util/json_escape.hpp"

namespace gatehouse::http1 {

std::string_view reason_phrase(int status) {
    switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 417: return "Expectation Failed";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        default: return "Unknown";
    }
}

// Kept for callers in http/ written before the escaper moved to util/ (observability needs it
// too, and must not include http/); new code calls util::append_json_escaped.
void append_json_escaped(std::string& out, std::string_view s) { util::append_json_escaped(out, s); }

void append_status_line(std::string& out, int status) {
    out += "HTTP/1.1 ";
    out += std::to_string(status);
    out += ' ';
    out += reason_phrase(status);
}

std::string_view head_end(persistence p) {
    switch (p) {
        case persistence::close: return "\r\nConnection: close\r\n\r\n";
        case persistence::keep_announced: return "\r\nConnection: keep-alive\r\n\r\n";
        case persistence::keep: break;
    }
    return "\r\n\r\n";
}

void append_error_response(std::string& out, int status, std::string_view message, std::string_view request_id, persistence p,
                           bool head_only, header_list extra) {
    std::string body;
    body.reserve(96 + message.size());
    body += "{\"error\":\"";
    util::append_json_escaped(body, message);
    body += "\",\"status\":";
    body += std::to_string(status);
    body += ",\"request_id\":\"";
    util::append_json_escaped(body, request_id);
    body += "\"}\n";
    append_status_line(out, status);
    // 204 and 304 carry no content and no Content-Length (RFC 9110 §8.6, §15.3.5): a CORS
    // preflight answer, for instance.
    const bool no_content = status == 204 || status == 304;
    if (no_content) head_only = true;
    else {
        out += "\r\nContent-Type: application/json\r\nContent-Length: ";
        out += std::to_string(body.size());
    }
    if (!request_id.empty()) {
        out += "\r\nX-Request-Id: ";
        out += request_id;
    }
    for (auto& [k, v] : extra) {
        out += "\r\n";
        out += k;
        out += ": ";
        out += v;
    }
    out += head_end(p);
    if (!head_only) out += body;
}

}  // namespace gatehouse::http1
