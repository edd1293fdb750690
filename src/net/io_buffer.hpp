#pragma once
// A connection's read buffer: one contiguous block that grows on demand up to a cap, so a head is
// always contiguous for the scanner and the steady state does no allocation.
#include <cstring>
#include <memory>
#include <string_view>

namespace gatehouse::net {

class io_buffer {
public:
    explicit io_buffer(std::size_t initial = 8192, std::size_t cap = 65536) : cap_(cap < initial ? initial : cap) { grow_to(initial); }

    std::string_view data() const { return {buf_.get() + begin_, end_ - begin_}; }
    std::size_t size() const { return end_ - begin_; }
    bool empty() const { return begin_ == end_; }
    void consume(std::size_t n) {
        begin_ += n;
        if (begin_ == end_) begin_ = end_ = 0;
    }
    void clear() { begin_ = end_ = 0; }
    // Room to read into; compacts or grows as needed. Empty span when the buffer is at its cap.
    std::pair<char*, std::size_t> prepare(std::size_t want = 16384) {
        if (capacity_ - end_ < want && begin_ > 0) {
            std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        if (capacity_ - end_ < want && capacity_ < cap_) grow_to(std::min(cap_, std::max(capacity_ * 2, end_ + want)));
        return {buf_.get() + end_, capacity_ - end_};
    }
    void commit(std::size_t n) { end_ += n; }
    bool full() const { return begin_ == 0 && end_ == capacity_ && capacity_ >= cap_; }
    void set_cap(std::size_t cap) { cap_ = cap < capacity_ ? capacity_ : cap; }
    // Gives the memory back (an idle connection); the next prepare() allocates again. Only when empty.
    void release() {
        if (begin_ != end_) return;
        buf_.reset();
        capacity_ = begin_ = end_ = 0;
    }
    std::size_t capacity() const { return capacity_; }

private:
    void grow_to(std::size_t n) {
        auto nb = std::make_unique_for_overwrite<char[]>(n);  // not zeroed: only committed bytes are read
        if (end_ > begin_) std::memcpy(nb.get(), buf_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
        buf_ = std::move(nb);
        capacity_ = n;
    }
    std::unique_ptr<char[]> buf_;
    std::size_t capacity_ = 0, cap_, begin_ = 0, end_ = 0;
};

}  // namespace gatehouse::net
