// What etcd's JSON gateway sends to the discovery client (src/discovery/etcd/etcd_events.cpp): a
// stream of watch messages cut into documents, each applied to the key state; a range answer;
// a key's value. Nothing throws (the control thread would lose its watch); the state stays
// consistent: a key is either an endpoint or listed as invalid with a reason.
#include <string>
#include <vector>

#include "discovery/etcd/etcd_events.hpp"
#include "fuzz_check.hpp"

using namespace gatehouse::discovery::etcd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    gatehouse::fuzz::input in{gatehouse::fuzz::as_text(data, size)};
    const auto mode = in.byte() % 3;
    auto text = in.rest;
    key_state st;
    std::string error;
    if (mode == 2) {
        std::string value(text);
        auto e = parse_value("/services/api/1", value, error);
        FUZZ_CHECK(e.has_value() || !error.empty());
        if (e) FUZZ_CHECK(e->address.port != 0 && !e->address.host.empty());
        return 0;
    }
    std::vector<std::string_view> docs;
    auto used = split_json_stream(text, docs);
    FUZZ_CHECK(used <= text.size());
    for (auto d : docs) {
        FUZZ_CHECK(d.data() >= text.data() && d.data() + d.size() <= text.data() + used);
        auto j = nlohmann::json::parse(d, nullptr, false);
        if (j.is_discarded()) continue;
        const auto before = st.revision;
        if (mode == 0) {
            auto a = apply_watch_message(j, st, error);
            if (a == watch_action::changed || a == watch_action::none) FUZZ_CHECK(st.revision >= before);
        } else {
            (void)read_range(j, st, error);
        }
    }
    for (auto& [k, e] : st.keys) FUZZ_CHECK(e.has_value() != (st.invalid.count(k) == 1));
    (void)st.endpoints();
    return 0;
}
