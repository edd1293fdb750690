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

#include "http1/error_reply.hpp"
#include "http1/head.hpp"
#include "router/route_table.hpp"
#include "gatehouse/upstream/upstream_error.hpp"
#include "gatehouse/util/net.hpp"
#include "net/io_buffer.hpp"
#include "net/transport.hpp"
#include "gatehouse/middleware/middleware.hpp"
#include "tls/server_context.hpp"
#include "net/deadlines.hpp"
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

class client_connection {
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
    enum class request_check { route, refused, asterisk, to_https };
    request_check check_request(std::size_t head_len, bool& close);
    struct refusal {
        int status = 0;
        std::string_view reason;  // a literal
        header_list extra;
    } refusal_;
    void note_request(const scan_error& err);
    asio::awaitable<bool> answer_options_asterisk(bool close);
    asio::awaitable<bool> redirect_to_https(bool close);
    asio::awaitable<bool> send_error(int status, std::string_view message, bool close, header_list extra = {});
    asio::awaitable<bool> respond_direct(const router::compiled_route& r, bool close);
    asio::awaitable<bool> respond_with(const config::respond_config& rc, bool close);
    asio::awaitable<bool> redirect(const router::compiled_route& r, bool close);
    asio::awaitable<void> fail_head(int status, std::string_view message);
    // Runs the route's middleware chain; false when a middleware answered (the reply was sent,
    // `keep` says whether the connection stays open).
    asio::awaitable<bool> run_chain(const router::compiled_route& r, bool close, bool& keep);
    void run_response_chain(int status);
    asio::awaitable<bool> send_full(const middleware::full_response& r, bool close, bool head_only);
    // After a middleware's reply: the request the chain asked for in the background
    // (request_context::request_in_background), sent to the route's upstream (background_fetch.cpp).
    void start_background(const router::compiled_route& r);
    std::string_view real_client() const;
    void begin_request();
    void complete_request();  // metrics and access log, once per answered request

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
    bool copy_whole_response(upstream_request& ur, bool filtered, bool chunked_to_client, bool& close);
    asio::awaitable<bool> relay_sized_body(upstream_request& ur);
    asio::awaitable<bool> relay_replacement(upstream_request& ur);
    asio::awaitable<bool> relay_delimited_body(upstream_request& ur, body_decoder<false>* dec, bool chunked_to_client);
    asio::awaitable<bool> relay_filtered_body(upstream_request& ur, body_decoder<false>* dec, bool chunked_to_client);
    // proxy.cpp: the heads
    void build_upstream_head(const router::compiled_route& r);
    struct forwarded_claims;
    void rewrite_path(const router::compiled_route& r);
    void append_upstream_request_line(const router::compiled_route& r);
    void forward_request_fields(forwarded_claims& claims);
    void append_gatehouse_fields(const forwarded_claims& claims);
    // The response chain on the upstream's head (medit_); before build_client_head.
    void run_head_chain(const response_head& resp);
    // `filtered_length`: the length of a body filtered whole (a middleware's body filter).
    void build_client_head(const response_head& resp, bool chunked_to_client, bool close, std::optional<std::size_t> filtered_length = {});
    void build_interim_head(const response_head& resp);
    // The last chunk of a response to the client with its trailers: the upstream's (`dec`: its
    // chunked body's decoder, or null) as the response chain leaves them.
    void append_last_chunk(std::string& out, const body_decoder<false>* dec);
    void run_trailer_chain(middleware::trailer_edit& edit);
    template <class F>
    void each_in_reverse(F&& f);
    bool is_identity_header(std::string_view name) const {
        const auto& t = tls_ctx_->config();
        return (!t.subject_header.empty() && iequals(name, t.subject_header)) || (!t.sans_header.empty() && iequals(name, t.sans_header)) ||
               (!t.fingerprint_header.empty() && iequals(name, t.fingerprint_header));
    }
    bool removed_by_middleware(std::string_view name) const {
        for (auto& r : mctx_.removed_headers())
            if (iequals(r, name)) return true;
        return false;
    }

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
    std::shared_ptr<const config::snapshot> snap_;
    request_head req_;
    response_head resp_;
    std::string path_;      // normalised (and rewritten) path
    std::string host_buf_;  // normalised host when it needed lower-casing
    std::string out_;       // heads we write to the client
    std::string up_head_;   // the head we write to the upstream
    std::string body_out_;  // decoded chunk data waiting to be re-framed
    std::string plain_;     // decoded body bytes on their way into a body filter
    char rid_buf_[32];
    std::string rid_store_;
    std::string_view request_id_;
    util::ip_address peer_;
    std::string peer_text_;
    bool trusted_peer_ = false;
    // The request is a HEAD (noted when its head is scanned: req_'s views die once the body is
    // read, and an answer may be written after that).
    bool head_request_ = false;

    // Per request, for metrics, the access log and tracing.
    net::clock::time_point req_start_{};
    int status_ = 0;
    std::uint64_t bytes_in_ = 0, bytes_out_ = 0;
    const router::compiled_route* route_ = nullptr;
    std::size_t method_slot_ = 0;
    bool log_this_ = false;
    std::string log_method_, log_host_, log_path_, log_query_, log_agent_;
    std::string_view upstream_name_;  // a view into the snapshot's cluster
    std::string upstream_addr_;       // the endpoint (which may leave the set before the log line)
    double upstream_ms_ = -1;
    int upstream_status_ = 0;        // the upstream's own status, when one came
    std::string_view error_source_;  // who made an error answer (access log)
    int upstream_attempts_ = 0;
    bool has_trace_ = false, new_trace_ = false;
    char trace_id_[32];
    std::uint8_t trace_flags_ = 0;

    // The middleware chain of the current request.
    middleware::request_context mctx_;
    middleware::local_reply mreply_;
    middleware::response_edit medit_;
    const config::snapshot::chain* listener_chain_ = nullptr;
    const config::snapshot::chain* route_chain_ = nullptr;
};

}  // namespace gatehouse::http1
