#pragma once
// One HTTP/1.1 client connection: the request loop (client_connection.cpp), the downstream
// stream of its current request (the request body: request_body.cpp; the response:
// response_writer.cpp), idle parking (idle_connection.cpp) and tunnels (tunnel.cpp). The
// exchange (src/http/) runs each request. Private to src/http1.
#include <exception>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <optional>
#include <string>

#include "http1/status_line.hpp"
#include "http1/head.hpp"
#include "router/route_table.hpp"
#include "gatehouse/upstream/upstream_error.hpp"
#include "gatehouse/util/net.hpp"
#include "net/io_buffer.hpp"
#include "net/transport.hpp"
#include "gatehouse/middleware/middleware.hpp"
#include "tls/server_context.hpp"
#include "net/deadlines.hpp"
#include "http/exchange.hpp"
#include "http/session_host.hpp"
#include "net/listener_state.hpp"

namespace gatehouse::http1 {

using net::io_buffer;
using net::transport;

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto nothrow_awaitable = asio::as_tuple(asio::use_awaitable);

enum class io_status { ok, eof, timeout, error, full };

}  // namespace gatehouse::http1
namespace gatehouse::upstream {
struct upstream_connection;
class call;
}  // namespace gatehouse::upstream
namespace gatehouse::http1 {
template <bool IsRequest>
class body_decoder;
struct idle_connection;
struct tunnel_link;  // tunnel.cpp

// A client connection ends: the listener's and the worker's counts drop (the session, or the
// idle_connection it became).
void connection_ended(session_host& w, net::listener_state& l);

class client_connection final : public http::downstream {
public:
    client_connection(session_host& w, std::shared_ptr<net::listener_state> l, tcp::socket s, const tcp::endpoint& peer);
    // An idle connection whose client sent again (idle_connection.cpp): the session resumes.
    explicit client_connection(idle_connection&& idle);
    ~client_connection();
    static asio::awaitable<void> serve(std::unique_ptr<client_connection> self);

private:
    friend struct idle_connection;
    void prepare();  // what both constructors do
    // Frees the connection and its coroutine frames while its client is idle (plain only): the
    // socket, its counts and its idle deadline wait in an idle_connection (idle_connection.cpp).
    static void park(std::unique_ptr<client_connection> self);
    bool park_ = false;                    // wait_released chose to park: serve() hands the socket over
    net::clock::duration park_timeout_{};  // the idle time left when it parked
    asio::awaitable<void> loop();
    // Reads into buf_; arms the client deadline first unless `timeout` is nullopt.
    asio::awaitable<io_status> read_more(std::optional<net::clock::duration> timeout);
    asio::awaitable<io_status> wait_for_request(net::clock::duration idle_timeout);
    asio::awaitable<io_status> wait_released(net::clock::duration idle_timeout);
    void release_idle_memory();
    asio::awaitable<bool> write_client(std::string_view a, std::string_view b = {});
    // What goes with a write to the client: its deadline armed (before), its bytes and a client
    // that left mid-response counted (after).
    void before_write();
    bool after_write(boost::system::error_code ec, std::size_t n);
    void frame_data(std::string_view& data, bool end_stream);  // chunk framing into out_
    asio::awaitable<bool> handle_request(std::size_t head_len);
    asio::awaitable<bool> tunnel_upstream();
    using header_list = http::exchange::extra_fields;
    bool check_request(std::size_t head_len);
    http::request_head neutral_head() const;
    struct refusal {
        int status = 0;
        std::string_view reason;  // a literal
        header_list extra;
    } refusal_;
    // An error answer; `close`: the connection closes after it (in stages: linger()).
    asio::awaitable<bool> send_error(int status, std::string_view message, bool close, header_list extra = {});
    asio::awaitable<void> fail_head(int status, std::string_view message);

