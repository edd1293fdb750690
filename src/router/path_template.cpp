#include "router/path_template.hpp"

namespace gatehouse::router {

namespace {

bool match_segments(const std::vector<config::template_segment>& segments, std::string_view path, path_variables& out) {
    using kind = config::template_segment::kind;
    out.count = 0;
    if (path.empty() || path.front() != '/') return false;
    std::size_t pos = 0;  // at the '/' before the next segment, or at the end
    for (const auto& s : segments) {
        if (s.what != kind::literal && out.count == k_max_path_variables) return false;  // the loader refuses more
        if (s.what == kind::rest) {  // the rest of the path, possibly empty ("/files" or "/files/" for "/files/{p=**}")
            out.names[out.count] = s.text;
            out.values[out.count++] = pos < path.size() ? path.substr(pos + 1) : std::string_view{};
            return true;
        }
        if (pos >= path.size()) return false;
        auto next = path.find('/', pos + 1);
        if (next == std::string_view::npos) next = path.size();
        auto seg = path.substr(pos + 1, next - pos - 1);
        if (s.what == kind::literal) {
            if (seg != s.text) return false;
        } else {
            if (seg.empty()) return false;  // "/users/" has no id
            out.names[out.count] = s.text;
            out.values[out.count++] = seg;
        }
        pos = next;
    }
    return pos == path.size();
}

}  // namespace

bool match_path_template(const std::vector<config::template_segment>& segments, std::string_view path, path_variables& out) {
    if (match_segments(segments, path, out)) return true;
    out.count = 0;  // what a failed attempt captured must not reach the route that wins
    return false;
}

}  // namespace gatehouse::router
