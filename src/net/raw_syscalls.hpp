#pragma once
// send(2) and recv(2) on the data path without glibc's wrappers. glibc's send and recv are
// thread cancellation points: in a process with more than one thread each call switches
// asynchronous cancellation on and off around the system call (~130 instructions a call,
// callgrind; nginx's single-threaded workers skip it). gatehouse never cancels a thread, so the
// bare system call does the same work. errno is set as by the wrappers.
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstddef>

namespace gatehouse::net {

inline ssize_t sys_recv(int fd, void* p, std::size_t n, int flags) { return ::syscall(SYS_recvfrom, fd, p, n, flags, nullptr, nullptr); }

inline ssize_t sys_send(int fd, const void* p, std::size_t n, int flags) { return ::syscall(SYS_sendto, fd, p, n, flags, nullptr, 0); }

inline ssize_t sys_sendv(int fd, iovec* iov, std::size_t count, int flags) {
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = count;
    return ::syscall(SYS_sendmsg, fd, &m, flags);
}

}  // namespace gatehouse::net
