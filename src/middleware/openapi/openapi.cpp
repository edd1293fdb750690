// The openapi middleware at run time: finds the request's operation in the spec, checks its
// parameters in on_request, asks for the body when the operation has a JSON schema for it and
// checks that in on_request_body. Everything is synchronous; a refusal is a 400
// application/problem+json naming where and which keyword, never the client's value.
#include "middleware/openapi/openapi.hpp"

#include <algorithm>
#include <array>

#include "middleware/openapi/parameters.hpp"
#include "middleware/openapi/problem.hpp"
#include "middleware/registry.hpp"
#include "json/tape.hpp"
#include "observability/log_limit.hpp"
#include "openapi/uri.hpp"
#include "util/text.hpp"
#include "util/percent.hpp"

namespace gatehouse::middleware::openapi_mw {

namespace {

namespace oa = gatehouse::openapi;

// A response body the spec describes, checked whole at its end. response.body: report: a tap,
// gathered as it is relayed (up to max_body; nothing is held back from the client), errors
// logged and counted, the client gets the response as it is. enforce: a check, the core holds
// the response until its body is judged; one that does not match (or is larger than max_body)
// is logged, counted and answered with a 502.
class response_check final : public body_tap, public body_check {
public:
    const oa::schema_set* schemas = nullptr;
    std::uint32_t schema = 0;
    const openapi_spec* spec = nullptr;
    int status = 0;

    void data(std::string_view piece) override {
        if (over_) return;
        if (body_.size() + piece.size() > spec->max_body) {
            over_ = true;
            std::string().swap(body_);
            return;
        }
        body_.append(piece);
    }
    void end() override {
        if (!over_ && !body_.empty()) judge(body_);  // too large to check, or no body (HEAD, 204)
    }

    std::size_t max_bytes() const override { return spec->max_body; }
    bool accept(std::string_view body) override {
        judged_ = true;
        return body.empty() || judge(body);
    }
    std::string_view refusal() const override {
        if (judged_) return "the upstream's response does not match the API description";
        spec->counts->count_response("max_body");
        return "the upstream's response body is larger than the openapi middleware's max_body";
    }

private:
    bool judge(std::string_view body) const;
    std::string body_;
    bool over_ = false, judged_ = false;
};

// What on_request found, for on_request_body and the response (the request's views have ended
// by then).
struct request_state {
    const oa::media_type* media = nullptr;
    const oa::operation* op = nullptr;  // response.body: report, enforce
    response_check check;
};

bool response_check::judge(std::string_view body) const {
    json_tape::tape_lease lease;
    auto& doc = lease.doc;
    json_tape::refusal why;
    if (!doc.parse(body, spec->max_depth, why)) {
        auto keyword = why == json_tape::refusal::too_deep ? "depth" : "syntax";
        spec->counts->count_response(keyword);
        observability::warn_limited(spec->counts->route, "openapi: route {}: a {} response's body: {}", spec->counts->route,
                                    status, keyword);
        return false;
    }
    auto r = schemas->validate(schema, doc.root(), {.max_steps = spec->max_steps, .max_errors = k_max_errors});
    if (r.valid) return true;
    for (auto& e : r.errors) spec->counts->count_response(e.keyword);
    auto& first = r.errors.front();
    observability::warn_limited(spec->counts->route,
                                "openapi: route {}: a {} response does not match the spec: {} at \"{}\" ({} errors)",
                                spec->counts->route, status, first.keyword, first.pointer, r.errors.size());
    return false;
}

std::string_view media_type_of(std::string_view content_type) {
    auto semi = content_type.find(';');
    return util::trim(content_type.substr(0, semi));
}

const oa::media_type* match_media(const std::vector<oa::media_type>& types, std::string_view content_type) {
    auto given = media_type_of(content_type);
    std::array<char, 128> lowered;  // a media type this short needs no allocation
    std::string owned;
    std::string_view type;
    if (given.size() <= lowered.size()) {
        std::transform(given.begin(), given.end(), lowered.begin(), [](char c) { return util::ascii_lower(c); });
        type = {lowered.data(), given.size()};
    } else {
        owned = util::ascii_lower(given);
        type = owned;
    }
    const oa::media_type* range = nullptr;
    const oa::media_type* any = nullptr;
    for (auto& m : types) {
        if (m.type == type) return &m;
        auto slash = m.type.find('/');
        if (m.type == "*/*") any = &m;
        else if (m.type.ends_with("/*") && type.substr(0, slash + 1) == std::string_view(m.type).substr(0, slash + 1)) range = &m;
    }
    return range ? range : any;
}

class openapi final : public middleware {
public:
    explicit openapi(openapi_spec s) : spec_(std::move(s)) {}

