#include "middleware/compress/encoder.hpp"

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include <vector>

namespace gatehouse::middleware::compress {

namespace {

constexpr std::size_t k_out_step = 16 * 1024;  // output grows by this much while an encoder has more

// Runs `step(ptr, room) -> written, more` until the encoder has nothing more to say.
template <class Step>
bool drain(std::string& out, Step step) {
    for (;;) {
        auto old = out.size();
        out.resize(old + k_out_step);
        auto [written, more, ok] = step(out.data() + old, k_out_step);
        out.resize(old + written);
        if (!ok) return false;
        if (!more) return true;
    }
}

struct step_result {
    std::size_t written;
    bool more, ok;
};

class gzip_encoder final : public encoder {
public:
    explicit gzip_encoder(int level) : encoder(coding::gzip, level) {
        ok_ = deflateInit2(&z_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;  // +16: gzip wrapper
    }
    ~gzip_encoder() override {
        if (ok_) deflateEnd(&z_);
    }
    bool begin(std::optional<std::uint64_t>) override { return ok_ && deflateReset(&z_) == Z_OK; }
    bool write(std::string_view in, bool finish, std::string& out) override {
        if (in.empty() && !finish) return true;  // a flush with nothing new would add an empty block
        z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
        z_.avail_in = static_cast<uInt>(in.size());
        const int mode = finish ? Z_FINISH : Z_SYNC_FLUSH;
        return drain(out, [&](char* p, std::size_t room) {
            z_.next_out = reinterpret_cast<Bytef*>(p);
            z_.avail_out = static_cast<uInt>(room);
            int rc = deflate(&z_, mode);
            std::size_t written = room - z_.avail_out;
            if (rc == Z_STREAM_ERROR) return step_result{written, false, false};
            bool more = finish ? rc != Z_STREAM_END : (z_.avail_out == 0 || z_.avail_in > 0);
            return step_result{written, more, true};
        });
    }

private:
    z_stream z_{};
    bool ok_ = false;
};

class brotli_encoder final : public encoder {
public:
    explicit brotli_encoder(int level) : encoder(coding::br, level) {}
    ~brotli_encoder() override { close(); }
    bool begin(std::optional<std::uint64_t> size) override {
        close();  // brotli has no reset: a new instance (its big buffers come lazily)
        s_ = BrotliEncoderCreateInstance(nullptr, nullptr, nullptr);
        if (!s_) return false;
        BrotliEncoderSetParameter(s_, BROTLI_PARAM_QUALITY, static_cast<std::uint32_t>(level()));
        BrotliEncoderSetParameter(s_, BROTLI_PARAM_LGWIN, 20);  // 1 MiB window, as nginx's module uses at most
        if (size && *size < (1u << 30)) BrotliEncoderSetParameter(s_, BROTLI_PARAM_SIZE_HINT, static_cast<std::uint32_t>(*size));
        return true;
    }
    bool write(std::string_view in, bool finish, std::string& out) override {
        if (!s_ || (in.empty() && !finish)) return s_ != nullptr;
        auto next_in = reinterpret_cast<const std::uint8_t*>(in.data());
        std::size_t avail_in = in.size();
        const auto op = finish ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_FLUSH;
        return drain(out, [&](char* p, std::size_t room) {
            auto next_out = reinterpret_cast<std::uint8_t*>(p);
            std::size_t avail_out = room;
            if (!BrotliEncoderCompressStream(s_, op, &avail_in, &next_in, &avail_out, &next_out, nullptr))
                return step_result{0, false, false};
            bool more = avail_in > 0 || BrotliEncoderHasMoreOutput(s_) || (finish && !BrotliEncoderIsFinished(s_));
            return step_result{room - avail_out, more, true};
        });
    }

private:
    void close() {
        if (s_) BrotliEncoderDestroyInstance(s_);
        s_ = nullptr;
    }
    BrotliEncoderState* s_ = nullptr;
};

class zstd_encoder final : public encoder {
public:
    explicit zstd_encoder(int level) : encoder(coding::zstd, level), c_(ZSTD_createCCtx()) {}
    ~zstd_encoder() override { ZSTD_freeCCtx(c_); }
    bool begin(std::optional<std::uint64_t> size) override {
        if (!c_) return false;
        ZSTD_CCtx_reset(c_, ZSTD_reset_session_only);
        if (ZSTD_isError(ZSTD_CCtx_setParameter(c_, ZSTD_c_compressionLevel, level()))) return false;
        // Levels 1-19 keep the window at 8 MiB or less, which every HTTP decoder must accept
        // (RFC 9659 §3); the pledged size shrinks it for small bodies.
        if (ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(c_, size ? *size : ZSTD_CONTENTSIZE_UNKNOWN))) return false;
        return true;
    }
    bool write(std::string_view in, bool finish, std::string& out) override {
        if (in.empty() && !finish) return true;
        ZSTD_inBuffer input{in.data(), in.size(), 0};
        const auto mode = finish ? ZSTD_e_end : ZSTD_e_flush;
        return drain(out, [&](char* p, std::size_t room) {
            ZSTD_outBuffer output{p, room, 0};
            std::size_t left = ZSTD_compressStream2(c_, &output, &input, mode);
            if (ZSTD_isError(left)) return step_result{output.pos, false, false};
            return step_result{output.pos, left != 0, true};
        });
    }

private:
    ZSTD_CCtx* c_;
};

// This thread's idle encoders, a few per coding (the levels of one config, usually one each).
struct pool {
    static constexpr std::size_t k_keep = 8;
    std::vector<std::unique_ptr<encoder>> idle[k_codings];
};
thread_local pool t_pool;

}  // namespace

level_range levels_of(coding c) {
    switch (c) {
        case coding::gzip: return {1, 9, 6};
        case coding::br: return {0, 11, 4};
        case coding::zstd: return {1, 19, 3};
    }
    return {0, 0, 0};
}

void encoder_return::operator()(encoder* e) const noexcept {
    auto& idle = t_pool.idle[static_cast<std::size_t>(e->kind())];
    if (idle.size() >= pool::k_keep) {
        delete e;
        return;
    }
    try {
        idle.emplace_back(e);
    } catch (...) {
        delete e;
    }
}

encoder_lease acquire(coding c, int level) {
    auto& idle = t_pool.idle[static_cast<std::size_t>(c)];
    for (auto it = idle.rbegin(); it != idle.rend(); ++it)
        if ((*it)->level() == level) {
            encoder* e = it->release();
            idle.erase(std::next(it).base());
            return encoder_lease(e);
        }
    std::unique_ptr<encoder> e;
    switch (c) {
        case coding::gzip: e = std::make_unique<gzip_encoder>(level); break;
        case coding::br: e = std::make_unique<brotli_encoder>(level); break;
        case coding::zstd: e = std::make_unique<zstd_encoder>(level); break;
    }
    return encoder_lease(e.release());
}

}  // namespace gatehouse::middleware::compress
