#include "discovery/dns/resolver.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <mutex>
#include <stdexcept>

#include "gatehouse/util/net.hpp"

namespace gatehouse::discovery::dns {

namespace asio = boost::asio;

struct resolver::watched {
    explicit watched(asio::io_context& ioc, int fd) : sd(ioc, fd) {}
    asio::posix::stream_descriptor sd;
    bool want_read = false, want_write = false;
    bool reading = false, writing = false;  // a wait is pending
    bool closed = false;
};

namespace {

void socket_state_cb(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<resolver*>(data)->on_socket_state(fd, readable != 0, writable != 0);
}

struct lookup_request {
    std::shared_ptr<resolver> self;
    resolver::lookup_done done;
};

struct srv_request {
    std::shared_ptr<resolver> self;
    resolver::srv_done done;
};

std::string ares_error(int status) { return ares_strerror(status); }

}  // namespace

std::shared_ptr<resolver> resolver::create(asio::io_context& ioc, const std::vector<config::host_port>& servers,
                                           std::chrono::milliseconds timeout) {
    static std::once_flag once;
    std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
    std::shared_ptr<resolver> r(new resolver(ioc));
    ares_options opts{};
    opts.sock_state_cb = socket_state_cb;
    opts.sock_state_cb_data = r.get();
    opts.timeout = static_cast<int>(timeout.count());
    opts.tries = 2;
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    int st = ares_init_options(&r->channel_, &opts, mask);
    if (st != ARES_SUCCESS) throw std::runtime_error("c-ares: " + ares_error(st));
    if (!servers.empty()) {
        std::string csv;
        for (auto& s : servers) {
            if (!csv.empty()) csv += ',';
            bool v6 = s.host.find(':') != std::string::npos;
            csv += (v6 ? "[" + s.host + "]" : s.host) + ":" + std::to_string(s.port ? s.port : 53);
        }
        st = ares_set_servers_ports_csv(r->channel_, csv.c_str());
        if (st != ARES_SUCCESS) throw std::runtime_error("c-ares: resolvers '" + csv + "': " + ares_error(st));
    }
    return r;
}

resolver::resolver(asio::io_context& ioc) : ioc_(ioc), timer_(ioc) {}

resolver::~resolver() {
    shut_ = true;
    for (auto& [fd, w] : sockets_) {
        boost::system::error_code ec;
        w->closed = true;
        w->sd.cancel(ec);
        w->sd.release();
    }
    sockets_.clear();
    if (channel_) ares_destroy(channel_);  // pending requests complete with ARES_EDESTRUCTION
}

void resolver::shutdown() {
    if (shut_) return;
    shut_ = true;
    timer_.cancel();
    if (channel_) ares_cancel(channel_);
    for (auto& [fd, w] : sockets_) {
        boost::system::error_code ec;
        w->closed = true;
        w->sd.cancel(ec);
    }
}

void resolver::post(std::function<void()> f) { asio::post(ioc_, std::move(f)); }

void resolver::on_socket_state(int fd, bool readable, bool writable) {
    auto it = sockets_.find(fd);
    if (!readable && !writable) {
        if (it == sockets_.end()) return;
        // c-ares closes the descriptor right after this: stop watching it, do not close it.
        boost::system::error_code ec;
        it->second->closed = true;
        it->second->sd.cancel(ec);
        it->second->sd.release();
        sockets_.erase(it);
        return;
    }
    if (it == sockets_.end()) it = sockets_.emplace(fd, std::make_shared<watched>(ioc_, fd)).first;
    it->second->want_read = readable;
    it->second->want_write = writable;
    arm(it->second);
}

void resolver::arm(const std::shared_ptr<watched>& w) {
    if (shut_ || w->closed) return;
    int fd = w->sd.native_handle();
    if (w->want_read && !w->reading) {
        w->reading = true;
        w->sd.async_wait(asio::posix::descriptor_base::wait_read, [self = shared_from_this(), w, fd](boost::system::error_code ec) {
            w->reading = false;
            if (ec || w->closed || self->shut_) return;
            self->process(fd, ARES_SOCKET_BAD);
            self->arm(w);
        });
    }
    if (w->want_write && !w->writing) {
        w->writing = true;
        w->sd.async_wait(asio::posix::descriptor_base::wait_write, [self = shared_from_this(), w, fd](boost::system::error_code ec) {
            w->writing = false;
            if (ec || w->closed || self->shut_) return;
            self->process(ARES_SOCKET_BAD, fd);
            self->arm(w);
        });
    }
}

void resolver::process(int read_fd, int write_fd) {
    ares_process_fd(channel_, read_fd, write_fd);
    schedule_timeout();
}

void resolver::schedule_timeout() {
    if (shut_) return;
    timeval tv{};
    if (!ares_timeout(channel_, nullptr, &tv)) {
        timer_.cancel();
        return;
    }
    timer_.expires_after(std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (ec || self->shut_) return;
        self->process(ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    });
}

void resolver::lookup(const std::string& host, family f, lookup_done done) {
    if (shut_) {
        post([done = std::move(done)] { done("cancelled", {}); });
        return;
    }
    ares_addrinfo_hints hints{};
    hints.ai_family = f == family::ipv4 ? AF_INET : f == family::ipv6 ? AF_INET6 : AF_UNSPEC;
    hints.ai_flags = ARES_AI_NOSORT;
    auto* req = new lookup_request{shared_from_this(), std::move(done)};
    ares_getaddrinfo(
        channel_, host.c_str(), nullptr, &hints,
        [](void* arg, int status, int, ares_addrinfo* res) {
            std::unique_ptr<lookup_request> req(static_cast<lookup_request*>(arg));
            std::vector<address> out;
            std::string error;
            if (status != ARES_SUCCESS) {
                error = ares_error(status);
            } else {
                for (auto* n = res ? res->nodes : nullptr; n; n = n->ai_next) {
                    char buf[INET6_ADDRSTRLEN] = {};
                    if (n->ai_family == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(n->ai_addr)->sin_addr, buf, sizeof buf);
                    else if (n->ai_family == AF_INET6)
                        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(n->ai_addr)->sin6_addr, buf, sizeof buf);
                    else continue;
                    out.push_back({buf, std::chrono::seconds(std::max(0, n->ai_ttl))});
                }
                if (out.empty()) error = "no addresses";
            }
            if (res) ares_freeaddrinfo(res);
            auto self = req->self;
            self->post([done = std::move(req->done), error = std::move(error), out = std::move(out)]() mutable {
                done(std::move(error), std::move(out));
            });
        },
        req);
    schedule_timeout();
}

