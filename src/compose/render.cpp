#include "compose/render.hpp"

#include <algorithm>

#include "compose/reference.hpp"
#include "util/percent.hpp"

namespace gatehouse::compose {

namespace {

const std::string* lookup(const string_pairs& pairs, const std::string& name) {
    auto it = std::find_if(pairs.begin(), pairs.end(), [&](auto& p) { return p.first == name; });
    return it == pairs.end() ? nullptr : &it->second;
}

// A query parameter's value, decoded (the first one of the name).
std::optional<std::string> query_value(std::string_view q, std::string_view name) {
    while (!q.empty()) {
        auto amp = q.find('&');
        auto pair = q.substr(0, amp);
        q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
        auto eq = pair.find('=');
        if (util::percent_decoded(pair.substr(0, eq)) != name) continue;
        return eq == std::string_view::npos ? std::string() : util::percent_decoded(pair.substr(eq + 1));
    }
    return std::nullopt;
}

std::string text_of(const reference& r) {
    static constexpr const char* k_prefix[] = {"", "path.", "query.", "header.", "claim.", ""};
    std::string s = "{" + std::string(k_prefix[static_cast<int>(r.from)]) + r.name;
    for (auto& st : r.steps) s += st.is_index ? "[" + std::to_string(st.index) + "]" : "." + st.key;
    return s + "}";
}

}  // namespace

// Literals as they are, references as their scalar's text (percent-encoded for a path).
static std::optional<std::string> render_text(const text_template& t, const render_context& ctx, std::string& missing, bool encode) {
    std::string out;
    for (const auto& p : t) {
        if (!p.ref) {
            out += p.literal;
            continue;
        }
        auto v = resolve(*p.ref, ctx);
        auto text = v ? scalar_text(*v) : std::nullopt;
        if (!text) {
            missing = text_of(*p.ref);
            return std::nullopt;
        }
        if (encode) append_encoded(out, *text);
        else out += *text;
    }
    return out;
}

std::optional<nlohmann::json> resolve(const reference& r, const render_context& ctx) {
    const std::string* s = nullptr;
    switch (r.from) {
        case source::path: s = lookup(ctx.request.path_vars, r.name); break;
        case source::header: s = lookup(ctx.request.fields, r.name); break;
        case source::claim: s = lookup(ctx.request.claims, r.name); break;
        case source::query: {
            auto v = query_value(ctx.request.query, r.name);
            if (!v) return std::nullopt;
            return nlohmann::json(std::move(*v));
        }
        case source::item: {
            if (!ctx.item) return std::nullopt;
            const auto* v = find(*ctx.item, r.steps);
            return v ? std::optional<nlohmann::json>(*v) : std::nullopt;
        }
        case source::call: {
            auto it = std::find_if(ctx.calls.begin(), ctx.calls.end(), [&](auto& c) { return c.name == r.name; });
            const auto i = static_cast<std::size_t>(it - ctx.calls.begin());
            if (it == ctx.calls.end() || i >= ctx.results.size() || !ctx.results[i]) return std::nullopt;
            const auto* v = find(*ctx.results[i], r.steps);
            return v ? std::optional<nlohmann::json>(*v) : std::nullopt;
        }
    }
    if (!s) return std::nullopt;
    return nlohmann::json(*s);
}

std::optional<std::string> render_path(const text_template& t, const render_context& ctx, std::string& missing) {
    return render_text(t, ctx, missing, true);
}

std::optional<nlohmann::json> render_body(const nlohmann::json& tmpl, const render_context& ctx, std::string& missing) {
    if (tmpl.is_structured()) {
        nlohmann::json out = tmpl;
        auto in = tmpl.begin();
        for (auto it = out.begin(); it != out.end(); ++it, ++in) {
            auto v = render_body(*in, ctx, missing);
            if (!v) return std::nullopt;
            *it = std::move(*v);
        }
        return out;
    }
    if (!tmpl.is_string()) return tmpl;
    std::string error;
    auto t = parse_template(tmpl.get<std::string>(), error);
    if (!t) return tmpl;  // checked at load
    if (t->size() == 1 && t->front().ref) {
        auto v = resolve(*t->front().ref, ctx);
        if (!v) missing = text_of(*t->front().ref);
        return v;
    }
    auto text = render_text(*t, ctx, missing, false);
    if (!text) return std::nullopt;
    return nlohmann::json(std::move(*text));
}

}  // namespace gatehouse::compose
