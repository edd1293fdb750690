#pragma once
// One HTTP/2 connection to an upstream endpoint (h2 over TLS with ALPN, or h2c by prior
// knowledge), through libnghttp2 as the client side: a reader feeds what arrives to the session,
// a writer sends what the session has to send coalesced into one write, and each request is a
// stream (h2_stream.hpp) its upstream call owns. Several calls share the connection up to the
// peer's SETTINGS_MAX_CONCURRENT_STREAMS (and our own cap); the endpoint's pool (pool.hpp) picks
// a connection with room or opens another. Flow control is backpressure: automatic window
// updates are off, and a stream's window is credited only for response bytes the relay took.
//
// GOAWAY: the connection takes no new streams; streams above its last stream id close as
// refused (never processed: the call may send them again elsewhere), those below finish. An idle
// connection is pinged once per idle period after `http2.ping_interval` (a gRPC server's
// keepalive enforcement tolerates that; a ping per interval would earn `too_many_pings`), and
// closed when the ACK does not come within `http2.ping_timeout`.
#include <nghttp2/nghttp2.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "upstream/h2_stream.hpp"
#include "upstream/pool.hpp"

namespace gatehouse::upstream {

class h2_connection : public std::enable_shared_from_this<h2_connection> {
public:
    h2_connection(boost::asio::io_context& ioc, net::deadline_list& dl, std::shared_ptr<endpoint_state> ep,
                  std::shared_ptr<const cluster> def);
    ~h2_connection();
    h2_connection(const h2_connection&) = delete;

    // Connects (TLS with ALPN h2 for protocol h2), starts the session, the reader and the writer.
    // Other calls that chose this connection meanwhile wait in wait_open().
    boost::asio::awaitable<failure> open(cluster_state& cluster);
    // Until open() finished (true: the connection is up) or `until`.
    boost::asio::awaitable<bool> wait_open(net::clock::time_point until);
    bool opening() const { return state_ == state::opening; }
    bool up() const { return state_ == state::up && !goaway_ && !closing_; }
    bool dead() const { return state_ == state::dead; }
    // open() found the server does not speak h2 and the upstream allows HTTP/1.1 instead
    // (protocol_fallback): the endpoint is marked speaks_http1 and the call goes on in HTTP/1.1.
    bool fell_back() const { return fell_back_; }

    // Room for one more stream (a place is held from reserve() until submit() or unreserve()).
    bool has_room() const;
    void reserve() { ++reserved_; }
    void unreserve() { --reserved_; }
    std::size_t streams() const { return streams_.size() + reserved_; }

    // A request: its fields (pseudo-fields first), its body from the stream's source or pending
    // view when `has_body`. False: the session refused it (the stream is closed, not refused).
    bool submit(std::shared_ptr<h2_stream> s, const std::vector<nghttp2_nv>& nv, bool has_body);
    // A stream for a request on this connection: a spare one (its buffers' capacity kept) when
    // there is one. The last owner to let go gives it back to the connection (recycle).
    std::shared_ptr<h2_stream> new_stream(boost::asio::io_context& ioc);
    // The relay took n bytes of the stream's body: its window (and the connection's) opens by that.
    void consume(h2_stream& s, std::size_t n);
    // More request body was offered: nghttp2 asks for it again.
    void resume(h2_stream& s);
    // The call is done with the stream: reset it unless it ended both ways.
    void abandon(h2_stream& s);
    void kick();

    // The pool's tick: pings an idle connection, closes one past idle_timeout or whose PING went
    // unanswered. True when the connection is gone (the pool drops it).
    bool tick(net::clock::time_point now);
    void close();  // GOAWAY, then the socket closes
    net::clock::time_point idle_since() const { return idle_since_; }
    // Holds one of the upstream's `connections` (limits.max_connections) while it lives.
    void counted(std::shared_ptr<upstream_health> h) { uc_.counted = std::move(h); }
    const endpoint_state& endpoint() const { return *uc_.ep; }

private:
    friend struct h2_callbacks;
    enum class state { opening, up, dead };
    bool start_session();
    boost::asio::awaitable<void> reader(std::shared_ptr<h2_connection> self);
    boost::asio::awaitable<void> writer(std::shared_ptr<h2_connection> self);
    void fail_all();
    h2_stream* find(std::int32_t id);
    void stream_closed(std::int32_t id, std::uint32_t code);
    void opened(state s);
    static void recycle(h2_stream* s) noexcept;
    friend struct stream_recycler;
    static constexpr std::size_t k_spares = 128;
    std::vector<std::unique_ptr<h2_stream>> spares_;

    upstream_connection uc_;  // the socket, its transport, deadline and read buffer, the endpoint
    std::shared_ptr<const cluster> def_;
    nghttp2_session* session_ = nullptr;
    std::vector<std::pair<std::int32_t, std::shared_ptr<h2_stream>>> streams_;
    std::size_t reserved_ = 0;
    std::string out_;
    boost::asio::steady_timer wake_writer_, wake_open_;
    int open_waiters_ = 0;
    bool writer_waiting_ = false;
    state state_ = state::opening;
    bool goaway_ = false, closing_ = false, fell_back_ = false;
    bool pinged_ = false;  // this idle period's PING went out
    bool ping_outstanding_ = false;
    net::clock::time_point idle_since_{}, ping_sent_{};
};

}  // namespace gatehouse::upstream
