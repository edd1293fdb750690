#pragma once
// State that must outlive a config snapshot (DESIGN.md §9), one home per kind: objects keyed by
// a stable identity string that describes everything that makes two of them different. A
// snapshot holds shared_ptrs; a reload that builds the same identity gets the same object (its
// counters, connections and caches stay), one that changes it gets a fresh one, and an object
// no snapshot uses any more is gone with the last shared_ptr. Lookups happen at snapshot build
// (control thread) and in the admin API, never on the request path, so one mutex is fine.
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace gatehouse::util {

template <class T>
class identity_registry {
public:
    // The live object of this identity, or a new one from make() (called with the lock held;
    // it must not use this registry).
    template <class Make>
    std::shared_ptr<T> get(const std::string& identity, Make&& make) {
        std::lock_guard lock(mu_);
        auto& slot = live_[identity];
        if (auto p = slot.lock()) return p;
        std::shared_ptr<T> p = make();
        slot = p;
        return p;
    }
    // get(), and the object then lives as long as the process (counters a scrape must never see
    // go back after a reload drops the last snapshot that used them).
    template <class Make>
    std::shared_ptr<T> get_kept(const std::string& identity, Make&& make) {
        auto p = get(identity, std::forward<Make>(make));
        std::lock_guard lock(mu_);
        if (std::find(kept_.begin(), kept_.end(), p) == kept_.end()) kept_.push_back(p);
        return p;
    }
    // Every live object, in identity order (expired entries are dropped on the way).
    std::vector<std::shared_ptr<T>> all() {
        std::lock_guard lock(mu_);
        std::vector<std::shared_ptr<T>> out;
        for (auto it = live_.begin(); it != live_.end();) {
            if (auto p = it->second.lock()) {
                out.push_back(std::move(p));
                ++it;
            } else {
                it = live_.erase(it);
            }
        }
        return out;
    }

private:
    std::mutex mu_;
    std::map<std::string, std::weak_ptr<T>> live_;
    std::vector<std::shared_ptr<T>> kept_;
};

}  // namespace gatehouse::util
