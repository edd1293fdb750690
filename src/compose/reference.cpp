#include "compose/reference.hpp"

#include <cctype>

namespace gatehouse::compose {

namespace {

bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }

}  // namespace

std::optional<json_path> parse_json_path(std::string_view text, std::string& error) {
    json_path out;
    std::size_t i = 0;
    bool want_name = true;  // at the start and after '.'
    while (i < text.size()) {
        if (text[i] == '[') {
            if (want_name && !out.empty()) break;  // "a.[0]"
            auto close = text.find(']', i);
            if (close == std::string_view::npos || close == i + 1) break;
            json_step s;
            s.is_index = true;
            for (std::size_t j = i + 1; j < close; ++j) {
                if (!std::isdigit(static_cast<unsigned char>(text[j])) || close - i > 7) {
                    error = "an array index is a number: '" + std::string(text) + "'";
                    return std::nullopt;
                }
                s.index = s.index * 10 + static_cast<std::size_t>(text[j] - '0');
            }
            out.push_back(std::move(s));
            i = close + 1;
            want_name = false;
            if (i < text.size() && text[i] == '.') {
                ++i;
                want_name = true;
                if (i == text.size()) break;
            }
            continue;
        }
        if (!want_name) break;
        std::size_t j = i;
        while (j < text.size() && name_char(text[j])) ++j;
        if (j == i) break;
        out.push_back({std::string(text.substr(i, j - i)), 0, false});
        i = j;
        want_name = false;
        if (i < text.size() && text[i] == '.') {
            ++i;
            want_name = true;
            if (i == text.size()) break;
        }
    }
    if (i != text.size() || want_name || out.empty()) {
        error = "not a field path (name.name[0].name): '" + std::string(text) + "'";
        return std::nullopt;
    }
    return out;
}

std::optional<reference> parse_reference(std::string_view text, std::string& error) {
    auto steps = parse_json_path(text, error);
    if (!steps) return std::nullopt;
    reference r;
    const auto& head = steps->front().key;
    if (steps->front().is_index) {
        error = "a reference starts with a name: '{" + std::string(text) + "}'";
        return std::nullopt;
    }
    static constexpr std::pair<std::string_view, source> k_sources[] = {
        {"path", source::path}, {"query", source::query}, {"header", source::header}, {"claim", source::claim}};
    for (auto [prefix, from] : k_sources) {
        if (head != prefix) continue;
        if (steps->size() != 2 || (*steps)[1].is_index) {
            error = "'{" + std::string(text) + "}': " + std::string(prefix) + " takes one name (" + std::string(prefix) + ".NAME)";
            return std::nullopt;
        }
        r.from = from;
        r.name = (*steps)[1].key;
        if (from == source::header)
            for (auto& c : r.name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return r;
    }
    r.from = head == "item" ? source::item : source::call;
    r.name = head;
    steps->erase(steps->begin());
    r.steps = std::move(*steps);
    if (r.from == source::call && r.steps.empty()) {
        error = "'{" + std::string(text) + "}' names a whole response: reference a field ({" + r.name + ".FIELD})";  // `head` died with the erase
        return std::nullopt;
    }
    return r;
}

std::optional<text_template> parse_template(std::string_view text, std::string& error) {
    text_template out;
    std::size_t i = 0;
    while (i < text.size()) {
        auto open = text.find_first_of("{}", i);
        if (open == std::string_view::npos) {
            out.push_back({std::string(text.substr(i)), std::nullopt});
            break;
        }
        if (text[open] == '}') {
            error = "a '}' without its '{' in '" + std::string(text) + "'";
            return std::nullopt;
        }
        if (open > i) out.push_back({std::string(text.substr(i, open - i)), std::nullopt});
        auto close = text.find('}', open);
        if (close == std::string_view::npos) {
            error = "a '{' without its '}' in '" + std::string(text) + "'";
            return std::nullopt;
        }
        auto r = parse_reference(text.substr(open + 1, close - open - 1), error);
        if (!r) return std::nullopt;
        out.push_back({{}, std::move(*r)});
        i = close + 1;
    }
    return out;
}

const nlohmann::json* find(const nlohmann::json& root, const json_path& steps) {
    const nlohmann::json* v = &root;
    for (const auto& s : steps) {
        if (s.is_index) {
            if (!v->is_array() || s.index >= v->size()) return nullptr;
            v = &(*v)[s.index];
        } else {
            if (!v->is_object()) return nullptr;
            auto it = v->find(s.key);
            if (it == v->end()) return nullptr;
            v = &*it;
        }
    }
    return v;
}

std::optional<std::string> scalar_text(const nlohmann::json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number() || v.is_boolean()) return v.dump();
    return std::nullopt;
}

void append_encoded(std::string& out, std::string_view value) {
    static constexpr char k_hex[] = "0123456789ABCDEF";
    const bool only_dots = !value.empty() && value.find_first_not_of('.') == std::string_view::npos;
    for (unsigned char c : value) {
        const bool unreserved = std::isalnum(c) || c == '-' || c == '_' || c == '~' || (c == '.' && !only_dots);
        if (unreserved) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += k_hex[c >> 4];
            out += k_hex[c & 15];
        }
    }
}

}  // namespace gatehouse::compose