    verdict on_request(request_context& ctx, local_reply& reply) const override {
        auto path = ctx.path;
        if (!spec_.server_base.empty()) {
            if (!path.starts_with(spec_.server_base) ||
                (path.size() > spec_.server_base.size() && path[spec_.server_base.size()] != '/'))
                return unmatched(ctx, reply, nullptr);
            path.remove_prefix(spec_.server_base.size());
            if (path.empty()) path = "/";
        }
        router::path_variables vars;
        const oa::path_item* item = spec_.api->find_path(path, vars);
        if (!item) return unmatched(ctx, reply, nullptr);
        const oa::operation* op = find_operation(*item, ctx.method);
        if (!op) return unmatched(ctx, reply, item);
        problem p;
        if (spec_.parameters) check_parameters(ctx, *op, vars, p);
        if (spec_.body && p.errors.empty()) check_body_head(ctx, *op, p);
        if (!p.errors.empty()) return refuse(ctx, reply, p);
        if (spec_.report_responses) ctx.state<request_state>().op = op;
        return verdict::next;
    }

    void on_response_headers(request_context& ctx, response_edit& edit) const override {
        auto* st = ctx.find_state<request_state>();
        if (!st || !st->op || edit.fields.empty()) return;  // not checked, or gatehouse's own answer
        if (spec_.enforce_responses ? edit.check != nullptr : edit.tap != nullptr) return;  // another middleware's already
        const oa::response_spec* r = st->op->response_for(edit.status);
        auto ct = edit.field("content-type");
        const oa::media_type* m = r && ct ? match_media(r->content, *ct) : nullptr;
        if (!m || !m->schema) return;
        st->check.schemas = &spec_.api->schemas;
        st->check.schema = *m->schema;
        st->check.spec = &spec_;
        st->check.status = edit.status;
        if (spec_.enforce_responses) edit.check = &st->check;
        else edit.tap = &st->check;
    }

    verdict on_request_body(request_context& ctx, std::string_view body, local_reply& reply) const override {
        auto* st = ctx.find_state<request_state>();
        if (!st || !st->media) return verdict::next;
        problem p;
        json_tape::tape_lease lease;
        auto& doc = lease.doc;
        json_tape::refusal why;
        if (!doc.parse(body, spec_.max_depth, why)) {
            p.add_body("", why == json_tape::refusal::too_deep ? "depth" : "syntax",
                       why == json_tape::refusal::too_deep
                           ? "nested deeper than " + std::to_string(spec_.max_depth) + " levels"
                           : "is not JSON");
            return refuse(ctx, reply, p);
        }
        auto r = spec_.api->schemas.validate(*st->media->schema, doc.root(), {.max_steps = spec_.max_steps, .max_errors = k_max_errors});
        if (r.valid) return verdict::next;
        for (auto& e : r.errors) p.add_body(e.pointer, e.keyword, e.detail);
        return refuse(ctx, reply, p);
    }

private:
    static const oa::operation* find_operation(const oa::path_item& item, std::string_view method) {
        for (auto& op : item.operations)
            if (op.method == method) return &op;
        if (method == "HEAD")
            for (auto& op : item.operations)
                if (op.method == "GET") return &op;
        return nullptr;
    }

