#include "compose/shape.hpp"

#include <algorithm>

#include "compose/reference.hpp"

namespace gatehouse::compose {

namespace {


nlohmann::json shape_object(const fields_rule& f, nlohmann::json obj) {
    if (!obj.is_object()) return obj;
    if (!f.allow.empty()) {
        nlohmann::json kept = nlohmann::json::object();
        for (auto& n : f.allow)
            if (auto it = obj.find(n); it != obj.end()) kept[n] = std::move(*it);
        obj = std::move(kept);
    }
    for (auto& n : f.deny) obj.erase(n);
    if (f.rename.empty()) return obj;
    nlohmann::json out = nlohmann::json::object();
    for (auto& [k, v] : obj.items()) {
        const std::string& key = k;  // a structured binding is not capturable by clang 14's lambdas
        auto it = std::find_if(f.rename.begin(), f.rename.end(), [&](auto& r) { return r.first == key; });
        out[it == f.rename.end() ? key : it->second] = std::move(v);
    }
    return out;
}

}  // namespace

nlohmann::json shape(const call_config& c, nlohmann::json response) {
    if (!c.select.empty()) {
        const auto* v = find(response, c.select);
        response = v ? nlohmann::json(*v) : nlohmann::json();
    }
    if (c.fields.empty()) return response;
    if (response.is_array()) {
        for (auto& e : response) e = shape_object(c.fields, std::move(e));
        return response;
    }
    return shape_object(c.fields, std::move(response));
}

void merge(nlohmann::json& answer, const call_config& c, nlohmann::json value) {
    if (c.into.empty() && value.is_object()) {
        for (auto& [k, v] : value.items()) answer[k] = std::move(v);
        return;
    }
    const std::string& key = c.into.empty() ? std::string("collection") : c.into;
    auto it = answer.find(key);
    if (c.merge != merge_mode::append || it == answer.end()) {
        if (c.merge == merge_mode::append && !value.is_array()) value = nlohmann::json::array({std::move(value)});
        answer[key] = std::move(value);
        return;
    }
    if (!it->is_array()) *it = nlohmann::json::array({std::move(*it)});
    if (value.is_array())
        for (auto& e : value) it->push_back(std::move(e));
    else
        it->push_back(std::move(value));
}

void mark_spliced(std::vector<call_config>& calls) {
    for (std::size_t i = 0; i < calls.size(); ++i) {
        auto& c = calls[i];
        const bool taken_whole = c.select.empty() && c.fields.empty() && !c.foreach && c.merge == merge_mode::replace && !c.cache;
        const auto writes_same_key = [&](const call_config& o) { return &o != &c && o.into == c.into; };
        const auto reads_it = [&](const call_config& o) { return std::find(o.after.begin(), o.after.end(), i) != o.after.end(); };
        c.spliced = taken_whole && !c.into.empty() && c.into != "_errors" && std::none_of(calls.begin(), calls.end(), writes_same_key) &&
                    std::none_of(calls.begin(), calls.end(), reads_it);
    }
}

}  // namespace gatehouse::compose
