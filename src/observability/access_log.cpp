#include "observability/access_log.hpp"

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "util/json_escape.hpp"

namespace gatehouse::observability {

std::string access_log::identity_of(const config::access_log_config& c) {
    std::string id = c.path + "|" + std::to_string(static_cast<int>(c.format)) + "|" + std::to_string(c.include_query) + "|" +
                     std::to_string(c.sample) + "|" + std::to_string(c.rotate_max_size) + "|" + std::to_string(c.rotate_max_files) + "|" +
                     std::to_string(c.queue_size);
    for (auto& f : c.fields) id += "|" + f;
    return id;
}

access_log::access_log(const config::access_log_config& c, std::size_t workers)
    : identity_(identity_of(c)), json_(c.format == config::access_log_config::log_format::json) {
    const auto& names = config::access_log_field_names();
    const auto& wanted = c.fields.empty() ? names : c.fields;
    for (auto& f : wanted) {
        if (f == "query" && !c.include_query && c.fields.empty()) continue;
        fields_.push_back(static_cast<int>(std::find(names.begin(), names.end(), f) - names.begin()));
    }
    sample_threshold_ = c.sample >= 1.0 ? ~0ull : static_cast<std::uint64_t>(std::ldexp(c.sample, 64));

    spdlog::sink_ptr sink;
    if (c.path == "stdout") sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
    else if (c.path == "stderr") sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    else if (c.rotate_max_size > 0)
        sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(c.path, c.rotate_max_size, c.rotate_max_files);
    else sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(c.path);
    sink->set_pattern("%v");
    pending_.resize(workers);
    for (std::size_t i = 0; i < workers; ++i) {
        auto pool = std::make_shared<spdlog::details::thread_pool>(c.queue_size, 1);
        auto logger = std::make_shared<spdlog::async_logger>("access" + std::to_string(i), sink, pool,
                                                             spdlog::async_overflow_policy::overrun_oldest);
        logger->set_level(spdlog::level::info);
        logger->flush_on(spdlog::level::off);
        pools_.push_back(std::move(pool));
        loggers_.push_back(std::move(logger));
    }
}

access_log::~access_log() {
    for (std::size_t i = 0; i < pending_.size(); ++i) submit(i);  // workers have stopped by now
    flush();
    loggers_.clear();
    pools_.clear();  // joins the writer threads after they drain
}

void access_log::flush() {
    for (auto& l : loggers_) l->flush();
}

std::uint64_t access_log::dropped() const {
    std::uint64_t n = 0;
    for (auto& p : pools_) n += p->overrun_counter();
    return n * k_batch_lines;
}

namespace {

void append_time(std::string& out, std::chrono::system_clock::time_point t) {
    // Cached per thread: the part up to the second changes once a second.
    thread_local std::time_t cached_sec = -1;
    thread_local char cached[24];
    auto since = t.time_since_epoch();
    auto sec = std::chrono::duration_cast<std::chrono::seconds>(since);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since - sec).count();
    std::time_t s = static_cast<std::time_t>(sec.count());
    if (s != cached_sec) {
        std::tm tm{};
        gmtime_r(&s, &tm);
        std::strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = s;
    }
    out += cached;
    char buf[8] = {'.', static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10), static_cast<char>('0' + ms % 10), 'Z'};
    out.append(buf, 5);
}

void append_number(std::string& out, double v) {
    char buf[32];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
    out.append(buf, p);
}

void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, p);
}

}  // namespace

void access_log::format(const request_log_entry& e, const std::vector<int>& fields, bool json, std::string& out) {
    const auto& names = config::access_log_field_names();
    out.clear();
    if (json) out += '{';
    bool first = true;
    for (int f : fields) {
        const std::string& name = names[static_cast<std::size_t>(f)];
        std::string_view text;
        enum { str, num_int, num_dbl, time_v, none } kind = str;
        std::uint64_t iv = 0;
        double dv = 0;
        switch (f) {
            case 0: kind = time_v; break;
            case 1: text = e.request_id; break;
            case 2: text = e.trace_id; break;
            case 3: text = e.client; break;
            case 4: text = e.method; break;
            case 5: text = e.host; break;
            case 6: text = e.path; break;
            case 7: text = e.query; break;
            case 8:
                kind = num_int;
                iv = static_cast<std::uint64_t>(e.status);
                break;
            case 9:
                kind = num_int;
                iv = e.request_bytes;
                break;
            case 10:
                kind = num_int;
                iv = e.response_bytes;
                break;
            case 11:
                kind = num_dbl;
                dv = e.duration_ms;
                break;
            case 12: text = e.route; break;
            case 13: text = e.upstream; break;
            case 14: text = e.upstream_address; break;
            case 15:
                if (e.upstream_duration_ms < 0) kind = none;
                else {
                    kind = num_dbl;
                    dv = e.upstream_duration_ms;
                }
                break;
            case 16: text = e.tls_version; break;
            case 17: text = e.user_agent; break;
            case 18: text = e.jwt_subject; break;
            case 19:
                if (e.upstream_status == 0) kind = none;
                else {
                    kind = num_int;
                    iv = static_cast<std::uint64_t>(e.upstream_status);
                }
                break;
            case 20: text = e.error_source; break;
            case 21:
                if (e.upstream_attempts == 0) kind = none;
                else {
                    kind = num_int;
                    iv = static_cast<std::uint64_t>(e.upstream_attempts);
                }
                break;
            case 22: text = e.protocol; break;
            case 23: text = e.compose_calls; break;
            case 24:
                if (e.grpc_status < 0) kind = none;
                else {
                    kind = num_int;
                    iv = static_cast<std::uint64_t>(e.grpc_status);
                }
                break;
            case 25: text = e.grpc_method; break;
            default: kind = none;
        }
        if (json) {
            if (!first) out += ',';
            out += '"';
            out += name;
            out += "\":";
            switch (kind) {
                case time_v:
                    out += '"';
                    append_time(out, e.time);
                    out += '"';
                    break;
                case num_int: append_uint(out, iv); break;
                case num_dbl: append_number(out, dv); break;
                case none: out += "null"; break;
                case str:
                    if (text.empty()) out += "null";
                    else {
                        out += '"';
                        util::append_json_escaped(out, text);
                        out += '"';
                    }
                    break;
            }
        } else {
            if (!first) out += ' ';
            switch (kind) {
                case time_v: append_time(out, e.time); break;
                case num_int: append_uint(out, iv); break;
                case num_dbl: append_number(out, dv); break;
                case none: out += '-'; break;
                case str:
                    if (text.empty()) out += '-';
                    else {
                        // text format: quote values with spaces, escape like JSON so a line stays a line
                        bool quote = text.find_first_of(" \"") != std::string_view::npos;
                        if (quote) out += '"';
                        util::append_json_escaped(out, text);
                        if (quote) out += '"';
                    }
                    break;
            }
        }
        first = false;
    }
    if (json) out += '}';
}

void access_log::write(std::size_t worker, const request_log_entry& e) {
    thread_local std::string line;
    format(e, fields_, json_, line);
    auto& p = pending_[worker];
    if (p.count) p.lines += '\n';  // the sink ends every message (batch) with the last newline
    p.lines += line;
    if (++p.count >= k_batch_lines) submit(worker);
}

void access_log::submit(std::size_t worker) {
    auto& p = pending_[worker];
    if (!p.count) return;
    loggers_[worker]->log(spdlog::level::info, std::string_view(p.lines));
    p.lines.clear();
    p.count = 0;
}

}  // namespace gatehouse::observability
