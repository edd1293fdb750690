#include "transcode/pb_json_encode.hpp"

#include <google/protobuf/descriptor.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string_view>
#include <type_traits>
#include <unordered_set>

namespace gatehouse::transcode {
namespace pb = google::protobuf;
using json_tape::kind;
using json_tape::value;

namespace {

// ---- the wire format ----

enum wire_type : std::uint32_t { k_varint = 0, k_fixed64 = 1, k_length = 2, k_fixed32 = 5 };

void put_varint(std::string& out, std::uint64_t v) {
    char buf[10];
    std::size_t n = 0;
    while (v >= 0x80) {
        buf[n++] = static_cast<char>(v | 0x80);
        v >>= 7;
    }
    buf[n++] = static_cast<char>(v);
    out.append(buf, n);
}

void put_tag(std::string& out, int number, wire_type type) { put_varint(out, (static_cast<std::uint64_t>(number) << 3) | type); }

void put_fixed(std::string& out, std::uint64_t v, std::size_t bytes) {
    char buf[8];
    for (std::size_t i = 0; i < bytes; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    out.append(buf, bytes);
}

// A double or float field's value, tag first: its IEEE bits, little-endian.
template <typename T>
bool put_bits(std::string& out, int number, T v) {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8);
    std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t> bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    put_tag(out, number, sizeof(T) == 8 ? k_fixed64 : k_fixed32);
    put_fixed(out, bits, sizeof(T));
    return true;
}

std::uint64_t zigzag(std::int64_t v) { return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63); }

// A length-delimited value written in place: a one-byte length reserved before it, widened after
// when the value turns out to be 128 bytes or more (rare for the small messages of REST calls).
class length_slot {
public:
    explicit length_slot(std::string& out) : out_(out), at_(out.size()) { out_ += '\0'; }
    void close() {
        const std::size_t length = out_.size() - at_ - 1;
        if (length < 0x80) {
            out_[at_] = static_cast<char>(length);
            return;
        }
        std::string prefix;
        put_varint(prefix, length);
        out_.replace(at_, 1, prefix);
    }

private:
    std::string& out_;
    std::size_t at_;
};

// ---- JSON values as libprotobuf's DataPiece converts them ----

// [-]digits, as safe_strto64/safe_strtou64 take them (the rarer spellings they also take, a '+'
// or spaces, are declined).
bool integer_text(std::string_view s, bool allow_minus, bool& negative, std::uint64_t& magnitude) {
    negative = !s.empty() && s.front() == '-';
    if (negative) {
        if (!allow_minus) return false;
        s.remove_prefix(1);
    }
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), magnitude);
    return ec == std::errc() && p == s.data() + s.size() && s.front() != '+';
}

bool to_int64(value v, std::int64_t& out) {
    switch (v.type()) {
        case kind::integer: out = v.integer(); return true;
        case kind::unsigned_integer:
            if (v.unsigned_integer() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
            out = static_cast<std::int64_t>(v.unsigned_integer());
            return true;
        case kind::floating: {
            const double d = v.number();
            if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || std::trunc(d) != d) return false;
            out = static_cast<std::int64_t>(d);
            return true;
        }
        case kind::string: {
            bool negative = false;
            std::uint64_t m = 0;
            if (!integer_text(v.string(), true, negative, m)) return false;
            if (m > (negative ? 9223372036854775808ull : 9223372036854775807ull)) return false;
            out = negative ? static_cast<std::int64_t>(0 - m) : static_cast<std::int64_t>(m);
            return true;
        }
        default: return false;
    }
}

bool to_uint64(value v, std::uint64_t& out) {
    switch (v.type()) {
        case kind::integer:
            if (v.integer() < 0) return false;
            out = static_cast<std::uint64_t>(v.integer());
            return true;
        case kind::unsigned_integer: out = v.unsigned_integer(); return true;
        case kind::floating: {
            const double d = v.number();
            if (!(d >= 0 && d < 18446744073709551616.0) || std::trunc(d) != d) return false;
            out = static_cast<std::uint64_t>(d);
            return true;
        }
        case kind::string: {
            bool negative = false;
            return integer_text(v.string(), false, negative, out);
        }
        default: return false;
    }
}

