#include "cache/key.hpp"

#include "cache/policy.hpp"
#include "util/text.hpp"

namespace gatehouse::cache {

namespace {

// host[:port] lower-cased, the scheme's default port dropped.
void append_host(std::string& out, bool secure, std::string_view host) {
    // A port is the digits after the last ':' (an IPv6 literal's colons are followed by ']').
    std::size_t i = host.size();
    while (i > 0 && host[i - 1] >= '0' && host[i - 1] <= '9') --i;
    if (i > 0 && host[i - 1] == ':') {
        auto port = host.substr(i);
        if (port.empty() || port == (secure ? "443" : "80")) host = host.substr(0, i - 1);
    }
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // "example.com." is example.com
    util::append_ascii_lower(out, host);
}

}  // namespace

void build_url(std::string& out, bool secure, std::string_view host, std::string_view path, std::string_view query, const key_settings& k) {
    out.assign(secure ? "https://" : "http://");
    append_host(out, secure, host);
    out += path;
    switch (k.query) {
        case key_settings::query_mode::none: return;
        case key_settings::query_mode::all:
            if (!query.empty()) {
                out += '?';
                out += query;
            }
            return;
        case key_settings::query_mode::named: {
            bool first = true;
            for (auto& name : k.query_names) {
                std::string_view q = query;
                while (!q.empty()) {
                    auto amp = q.find('&');
                    auto param = q.substr(0, amp);
                    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
                    if (param.substr(0, param.find('=')) != name) continue;
                    out += first ? '?' : '&';
                    out += param;
                    first = false;
                }
            }
            return;
        }
    }
}

void build_extras(std::string& out, http::field_list fields, const key_settings& k) {
    out.clear();
    for (auto& h : k.headers) {
        if (!out.empty()) out += "; ";
        out += h;
        out += '=';
        out += vary_value(fields, h);
    }
}

std::string normalise_url(std::string_view url) {
    bool secure;
    if (url.size() > 8 && http::iequals(url.substr(0, 8), "https://")) {
        secure = true;
        url.remove_prefix(8);
    } else if (url.size() > 7 && http::iequals(url.substr(0, 7), "http://")) {
        secure = false;
        url.remove_prefix(7);
    } else {
        return {};
    }
    auto slash = url.find_first_of("/?");
    auto host = url.substr(0, slash);
    if (host.empty()) return {};
    std::string out = secure ? "https://" : "http://";
    append_host(out, secure, host);
    if (slash == std::string_view::npos) out += '/';
    else {
        if (url[slash] == '?') out += '/';
        out += url.substr(slash);
    }
    return out;
}

}  // namespace gatehouse::cache
