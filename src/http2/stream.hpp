#pragma once
// One HTTP/2 stream as the exchange's downstream stream: its request head (pseudo-fields and
// fields as decoded, checked by gatehouse's own field rules as well as nghttp2's), its request
// body (DATA as it arrives, credited to the flow-control windows when consumed), and its
// response (HEADERS, DATA through a data source that takes what send_data offers, trailers).
#include <nghttp2/nghttp2.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <string>
#include <utility>
#include <vector>

#include "http/exchange.hpp"
#include "router/route_table.hpp"
#include "net/deadlines.hpp"

namespace gatehouse::upstream {
struct upstream_connection;
}

namespace gatehouse::http2 {

class connection;

class stream final : public http::downstream {
public:
    stream(connection& c, std::int32_t id);
    ~stream();
    stream(const stream&) = delete;
    // For the connection's next stream (connection::new_stream): every per-stream member back to
    // its start, the strings and vectors keeping their capacity.
    void recycle(std::int32_t id);

    // The head, as nghttp2 decodes it (on_header): false refuses the stream (a protocol error).
    bool add_field(std::string_view name, std::string_view value, bool trailer);
    void head_done();  // END_HEADERS of the request head: the exchange starts (start())
    void data(const std::uint8_t* p, std::size_t n);
    void end_of_request();                  // END_STREAM from the client
    void closed(std::uint32_t error_code);  // the stream is gone (reset either way, or done)
    void response_sent();                   // the response's END_STREAM went out
    boost::asio::awaitable<void> run();     // the request, through the exchange
    boost::asio::cancellation_signal& cancel() { return cancel_; }
    std::int32_t id() const { return id_; }
    bool running() const { return running_; }
    net::clock::time_point last_activity() const { return last_activity_; }
    void touch() { last_activity_ = net::clock::now(); }  // a header block began (trailers)
    // How long the stream may go without a byte either way: the listener's stream_idle_timeout,
    // or the route's tunnel_idle_timeout once it carries a tunnel.
    net::clock::duration idle_limit(net::clock::duration stream_idle) const { return tunnelling_ ? tunnel_idle_ : stream_idle; }
    // nghttp2's data source: what send_data offered, copied into DATA frames.
    ssize_t read_data(std::uint8_t* buf, std::size_t length, std::uint32_t* flags);

    // http::downstream
    const http::connection_facts& facts() const override;
    std::string_view body_ready() override { return body_; }
    void consume_body(std::size_t n) override;
    boost::asio::awaitable<http::body_status> read_body() override;
    bool body_done() const override { return request_ended_ && !too_large_; }  // a cut body never is
    bool full_duplex() const override { return true; }
    void watch_body(http::body_watcher* w) override;
    http::trailers request_trailers() const override { return trailer_view_; }
    boost::asio::awaitable<http::interim_outcome> send_interim(const http::response_head& head) override;
    boost::asio::awaitable<bool> send_head(const http::response_head& head, std::string_view data, bool end_stream) override;
    boost::asio::awaitable<bool> send_data(std::string_view data, bool end_stream) override;
    boost::asio::awaitable<bool> send_trailers(const http::trailers& t) override;
    void reset() override;

private:
    boost::asio::awaitable<void> serve_request();
    const char* check_head();  // the request head's problems, as a 400's reason (null: none)
    http::request_head neutral_head();
    void build_nv(const http::response_head& h, bool with_status, bool end_stream);
    void add_nv(std::string_view name, std::string_view value);
    void point_nv();
    boost::asio::awaitable<bool> wait_sent();
    // RFC 8441 extended CONNECT (stream_tunnel.cpp): the request goes upstream as an HTTP/1.1
    // Upgrade, and after its 101 the stream's DATA frames carry the tunnel's bytes both ways.
    bool allows_tunnel(const router::compiled_route& r) const;
    void add_upgrade_fields();
    boost::asio::awaitable<void> tunnel();
    boost::asio::awaitable<void> pump_to_client(upstream::upstream_connection& uc);
    boost::asio::awaitable<void> pump_to_upstream(upstream::upstream_connection& uc);
    void wake();
    boost::asio::awaitable<void> wait();

    connection& c_;
    std::int32_t id_;
    http::exchange ex_;
    // The request head: every field as received (names lower-case), their bytes in one string
    // that keeps its capacity from stream to stream (a string pair per field cost two
    // allocations for any value past 15 bytes), then views for the exchange (head_done).
    struct raw_field {
        std::uint32_t at, name_len, value_len;
    };
    std::string raw_bytes_;
    std::vector<raw_field> raw_;
    std::string_view raw_name(const raw_field& f) const { return std::string_view(raw_bytes_).substr(f.at, f.name_len); }
    std::string_view raw_value(const raw_field& f) const { return std::string_view(raw_bytes_).substr(f.at + f.name_len, f.value_len); }
    std::string method_, scheme_, authority_, path_, protocol_, cookie_;
    std::vector<http::field> fields_, trailers_;
    std::vector<std::pair<std::string, std::string>> trailer_store_;
    http::trailers trailer_view_;
    std::size_t head_bytes_ = 0;
    int refuse_ = 0;  // 431: the head is over the limits; 400: malformed
    const char* refuse_reason_ = "";
    bool pseudo_done_ = false;
    bool extended_ = false;  // CONNECT with :protocol (RFC 8441)
    std::string ws_key_;     // the Sec-WebSocket-Key gatehouse sends upstream for it
    bool tunnelling_ = false, tunnel_ended_ = false;
    net::clock::duration tunnel_idle_{};
    // The request body.
    std::string body_;
    std::uint64_t body_received_ = 0, body_limit_ = 0;
    bool request_ended_ = false, too_large_ = false;
    // The response.
    std::vector<nghttp2_nv> nv_;
    std::string nv_store_;
    std::string_view pending_;  // offered by send_data, not yet taken by read_data
    bool data_end_ = false, submitted_ = false, deferred_ = false, trailers_wanted_ = false;
    bool response_sent_ = false;  // its END_STREAM went out
    bool stop_request_ = false;   // RST_STREAM NO_ERROR once it did: the request body is not wanted
    bool unread_ = false;         // the exchange is over: request DATA is credited as it comes
    std::vector<std::pair<std::string, std::string>> trailer_out_;
    bool closed_ = false, running_ = false;
    http::body_watcher* watcher_ = nullptr;  // an HTTP/2 upstream's stream sending the body as it arrives
    std::uint32_t close_code_ = 0;
    net::clock::time_point last_activity_;
    boost::asio::steady_timer wake_;
    int waiters_ = 0;  // coroutines waiting on wake_ (wake() cancels only when there are some)
    boost::asio::cancellation_signal cancel_;
};

}  // namespace gatehouse::http2