// A JSON number's spelling: what a number given as a string must look like here.
bool json_number_text(std::string_view s) {
    std::size_t i = 0;
    const auto digits = [&] {
        const std::size_t from = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
        return i > from;
    };
    if (i < s.size() && s[i] == '-') ++i;
    if (i < s.size() && s[i] == '0') ++i;
    else if (!digits()) return false;
    if (i < s.size() && s[i] == '.') {
        ++i;
        if (!digits()) return false;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
        if (!digits()) return false;
    }
    return i == s.size();
}

// "NaN", "Infinity", "-Infinity", or a number's text, as T.
template <typename T>
bool special_or_text(std::string_view s, T& out) {
    if (s == "NaN") out = std::numeric_limits<T>::quiet_NaN();
    else if (s == "Infinity") out = std::numeric_limits<T>::infinity();
    else if (s == "-Infinity") out = -std::numeric_limits<T>::infinity();
    else {
        if (!json_number_text(s)) return false;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        return ec == std::errc() && p == s.data() + s.size() && std::isfinite(out);
    }
    return true;
}

constexpr double k_exact_integers = 9007199254740992.0;  // 2^53: every integer up to it is a double

bool to_double(value v, double& out) {
    switch (v.type()) {
        case kind::floating: out = v.number(); return true;
        case kind::integer:
        case kind::unsigned_integer:
            out = v.number();
            return std::fabs(out) <= k_exact_integers;
        case kind::string: return special_or_text(v.string(), out);
        default: return false;
    }
}

bool to_float(value v, float& out) {
    switch (v.type()) {
        case kind::floating: {
            const double d = v.number();
            if (std::fabs(d) > std::numeric_limits<float>::max()) return false;
            out = static_cast<float>(d);
            return true;
        }
        case kind::integer:
        case kind::unsigned_integer:
            out = static_cast<float>(v.number());
            return std::fabs(v.number()) <= 16777216.0;  // 2^24
        case kind::string: return special_or_text(v.string(), out);
        default: return false;
    }
}

