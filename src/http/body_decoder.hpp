#pragma once
// Beast's parser as a chunked-body decoder that keeps nothing: no field storage, no body
// container. Decoded bytes are appended to a caller-owned sink; chunk extensions and trailers
// are bounded here because Boost 1.81's parser bounds neither (HTTP-EDGE-CASES.md §C).
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <string>

namespace gatehouse::http {

template <bool IsRequest>
class body_decoder : public boost::beast::http::basic_parser<IsRequest> {
public:
    using error_code = boost::beast::error_code;
    using string_view = boost::beast::string_view;
    static constexpr std::size_t k_max_chunk_ext = 256;
    static constexpr std::size_t k_max_trailer_fields = 100;
    static constexpr std::size_t k_max_trailer_bytes = 8192;

    std::string* sink = nullptr;
    bool trailer_too_large = false;

private:
    void on_request_impl(boost::beast::http::verb, string_view, string_view, int, error_code&) override {}
    void on_response_impl(int, string_view, int, error_code&) override {}
    void on_field_impl(boost::beast::http::field, string_view name, string_view value, error_code& ec) override {
        if (!header_done_) return;
        ++trailer_fields_;
        trailer_bytes_ += name.size() + value.size() + 4;
        if (trailer_fields_ > k_max_trailer_fields || trailer_bytes_ > k_max_trailer_bytes) {
            trailer_too_large = true;
            ec = boost::beast::http::error::header_limit;
        }
    }
    void on_header_impl(error_code&) override { header_done_ = true; }
    void on_body_init_impl(boost::optional<std::uint64_t> const&, error_code&) override {}
    std::size_t on_body_impl(string_view body, error_code&) override {
        sink->append(body.data(), body.size());
        return body.size();
    }
    void on_chunk_header_impl(std::uint64_t, string_view ext, error_code& ec) override {
        if (ext.size() > k_max_chunk_ext) ec = boost::beast::http::error::bad_chunk_extension;
    }
    std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
        sink->append(body.data(), body.size());
        return body.size();
    }
    void on_finish_impl(error_code&) override {}

    bool header_done_ = false;
    std::size_t trailer_fields_ = 0;
    std::size_t trailer_bytes_ = 0;
};

}  // namespace gatehouse::http
