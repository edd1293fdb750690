#pragma once
// Streaming encoders for the compress middleware: zlib (gzip), brotli and zstd from Debian.
// Every write() ends with a flush, so what the upstream sent is on its way to the client at once
// (server-sent events, long polls); the last write() ends the stream.
//
// Encoders are kept per worker thread for reuse (a zstd context or a zlib state costs hundreds of
// KiB to set up): acquire() takes one from this thread's pool, the lease gives it back reset.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "middleware/compress/coding.hpp"

namespace gatehouse::middleware::compress {

class encoder {
public:
    virtual ~encoder() = default;
    // Starts a new stream; `size` is the whole input's length when known (tunes the encoder).
    virtual bool begin(std::optional<std::uint64_t> size) = 0;
    // Appends the encoded form of `in` to `out`, flushed; `finish` ends the stream.
    virtual bool write(std::string_view in, bool finish, std::string& out) = 0;
    coding kind() const { return kind_; }
    int level() const { return level_; }

protected:
    encoder(coding k, int level) : kind_(k), level_(level) {}

private:
    coding kind_;
    int level_;
};

struct encoder_return {
    void operator()(encoder* e) const noexcept;  // back to this thread's pool (or deleted)
};
using encoder_lease = std::unique_ptr<encoder, encoder_return>;

// An encoder of this coding and level, ready for begin(); null when the library failed.
encoder_lease acquire(coding c, int level);

// Levels each library accepts (gzip 1-9, br 0-11, zstd 1-19) and their defaults.
struct level_range {
    int min, max, fallback;
};
level_range levels_of(coding c);

}  // namespace gatehouse::middleware::compress