int base64_digit(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

// Base64 of one alphabet (standard or URL-safe), padded fully or not at all, with no stray bits.
bool from_base64(std::string_view s, std::string& out) {
    if (s.size() % 4 == 0 && !s.empty() && s.back() == '=') {
        s.remove_suffix(1);
        if (s.back() == '=') s.remove_suffix(1);
    }
    if (s.size() % 4 == 1) return false;
    const std::size_t at = out.size();
    out.resize(at + s.size() * 3 / 4);  // written in place: one resize, not a push per byte
    char* p = out.data() + at;
    bool standard = false, url_safe = false;
    std::uint32_t bits = 0;
    int held = 0;
    for (const char c : s) {
        const int d = base64_digit(c);
        if (d < 0) return false;
        standard |= c == '+' || c == '/';
        url_safe |= c == '-' || c == '_';
        bits = (bits << 6) | static_cast<std::uint32_t>(d);
        held += 6;
        if (held >= 8) {
            held -= 8;
            *p++ = static_cast<char>((bits >> held) & 0xff);
        }
    }
    return !(standard && url_safe) && (bits & ((1u << held) - 1)) == 0;
}

// ---- the walk ----

bool encode_message(const pb::Descriptor* type, value object, std::string& out);

bool is_signed(const pb::FieldDescriptor* f) {
    using T = pb::FieldDescriptor;
    const auto t = f->type();
    return t == T::TYPE_INT32 || t == T::TYPE_SINT32 || t == T::TYPE_SFIXED32 || t == T::TYPE_INT64 || t == T::TYPE_SINT64 ||
           t == T::TYPE_SFIXED64;
}

// A signed integer field's value, tag first; false when the field is 32 bits and `x` is not.
bool put_signed(std::string& out, const pb::FieldDescriptor* f, std::int64_t x) {
    using T = pb::FieldDescriptor;
    const int n = f->number();
    switch (f->type()) {
        case T::TYPE_INT32:
        case T::TYPE_SINT32:
        case T::TYPE_SFIXED32: {
            if (x < std::numeric_limits<std::int32_t>::min() || x > std::numeric_limits<std::int32_t>::max()) return false;
            const auto x32 = static_cast<std::int32_t>(x);
            if (f->type() == T::TYPE_SFIXED32) {
                put_tag(out, n, k_fixed32);
                put_fixed(out, static_cast<std::uint32_t>(x32), 4);
                return true;
            }
            put_tag(out, n, k_varint);
            if (f->type() == T::TYPE_SINT32) put_varint(out, (static_cast<std::uint32_t>(x32) << 1) ^ static_cast<std::uint32_t>(x32 >> 31));
            else put_varint(out, static_cast<std::uint64_t>(x));  // negative: ten bytes, as int64
            return true;
        }
        case T::TYPE_SFIXED64:
            put_tag(out, n, k_fixed64);
            put_fixed(out, static_cast<std::uint64_t>(x), 8);
            return true;
        default:
            put_tag(out, n, k_varint);
            put_varint(out, f->type() == T::TYPE_SINT64 ? zigzag(x) : static_cast<std::uint64_t>(x));
            return true;
    }
}

// An unsigned integer field's value, tag first; false when the field is 32 bits and `x` is not.
bool put_unsigned(std::string& out, const pb::FieldDescriptor* f, std::uint64_t x) {
    using T = pb::FieldDescriptor;
    const bool wide = f->type() == T::TYPE_UINT64 || f->type() == T::TYPE_FIXED64;
    if (!wide && x > std::numeric_limits<std::uint32_t>::max()) return false;
    if (f->type() == T::TYPE_FIXED32 || f->type() == T::TYPE_FIXED64) {
        put_tag(out, f->number(), wide ? k_fixed64 : k_fixed32);
        put_fixed(out, x, wide ? 8 : 4);
        return true;
    }
    put_tag(out, f->number(), k_varint);
    put_varint(out, x);
    return true;
}

// An enum field's value, tag first: by name, or any int32 number (proto3 enums are open).
bool put_enum(std::string& out, const pb::FieldDescriptor* f, value v) {
    std::int64_t x = 0;
    if (v.type() == kind::string) {
        const auto* e = f->enum_type()->FindValueByName(std::string(v.string()));
        if (e == nullptr) return false;
        x = e->number();
    } else if (!v.is_number() || !to_int64(v, x) || x < std::numeric_limits<std::int32_t>::min() ||
               x > std::numeric_limits<std::int32_t>::max()) {
        return false;
    }
    put_tag(out, f->number(), k_varint);
    put_varint(out, static_cast<std::uint64_t>(x));
    return true;
}

// One value (not a list) of field `f`, tag first.
bool encode_single(const pb::FieldDescriptor* f, value v, std::string& out) {
    using T = pb::FieldDescriptor;
    const int n = f->number();
    switch (f->type()) {
        case T::TYPE_INT32:
        case T::TYPE_SINT32:
        case T::TYPE_SFIXED32:
        case T::TYPE_INT64:
        case T::TYPE_SINT64:
        case T::TYPE_SFIXED64: {
            std::int64_t x = 0;
            return to_int64(v, x) && put_signed(out, f, x);
        }
        case T::TYPE_UINT32:
        case T::TYPE_FIXED32:
        case T::TYPE_UINT64:
        case T::TYPE_FIXED64: {
            std::uint64_t x = 0;
            return to_uint64(v, x) && put_unsigned(out, f, x);
        }
        case T::TYPE_DOUBLE: {
            double x = 0;
            return to_double(v, x) && put_bits(out, n, x);
        }
        case T::TYPE_FLOAT: {
            float x = 0;
            return to_float(v, x) && put_bits(out, n, x);
        }
        case T::TYPE_BOOL:
            if (v.type() != kind::boolean) return false;
            put_tag(out, n, k_varint);
            out += v.boolean() ? '\1' : '\0';
            return true;
        case T::TYPE_ENUM: return put_enum(out, f, v);
        case T::TYPE_STRING:
        case T::TYPE_BYTES: {
            if (v.type() != kind::string) return false;
            put_tag(out, n, k_length);
            if (f->type() == T::TYPE_STRING) {
                put_varint(out, v.string().size());
                out += v.string();
                return true;
            }
            length_slot slot(out);
            if (!from_base64(v.string(), out)) return false;
            slot.close();
            return true;
        }
        case T::TYPE_MESSAGE: {
            if (!v.is_object()) return false;
            put_tag(out, n, k_length);
            length_slot slot(out);
            if (!encode_message(f->message_type(), v, out)) return false;
            slot.close();
            return true;
        }
        case T::TYPE_GROUP: return false;
    }
    return false;
}

// A map key (a JSON member name) as the key field's value, tag first.
bool encode_map_key(const pb::FieldDescriptor* key, std::string_view text, std::string& out) {
    using T = pb::FieldDescriptor;
    if (key->type() == T::TYPE_STRING) {
        put_tag(out, key->number(), k_length);
        put_varint(out, text.size());
        out += text;
        return true;
    }
    if (key->type() == T::TYPE_BOOL) {
        if (text != "true" && text != "false") return false;
        put_tag(out, key->number(), k_varint);
        out += text == "true" ? '\1' : '\0';
        return true;
    }
    bool negative = false;
    std::uint64_t m = 0;
    if (!integer_text(text, is_signed(key), negative, m)) return false;
    if (!is_signed(key)) return put_unsigned(out, key, m);
    if (m > (negative ? 9223372036854775808ull : 9223372036854775807ull)) return false;
    return put_signed(out, key, negative ? static_cast<std::int64_t>(0 - m) : static_cast<std::int64_t>(m));
}

bool encode_map(const pb::FieldDescriptor* f, value object, std::string& out) {
    if (!object.is_object()) return false;
    const auto* entry = f->message_type();
    const auto* key = entry->map_key();
    const auto* val = entry->map_value();
    for (auto m = object.members(); !m.done(); m.next()) {
        if (m.value().type() == kind::null) return false;
        put_tag(out, f->number(), k_length);
        length_slot slot(out);
        if (!encode_map_key(key, m.key(), out) || !encode_single(val, m.value(), out)) return false;
        slot.close();
    }
    return true;
}

const pb::FieldDescriptor* find_member(const pb::Descriptor* type, std::string_view name) {
    const int count = type->field_count();
    for (int i = 0; i < count; ++i) {
        if (type->field(i)->json_name() == name) return type->field(i);
    }
    for (int i = 0; i < count; ++i) {
        if (type->field(i)->name() == name) return type->field(i);
    }
    return nullptr;
}

bool encode_message(const pb::Descriptor* type, value object, std::string& out) {
    if (type->real_oneof_decl_count() > 64) return false;
    std::uint64_t oneofs_set = 0;
    for (auto m = object.members(); !m.done(); m.next()) {
        const auto* f = find_member(type, m.key());
        if (f == nullptr) return false;  // unknown: libprotobuf's 400
        const value v = m.value();
        const auto* oneof = f->real_containing_oneof();
        if (v.type() == kind::null) {
            if (oneof != nullptr) return false;
            continue;  // null is the field's default: nothing written
        }
        if (oneof != nullptr) {
            const std::uint64_t bit = std::uint64_t{1} << oneof->index();
            if (oneofs_set & bit) return false;  // two members of one oneof: libprotobuf's 400
            oneofs_set |= bit;
        }
        if (f->is_map()) {
            if (!encode_map(f, v, out)) return false;
        } else if (f->is_repeated()) {
            if (!v.is_array()) return false;
            for (auto it = v.items(); !it.done(); it.next()) {
                if (it.value().type() == kind::null || it.value().is_array()) return false;
                if (!encode_single(f, it.value(), out)) return false;
            }
        } else if (!encode_single(f, v, out)) {
            return false;
        }
    }
    return true;
}

bool walkable_below(const pb::Descriptor* type, std::unordered_set<const pb::Descriptor*>& seen) {
    if (!seen.insert(type).second) return true;
    if (type->file()->syntax() != pb::FileDescriptor::SYNTAX_PROTO3 || type->extension_range_count() != 0) return false;
    const std::string_view name = type->full_name();
    if (name.starts_with("google.protobuf.") && name != "google.protobuf.Empty") return false;
    for (int i = 0; i < type->field_count(); ++i) {
        const auto* f = type->field(i);
        if (f->type() == pb::FieldDescriptor::TYPE_GROUP) return false;
        if (f->type() == pb::FieldDescriptor::TYPE_MESSAGE && !walkable_below(f->message_type(), seen)) return false;
    }
    return true;
}

}  // namespace

bool walkable(const pb::Descriptor* type) {
    std::unordered_set<const pb::Descriptor*> seen;
    return walkable_below(type, seen);
}

bool parse_body(std::string_view body, std::size_t max_depth, json_tape::tape& doc) {
    if (body.starts_with("\xef\xbb\xbf")) return false;
    json_tape::refusal why{};
    return doc.parse(body.empty() ? std::string_view("{}") : body, max_depth, why) && !json_tape::has_repeated_names(doc);
}

bool encode_json(const pb::Descriptor* type, json_tape::value object, std::string& out) {
    return object.is_object() && encode_message(type, object, out);
}

}  // namespace gatehouse::transcode
