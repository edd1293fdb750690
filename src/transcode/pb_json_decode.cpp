#include "transcode/pb_json_decode.hpp"

#include <google/protobuf/descriptor.h>

#include <cerrno>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gatehouse::transcode {
namespace pb = google::protobuf;
namespace {

// ---- reading the wire ----

struct wire_reader {
    const unsigned char* p;
    const unsigned char* end;

    bool done() const { return p == end; }
    bool varint(std::uint64_t& v) {
        v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p == end) return false;
            const unsigned char b = *p++;
            v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
            if (b < 0x80) return true;
        }
        return false;
    }
    bool fixed(std::uint64_t& v, int bytes) {
        if (end - p < bytes) return false;
        v = 0;
        for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
        p += bytes;
        return true;
    }
    bool length_delimited(std::string_view& v) {
        std::uint64_t n = 0;
        if (!varint(n) || n > static_cast<std::uint64_t>(end - p)) return false;
        v = {reinterpret_cast<const char*>(p), static_cast<std::size_t>(n)};
        p += n;
        return true;
    }
    // The next tag read when it is `tag` (a run of one field's records goes on); else nothing.
    bool take_tag(std::uint64_t tag) {
        wire_reader peek = *this;
        std::uint64_t next = 0;
        if (peek.done() || !peek.varint(next) || next != tag) return false;
        *this = peek;
        return true;
    }
    // The value of a field we do not know (wire types 0, 1, 2, 5; groups are declined).
    bool skip(std::uint32_t wire_type) {
        std::uint64_t v = 0;
        std::string_view s;
        switch (wire_type) {
            case 0: return varint(v);
            case 1: return fixed(v, 8);
            case 2: return length_delimited(s);
            case 5: return fixed(v, 4);
            default: return false;
        }
    }
};

// ---- writing JSON as libprotobuf's JsonObjectWriter does ----

class json_writer {
public:
    json_writer(std::string& out, bool whitespace) : out_(out), whitespace_(whitespace) {}

    // The prefix of a value: ",", the new line, the member name.
    void prefix(std::string_view name, bool named) {
        const bool not_first = !first_[level_];
        first_[level_] = false;
        if (not_first) out_ += ',';
        if (not_first || level_ != 0) new_line();
        if (named) {
            out_ += '"';
            out_ += name;  // field names and map keys checked as plain already
            out_ += whitespace_ ? "\": " : "\":";
        }
    }
    bool open(char bracket) {
        out_ += bracket;
        if (++level_ >= k_max_level) return false;
        first_[level_] = true;
        return true;
    }
    void close(char bracket) {
        const bool needs_new_line = !first_[level_];
        --level_;
        if (needs_new_line) new_line();
        out_ += bracket;
        if (level_ == 0) new_line();
    }

private:
    void new_line() {
        if (!whitespace_) return;
        out_ += '\n';
        out_.append(static_cast<std::size_t>(level_), ' ');
    }
    // Deeper is declined: libprotobuf refuses messages nested past 64 (its max_recursion_depth),
    // and our levels count lists and maps too.
    static constexpr int k_max_level = 32;
    std::string& out_;
    bool whitespace_;
    int level_ = 0;
    bool first_[k_max_level + 1] = {true};
};

// Code points JsonEscaping writes as \uXXXX (format characters and the like), with a margin:
// a string holding one is left to libprotobuf.
bool escaped_by_libprotobuf(std::uint32_t cp) {
    return cp <= 0x9f || cp == 0xad || (cp >= 0x600 && cp <= 0x70f) || cp == 0x17b4 || cp == 0x17b5 || (cp >= 0x2000 && cp <= 0x206f) ||
           cp == 0xfeff || (cp >= 0xfff0 && cp <= 0xffff) || cp == 0x110bd || (cp >= 0x1d173 && cp <= 0x1d17a) || cp >= 0xe0000;
}

