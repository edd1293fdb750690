#include "discovery/etcd/etcd_events.hpp"

#include "config/yaml_reader.hpp"
#include "util/base64.hpp"

namespace gatehouse::discovery::etcd {

using nlohmann::json;

std::string prefix_end(const std::string& prefix) {
    std::string end = prefix;
    while (!end.empty()) {
        auto& c = reinterpret_cast<unsigned char&>(end.back());
        if (c < 0xff) {
            ++c;
            return end;
        }
        end.pop_back();
    }
    return std::string(1, '\0');  // every key
}

namespace {

// int64 fields arrive as strings from the gateway (proto3 JSON mapping); accept numbers too.
std::int64_t int_field(const json& j, const char* name) {
    auto it = j.find(name);
    if (it == j.end()) return 0;
    if (it->is_number_integer()) return it->get<std::int64_t>();
    if (it->is_string()) {
        try {
            return std::stoll(it->get<std::string>());
        } catch (...) {
            return 0;
        }
    }
    return 0;
}

std::string b64_field(const json& j, const char* name) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return {};
    return util::base64_decode(it->get<std::string>()).value_or(std::string{});
}

}  // namespace

std::optional<endpoint_spec> parse_value(const std::string& key, const std::string& value, std::string& error) {
    endpoint_spec e;
    std::string address;
    auto first = value.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && value[first] == '{') {
        json j = json::parse(value, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
            error = "not valid JSON";
            return std::nullopt;
        }
        for (auto& [k, v] : j.items())
            if (k != "address" && k != "weight" && k != "priority" && k != "zone") {
                error = "unknown field '" + k + "'";
                return std::nullopt;
            }
        if (!j.contains("address") || !j["address"].is_string()) {
            error = "needs \"address\": \"host:port\"";
            return std::nullopt;
        }
        address = j["address"].get<std::string>();
        if (j.contains("weight")) {
            if (!j["weight"].is_number_integer() || j["weight"].get<std::int64_t>() < 1 || j["weight"].get<std::int64_t>() > 10000) {
                error = "weight must be an integer from 1 to 10000";
                return std::nullopt;
            }
            e.weight = j["weight"].get<std::uint32_t>();
        }
        if (j.contains("priority")) {
            if (!j["priority"].is_number_integer() || j["priority"].get<std::int64_t>() < 0 || j["priority"].get<std::int64_t>() > 65535) {
                error = "priority must be an integer from 0 to 65535";
                return std::nullopt;
            }
            e.priority = j["priority"].get<std::uint32_t>();
        }
        if (j.contains("zone") && j["zone"].is_string()) e.zone = j["zone"].get<std::string>();
    } else {
        address = value;
        while (!address.empty() && (address.back() == '\n' || address.back() == '\r' || address.back() == ' ')) address.pop_back();
        if (first != std::string::npos) address.erase(0, first);
    }
    auto hp = config::parse_host_port(address);
    if (!hp || hp->port == 0 || hp->host.empty()) {
        error = "expected host:port with a non-zero port, found '" + address + "'";
        return std::nullopt;
    }
    e.address = *hp;
    e.source = "etcd " + key;
    return e;
}

void key_state::put(const std::string& key, const std::string& value) {
    std::string error;
    auto e = parse_value(key, value, error);
    keys[key] = e;
    if (e) invalid.erase(key);
    else invalid[key] = error;
}

void key_state::erase(const std::string& key) {
    keys.erase(key);
    invalid.erase(key);
}

std::vector<endpoint_spec> key_state::endpoints() const {
    std::vector<endpoint_spec> out;
    for (auto& [k, e] : keys)
        if (e) out.push_back(*e);
    return out;
}

bool read_range(const json& response, key_state& st, std::string& error) {
    if (!response.is_object() || !response.contains("header")) {
        error = response.is_object() && response.contains("error") ? "etcd: " + response["error"].dump() : "not a range response";
        return false;
    }
    key_state fresh;
    fresh.revision = int_field(response["header"], "revision");
    if (response.contains("kvs") && response["kvs"].is_array())
        for (auto& kv : response["kvs"]) fresh.put(b64_field(kv, "key"), b64_field(kv, "value"));
    st = std::move(fresh);
    return true;
}

watch_action apply_watch_message(const json& message, key_state& st, std::string& error) {
    if (!message.is_object()) {
        error = "not a watch message";
        return watch_action::error;
    }
    if (message.contains("error")) {
        error = "etcd: " + message["error"].dump();
        return watch_action::error;
    }
    if (!message.contains("result") || !message["result"].is_object()) {
        error = "not a watch message";
        return watch_action::error;
    }
    const auto& r = message["result"];
    if (int_field(r, "compact_revision") > 0) {
        error = "watch compacted at revision " + std::to_string(int_field(r, "compact_revision"));
        return watch_action::resync;
    }
    // Fields of the wrong type are read as absent, never thrown on (json::value throws on them).
    if (auto c = r.find("canceled"); c != r.end() && c->is_boolean() && c->get<bool>()) {
        auto why = r.find("cancel_reason");
        error = "watch cancelled" + (why != r.end() && why->is_string() ? ": " + why->get<std::string>() : std::string{});
        return watch_action::resync;
    }
    std::int64_t rev = r.contains("header") ? int_field(r["header"], "revision") : 0;
    if (rev > 0 && rev < st.revision) {
        error = "etcd revision went backwards (" + std::to_string(st.revision) + " -> " + std::to_string(rev) +
                "): restored from a backup?";
        return watch_action::resync;
    }
    bool changed = false;
    if (r.contains("events") && r["events"].is_array()) {
        for (auto& ev : r["events"]) {
            if (!ev.contains("kv")) continue;
            auto key = b64_field(ev["kv"], "key");
            // the type field is left out for PUT (the enum's zero value)
            auto type = ev.find("type");
            if (type != ev.end() && type->is_string() && type->get_ref<const std::string&>() == "DELETE") st.erase(key);
            else st.put(key, b64_field(ev["kv"], "value"));
            changed = true;
        }
    }
    if (rev > st.revision) st.revision = rev;
    return changed ? watch_action::changed : watch_action::none;
}

std::size_t split_json_stream(std::string_view data, std::vector<std::string_view>& out) {
    std::size_t used = 0, i = 0;
    while (i < data.size()) {
        while (i < data.size() && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t')) ++i;
        if (i >= data.size()) {
            used = i;
            break;
        }
        std::size_t start = i;
        int depth = 0;
        bool in_string = false, escaped = false, complete = false;
        for (; i < data.size(); ++i) {
            char c = data[i];
            if (in_string) {
                if (escaped) escaped = false;
                else if (c == '\\') escaped = true;
                else if (c == '"') in_string = false;
                continue;
            }
            if (c == '"') in_string = true;
            else if (c == '{' || c == '[') ++depth;
            else if (c == '}' || c == ']') {
                if (--depth == 0) {
                    ++i;
                    complete = true;
                    break;
                }
            }
        }
        if (!complete) break;
        out.push_back(data.substr(start, i - start));
        used = i;
    }
    return used;
}

}  // namespace gatehouse::discovery::etcd
