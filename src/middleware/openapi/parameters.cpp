#include "middleware/openapi/parameters.hpp"

#include <charconv>

#include "openapi/json_limits.hpp"
#include "openapi/schema_node.hpp"
#include "openapi/uri.hpp"
#include "util/percent.hpp"

namespace gatehouse::middleware::openapi_mw {
namespace {

using gatehouse::openapi::param_in;
using gatehouse::openapi::param_style;
using gatehouse::openapi::parameter;
namespace oa = gatehouse::openapi;

constexpr std::size_t k_max_json_parameter_depth = 32;

// Text as the primitive type the schema wants; text when it is not one (the schema then says so).
json primitive(std::uint8_t types, std::string_view text) {
    if (types & (oa::t_integer | oa::t_number)) {
        std::int64_t i = 0;
        auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
        if (ec == std::errc() && p == text.data() + text.size() && !text.empty()) return i;
        if (types & oa::t_number) {
            auto j = json::parse(text.begin(), text.end(), nullptr, false);
            if (!j.is_discarded() && j.is_number()) return j;
        }
    }
    if (types & oa::t_boolean) {
        if (text == "true") return true;
        if (text == "false") return false;
    }
    if ((types & oa::t_null) && text.empty()) return nullptr;
    return std::string(text);
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    if (s.empty()) return out;
    std::size_t pos = 0;
    while (true) {
        auto end = s.find(sep, pos);
        out.push_back(s.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos));
        if (end == std::string_view::npos) break;
        pos = end + 1;
    }
    return out;
}

json array_of(const parameter& p, const std::vector<std::string_view>& items) {
    json a = json::array();
    for (auto i : items) a.push_back(primitive(p.item_types, i));
    return a;
}

// "k,v,k2,v2" (explode false) or "k=v,k2=v2" (explode true), separated by `sep`.
json object_of(const std::vector<std::string_view>& parts, bool pairs_with_equals) {
    json o = json::object();
    if (pairs_with_equals) {
        for (auto part : parts) {
            auto eq = part.find('=');
            if (eq == std::string_view::npos) return json(std::string());  // not an object: the schema says so
            o[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
        }
        return o;
    }
    if (parts.size() % 2) return json(std::string());
    for (std::size_t i = 0; i + 1 < parts.size(); i += 2) o[std::string(parts[i])] = std::string(parts[i + 1]);
    return o;
}

json structured(const parameter& p, std::string_view text, char sep, bool explode) {
    if (p.types & oa::t_array) return array_of(p, split(text, sep));
    if (p.types & oa::t_object) return object_of(split(text, sep), explode);
    return primitive(p.types, text);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> split_query(std::string_view query) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!query.empty()) {  // the pairs between '&'s, without a list of them first
        auto amp = query.find('&');
        auto part = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (part.empty()) continue;
        auto eq = part.find('=');
        auto decode = [](std::string_view s) {
            if (s.find_first_of("%+") == std::string_view::npos) return std::string(s);  // most names and values
            std::string t(s);
            for (auto& c : t)
                if (c == '+') c = ' ';
            return util::percent_decoded(t);
        };
        out.emplace_back(decode(part.substr(0, eq)),
                         eq == std::string_view::npos ? std::string() : decode(part.substr(eq + 1)));
    }
    return out;
}

json deserialise_value(const parameter& p, std::string_view text) {
    if (p.json_content) {
        oa::json_refusal why;
        auto doc = oa::parse_bounded(text, k_max_json_parameter_depth, why);
        return doc ? std::move(*doc) : json(std::string(text));
    }
    switch (p.style) {
        case param_style::label: {  // ".a.b" (explode) or ".a,b"
            if (!text.starts_with('.')) return json(std::string(text));
            text.remove_prefix(1);
            return structured(p, text, p.explode ? '.' : ',', p.explode);
        }
        case param_style::matrix: {  // ";id=5", ";id=3;id=4" (explode), ";id=3,4"
            std::string prefix = ";" + p.name + "=";
            if (p.explode && (p.types & oa::t_array)) {
                json a = json::array();
                for (auto part : split(text.substr(text.empty() ? 0 : 1), ';')) {
                    if (!part.starts_with(p.name + "=")) return json(std::string(text));
                    a.push_back(primitive(p.item_types, part.substr(p.name.size() + 1)));
                }
                return a;
            }
            if (p.explode && (p.types & oa::t_object))
                return object_of(split(text.substr(text.empty() ? 0 : 1), ';'), true);
            if (!text.starts_with(prefix)) return json(std::string(text));
            return structured(p, text.substr(prefix.size()), ',', false);
        }
        default: return structured(p, text, ',', p.explode);  // simple; form (a cookie)
    }
}

std::optional<json> deserialise_query(const parameter& p, const std::vector<std::pair<std::string, std::string>>& pairs,
                                      std::vector<bool>& used, bool* repeated) {
    if (repeated) *repeated = false;
    if (p.style == param_style::deep_object) {  // name[k]=v
        json o = json::object();
        bool any = false;
        for (std::size_t i = 0; i < pairs.size(); ++i) {
            auto& [n, v] = pairs[i];
            if (n.size() > p.name.size() + 2 && n.starts_with(p.name) && n[p.name.size()] == '[' && n.back() == ']') {
                o[n.substr(p.name.size() + 1, n.size() - p.name.size() - 2)] = v;
                used[i] = true;
                any = true;
            }
        }
        if (!any) return std::nullopt;
        return o;
    }
    if (p.explode && (p.types & oa::t_object) && !p.json_content) {
        return std::nullopt;  // exploded form objects spread over unnamed pairs: not deserialised (refused at load)
    }
    std::size_t hits = 0, first = 0;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        if (pairs[i].first != p.name) continue;
        if (hits++ == 0) first = i;
        used[i] = true;
    }
    if (hits == 0) return std::nullopt;
    // Only an exploded array takes its name more than once; anything else given twice is
    // ambiguous (which value counts?) and refused as such, whatever its schema says.
    if (hits > 1 && !((p.types & oa::t_array) && p.explode && !p.json_content)) {
        if (repeated) *repeated = true;
        return json();
    }
    if (p.json_content) return deserialise_value(p, pairs[first].second);
    if ((p.types & oa::t_array) && p.explode) {
        json a = json::array();
        for (std::size_t i = first; i < pairs.size(); ++i)
            if (pairs[i].first == p.name) a.push_back(primitive(p.item_types, pairs[i].second));
        return a;
    }
    const std::string& text = pairs[first].second;
    char sep = p.style == param_style::space_delimited ? ' ' : p.style == param_style::pipe_delimited ? '|' : ',';
    return structured(p, text, sep, false);
}

}  // namespace gatehouse::middleware::openapi_mw
