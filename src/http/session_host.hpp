#pragma once
// What a client session needs from the thread that runs it (a server::worker): its event loop,
// the snapshot in force, the per-worker upstream pools, the deadline wheel, drain state and
// per-thread randomness. http/ sees only this, never the worker itself.
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "net/deadlines.hpp"
#include "config/snapshot.hpp"

namespace gatehouse::upstream {
class cluster_state;
}

namespace gatehouse::http {

class session_host {
public:
    virtual boost::asio::io_context& ioc() = 0;
    virtual unsigned id() const = 0;
    // The snapshot new requests use; a session holds its own reference per request.
    virtual const std::shared_ptr<const config::snapshot>& current() const = 0;
    // This thread's pool state of cluster `index` of snapshot `s`.
    virtual std::shared_ptr<upstream::cluster_state> cluster_for(const config::snapshot& s, std::size_t index) = 0;
    virtual net::deadline_list& deadlines() = 0;
    // Draining: responses say Connection: close and keep-alive ends after each request.
    virtual bool draining() const = 0;
    virtual void session_started() = 0;
    virtual void session_ended() = 0;
    virtual std::size_t sessions() const = 0;  // this worker's open client connections
    virtual std::uint64_t random() = 0;
    // limits.max_memory is passed: true, and the request counts as shed (answer 503).
    virtual bool shed_for_memory() = 0;
    // Writes a fresh 32-hex-digit request id into buf and returns a view of it.
    virtual std::string_view new_request_id(char (&buf)[32]) = 0;

protected:
    ~session_host() = default;
};

}  // namespace gatehouse::http
