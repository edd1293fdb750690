#pragma once
// request_context::upstream: the calls a middleware makes to the config's upstreams (ext_authz's
// policy service), as upstream subrequests on the request's worker, through the pools of the
// snapshot the request runs under. Middleware sees only the contract's upstream_caller.
#include <memory>

#include "config/snapshot.hpp"
#include "gatehouse/middleware/middleware.hpp"

namespace gatehouse::http {

class session_host;
class exchange;

class chain_calls final : public middleware::upstream_caller {
public:
    // `snap`: the exchange's snapshot of the current request (read at each call). A call of a
    // traced request is a CLIENT span of it, its traceparent sent (as composition's calls).
    chain_calls(exchange& ex, session_host& w, const std::shared_ptr<const config::snapshot>& snap) : ex_(ex), w_(w), snap_(snap) {}
    bool call(middleware::upstream_request r, middleware::upstream_answer_handler done) override;

private:
    exchange& ex_;
    session_host& w_;
    const std::shared_ptr<const config::snapshot>& snap_;
};

}  // namespace gatehouse::http
