#pragma once
// One HTTP/1.1 client connection: the request loop and local answers (client_connection.cpp),
// the proxied request (upstream_request.cpp, through an upstream::call), the heads it forwards
// (forwarded_heads.cpp) and tunnels (tunnel.cpp). Private to src/http.
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

struct upstream_request;
}  // namespace gatehouse::http1
namespace gatehouse::upstream {
struct upstream_connection;
struct cluster;
struct call_options;
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
    asio::awaitable<bool> handle_request(std::size_t head_len);
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
    // After a middleware's reply: the request the chain asked for in the background
    // (request_context::request_in_background), sent to the route's upstream (background_fetch.cpp).
    void start_background(const router::compiled_route& r);

    // The downstream stream of the current request (response_writer.cpp): the exchange's local
    // replies and interim responses in HTTP/1.1 framing.
    const http::connection_facts& facts() const override { return facts_; }
    asio::awaitable<bool> send_interim(const http::response_head& head) override;
    asio::awaitable<bool> send_head(const http::response_head& head, bool end_stream) override;
    asio::awaitable<bool> send_data(std::string_view data, bool end_stream) override;
    // The head into out_ (held back: it goes out with the first body bytes); an interim head.
    void compose_head(const http::response_head& head, bool end_stream);
    void compose_interim(const http::response_head& head);
    void note_facts();  // facts_ from what the connection knows (after the TLS handshake)
    http::connection_facts facts_;
    bool must_close_ = false;  // the connection closes after the current response

    // upstream_request.cpp: the upstream request as phases
    asio::awaitable<bool> proxy(const router::compiled_route& r, std::size_t head_len);
    int prepare_upstream(upstream_request& ur, const router::compiled_route& r, std::size_t head_len);  // 0 or a 4xx
    upstream::call_options call_options_for(const router::compiled_route& r);
    void choose_hash_key(const upstream::cluster& def, upstream::call_options& o) const;
    bool start_chunked_decoder(upstream_request& ur, const router::compiled_route& r, std::size_t head_len);
    void note_upgrade(const router::compiled_route& r, bool has_body);
    std::size_t choose_upstream(const router::compiled_route& r);
    void maybe_mirror(const upstream_request& ur, const router::compiled_route& r);
    std::string upgrade_;  // the Upgrade value of a request a route lets through (else empty)
    // tunnel.cpp: after a 101, bytes both ways until either side closes or both idle too long.
    asio::awaitable<bool> tunnel(upstream_request& ur, const router::compiled_route& r);
    asio::awaitable<std::exception_ptr> pump_both_ways(upstream_request& ur, net::clock::duration idle);
    asio::awaitable<void> pump_to_upstream(upstream_request& ur, net::clock::duration idle, tunnel_link& link);
    void rearm(upstream::upstream_connection& uc, net::clock::duration idle);  // both sockets' idle deadlines
    asio::awaitable<void> pump_to_client(upstream_request& ur, net::clock::duration idle, tunnel_link& link);
    std::size_t chosen_upstream_ = 0;
    // upstream_request.cpp: the client's side of the upstream call (upstream_request is its sender)
    friend struct upstream_request;
    void note_call(const upstream_request& ur);
    void note_local_error(upstream_request& ur, const upstream::upstream_error& err);
    asio::awaitable<upstream::upstream_error> send_request(upstream_request& ur, upstream::upstream_connection& uc);
    asio::awaitable<upstream::upstream_error> send_sized_body(upstream_request& ur, upstream::upstream_connection& uc);
    asio::awaitable<io_status> read_body(upstream_request& ur);
    asio::awaitable<upstream::upstream_error> send_chunked_body(upstream_request& ur, upstream::upstream_connection& uc);
    asio::awaitable<bool> fail_upstream(upstream_request& ur, const upstream::upstream_error& err);
    void release_kept_body(upstream_request& ur);
    asio::awaitable<bool> relay_response(upstream_request& ur);
    bool start_response_decoder(upstream_request& ur, std::optional<body_decoder<false>>& dec, bool filtered);
    bool copy_whole_response(upstream_request& ur, bool filtered, bool& close);
    asio::awaitable<bool> relay_sized_body(upstream_request& ur);
    asio::awaitable<bool> relay_replacement(upstream_request& ur);
    void frame_for_client(bool head_written, bool done, const body_decoder<false>* dec, bool chunked_to_client);
    asio::awaitable<bool> relay_delimited_body(upstream_request& ur, body_decoder<false>* dec, bool chunked_to_client);
    asio::awaitable<bool> relay_filtered_body(upstream_request& ur, body_decoder<false>* dec, bool chunked_to_client);
    // forwarded_heads.cpp: the heads
    void build_upstream_head(const router::compiled_route& r);
    // `filtered_length`: the length of a body filtered whole (a middleware's body filter).
    void build_client_head(const response_head& resp, bool close, std::optional<std::size_t> filtered_length = {});
    void build_interim_head(const response_head& resp);
    // The last chunk of a response to the client with its trailers: the upstream's (`dec`: its
    // chunked body's decoder, or null) as the response chain leaves them.
    void append_last_chunk(std::string& out, const body_decoder<false>* dec);

    session_host& w_;
    std::shared_ptr<net::listener_state> listener_;
    tcp::socket sock_;
    transport io_{sock_};  // every read and write of the connection; TLS when the listener has it
    std::shared_ptr<const tls::server_context> tls_ctx_;
    tls::peer_identity client_id_;
    std::string tls_version_;
    asio::awaitable<bool> handshake();
    asio::awaitable<void> linger();  // the staged close after an error answer (serve())
    bool linger_ = false;
    static constexpr auto k_lingering_time = std::chrono::seconds(30);
    static constexpr auto k_lingering_timeout = std::chrono::seconds(5);
    net::deadline dl_;
    io_buffer buf_;
    request_head req_;
    response_head resp_;
    std::string out_;       // heads we write to the client
    std::string up_head_;   // the head we write to the upstream
    std::string body_out_;  // decoded chunk data waiting to be re-framed
    std::string plain_;     // decoded body bytes on their way into a body filter
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
