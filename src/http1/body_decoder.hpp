#pragma once
// Beast's parser as a chunked-body decoder that keeps nothing but the trailers: no field storage
// for the head, no body container. Decoded bytes are appended to a caller-owned sink; chunk
// extensions and trailers are bounded here because Boost 1.81's parser bounds neither
// (HTTP-EDGE-CASES.md §C). Trailers are validated like header fields and kept as field lines,
// without the framing, routing and hop-by-hop fields a trailer must not carry (RFC 9110 §6.5.1).
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "http1/head.hpp"

namespace gatehouse::http1 {

template <bool IsRequest>
class body_decoder : public boost::beast::http::basic_parser<IsRequest> {
public:
    using error_code = boost::beast::error_code;
    using string_view = boost::beast::string_view;
    static constexpr std::size_t k_max_chunk_ext = 256;

    std::string* sink = nullptr;
    bool trailer_too_large = false;  // over max_fields or max_bytes: 431 for a request
    bool trailer_invalid = false;    // a field no header could be either (obs-fold, CTLs, '_' in a request)

    // Trailer limits: the same as a head's (limits.max_headers, limits.max_header_bytes).
    void trailer_limits(std::size_t max_fields, std::size_t max_bytes) {
        max_fields_ = max_fields;
        max_bytes_ = max_bytes;
    }
    // Feeds bytes; what put() returns. The bytes' range lets a trailer field's value be told
    // apart from one Beast joined from obs-fold lines (it points into Beast's own buffer then).
    std::size_t feed(std::string_view in, error_code& ec) {
        in_ = in;
        return this->put(boost::asio::buffer(in.data(), in.size()), ec);
    }
    // The trailers kept, as "Name: value\r\n" lines (empty when none came).
    std::string_view trailer_lines() const { return trailer_lines_; }
    // The same as field views (into this decoder; valid while it lives and is not fed again).
    std::vector<field_view> trailer_fields() const {
        std::vector<field_view> out;
        std::string_view all = trailer_lines_;
        for (auto& [name_len, value_len, line_len] : trailer_index_) {
            auto line = all.substr(0, line_len);
            out.push_back(field_view{{line.substr(0, name_len), line.substr(name_len + 2, value_len)}, line});
            all.remove_prefix(line_len);
        }
        return out;
    }

private:
    void on_request_impl(boost::beast::http::verb, string_view, string_view, int, error_code&) override {}
    void on_response_impl(int, string_view, int, error_code&) override {}
    void on_field_impl(boost::beast::http::field, string_view name, string_view value, error_code& ec) override {
        if (!header_done_) return;
        ++trailer_fields_;
        trailer_bytes_ += name.size() + value.size() + 4;
        if (trailer_fields_ > max_fields_ || trailer_bytes_ > max_bytes_) {
            trailer_too_large = true;
            ec = boost::beast::http::error::header_limit;
            return;
        }
        const bool folded = value.data() < in_.data() || value.data() > in_.data() + in_.size();
        if (folded || field_name_problem({name.data(), name.size()}, IsRequest) || !valid_field_value({value.data(), value.size()})) {
            trailer_invalid = true;
            ec = boost::beast::http::error::bad_field;
            return;
        }
        if (is_forbidden_trailer({name.data(), name.size()})) return;
        const auto before = trailer_lines_.size();
        trailer_lines_.append(name.data(), name.size());
        trailer_lines_ += ": ";
        trailer_lines_.append(value.data(), value.size());
        trailer_lines_ += "\r\n";
        trailer_index_.push_back({name.size(), value.size(), trailer_lines_.size() - before});
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

    struct trailer_entry {
        std::size_t name_len, value_len, line_len;
    };
    bool header_done_ = false;
    std::size_t trailer_fields_ = 0;
    std::size_t trailer_bytes_ = 0;
    std::size_t max_fields_ = 100;
    std::size_t max_bytes_ = 8192;
    std::string_view in_;
    std::string trailer_lines_;
    std::vector<trailer_entry> trailer_index_;
};

}  // namespace gatehouse::http1
