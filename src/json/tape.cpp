#include "json/tape.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace gatehouse::json_tape {
namespace {

// Objects up to this many members find repeated names and members by a scan; larger ones get a
// sorted index once (so that a client's 100,000-member object costs n log n, never n^2).
constexpr std::size_t k_scan_members = 16;

}  // namespace

// Appends elements and closes containers; shared by the parser and tape::from.
class builder {
public:
    using frame = tape::open_container;
    explicit builder(tape& t) : t_(t), stack_(t.open_), names_(t.names_) {
        stack_.clear();
        names_.clear();
    }

    std::uint32_t push(kind k) {
        t_.elements_.emplace_back();
        t_.elements_.back().what = k;
        return static_cast<std::uint32_t>(t_.elements_.size() - 1);
    }
    element& back() { return t_.elements_.back(); }
    std::uint32_t last() const { return static_cast<std::uint32_t>(t_.elements_.size() - 1); }
    std::uint32_t open(kind k) {
        auto pos = push(k);
        stack_.push_back({pos, static_cast<std::uint32_t>(names_.size()), 0, k == kind::object});
        return pos;
    }
    void name(std::uint32_t pos) { names_.push_back(pos); }
    void close() {
        frame f = stack_.back();
        stack_.pop_back();
        element& e = t_.elements_[f.pos];
        e.box.end = static_cast<std::uint32_t>(t_.elements_.size());
        e.count = f.count;
        if (f.object) {
            finish_object(f.pos, f.name_base);
            names_.resize(f.name_base);
        }
    }
    frame* top() { return stack_.empty() ? nullptr : &stack_.back(); }
    std::size_t depth() const { return stack_.size(); }

private:
    // Repeated names: the last one counts (as nlohmann's parser, which assigns each in turn).
    void finish_object(std::uint32_t pos, std::uint32_t base) {
        const std::uint32_t* names = names_.data() + base;
        const std::size_t n = names_.size() - base;
        std::uint32_t live = static_cast<std::uint32_t>(n);
        if (n <= k_scan_members) {
            // A name is compared with the earlier ones only when its length and ends collide
            // with one of theirs in a 64-bit filter (rarely, for distinct names).
            std::uint64_t filter = 0;
            for (std::size_t j = 0; j < n; ++j) {
                auto b = t_.string_at(names[j]);
                std::uint64_t bit = b.empty() ? 1 : std::uint64_t(1) << ((b.size() * 7 + static_cast<unsigned char>(b.front()) * 3 +
                                                                           static_cast<unsigned char>(b.back())) & 63);
                if (filter & bit) {
                    for (std::size_t i = 0; i < j; ++i) {
                        if (t_.elements_[names[i]].flags & k_shadowed) continue;
                        if (t_.string_at(names[i]) != b) continue;
                        t_.elements_[names[i]].flags |= k_shadowed;  // the later one counts
                        --live;
                        break;
                    }
                }
                filter |= bit;
            }
            t_.elements_[pos].count = live;
            return;
        }
        std::vector<std::uint32_t> sorted(names, names + n);
        std::stable_sort(sorted.begin(), sorted.end(),
                         [this](std::uint32_t x, std::uint32_t y) { return t_.string_at(x) < t_.string_at(y); });
        auto start = static_cast<std::uint32_t>(t_.index_.size());
        for (std::size_t i = 0; i < n; ++i) {
            if (i + 1 < n && t_.string_at(sorted[i]) == t_.string_at(sorted[i + 1])) {
                t_.elements_[sorted[i]].flags |= k_shadowed;  // a later one (stable order) wins
                --live;
                continue;
            }
            t_.index_.push_back(sorted[i]);
        }
        element& e = t_.elements_[pos];
        e.count = live;
        e.flags |= k_indexed;
        e.box.index = start;
    }

    tape& t_;
    std::vector<frame>& stack_;
    std::vector<std::uint32_t>& names_;
};

// The strict parser: one pass, no recursion.
struct parser {
    tape& t;
    builder b;
    const char* begin;
    const char* p;
    const char* end;

    parser(tape& tp, std::string_view text) : t(tp), b(tp), begin(text.data()), p(text.data()), end(text.data() + text.size()) {}

    void ws() {
        while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
    }
    bool literal(std::string_view word) {
        if (static_cast<std::size_t>(end - p) < word.size() || std::string_view(p, word.size()) != word) return false;
        p += word.size();
        return true;
    }

