#pragma once
// The body of an upstream's response as its caller relays it (http/relay.cpp): decoded from the
// upstream's HTTP/1 framing (Content-Length, chunked with trailers, close-delimited) piece by
// piece out of the connection's buffer, so memory stays flat whatever the body's size. The
// connection goes back to the pool only when the body ended cleanly (finish()).
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gatehouse/http/fields.hpp"
#include "upstream/call.hpp"

namespace gatehouse::http1 {
template <bool IsRequest>
class body_decoder;
}

namespace gatehouse::upstream {

class response_body {
public:
    response_body();
    ~response_body();
    response_body(const response_body&) = delete;

    // After the call's response head (start() consumes it from the buffer; the head's views stay
    // valid until the body is read): `decoded` receives
    // a chunked body's data; `idle`: the longest wait for more. false: a chunked head Beast
    // refused (an invalid response).
    bool start(call& c, std::string& decoded, net::clock::duration idle, std::size_t max_trailer_fields, std::size_t max_trailer_bytes);
    // The length the upstream declared for the client (also for a bodiless answer that states
    // it: a HEAD's, a 304's); nullopt: delimited by chunks or the close.
    std::optional<std::uint64_t> length() const;
    bool bodiless() const;
    // The whole body is already here (none, or a sized one of at most `limit` bytes that came
    // with the head): its bytes, valid until finish_whole().
    std::optional<std::string_view> whole(std::uint64_t limit) const;
    void finish_whole();

    // The next piece of the body out of what is buffered, without waiting: `data` is valid
    // until the next take() or read() (which consume it); `last`: the body ends with it (a
    // close-delimited body's end comes as an empty last piece). need_more: read() first.
    struct piece {
        std::string_view data;
        bool last = false;
    };
    // expired: an HTTP/2 stream's body went past bound()'s deadline.
    enum class state { ok, need_more, cut, malformed, expired };
    state take(piece& p);
    // More bytes from the upstream into the buffer, in three steps so that the caller's
    // coroutine reads itself (one frame fewer per read): room() arms the idle deadline and gives
    // the space (empty: the buffer is full, the body is cut), the caller reads into it from
    // transport(), and read_done() says what came of it: ok, or cut when the body was truncated.
    std::pair<char*, std::size_t> room();
    net::transport& transport() { return c_->conn().io; }
    state read_done(boost::system::error_code ec, std::size_t n);
    // An HTTP/2 upstream's body comes on the call's stream (the connection's reader fills it):
    // instead of room()/read_done(), the relay waits for more with wait_more() (ok: take again;
    // cut: the stream was reset or stayed silent past the idle timeout).
    bool multiplexed() const { return s_ != nullptr; }
    // The whole body ends by `deadline` (a gRPC call's max_stream_duration or grpc-timeout):
    // wait_more() says expired past it.
    void bound(net::clock::time_point deadline) { deadline_ = deadline; }
    boost::asio::awaitable<state> wait_more();
    // The upstream's trailers (a chunked body's, once it ended).
    http::field_list trailers();
    // Bytes of the body are here already (no wait before the first piece).
    bool buffered() const;
    // After the last piece: the connection goes back to the pool when the exchange was clean.
    void finish();

private:
    state take_stream(piece& p);
    call* c_ = nullptr;
    h2_stream* s_ = nullptr;
    std::string taken_;  // the stream's body handed out (the reader appends to the stream's own meanwhile)
    std::unique_ptr<http1::body_decoder<false>> dec_;
    std::vector<http1::field_view> trailers_;
    std::string* decoded_ = nullptr;
    net::clock::duration idle_{};
    net::clock::time_point deadline_ = net::clock::time_point::max();
    std::uint64_t remaining_ = 0;  // sized: not given out yet
    std::size_t given_ = 0;        // of the buffer: the last piece, consumed at the next call
    bool ended_ = false;
};

}  // namespace gatehouse::upstream
