#include "server/daemon.hpp"

#include <sched.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <deque>
#include <set>
#include <map>
#include <mutex>
#include <thread>

#include "admin/admin_api.hpp"
#include "admin/openapi_doc.hpp"
#include "admin/admin_auth.hpp"
#include "discovery/manager.hpp"
#include "util/time.hpp"
#include "upstream/health_check.hpp"
#include "upstream/health_report.hpp"
#include "admin/admin_server.hpp"
#include "admin/status_api.hpp"
#include "admin/status_page.hpp"
#include "gatehouse/config/config.hpp"
#include "util/file_watcher.hpp"
#include "util/read_file.hpp"
#include "server/check.hpp"
#include "server/handover.hpp"
#include "server/listen_socket.hpp"
#include "server/sd_notify.hpp"
#include "config/snapshot.hpp"
#include "server/worker.hpp"
#include "server/worker_count.hpp"
#include "tls/ticket_keys.hpp"
#include "observability/access_log.hpp"
#include "observability/metrics.hpp"
#include "middleware/jwt/provider.hpp"
#include "middleware/rate_limit/rate_limit.hpp"
#include "middleware/basic_auth/basic_auth.hpp"
#include "server/memory_guard.hpp"
#include "middleware/cache/cache.hpp"
#include "http/compose_metrics.hpp"
#include "middleware/openapi/openapi.hpp"
#include "middleware/ext_authz/ext_authz.hpp"
#include "http/mirror.hpp"
#include "observability/call_spans.hpp"
#include "observability/otlp_exporter.hpp"
#include "http1/tunnel.hpp"
#include "router/route_table.hpp"

namespace gatehouse::server {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

unsigned cpus_available() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) return static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
    return std::max(1u, std::thread::hardware_concurrency());
}

std::string iso_time(std::chrono::system_clock::time_point t) { return util::iso_utc(t); }

struct reload_record {
    std::uint64_t generation = 0;  // the generation it produced (or would have)
    std::chrono::system_clock::time_point time;
    std::string trigger;
    bool ok = false;
    std::string error;
};

// A listening address and the sockets the workers accept on (one per worker).
struct listener_entry {
    config::listener_config cfg;
    std::vector<int> fds;
    std::uint16_t port = 0;
    std::shared_ptr<connection_count> open = std::make_shared<connection_count>(0);  // kept across reloads
};

