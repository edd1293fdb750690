#pragma once
// A JSON document a client sent, parsed once into a flat array of 16-byte elements (a "tape":
// containers before their contents, each knowing where it ends) that the schema evaluator walks
// without a heap node per value. Strings stay views into the text unless they hold escapes (then
// decoded once into the tape's own buffer). The parser is strict RFC 8259 with nlohmann/json's
// semantics where they are a choice: UTF-8 validated, a leading BOM skipped, a repeated member
// name keeps its last value, positive integers unsigned, negative ones signed, others (and
// integers past 64 bits) doubles; a number beyond double's range refused. It is iterative, so
// only `max_depth` bounds the nesting, checked as it goes.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::json_tape {

enum class kind : std::uint8_t { null, boolean, integer, unsigned_integer, floating, string, array, object };

struct element {
    kind what = kind::null;
    std::uint8_t flags = 0;  // k_decoded, k_shadowed, k_true
    std::uint16_t unused = 0;
    std::uint32_t count = 0;  // string: bytes; array: items; object: members (shadowed ones left out)
    union {
        std::int64_t i;
        std::uint64_t u;
        double d;
        std::uint64_t offset;  // string: in the text, or in the decoded buffer (k_decoded)
        struct {
            std::uint32_t end;    // container: the index past its last element
            std::uint32_t index;  // object with a sorted index (k_indexed): its start in index_
        } box;
    };
    element() : u(0) {}
};

static_assert(sizeof(element) == 16);

inline constexpr std::uint8_t k_decoded = 1;   // string bytes in the tape's buffer
inline constexpr std::uint8_t k_shadowed = 2;  // a member name repeated later in its object
inline constexpr std::uint8_t k_true = 4;      // boolean
inline constexpr std::uint8_t k_indexed = 8;   // object: members sorted by name in index_

enum class refusal { none, too_deep, syntax };

class tape;

// One value of a tape (cheap to copy: the tape and an index).
class value {
public:
    value(const tape* t, std::uint32_t i) : t_(t), i_(i) {}
    kind type() const;
    bool is_object() const { return type() == kind::object; }
    bool is_array() const { return type() == kind::array; }
    bool is_string() const { return type() == kind::string; }
    bool is_number() const {
        auto k = type();
        return k == kind::integer || k == kind::unsigned_integer || k == kind::floating;
    }
    bool is_integer_kind() const { return type() == kind::integer || type() == kind::unsigned_integer; }
    bool boolean() const;
    std::string_view string() const;
    std::int64_t integer() const;
    std::uint64_t unsigned_integer() const;
    double number() const;  // any number kind as a double (as nlohmann's get<double>)
    std::size_t size() const;  // items, members; 0 for scalars

    // Members in document order, repeated (shadowed) names left out:
    //   for (auto m = v.members(); !m.done(); m.next()) ... m.key(), m.value()
    class member_cursor;
    member_cursor members() const;
    // Items in order: for (auto it = v.items(); !it.done(); it.next()) ... it.value()
    class item_cursor;
    item_cursor items() const;
    bool find(std::string_view name, value& out) const;
    bool contains(std::string_view name) const {
        value v(nullptr, 0);
        return find(name, v);
    }

    const tape* owner() const { return t_; }
    std::uint32_t index() const { return i_; }

private:
    const tape* t_;
    std::uint32_t i_;
};

// nlohmann/json's operator==: numbers across kinds by value (an unsigned and a signed integer as
// signed), objects as sets of members, arrays in order.
bool equal(value a, value b);

class tape {
public:
    // Parses `text` (which must outlive the tape); false with the reason when it is not JSON or
    // nests deeper than max_depth.
    bool parse(std::string_view text, std::size_t max_depth, refusal& why);
    // A copy of an nlohmann/json value (strings copied into the tape).
    static tape from(const nlohmann::json& v);
    void assign(const nlohmann::json& v);  // the same into this tape, reusing its buffers

    value root() const { return value(this, 0); }
    bool empty() const { return elements_.empty(); }

