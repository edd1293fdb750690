#include "server/daemon.hpp"

#include <sched.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <thread>

#include "admin/admin_server.hpp"
#include "gatehouse/config/config.hpp"
#include "server/snapshot.hpp"
#include "server/worker.hpp"

namespace gatehouse::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

unsigned cpus_available() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) return static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
    return std::max(1u, std::thread::hardware_concurrency());
}

tcp::endpoint to_endpoint(const config::host_port& hp) { return {asio::ip::make_address(hp.host), hp.port}; }

class daemon {
public:
    explicit daemon(std::string path) : path_(std::move(path)), signals_(control_, SIGINT, SIGTERM, SIGHUP), drain_timer_(control_) {}

    int run() {
        auto loaded = config::load_file(path_);
        for (auto& d : loaded.diags.all()) {
            if (d.level == config::severity::error) spdlog::error("{}", d.to_string());
            else spdlog::warn("{}", d.to_string());
        }
        if (!loaded.config) return 1;
        config::diagnostics diags(path_);
        auto snap = build_snapshot(std::move(*loaded.config), ++generation_, diags);
        if (!snap) {
            for (auto& d : diags.all()) spdlog::error("{}", d.to_string());
            return 1;
        }
        const auto& cfg = snap->config;
        unsigned n = cfg.workers ? cfg.workers : cpus_available();
        for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<worker>(i, snap));

        try {
            for (auto& l : cfg.listeners) bind_listener(l);
        } catch (const std::exception& e) {
            spdlog::error("cannot listen: {}", e.what());
            return 1;
        }
        if (cfg.admin.enabled) {
            try {
                admin::admin_hooks hooks;
                hooks.ready = [this] { return ready_; };
                hooks.reload = [this] { return reload(); };
                admin_ = std::make_unique<admin::admin_server>(control_, to_endpoint(cfg.admin.listen), std::move(hooks));
                admin_->start();
                spdlog::info("admin listening on {}:{}", cfg.admin.listen.host, admin_->port());
            } catch (const std::exception& e) {
                spdlog::error("cannot listen for admin on {}:{}: {}", cfg.admin.listen.host, cfg.admin.listen.port, e.what());
                return 1;
            }
        }
        current_ = snap;
        drain_timeout_ = cfg.drain.timeout;

        signals_.async_wait([this](boost::system::error_code ec, int sig) { on_signal(ec, sig); });
        running_ = workers_.size();
        for (auto& w : workers_) {
            worker* wp = w.get();
            threads_.emplace_back([this, wp] {
                wp->run([this] { asio::post(control_, [this] { worker_exited(); }); });
            });
        }
        ready_ = true;
        spdlog::info("gatehouse {} ready: {} worker(s), config generation {}", GATEHOUSE_VERSION, workers_.size(), generation_);
        control_.run();
        for (auto& w : workers_) w->stop();
        for (auto& t : threads_) t.join();
        spdlog::info("gatehouse stopped");
        return 0;
    }

private:
    void bind_listener(const config::listener_config& l) {
        auto ep = to_endpoint(l.listen);
        for (auto& w : workers_) {
            tcp::acceptor acc(w->ioc());
            acc.open(ep.protocol());
            acc.set_option(asio::socket_base::reuse_address(true));
            acc.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
            acc.bind(ep);
            acc.listen(asio::socket_base::max_listen_connections);
            ep.port(acc.local_endpoint().port());  // port 0: the first worker's pick is everyone's
            w->add_listener(std::move(acc), l);
        }
        spdlog::info("listener {} listening on {}:{}", l.name, l.listen.host, ep.port());
    }

    // parse -> validate -> build, off the workers; then every worker swaps its pointer.
    std::string reload() {
        auto loaded = config::load_file(path_);
        if (!loaded.config) {
            auto text = loaded.diags.to_string();
            spdlog::error("config reload rejected, the running config keeps serving:\n{}", text);
            return text;
        }
        config::diagnostics diags(path_);
        auto snap = build_snapshot(std::move(*loaded.config), generation_ + 1, diags);
        if (!snap) {
            auto text = diags.to_string();
            spdlog::error("config reload rejected, the running config keeps serving:\n{}", text);
            return text;
        }
        ++generation_;
        current_ = snap;
        for (auto& w : workers_) w->post_snapshot(snap);
        spdlog::info("config generation {} loaded", generation_);
        return {};
    }

    void on_signal(boost::system::error_code ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
            reload();
            signals_.async_wait([this](boost::system::error_code e, int s) { on_signal(e, s); });
            return;
        }
        if (draining_) {
            spdlog::warn("second signal: stopping now");
            control_.stop();
            return;
        }
        draining_ = true;
        ready_ = false;
        spdlog::info("draining: no new connections, in-flight requests have {} ms", drain_timeout_.count());
        for (auto& w : workers_) w->post_drain();
        drain_timer_.expires_after(drain_timeout_);
        drain_timer_.async_wait([this](boost::system::error_code e) {
            if (e) return;
            spdlog::warn("drain timeout reached, closing the remaining connections");
            control_.stop();
        });
        signals_.async_wait([this](boost::system::error_code e, int s) { on_signal(e, s); });
    }

    void worker_exited() {
        if (--running_ > 0) return;
        drain_timer_.cancel();
        if (admin_) admin_->stop();
        control_.stop();
    }

    std::string path_;
    asio::io_context control_{1};
    asio::signal_set signals_;
    asio::steady_timer drain_timer_;
    std::vector<std::unique_ptr<worker>> workers_;
    std::vector<std::thread> threads_;
    std::unique_ptr<admin::admin_server> admin_;
    std::shared_ptr<const snapshot> current_;
    std::uint64_t generation_ = 0;
    std::size_t running_ = 0;
    bool ready_ = false;
    bool draining_ = false;
    config::duration drain_timeout_{};
};

}  // namespace

int run_daemon(const std::string& config_path) {
    daemon d(config_path);
    return d.run();
}

}  // namespace gatehouse::server
