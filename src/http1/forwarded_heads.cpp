// The heads (and trailers) that cross gatehouse in HTTP/1.1 form: the request head sent upstream
// (the exchange's forwarding policy, http/forwarding.cpp, written by request_writer.cpp), the
// response head and the last chunk's trailers sent to the client, interim heads. The upstream
// request itself is in upstream_request.cpp.
#include <spdlog/spdlog.h>

#include <charconv>
#include <string_view>

#include "http1/status_line.hpp"
#include "upstream/load_balancer.hpp"
#include "http1/body_decoder.hpp"
#include "http1/client_connection.hpp"
#include "http1/field_copier.hpp"
#include "http1/request_writer.hpp"

namespace gatehouse::http1 {

using namespace std::string_view_literals;

void client_connection::build_upstream_head(const router::compiled_route& r) {
    const auto& f = ex_.forward(r, ex_.snap->clusters[chosen_upstream_]->name, upgrade_);
    up_head_.clear();
    append_request_head(up_head_, f);
}

// An interim (1xx) response passed on to the client: its status line and end-to-end fields.
void client_connection::build_interim_head(const response_head& resp) {
    out_.clear();
    compose_interim(ex_.relayed_interim(resp.status, resp.reason, resp.fields));
}

void client_connection::append_last_chunk(std::string& out, const body_decoder<false>* dec) {
    out += "0\r\n"sv;
    const std::string_view lines = dec ? dec->trailer_lines() : std::string_view{};
    if (!ex_.route_chain && !ex_.listener_chain) {
        out += lines;  // validated by the decoder, passed on as they are
        out += "\r\n"sv;
        return;
    }
    std::vector<field_view> fields;
    if (dec) fields = dec->trailer_fields();
    middleware::trailer_edit edit;
    edit.fields = fields;
    // A body filter (compression) changed the bytes: a digest of the upstream's no longer holds.
    if (ex_.medit.body)
        for (std::string_view digest : {"content-digest", "repr-digest", "digest", "content-md5"}) edit.remove.push_back(digest);
    ex_.run_trailer_chain(edit);
    if (edit.remove.empty()) out += lines;
    else
        for (auto& f : fields)
            if (!edit.removes(f.name)) out.append(f.line);
    for (auto& [k, v] : edit.add)
        if (!field_name_problem(k, false) && !is_forbidden_trailer(k) && middleware::valid_header_value(v)) append_field(out, k, v);
    out += "\r\n"sv;
}

// The upstream's response head for the client, through the exchange's forwarding policy
// (relayed_head) and the connection's one head writer (compose_head). The length: a body
// filter's output when it was filtered whole (else unknown: chunked or close-delimited), or the
// upstream's (also for a bodiless answer that states it: a HEAD's, a 304's).
void client_connection::build_client_head(const response_head& resp, bool close, std::optional<std::size_t> filtered_length) {
    std::optional<std::uint64_t> length;
    if (ex_.medit.body) {
        if (filtered_length) length = *filtered_length;
    } else if (resp.framing == body_framing::content_length ||
               (resp.framing == body_framing::none && resp.has_content_length && resp.status >= 200 && resp.status != 204)) {
        length = resp.content_length;
    }
    must_close_ = close;
    compose_head(ex_.relayed_head(resp.status, resp.reason, resp.fields, length), resp.framing == body_framing::none);
}

}  // namespace gatehouse::http1