    // The downstream stream of the current request (response_writer.cpp): the exchange's local
    // replies and interim responses in HTTP/1.1 framing.
    const http::connection_facts& facts() const override { return facts_; }
    asio::awaitable<http::interim_outcome> send_interim(const http::response_head& head) override;
    asio::awaitable<bool> send_head(const http::response_head& head, std::string_view data, bool end_stream) override;
    asio::awaitable<bool> send_data(std::string_view data, bool end_stream) override;
    asio::awaitable<bool> send_trailers(const http::trailers& t) override;
    void reset() override;
    // The client's close while a composition waits (client_gone.cpp).
    void watch_gone(std::function<void()> gone) override;
    void unwatch_gone() override;
    std::shared_ptr<bool> watching_;  // the watch's handler runs only while it is true
    // The head into out_ (held back: it goes out with the first body bytes); an interim head.
    void compose_head(const http::response_head& head, bool end_stream);
    void compose_interim(const http::response_head& head);
    void note_facts();  // facts_ from what the connection knows (after the TLS handshake)
    http::connection_facts facts_;
    bool must_close_ = false;  // the connection closes after the current response

    // request_body.cpp: the request body as the exchange pulls it (sized or chunked), with
    // limits.body_timeout and body_min_rate, and 100 Continue when the client waits for it.
    std::string_view body_ready() override;
    void consume_body(std::size_t n) override;
    asio::awaitable<http::body_status> read_body() override;
    bool body_done() const override;
    http::trailers request_trailers() const override;
    bool start_body(std::size_t head_len);  // before the exchange's upstream phase; false: a chunked head Beast refused
    void drop_head();                       // the request head leaves buf_ (its views die)
    bool body_consumed() const;             // the whole body was read (or there is none)
    asio::awaitable<io_status> read_more_body();
    http::body_status decode_body();
    std::size_t head_left_ = 0;    // the request head, still at the front of buf_
    std::uint64_t body_left_ = 0;  // a sized body: bytes not consumed yet
    std::uint64_t body_read_ = 0;  // read from the client after the head (limits.body_min_rate)
    net::clock::time_point body_start_{};
    bool proxied_ = false;                             // the exchange's upstream phase runs: persistence follows the body
    bool sent_continue_ = false;                       // 100 Continue went to the client
    std::unique_ptr<body_decoder<true>> req_decoder_;  // a chunked request body's
    std::vector<field_view> req_trailers_;
    http::body_status body_error_ = http::body_status::ok;  // what decoding the chunked body found
    // tunnel.cpp: after a 101, bytes both ways until either side closes or both idle too long.
    asio::awaitable<bool> tunnel(upstream::call& call, const router::compiled_route& r);
    asio::awaitable<std::exception_ptr> pump_both_ways(upstream::call& call, net::clock::duration idle);
    asio::awaitable<void> pump_to_upstream(upstream::call& call, net::clock::duration idle, tunnel_link& link);
    void rearm(upstream::upstream_connection& uc, net::clock::duration idle);  // both sockets' idle deadlines
    asio::awaitable<void> pump_to_client(upstream::call& call, net::clock::duration idle, tunnel_link& link);
    // response_writer.cpp: how the current response's body is framed for the client.
    bool chunked_out_ = false;  // chunked (an HTTP/1.1 client, a body of unknown length)

    session_host& w_;
    std::shared_ptr<net::listener_state> listener_;
    tcp::socket sock_;
    transport io_{sock_};  // every read and write of the connection; TLS when the listener has it
    std::shared_ptr<const tls::server_context> tls_ctx_;
    tls::peer_identity client_id_;
    std::string tls_version_;
    asio::awaitable<bool> handshake();
    asio::awaitable<void> linger();  // the staged close after an error answer (serve())
    bool alpn_h2() const;
    asio::awaitable<void> serve_h2();
    bool h2_ = false;  // the client sent the HTTP/2 preface
    bool linger_ = false;
    static constexpr auto k_lingering_time = std::chrono::seconds(30);
    static constexpr auto k_lingering_timeout = std::chrono::seconds(5);
    net::deadline dl_;
    io_buffer buf_;
    request_head req_;
    std::string out_;       // heads we write to the client (and chunk framing)
    std::string body_out_;  // a chunked request body, decoded
    util::ip_address peer_;
    std::string peer_text_;
    bool trusted_peer_ = false;
    // The request is a HEAD (noted when its head is scanned: req_'s views die once the body is
    // read, and an answer may be written after that).
    bool head_request_ = false;

    // The current request, from its head to its last byte (src/http/exchange.hpp).
    http::exchange ex_{w_, *listener_, *this};
};

}  // namespace gatehouse::http1