// The code point of the UTF-8 sequence at s[i] (not ASCII), i moved past it; false when it is not
// valid UTF-8 (overlong, a surrogate, past U+10FFFF, cut short): libprotobuf drops such bytes.
bool next_code_point(std::string_view s, std::size_t& i, std::uint32_t& cp) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    const int extra = b0 >= 0xf0 ? 3 : b0 >= 0xe0 ? 2 : b0 >= 0xc2 ? 1 : -1;
    if (extra < 0 || b0 > 0xf4 || i + static_cast<std::size_t>(extra) >= s.size()) return false;
    cp = b0 & (0x3f >> extra);
    for (int k = 1; k <= extra; ++k) {
        const auto b = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
        if ((b & 0xc0) != 0x80) return false;
        cp = (cp << 6) | (b & 0x3f);
    }
    static constexpr std::uint32_t k_least[] = {0, 0x80, 0x800, 0x10000};
    if (cp < k_least[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += static_cast<std::size_t>(extra) + 1;
    return true;
}

// A JSON string as JsonEscaping writes it: '"' and '\\' escaped, '<' and '>' as \u003c and
// \u003e, control characters as \b \t \n \f \r or \u00xx, other UTF-8 as it is. False
// (declined) for invalid UTF-8 and for code points libprotobuf escapes.
bool put_string(std::string& out, std::string_view s) {
    static constexpr char k_hex[] = "0123456789abcdef";
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        const char c = s[i];
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x80) {
            const std::size_t from = i;
            std::uint32_t cp = 0;
            if (!next_code_point(s, i, cp) || escaped_by_libprotobuf(cp)) return false;
            out.append(s.substr(from, i - from));
            continue;
        }
        ++i;
        if (u >= 0x20 && u < 0x7f && c != '"' && c != '\\' && c != '<' && c != '>') {
            out += c;
            continue;
        }
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\t': out += "\\t"; break;
            case '\n': out += "\\n"; break;
            case '\f': out += "\\f"; break;
            case '\r': out += "\\r"; break;
            default:
                out += "\\u00";
                out += k_hex[u >> 4];
                out += k_hex[u & 15];
        }
    }
    out += '"';
    return true;
}

void put_base64(std::string& out, std::string_view bytes) {
    static constexpr char k_digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out += '"';
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                                static_cast<unsigned char>(bytes[i + 2]);
        const char quad[4] = {k_digits[v >> 18], k_digits[(v >> 12) & 63], k_digits[(v >> 6) & 63], k_digits[v & 63]};
        out.append(quad, 4);
    }
    if (i < bytes.size()) {
        const bool two = i + 1 < bytes.size();
        const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) | (two ? static_cast<unsigned char>(bytes[i + 1]) << 8 : 0);
        const char quad[4] = {k_digits[v >> 18], k_digits[(v >> 12) & 63], two ? k_digits[(v >> 6) & 63] : '=', '='};
        out.append(quad, 4);
    }
    out += '"';
}

// SimpleDtoa / SimpleFtoa: the shortest of %.15g (%.6g) that reads back, else %.17g (%.9g).
void put_double(std::string& out, double v) {
    if (!std::isfinite(v)) {
        out += std::isnan(v) ? "\"NaN\"" : v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
        return;
    }
    char buf[32];
    int n = std::snprintf(buf, sizeof buf, "%.*g", DBL_DIG, v);
    if (std::strtod(buf, nullptr) != v) n = std::snprintf(buf, sizeof buf, "%.*g", DBL_DIG + 2, v);
    out.append(buf, static_cast<std::size_t>(n));
}

void put_float(std::string& out, float v) {
    if (!std::isfinite(v)) {
        out += std::isnan(v) ? "\"NaN\"" : v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
        return;
    }
    char buf[32];
    int n = std::snprintf(buf, sizeof buf, "%.*g", FLT_DIG, static_cast<double>(v));
    // safe_strtof: strtof, and any errno a failure (so a subnormal float always gets 9 digits)
    errno = 0;
    const float back = std::strtof(buf, nullptr);
    if (errno != 0 || back != v) n = std::snprintf(buf, sizeof buf, "%.*g", FLT_DIG + 3, static_cast<double>(v));
    out.append(buf, static_cast<std::size_t>(n));
}

template <typename T>
void put_number(std::string& out, T v, bool quoted) {
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    if (quoted) out += '"';
    out.append(buf, p);
    if (quoted) out += '"';
}

std::int32_t zigzag32(std::uint64_t v) {
    const auto u = static_cast<std::uint32_t>(v);
    return static_cast<std::int32_t>((u >> 1) ^ (0u - (u & 1)));
}
std::int64_t zigzag64(std::uint64_t v) { return static_cast<std::int64_t>((v >> 1) ^ (0 - (v & 1))); }

// ---- the walk ----

// A field name written as it is: no character JSON or JsonEscaping would escape.
bool plain_name(std::string_view name) {
    for (const char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>') return false;
    }
    return true;
}