void resolver::srv(const std::string& name, srv_done done) {
    if (shut_) {
        post([done = std::move(done)] { done("cancelled", {}); });
        return;
    }
    auto* req = new srv_request{shared_from_this(), std::move(done)};
    ares_query(
        channel_, name.c_str(), 1 /* C_IN */, 33 /* T_SRV */,
        [](void* arg, int status, int, unsigned char* abuf, int alen) {
            std::unique_ptr<srv_request> req(static_cast<srv_request*>(arg));
            std::vector<srv_record> out;
            std::string error;
            if (status != ARES_SUCCESS) {
                error = ares_error(status);
            } else {
                ares_srv_reply* reply = nullptr;
                int st = ares_parse_srv_reply(abuf, alen, &reply);
                if (st != ARES_SUCCESS) error = ares_error(st);
                for (auto* r = reply; r; r = r->next) out.push_back({r->host, r->port, r->priority, r->weight});
                if (reply) ares_free_data(reply);
                if (error.empty() && out.empty()) error = "no SRV records";
            }
            auto self = req->self;
            self->post([done = std::move(req->done), error = std::move(error), out = std::move(out)]() mutable {
                done(std::move(error), std::move(out));
            });
        },
        req);
    schedule_timeout();
}

bool all_literal(const std::vector<endpoint_spec>& specs) {
    for (auto& s : specs)
        if (!util::ip_address::parse(s.address.host)) return false;
    return true;
}

namespace {
endpoint make_endpoint(const endpoint_spec& s, std::string ip) {
    endpoint e;
    e.address = std::move(ip);
    e.port = s.address.port;
    e.weight = s.weight;
    e.priority = s.priority;
    e.zone = s.zone;
    bool v6 = s.address.host.find(':') != std::string::npos;
    e.name = (v6 ? "[" + s.address.host + "]" : s.address.host) + ":" + std::to_string(s.address.port);
    e.source = s.source;
    return e;
}
}  // namespace

void resolve_endpoints(const std::shared_ptr<resolver>& r, const std::vector<endpoint_spec>& specs, family f,
                       std::function<void(std::string, std::vector<endpoint>, std::chrono::seconds)> done) {
    struct gather {
        std::vector<endpoint> eps;
        std::string error;
        std::size_t left = 0;
        std::chrono::seconds min_ttl = std::chrono::seconds::max();
        std::function<void(std::string, std::vector<endpoint>, std::chrono::seconds)> done;
    };
    auto g = std::make_shared<gather>();
    g->done = std::move(done);
    std::vector<const endpoint_spec*> names;
    for (auto& s : specs) {
        if (auto ip = util::ip_address::parse(s.address.host)) g->eps.push_back(make_endpoint(s, s.address.host));
        else names.push_back(&s);
    }
    if (names.empty() || !r) {
        if (!names.empty()) g->error = "no resolver for '" + names.front()->address.host + "'";
        auto ttl = std::chrono::seconds(0);  // literals: no TTL
        g->done(std::move(g->error), std::move(g->eps), ttl);
        return;
    }
    g->left = names.size();
    for (auto* s : names) {
        endpoint_spec spec = *s;
        r->lookup(spec.address.host, f, [g, spec](std::string error, std::vector<address> addrs) {
            if (!error.empty()) {
                if (g->error.empty()) g->error = "cannot resolve '" + spec.address.host + "': " + error;
            } else {
                for (auto& a : addrs) {
                    g->eps.push_back(make_endpoint(spec, a.ip));
                    g->min_ttl = std::min(g->min_ttl, a.ttl);
                }
            }
            if (--g->left == 0) {
                auto ttl = g->min_ttl == std::chrono::seconds::max() ? std::chrono::seconds(0) : g->min_ttl;
                g->done(std::move(g->error), std::move(g->eps), ttl);
            }
        });
    }
}

}  // namespace gatehouse::discovery::dns
