#pragma once
// Where a gRPC body's length-prefixed messages begin and end (PROTOCOL-HTTP2.md: a flag byte, a
// 4-byte big-endian length, the message), fed the body's bytes as they pass: a body cut at its
// limit gets its status as trailers only on a message boundary (else the client would read the
// trailers as the rest of a message).
#include <cstdint>
#include <string_view>

namespace gatehouse::grpc {

class message_boundary {
public:
    void feed(std::string_view in) {
        while (!in.empty()) {
            if (left_ != 0) {
                const auto n = in.size() < left_ ? in.size() : static_cast<std::size_t>(left_);
                left_ -= n;
                in.remove_prefix(n);
                continue;
            }
            prefix_[got_++] = static_cast<unsigned char>(in.front());
            in.remove_prefix(1);
            if (got_ == 5) {
                left_ = (std::uint64_t{prefix_[1]} << 24) | (std::uint64_t{prefix_[2]} << 16) | (std::uint64_t{prefix_[3]} << 8) | prefix_[4];
                got_ = 0;
            }
        }
    }
    bool at_boundary() const { return left_ == 0 && got_ == 0; }

private:
    std::uint64_t left_ = 0;
    unsigned char prefix_[5]{};
    unsigned got_ = 0;
};

}  // namespace gatehouse::grpc
