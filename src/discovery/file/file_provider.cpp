// discovery: { file: { path: /etc/gatehouse/endpoints/search.yaml } }
// The file is watched like the config (inotify on its directory: in-place writes, rename over
// it, a ConfigMap's symlink swap) and re-read when its content changes; an invalid or missing
// file is reported with file:line:col and the last good set stays.
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include "config/yaml_reader.hpp"
#include "discovery/dns/resolver.hpp"
#include "discovery/endpoint_spec.hpp"
#include "discovery/file/endpoint_file.hpp"
#include "discovery/registry.hpp"
#include "util/file_watcher.hpp"
#include "util/read_file.hpp"

namespace gatehouse::discovery {

endpoint_file parse_endpoint_file(const std::string& content, const std::string& file_name) {
    endpoint_file out;
    config::diagnostics d(file_name);
    YAML::Node root;
    try {
        root = YAML::Load(content);
    } catch (const YAML::Exception& e) {
        d.error({e.mark.line + 1, e.mark.column + 1}, "", "invalid YAML: " + e.msg);
        out.error = d.to_string();
        return out;
    }
    YAML::Node list = root;
    std::string path;
    if (root.IsMap()) {
        config::map_reader r(root, "", d, {"endpoints"});
        list.reset(r.get("endpoints"));  // (assignment would overwrite the node it refers to)
        path = "endpoints";
        r.finish();
    }
    std::vector<endpoint_spec> specs;
    if (!list.IsSequence()) {
        d.error(config::mark_of(root), path, "expected a list of endpoints (host:port or { address, weight })");
    } else {
        for (std::size_t i = 0; i < list.size(); ++i) {
            auto e = parse_endpoint_spec(list[i], path + "[" + std::to_string(i) + "]", d);
            if (!e) continue;
            e->source = "file " + file_name;
            specs.push_back(std::move(*e));
        }
    }
    if (d.has_errors()) out.error = d.to_string();
    else out.endpoints = std::move(specs);
    return out;
}

namespace {

using namespace std::chrono_literals;

class file_provider : public provider, public std::enable_shared_from_this<file_provider> {
public:
    file_provider(provider_services& s, std::string path) : control_(s.control), out_(s.out), path_(std::move(path)) {}
    void start() {
        std::weak_ptr<file_provider> weak = shared_from_this();
        watcher_ = std::make_unique<util::file_watcher>(control_, path_, 100ms, [weak] {
            if (auto self = weak.lock()) self->read();
        });
        read();
    }
    void stop() override {
        stopped_ = true;
        watcher_.reset();
        if (resolver_) resolver_->shutdown();
    }

private:
    void read() {
        if (stopped_) return;
        auto content = util::read_file(path_);
        if (!content) return report("cannot read " + path_ + ": " + std::strerror(errno));
        if (*content == last_content_ && last_ok_) return;  // touched, not changed
        last_content_ = *content;
        auto parsed = parse_endpoint_file(*content, path_);
        if (!parsed.endpoints) return report("invalid endpoint file:\n" + parsed.error);
        if (!dns::all_literal(*parsed.endpoints) && !resolver_) resolver_ = dns::resolver::create(control_, {}, 2000ms);
        dns::resolve_endpoints(resolver_, *parsed.endpoints, dns::family::any,
                               [self = shared_from_this()](std::string error, std::vector<endpoint> eps, std::chrono::seconds) {
                                   if (self->stopped_) return;
                                   self->last_ok_ = error.empty();
                                   if (error.empty()) self->out_.publish(std::move(eps));
                                   else self->out_.fail(std::move(error));
                               });
    }

    void report(std::string error) {
        last_ok_ = false;
        out_.fail(std::move(error));
    }

    boost::asio::io_context& control_;
    sink& out_;
    std::string path_;
    std::unique_ptr<util::file_watcher> watcher_;
    std::shared_ptr<dns::resolver> resolver_;
    std::string last_content_;
    bool last_ok_ = false;
    bool stopped_ = false;
};

struct file_spec : config::discovery_spec {
    std::string file;
    std::shared_ptr<provider> start(provider_services& s) const override {
        auto p = std::make_shared<file_provider>(s, file);
        p->start();
        return p;
    }
};

std::shared_ptr<config::discovery_spec> parse(const YAML::Node& n, const std::string& path, config::diagnostics& d) {
    config::map_reader r(n, path, d, {"path"});
    if (!r.ok()) return nullptr;
    auto spec = std::make_shared<file_spec>();
    if (auto p = r.string("path")) spec->file = *p;
    if (spec->file.empty()) d.error(config::mark_of(n), path + ".path", "required (a YAML or JSON list of endpoints)");
    r.finish();
    spec->identity = "file|" + spec->file;
    spec->describe = "file " + spec->file;
    return spec;
}

}  // namespace

void register_file() { config::register_discovery_type("file", parse); }

}  // namespace gatehouse::discovery
