#pragma once
// A request waiting on its own worker for something another worker finishes (a cache fill, an
// ext_authz call): the finisher calls wake() from its thread, which cancels the waiter's timer
// on the waiter's io_context. `woken` tells a wake from the timer running out.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <memory>

#include "cache/store.hpp"

namespace gatehouse::middleware {

struct timer_waiter final : gatehouse::cache::waiter, std::enable_shared_from_this<timer_waiter> {
    explicit timer_waiter(boost::asio::io_context& ioc) : timer(ioc) {}
    boost::asio::steady_timer timer;
    std::atomic<bool> woken{false};
    void wake() override {
        woken.store(true, std::memory_order_release);
        boost::asio::post(timer.get_executor(), [self = shared_from_this()] { self->timer.cancel(); });
    }
};

}  // namespace gatehouse::middleware
