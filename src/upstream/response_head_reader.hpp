#pragma once
// The HTTP/1.1 client's reading of a response head, shared by every client gatehouse has: the
// upstream call (proxied requests and subrequests) and the active health checks. It finds the
// head's end in what was read so far (resuming where the last look stopped) and scans it with
// the strict response scanner (DESIGN.md §6), so a health check judges the same bytes the
// request path would.
#include <cstddef>
#include <string_view>

#include "http1/head.hpp"

namespace gatehouse::upstream {

class response_head_reader {
public:
    static constexpr std::size_t k_max_head = 65536;
    enum class progress { need_more, done, too_large, invalid };

    // Looks at `buffered` (everything read since the head began). done: `out` holds the head,
    // head_len() its length; invalid: error() says why.
    progress next(std::string_view buffered, const http1::scan_limits& limits, bool request_was_head, http1::response_head& out) {
        head_len_ = http1::find_head_end(buffered, scanned_);
        if (head_len_ == std::string_view::npos) {
            scanned_ = buffered.size();
            return buffered.size() > k_max_head ? progress::too_large : progress::need_more;
        }
        scanned_ = 0;  // the next head (after an interim one) starts afresh
        error_ = http1::scan_response(buffered.substr(0, head_len_), limits, request_was_head, out);
        return error_ ? progress::invalid : progress::done;
    }
    std::size_t head_len() const { return head_len_; }
    const http1::scan_error& error() const { return error_; }

private:
    std::size_t scanned_ = 0;
    std::size_t head_len_ = 0;
    http1::scan_error error_;
};

}  // namespace gatehouse::upstream