bool expected_wire_type(const pb::FieldDescriptor* f, std::uint32_t& wire_type) {
    using T = pb::FieldDescriptor;
    switch (f->type()) {
        case T::TYPE_DOUBLE:
        case T::TYPE_FIXED64:
        case T::TYPE_SFIXED64: wire_type = 1; return true;
        case T::TYPE_FLOAT:
        case T::TYPE_FIXED32:
        case T::TYPE_SFIXED32: wire_type = 5; return true;
        case T::TYPE_STRING:
        case T::TYPE_BYTES:
        case T::TYPE_MESSAGE: wire_type = 2; return true;
        case T::TYPE_GROUP: return false;
        default: wire_type = 0; return true;
    }
}

struct walker {
    json_writer w;
    std::string& out;
    bool proto_names;

    bool message(const pb::Descriptor* type, wire_reader in);
    bool scalar(const pb::FieldDescriptor* f, wire_reader& in);
    bool number(const pb::FieldDescriptor* f, std::uint64_t v);
    bool list(const pb::FieldDescriptor* f, std::uint32_t wire_type, wire_reader& in);
    bool map(const pb::FieldDescriptor* f, wire_reader& in);
};

// One value of field `f` (its tag read), as JsonObjectWriter renders it.
bool walker::scalar(const pb::FieldDescriptor* f, wire_reader& in) {
    using T = pb::FieldDescriptor;
    std::string_view s;
    switch (f->type()) {
        case T::TYPE_STRING: return in.length_delimited(s) && put_string(out, s);
        case T::TYPE_BYTES:
            if (!in.length_delimited(s)) return false;
            put_base64(out, s);
            return true;
        case T::TYPE_MESSAGE:
            if (!in.length_delimited(s)) return false;
            return message(f->message_type(), wire_reader{reinterpret_cast<const unsigned char*>(s.data()),
                                                          reinterpret_cast<const unsigned char*>(s.data() + s.size())});
        case T::TYPE_GROUP: return false;
        default: break;
    }
    std::uint32_t wire_type = 0;
    std::uint64_t v = 0;
    if (!expected_wire_type(f, wire_type)) return false;
    const bool read = wire_type == 0 ? in.varint(v) : in.fixed(v, wire_type == 1 ? 8 : 4);
    return read && number(f, v);
}

// A bool, enum, integer or floating-point field's value (its wire value `v` read): 64-bit
// integers quoted, enums by name (unknown numbers as numbers), floats as SimpleDtoa/SimpleFtoa.
bool walker::number(const pb::FieldDescriptor* f, std::uint64_t v) {
    using T = pb::FieldDescriptor;
    const auto low = static_cast<std::uint32_t>(v);
    switch (f->type()) {
        case T::TYPE_BOOL: out += v != 0 ? "true" : "false"; return true;
        case T::TYPE_INT32:
        case T::TYPE_SFIXED32: put_number(out, static_cast<std::int32_t>(low), false); return true;
        case T::TYPE_SINT32: put_number(out, zigzag32(v), false); return true;
        case T::TYPE_UINT32:
        case T::TYPE_FIXED32: put_number(out, low, false); return true;
        case T::TYPE_INT64:
        case T::TYPE_SFIXED64: put_number(out, static_cast<std::int64_t>(v), true); return true;
        case T::TYPE_SINT64: put_number(out, zigzag64(v), true); return true;
        case T::TYPE_UINT64:
        case T::TYPE_FIXED64: put_number(out, v, true); return true;
        case T::TYPE_DOUBLE: {
            double d = 0;
            std::memcpy(&d, &v, sizeof d);
            put_double(out, d);
            return true;
        }
        case T::TYPE_FLOAT: {
            float x = 0;
            std::memcpy(&x, &low, sizeof x);
            put_float(out, x);
            return true;
        }
        case T::TYPE_ENUM: {
            const auto* e = f->enum_type()->FindValueByNumber(static_cast<std::int32_t>(low));
            if (e != nullptr) return put_string(out, e->name());
            put_number(out, static_cast<std::int32_t>(low), false);
            return true;
        }
        default: return false;
    }
}

// A repeated field's run of values: one packed record, or consecutive records of its tag.
bool walker::list(const pb::FieldDescriptor* f, std::uint32_t wire_type, wire_reader& in) {
    if (!w.open('[')) return false;
    if (wire_type == 2 && f->is_packable()) {
        std::string_view s;
        if (!in.length_delimited(s)) return false;
        wire_reader packed{reinterpret_cast<const unsigned char*>(s.data()), reinterpret_cast<const unsigned char*>(s.data() + s.size())};
        while (!packed.done()) {
            w.prefix({}, false);
            if (!scalar(f, packed)) return false;
        }
    } else {
        const std::uint64_t tag = (static_cast<std::uint64_t>(f->number()) << 3) | wire_type;
        for (;;) {
            w.prefix({}, false);
            if (!scalar(f, in)) return false;
            if (!in.take_tag(tag)) break;
        }
    }
    w.close(']');
    return true;
}

