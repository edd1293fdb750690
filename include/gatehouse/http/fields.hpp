#pragma once
// Header fields as every part of gatehouse sees them, whatever protocol brought them: a name
// and its value, views into the buffers of the codec that read them. No wire text: how a field
// was framed (an HTTP/1.1 line, an HPACK entry) stays the codec's business. The router, the
// middleware contract and the cache take fields as a field_list.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

namespace gatehouse::http {

struct field {
    std::string_view name;
    std::string_view value;  // OWS trimmed
};

// Case-insensitive ASCII comparison. The length check is inline: most comparisons of field
// names fail on it (callgrind: ~1 k instructions per proxied request went to the call alone).
bool iequals_same_length(const char* a, const char* b, std::size_t n);
inline bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && iequals_same_length(a.data(), b.data(), a.size());
}

// A read-only run of fields over a codec's own records: any record type that is a `field`
// (the HTTP/1 scanner's records carry the received line after it). Iterates as `const field&`.
template <class Record>
inline constexpr char field_record_kind = 0;  // its address names the record type (one per program)

class field_list {
public:
    class iterator {
    public:
        using value_type = field;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        iterator(const unsigned char* p, std::size_t stride) : p_(p), stride_(stride) {}
        const field& operator*() const { return *reinterpret_cast<const field*>(p_); }
        const field* operator->() const { return reinterpret_cast<const field*>(p_); }
        iterator& operator++() {
            p_ += stride_;
            return *this;
        }
        iterator operator++(int) {
            auto old = *this;
            p_ += stride_;
            return old;
        }
        bool operator==(const iterator& o) const { return p_ == o.p_; }

    private:
        const unsigned char* p_ = nullptr;
        std::size_t stride_ = sizeof(field);
    };

    field_list() = default;
    template <class Record>
    requires std::is_base_of_v<field, Record> field_list(std::span<const Record> records)
        : first_(reinterpret_cast<const unsigned char*>(static_cast<const field*>(records.data()))),
          size_(records.size()),
          stride_(sizeof(Record)),
          kind_(&field_record_kind<Record>) {}
    template <class Record>
    requires std::is_base_of_v<field, Record> field_list(const std::vector<Record>& records)
        : field_list(std::span<const Record>(records)) {}

    iterator begin() const { return {first_, stride_}; }
    iterator end() const { return {first_ + size_ * stride_, stride_}; }
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    const field& operator[](std::size_t i) const { return *reinterpret_cast<const field*>(first_ + i * stride_); }

    // The codec's own records when they are of type Record (a codec recognising its own fields,
    // e.g. to copy HTTP/1 field lines as they arrived), else null.
    template <class Record>
    const Record* records() const {
        return kind_ == &field_record_kind<Record> ? reinterpret_cast<const Record*>(static_cast<const void*>(first_)) : nullptr;
    }

    // The value of the first field named `name` (case-insensitive), or nullopt.
    std::optional<std::string_view> find(std::string_view name) const {
        for (auto& f : *this)
            if (iequals(f.name, name)) return f.value;
        return std::nullopt;
    }

private:
    const unsigned char* first_ = nullptr;
    std::size_t size_ = 0;
    std::size_t stride_ = sizeof(field);
    const char* kind_ = &field_record_kind<field>;
};

// RFC 9110 token (field names, methods).
bool is_token(std::string_view s);
// What is wrong with `name` as a field name, or nullptr. `request`: a field a client sends (or
// gatehouse adds to a request): the scanner refuses '_' in request field names (proxies disagree
// on whether it equals '-'), so config naming one could never match. The one check for the
// scanner, the config loader and every middleware's settings.
const char* field_name_problem(std::string_view name, bool request);
// An HTTP/2 request's field name: field_name_problem(name, true) finds nothing and no letter is
// upper-case (RFC 9113 §8.2.1), checked in one pass.
bool valid_h2_request_name(std::string_view name);

// A field value gatehouse may send: no CR, LF, NUL or other CTL except HTAB, no DEL (checked
// eight bytes at a time). For values from config, claims, certificates and middleware.
bool valid_field_value(std::string_view v);

// The rules for a Host value (or :authority) and a request target's octets (or :path), one
// set for every codec: what one protocol refuses the other must not forward.
bool valid_host(std::string_view h);
bool valid_target_chars(std::string_view t);  // visible ASCII except '#'

// Does the comma-separated list `list` contain `token` (case-insensitive)?
bool list_contains(std::string_view list, std::string_view token);

// Hop-by-hop fields (RFC 9110 §7.6.1): TE, Trailer, Upgrade, Connection, Keep-Alive,
// Proxy-Connection, Transfer-Encoding. Never forwarded as they are. Asked for every field both
// ways, so the length test is inline (most names have none of the five lengths) and only a name
// of such a length is compared (callgrind: ~350 instructions a proxied request as a call each).
bool is_hop_by_hop_name(std::string_view name);  // the comparison, for a name of one of those lengths
inline bool is_hop_by_hop(std::string_view name) {
    constexpr std::uint32_t k_lengths = (1u << 2) | (1u << 7) | (1u << 10) | (1u << 16) | (1u << 17);
    return name.size() <= 17 && ((k_lengths >> name.size()) & 1u) && is_hop_by_hop_name(name);
}

// Fields only the proxy may write (framing, connection management, the host): Content-Length,
// Transfer-Encoding, Connection, Keep-Alive, Proxy-Connection, Upgrade, TE, Trailer, Host, in any
// case. Config that copies fields between messages (header rules, a composition's `forward`,
// ext_authz's header lists) refuses them: a copied Content-Length would desynchronise the
// connection it goes out on.
bool is_proxy_owned(std::string_view name);

// The names a Connection field lists (RFC 9110 §7.6.1: each names a hop-by-hop field), split
// once per message: asking list_contains for every forwarded field cost ~1,100 instructions a
// request (callgrind, 5-byte proxying). HTTP/1 only in practice (HTTP/2 has no Connection field).
class connection_names {
public:
    explicit connection_names(std::string_view connection);
    // Every name listed is hop-by-hop anyway, or "close" (Connection: keep-alive, the usual
    // case): no other field is made hop-by-hop by it.
    bool names_nothing_else() const {
        if (overflow_) return false;
        for (std::size_t i = 0; i < n_; ++i)
            if (!is_hop_by_hop(names_[i]) && !iequals(names_[i], "close")) return false;
        return true;
    }
    bool contains(std::string_view field) const {
        if (overflow_) return list_contains(raw_, field);
        for (std::size_t i = 0; i < n_; ++i)
            if (names_[i].size() == field.size() && iequals_same_length(names_[i].data(), field.data(), field.size())) return true;
        return false;
    }

private:
    std::string_view raw_;
    std::string_view names_[6];
    std::size_t n_ = 0;
    bool overflow_ = false;  // more names than fit: ask the list itself
};

// Fields no trailer may carry (framing, routing, connection management, content metadata; RFC
// 9110 §6.5.1): dropped from received trailers, never forwarded.
bool is_forbidden_trailer(std::string_view name);

// Idempotent methods per RFC 9110 §9.2.2.
bool is_idempotent(std::string_view method);

// The value of cookie `name` in the Cookie fields, or nullopt.
std::optional<std::string_view> find_cookie(field_list fields, std::string_view name);

}  // namespace gatehouse::http
