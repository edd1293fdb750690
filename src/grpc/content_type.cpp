#include "grpc/content_type.hpp"

#include "util/text.hpp"

namespace gatehouse::grpc {

namespace {

// `s` starts with `prefix`, ASCII case-insensitively.
bool starts_with_nocase(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
        if (util::ascii_lower(s[i]) != prefix[i]) return false;
    return true;
}

// After the base type: nothing, or "+format" (a non-empty token).
bool suffix_ok(std::string_view rest) {
    if (rest.empty()) return true;
    return rest.front() == '+' && rest.size() > 1;
}

}  // namespace

protocol classify_content_type(std::string_view ct) {
    ct = util::trim(ct.substr(0, ct.find(';')));
    constexpr std::string_view base = "application/grpc";
    if (!starts_with_nocase(ct, base)) return protocol::none;
    auto rest = ct.substr(base.size());
    if (suffix_ok(rest)) return protocol::grpc;
    constexpr std::string_view web_text = "-web-text";
    constexpr std::string_view web = "-web";
    if (starts_with_nocase(rest, web_text))
        return suffix_ok(rest.substr(web_text.size())) ? protocol::web_text : protocol::none;
    if (starts_with_nocase(rest, web))
        return suffix_ok(rest.substr(web.size())) ? protocol::web : protocol::none;
    return protocol::none;
}

std::string_view reply_content_type(protocol p) {
    switch (p) {
        case protocol::grpc: return "application/grpc";
        case protocol::web: return "application/grpc-web+proto";
        case protocol::web_text: return "application/grpc-web-text+proto";
        case protocol::none: break;
    }
    return {};
}

bool is_grpc_answer(http::field_list fields) {
    for (auto& f : fields)
        if (http::iequals(f.name, "content-type")) return is_grpc(f.value);
    return false;
}

}  // namespace gatehouse::grpc