    // One UTF-8 sequence starting at p (a byte >= 0x80), as RFC 3629 allows; p past it.
    bool utf8() {
        auto c = static_cast<unsigned char>(*p);
        int more;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) more = 1;
        else if (c == 0xE0) more = 2, lo = 0xA0;
        else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) more = 2;
        else if (c == 0xED) more = 2, hi = 0x9F;
        else if (c == 0xF0) more = 3, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) more = 3;
        else if (c == 0xF4) more = 3, hi = 0x8F;
        else return false;
        if (end - p <= more) return false;
        for (int k = 1; k <= more; ++k) {
            auto x = static_cast<unsigned char>(p[k]);
            if (x < lo || x > hi) return false;
            lo = 0x80, hi = 0xBF;
        }
        p += more + 1;
        return true;
    }

    bool hex4(unsigned& out) {
        if (end - p < 4) return false;
        out = 0;
        for (int k = 0; k < 4; ++k) {
            char c = p[k];
            unsigned d;
            if (c >= '0' && c <= '9') d = c - '0';
            else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
            else return false;
            out = out * 16 + d;
        }
        p += 4;
        return true;
    }

    static void append_utf8(std::string& s, unsigned cp) {
        if (cp < 0x80) {
            s += static_cast<char>(cp);
        } else if (cp < 0x800) {
            s += static_cast<char>(0xC0 | (cp >> 6));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            s += static_cast<char>(0xE0 | (cp >> 12));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            s += static_cast<char>(0xF0 | (cp >> 18));
            s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    // After a backslash: one escape, decoded onto `out`.
    bool escape(std::string& out) {
        if (p == end) return false;
        char c = *p++;
        switch (c) {
            case '"': out += '"'; return true;
            case '\\': out += '\\'; return true;
            case '/': out += '/'; return true;
            case 'b': out += '\b'; return true;
            case 'f': out += '\f'; return true;
            case 'n': out += '\n'; return true;
            case 'r': out += '\r'; return true;
            case 't': out += '\t'; return true;
            case 'u': break;
            default: return false;
        }
        unsigned cp;
        if (!hex4(cp)) return false;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a low surrogate alone
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned low;
            if (end - p < 2 || p[0] != '\\' || p[1] != 'u') return false;
            p += 2;
            if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        append_utf8(out, cp);
        return true;
    }

    // Skips to the first quote, backslash, control or non-ASCII byte (which the byte loop of
    // string() then looks at), 8 bytes at a time; the last few bytes are the byte loop's.
    void skip_plain() {
        constexpr std::uint64_t ones = 0x0101010101010101, high = 0x8080808080808080;
        while (end - p >= 8) {
            std::uint64_t w;
            std::memcpy(&w, p, 8);
            auto zero = [](std::uint64_t v) { return (v - ones) & ~v & high; };
            std::uint64_t special = zero(w ^ (ones * '"')) | zero(w ^ (ones * '\\')) | ((w - ones * 0x20) & ~w & high) | (w & high);
            if (special) {  // the lowest flagged byte is a real one (a borrow only flags above it)
                if constexpr (std::endian::native == std::endian::little) p += std::countr_zero(special) / 8;
                return;
            }
            p += 8;
        }
    }

    // A string at p (its opening quote); its element pushed.
    bool string() {
        const char* start = ++p;
        while (p < end) {
            skip_plain();
            if (p == end) break;
            auto c = static_cast<unsigned char>(*p);
            if (c == '"') {
                auto pos = b.push(kind::string);
                element& e = t.elements_[pos];
                e.offset = static_cast<std::uint64_t>(start - begin);
                e.count = static_cast<std::uint32_t>(p - start);
                ++p;
                return true;
            }
            if (c == '\\') return decoded_string(start);
            if (c < 0x20) return false;
            if (c < 0x80) ++p;
            else if (!utf8()) return false;
        }
        return false;
    }
    // The rest of a string that holds an escape, decoded into the tape's buffer.
    bool decoded_string(const char* start) {
        std::string& out = t.decoded_;
        const std::size_t offset = out.size();
        out.append(start, p);
        while (p < end) {
            auto c = static_cast<unsigned char>(*p);
            if (c == '"') {
                auto pos = b.push(kind::string);
                element& e = t.elements_[pos];
                e.flags = k_decoded;
                e.offset = offset;
                e.count = static_cast<std::uint32_t>(out.size() - offset);
                ++p;
                return true;
            }
            if (c == '\\') {
                ++p;
                if (!escape(out)) return false;
            } else if (c < 0x20) {
                return false;
            } else if (c < 0x80) {
                out += static_cast<char>(c);
                ++p;
            } else {
                const char* from = p;
                if (!utf8()) return false;
                out.append(from, p);
            }
        }
        return false;
    }

    static bool digit(char c) { return c >= '0' && c <= '9'; }

    // A number at p: integers that fit 64 bits exactly, everything else as a double.
    bool number() {
        const char* start = p;
        bool negative = *p == '-';
        if (negative) ++p;
        if (p == end) return false;
        std::uint64_t u = 0;
        bool overflow = false;
        if (*p == '0') {
            ++p;
        } else if (*p >= '1' && *p <= '9') {
            for (; p < end && digit(*p); ++p) {
                unsigned d = *p - '0';
                if (u > (std::numeric_limits<std::uint64_t>::max() - d) / 10) overflow = true;
                u = u * 10 + d;
            }
        } else {
            return false;
        }
        bool integral = true;
        if (p < end && *p == '.') {
            ++p;
            if (p == end || !digit(*p)) return false;
            while (p < end && digit(*p)) ++p;
            integral = false;
        }
        if (p < end && (*p == 'e' || *p == 'E')) {
            ++p;
            if (p < end && (*p == '+' || *p == '-')) ++p;
            if (p == end || !digit(*p)) return false;
            while (p < end && digit(*p)) ++p;
            integral = false;
        }
        if (integral && !overflow) {
            if (!negative) {
                b.push(kind::unsigned_integer);
                b.back().u = u;
                return true;
            }
            if (u <= std::uint64_t(1) << 63) {
                b.push(kind::integer);
                b.back().i = u == (std::uint64_t(1) << 63) ? std::numeric_limits<std::int64_t>::min()
                                                           : -static_cast<std::int64_t>(u);
                return true;
            }
        }
        double d = 0;
        auto [q, ec] = std::from_chars(start, p, d);
        if (ec == std::errc::result_out_of_range) {
            // Past double's range, or below its smallest: strtod tells which (nlohmann/json
            // refuses the first and keeps the second's rounding).
            std::string copy(start, p);
            d = std::strtod(copy.c_str(), nullptr);
            if (!std::isfinite(d)) return false;
        } else if (ec != std::errc() || q != p) {
            return false;
        }
        b.push(kind::floating);
        b.back().d = d;
        return true;
    }

    bool scalar() {
        switch (*p) {
            case '"': return string();
            case 't':
                if (!literal("true")) return false;
                b.push(kind::boolean);
                b.back().flags = k_true;
                return true;
            case 'f':
                if (!literal("false")) return false;
                b.push(kind::boolean);
                return true;
            case 'n':
                if (!literal("null")) return false;
                b.push(kind::null);
                return true;
            default: return number();
        }
    }

    // A member's name and its colon; p then at the value.
    bool member_name() {
        ws();
        if (p == end || *p != '"' || !string()) return false;
        b.name(b.last());
        ws();
        if (p == end || *p != ':') return false;
        ++p;
        return true;
    }

    bool run(std::size_t max_depth, refusal& why) {
        why = refusal::syntax;
        if (end - p >= 3 && std::string_view(p, 3) == "\xEF\xBB\xBF") p += 3;
        for (;;) {
            // A value.
            ws();
            if (p == end) return false;
            if (*p == '{' || *p == '[') {
                bool object = *p == '{';
                if (b.depth() >= max_depth) {
                    why = refusal::too_deep;
                    return false;
                }
                b.open(object ? kind::object : kind::array);
                ++p;
                ws();
                if (p < end && *p == (object ? '}' : ']')) {
                    ++p;
                    b.close();
                } else {
                    if (object && !member_name()) return false;
                    continue;
                }
            } else if (!scalar()) {
                return false;
            }
            // After a value: the next one, or the ends of containers.
            for (;;) {
                builder::frame* f = b.top();
                if (!f) {
                    ws();
                    if (p != end) return false;
                    why = refusal::none;
                    return true;
                }
                ++f->count;
                ws();
                if (p == end) return false;
                if (*p == ',') {
                    ++p;
                    if (f->object && !member_name()) return false;
                    break;
                }
                if (*p != (f->object ? '}' : ']')) return false;
                ++p;
                b.close();
            }
        }
    }
};

bool tape::parse(std::string_view text, std::size_t max_depth, refusal& why) {
    text_ = text;
    decoded_.clear();
    elements_.clear();
    index_.clear();
    if (text.size() >= std::numeric_limits<std::uint32_t>::max() / 2) {  // element indices are 32 bits
        why = refusal::syntax;
        return false;
    }
    elements_.reserve(text.size() / 8 + 4);
    open_.reserve(16);
    names_.reserve(64);
    parser ps(*this, text);
    if (ps.run(max_depth, why)) return true;
    elements_.clear();
    return false;
}

namespace {
constexpr std::size_t k_kept_tape_bytes = 256 * 1024;
tape& worker_tape() {
    thread_local tape t;
    return t;
}
}  // namespace

tape_lease::tape_lease() : doc(worker_tape()) {}
tape_lease::~tape_lease() { doc.shrink(k_kept_tape_bytes); }

bool has_repeated_names(const tape& t) {
    if (t.empty()) return false;
    for (std::uint32_t i = 0, end = t.end_of(0); i < end; ++i)
        if (t.at(i).flags & k_shadowed) return true;
    return false;
}

void tape::shrink(std::size_t bytes) {
    auto over = [bytes](const auto& v) { return v.capacity() * sizeof(v[0]) > bytes; };
    if (over(elements_)) std::vector<element>().swap(elements_);
    if (over(index_)) std::vector<std::uint32_t>().swap(index_);
    if (over(open_)) std::vector<open_container>().swap(open_);
    if (over(names_)) std::vector<std::uint32_t>().swap(names_);
    if (decoded_.capacity() > bytes) std::string().swap(decoded_);
}

namespace {

void copy(builder& b, std::string& decoded, const nlohmann::json& v) {
    using t = nlohmann::json::value_t;
    auto str = [&](const std::string& s) {
        b.push(kind::string);
        element& e = b.back();
        e.flags = k_decoded;
        e.offset = decoded.size();
        e.count = static_cast<std::uint32_t>(s.size());
        decoded += s;
    };
    switch (v.type()) {
        case t::boolean:
            b.push(kind::boolean);
            if (v.get<bool>()) b.back().flags = k_true;
            break;
        case t::number_integer:
            b.push(kind::integer);
            b.back().i = v.get<std::int64_t>();
            break;
        case t::number_unsigned:
            b.push(kind::unsigned_integer);
            b.back().u = v.get<std::uint64_t>();
            break;
        case t::number_float:
            b.push(kind::floating);
            b.back().d = v.get<double>();
            break;
        case t::string: str(v.get_ref<const std::string&>()); break;
        case t::array:
            b.open(kind::array);
            for (auto& item : v) {
                copy(b, decoded, item);
                ++b.top()->count;
            }
            b.close();
            break;
        case t::object:
            b.open(kind::object);
            for (auto it = v.begin(); it != v.end(); ++it) {
                str(it.key());
                b.name(b.last());
                copy(b, decoded, *it);
                ++b.top()->count;
            }
            b.close();
            break;
        default: b.push(kind::null); break;
    }
}

}  // namespace

tape tape::from(const nlohmann::json& v) {
    tape t;
    t.assign(v);
    return t;
}

void tape::assign(const nlohmann::json& v) {
    text_ = {};
    decoded_.clear();
    elements_.clear();
    index_.clear();
    builder b(*this);
    copy(b, decoded_, v);
}

bool value::find(std::string_view name, value& out) const {
    const element& e = t_->at(i_);
    if (e.what != kind::object) return false;
    if (e.flags & k_indexed) {
        auto& index = t_->sorted_members();
        auto first = index.begin() + e.box.index, last = first + e.count;
        auto it = std::lower_bound(first, last, name,
                                   [this](std::uint32_t pos, std::string_view n) { return t_->string_at(pos) < n; });
        if (it == last || t_->string_at(*it) != name) return false;
        out = value(t_, *it + 1);
        return true;
    }
    for (auto m = members(); !m.done(); m.next()) {
        if (m.key() != name) continue;
        out = m.value();
        return true;
    }
    return false;
}

bool equal(value a, value b) {
    const kind ka = a.type(), kb = b.type();
    if (a.is_number() && b.is_number()) {
        const element& x = a.owner()->at(a.index());
        const element& y = b.owner()->at(b.index());
        switch (ka) {
            case kind::integer:
                if (kb == kind::integer) return x.i == y.i;
                if (kb == kind::unsigned_integer) return x.i == static_cast<std::int64_t>(y.u);
                return static_cast<double>(x.i) == y.d;
            case kind::unsigned_integer:
                if (kb == kind::unsigned_integer) return x.u == y.u;
                if (kb == kind::integer) return static_cast<std::int64_t>(x.u) == y.i;
                return static_cast<double>(x.u) == y.d;
            default:
                if (kb == kind::floating) return x.d == y.d;
                return x.d == b.number();
        }
    }
    if (ka != kb) return false;
    switch (ka) {
        case kind::null: return true;
        case kind::boolean: return a.boolean() == b.boolean();
        case kind::string: return a.string() == b.string();
        case kind::array: {
            if (a.size() != b.size()) return false;
            for (auto x = a.items(), y = b.items(); !x.done(); x.next(), y.next())
                if (!equal(x.value(), y.value())) return false;
            return true;
        }
        case kind::object: {
            if (a.size() != b.size()) return false;
            for (auto m = a.members(); !m.done(); m.next()) {
                value other(nullptr, 0);
                if (!b.find(m.key(), other) || !equal(m.value(), other)) return false;
            }
            return true;
        }
        default: return false;
    }
}

}  // namespace gatehouse::json_tape
