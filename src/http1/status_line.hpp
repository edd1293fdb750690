#pragma once
// The HTTP/1.1 status line and the end of a response head. The responses gatehouse makes
// itself are built by the exchange (src/http/local_replies.cpp) and written by
// response_writer.cpp.
#include <string>
#include <string_view>

namespace gatehouse::http1 {

std::string_view reason_phrase(int status);

// How a response head ends for the connection's persistence: the connection closes after it
// (Connection: close), stays open, or stays open for an HTTP/1.0 client, which must be told so
// (Connection: keep-alive) or it waits for the close (RFC 9112 §9.3).
enum class persistence { close, keep, keep_announced };
inline persistence persistence_for(bool close, int version) {
    return close ? persistence::close : version == 10 ? persistence::keep_announced : persistence::keep;
}
// The Connection field line `p` needs (or nothing), and the empty line that ends the head.
std::string_view head_end(persistence p);

// "HTTP/1.1 <status> <reason>" (no line end).
void append_status_line(std::string& out, int status);

}  // namespace gatehouse::http1
