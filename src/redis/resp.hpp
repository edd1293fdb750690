#pragma once
// RESP2, the Redis wire protocol (https://redis.io/docs/reference/protocol-spec/): commands
// are arrays of bulk strings; replies are simple strings, errors, integers, bulk strings (or
// null) and arrays (or null) of replies, nested. The parser is incremental: it consumes one
// whole reply from the front of a buffer or says it needs more bytes, so replies split across
// reads (or many in one read, pipelined) are handled the same way.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::redis {

struct value {
    enum class kind { simple, error, integer, bulk, array, null } type = kind::null;
    std::string text;             // simple, error, bulk
    std::int64_t integer = 0;     // integer
    std::vector<value> elements;  // array
    bool is_error() const { return type == kind::error; }
};

enum class parse_status { done, incomplete, bad };

// Parses one reply from the front of `in`. done: `out` holds it and `used` the bytes it took;
// incomplete: nothing consumed; bad: not RESP (the connection must be dropped).
parse_status parse(std::string_view in, value& out, std::size_t& used);

// Appends one command as an array of bulk strings.
void append_command(std::string& out, std::initializer_list<std::string_view> args);
void append_command(std::string& out, const std::vector<std::string_view>& args);
// The first argument of an encoded command ("EVALSHA"), empty when it is not one.
std::string_view command_name(std::string_view command);

}  // namespace gatehouse::redis
