#pragma once
// One HTTP/2 client connection (RFC 9113), through libnghttp2 (framing, HPACK, flow-control
// accounting, the protocol's state machines): a reader feeds what arrives to the session, a
// writer sends what the session has to send, coalesced into one write, and each request is a
// stream (stream.hpp) driving its own exchange as a coroutine on the connection's worker.
// Flow control is backpressure: automatic window updates are off, and a stream's window is
// credited only for request body bytes the exchange has consumed (sent on upstream).
//
// The HTTP/1.1 connection hands its socket over (http1/client_connection.cpp): after a TLS
// handshake that chose h2, or on a plain listener when the client's first bytes are the HTTP/2
// preface (h2c with prior knowledge). It keeps owning them; this runs inside its serve().
#include <nghttp2/nghttp2.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>
#include <vector>

#include "gatehouse/http/stream.hpp"
#include "http2/frame_meter.hpp"
#include "net/deadlines.hpp"
#include "net/io_buffer.hpp"
#include "net/listener_state.hpp"
#include "net/transport.hpp"

namespace gatehouse::http {
class session_host;
}

namespace gatehouse::http2 {

class stream;

// What the HTTP/1.1 connection lends: the socket and its transport (plain or TLS), its deadline,
// what was read already (the preface), the facts of the connection.
struct connection_parts {
    http::session_host& host;
    std::shared_ptr<net::listener_state> listener;
    boost::asio::ip::tcp::socket& socket;
    net::transport& io;
    net::deadline& deadline;
    net::io_buffer& buf;
    http::connection_facts facts;
};

// Serves the connection until it ends (the client's GOAWAY or close, an error, idle, drain).
boost::asio::awaitable<void> serve(connection_parts parts);

// The client connection preface's first line, as an HTTP/1 reader sees it.
inline constexpr std::string_view k_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// The connection's open streams: few (max_concurrent_streams), found by a linear scan; the
// vector keeps its capacity, so opening a stream allocates nothing here (a std::map allocated a
// node per stream).
class stream_table {
public:
    using entry = std::pair<std::int32_t, std::shared_ptr<stream>>;
    void add(std::int32_t id, std::shared_ptr<stream> s) { v_.emplace_back(id, std::move(s)); }
    std::shared_ptr<stream>* find(std::int32_t id) {
        for (auto& e : v_)
            if (e.first == id) return &e.second;
        return nullptr;
    }
    std::shared_ptr<stream> take(std::int32_t id) {
        for (std::size_t i = 0; i < v_.size(); ++i)
            if (v_[i].first == id) {
                auto s = std::move(v_[i].second);
                if (i + 1 != v_.size()) v_[i] = std::move(v_.back());
                v_.pop_back();
                return s;
            }
        return nullptr;
    }
    bool empty() const { return v_.empty(); }
    auto begin() { return v_.begin(); }
    auto end() { return v_.end(); }

private:
    std::vector<entry> v_;
};

class connection {
public:
    explicit connection(connection_parts parts);
    ~connection();
    connection(const connection&) = delete;
    boost::asio::awaitable<void> run();

    // For streams.
    http::session_host& host() { return p_.host; }
    net::listener_state& listener() { return *p_.listener; }
    const http::connection_facts& facts() const { return p_.facts; }
    nghttp2_session* session() { return session_; }
    void kick();                  // the session may have something to send: the writer looks
    std::shared_ptr<stream> new_stream(std::int32_t id);  // a spare one when there is one
    void stream_done(stream& s);  // its coroutine ended
    void arm_idle();              // no stream left: the idle timeout runs

private:
    friend struct callbacks;
    bool start_session();
    boost::asio::awaitable<void> reader();
    boost::asio::awaitable<void> writer();
    boost::asio::awaitable<void> write_frames();
    void helper_done();                         // the writer or the ticker ended
    boost::asio::awaitable<void> say_goaway();  // GOAWAY NO_ERROR now, from the reader (idle)
    boost::asio::awaitable<void> ticker();      // drain, idle and stream idle timeouts, once a second
    void tick();
    void end(std::uint32_t error_code);  // GOAWAY, then the connection closes once its streams are done
    stream* find(std::int32_t id);
    void count_close(std::uint32_t error_code);
    static constexpr std::uint64_t k_reset_burst = 100;
    std::uint64_t resets_ = 0, completed_ = 0;
    bool flooded(std::string_view bytes);  // counts the client's frames (frame_meter.hpp)
    frame_meter meter_;

    connection_parts p_;
    nghttp2_session* session_ = nullptr;
    static constexpr std::size_t k_spare_streams = 16;
    std::vector<std::unique_ptr<stream>> spare_;  // before streams_: it outlives the streams' return
    stream_table streams_;
    std::size_t running_ = 0;  // stream coroutines not yet finished
    std::uint64_t started_ = 0;
    std::string out_;
    boost::asio::steady_timer wake_writer_, wake_done_, tick_timer_;
    int helpers_ = 0;  // the writer and the ticker, until they end
    bool closing_ = false, goaway_sent_ = false, dead_ = false;
    bool writer_waiting_ = false;  // the writer waits on wake_writer_ (kick() cancels it only then)
    net::clock::time_point idle_since_{};
};

}  // namespace gatehouse::http2