    verdict unmatched(request_context& ctx, local_reply& reply, const oa::path_item* item) const {
        if (spec_.unmatched == 0) return verdict::next;
        problem p;
        p.status = spec_.unmatched;
        p.title = spec_.unmatched == 405 ? "Method not allowed by the API description"
                                         : "No operation of the API description matches the request";
        p.add_plain("path", "", "operation", item ? "the path has no operation for this method" : "no path of the API matches");
        std::vector<std::pair<std::string, std::string>> extra;
        if (spec_.unmatched == 405 && item) {
            std::string allow;
            for (auto& op : item->operations) (allow.empty() ? allow : allow += ", ") += op.method;
            extra.emplace_back("allow", allow);
        }
        return refuse(ctx, reply, p, std::move(extra));
    }

    void check_parameters(request_context& ctx, const oa::operation& op, const router::path_variables& vars, problem& p) const {
        std::vector<std::pair<std::string, std::string>> pairs;
        std::vector<bool> used;
        bool query_split = false;
        for (auto& par : op.parameters) {
            std::optional<json> value;
            bool repeated = false;
            switch (par.in) {
                case oa::param_in::path:
                    if (auto v = vars.find(par.name)) value = deserialise_value(par, util::percent_decoded(*v));
                    break;
                case oa::param_in::query:
                    if (!query_split) {
                        pairs = split_query(ctx.query);
                        used.assign(pairs.size(), false);
                        query_split = true;
                    }
                    value = deserialise_query(par, pairs, used, &repeated);
                    break;
                case oa::param_in::header:
                    if (auto v = ctx.header(par.name)) value = deserialise_value(par, *v);
                    break;
                case oa::param_in::cookie:
                    if (auto v = ctx.cookie(par.name)) value = deserialise_value(par, *v);
                    break;
            }
            if (!value) {
                if (par.required) p.add_parameter(par, "required", "is required");
                continue;
            }
            if (repeated) {
                p.add_parameter(par, "repeated", "is given more than once; it takes one value");
                continue;
            }
            if (!par.schema) continue;
            auto r = spec_.api->schemas.validate(*par.schema, *value, {.max_steps = spec_.max_steps, .max_errors = k_max_errors});
            for (auto& e : r.errors) p.add_parameter(par, e.keyword, e.detail);
        }
        if (!spec_.reject_unknown_query) return;
        if (!query_split) {
            pairs = split_query(ctx.query);
            used.assign(pairs.size(), false);
        }
        for (std::size_t i = 0; i < pairs.size(); ++i)
            if (!used[i]) p.add_plain("query", pairs[i].first, "unknown", "is not a parameter of this operation");
    }

    void check_body_head(request_context& ctx, const oa::operation& op, problem& p) const {
        if (!op.has_body) return;
        if (!ctx.has_body) {
            if (op.body_required) p.add_plain("body", "", "required", "the operation requires a request body");
            return;
        }
        auto ct = ctx.header("content-type");
        const oa::media_type* m = ct ? match_media(op.body, *ct) : nullptr;
        if (!m) {
            p.status = 415;
            p.title = "The request body's media type is not one the operation accepts";
            p.add_plain("header", "content-type", "media_type", "is not a media type of the operation's request body");
            return;
        }
        if (!m->schema) return;
        ctx.state<request_state>().media = m;
        ctx.want_body(spec_.max_body);
    }

    verdict refuse(request_context& ctx, local_reply& reply, problem& p,
                   std::vector<std::pair<std::string, std::string>> extra = {}) const {
        for (auto& e : p.errors) spec_.counts->count(e.keyword);
        reply = p.reply(ctx.request_id, std::move(extra));
        return verdict::reply;
    }

    openapi_spec spec_;
};

}  // namespace

std::shared_ptr<const middleware> openapi_spec::build(build_services&, config::diagnostics&) const {
    if (!api) return nullptr;
    return std::make_shared<openapi>(*this);
}

}  // namespace gatehouse::middleware::openapi_mw