    const element& at(std::uint32_t i) const { return elements_[i]; }
    std::uint32_t end_of(std::uint32_t i) const {
        auto k = elements_[i].what;
        return (k == kind::array || k == kind::object) ? elements_[i].box.end : i + 1;
    }
    std::string_view string_at(std::uint32_t i) const {
        const element& e = elements_[i];
        const char* base = (e.flags & k_decoded) ? decoded_.data() : text_.data();
        return {base + e.offset, e.count};
    }
    const std::vector<std::uint32_t>& sorted_members() const { return index_; }

    // Gives back buffers grown past `bytes` by a large document (a tape reused per thread keeps
    // what a typical one needs, so parsing allocates nothing).
    void shrink(std::size_t bytes);

private:
    friend class builder;
    friend struct parser;
    // A container being filled: where it starts, where its member names start in names_, and
    // how many values it holds so far.
    struct open_container {
        std::uint32_t pos;
        std::uint32_t name_base;
        std::uint32_t count;
        bool object;
    };
    std::string_view text_;
    std::string decoded_;
    std::vector<element> elements_;
    std::vector<std::uint32_t> index_;  // name positions of large objects, sorted by name
    std::vector<open_container> open_;  // while building
    std::vector<std::uint32_t> names_;  // while building: member names of the open objects
};

// The worker thread's tape, for a parse that never suspends before its values are used (the
// openapi middleware's bodies, a composition's spliced calls): nothing is allocated for a typical
// document, and the lease gives back buffers a large one grew past 256 KiB when it ends.
struct tape_lease {
    tape_lease();
    ~tape_lease();
    tape_lease(const tape_lease&) = delete;
    tape_lease& operator=(const tape_lease&) = delete;
    tape& doc;
};

// A member name repeated in an object of the document (nlohmann keeps the last one's value).
bool has_repeated_names(const tape& t);

inline kind value::type() const { return t_->at(i_).what; }
inline bool value::boolean() const { return t_->at(i_).flags & k_true; }
inline std::string_view value::string() const { return t_->string_at(i_); }
inline std::int64_t value::integer() const { return t_->at(i_).i; }
inline std::uint64_t value::unsigned_integer() const { return t_->at(i_).u; }
inline double value::number() const {
    const element& e = t_->at(i_);
    switch (e.what) {
        case kind::integer: return static_cast<double>(e.i);
        case kind::unsigned_integer: return static_cast<double>(e.u);
        case kind::floating: return e.d;
        default: return 0;
    }
}
inline std::size_t value::size() const {
    auto k = type();
    return (k == kind::array || k == kind::object) ? t_->at(i_).count : 0;
}

class value::member_cursor {
public:
    member_cursor(const tape* t, std::uint32_t first, std::uint32_t end) : t_(t), p_(first), end_(end) { skip(); }
    bool done() const { return p_ >= end_; }
    json_tape::value name() const { return {t_, p_}; }
    std::string_view key() const { return t_->string_at(p_); }
    json_tape::value value() const { return {t_, p_ + 1}; }
    void next() {
        p_ = t_->end_of(p_ + 1);
        skip();
    }

private:
    void skip() {
        while (p_ < end_ && (t_->at(p_).flags & k_shadowed)) p_ = t_->end_of(p_ + 1);
    }
    const tape* t_;
    std::uint32_t p_, end_;
};

class value::item_cursor {
public:
    item_cursor(const tape* t, std::uint32_t first, std::uint32_t end) : t_(t), p_(first), end_(end) {}
    bool done() const { return p_ >= end_; }
    json_tape::value value() const { return {t_, p_}; }
    void next() { p_ = t_->end_of(p_); }

private:
    const tape* t_;
    std::uint32_t p_, end_;
};

// A scalar's cursors are empty.
inline value::member_cursor value::members() const {
    return {t_, i_ + 1, type() == kind::object ? t_->at(i_).box.end : i_ + 1};
}
inline value::item_cursor value::items() const {
    return {t_, i_ + 1, type() == kind::array ? t_->at(i_).box.end : i_ + 1};
}

}  // namespace gatehouse::json_tape