// A map key as text: what ReadFieldValueAsString gives.
bool map_key(const pb::FieldDescriptor* key, wire_reader& in, std::string& text) {
    if (key->type() == pb::FieldDescriptor::TYPE_STRING) {
        std::string_view s;
        if (!in.length_delimited(s)) return false;
        text.assign(s);
        return true;
    }
    std::string out;
    json_writer unused(out, false);
    walker scratch{unused, out, false};
    if (!scratch.scalar(key, in)) return false;
    if (out.size() >= 2 && out.front() == '"') out = out.substr(1, out.size() - 2);  // 64-bit integers: unquoted
    text = std::move(out);
    return true;
}

// A map field's run of entries; each must be its key then its value (what serializers write).
bool walker::map(const pb::FieldDescriptor* f, wire_reader& in) {
    const auto* key = f->message_type()->map_key();
    const auto* val = f->message_type()->map_value();
    std::uint32_t key_wire = 0, value_wire = 0;
    if (!expected_wire_type(key, key_wire) || !expected_wire_type(val, value_wire)) return false;
    if (!w.open('{')) return false;
    const std::uint64_t tag = (static_cast<std::uint64_t>(f->number()) << 3) | 2;
    std::string text;
    for (;;) {
        std::string_view s;
        if (!in.length_delimited(s)) return false;
        wire_reader entry{reinterpret_cast<const unsigned char*>(s.data()), reinterpret_cast<const unsigned char*>(s.data() + s.size())};
        std::uint64_t t = 0;
        if (!entry.varint(t) || t != ((1u << 3) | key_wire) || !map_key(key, entry, text) || text.empty()) return false;
        if (!entry.varint(t) || t != ((2u << 3) | value_wire)) return false;
        std::string quoted;
        if (!put_string(quoted, text)) return false;
        w.prefix(std::string_view(quoted).substr(1, quoted.size() - 2), true);
        if (!scalar(val, entry) || !entry.done()) return false;
        if (!in.take_tag(tag)) break;
    }
    w.close('}');
    return true;
}

bool walker::message(const pb::Descriptor* type, wire_reader in) {
    if (type->field_count() > 64) return false;
    std::uint64_t seen = 0;
    if (!w.open('{')) return false;
    while (!in.done()) {
        std::uint64_t tag = 0;
        if (!in.varint(tag) || (tag >> 3) == 0 || (tag >> 3) > 536870911) return false;
        const auto wire_type = static_cast<std::uint32_t>(tag & 7);
        const auto* f = type->FindFieldByNumber(static_cast<int>(tag >> 3));
        std::uint32_t expected = 0;
        if (f == nullptr) {  // unknown: dropped
            if (!in.skip(wire_type)) return false;
            continue;
        }
        if (!expected_wire_type(f, expected)) return false;
        const bool packed = f->is_repeated() && f->is_packable() && wire_type == 2;
        if (wire_type != expected && !packed) return false;
        const std::uint64_t bit = std::uint64_t{1} << f->index();
        if (seen & bit) return false;  // apart on the wire: libprotobuf prints the name twice
        seen |= bit;
        const std::string& name = proto_names ? f->name() : f->json_name();
        if (!plain_name(name)) return false;
        w.prefix(name, true);
        bool ok = false;
        if (f->is_map()) ok = map(f, in);
        else if (f->is_repeated()) ok = list(f, wire_type, in);
        else ok = scalar(f, in);
        if (!ok) return false;
    }
    w.close('}');
    return true;
}

}  // namespace

bool decode_json(const pb::Descriptor* type, std::string_view wire, const print_options& print, std::string& json) {
    if (print.always_print_primitive_fields) return false;
    json.clear();
    walker walk{json_writer(json, print.add_whitespace), json, print.preserve_proto_field_names};
    walk.w.prefix({}, false);
    return walk.message(type, wire_reader{reinterpret_cast<const unsigned char*>(wire.data()),
                                          reinterpret_cast<const unsigned char*>(wire.data() + wire.size())});
}

}  // namespace gatehouse::transcode
