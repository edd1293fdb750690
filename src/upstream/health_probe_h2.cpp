// An active health check over HTTP/2 (health_probe_h2.hpp): one stream on a connection of its
// own, driven by nghttp2 in a plain read/write loop; a gRPC check is the standard
// grpc.health.v1.Health/Check call, passed only by grpc-status 0 and status SERVING.
#include "upstream/health_probe_h2.hpp"

#include <nghttp2/nghttp2.h>

#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace gatehouse::upstream {

namespace asio = boost::asio;

namespace {

struct probe_state {
    std::int32_t id = -1;
    int status = 0;
    std::string grpc_status;
    std::string body;
    bool closed = false;
    std::uint32_t error_code = 0;
    std::string_view request_body;
};

int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen, const std::uint8_t* value,
              std::size_t valuelen, std::uint8_t, void* user) {
    auto& st = *static_cast<probe_state*>(user);
    if (frame->hd.stream_id != st.id) return 0;
    const std::string_view n(reinterpret_cast<const char*>(name), namelen), v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
        st.status = 0;
        for (char c : v) st.status = st.status * 10 + (c - '0');
    } else if (n == "grpc-status") {
        st.grpc_status.assign(v);
    }
    return 0;
}

int on_data(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data, std::size_t len, void* user) {
    auto& st = *static_cast<probe_state*>(user);
    if (id == st.id && st.body.size() < 4096) st.body.append(reinterpret_cast<const char*>(data), len);
    return 0;
}

int on_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* user) {
    auto& st = *static_cast<probe_state*>(user);
    if (id != st.id) return 0;
    st.closed = true;
    st.error_code = code;
    return 0;
}

ssize_t read_request_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length, std::uint32_t* flags,
                          nghttp2_data_source* source, void*) {
    auto& body = *static_cast<std::string_view*>(source->ptr);
    const std::size_t n = std::min(length, body.size());
    std::memcpy(buf, body.data(), n);
    body.remove_prefix(n);
    if (body.empty()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
}

// HealthCheckRequest { string service = 1; } as one length-prefixed gRPC message.
std::string health_request(const std::string& service) {
    std::string msg;
    if (!service.empty()) {
        msg += '\x0a';
        std::size_t n = service.size();
        while (n >= 0x80) {
            msg += static_cast<char>((n & 0x7f) | 0x80);
            n >>= 7;
        }
        msg += static_cast<char>(n);
        msg += service;
    }
    std::string out(5, '\0');
    out[1] = static_cast<char>((msg.size() >> 24) & 0xff);
    out[2] = static_cast<char>((msg.size() >> 16) & 0xff);
    out[3] = static_cast<char>((msg.size() >> 8) & 0xff);
    out[4] = static_cast<char>(msg.size() & 0xff);
    return out + msg;
}

// HealthCheckResponse { ServingStatus status = 1; }: SERVING is 1.
bool serving(std::string_view body) {
    if (body.size() < 5 || body[0] != 0) return false;
    auto msg = body.substr(5);
    for (std::size_t i = 0; i + 1 < msg.size(); ++i)
        if (msg[i] == '\x08') return msg[i + 1] == '\x01';
    return false;  // the default (UNKNOWN) is not written on the wire
}

nghttp2_nv nv(std::string_view n, std::string_view v) {
    return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())), reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())),
            n.size(), v.size(), NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

asio::awaitable<h2_probe_result> h2_probe(net::transport& io, const config::health_check_config& hc, const std::string& host,
                                          bool tls) {
    probe_state st;
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    nghttp2_session* session = nullptr;
    nghttp2_session_client_new(&session, cb, &st);
    nghttp2_session_callbacks_del(cb);
    std::unique_ptr<nghttp2_session, decltype(&nghttp2_session_del)> owner(session, nghttp2_session_del);
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);

    const bool grpc = hc.grpc_service.has_value();
    const std::string body = grpc ? health_request(*hc.grpc_service) : std::string();
    std::string_view pending = body;
    const std::string path = grpc ? "/grpc.health.v1.Health/Check" : hc.path;
    std::vector<nghttp2_nv> head{nv(":method", grpc ? "POST" : "GET"), nv(":scheme", tls ? "https" : "http"), nv(":authority", host),
                                 nv(":path", path),
                                 nv("user-agent", "gatehouse-health-check")};
    if (grpc) {
        head.push_back(nv("content-type", "application/grpc"));
        head.push_back(nv("te", "trailers"));
    }
    nghttp2_data_provider prd;
    prd.source.ptr = &pending;
    prd.read_callback = read_request_body;
    st.id = nghttp2_submit_request(session, nullptr, head.data(), head.size(), grpc ? &prd : nullptr, nullptr);
    if (st.id < 0) co_return h2_probe_result{false, 0, "HTTP/2: cannot submit the request"};

    std::string out;
    char buf[4096];
    while (!st.closed) {
        out.clear();
        const std::uint8_t* data = nullptr;
        for (auto n = nghttp2_session_mem_send(session, &data); n > 0; n = nghttp2_session_mem_send(session, &data))
            out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
        if (!out.empty()) {
            auto [wec, wn] = co_await io.write(out);
            if (wec) co_return h2_probe_result{false, 0, "write: " + wec.message()};
        }
        auto [rec, rn] = co_await io.read_some(buf, sizeof buf);
        if (rec) co_return h2_probe_result{false, 0, rec == asio::error::eof ? "closed before the response" : "read: " + rec.message()};
        if (nghttp2_session_mem_recv(session, reinterpret_cast<const std::uint8_t*>(buf), rn) < 0)
            co_return h2_probe_result{false, 0, "HTTP/2 protocol error"};
    }
    if (st.status == 0) co_return h2_probe_result{false, 0, "stream reset (" + std::string(nghttp2_http2_strerror(st.error_code)) + ")"};
    if (!grpc) co_return h2_probe_result{true, st.status, {}};
    if (st.grpc_status != "0") co_return h2_probe_result{false, st.status, "grpc-status " + (st.grpc_status.empty() ? "missing" : st.grpc_status)};
    if (!serving(st.body)) co_return h2_probe_result{false, st.status, "not SERVING"};
    co_return h2_probe_result{true, st.status, {}};
}

}  // namespace gatehouse::upstream