// %XX and '+' in an admin query value.
std::string url_decode(std::string_view v) {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '+') out += ' ';
        else if (v[i] == '%' && i + 2 < v.size() + 0 && std::isxdigit(static_cast<unsigned char>(v[i + 1])) &&
                 std::isxdigit(static_cast<unsigned char>(v[i + 2]))) {
            out += static_cast<char>(std::stoi(std::string(v.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else out += v[i];
    }
    return out;
}

class daemon {
public:
    explicit daemon(daemon_options o)
        : opts_(std::move(o)), signals_(control_, SIGINT, SIGTERM, SIGHUP), drain_timer_(control_), flush_timer_(control_) {}

    int run() {
        signals_.add(SIGUSR2);
        signals_.add(SIGCHLD);
        // Like nginx: a write to a closed pipe or socket (a log reader gone, a peer reset under a
        // library that does not pass MSG_NOSIGNAL) fails with EPIPE instead of killing the daemon.
        std::signal(SIGPIPE, SIG_IGN);
        const auto content = util::read_file(opts_.config_path);
        auto loaded = content ? config::load_string(*content, opts_.config_path) : config::load_file(opts_.config_path);
        if (loaded.config) warn_unsupported(*loaded.config, loaded.diags);  // as `gatehouse check` does
        log_diagnostics(loaded.diags);
        if (!loaded.config) return 1;
        unsigned n = loaded.config->workers;
        if (n) {
            spdlog::info("workers: {} (configured)", n);
        } else {
            auto choice = auto_workers(cpus_available());
            n = choice.workers;
            spdlog::info("workers: {} ({})", n, choice.why);
        }
        metrics_ = std::make_unique<observability::metrics>(n);
        metrics_workers_ = n;
        current_metrics_enabled_ = loaded.config->metrics.enabled;
        metrics_->add_counter_family("gatehouse_jwt_validations_total", "JWT validations by provider and result", [] {
            std::vector<observability::metrics::sample> out;
            for (auto& [labels, v] : middleware::jwt::validation_samples()) out.push_back({labels, v});
            return out;
        });
        middleware::rate_limit::add_metrics(*metrics_);
        middleware::cache::add_metrics(*metrics_);
        middleware::openapi_mw::add_metrics(*metrics_);
        middleware::ext_authz::add_metrics(*metrics_);
        metrics_->add_counter_family("gatehouse_memory_rejections_total",
                                     "Requests answered 503 while resident memory was above limits.max_memory", [] {
                                         return std::vector<observability::metrics::sample>{
                                             {{}, static_cast<double>(memory().rejected.load(std::memory_order_relaxed))}};
                                     });
        metrics_->add_counter_family(
            "gatehouse_basic_auth_overload_total", "basic_auth requests answered 503: the password-check queue was full", [] {
                return std::vector<observability::metrics::sample>{{{}, static_cast<double>(middleware::basic_auth_hash_rejections())}};
            });
        metrics_->add_gauge_family("gatehouse_basic_auth_hash_queue", "basic_auth password checks queued or running on the hash pool", [] {
            return std::vector<observability::metrics::sample>{{{}, static_cast<double>(middleware::basic_auth_hash_queue())}};
        });
        metrics_->add_gauge_family("gatehouse_tunnels_active", "Upgraded connections (WebSocket, ...) open now", [] {
            return std::vector<observability::metrics::sample>{{{}, static_cast<double>(http1::tunnels_active())}};
        });
        metrics_->add_counter_family(
            "gatehouse_mirror_requests_total", "Mirrored request copies by route and result (skipped: body not all in hand)", [] {
                std::vector<observability::metrics::sample> out;
                for (auto& m : http::all_mirror_counts()) {
                    out.push_back({{{"route", m->route}, {"result", "sent"}}, static_cast<double>(m->sent.load())});
                    out.push_back({{{"route", m->route}, {"result", "failed"}}, static_cast<double>(m->failed.load())});
                    out.push_back({{{"route", m->route}, {"result", "skipped"}}, static_cast<double>(m->skipped.load())});
                }
                return out;
            });
        http::add_compose_metrics(*metrics_);
        metrics_->set_access_log_drops([this] {
            std::lock_guard lock(access_logs_mutex_);
            std::uint64_t d = 0;
            for (auto& l : access_logs_) d += l->dropped();
            return d;
        });
        add_tracing_metrics();
        config::diagnostics diags(opts_.config_path);
        auto snap = build_snapshot(std::move(*loaded.config), ++generation_, diags, services(current_metrics_enabled_));
        if (!snap) {
            log_diagnostics(diags);
            return 1;
        }
        last_content_ = fingerprint(content.value_or(std::string()), *snap);
        const auto& cfg = snap->config;
        current_ = snap;
        exporter_->use(snap->tracer);
        observability::set_background_tracing(snap->tracer, snap->config.tracing.generate, snap->config.tracing.sample);
        admin_tls_ = snap->admin_tls;
        drain_ = cfg.drain;

        // A binary upgrade: inherit the listening sockets of the process serving the socket.
        std::optional<takeover> inherited;
        std::map<std::string, std::vector<int>> inherited_fds;
        if (!opts_.upgrade_socket.empty()) {
            std::string err;
            inherited = take_over(opts_.upgrade_socket, err);
            if (!err.empty()) spdlog::warn("binary upgrade: {}", err);
            if (inherited) {
                for (auto& s : inherited->sockets) inherited_fds[s.key].push_back(s.fd);
                spdlog::info("binary upgrade: inherited {} listening socket(s)", inherited->sockets.size());
            }
        }

        for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<worker>(i, snap));
        metrics_->add_counter_family(
            "gatehouse_worker_batched_waits_total", "Naps a busy worker took before blocking for events (event_loop.batch_wait), by worker",
            [this] {
                std::vector<observability::metrics::sample> out;
                for (auto& w : workers_) out.push_back({{{"worker", std::to_string(w->id())}}, static_cast<double>(w->batched_waits())});
                return out;
            });
        health_checker_ = std::make_unique<upstream::health_checker>(control_);
        discovery_ = std::make_unique<discovery::manager>(control_, [this](const std::string& upstream,
                                                                           std::shared_ptr<const discovery::endpoint_set> set) {
            for (auto& w : workers_) w->post_endpoints(upstream, set);
            health_checker_->on_endpoints(upstream, set);
        });
        add_discovery_metrics();
        upstream::add_health_metrics(*metrics_, [this] { return current_->clusters; });
        discovery_->reconcile(wanted_discovery(cfg));
        health_checker_->reconcile(snap->clusters, [this](const std::string& u) { return discovery_->current(u); });
        try {
            for (auto& l : cfg.listeners) {
                auto key = listen_key(l.listen);
                auto fds = std::move(inherited_fds[key]);
                inherited_fds.erase(key);
                open_listener(l, std::move(fds));
            }
            if (cfg.admin.enabled) start_admin(cfg.admin, inherited_fds);
            if (cfg.probes) start_probes(*cfg.probes, inherited_fds);
        } catch (const std::exception& e) {
            spdlog::error("{}", e.what());
            if (inherited) inherited->abandon();
            return 1;
        }
        for (auto& [key, fds] : inherited_fds)
            for (int fd : fds) ::close(fd);  // listeners the new config no longer has

        if (cfg.reload.watch) {
            watcher_ = std::make_unique<util::file_watcher>(control_, opts_.config_path,
                                                            std::chrono::duration_cast<std::chrono::milliseconds>(cfg.reload.debounce),
                                                            [this] { reload("file"); });
            for (auto& f : snap->watched_files) watcher_->watch_file(f);
        }
        signals_.async_wait([this](boost::system::error_code ec, int sig) { on_signal(ec, sig); });
        running_ = workers_.size();
        for (auto& w : workers_) {
            worker* wp = w.get();
            threads_.emplace_back([this, wp] {
                wp->run([this, wp](bool failed) { asio::post(control_, [this, wp, failed] { worker_exited(wp->id(), failed); }); });
            });
        }
        if (inherited) inherited->confirm();
        if (!opts_.upgrade_socket.empty()) start_handover_server();
        ready_ = true;
        record({generation_, std::chrono::system_clock::now(), "start", true, {}});
        flush_access_logs();
        exporter_->start();
        rotate_tickets();
        spdlog::info("gatehouse {} ready: {} worker(s), config generation {}", GATEHOUSE_VERSION, workers_.size(), generation_);
        // After a binary upgrade systemd already counts the service as started, and the process
        // that handed over announces this one as the main pid (start_handover_server).
        if (!inherited) notify_ready_when_upstreams_are();
        watch_memory();  // after "ready": its first verdict may be an error line about memory
        control_.run();
        for (auto& w : workers_) w->stop();
        for (auto& t : threads_) t.join();
        spdlog::info("gatehouse stopped");
        return exit_code_;
    }

private:
    // The config file's content and that of every file the snapshot read (key files, users).
    static std::string fingerprint(const std::string& config_content, const snapshot& s) {
        std::string f = config_content;
        for (auto& path : s.watched_files) f += '\0' + path + '\0' + util::read_file(path).value_or(std::string());
        return f;
    }

    static void log_diagnostics(const config::diagnostics& d) {
        for (auto& x : d.all()) {
            if (x.level == config::severity::error) spdlog::error("{}", x.to_string());
            else spdlog::warn("{}", x.to_string());
        }
    }

    // Opens what is missing so that every worker has one socket for `l`, and hands them over.
    std::vector<int> open_sockets(const config::listener_config& l, std::vector<int> fds, std::uint16_t& port) {
        auto address = l.listen;
        if (address.port == 0 && !fds.empty()) address.port = local_port(fds.front());
        try {
            while (fds.size() < workers_.size()) {
                fds.push_back(open_listen_socket(address, true));
                if (address.port == 0) address.port = local_port(fds.back());  // port 0: the first pick is everyone's
            }
        } catch (...) {
            for (int fd : fds) ::close(fd);
            throw;
        }
        port = address.port;
        return fds;
    }

    void open_listener(const config::listener_config& l, std::vector<int> inherited) {
        listener_entry e{l, {}, 0};
        e.fds = open_sockets(l, std::move(inherited), e.port);
        auto key = listen_key(l.listen);
        auto stats = listener_stats(l);
        for (std::size_t i = 0; i < e.fds.size(); ++i) workers_[i % workers_.size()]->post_add_listener(e.fds[i], l, key, stats, e.open);
        spdlog::info("listener {} listening on {}:{}", l.name, l.listen.host, e.port);
        listeners_[key] = std::move(e);
    }

    snapshot_services services(bool metrics_enabled) {
        snapshot_services s;
        s.metrics = metrics_enabled ? metrics_.get() : nullptr;
        s.access_log = [this](const config::access_log_config& c) { return access_log_for(c); };
        s.tracer = [this](const config::otlp_config& c) { return tracer_for(c); };
        s.middleware.workers = metrics_workers_;
        s.middleware.control = &control_;
        return s;
    }

    std::shared_ptr<observability::listener_stats> listener_stats(const config::listener_config& l) {
        return current_metrics_enabled_ ? metrics_->listener(l.name) : nullptr;
    }

    // The same access log settings keep the same writer (and file); a changed one gets a new
    // writer, and writers no snapshot uses any more are closed here, on the control thread.
    std::shared_ptr<observability::access_log> access_log_for(const config::access_log_config& c) {
        std::lock_guard lock(access_logs_mutex_);
        auto id = observability::access_log::identity_of(c);
        for (auto& l : access_logs_)
            if (l->identity() == id) return l;
        auto l = std::make_shared<observability::access_log>(c, metrics_workers_);
        access_logs_.push_back(l);
        return l;
    }

    // The same tracing.otlp settings keep the same span rings (and what they hold); changed ones
    // get new rings, which the exporter drains after the old ones.
    std::shared_ptr<observability::tracer> tracer_for(const config::otlp_config& c) {
        if (last_tracer_ && last_tracer_->identity() == observability::tracer::identity_of(c)) return last_tracer_;
        return last_tracer_ = std::make_shared<observability::tracer>(c, metrics_workers_);
    }

    void add_tracing_metrics() {
        exporter_ = std::make_shared<observability::otlp_exporter>(control_);
        auto family = [this](const char* name, const char* help, std::uint64_t (observability::otlp_exporter::*get)() const) {
            metrics_->add_counter_family(name, help, [this, get] {
                return std::vector<observability::metrics::sample>{{{}, static_cast<double>(((*exporter_).*get)())}};
            });
        };
        family("gatehouse_tracing_spans_exported_total", "Spans the OTLP collector accepted", &observability::otlp_exporter::exported);
        family("gatehouse_tracing_spans_dropped_total", "Spans dropped: a worker's span queue was full, or their export failed",
               &observability::otlp_exporter::dropped);
        family("gatehouse_tracing_export_failures_total", "OTLP export requests that failed (connect, timeout, non-2xx)",
               &observability::otlp_exporter::failures);
    }

    // Access log writers buffer; lines reach the file at least once a second.
    void flush_access_logs() {
        {
            std::lock_guard lock(access_logs_mutex_);
            for (auto& l : access_logs_) l->flush();
        }
        flush_timer_.expires_after(std::chrono::seconds(1));
        flush_timer_.async_wait([this](boost::system::error_code ec) {
            if (!ec) flush_access_logs();
        });
    }

    // limits.max_memory (server/memory_guard.hpp): sampled 4 times a second; crossing the limit
    // either way is logged once. Every 10 s malloc's free pages go back too (release_free_heap).
    void watch_memory() {
        const auto limit = current_ ? current_->config.limits.max_memory : 0;
        auto& g = memory();
        if (limit == 0) {
            if (g.over.exchange(false)) spdlog::warn("limits.max_memory removed: serving new requests again");
        } else {
            const auto rss = resident_bytes();
            g.resident.store(rss, std::memory_order_relaxed);
            const bool over = rss > limit;
            if (over != g.over.load(std::memory_order_relaxed)) {
                g.over.store(over, std::memory_order_relaxed);
                if (over)
                    spdlog::error("resident memory {} MiB is above limits.max_memory ({} MiB): new requests get 503", rss >> 20,
                                  limit >> 20);
                else
                    spdlog::warn("resident memory {} MiB is below limits.max_memory ({} MiB) again: serving new requests", rss >> 20,
                                 limit >> 20);
            }
        }
        if (++memory_samples_ % 40 == 0) release_free_heap();  // every 10 s
        memory_timer_.expires_after(std::chrono::milliseconds(250));
        memory_timer_.async_wait([this](boost::system::error_code ec) {
            if (!ec) watch_memory();
        });
    }

    // TLS session-ticket keys: a new one every hour, the last three still accepted.
    void rotate_tickets() {
        ticket_timer_.expires_after(std::chrono::hours(1));
        ticket_timer_.async_wait([this](boost::system::error_code ec) {
            if (ec) return;
            tls::rotate_ticket_keys();
            rotate_tickets();
        });
    }

    void release_unused_access_logs() {
        std::vector<std::shared_ptr<observability::access_log>> unused;
        {
            std::lock_guard lock(access_logs_mutex_);
            for (auto it = access_logs_.begin(); it != access_logs_.end();) {
                if (it->use_count() == 1) {
                    unused.push_back(std::move(*it));
                    it = access_logs_.erase(it);
                } else {
                    ++it;
                }
            }
        }
        // destroyed here, outside the lock: they flush and join their writer threads
    }

    // READY=1 for systemd (Type=notify) once the process is ready as /-/ready defines it:
    // listeners bound, the first config serving, and service discovery answered for every
    // upstream a route uses (or its first_timeout passed). Checked every 100 ms until then.
    void notify_ready_when_upstreams_are() {
        if (!notify_.active() || draining_) return;
        if (ready_ && discovery_->ready(used_upstreams(current_->config))) {
            notify_.send(sd_notify::ready(fmt::format("serving config generation {} on {} listener(s), {} worker(s)", generation_,
                                                      listeners_.size(), workers_.size())));
            return;
        }
        notify_timer_.expires_after(std::chrono::milliseconds(100));
        notify_timer_.async_wait([this](boost::system::error_code ec) {
            if (!ec) notify_ready_when_upstreams_are();
        });
    }

    // The admin and probes listeners: one admin_server each, on a socket inherited from the
    // previous process (binary upgrade) or opened here.
    std::unique_ptr<admin::admin_server> start_control_listener(const std::string& what, const config::host_port& listen,
                                                                std::map<std::string, std::vector<int>>& inherited, std::string& key,
                                                                admin::admin_handler handler, admin::admin_tls_source tls = {}) {
        key = what + ":" + listen_key(listen);
        int fd = -1;
        if (auto it = inherited.find(key); it != inherited.end() && !it->second.empty()) {
            fd = it->second.front();
            it->second.erase(it->second.begin());
        } else {
            fd = open_listen_socket(listen, false);
        }
        const bool https = static_cast<bool>(tls);
        auto server = std::make_unique<admin::admin_server>(control_, fd, is_ipv6_socket(fd), std::move(handler), std::move(tls));
        server->start();
        spdlog::info("{} listening on {}:{}{}", what, listen.host, server->port(), https ? " (HTTPS)" : "");
        return server;
    }

    void start_admin(const config::admin_config& a, std::map<std::string, std::vector<int>>& inherited) {
        admin::admin_tls_source tls;
        if (a.tls) tls = [this] { return admin_tls_; };
        admin_ = start_control_listener(
            "admin", a.listen, inherited, admin_key_,
            [this](const admin::admin_request& r, admin::admin_reply reply) { handle_admin(r, std::move(reply)); }, std::move(tls));
    }

    void start_probes(const config::probes_config& p, std::map<std::string, std::vector<int>>& inherited) {
        probes_ = start_control_listener("probes", p.listen, inherited, probes_key_,
                                         [this](const admin::admin_request& r, admin::admin_reply reply) {
                                             handle_probes(r, std::move(reply));
                                         });
    }

    void start_handover_server() {
        try {
            handover_ = std::make_unique<handover_server>(
                control_, opts_.upgrade_socket,
                [this] {
                    std::vector<inherited_socket> out;
                    if (draining_) return out;
                    for (auto& [key, e] : listeners_)
                        for (int fd : e.fds) out.push_back({key, fd});
                    if (admin_) out.push_back({admin_key_, admin_->native_handle()});
                    if (probes_) out.push_back({probes_key_, probes_->native_handle()});
                    return out;
                },
                [this](pid_t next) {
                    // Sent while this process is still the main pid, the only one systemd hears
                    // with NotifyAccess=main; no STOPPING=1: the service goes on in `next`.
                    if (next > 0)
                        notify_.send(
                            sd_notify::main_pid(next, fmt::format("binary upgrade: pid {} serves, pid {} drains", next, ::getpid())));
                    handed_over_ = true;
                    begin_drain("binary upgrade", std::chrono::milliseconds(0));
                });
            spdlog::info("binary upgrade socket at {}", opts_.upgrade_socket);
        } catch (const std::exception& e) {
            spdlog::error("cannot serve the upgrade socket {}: {}", opts_.upgrade_socket, e.what());
        }
    }

    // SIGUSR2: a binary upgrade started from inside. The binary now at the path this process was
    // started from runs with the same arguments and environment as a child of this one, so it
    // is in the same control group: systemd accepts the MAINPID= this process sends at the
    // handover only for a process of its own unit. The child takes the sockets over as any
    // upgrade does; descriptors other than 0-2 are not inherited.
    void start_successor() {
        if (opts_.upgrade_socket.empty() || draining_ || successor_ > 0) {
            spdlog::warn("SIGUSR2 ignored: {}",
                         opts_.upgrade_socket.empty() ? "a binary upgrade needs --upgrade-socket" : "draining, or an upgrade is under way");
            return;
        }
        std::string path = executable_path();
        std::vector<std::string> args = opts_.arguments;
        std::vector<char*> argv{path.data()};
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t files;
        posix_spawn_file_actions_init(&files);
        posix_spawn_file_actions_addclosefrom_np(&files, 3);
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        sigset_t none;
        sigemptyset(&none);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
        pid_t pid = 0;
        const int rc = posix_spawn(&pid, path.c_str(), &files, &attr, argv.data(), environ);
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&files);
        if (rc != 0) {
            spdlog::error("binary upgrade: cannot start {}: {}", path, std::strerror(rc));
            return;
        }
        successor_ = pid;
        spdlog::info("binary upgrade: started {} as pid {}", path, pid);
    }

    // The path of this binary when it started, even if the file was replaced since.
    static std::string executable_path() {
        std::string p = std::filesystem::read_symlink("/proc/self/exe").string();
        constexpr std::string_view deleted = " (deleted)";
        if (p.size() > deleted.size() && p.compare(p.size() - deleted.size(), deleted.size(), deleted) == 0)
            p.resize(p.size() - deleted.size());
        return p;
    }

    void reap_successor() {
        int status = 0;
        for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
            if (pid != successor_) continue;
            successor_ = 0;
            if (!handed_over_)
                spdlog::error("binary upgrade: pid {} exited ({} {}) before serving; this process keeps serving", pid,
                              WIFEXITED(status) ? "status" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        }
    }

    void record(reload_record r) {
        reloads_.push_front(std::move(r));
        while (reloads_.size() > 32) reloads_.pop_back();
        if (metrics_) metrics_->reload_result(r.ok, generation_);
    }

    // parse -> validate -> build (and open new listeners), all on the control thread; then
    // every worker swaps its pointer. Anything wrong: nothing changes.
    // `installed` (optional) runs once every worker uses the new snapshot (or after 2 s), on
    // this thread; it is not called when the reload is rejected.
    std::string reload(const std::string& trigger, std::function<void()> installed = {}) {
        if (draining_) return "draining";
        const auto content = util::read_file(opts_.config_path);
        // touched, not changed (the config and every file it refers to)
        if (trigger == "file" && content && fingerprint(*content, *current_) == last_content_) return {};
        reload_record rec{generation_ + 1, std::chrono::system_clock::now(), trigger, false, {}};
        notify_.send(sd_notify::reloading(sd_notify::monotonic_usec(), "reloading the config (" + trigger + ")"));
        auto fail = [&](std::string text) {
            spdlog::error("config reload ({}) rejected; generation {} keeps serving:\n{}", trigger, generation_, text);
            notify_.send(sd_notify::ready(fmt::format("config reload ({}) failed: {}; generation {} keeps serving", trigger,
                                                      text.substr(0, text.find('\n')), generation_)));
            rec.error = text;
            record(rec);
            last_content_ = fingerprint(content.value_or(std::string()), *current_);  // do not retry the same broken files on every event
            return text;
        };
        auto loaded = content ? config::load_string(*content, opts_.config_path) : config::load_file(opts_.config_path);
        if (!loaded.config) return fail(loaded.diags.to_string());
        warn_unsupported(*loaded.config, loaded.diags);
        config::diagnostics diags(opts_.config_path);
        bool metrics_on = loaded.config->metrics.enabled;
        auto snap = build_snapshot(std::move(*loaded.config), generation_ + 1, diags, services(metrics_on));
        if (!snap) return fail(diags.to_string());
        log_diagnostics(loaded.diags);

        // Listeners: same address keeps its sockets; new ones are opened before anything commits.
        std::map<std::string, const config::listener_config*> wanted;
        for (auto& l : snap->config.listeners) wanted[listen_key(l.listen)] = &l;
        std::map<std::string, listener_entry> opened;
        try {
            for (auto& [key, l] : wanted) {
                if (listeners_.count(key)) continue;
                listener_entry e{*l, {}, 0};
                e.fds = open_sockets(*l, {}, e.port);
                opened[key] = std::move(e);
            }
        } catch (const std::exception& e) {
            for (auto& [k, o] : opened)
                for (int fd : o.fds) ::close(fd);
            return fail(opts_.config_path + ": " + e.what());
        }
        if (snap->config.reload.watch != current_->config.reload.watch || snap->config.reload.debounce != current_->config.reload.debounce)
            spdlog::warn("config reload: a change of 'reload' takes effect at the next restart");
        if (snap->config.workers != current_->config.workers)
            spdlog::warn("config reload: a change of 'workers' takes effect at the next restart");
        if (!(listen_key(snap->config.admin.listen) == listen_key(current_->config.admin.listen)) ||
            snap->config.admin.enabled != current_->config.admin.enabled ||
            snap->config.admin.tls.has_value() != current_->config.admin.tls.has_value())
            spdlog::warn(
                "config reload: a change of 'admin.listen', 'admin.enabled' or whether 'admin.tls' is set takes effect at the next restart");
        if (snap->config.probes.has_value() != current_->config.probes.has_value() ||
            (snap->config.probes && listen_key(snap->config.probes->listen) != listen_key(current_->config.probes->listen)))
            spdlog::warn("config reload: a change of 'probes' takes effect at the next restart");

        // Commit.
        ++generation_;
        current_ = snap;
        exporter_->use(snap->tracer);
        observability::set_background_tracing(snap->tracer, snap->config.tracing.generate, snap->config.tracing.sample);
        if (snap->admin_tls && admin_tls_) admin_tls_ = snap->admin_tls;  // a new certificate or client CA
        current_metrics_enabled_ = metrics_on;
        drain_ = snap->config.drain;
        for (auto it = listeners_.begin(); it != listeners_.end();) {
            if (wanted.count(it->first)) {
                it->second.cfg = *wanted[it->first];
                auto stats = listener_stats(it->second.cfg);
                for (auto& w : workers_) w->post_update_listener(it->first, it->second.cfg, stats);
                ++it;
            } else {
                spdlog::info("listener {} on {} closed by reload", it->second.cfg.name, it->first);
                for (auto& w : workers_) w->post_remove_listener(it->first);
                it = listeners_.erase(it);
            }
        }
        for (auto& [key, e] : opened) {
            auto stats = listener_stats(e.cfg);
            for (std::size_t i = 0; i < e.fds.size(); ++i)
                workers_[i % workers_.size()]->post_add_listener(e.fds[i], e.cfg, key, stats, e.open);
            spdlog::info("listener {} listening on {}:{}", e.cfg.name, e.cfg.listen.host, e.port);
            listeners_[key] = std::move(e);
        }
        // Endpoints first: a new upstream's static set reaches the workers before its routes do.
        discovery_->reconcile(wanted_discovery(snap->config));
        health_checker_->reconcile(snap->clusters, [this](const std::string& u) { return discovery_->current(u); });
        // The caller hears when every worker uses it, so that when a reload answers, the next
        // request sees the new routes. Nobody waits here: the last worker's confirmation (or a
        // 2 s timer) completes it.
        auto pending = std::make_shared<std::size_t>(workers_.size());
        // READY=1 once every worker serves the new generation (or the 2 s timer gave up waiting).
        auto done = std::make_shared<std::function<void()>>([this, gen = generation_, installed = std::move(installed)] {
            notify_.send(sd_notify::ready(fmt::format("serving config generation {}", gen)));
            if (installed) installed();
        });
        auto timer = std::make_shared<asio::steady_timer>(control_, std::chrono::seconds(2));
        auto gen = generation_;
        timer->async_wait([done, gen](boost::system::error_code ec) {
            if (ec || !*done) return;
            spdlog::warn("config generation {}: not every worker confirmed within 2 s", gen);
            std::exchange(*done, {})();
        });
        for (auto& w : workers_)
            w->post_snapshot(snap, [this, pending, done, timer] {
                asio::post(control_, [pending, done, timer] {
                    if (--*pending > 0 || !*done) return;
                    timer->cancel();
                    std::exchange(*done, {})();
                });
            });
        last_content_ = fingerprint(content.value_or(std::string()), *snap);
        if (watcher_)
            for (auto& f : snap->watched_files) watcher_->watch_file(f);
        rec.ok = true;
        record(rec);
        release_unused_access_logs();
        spdlog::info("config generation {} loaded ({})", generation_, trigger);
        return {};
    }

    void on_signal(boost::system::error_code ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
            reload("signal");
        } else if (sig == SIGUSR2) {
            start_successor();
        } else if (sig == SIGCHLD) {
            reap_successor();
        } else if (draining_) {
            spdlog::warn("second signal: stopping now");
            control_.stop();
            return;
        } else {
            begin_drain(sig == SIGTERM ? "SIGTERM" : "SIGINT", drain_.delay);
        }
        signals_.async_wait([this](boost::system::error_code e, int s) { on_signal(e, s); });
    }

    int exit_code_ = 0;  // 70 (EX_SOFTWARE) once a worker failed
    const bool test_hooks_ = [] {
        const char* v = std::getenv("GATEHOUSE_TEST_HOOKS");
        return v && std::string_view(v) == "1";
    }();

    void begin_drain(const std::string& why, config::duration delay) {
        if (draining_) return;
        draining_ = true;
        ready_ = false;
        // Not destroyed here: this may run inside the handover server's own completion handler.
        asio::post(control_, [this] {
            handover_.reset();
            watcher_.reset();
        });
        spdlog::info("draining ({}): not ready; accepting for {} ms more, then in-flight requests have {} ms", why, delay.count(),
                     drain_.timeout.count());
        if (!handed_over_) notify_.send(sd_notify::stopping("draining (" + why + ")"));
        for (auto& w : workers_) w->post_soft_drain();
        drain_timer_.expires_after(delay);
        drain_timer_.async_wait([this](boost::system::error_code e) {
            if (e) return;
            for (auto& w : workers_) w->post_stop_accepting();
            drain_timer_.expires_after(drain_.timeout);
            drain_timer_.async_wait([this](boost::system::error_code e2) {
                if (e2) return;
                spdlog::warn("drain timeout reached, closing the remaining connections");
                control_.stop();
            });
        });
    }

    void worker_exited(unsigned id, bool failed) {
        if (failed && exit_code_ == 0) {
            // A worker is gone for good (an exception escaped its loop; its sockets are closed).
            // The rest drain like after SIGTERM and the process exits with EX_SOFTWARE, so that
            // systemd / Kubernetes restarts it whole: restarting one thread in place would keep
            // whatever state broke it.
            exit_code_ = 70;
            spdlog::critical(
                "worker {} failed: draining the other workers, then exiting with status 70 for the supervisor to restart gatehouse", id);
            begin_drain("worker failure", config::duration(0));
        }
        if (--running_ > 0) return;
        drain_timer_.cancel();
        flush_timer_.cancel();
        ticket_timer_.cancel();
        memory_timer_.cancel();
        notify_timer_.cancel();
        if (admin_) admin_->stop();
        if (probes_) probes_->stop();
        if (discovery_) discovery_->stop_all();
        if (health_checker_) health_checker_->stop_all();
        exporter_->flush([this] { control_.stop(); });  // the last spans, within tracing.otlp.timeout
    }

    static admin::admin_response text_reply(int status, std::string body) { return {status, "text/plain", std::move(body), {}}; }

    static admin::admin_response method_not_allowed(std::string allow) {
        auto r = text_reply(405, "method not allowed: use " + allow + "\n");
        r.headers.emplace_back("Allow", std::move(allow));
        return r;
    }

    // /-/healthy and /-/ready, alike on the admin and the probes listener and never behind the
    // token: what an orchestrator's probes ask. Nothing for any other path.
    std::optional<admin::admin_response> probe_answer(const admin::admin_request& r, std::string_view path) {
        if (!admin::is_probe_path(path)) return std::nullopt;
        if (r.method != "GET" && r.method != "HEAD") return method_not_allowed("GET, HEAD");
        if (path == "/-/healthy") return text_reply(200, "ok\n");
        if (!ready_) return text_reply(503, "not ready\n");
        if (!discovery_->ready(used_upstreams(current_->config))) return text_reply(503, "not ready: waiting for service discovery\n");
        return text_reply(200, "ready\n");
    }

    void handle_probes(const admin::admin_request& r, admin::admin_reply reply) {
        const auto path = r.target.substr(0, r.target.find('?'));
        if (auto a = probe_answer(r, path)) return reply(std::move(*a));
        reply(text_reply(404, "not found: this listener serves /-/healthy and /-/ready only\n"));
    }

    // admin.auth: every other endpoint wants the bearer token of the current config (a rotated
    // token file is a reload like a rotated certificate, so the new token counts at once).
    // admin.tls.client_ca: a verified client certificate authorises as the token does (over a
    // listener started with TLS; with client_auth: require every connection has one).
    std::optional<admin::admin_response> refuse_unauthorized(const admin::admin_request& r) {
        const auto& auth = current_->config.admin.auth;
        const bool mtls = admin_tls_ && !admin_tls_->config().client_ca.empty();
        if (!auth && !mtls) return std::nullopt;
        if (r.client_verified || (auth && admin::bearer_matches(r.authorization, auth->token))) return std::nullopt;
        if (!auth) return text_reply(403, "forbidden: a client certificate that admin.tls.client_ca verifies is required\n");
        auto out = text_reply(401, "unauthorized: send Authorization: Bearer <the token of admin.auth.token_file>\n");
        // RFC 6750 section 3: no error code when no credentials were sent.
        out.headers.emplace_back("WWW-Authenticate", r.authorization.empty() ? "Bearer realm=\"gatehouse admin\""
                                                                             : "Bearer realm=\"gatehouse admin\", error=\"invalid_token\"");
        spdlog::debug("admin {} {}: refused, {} bearer token", r.method, r.target, r.authorization.empty() ? "no" : "a wrong");
        return out;
    }

    void handle_admin(const admin::admin_request& r, admin::admin_reply reply) {
        auto path = r.target.substr(0, r.target.find('?'));
        auto json_reply = [](const json& j, int status = 200) {
            return admin::admin_response{status, "application/json", j.dump(2) + "\n", {}};
        };
        if (auto a = probe_answer(r, path)) return reply(std::move(*a));
        // The page holds no data, so it answers without the token (its fetches send one).
        if (auto a = admin::status_page_answer(r.method, path)) return reply(std::move(*a));
        if (auto a = refuse_unauthorized(r)) return reply(std::move(*a));
        bool get = r.method == "GET" || r.method == "HEAD";
        if (path == "/-/test/worker-exception" && test_hooks_ && r.method == "POST") {
            workers_.front()->post_fault_for_tests();
            return reply(text_reply(202, "injected\n"));
        }
        if (path == "/-/reload") {
            if (r.method != "POST") return reply(method_not_allowed("POST"));
            auto err = reload("admin", [this, reply, json_reply] { reply(json_reply({{"result", "ok"}, {"generation", generation_}})); });
            if (!err.empty()) reply(json_reply({{"result", "rejected"}, {"generation", generation_}, {"error", err}}, 400));
            return;
        }
        if (path == "/cache/purge") {
            if (r.method != "POST") return reply(method_not_allowed("POST"));
            std::string error;
            auto result = middleware::cache::purge(r.body, error);
            if (!result) return reply(json_reply({{"error", error}}, 400));
            spdlog::info("cache purge from the admin API: {} entries", (*result)["purged"].get<std::size_t>());
            return reply(json_reply(*result));
        }
        if (path == "/ext_authz/purge") {
            if (r.method != "POST") return reply(method_not_allowed("POST"));
            std::string error;
            auto result = middleware::ext_authz::purge(r.body, error);
            if (!result) return reply(json_reply({{"error", error}}, 400));
            spdlog::info("ext_authz purge from the admin API: {} entries", (*result)["purged"].get<std::size_t>());
            return reply(json_reply(*result));
        }
        if (!get) return reply(method_not_allowed("GET, HEAD"));
        if (path == "/ext_authz") return reply(json_reply(middleware::ext_authz::status()));
        if (path == "/metrics")
            return reply(admin::admin_response{200, "text/plain; version=0.0.4; charset=utf-8", metrics_->scrape(), {}});
        if (path == "/jwt/providers") return reply(json_reply(middleware::jwt::providers_status()));
        if (path == "/rate_limits") {
            std::optional<std::string> key;
            if (auto q = r.target.find('?'); q != std::string::npos)
                if (auto k = router::query_param(std::string_view(r.target).substr(q + 1), "key")) key = url_decode(*k);
            return reply(json_reply(middleware::rate_limit::status(key ? std::optional<std::string_view>(*key) : std::nullopt)));
        }
        if (path == "/cache") {
            std::optional<std::string> url;
            if (auto q = r.target.find('?'); q != std::string::npos)
                if (auto u = router::query_param(std::string_view(r.target).substr(q + 1), "url")) url = url_decode(*u);
            return reply(json_reply(middleware::cache::status(url ? std::optional<std::string_view>(*url) : std::nullopt)));
        }
        if (path == "/config") return reply(json_reply({{"generation", generation_}, {"config", admin::config_to_json(current_->config)}}));
        if (path == "/routes") return reply(json_reply(admin::routes_to_json(*current_->routes)));
        if (path == "/openapi.json") return reply(openapi_document(r.target));
        if (path == "/stats") return reply(json_reply(stats_body()));
        if (path == "/upstreams") return upstreams_json([reply, json_reply](json j) { reply(json_reply(j)); });
        if (path == "/reloads") {
            json attempts = json::array();
            for (auto& rec : reloads_) {
                json a{{"generation", rec.generation},
                       {"time", iso_time(rec.time)},
                       {"trigger", rec.trigger},
                       {"result", rec.ok ? "ok" : "rejected"}};
                if (!rec.ok) a["error"] = rec.error;
                attempts.push_back(a);
            }
            return reply(json_reply({{"generation", generation_}, {"attempts", attempts}}));
        }
        reply(json_reply({{"error", "not found"},
                          {"endpoints",
                           {"/-/healthy", "/-/ready", "POST /-/reload", "/metrics", "/jwt/providers", "/rate_limits", "/cache",
                            "POST /cache/purge", "/ext_authz", "POST /ext_authz/purge", "/config", "/routes", "/openapi.json", "/upstreams", "/reloads", "/stats", "/status"}}},
                         404));
    }

    // GET /openapi.json: generated from the route table, or ?spec=NAME: a configured spec as read.
    admin::admin_response openapi_document(const std::string& target) {
        auto specs = middleware::openapi_mw::specs_in_use(current_->config);
        std::optional<std::string> name;
        if (auto q = target.find('?'); q != std::string::npos)
            if (auto n = router::query_param(std::string_view(target).substr(q + 1), "spec")) name = url_decode(*n);
        if (!name) {
            std::vector<std::string> names;
            for (auto& [n, s] : specs) names.push_back(n);
            return {200, "application/json", admin::routes_openapi(current_->config, names).dump(2) + "\n", {}};
        }
        for (auto& [n, s] : specs)
            if (n == *name) return {200, "application/json", s->document.dump(2, ' ', false, json::error_handler_t::replace) + "\n", {}};
        return {404, "application/json", json{{"error", "no openapi spec of that name is in use"}}.dump(2) + "\n", {}};
    }

    // GET /stats (for the status page): the listeners as they run, with the port bound.
    json stats_body() {
        std::vector<admin::listener_view> views;
        for (auto& l : current_->config.listeners) {
            auto it = listeners_.find(listen_key(l.listen));
            if (it == listeners_.end()) continue;
            admin::listener_view v{l.name, l.listen, it->second.open->load(), listener_stats(l).get(), nullptr};
            v.listen.port = it->second.port;
            if (auto t = current_->tls.find(l.name); t != current_->tls.end()) v.tls = t->second.get();
            views.push_back(std::move(v));
        }
        return admin::stats_to_json(*current_, views, std::chrono::system_clock::now());
    }

    static std::set<std::string> used_upstreams(const config::gateway_config& c) {
        std::set<std::string> used;
        for (auto& r : c.routes) {
            if (!r.upstream.empty() && r.split.empty()) used.insert(r.upstream);
            for (auto& t : r.split)
                if (t.weight > 0) used.insert(t.upstream);
            // (a mirror's upstream does not hold readiness back: its answers are ignored)
        }
        // Upstreams middleware calls (ext_authz's policy service): their answers decide requests.
        auto calls = [&used](const config::middleware_list& chain) {
            for (auto& spec : chain)
                for (auto& [name, mark] : spec->upstreams) used.insert(name);
        };
        for (auto& r : c.routes) calls(r.middleware);
        for (auto& l : c.listeners) calls(l.middleware);
        return used;
    }

    static std::vector<discovery::upstream_discovery> wanted_discovery(const config::gateway_config& c) {
        std::vector<discovery::upstream_discovery> out;
        for (auto& u : c.upstreams)
            if (u.discovery) out.push_back({u.name, u.discovery, u.wait_for_first, u.first_timeout});
        return out;
    }

    // Discovery's figures, read at scrape time (the scrape runs on this thread too).
    void add_discovery_metrics() {
        metrics_->add_counter_family(
            "gatehouse_discovery_updates_total", "Answers from service discovery by upstream and result (changed, unchanged, error)",
            [this] {
                std::vector<observability::metrics::sample> out;
                for (auto& f : discovery_->metrics()) {
                    out.push_back({{{"upstream", f.upstream}, {"result", "changed"}}, static_cast<double>(f.changed)});
                    out.push_back({{{"upstream", f.upstream}, {"result", "unchanged"}}, static_cast<double>(f.unchanged)});
                    out.push_back({{{"upstream", f.upstream}, {"result", "error"}}, static_cast<double>(f.errors)});
                }
                return out;
            });
        metrics_->add_gauge_family("gatehouse_upstream_endpoints", "Endpoints in the upstream's current set", [this] {
            std::vector<observability::metrics::sample> out;
            for (auto& f : discovery_->metrics()) out.push_back({{{"upstream", f.upstream}}, static_cast<double>(f.endpoints)});
            return out;
        });
        metrics_->add_gauge_family("gatehouse_discovery_last_success_age_seconds",
                                   "Seconds since discovery last answered for the upstream (absent: never)", [this] {
                                       std::vector<observability::metrics::sample> out;
                                       for (auto& f : discovery_->metrics())
                                           if (f.seconds_since_success >= 0)
                                               out.push_back({{{"upstream", f.upstream}}, f.seconds_since_success});
                                       return out;
                                   });
    }

    // Each worker reports its own pools; the answer goes out when all have (or after 1 s).
    void upstreams_json(std::function<void(json)> done) {
        struct gather {
            std::vector<endpoint_stats> all;
            std::size_t left;
            std::function<void(json)> done;
            std::unique_ptr<asio::steady_timer> timer;
        };
        auto g = std::make_shared<gather>();
        g->left = workers_.size();
        g->done = std::move(done);
        g->timer = std::make_unique<asio::steady_timer>(control_, std::chrono::seconds(1));
        g->timer->async_wait([this, g](boost::system::error_code ec) {
            if (!ec && g->done) std::exchange(g->done, {})(upstreams_body(g->all, false));
        });
        for (auto& w : workers_)
            w->post_collect_stats([this, g](std::vector<endpoint_stats> s) {
                asio::post(control_, [this, g, s = std::move(s)] {
                    g->all.insert(g->all.end(), s.begin(), s.end());
                    if (--g->left == 0 && g->done) {
                        g->timer->cancel();
                        std::exchange(g->done, {})(upstreams_body(g->all, true));
                    }
                });
            });
    }

    json upstreams_body(const std::vector<endpoint_stats>& all, bool complete) {
        json out = json::array();
        for (std::size_t ui = 0; ui < current_->config.upstreams.size(); ++ui) {
            const auto& u = current_->config.upstreams[ui];
            auto& health = *current_->clusters[ui]->health;
            json d = discovery_->status(u.name);
            if (d.is_null()) d = json::object();
            json eps = d.contains("endpoints") ? d["endpoints"] : json::array();
            for (auto& e : eps) {
                std::size_t open = 0, idle = 0, inflight = 0;
                for (auto& s : all)
                    if (s.upstream == u.name && s.endpoint == e["address"].get<std::string>()) {
                        open += s.open;
                        idle += s.idle;
                        inflight += s.inflight;
                    }
                e["connections"] = open;
                e["idle"] = idle;
                e["in_flight"] = inflight;
                e["health"] = upstream::endpoint_health_json(health, e["address"].get<std::string>());
            }
            d.erase("endpoints");
            json entry = {{"name", u.name},
                          {"discovery", d},
                          {"endpoints", eps},
                          {"max_connections_per_endpoint_per_worker", u.pool.max_connections}};
            entry.update(upstream::health_json(health));
            out.push_back(std::move(entry));
        }
        return {{"workers", workers_.size()}, {"complete", complete}, {"upstreams", out}};
    }

    daemon_options opts_;
    asio::io_context control_{1};
    asio::signal_set signals_;
    asio::steady_timer drain_timer_;
    asio::steady_timer flush_timer_;
    asio::steady_timer ticket_timer_{control_};
    asio::steady_timer memory_timer_{control_};
    unsigned memory_samples_ = 0;
    std::vector<std::unique_ptr<worker>> workers_;
    std::vector<std::thread> threads_;
    std::map<std::string, listener_entry> listeners_;
    std::unique_ptr<admin::admin_server> admin_;
    std::string admin_key_;
    std::shared_ptr<const tls::server_context> admin_tls_;  // admin.tls as the admin listener started (reloads renew it)
    std::unique_ptr<admin::admin_server> probes_;           // probes.listen: /-/healthy and /-/ready only
    std::string probes_key_;
    std::unique_ptr<util::file_watcher> watcher_;
    std::unique_ptr<discovery::manager> discovery_;
    std::unique_ptr<upstream::health_checker> health_checker_;  // active checks, on this thread
    std::shared_ptr<observability::otlp_exporter> exporter_;    // tracing.otlp, on this thread
    std::shared_ptr<observability::tracer> last_tracer_;
    std::unique_ptr<handover_server> handover_;
    std::shared_ptr<const snapshot> current_;
    std::string last_content_;
    std::deque<reload_record> reloads_;
    std::unique_ptr<observability::metrics> metrics_;
    std::mutex access_logs_mutex_;  // the scrape reads the list while a reload may change it
    std::vector<std::shared_ptr<observability::access_log>> access_logs_;
    std::size_t metrics_workers_ = 1;
    bool current_metrics_enabled_ = true;
    std::uint64_t generation_ = 0;
    std::size_t running_ = 0;
    bool ready_ = false;
    bool draining_ = false;
    bool handed_over_ = false;  // a binary upgrade's successor serves now
    pid_t successor_ = 0;       // started by SIGUSR2, until it exits
    sd_notify::notifier notify_ = sd_notify::notifier::from_environment();
    asio::steady_timer notify_timer_{control_};
    config::drain_config drain_{};
};

}  // namespace

int run_daemon(const daemon_options& options) {
    daemon d(options);
    return d.run();
}

}  // namespace gatehouse::server
